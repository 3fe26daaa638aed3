//! `conversations`: a chat's messages grouped by silences. A message joins its chat's latest
//! conversation unless the chat was silent for the bot's `conversation_ttl_hours` — the window the
//! agent's context (`agent::ChatContext`) follows too. Also what is read off the conversations and the
//! bot's replies: analytics per UTC day, insights, the LLM block.

use std::{collections::BTreeMap, ops::Range};

use shared::worker_api::Outcome;
use sqlx::{AnyConnection, Row, any::AnyRow};

use super::Store;

/// Milliseconds in a day: UTC days are `at / DAY_MS` in both databases (integer division).
pub const DAY_MS: i64 = 86_400_000;

/// Whether a message at `at` (unix ms) joins the conversation whose last message was at `last`, or
/// starts a new one: it joins unless the chat was silent for `ttl_ms` or longer (a message older than
/// the last one, arriving late, joins).
pub fn joins(last: Option<i64>, at: i64, ttl_ms: i64) -> bool {
    last.is_some_and(|last| at - last < ttl_ms)
}

/// The 95th percentile of `values` by nearest rank (the smallest value at least 95 % of them do not
/// exceed); none for no values.
pub fn p95(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (sorted.len() as f64 * 0.95).ceil() as usize;
    sorted.get(rank.max(1) - 1).copied()
}

/// The mean of `values`; none for no values.
pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// A message being placed in its conversation.
pub(super) struct Said<'a> {
    pub instance_id: &'a str,
    pub chat_id: &'a str,
    /// The sender, for messages in.
    pub user_id: Option<&'a str>,
    pub at: i64,
    pub tokens_in: i64,
    pub tokens_out: i64,
}

/// Counts `said` in its chat's conversation (a new one after a silence of `ttl_ms`); returns the
/// conversation's id. Runs in the transaction that stored the message.
pub(super) async fn join(
    conn: &mut AnyConnection,
    said: &Said<'_>,
    ttl_ms: i64,
) -> Result<String, sqlx::Error> {
    let latest = sqlx::query(
        "SELECT id, last_message_at FROM conversations WHERE instance_id = $1 AND chat_id = $2 \
         ORDER BY last_message_at DESC, started_at DESC LIMIT 1",
    )
    .bind(said.instance_id.to_string())
    .bind(said.chat_id.to_string())
    .fetch_optional(&mut *conn)
    .await?
    .map(|r| {
        Ok::<_, sqlx::Error>((
            r.try_get::<String, _>("id")?,
            r.try_get::<i64, _>("last_message_at")?,
        ))
    })
    .transpose()?;
    if let Some((id, last)) = latest
        && joins(Some(last), said.at, ttl_ms)
    {
        sqlx::query(
            "UPDATE conversations SET message_count = message_count + 1, \
             last_message_at = CASE WHEN last_message_at < $2 THEN $2 ELSE last_message_at END, \
             tokens_in = tokens_in + $3, tokens_out = tokens_out + $4, \
             platform_user_id = COALESCE(platform_user_id, $5) WHERE id = $1",
        )
        .bind(id.clone())
        .bind(said.at)
        .bind(said.tokens_in)
        .bind(said.tokens_out)
        .bind(said.user_id.map(str::to_string))
        .execute(&mut *conn)
        .await?;
        return Ok(id);
    }
    let id = format!("conv_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(
        "INSERT INTO conversations (id, instance_id, chat_id, platform_user_id, started_at, last_message_at, \
         message_count, tokens_in, tokens_out) VALUES ($1, $2, $3, $4, $5, $5, 1, $6, $7)",
    )
    .bind(id.clone())
    .bind(said.instance_id.to_string())
    .bind(said.chat_id.to_string())
    .bind(said.user_id.map(str::to_string))
    .bind(said.at)
    .bind(said.tokens_in)
    .bind(said.tokens_out)
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationRow {
    pub id: String,
    pub chat_id: String,
    pub platform_user_id: Option<String>,
    pub started_at: i64,
    pub last_message_at: i64,
    pub message_count: i64,
    pub tokens_in: i64,
    pub tokens_out: i64,
}

/// A message of a conversation, with what its exchange reported.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationMessageRow {
    pub id: String,
    pub role: String,
    pub text: Option<String>,
    pub at: i64,
    pub tokens_in: Option<i64>,
    pub tokens_out: Option<i64>,
    pub latency_ms: Option<f64>,
    pub outcome: Option<String>,
    pub error: Option<String>,
}

/// Figures of one UTC day (or of a range), as counted by SQL; latencies are apart.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DayCounts {
    pub messages_in: i64,
    pub messages_out: i64,
    pub conversations: i64,
    pub unique_users: i64,
    pub agent_calls: i64,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub errors: i64,
    pub dropped_rate: i64,
    pub dropped_cap: i64,
    /// The agent calls' latencies, in ms.
    pub latencies: Vec<f64>,
}

/// Analytics of a range: each day with activity (by unix day number), and the range's totals.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Analytics {
    pub days: BTreeMap<i64, DayCounts>,
    pub summary: DayCounts,
}

impl Analytics {
    /// Adds every day's figures that add up into the summary (unique users and latencies do not).
    fn add_up_days(&mut self) {
        let s = &mut self.summary;
        for day in self.days.values() {
            s.messages_in += day.messages_in;
            s.messages_out += day.messages_out;
            s.conversations += day.conversations;
            s.agent_calls += day.agent_calls;
            s.tokens_in += day.tokens_in;
            s.tokens_out += day.tokens_out;
            s.errors += day.errors;
            s.dropped_rate += day.dropped_rate;
            s.dropped_cap += day.dropped_cap;
        }
    }
}

/// A question that got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnansweredRow {
    pub question: Option<String>,
    pub bot_response: Option<String>,
    pub outcome: String,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insights {
    pub unanswered: Vec<UnansweredRow>,
    pub answered: i64,
    pub fallback: i64,
    pub failed: i64,
}

/// The LLM block's figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LlmRow {
    pub last_success_at: Option<i64>,
    pub average_latency_ms: Option<f64>,
    pub tokens_today: i64,
    pub success_count: i64,
    pub error_count: i64,
}

fn conversation_row(r: &AnyRow) -> Result<ConversationRow, sqlx::Error> {
    Ok(ConversationRow {
        id: r.try_get("id")?,
        chat_id: r.try_get("chat_id")?,
        platform_user_id: r.try_get("platform_user_id")?,
        started_at: r.try_get("started_at")?,
        last_message_at: r.try_get("last_message_at")?,
        message_count: r.try_get("message_count")?,
        tokens_in: r.try_get("tokens_in")?,
        tokens_out: r.try_get("tokens_out")?,
    })
}

const CONVERSATION_COLUMNS: &str = "id, chat_id, platform_user_id, started_at, last_message_at, \
                                    message_count, tokens_in, tokens_out";

/// `SUM` as a `BIGINT` on both databases (PostgreSQL's `SUM(BIGINT)` is a `NUMERIC`), 0 over no rows.
fn sum(expression: &str) -> String {
    format!("CAST(COALESCE(SUM({expression}), 0) AS BIGINT)")
}

/// 1 for rows whose outcome is one of `outcomes`, else 0.
fn outcome_is(outcomes: &[Outcome]) -> String {
    let names: Vec<String> = outcomes.iter().map(|o| format!("'{o}'")).collect();
    format!(
        "CASE WHEN outcome IN ({}) THEN 1 ELSE 0 END",
        names.join(", ")
    )
}

impl Store {
    /// The instance's conversations, most recently active first, and how many it has in all.
    pub async fn conversations(
        &self,
        instance_id: &str,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<ConversationRow>, i64), sqlx::Error> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE instance_id = $1 \
             ORDER BY last_message_at DESC, id DESC LIMIT $2 OFFSET $3"
        )))
        .bind(instance_id.to_string())
        .bind(limit)
        .bind(offset)
        .fetch_all(self.pool())
        .await?;
        let total: i64 = sqlx::query_scalar(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM conversations WHERE instance_id = $1",
        )
        .bind(instance_id.to_string())
        .fetch_one(self.pool())
        .await?;
        Ok((
            rows.iter()
                .map(conversation_row)
                .collect::<Result<_, _>>()?,
            total,
        ))
    }

    /// One conversation of the instance.
    pub async fn conversation(
        &self,
        instance_id: &str,
        id: &str,
    ) -> Result<Option<ConversationRow>, sqlx::Error> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE instance_id = $1 AND id = $2"
        )))
        .bind(instance_id.to_string())
        .bind(id.to_string())
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(conversation_row)
        .transpose()
    }

    /// A conversation's messages, oldest first (a question before its answer in the same millisecond).
    pub async fn conversation_messages(
        &self,
        conversation_id: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<ConversationMessageRow>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, direction, role, text, at, tokens_in, tokens_out, latency_ms, outcome, error \
             FROM messages WHERE conversation_id = $1 ORDER BY at, direction, id LIMIT $2 OFFSET $3",
        )
        .bind(conversation_id.to_string())
        .bind(limit)
        .bind(offset)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let direction: String = r.try_get("direction")?;
                let role: Option<String> = r.try_get("role")?;
                Ok(ConversationMessageRow {
                    id: r.try_get("id")?,
                    role: role.unwrap_or_else(|| {
                        if direction == "in" {
                            "user"
                        } else {
                            "assistant"
                        }
                        .to_string()
                    }),
                    text: r.try_get("text")?,
                    at: r.try_get("at")?,
                    tokens_in: r.try_get("tokens_in")?,
                    tokens_out: r.try_get("tokens_out")?,
                    latency_ms: r.try_get("latency_ms")?,
                    outcome: r.try_get("outcome")?,
                    error: r.try_get("error")?,
                })
            })
            .collect()
    }

    /// The rows of `sql`, whose `$1` is an instance and `$2`..`$3` a range (of days or unix ms).
    async fn rows_in(
        &self,
        sql: impl sqlx::SqlSafeStr,
        instance_id: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<sqlx::any::AnyRow>, sqlx::Error> {
        sqlx::query(sql)
            .bind(instance_id.to_string())
            .bind(from)
            .bind(to)
            .fetch_all(self.pool())
            .await
    }

    /// Analytics of the messages and conversations of the UTC days `days` (unix day numbers), per day
    /// and in all: the figures that add up from the rollup (`analytics.rs`), unique users counted
    /// distinct over its rows, conversations by the day they started, and the latencies (percentiles
    /// need all of them) from the index `messages_latency` alone.
    pub async fn analytics(
        &self,
        instance_id: &str,
        days: Range<i64>,
    ) -> Result<Analytics, sqlx::Error> {
        let mut out = Analytics::default();
        let (first, end) = (days.start, days.end);
        let sql = "SELECT day, messages_in, messages_out, agent_calls, tokens_in, tokens_out, fallback, \
             failed, dropped_rate, dropped_cap FROM analytics_days \
             WHERE instance_id = $1 AND day >= $2 AND day < $3";
        let rows = self.rows_in(sql, instance_id, first, end).await?;
        for r in &rows {
            let day = out.days.entry(r.try_get("day")?).or_default();
            day.messages_in = r.try_get("messages_in")?;
            day.messages_out = r.try_get("messages_out")?;
            day.agent_calls = r.try_get("agent_calls")?;
            day.tokens_in = r.try_get("tokens_in")?;
            day.tokens_out = r.try_get("tokens_out")?;
            day.errors = r.try_get::<i64, _>("fallback")? + r.try_get::<i64, _>("failed")?;
            day.dropped_rate = r.try_get("dropped_rate")?;
            day.dropped_cap = r.try_get("dropped_cap")?;
        }
        let users = self
            .rows_in(
                "SELECT day, CAST(COUNT(*) AS BIGINT) AS unique_users FROM analytics_users \
             WHERE instance_id = $1 AND day >= $2 AND day < $3 GROUP BY day",
                instance_id,
                first,
                end,
            )
            .await?;
        for r in &users {
            out.days.entry(r.try_get("day")?).or_default().unique_users =
                r.try_get("unique_users")?;
        }
        let (from, to) = (first * DAY_MS, end * DAY_MS);
        let sql = format!(
            "SELECT started_at / {DAY_MS} AS day, CAST(COUNT(*) AS BIGINT) AS conversations \
             FROM conversations WHERE instance_id = $1 AND started_at >= $2 AND started_at < $3 \
             GROUP BY started_at / {DAY_MS}"
        );
        let started = self
            .rows_in(sqlx::AssertSqlSafe(sql), instance_id, from, to)
            .await?;
        for r in &started {
            out.days.entry(r.try_get("day")?).or_default().conversations =
                r.try_get("conversations")?;
        }
        // Percentiles in Rust: SQLite has no percentile function.
        let latencies = self
            .rows_in(
                sqlx::AssertSqlSafe(format!(
                    "SELECT at / {DAY_MS} AS day, latency_ms FROM messages \
             WHERE instance_id = $1 AND at >= $2 AND at < $3 AND latency_ms IS NOT NULL"
                )),
                instance_id,
                from,
                to,
            )
            .await?;
        for r in &latencies {
            let latency: f64 = r.try_get("latency_ms")?;
            out.days
                .entry(r.try_get("day")?)
                .or_default()
                .latencies
                .push(latency);
            out.summary.latencies.push(latency);
        }
        out.summary.unique_users = sqlx::query_scalar(
            "SELECT CAST(COUNT(DISTINCT user_id) AS BIGINT) FROM analytics_users \
             WHERE instance_id = $1 AND day >= $2 AND day < $3",
        )
        .bind(instance_id.to_string())
        .bind(first)
        .bind(end)
        .fetch_one(self.pool())
        .await?;
        out.add_up_days();
        Ok(out)
    }

    /// The latest `limit` questions without an answer (`fallback`, `failed`), newest first, and the
    /// counts of answered, fallen back and failed questions.
    pub async fn insights(&self, instance_id: &str, limit: i64) -> Result<Insights, sqlx::Error> {
        // The latest `limit` replies of each outcome (each from the end of its range of the index
        // `messages_outcome`), the latest `limit` of both, and only then the question of each: the
        // message the reply answers (`reply_to`), in the same chat (the index `messages_reply`).
        let latest = |outcome: Outcome| {
            format!(
                "SELECT * FROM (SELECT id, instance_id, chat_id, reply_to, text, outcome, at FROM messages \
                 WHERE instance_id = $1 AND outcome = '{outcome}' ORDER BY at DESC, id DESC LIMIT $2) {outcome}"
            )
        };
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT a.text AS bot_response, a.outcome, a.at, \
             (SELECT q.text FROM messages q WHERE q.instance_id = a.instance_id AND q.chat_id = a.chat_id \
              AND q.message_id = a.reply_to AND q.direction = 'in' ORDER BY q.at DESC LIMIT 1) AS question \
             FROM (SELECT * FROM ({} UNION ALL {}) b ORDER BY at DESC, id DESC LIMIT $2) a \
             ORDER BY a.at DESC, a.id DESC",
            latest(Outcome::Fallback),
            latest(Outcome::Failed),
        )))
        .bind(instance_id.to_string())
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        let unanswered = rows
            .iter()
            .map(|r| {
                Ok(UnansweredRow {
                    question: r.try_get("question")?,
                    bot_response: r.try_get("bot_response")?,
                    outcome: r.try_get("outcome")?,
                    at: r.try_get("at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?;
        // The counts add up from the rollup, which holds what the stored messages do.
        let counts = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} AS answered, {} AS fallback, {} AS failed FROM analytics_days WHERE instance_id = $1",
            sum("answered"),
            sum("fallback"),
            sum("failed"),
        )))
        .bind(instance_id.to_string())
        .fetch_one(self.pool())
        .await?;
        Ok(Insights {
            unanswered,
            answered: counts.try_get("answered")?,
            fallback: counts.try_get("fallback")?,
            failed: counts.try_get("failed")?,
        })
    }

    /// The LLM block: the agent calls since `since` (unix ms: the start of the UTC day), and when the
    /// agent last answered. One query on the `(instance_id, at)` index, the last success on the
    /// `(instance_id, outcome, at)` one.
    pub async fn llm_stats(&self, instance_id: &str, since: i64) -> Result<LlmRow, sqlx::Error> {
        let r = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} AS success_count, {} AS error_count, \
             CAST(AVG(latency_ms) AS DOUBLE PRECISION) AS average_latency_ms, \
             {} AS tokens_today, \
             (SELECT MAX(l.at) FROM messages l WHERE l.instance_id = $1 AND l.outcome = '{}') AS last_success_at \
             FROM messages WHERE instance_id = $1 AND at >= $2",
            sum(&outcome_is(&[Outcome::Answered])),
            sum(&outcome_is(&[Outcome::Fallback])),
            sum("COALESCE(tokens_in, 0) + COALESCE(tokens_out, 0)"),
            Outcome::Answered,
        )))
        .bind(instance_id.to_string())
        .bind(since)
        .fetch_one(self.pool())
        .await?;
        Ok(LlmRow {
            last_success_at: r.try_get("last_success_at")?,
            average_latency_ms: r.try_get("average_latency_ms")?,
            tokens_today: r.try_get("tokens_today")?,
            success_count: r.try_get("success_count")?,
            error_count: r.try_get("error_count")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use shared::worker_api::{ChatKind, Exchange, WorkerEvent, WorkerEventKind};

    use super::*;

    const HOUR: i64 = 3_600_000;

    #[test]
    fn a_silence_of_the_ttl_starts_a_new_conversation() {
        let ttl = 24 * HOUR;
        assert!(!joins(None, 0, ttl), "a chat's first message starts one");
        assert!(joins(Some(0), 1, ttl));
        assert!(joins(Some(0), ttl - 1, ttl));
        assert!(!joins(Some(0), ttl, ttl), "silent for the whole ttl");
        assert!(!joins(Some(0), 3 * ttl, ttl));
        assert!(joins(Some(ttl), 5, ttl), "a late message joins");
        // The window slides with each message: a chat that never stays silent for the ttl is one
        // conversation however long it lasts.
        let mut last = None;
        let mut started = 0;
        for at in (0..10).map(|i| i * 23 * HOUR) {
            if !joins(last, at, ttl) {
                started += 1;
            }
            last = Some(at);
        }
        assert_eq!(started, 1);
    }

    #[test]
    fn p95_is_the_nearest_rank() {
        assert_eq!(p95(&[]), None);
        assert_eq!(p95(&[7.0]), Some(7.0));
        assert_eq!(p95(&[3.0, 1.0, 2.0]), Some(3.0));
        let hundred: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(p95(&hundred), Some(95.0));
        let twenty: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(p95(&twenty), Some(19.0));
        assert_eq!(p95(&twenty[..19]), Some(19.0), "19 values: the largest");
        assert_eq!(mean(&[]), None);
        assert_eq!(mean(&[1.0, 2.0, 6.0]), Some(3.0));
    }

    async fn store() -> (Store, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("botfleet-store-{}", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}/t.db", dir.display());
        let store = Store::new(
            crate::db::connect(&url).await.unwrap(),
            std::sync::Arc::new(crate::seal::Sealer::ephemeral()),
        );
        (store, dir)
    }

    fn message(id: &str, kind: WorkerEventKind, chat: &str, at: i64, text: &str) -> WorkerEvent {
        WorkerEvent {
            id: id.into(),
            seq: 0,
            kind,
            chat_id: Some(chat.into()),
            chat_name: None,
            chat_type: Some(ChatKind::Private),
            from_id: (kind == WorkerEventKind::MessageIn).then(|| format!("u{chat}")),
            from_name: None,
            message_id: Some(format!("m-{id}")),
            text: Some(text.into()),
            at,
            webhook: None,
            exchange: None,
        }
    }

    fn reply(id: &str, chat: &str, at: i64, question: &str, exchange: Exchange) -> WorkerEvent {
        let mut e = message(id, WorkerEventKind::MessageOut, chat, at, "an answer");
        e.exchange = Some(Exchange {
            question_id: Some(format!("m-{question}")),
            ..exchange
        });
        e
    }

    fn answered(latency: f64, tokens_in: u64, tokens_out: u64) -> Exchange {
        Exchange {
            latency_ms: Some(latency),
            tokens_in: Some(tokens_in),
            tokens_out: Some(tokens_out),
            ..Exchange::new(Outcome::Answered)
        }
    }

    #[tokio::test]
    async fn messages_gather_into_conversations_and_figures() {
        let (store, dir) = store().await;
        let ttl = 24 * HOUR;
        // Day 0 (1970-01-01): chat 1 asks twice; the second reply is a fallback.
        let day0 = vec![
            message("q1", WorkerEventKind::MessageIn, "1", HOUR, "hello"),
            reply("a1", "1", HOUR + 10, "q1", answered(10.0, 5, 2)),
            message("q2", WorkerEventKind::MessageIn, "1", 2 * HOUR, "refund?"),
            reply(
                "a2",
                "1",
                2 * HOUR + 10,
                "q2",
                Exchange {
                    latency_ms: Some(30.0),
                    error: Some("agent answered 500".into()),
                    ..Exchange::new(Outcome::Fallback)
                },
            ),
            // Chat 2 asks; its answer cannot be sent (reported on `bot.error`).
            message("q3", WorkerEventKind::MessageIn, "2", 3 * HOUR, "hi"),
            WorkerEvent {
                kind: WorkerEventKind::BotError,
                text: Some("could not send the reply: blocked".into()),
                from_id: None,
                exchange: Some(Exchange {
                    question_id: Some("m-q3".into()),
                    ..answered(20.0, 4, 1).undelivered("hello 2".into(), "blocked")
                }),
                ..message("e3", WorkerEventKind::BotError, "2", 3 * HOUR + 10, "")
            },
        ];
        store.store_events("i", &day0, ttl).await.unwrap();
        // Day 1: chat 1 again within the ttl (same conversation); day 2, after more than a day of
        // silence: a new one.
        let later = vec![
            message("q4", WorkerEventKind::MessageIn, "1", 25 * HOUR, "again"),
            reply("a4", "1", 25 * HOUR + 10, "q4", answered(40.0, 7, 3)),
            message("q5", WorkerEventKind::MessageIn, "1", 50 * HOUR, "back"),
        ];
        store.store_events("i", &later, ttl).await.unwrap();
        // Stored twice (the manager crashed before acknowledging): nothing counts twice.
        store.store_events("i", &later, ttl).await.unwrap();

        let (conversations, total) = store.conversations("i", 10, 0).await.unwrap();
        assert_eq!(total, 3);
        let summary: Vec<(&str, i64, i64, i64, i64, i64)> = conversations
            .iter()
            .map(|c| {
                (
                    c.chat_id.as_str(),
                    c.message_count,
                    c.tokens_in,
                    c.tokens_out,
                    c.started_at,
                    c.last_message_at,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("1", 1, 0, 0, 50 * HOUR, 50 * HOUR),
                ("1", 6, 12, 5, HOUR, 25 * HOUR + 10),
                ("2", 2, 4, 1, 3 * HOUR, 3 * HOUR + 10),
            ],
            "most recently active first"
        );
        assert_eq!(conversations[1].platform_user_id.as_deref(), Some("u1"));
        let (page, _) = store.conversations("i", 1, 1).await.unwrap();
        assert_eq!(page, conversations[1..2]);

        let messages = store
            .conversation_messages(&conversations[1].id, 100, 0)
            .await
            .unwrap();
        let roles: Vec<(&str, Option<&str>)> = messages
            .iter()
            .map(|m| (m.role.as_str(), m.outcome.as_deref()))
            .collect();
        assert_eq!(
            roles,
            [
                ("user", None),
                ("assistant", Some("answered")),
                ("user", None),
                ("assistant", Some("fallback")),
                ("user", None),
                ("assistant", Some("answered")),
            ]
        );
        assert_eq!(messages[1].latency_ms, Some(10.0));
        assert_eq!(
            (messages[1].tokens_in, messages[1].tokens_out),
            (Some(5), Some(2))
        );
        assert_eq!(messages[3].error.as_deref(), Some("agent answered 500"));
        let unsent = store
            .conversation_messages(&conversations[2].id, 100, 0)
            .await
            .unwrap();
        assert_eq!(unsent[1].outcome.as_deref(), Some("failed"));
        assert_eq!(unsent[1].text.as_deref(), Some("hello 2"));
        assert_eq!(
            store
                .conversation_messages(&conversations[1].id, 2, 4)
                .await
                .unwrap(),
            messages[4..]
        );
        assert_eq!(
            store
                .conversation("other", &conversations[0].id)
                .await
                .unwrap(),
            None
        );
        // The chat's own list shows only what was said in it.
        assert_eq!(store.messages("i", "2", 10).await.unwrap().len(), 1);

        let a = store.analytics("i", 0..3).await.unwrap();
        let day0 = &a.days[&0];
        assert_eq!(
            (
                day0.messages_in,
                day0.messages_out,
                day0.conversations,
                day0.unique_users
            ),
            (3, 2, 2, 2)
        );
        assert_eq!(
            (day0.agent_calls, day0.tokens_in, day0.tokens_out),
            (3, 9, 3)
        );
        assert_eq!(
            (day0.errors, day0.dropped_rate, day0.dropped_cap),
            (2, 0, 0)
        );
        let mut latencies = day0.latencies.clone();
        latencies.sort_by(f64::total_cmp);
        assert_eq!(latencies, [10.0, 20.0, 30.0]);
        let day1 = &a.days[&1];
        assert_eq!(
            (
                day1.messages_in,
                day1.messages_out,
                day1.conversations,
                day1.agent_calls
            ),
            (1, 1, 0, 1)
        );
        let day2 = &a.days[&2];
        assert_eq!(
            (day2.messages_in, day2.conversations, day2.unique_users),
            (1, 1, 1)
        );
        let s = &a.summary;
        assert_eq!(
            (
                s.messages_in,
                s.messages_out,
                s.conversations,
                s.unique_users,
                s.agent_calls
            ),
            (5, 3, 3, 2, 4)
        );
        assert_eq!((s.tokens_in, s.tokens_out, s.errors), (16, 6, 2));
        assert_eq!(s.latencies.len(), 4);
        let only_day1 = store.analytics("i", 1..2).await.unwrap();
        assert_eq!(only_day1.days.keys().collect::<Vec<_>>(), [&1]);

        let insights = store.insights("i", 50).await.unwrap();
        assert_eq!(
            (insights.answered, insights.fallback, insights.failed),
            (2, 1, 1)
        );
        let unanswered: Vec<(Option<&str>, Option<&str>, &str)> = insights
            .unanswered
            .iter()
            .map(|u| {
                (
                    u.question.as_deref(),
                    u.bot_response.as_deref(),
                    u.outcome.as_str(),
                )
            })
            .collect();
        assert_eq!(
            unanswered,
            [
                (Some("hi"), Some("hello 2"), "failed"),
                (Some("refund?"), Some("an answer"), "fallback"),
            ],
            "newest first, each with its question"
        );

        let llm = store.llm_stats("i", DAY_MS).await.unwrap();
        assert_eq!(llm.last_success_at, Some(25 * HOUR + 10));
        assert_eq!(
            (llm.success_count, llm.error_count, llm.tokens_today),
            (1, 0, 10)
        );
        assert_eq!(llm.average_latency_ms, Some(40.0));
        let all = store.llm_stats("i", 0).await.unwrap();
        assert_eq!(
            (all.success_count, all.error_count, all.tokens_today),
            (2, 1, 22)
        );
        assert_eq!(all.average_latency_ms, Some(25.0));
        let none = store.llm_stats("nobody", 0).await.unwrap();
        assert_eq!(none, LlmRow::default());
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Analytics and the insights' counts as they were computed before the rollup: every message of the
    /// range read live. The rollup must always give the same.
    async fn live(store: &Store, instance_id: &str, days: Range<i64>) -> (Analytics, [i64; 3]) {
        let (from, to) = (days.start * DAY_MS, days.end * DAY_MS);
        let mut out = Analytics::default();
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT at / {DAY_MS} AS day, {} AS messages_in, {} AS messages_out, \
             CAST(COUNT(DISTINCT CASE WHEN direction = 'in' THEN from_id END) AS BIGINT) AS unique_users, \
             {} AS agent_calls, {} AS tokens_in, {} AS tokens_out, {} AS errors, {} AS dropped_rate, \
             {} AS dropped_cap FROM messages WHERE instance_id = $1 AND at >= $2 AND at < $3 \
             GROUP BY at / {DAY_MS}",
            sum("CASE WHEN direction = 'in' THEN 1 ELSE 0 END"),
            sum("CASE WHEN direction = 'out' THEN 1 ELSE 0 END"),
            sum("CASE WHEN latency_ms IS NOT NULL THEN 1 ELSE 0 END"),
            sum("tokens_in"),
            sum("tokens_out"),
            sum(&outcome_is(&[Outcome::Fallback, Outcome::Failed])),
            sum(&outcome_is(&[Outcome::DroppedRate])),
            sum(&outcome_is(&[Outcome::DroppedCap])),
        )))
        .bind(instance_id.to_string())
        .bind(from)
        .bind(to)
        .fetch_all(store.pool())
        .await
        .unwrap();
        for r in &rows {
            let day = out.days.entry(r.get("day")).or_default();
            day.messages_in = r.get("messages_in");
            day.messages_out = r.get("messages_out");
            day.unique_users = r.get("unique_users");
            day.agent_calls = r.get("agent_calls");
            day.tokens_in = r.get("tokens_in");
            day.tokens_out = r.get("tokens_out");
            day.errors = r.get("errors");
            day.dropped_rate = r.get("dropped_rate");
            day.dropped_cap = r.get("dropped_cap");
        }
        let started = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT started_at / {DAY_MS} AS day, CAST(COUNT(*) AS BIGINT) AS n FROM conversations \
             WHERE instance_id = $1 AND started_at >= $2 AND started_at < $3 GROUP BY started_at / {DAY_MS}"
        )))
        .bind(instance_id.to_string())
        .bind(from)
        .bind(to)
        .fetch_all(store.pool())
        .await
        .unwrap();
        for r in &started {
            out.days.entry(r.get("day")).or_default().conversations = r.get("n");
        }
        let latencies = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT at / {DAY_MS} AS day, latency_ms FROM messages \
             WHERE instance_id = $1 AND at >= $2 AND at < $3 AND latency_ms IS NOT NULL"
        )))
        .bind(instance_id.to_string())
        .bind(from)
        .bind(to)
        .fetch_all(store.pool())
        .await
        .unwrap();
        for r in &latencies {
            let latency: f64 = r.get("latency_ms");
            out.days
                .entry(r.get("day"))
                .or_default()
                .latencies
                .push(latency);
            out.summary.latencies.push(latency);
        }
        out.summary.unique_users = sqlx::query_scalar(
            "SELECT CAST(COUNT(DISTINCT from_id) AS BIGINT) FROM messages \
             WHERE instance_id = $1 AND at >= $2 AND at < $3 AND direction = 'in'",
        )
        .bind(instance_id.to_string())
        .bind(from)
        .bind(to)
        .fetch_one(store.pool())
        .await
        .unwrap();
        out.add_up_days();
        let counts = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} AS answered, {} AS fallback, {} AS failed FROM messages WHERE instance_id = $1",
            sum(&outcome_is(&[Outcome::Answered])),
            sum(&outcome_is(&[Outcome::Fallback])),
            sum(&outcome_is(&[Outcome::Failed])),
        )))
        .bind(instance_id.to_string())
        .fetch_one(store.pool())
        .await
        .unwrap();
        (
            out,
            [
                counts.get("answered"),
                counts.get("fallback"),
                counts.get("failed"),
            ],
        )
    }

    /// The unanswered questions as they were read before: the question looked up for every reply.
    async fn live_unanswered(store: &Store, instance_id: &str, limit: i64) -> Vec<UnansweredRow> {
        sqlx::query(
            "SELECT a.text AS bot_response, a.outcome, a.at, \
             (SELECT q.text FROM messages q WHERE q.instance_id = a.instance_id AND q.chat_id = a.chat_id \
              AND q.message_id = a.reply_to AND q.direction = 'in' ORDER BY q.at DESC LIMIT 1) AS question \
             FROM messages a WHERE a.instance_id = $1 AND a.outcome IN ('fallback', 'failed') \
             ORDER BY a.at DESC, a.id DESC LIMIT $2",
        )
        .bind(instance_id.to_string())
        .bind(limit)
        .fetch_all(store.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| UnansweredRow {
            question: r.get("question"),
            bot_response: r.get("bot_response"),
            outcome: r.get("outcome"),
            at: r.get("at"),
        })
        .collect()
    }

    /// The figures the API shows of `a`: every day of `days` (a day without messages is all zeros and
    /// no latency), then the totals; latencies in order (the API reads their mean and percentile).
    fn shown(mut a: Analytics, days: Range<i64>) -> Vec<(Option<i64>, DayCounts)> {
        let mut shown: Vec<(Option<i64>, DayCounts)> = days
            .map(|d| (Some(d), a.days.remove(&d).unwrap_or_default()))
            .collect();
        assert!(a.days.is_empty(), "days outside the range: {:?}", a.days);
        shown.push((None, a.summary));
        for (_, d) in &mut shown {
            d.latencies.sort_by(f64::total_cmp);
        }
        shown
    }

    /// The rollup gives what reading every message would, across closed days and today, a message
    /// arriving late into a closed day, events stored twice, unsent replies, another instance, a
    /// retention sweep cutting a day in two, and the instance's deletion.
    #[tokio::test]
    async fn the_rollup_gives_what_the_messages_add_up_to() {
        let (store, dir) = store().await;
        let ttl = 24 * HOUR;
        let outcomes = [
            Outcome::Answered,
            Outcome::Fallback,
            Outcome::Answered,
            Outcome::Failed,
            Outcome::DroppedRate,
            Outcome::DroppedCap,
            Outcome::Welcome,
        ];
        // Five days, three chats of "i" and one of "j", a question and its reply every 5 hours.
        let mut batches: Vec<(&str, Vec<WorkerEvent>)> = Vec::new();
        for day in 0..5i64 {
            let mut i = Vec::new();
            let mut j = Vec::new();
            for k in 0..5i64 {
                let at = day * DAY_MS + k * 5 * HOUR + day * 7;
                let n = (day * 5 + k) as usize;
                let chat = ["1", "2", "3"][n % 3];
                let q = format!("q{day}-{k}");
                i.push(message(
                    &q,
                    WorkerEventKind::MessageIn,
                    chat,
                    at,
                    &format!("question {q}"),
                ));
                let outcome = outcomes[n % outcomes.len()];
                let called = !matches!(
                    outcome,
                    Outcome::Welcome | Outcome::DroppedRate | Outcome::DroppedCap
                );
                let exchange = Exchange {
                    latency_ms: called.then_some(10.0 + n as f64 * 1.5),
                    tokens_in: called.then_some(n as u64),
                    tokens_out: called.then_some(2),
                    ..Exchange::new(outcome)
                };
                if outcome == Outcome::Failed {
                    i.push(WorkerEvent {
                        kind: WorkerEventKind::BotError,
                        text: Some("could not send the reply".into()),
                        from_id: None,
                        exchange: Some(Exchange {
                            question_id: Some(format!("m-{q}")),
                            ..exchange.undelivered("unsent".into(), "blocked")
                        }),
                        ..message(
                            &format!("e{day}-{k}"),
                            WorkerEventKind::BotError,
                            chat,
                            at + 9,
                            "",
                        )
                    });
                } else {
                    i.push(reply(&format!("a{day}-{k}"), chat, at + 9, &q, exchange));
                }
                j.push(message(
                    &format!("j{day}-{k}"),
                    WorkerEventKind::MessageIn,
                    "9",
                    at,
                    "hi",
                ));
            }
            batches.push(("i", i));
            batches.push(("j", j));
        }
        for (instance, events) in &batches {
            store.store_events(instance, events, ttl).await.unwrap();
        }
        // Stored twice: nothing counts twice.
        store.store_events("i", &batches[4].1, ttl).await.unwrap();
        // A message arriving late into a closed day, from a user new that day, with a reply.
        let late = vec![
            message("late", WorkerEventKind::MessageIn, "7", DAY_MS + 3, "late"),
            reply("late-a", "7", DAY_MS + 4, "late", answered(99.5, 40, 4)),
        ];
        store.store_events("i", &late, ttl).await.unwrap();

        let compare = |label: &'static str| {
            let store = store.clone();
            async move {
                for instance in ["i", "j", "none"] {
                    for days in [0..5, 1..2, 0..1, 3..5, 2..9] {
                        let rolled = store.analytics(instance, days.clone()).await.unwrap();
                        let (counted, counts) = live(&store, instance, days.clone()).await;
                        assert_eq!(
                            shown(rolled, days.clone()),
                            shown(counted, days.clone()),
                            "{label}: {instance} {days:?}"
                        );
                        let insights = store.insights(instance, 50).await.unwrap();
                        assert_eq!(
                            [insights.answered, insights.fallback, insights.failed],
                            counts,
                            "{label}: {instance}"
                        );
                    }
                    for limit in [1, 2, 3, 50] {
                        assert_eq!(
                            store.insights(instance, limit).await.unwrap().unanswered,
                            live_unanswered(&store, instance, limit).await,
                            "{label}: {instance}, {limit}"
                        );
                    }
                }
            }
        };
        compare("stored").await;
        let a = store.analytics("i", 1..2).await.unwrap();
        assert_eq!(
            (
                a.summary.messages_in,
                a.summary.unique_users,
                a.summary.agent_calls
            ),
            (6, 4, 4),
            "day 1 with the late message and its new user"
        );
        // Counting the rollup again from the messages gives the rows kept on the way.
        let rollup = |store: Store| async move {
            let days: Vec<(String, i64, i64, i64, i64)> = sqlx::query(
                "SELECT instance_id, day, messages_in, messages_out, tokens_in FROM analytics_days \
                 ORDER BY instance_id, day",
            )
            .fetch_all(store.pool())
            .await
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r.get("instance_id"),
                    r.get("day"),
                    r.get("messages_in"),
                    r.get("messages_out"),
                    r.get("tokens_in"),
                )
            })
            .collect();
            let users: Vec<(String, i64, String)> = sqlx::query(
                "SELECT instance_id, day, user_id FROM analytics_users ORDER BY instance_id, day, user_id",
            )
            .fetch_all(store.pool())
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get("instance_id"), r.get("day"), r.get("user_id")))
            .collect();
            (days, users)
        };
        let kept = rollup(store.clone()).await;
        store.recount_analytics().await.unwrap();
        assert_eq!(rollup(store.clone()).await, kept);

        // Messages kept one day, swept at noon of day 3: days 0 and 1 go, day 2 is cut at noon.
        let args = crate::retention::RetentionArgs {
            retain_events_days: 0,
            retain_messages_days: 1,
            retain_deliveries_days: 0,
            retain_history_days: 0,
            retention_interval_secs: 3600,
        };
        let swept = crate::retention::sweep(&store, &args, 3 * DAY_MS + 12 * HOUR).await;
        assert!(swept.contains(&("messages", 41)), "{swept:?}");
        compare("after the sweep").await;
        let a = store.analytics("i", 0..5).await.unwrap();
        assert_eq!(a.days.get(&1).map_or(0, |d| d.messages_in), 0);
        assert!(a.days[&2].messages_in > 0 && a.days[&2].messages_in < 5);

        // The instance's rows go with it.
        store.delete_instance("i").await.unwrap();
        compare("after the delete").await;
        let left: i64 = sqlx::query_scalar(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM analytics_days WHERE instance_id = 'i'",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        let users: i64 = sqlx::query_scalar(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM analytics_users WHERE instance_id = 'i'",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert_eq!((left, users), (0, 0));
        assert!(
            store
                .analytics("j", 0..5)
                .await
                .unwrap()
                .summary
                .messages_in
                > 0
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
