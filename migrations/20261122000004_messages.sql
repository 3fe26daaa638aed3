-- Messages the bots sent and received, collected from the workers' event outboxes. The event id is the
-- key, so an event fetched twice is stored once.
CREATE TABLE messages (
    id          TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL,
    chat_id     BIGINT NOT NULL,
    direction   TEXT NOT NULL,
    message_id  BIGINT,
    from_id     BIGINT,
    from_name   TEXT,
    text        TEXT,
    at          BIGINT NOT NULL
);
CREATE INDEX messages_chat ON messages (instance_id, chat_id, at);

-- Conversations per instance, counted from the stored messages.
CREATE TABLE chats (
    instance_id     TEXT NOT NULL,
    chat_id         BIGINT NOT NULL,
    name            TEXT,
    chat_type       TEXT,
    message_count   BIGINT NOT NULL,
    last_message    TEXT,
    last_message_at BIGINT NOT NULL,
    PRIMARY KEY (instance_id, chat_id)
);
