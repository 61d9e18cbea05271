-- The pipeline's claim takes the oldest pending appeals. An index of only
-- the pending ones, by id, is that order directly and stays as small as the
-- backlog, whatever the table's size: the claim reads `batch_size` entries
-- (plus those of appeals processed since the last vacuum) instead of walking
-- (status, id) or the primary key past every processed appeal. The old
-- (status, id) index served nothing else and cost a write per status change.
DROP INDEX IF EXISTS appeals_pending;
CREATE INDEX appeals_claim ON appeals(id) WHERE status = 'pending';
