-- Lifecycle: what the user wants (desired_state), what the running container was built from
-- (applied_config_sha256), crash-loop bookkeeping, heartbeats, key usage, per-instance limits.
ALTER TABLE instances ADD COLUMN desired_state TEXT NOT NULL DEFAULT 'running';
ALTER TABLE instances ADD COLUMN applied_config_sha256 TEXT;
ALTER TABLE instances ADD COLUMN running_since BIGINT;
ALTER TABLE instances ADD COLUMN last_poll_at BIGINT;
ALTER TABLE instances ADD COLUMN crash_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE instances ADD COLUMN next_restart_at BIGINT;
ALTER TABLE instances ADD COLUMN health_fail_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE instances ADD COLUMN api_key_usage_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE instances ADD COLUMN api_key_last_used_at BIGINT;
ALTER TABLE instances ADD COLUMN memory_limit_mb BIGINT;
ALTER TABLE instances ADD COLUMN cpu_millis BIGINT;
-- The worker's own counters as last seen; they restart at zero with the worker, so the manager adds
-- the difference to its totals instead of copying them.
ALTER TABLE instances ADD COLUMN seen_sent BIGINT NOT NULL DEFAULT 0;
ALTER TABLE instances ADD COLUMN seen_received BIGINT NOT NULL DEFAULT 0;
ALTER TABLE instances ADD COLUMN seen_key_uses BIGINT NOT NULL DEFAULT 0;

-- Every status change, keyed by the instance version that made it.
CREATE TABLE status_history (
    instance_id     TEXT NOT NULL,
    version         BIGINT NOT NULL,
    status          TEXT NOT NULL,
    previous_status TEXT,
    reason          TEXT,
    source          TEXT NOT NULL,
    at              BIGINT NOT NULL,
    PRIMARY KEY (instance_id, version)
);

-- Errors of an instance, keyed the same way.
CREATE TABLE instance_errors (
    instance_id TEXT NOT NULL,
    version     BIGINT NOT NULL,
    message     TEXT NOT NULL,
    source      TEXT NOT NULL,
    at          BIGINT NOT NULL,
    PRIMARY KEY (instance_id, version)
);

-- Messages per instance and UTC day.
CREATE TABLE message_counts_daily (
    instance_id TEXT NOT NULL,
    day         TEXT NOT NULL,
    sent        BIGINT NOT NULL DEFAULT 0,
    received    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (instance_id, day)
);
