-- Webhooks out: one configuration per instance, and a durable outbox of deliveries. A delivery is
-- written in the transaction that stored its event, so no event is lost between the two.
CREATE TABLE webhooks (
    instance_id TEXT PRIMARY KEY,
    url         TEXT NOT NULL,
    -- Comma-separated event types; empty means every type.
    events      TEXT NOT NULL,
    secret      TEXT NOT NULL,
    enabled     BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE webhook_deliveries (
    -- The event id: the same on every attempt, and stored once however often the event arrives.
    id              TEXT PRIMARY KEY,
    instance_id     TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    -- pending, delivered, dead
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    last_status     BIGINT,
    created_at      BIGINT NOT NULL,
    finished_at     BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_instance ON webhook_deliveries (instance_id, created_at);
