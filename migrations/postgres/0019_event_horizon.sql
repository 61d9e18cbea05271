-- Events are numbered at insert, from a plain sequence, instead of at
-- commit under an exclusive lock (0011). That lock, like a NOTIFY in the
-- writing transaction, was held through COMMIT and its WAL flush and so
-- serialised every commit that journaled an event.
--
-- Ids taken at insert commit in any order, so readers expose only ids up to
-- a settled horizon (Store::event_horizon in crates/store/src/events.rs).
-- For that, every transaction takes a shared transaction-level advisory
-- lock before it takes its first id: pg_locks then lists exactly the
-- transactions that may still hold an id nobody can see yet. Shared holders
-- never wait for each other, and nobody takes the lock exclusively.
DROP TRIGGER events_number_at_commit ON events;
DROP FUNCTION number_events();
DROP INDEX events_unnumbered;

CREATE FUNCTION next_event_id() RETURNS BIGINT LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    -- Re-taking a lock the transaction holds is a local counter bump.
    PERFORM pg_advisory_xact_lock_shared(724306, 19);
    RETURN nextval('event_ids');
END
$$;

ALTER TABLE events ALTER COLUMN id SET DEFAULT next_event_id();
ALTER TABLE events ALTER COLUMN id SET NOT NULL;
