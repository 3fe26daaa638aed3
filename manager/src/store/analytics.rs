//! `analytics_days` and `analytics_users`: what analytics and insights read instead of walking every
//! message of their range (issue #16). Per instance and UTC day, the figures of the stored messages that
//! add up over days (messages in and out, agent calls, tokens, outcomes), and who wrote that day (unique
//! users over a range are counted distinct over these rows).
//!
//! Kept exact by construction: the messages' transaction adds what it stored ([`Tally`]); the retention
//! sweep, after deleting the messages older than a moment, drops the days wholly before it and counts
//! the day it cuts again from the messages left ([`Store::forget_analytics`]); an instance's rows go
//! with it (`history::delete_all`). So the figures are always those of the stored messages, as counting
//! them live would give. Latency percentiles need every latency: they are read from the index
//! `messages_latency` alone.

use std::collections::{BTreeMap, BTreeSet};

use shared::worker_api::Outcome;
use sqlx::AnyConnection;

use super::{Store, conversations::DAY_MS};

/// The figures of one day that add up (a row of `analytics_days`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayTotals {
    pub messages_in: i64,
    pub messages_out: i64,
    pub agent_calls: i64,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub answered: i64,
    pub fallback: i64,
    pub failed: i64,
    pub dropped_rate: i64,
    pub dropped_cap: i64,
}

/// A message as the rollup counts it.
pub(super) struct Counted<'a> {
    pub direction: &'a str,
    pub at: i64,
    pub from_id: Option<&'a str>,
    pub latency_ms: Option<f64>,
    pub tokens_in: Option<i64>,
    pub tokens_out: Option<i64>,
    pub outcome: Option<Outcome>,
}

/// What one batch of stored messages adds to the rollup, written once per day at the end of the batch.
#[derive(Default)]
pub(super) struct Tally {
    days: BTreeMap<i64, DayTotals>,
    users: BTreeSet<(i64, String)>,
}

/// The UTC day of `at` (unix ms), as SQL's integer division `at / 86400000` gives it on both databases.
pub fn day_of(at: i64) -> i64 {
    at / DAY_MS
}

impl Tally {
    /// Counts a message that was new.
    pub fn add(&mut self, m: &Counted<'_>) {
        let day = day_of(m.at);
        let d = self.days.entry(day).or_default();
        let one = |yes: bool| i64::from(yes);
        d.messages_in += one(m.direction == "in");
        d.messages_out += one(m.direction == "out");
        d.agent_calls += one(m.latency_ms.is_some());
        d.tokens_in = d.tokens_in.saturating_add(m.tokens_in.unwrap_or(0));
        d.tokens_out = d.tokens_out.saturating_add(m.tokens_out.unwrap_or(0));
        d.answered += one(m.outcome == Some(Outcome::Answered));
        d.fallback += one(m.outcome == Some(Outcome::Fallback));
        d.failed += one(m.outcome == Some(Outcome::Failed));
        d.dropped_rate += one(m.outcome == Some(Outcome::DroppedRate));
        d.dropped_cap += one(m.outcome == Some(Outcome::DroppedCap));
        if m.direction == "in"
            && let Some(user) = m.from_id
        {
            self.users.insert((day, user.to_string()));
        }
    }

    /// Adds the tally to the instance's rows, in the transaction that stored the messages.
    pub async fn write(
        &self,
        conn: &mut AnyConnection,
        instance_id: &str,
    ) -> Result<(), sqlx::Error> {
        for (day, d) in &self.days {
            sqlx::query(
                "INSERT INTO analytics_days (instance_id, day, messages_in, messages_out, agent_calls, \
                 tokens_in, tokens_out, answered, fallback, failed, dropped_rate, dropped_cap) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                 ON CONFLICT (instance_id, day) DO UPDATE SET \
                 messages_in = analytics_days.messages_in + excluded.messages_in, \
                 messages_out = analytics_days.messages_out + excluded.messages_out, \
                 agent_calls = analytics_days.agent_calls + excluded.agent_calls, \
                 tokens_in = analytics_days.tokens_in + excluded.tokens_in, \
                 tokens_out = analytics_days.tokens_out + excluded.tokens_out, \
                 answered = analytics_days.answered + excluded.answered, \
                 fallback = analytics_days.fallback + excluded.fallback, \
                 failed = analytics_days.failed + excluded.failed, \
                 dropped_rate = analytics_days.dropped_rate + excluded.dropped_rate, \
                 dropped_cap = analytics_days.dropped_cap + excluded.dropped_cap",
            )
            .bind(instance_id.to_string())
            .bind(*day)
            .bind(d.messages_in)
            .bind(d.messages_out)
            .bind(d.agent_calls)
            .bind(d.tokens_in)
            .bind(d.tokens_out)
            .bind(d.answered)
            .bind(d.fallback)
            .bind(d.failed)
            .bind(d.dropped_rate)
            .bind(d.dropped_cap)
            .execute(&mut *conn)
            .await?;
        }
        for (day, user) in &self.users {
            sqlx::query(
                "INSERT INTO analytics_users (instance_id, day, user_id) VALUES ($1, $2, $3) \
                 ON CONFLICT (instance_id, day, user_id) DO NOTHING",
            )
            .bind(instance_id.to_string())
            .bind(*day)
            .bind(user.clone())
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}

/// `analytics_days`' rows of the messages stored from `from` (unix ms, included) to `to` (excluded),
/// counted from the messages: the migration's backfill and the retention's recount.
fn count_days_sql(condition: &str) -> String {
    let count = |case: &str| format!("CAST(SUM(CASE WHEN {case} THEN 1 ELSE 0 END) AS BIGINT)");
    format!(
        "INSERT INTO analytics_days (instance_id, day, messages_in, messages_out, agent_calls, tokens_in, \
         tokens_out, answered, fallback, failed, dropped_rate, dropped_cap) \
         SELECT instance_id, at / {DAY_MS}, {}, {}, {}, CAST(COALESCE(SUM(tokens_in), 0) AS BIGINT), \
         CAST(COALESCE(SUM(tokens_out), 0) AS BIGINT), {}, {}, {}, {}, {} \
         FROM messages WHERE {condition} GROUP BY instance_id, at / {DAY_MS}",
        count("direction = 'in'"),
        count("direction = 'out'"),
        count("latency_ms IS NOT NULL"),
        count(&format!("outcome = '{}'", Outcome::Answered)),
        count(&format!("outcome = '{}'", Outcome::Fallback)),
        count(&format!("outcome = '{}'", Outcome::Failed)),
        count(&format!("outcome = '{}'", Outcome::DroppedRate)),
        count(&format!("outcome = '{}'", Outcome::DroppedCap)),
    )
}

fn count_users_sql(condition: &str) -> String {
    format!(
        "INSERT INTO analytics_users (instance_id, day, user_id) \
         SELECT DISTINCT instance_id, at / {DAY_MS}, from_id FROM messages \
         WHERE {condition} AND direction = 'in' AND from_id IS NOT NULL"
    )
}

/// The statements that count the rollup again from all the stored messages, in one transaction: for a
/// database filled without the manager (as the storage benchmark fills one).
pub fn recount_statements() -> Vec<String> {
    vec![
        "DELETE FROM analytics_days".to_string(),
        "DELETE FROM analytics_users".to_string(),
        count_days_sql("1 = 1"),
        count_users_sql("1 = 1"),
    ]
}

impl Store {
    /// After the retention deleted every message older than `before` (unix ms): forgets the days wholly
    /// before it and counts the day it cut again from the messages left, so the rollup stays what the
    /// stored messages add up to.
    pub async fn forget_analytics(&self, before: i64) -> Result<(), sqlx::Error> {
        let cut = day_of(before);
        let mut tx = self.pool().begin().await?;
        for table in ["analytics_days", "analytics_users"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE day <= $1"
            )))
            .bind(cut)
            .execute(&mut *tx)
            .await?;
        }
        let day = format!("at >= {} AND at < {}", cut * DAY_MS, (cut + 1) * DAY_MS);
        for sql in [count_days_sql(&day), count_users_sql(&day)] {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }

    /// Counts the rollup again from all the stored messages.
    pub async fn recount_analytics(&self) -> Result<(), sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        for sql in recount_statements() {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }
}
