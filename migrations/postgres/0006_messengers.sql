-- Messenger channels (Telegram bots, VK communities).

-- Where a poller stopped: Telegram's next getUpdates offset, VK's long-poll ts.
-- Written after the updates before it are stored, so a crash replays, never skips.
CREATE TABLE messenger_cursors (
    name        TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- One poller per bot or community among the instances sharing this database:
-- the holder renews its row while polling; an expired row may be taken over.
CREATE TABLE messenger_leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  BIGINT NOT NULL
);

-- Provider events that did not become an appeal (unknown types, group chats
-- when allowed as events, folded bursts, our own messages echoed back), kept raw.
CREATE TABLE messenger_events (
    id           BIGSERIAL PRIMARY KEY,
    source       TEXT NOT NULL,
    event_key    TEXT NOT NULL,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    appeal_id    BIGINT REFERENCES appeals(id),
    received_at  BIGINT NOT NULL,
    UNIQUE (source, event_key)
);

-- The conversation (chat or peer) a messenger appeal came from: replies go
-- back there, and our own messages echoed by VK find their interest by it.
CREATE TABLE messenger_peers (
    appeal_id  BIGINT PRIMARY KEY REFERENCES appeals(id),
    source     TEXT NOT NULL,
    peer_id    BIGINT NOT NULL
);
CREATE INDEX messenger_peers_lookup ON messenger_peers(source, peer_id, appeal_id);

-- Outbound messages. A row is written when the reply is asked for and sent by
-- a worker; `sent` rows are never sent again. `random_id` is VK's idempotency
-- key, derived from the row, so a retried messages.send cannot duplicate.
CREATE TABLE messenger_outbox (
    id                   BIGSERIAL PRIMARY KEY,
    interest_id          BIGINT REFERENCES interests(id),
    appeal_id            BIGINT REFERENCES appeals(id),
    source               TEXT NOT NULL,
    peer_id              BIGINT NOT NULL,
    kind                 TEXT NOT NULL,
    body                 TEXT NOT NULL,
    author               TEXT,
    dedup_key            TEXT UNIQUE,
    random_id            BIGINT NOT NULL DEFAULT 0,
    status               TEXT NOT NULL,
    attempts             BIGINT NOT NULL DEFAULT 0,
    next_attempt_at      BIGINT NOT NULL,
    claimed_until        BIGINT,
    last_error           TEXT,
    provider_message_id  TEXT,
    created_at           BIGINT NOT NULL,
    sent_at              BIGINT
);
CREATE INDEX messenger_outbox_due ON messenger_outbox(status, next_attempt_at);
CREATE INDEX messenger_outbox_random ON messenger_outbox(source, random_id);
