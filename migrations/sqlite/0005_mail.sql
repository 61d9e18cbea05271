-- Mail channel: where each mailbox folder was read up to, the Message-IDs that
-- let replies find their thread, and the durable outbox.

-- One row per (mailbox, folder): written in the same transaction as the
-- appeals of the messages it covers, so a message is never lost nor taken twice.
CREATE TABLE mail_cursors (
    mailbox       TEXT NOT NULL,
    folder        TEXT NOT NULL,
    uid_validity  BIGINT NOT NULL,
    last_uid      BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (mailbox, folder)
);

-- Message-IDs of inbound mail that became appeals; replies that quote one of
-- them (In-Reply-To / References) join that appeal's interest.
CREATE TABLE mail_threads (
    message_id  TEXT NOT NULL,
    appeal_id   BIGINT NOT NULL REFERENCES appeals(id)
);
CREATE INDEX mail_threads_message ON mail_threads(message_id);

-- Outgoing mail, enqueued inside the processing transaction and delivered by
-- the sender task. `dedup_key` makes enqueueing replay-safe.
CREATE TABLE mail_outbox (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    kind             TEXT NOT NULL,
    dedup_key        TEXT NOT NULL UNIQUE,
    recipient        TEXT NOT NULL,
    recipient_name   TEXT,
    subject          TEXT NOT NULL,
    body             TEXT NOT NULL,
    message_id       TEXT NOT NULL,
    in_reply_to      TEXT,
    appeal_id        BIGINT REFERENCES appeals(id),
    interest_id      BIGINT REFERENCES interests(id),
    status           TEXT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    sent_at          BIGINT
);
CREATE INDEX mail_outbox_due ON mail_outbox(status, next_attempt_at);
CREATE INDEX mail_outbox_message ON mail_outbox(message_id);
CREATE INDEX mail_outbox_recipient ON mail_outbox(recipient, kind, created_at);
