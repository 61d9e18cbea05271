-- Times are milliseconds since the Unix epoch (UTC) in BIGINT columns, so that the
-- same queries and the same decoding work on SQLite and PostgreSQL.

CREATE TABLE departments (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    head_login  TEXT
);

CREATE TABLE users (
    id             BIGSERIAL PRIMARY KEY,
    login          TEXT NOT NULL UNIQUE,
    display_name   TEXT NOT NULL,
    role           TEXT NOT NULL,
    department_id  TEXT REFERENCES departments(id),
    email          TEXT,
    pbx_user       TEXT,
    password_hash  TEXT,
    from_config    BIGINT NOT NULL DEFAULT 0,
    active         BIGINT NOT NULL DEFAULT 1,
    created_at     BIGINT NOT NULL
);

CREATE TABLE clients (
    id                 BIGSERIAL PRIMARY KEY,
    external_id        TEXT UNIQUE,
    kind               TEXT NOT NULL,
    name               TEXT NOT NULL,
    responsible_login  TEXT,
    merged_into        BIGINT REFERENCES clients(id),
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);

CREATE TABLE contact_persons (
    id          BIGSERIAL PRIMARY KEY,
    client_id   BIGINT NOT NULL REFERENCES clients(id),
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX contact_persons_client ON contact_persons(client_id);
CREATE UNIQUE INDEX contact_persons_client_name ON contact_persons(client_id, name);

-- One row per contact point of a person; `value` is the normalised matching key
-- (E.164 phone, canonical email, ...). Not unique: an office phone or an info@
-- mailbox legitimately belongs to several clients.
CREATE TABLE contact_points (
    id          BIGSERIAL PRIMARY KEY,
    client_id   BIGINT NOT NULL REFERENCES clients(id),
    person_id   BIGINT REFERENCES contact_persons(id),
    kind        TEXT NOT NULL,
    value       TEXT NOT NULL,
    raw         TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX contact_points_lookup ON contact_points(kind, value);
CREATE UNIQUE INDEX contact_points_per_client ON contact_points(client_id, kind, value);

CREATE TABLE interests (
    id                 BIGSERIAL PRIMARY KEY,
    client_id          BIGINT NOT NULL REFERENCES clients(id),
    person_id          BIGINT REFERENCES contact_persons(id),
    scenario           TEXT NOT NULL,
    stage              TEXT NOT NULL,
    status             TEXT NOT NULL,
    responsible_login  TEXT,
    potential_amount   BIGINT,
    channel            TEXT NOT NULL,
    source             TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    closed_at          BIGINT
);
CREATE INDEX interests_client_open ON interests(client_id, status);
CREATE INDEX interests_responsible ON interests(responsible_login, status);

CREATE TABLE appeals (
    id                BIGSERIAL PRIMARY KEY,
    channel           TEXT NOT NULL,
    source            TEXT NOT NULL,
    external_id       TEXT NOT NULL,
    received_at       BIGINT NOT NULL,
    accepted_at       BIGINT NOT NULL,
    contact           TEXT NOT NULL,
    subject           TEXT,
    body              TEXT,
    attachments       TEXT NOT NULL,
    attributes        TEXT NOT NULL,
    raw_payload       TEXT NOT NULL,
    -- The channel's hint for routing (lead, message, reply, call), as JSON.
    intent            TEXT NOT NULL,
    status            TEXT NOT NULL,
    client_id         BIGINT REFERENCES clients(id),
    interest_id       BIGINT REFERENCES interests(id),
    decision          TEXT,
    attempts          BIGINT NOT NULL DEFAULT 0,
    last_error        TEXT,
    processed_at      BIGINT,
    UNIQUE (source, external_id)
);
CREATE INDEX appeals_pending ON appeals(status, id);

CREATE TABLE tasks (
    id              BIGSERIAL PRIMARY KEY,
    interest_id     BIGINT NOT NULL REFERENCES interests(id),
    title           TEXT NOT NULL,
    assignee_login  TEXT,
    due_at          BIGINT,
    status          TEXT NOT NULL,
    -- What the stage engine created it for (`stage_entry:payment`, ...), so
    -- that an outcome can close the tasks of one purpose.
    purpose         TEXT,
    reminder_at     BIGINT,
    -- Makes re-processing replay-safe: the same cause never creates a second task.
    cause_key       TEXT UNIQUE,
    created_at      BIGINT NOT NULL,
    done_at         BIGINT,
    done_by         TEXT
);
CREATE INDEX tasks_interest ON tasks(interest_id, status);
CREATE INDEX tasks_assignee ON tasks(assignee_login, status);

CREATE TABLE interactions (
    id            BIGSERIAL PRIMARY KEY,
    interest_id   BIGINT NOT NULL REFERENCES interests(id),
    kind          TEXT NOT NULL,
    direction     TEXT,
    planned_at    BIGINT,
    done_at       BIGINT,
    result        TEXT,
    author        TEXT,
    created_at    BIGINT NOT NULL
);
CREATE INDEX interactions_interest ON interactions(interest_id);

CREATE TABLE feed_entries (
    id           BIGSERIAL PRIMARY KEY,
    interest_id  BIGINT NOT NULL REFERENCES interests(id),
    at           BIGINT NOT NULL,
    kind         TEXT NOT NULL,
    actor        TEXT,
    summary      TEXT NOT NULL,
    data         TEXT NOT NULL,
    appeal_id    BIGINT REFERENCES appeals(id)
);
CREATE INDEX feed_entries_interest ON feed_entries(interest_id, id);

CREATE TABLE review_items (
    id           BIGSERIAL PRIMARY KEY,
    appeal_id    BIGINT NOT NULL UNIQUE REFERENCES appeals(id),
    candidates   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    decided_at   BIGINT,
    decided_by   TEXT,
    decision     TEXT
);
CREATE INDEX review_items_open ON review_items(decided_at, id);

-- Small named counters (round-robin position and the like) updated inside the
-- processing transaction, so every instance shares them.
CREATE TABLE counters (
    name   TEXT PRIMARY KEY,
    value  BIGINT NOT NULL
);
