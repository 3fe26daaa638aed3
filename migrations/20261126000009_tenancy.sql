-- Tenancy: users with roles, API keys with scopes (kept as SHA-256 digests), revoked login sessions,
-- and the audit log.
CREATE TABLE users (
    id                   TEXT PRIMARY KEY,
    username             TEXT NOT NULL UNIQUE,
    -- argon2id, PHC string.
    password_hash        TEXT NOT NULL,
    -- admin, operator, user
    role                 TEXT NOT NULL,
    disabled             BIGINT NOT NULL,
    -- NULL: the manager's default quota.
    max_instances        BIGINT,
    max_memory_mb        BIGINT,
    -- Sessions issued before this (unix ms) are no longer accepted (password, role change, disable).
    sessions_valid_after BIGINT NOT NULL,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    -- NULL: an admin key made with the bootstrap key.
    user_id      TEXT,
    name         TEXT NOT NULL,
    key_sha256   TEXT NOT NULL UNIQUE,
    key_hint     TEXT NOT NULL,
    -- Comma-separated scopes.
    scopes       TEXT NOT NULL,
    instance_id  TEXT,
    expires_at   BIGINT,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX api_keys_user ON api_keys (user_id);

-- Logged-out sessions, until they would have expired anyway.
CREATE TABLE revoked_sessions (
    jti        TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    user_id     TEXT,
    key_id      TEXT,
    method      TEXT NOT NULL,
    route       TEXT NOT NULL,
    instance_id TEXT,
    status      BIGINT NOT NULL,
    remote_addr TEXT
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_user ON audit_log (user_id, at);
CREATE INDEX audit_log_instance ON audit_log (instance_id, at);
