-- The outbound event journal (change feed, webhooks). SQLite has one writer
-- at a time, so ids are handed out in commit order: the rowid is the feed
-- position as it is.
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL,
    at INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX events_at ON events(at);

-- One row per configured webhook endpoint: how far it got in the journal
-- (everything up to `position` is delivered, failed or not wanted), the
-- delivery being retried, the lease of the instance sending, and counters.
CREATE TABLE webhook_endpoints (
    name TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    lease_holder TEXT,
    lease_until INTEGER,
    retry_event INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    first_attempt_at INTEGER,
    next_attempt_at INTEGER,
    last_attempt_at INTEGER,
    last_status INTEGER,
    last_error TEXT,
    last_success_at INTEGER,
    delivered INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    disabled_at INTEGER,
    disabled_reason TEXT,
    created_at INTEGER NOT NULL
);

-- Deliveries given up after the retry window: visible and replayable.
CREATE TABLE webhook_failures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint TEXT NOT NULL,
    event_id INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    last_status INTEGER,
    last_error TEXT,
    failed_at INTEGER NOT NULL,
    replayed_at INTEGER
);
CREATE INDEX webhook_failures_endpoint ON webhook_failures(endpoint, event_id);
