-- A company's ИНН (checksum-valid, digits only): shown on the client and
-- kept as a strong company key in match_keys (kind 'inn').
ALTER TABLE clients ADD COLUMN inn TEXT;
-- The responsible an import named that is no manager: the client is
-- unassigned (round robin), and the name stays here for whoever sorts it out.
ALTER TABLE clients ADD COLUMN imported_responsible TEXT;

-- Contact points that did not parse, kept as typed on their person with the
-- reason; never matched. Re-importing the same text adds nothing.
CREATE TABLE dropped_points (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    person_id   BIGINT NOT NULL REFERENCES contact_persons(id),
    field       TEXT NOT NULL,
    raw         TEXT NOT NULL,
    reason      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX dropped_points_per_person ON dropped_points(person_id, field, raw);
