-- Sessions end after an idle period as well as at their absolute expiry.
-- Sessions from before this migration count as seen at their creation.
ALTER TABLE sessions ADD COLUMN last_seen_at BIGINT NOT NULL DEFAULT 0;
UPDATE sessions SET last_seen_at = created_at;

-- The acknowledgements' global hourly cap counts by kind and time.
CREATE INDEX mail_outbox_kind_created ON mail_outbox(kind, created_at);
