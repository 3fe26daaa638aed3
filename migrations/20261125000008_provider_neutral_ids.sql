-- Ids as the providers give them: Telegram's are integers, Discord's snowflakes, Slack's `C0123ABC`,
-- WhatsApp's phone numbers. Chat, message, sender and bot ids become text; the numbers kept so far are
-- carried over as their decimal text.
ALTER TABLE instance_status ADD COLUMN bot_user_id TEXT;
UPDATE instance_status SET bot_user_id = CAST(bot_id AS TEXT) WHERE bot_id IS NOT NULL;
ALTER TABLE instance_status DROP COLUMN bot_id;

CREATE TABLE messages_text_ids (
    id          TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL,
    chat_id     TEXT NOT NULL,
    direction   TEXT NOT NULL,
    message_id  TEXT,
    from_id     TEXT,
    from_name   TEXT,
    text        TEXT,
    at          BIGINT NOT NULL
);
INSERT INTO messages_text_ids (id, instance_id, chat_id, direction, message_id, from_id, from_name, text, at)
SELECT id, instance_id, CAST(chat_id AS TEXT), direction, CAST(message_id AS TEXT), CAST(from_id AS TEXT),
       from_name, text, at
FROM messages;
DROP TABLE messages;
ALTER TABLE messages_text_ids RENAME TO messages;
CREATE INDEX messages_chat ON messages (instance_id, chat_id, at);

CREATE TABLE chats_text_ids (
    instance_id     TEXT NOT NULL,
    chat_id         TEXT NOT NULL,
    name            TEXT,
    chat_type       TEXT,
    message_count   BIGINT NOT NULL,
    last_message    TEXT,
    last_message_at BIGINT NOT NULL,
    PRIMARY KEY (instance_id, chat_id)
);
INSERT INTO chats_text_ids (instance_id, chat_id, name, chat_type, message_count, last_message, last_message_at)
SELECT instance_id, CAST(chat_id AS TEXT), name, chat_type, message_count, last_message, last_message_at
FROM chats;
DROP TABLE chats;
ALTER TABLE chats_text_ids RENAME TO chats;

-- How each bot receives (`polling`, `socket`, `webhook`); NULL is its provider's default.
ALTER TABLE instances ADD COLUMN receive TEXT;

-- Platform callbacks (Telegram and WhatsApp webhooks, Slack events, Discord interactions) the manager
-- verified and keeps until the instance's worker took them: a worker that is down loses none.
CREATE TABLE platform_callbacks (
    id              TEXT PRIMARY KEY,
    instance_id     TEXT NOT NULL,
    platform        TEXT NOT NULL,
    body            TEXT NOT NULL,
    received_at     BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    delivered_at    BIGINT,
    last_error      TEXT
);
CREATE INDEX platform_callbacks_due ON platform_callbacks (delivered_at, next_attempt_at);
CREATE INDEX platform_callbacks_instance ON platform_callbacks (instance_id, received_at);
