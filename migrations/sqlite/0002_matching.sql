-- Derived blocking keys for client matching: name keys of contact persons
-- (`name`), company-name keys of company clients (`company`) and corporate
-- e-mail domains (`domain`). Contact points (phone, e-mail, messenger ids) are
-- looked up in contact_points itself, which is already indexed by (kind, value).
-- `person_id` is 0 for keys of the client as a whole (company).
CREATE TABLE match_keys (
    kind       TEXT NOT NULL,
    value      TEXT NOT NULL,
    client_id  BIGINT NOT NULL REFERENCES clients(id),
    person_id  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, value, client_id, person_id)
) WITHOUT ROWID;
CREATE INDEX match_keys_client ON match_keys(client_id);

-- Clients that existed before this migration get their keys from the daemon
-- at start-up (the keys need the Rust normalisers): it works through client ids
-- up to `match_keys_backfill_until`, remembering its progress in
-- `match_keys_backfill`. Clients created later write their own keys.
INSERT INTO counters (name, value) VALUES ('match_keys_backfill', 0);
INSERT INTO counters (name, value)
    SELECT 'match_keys_backfill_until', COALESCE(MAX(id), 0) FROM clients;
