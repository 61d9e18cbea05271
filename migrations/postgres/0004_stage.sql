-- Stage engine: orders from the ERP with their money totals, the ERP events
-- that built them (deduplicated by the ERP's event id), and interaction subjects.
-- Money is integer kopecks everywhere.

CREATE TABLE orders (
    id           BIGSERIAL PRIMARY KEY,
    -- The ERP's order id (номер заказа клиента / счёта).
    order_id     TEXT NOT NULL UNIQUE,
    interest_id  BIGINT NOT NULL REFERENCES interests(id),
    amount       BIGINT NOT NULL,
    paid         BIGINT NOT NULL DEFAULT 0,
    shipped      BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX orders_interest ON orders(interest_id);

-- One row per accepted ERP event; the primary key makes a redelivery a no-op.
-- Written in the same transaction as the order totals and the engine's outcome.
CREATE TABLE erp_events (
    event_id     TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    order_id     TEXT NOT NULL,
    interest_id  BIGINT NOT NULL REFERENCES interests(id),
    amount       BIGINT NOT NULL,
    received_at  BIGINT NOT NULL,
    -- What the engine did (stage before/after), returned again on a redelivery.
    result       TEXT NOT NULL
);
CREATE INDEX erp_events_order ON erp_events(order_id);

-- What a planned interaction is about; `result` is what came of it.
ALTER TABLE interactions ADD COLUMN subject TEXT;
CREATE INDEX tasks_overdue_scan ON tasks(status, due_at);
