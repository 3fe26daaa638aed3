-- Settings history (issue #13, seed 001): every change of an instance's configuration, key by key, written
-- in the transaction of the change. Values are JSON; a secret's are never kept (`secret` = 1, values NULL).
CREATE TABLE settings_history (
    id          TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL,
    -- bot (the bot configuration and its pause), limits, credentials
    scope       TEXT NOT NULL,
    key         TEXT NOT NULL,
    old_value   TEXT,
    new_value   TEXT,
    secret      BIGINT NOT NULL,
    changed_by  TEXT NOT NULL,
    changed_at  BIGINT NOT NULL,
    -- created, updated, cleared, rollback
    change_type TEXT NOT NULL,
    -- Order of the rows one change wrote (several keys at one instant).
    seq         BIGINT NOT NULL
);
CREATE INDEX settings_history_instance ON settings_history (instance_id, changed_at);
