-- Telephony: cloud-PBX call events, one assembled record per call, and the
-- notifications we keep but do not interpret.

-- One row per webhook notification, idempotent on the provider's event key.
CREATE TABLE call_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    provider     TEXT NOT NULL,
    account      TEXT NOT NULL,
    call_id      TEXT NOT NULL,
    event_key    TEXT NOT NULL,
    kind         TEXT NOT NULL,
    -- The normalised CallEvent as JSON, its `raw` field holding the payload as received.
    event        TEXT NOT NULL,
    received_at  BIGINT NOT NULL,
    UNIQUE (provider, account, event_key)
);
CREATE INDEX call_events_call ON call_events(provider, account, call_id);

-- One row per call, folded from its events (`record` is the serialised CallRecord).
CREATE TABLE calls (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    provider        TEXT NOT NULL,
    account         TEXT NOT NULL,
    call_id         TEXT NOT NULL,
    record          TEXT NOT NULL,
    state           TEXT NOT NULL,
    direction       TEXT NOT NULL,
    -- The client's number as the PBX gave it; `hidden` = 1 when it cannot
    -- identify anybody (withheld, empty, not a phone number): kept, never matched.
    client_number   TEXT,
    hidden          BIGINT NOT NULL DEFAULT 0,
    -- The appeal the call became, once it was decidable.
    appeal_id       BIGINT REFERENCES appeals(id),
    -- Where the pipeline put it: the interest and the interaction it wrote.
    interest_id     BIGINT REFERENCES interests(id),
    interaction_id  BIGINT REFERENCES interactions(id),
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (provider, account, call_id)
);
CREATE INDEX calls_appeal ON calls(appeal_id);
CREATE INDEX calls_unsettled ON calls(appeal_id, updated_at);

-- Authenticated (or unverifiable) notifications of kinds we do not interpret:
-- acknowledged so the PBX does not retry, kept so nothing is lost.
CREATE TABLE pbx_unsupported_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    provider     TEXT NOT NULL,
    endpoint     TEXT NOT NULL,
    event        TEXT NOT NULL,
    verified     BIGINT NOT NULL,
    raw          TEXT NOT NULL,
    received_at  BIGINT NOT NULL
);

-- Calls become interactions; their recording arrives with them or later.
ALTER TABLE interactions ADD COLUMN recording_url TEXT;
