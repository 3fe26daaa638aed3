-- Reads that stay fast at scale (issue #16). Analytics and insights read these instead of walking every
-- message of their range; both are kept in the transaction that stores each message
-- (`store::analytics`), follow the messages' retention, and go with the instance.
--
-- Per instance and UTC day (the unix day number, `at / 86400000`): the figures of its stored messages
-- that add up over days. Outcomes are counted apart (`errors` is fallback + failed).
CREATE TABLE analytics_days (
    instance_id  TEXT NOT NULL,
    day          BIGINT NOT NULL,
    messages_in  BIGINT NOT NULL,
    messages_out BIGINT NOT NULL,
    agent_calls  BIGINT NOT NULL,
    tokens_in    BIGINT NOT NULL,
    tokens_out   BIGINT NOT NULL,
    answered     BIGINT NOT NULL,
    fallback     BIGINT NOT NULL,
    failed       BIGINT NOT NULL,
    dropped_rate BIGINT NOT NULL,
    dropped_cap  BIGINT NOT NULL,
    PRIMARY KEY (instance_id, day)
);
-- Who wrote to the instance on each day (unique users over a range do not add up: they are counted
-- distinct over these rows, far fewer than the messages).
CREATE TABLE analytics_users (
    instance_id TEXT NOT NULL,
    day         BIGINT NOT NULL,
    user_id     TEXT NOT NULL,
    PRIMARY KEY (instance_id, day, user_id)
);

-- The messages stored so far.
INSERT INTO analytics_days (instance_id, day, messages_in, messages_out, agent_calls, tokens_in, tokens_out,
                            answered, fallback, failed, dropped_rate, dropped_cap)
SELECT instance_id, at / 86400000,
       CAST(SUM(CASE WHEN direction = 'in' THEN 1 ELSE 0 END) AS BIGINT),
       CAST(SUM(CASE WHEN direction = 'out' THEN 1 ELSE 0 END) AS BIGINT),
       CAST(SUM(CASE WHEN latency_ms IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT),
       CAST(COALESCE(SUM(tokens_in), 0) AS BIGINT),
       CAST(COALESCE(SUM(tokens_out), 0) AS BIGINT),
       CAST(SUM(CASE WHEN outcome = 'answered' THEN 1 ELSE 0 END) AS BIGINT),
       CAST(SUM(CASE WHEN outcome = 'fallback' THEN 1 ELSE 0 END) AS BIGINT),
       CAST(SUM(CASE WHEN outcome = 'failed' THEN 1 ELSE 0 END) AS BIGINT),
       CAST(SUM(CASE WHEN outcome = 'dropped_rate' THEN 1 ELSE 0 END) AS BIGINT),
       CAST(SUM(CASE WHEN outcome = 'dropped_cap' THEN 1 ELSE 0 END) AS BIGINT)
FROM messages GROUP BY instance_id, at / 86400000;
INSERT INTO analytics_users (instance_id, day, user_id)
SELECT DISTINCT instance_id, at / 86400000, from_id FROM messages
WHERE direction = 'in' AND from_id IS NOT NULL;

-- The latencies of a range (percentiles are computed from all of them) read from the index alone.
CREATE INDEX messages_latency ON messages (instance_id, at, latency_ms) WHERE latency_ms IS NOT NULL;
-- Contacts: who wrote, how often, when last and under which name, from the index alone.
CREATE INDEX messages_contacts ON messages (instance_id, direction, from_id, at, from_name);
-- Insights: the question a reply answers, by its provider id in its chat (the latest first).
CREATE INDEX messages_reply ON messages (instance_id, chat_id, message_id, at);
