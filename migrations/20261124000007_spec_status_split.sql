-- Spec and status stored apart. `instances` keeps what users ask for (the spec); `instance_status` what the
-- reconciler and the health loop observe; `instance_counters` the figures every health check moves
-- (written in batches by the manager's counter flusher, never one row per check). Each table's `version` is
-- its own compare-and-swap counter, so a spec write and a status write never conflict. Both new versions
-- start at the row's old version: `status_history` and `instance_errors`, keyed from now on by the status
-- version, stay unique.
CREATE TABLE instance_status (
    instance_id           TEXT PRIMARY KEY,
    status                TEXT NOT NULL,
    status_reason         TEXT,
    auth_status           TEXT NOT NULL,
    account               TEXT,
    bot_username          TEXT,
    bot_id                BIGINT,
    container_id          TEXT,
    health_ok             BIGINT NOT NULL DEFAULT 0,
    consecutive_failures  BIGINT NOT NULL DEFAULT 0,
    restart_count         BIGINT NOT NULL DEFAULT 0,
    error_count           BIGINT NOT NULL DEFAULT 0,
    last_error            TEXT,
    applied_config_sha256 TEXT,
    running_since         BIGINT,
    crash_count           BIGINT NOT NULL DEFAULT 0,
    next_restart_at       BIGINT,
    observed_revision     BIGINT NOT NULL DEFAULT 1,
    endpoint              TEXT,
    host_id               TEXT,
    version               BIGINT NOT NULL DEFAULT 1,
    updated_at            BIGINT NOT NULL
);

INSERT INTO instance_status (
    instance_id, status, status_reason, auth_status, account, bot_username, bot_id, container_id,
    health_ok, consecutive_failures, restart_count, error_count, last_error, applied_config_sha256,
    running_since, crash_count, next_restart_at, observed_revision, endpoint, host_id, version, updated_at
)
SELECT
    id, status, status_reason, auth_status, account, bot_username, bot_id, container_id,
    health_ok, consecutive_failures, restart_count, error_count, last_error, applied_config_sha256,
    running_since, crash_count, next_restart_at, observed_revision, endpoint, host_id, version, updated_at
FROM instances;

CREATE TABLE instance_counters (
    instance_id          TEXT PRIMARY KEY,
    health_check_count   BIGINT NOT NULL DEFAULT 0,
    last_health_at       BIGINT,
    health_fail_count    BIGINT NOT NULL DEFAULT 0,
    sent_count           BIGINT NOT NULL DEFAULT 0,
    received_count       BIGINT NOT NULL DEFAULT 0,
    api_key_usage_count  BIGINT NOT NULL DEFAULT 0,
    api_key_last_used_at BIGINT,
    last_poll_at         BIGINT,
    -- The worker's own counters as last seen (they restart at zero with the worker).
    seen_sent            BIGINT NOT NULL DEFAULT 0,
    seen_received        BIGINT NOT NULL DEFAULT 0,
    seen_key_uses        BIGINT NOT NULL DEFAULT 0,
    version              BIGINT NOT NULL DEFAULT 0,
    updated_at           BIGINT NOT NULL
);

INSERT INTO instance_counters (
    instance_id, health_check_count, last_health_at, health_fail_count, sent_count, received_count,
    api_key_usage_count, api_key_last_used_at, last_poll_at, seen_sent, seen_received, seen_key_uses,
    version, updated_at
)
SELECT
    id, health_check_count, last_health_at, health_fail_count, sent_count, received_count,
    api_key_usage_count, api_key_last_used_at, last_poll_at, seen_sent, seen_received, seen_key_uses,
    0, updated_at
FROM instances;

-- The moved columns leave `instances`. None is indexed or constrained, so both databases drop them
-- (SQLite 3.35+ has DROP COLUMN; one column per statement is the form both accept).
ALTER TABLE instances DROP COLUMN status;
ALTER TABLE instances DROP COLUMN status_reason;
ALTER TABLE instances DROP COLUMN auth_status;
ALTER TABLE instances DROP COLUMN account;
ALTER TABLE instances DROP COLUMN bot_username;
ALTER TABLE instances DROP COLUMN bot_id;
ALTER TABLE instances DROP COLUMN container_id;
ALTER TABLE instances DROP COLUMN health_ok;
ALTER TABLE instances DROP COLUMN consecutive_failures;
ALTER TABLE instances DROP COLUMN restart_count;
ALTER TABLE instances DROP COLUMN error_count;
ALTER TABLE instances DROP COLUMN last_error;
ALTER TABLE instances DROP COLUMN applied_config_sha256;
ALTER TABLE instances DROP COLUMN running_since;
ALTER TABLE instances DROP COLUMN crash_count;
ALTER TABLE instances DROP COLUMN next_restart_at;
ALTER TABLE instances DROP COLUMN observed_revision;
ALTER TABLE instances DROP COLUMN endpoint;
ALTER TABLE instances DROP COLUMN host_id;
ALTER TABLE instances DROP COLUMN health_check_count;
ALTER TABLE instances DROP COLUMN last_health_at;
ALTER TABLE instances DROP COLUMN health_fail_count;
ALTER TABLE instances DROP COLUMN sent_count;
ALTER TABLE instances DROP COLUMN received_count;
ALTER TABLE instances DROP COLUMN api_key_usage_count;
ALTER TABLE instances DROP COLUMN api_key_last_used_at;
ALTER TABLE instances DROP COLUMN last_poll_at;
ALTER TABLE instances DROP COLUMN seen_sent;
ALTER TABLE instances DROP COLUMN seen_received;
ALTER TABLE instances DROP COLUMN seen_key_uses;
