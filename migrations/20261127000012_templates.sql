-- Users' bot templates (issue #13). The built-in templates are compiled into the manager and are not
-- stored. Placeholders are read from the texts when shown, not stored.
CREATE TABLE templates (
    id               TEXT PRIMARY KEY,
    -- The owner (a user id, or `admin` for the bootstrap key's).
    user_id          TEXT NOT NULL,
    name             TEXT NOT NULL,
    description      TEXT NOT NULL,
    category         TEXT,
    system_prompt    TEXT NOT NULL,
    welcome_message  TEXT,
    fallback_message TEXT,
    -- openai, agno, webhook, anthropic
    llm_provider     TEXT NOT NULL,
    llm_model        TEXT,
    -- A JSON object.
    llm_config       TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX templates_user ON templates (user_id, created_at);
