-- Conversations (issue #13): every message joins its chat's latest conversation, unless the chat was
-- silent for the bot's `conversation_ttl_hours` (then a new one starts). A message records who said it
-- (`role`: `user` or `assistant`) and, for the bot's replies to questions, what the question became
-- (`outcome`: answered, fallback, welcome, failed, dropped_rate, dropped_cap), how long the agent took
-- (`latency_ms`, fractions of a millisecond kept) and the tokens its `usage` reported. A reply that
-- could not be sent is kept too, with `direction` `unsent`. Messages stored before keep no conversation.
ALTER TABLE messages ADD COLUMN conversation_id TEXT;
ALTER TABLE messages ADD COLUMN role TEXT;
ALTER TABLE messages ADD COLUMN tokens_in BIGINT;
ALTER TABLE messages ADD COLUMN tokens_out BIGINT;
ALTER TABLE messages ADD COLUMN latency_ms DOUBLE PRECISION;
ALTER TABLE messages ADD COLUMN outcome TEXT;
-- Why the agent gave no answer, or why the reply was not sent.
ALTER TABLE messages ADD COLUMN error TEXT;
-- The provider's id of the question a reply answers (in the same chat).
ALTER TABLE messages ADD COLUMN reply_to TEXT;
UPDATE messages SET role = CASE WHEN direction = 'in' THEN 'user' ELSE 'assistant' END;

-- Analytics read an instance's messages by time; insights and the LLM block by outcome.
CREATE INDEX messages_instance_at ON messages (instance_id, at);
CREATE INDEX messages_outcome ON messages (instance_id, outcome, at);
CREATE INDEX messages_conversation ON messages (conversation_id, at);

CREATE TABLE conversations (
    id               TEXT PRIMARY KEY,
    instance_id      TEXT NOT NULL,
    chat_id          TEXT NOT NULL,
    -- Who wrote first (a group's first member to write); NULL while only the bot spoke.
    platform_user_id TEXT,
    started_at       BIGINT NOT NULL,
    last_message_at  BIGINT NOT NULL,
    message_count    BIGINT NOT NULL,
    tokens_in        BIGINT NOT NULL,
    tokens_out       BIGINT NOT NULL
);
CREATE INDEX conversations_recent ON conversations (instance_id, last_message_at);
CREATE INDEX conversations_chat ON conversations (instance_id, chat_id, last_message_at);
CREATE INDEX conversations_started ON conversations (instance_id, started_at);
