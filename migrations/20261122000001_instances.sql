-- One row per bot instance. Portable between SQLite and PostgreSQL: flags are BIGINT 0/1, times are unix
-- milliseconds, JSON is TEXT, so the sqlx `Any` driver decodes every column on both.
CREATE TABLE instances (
    id                   TEXT PRIMARY KEY,
    user_id              TEXT NOT NULL,
    provider             TEXT NOT NULL,
    type_instance        TEXT NOT NULL,
    display_name         TEXT NOT NULL,
    token                TEXT NOT NULL,
    -- One live instance per bot token: Telegram allows a single getUpdates consumer.
    token_sha256         TEXT NOT NULL UNIQUE,
    api_key_sha256       TEXT NOT NULL,
    api_key_hint         TEXT NOT NULL,
    api_key_created_at   BIGINT NOT NULL,
    control_key          TEXT NOT NULL,
    -- The database, not the process, guarantees that no two instances share a port.
    port                 BIGINT NOT NULL UNIQUE,
    agno_config          TEXT,
    status               TEXT NOT NULL,
    status_reason        TEXT,
    auth_status          TEXT NOT NULL,
    account              TEXT,
    bot_username         TEXT,
    bot_id               BIGINT,
    container_id         TEXT,
    health_ok            BIGINT NOT NULL DEFAULT 0,
    last_health_at       BIGINT,
    health_check_count   BIGINT NOT NULL DEFAULT 0,
    consecutive_failures BIGINT NOT NULL DEFAULT 0,
    sent_count           BIGINT NOT NULL DEFAULT 0,
    received_count       BIGINT NOT NULL DEFAULT 0,
    restart_count        BIGINT NOT NULL DEFAULT 0,
    error_count          BIGINT NOT NULL DEFAULT 0,
    last_error           TEXT,
    version              BIGINT NOT NULL DEFAULT 1,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);

CREATE INDEX instances_user_id ON instances (user_id);

-- Small key/value settings of the manager itself (e.g. the admin key digest).
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
