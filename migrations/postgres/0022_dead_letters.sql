-- Messenger updates that could not be stored for good (the intake refused
-- them, or storing failed again and again): kept here with the reason, so
-- that the poller's cursor moves on and a person can look at them and, once
-- the cause is mended, ask for a replay (the poller handles it again).
CREATE TABLE dead_letters (
    id           BIGSERIAL PRIMARY KEY,
    source       TEXT NOT NULL,
    event_key    TEXT NOT NULL,
    reason       TEXT NOT NULL,
    payload      TEXT NOT NULL,
    attempts     BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    -- Set by an admin's replay request, cleared when the poller tried it.
    replay_requested_at BIGINT,
    replayed_at  BIGINT,
    UNIQUE (source, event_key)
);
CREATE INDEX dead_letters_created ON dead_letters(created_at);
