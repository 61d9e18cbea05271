-- The matcher reads the first persons of a shortlisted client in id order.
-- With (client_id) alone, PostgreSQL's generic plan for that LIMIT walks the
-- whole table in primary-key order; (client_id, id) makes it a range scan.
-- (SQLite's index on client_id already ends in the rowid, which is the id.)
DROP INDEX IF EXISTS contact_persons_client;
CREATE INDEX contact_persons_client ON contact_persons(client_id, id);
