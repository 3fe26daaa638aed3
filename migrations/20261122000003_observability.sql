-- The operational event log: kept after an instance is deleted.
CREATE TABLE events (
    id          TEXT PRIMARY KEY,
    at          BIGINT NOT NULL,
    event_type  TEXT NOT NULL,
    instance_id TEXT,
    message     TEXT NOT NULL
);
CREATE INDEX events_at ON events (at);
CREATE INDEX events_instance ON events (instance_id, at);

-- Alert thresholds and the alerts they raised.
CREATE TABLE alert_thresholds (
    id              TEXT PRIMARY KEY,
    scope           TEXT NOT NULL,
    instance_id     TEXT,
    metric_type     TEXT NOT NULL,
    comparison      TEXT NOT NULL,
    threshold_value DOUBLE PRECISION NOT NULL,
    enabled         BIGINT NOT NULL,
    webhook_url     TEXT,
    created_at      BIGINT NOT NULL
);

CREATE TABLE alerts (
    id              TEXT PRIMARY KEY,
    threshold_id    TEXT NOT NULL,
    target          TEXT NOT NULL,
    metric_type     TEXT NOT NULL,
    value           DOUBLE PRECISION NOT NULL,
    threshold_value DOUBLE PRECISION NOT NULL,
    status          TEXT NOT NULL,
    message         TEXT NOT NULL,
    fired_at        BIGINT NOT NULL,
    resolved_at     BIGINT
);
CREATE INDEX alerts_status ON alerts (status, threshold_id, target);
