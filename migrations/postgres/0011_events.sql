-- The outbound event journal (change feed, webhooks).
--
-- A sequence value taken at insert time would not do as the feed position:
-- transactions commit in any order, so a consumer that read up to id 12
-- could later miss id 11 committing after it. So a row gets its public `id`
-- at commit time instead: a deferred constraint trigger, which runs when
-- the inserting transaction commits, takes one transaction-level advisory
-- lock and numbers the transaction's rows from `event_ids`. The lock is
-- held until the commit is complete, and PostgreSQL makes a transaction
-- visible before it releases its locks, so every id handed out after the
-- lock is taken is larger than every id already visible: ids become
-- visible in increasing order, and "everything after my cursor" never
-- skips a row that commits later. Until then `id` is NULL and the row is
-- invisible to others anyway. `seq` is the row's own key.
CREATE TABLE events (
    seq BIGSERIAL PRIMARY KEY,
    id BIGINT UNIQUE,
    type TEXT NOT NULL,
    at BIGINT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX events_at ON events(at);
CREATE INDEX events_unnumbered ON events(seq) WHERE id IS NULL;
CREATE SEQUENCE event_ids;

CREATE FUNCTION number_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The first row's trigger numbers all of the transaction's rows (those
    -- of other transactions are not visible); the others return at once.
    IF current_setting('leadgate.events_numbered', true) = 'yes' THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('leadgate.events_numbered', 'yes', true);
    PERFORM pg_advisory_xact_lock(7243061949581133);
    UPDATE events SET id = numbered.id
      FROM (SELECT seq, nextval('event_ids') AS id
              FROM (SELECT seq FROM events WHERE id IS NULL ORDER BY seq) AS pending) AS numbered
     WHERE events.seq = numbered.seq;
    PERFORM pg_notify('leadgate_events', '');
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER events_number_at_commit AFTER INSERT ON events
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION number_events();

CREATE TABLE webhook_endpoints (
    name TEXT PRIMARY KEY,
    position BIGINT NOT NULL,
    lease_holder TEXT,
    lease_until BIGINT,
    retry_event BIGINT,
    attempts BIGINT NOT NULL DEFAULT 0,
    first_attempt_at BIGINT,
    next_attempt_at BIGINT,
    last_attempt_at BIGINT,
    last_status BIGINT,
    last_error TEXT,
    last_success_at BIGINT,
    delivered BIGINT NOT NULL DEFAULT 0,
    failed BIGINT NOT NULL DEFAULT 0,
    disabled_at BIGINT,
    disabled_reason TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE webhook_failures (
    id BIGSERIAL PRIMARY KEY,
    endpoint TEXT NOT NULL,
    event_id BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    last_status BIGINT,
    last_error TEXT,
    failed_at BIGINT NOT NULL,
    replayed_at BIGINT
);
CREATE INDEX webhook_failures_endpoint ON webhook_failures(endpoint, event_id);
