-- Browser sessions, per-user API tokens, client merges and the audit trail.

-- Only a SHA-256 of the cookie value is stored, so a copy of the database does
-- not let anyone act as the session's user.
CREATE TABLE sessions (
    id_hash     TEXT PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users(id),
    csrf_token  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions(expires_at);

CREATE TABLE user_tokens (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       BIGINT NOT NULL REFERENCES users(id),
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT
);

-- What a merge moved, so that undoing it restores exactly that.
CREATE TABLE client_merges (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    into_id     BIGINT NOT NULL REFERENCES clients(id),
    from_id     BIGINT NOT NULL REFERENCES clients(id),
    moved       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    undone_at   BIGINT,
    undone_by   TEXT
);
CREATE INDEX client_merges_from ON client_merges(from_id);

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    entity      TEXT NOT NULL,
    entity_id   BIGINT NOT NULL,
    before_json TEXT,
    after_json  TEXT
);

-- Every record an action touched (a merge touches two clients), for
-- `GET /api/v1/audit?entity=client&id=...`.
CREATE TABLE audit_subjects (
    audit_id   BIGINT NOT NULL REFERENCES audit_log(id),
    entity     TEXT NOT NULL,
    entity_id  BIGINT NOT NULL,
    PRIMARY KEY (audit_id, entity, entity_id)
);
CREATE INDEX audit_subjects_lookup ON audit_subjects(entity, entity_id);
