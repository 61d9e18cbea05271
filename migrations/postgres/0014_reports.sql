-- Reports for the head of sales. What the reports aggregate is stored when
-- it happens, so that each report is a few GROUP BY statements over indexed
-- columns: the first manager action per appeal (in working minutes), one row
-- per stage an interest entered, one row per loss with its structured reason,
-- one row per call with its callback.

-- Appeals: `lead` = 1 unless it is our own outbound call; the UTM marks
-- taken from the attributes at intake; the first manager action after it.
ALTER TABLE appeals ADD COLUMN lead BIGINT NOT NULL DEFAULT 1;
ALTER TABLE appeals ADD COLUMN utm_source TEXT;
ALTER TABLE appeals ADD COLUMN utm_campaign TEXT;
ALTER TABLE appeals ADD COLUMN first_action_at BIGINT;
ALTER TABLE appeals ADD COLUMN first_action_by TEXT;
ALTER TABLE appeals ADD COLUMN first_action_minutes BIGINT;
-- Copied from the appeal's interest when it is routed, so report filters
-- by manager and department need no join.
ALTER TABLE appeals ADD COLUMN responsible_login TEXT;
CREATE INDEX appeals_received ON appeals(received_at);

-- Interests carry the marketing marks of the appeal that created them.
ALTER TABLE interests ADD COLUMN utm_source TEXT;
ALTER TABLE interests ADD COLUMN utm_campaign TEXT;
CREATE INDEX interests_closed ON interests(closed_at);

-- One row per stage an interest entered (its first stage included), with
-- the interest's dimensions at that moment; `left_at` when it moved on.
CREATE TABLE stage_entries (
    id                 BIGSERIAL PRIMARY KEY,
    interest_id        BIGINT NOT NULL REFERENCES interests(id),
    scenario           TEXT NOT NULL,
    stage              TEXT NOT NULL,
    entered_at         BIGINT NOT NULL,
    left_at            BIGINT,
    responsible_login  TEXT,
    channel            TEXT NOT NULL,
    source             TEXT NOT NULL,
    utm_source         TEXT,
    utm_campaign       TEXT,
    amount             BIGINT
);
CREATE INDEX stage_entries_entered ON stage_entries(entered_at);
CREATE INDEX stage_entries_left ON stage_entries(left_at);
CREATE INDEX stage_entries_current ON stage_entries(interest_id) WHERE left_at IS NULL;
CREATE INDEX stage_entries_open_stage ON stage_entries(stage, entered_at) WHERE left_at IS NULL;

-- One row per close-lost request: the configured reason (as configured),
-- the free comment, the stage it was lost at, and the head's decision.
-- state: pending (waits for the head), lost (closed without approval),
-- approved, returned.
CREATE TABLE losses (
    id                 BIGSERIAL PRIMARY KEY,
    interest_id        BIGINT NOT NULL REFERENCES interests(id),
    scenario           TEXT NOT NULL,
    from_stage         TEXT NOT NULL,
    reason             TEXT NOT NULL,
    comment            TEXT NOT NULL,
    requested_at       BIGINT NOT NULL,
    requested_by       TEXT NOT NULL,
    responsible_login  TEXT,
    channel            TEXT NOT NULL,
    source             TEXT NOT NULL,
    utm_source         TEXT,
    utm_campaign       TEXT,
    amount             BIGINT,
    state              TEXT NOT NULL,
    decided_at         BIGINT,
    decided_by         TEXT,
    decision_comment   TEXT
);
CREATE INDEX losses_decided ON losses(decided_at);
CREATE INDEX losses_pending ON losses(interest_id) WHERE state = 'pending';

-- One row per routed call. `answered` 0 = missed; a missed inbound call is
-- called back by the first outbound call in its interest after it.
CREATE TABLE call_log (
    appeal_id          BIGINT PRIMARY KEY REFERENCES appeals(id),
    interest_id        BIGINT NOT NULL REFERENCES interests(id),
    at                 BIGINT NOT NULL,
    direction          TEXT NOT NULL,
    answered           BIGINT NOT NULL,
    talk_secs          BIGINT NOT NULL,
    manager_login      TEXT,
    channel_source     TEXT NOT NULL,
    callback_at        BIGINT,
    callback_by        TEXT,
    callback_minutes   BIGINT
);
CREATE INDEX call_log_at ON call_log(at);
CREATE INDEX call_log_waiting ON call_log(interest_id) WHERE answered = 0 AND callback_at IS NULL;

-- Activity per manager and day.
CREATE INDEX interactions_done ON interactions(done_at);
CREATE INDEX tasks_done ON tasks(done_at);
CREATE INDEX tasks_due ON tasks(due_at);
CREATE INDEX messenger_outbox_created ON messenger_outbox(created_at);
CREATE INDEX review_items_created ON review_items(created_at);
CREATE INDEX review_items_decided ON review_items(decided_at);
CREATE INDEX interests_created ON interests(created_at);

-- The kind of a review decision (link, new_client, spam, ...) as a column,
-- so decisions can be counted by kind.
ALTER TABLE review_items ADD COLUMN decided_action TEXT;
UPDATE review_items SET decided_action = decision::json->>'action' WHERE decision IS NOT NULL;
