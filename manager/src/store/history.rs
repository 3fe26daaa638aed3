//! The history tables: `status_history`, `instance_errors`, `message_counts_daily`. Status and error rows
//! are written in the transaction of the status write that caused them, keyed by the status version it
//! produced, so history and state never disagree; the per-day message counts are added when the counters
//! are flushed (`instances::flush_counters`), in that transaction.

use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

use super::{Store, events};
use crate::domain::InstanceRecord;

/// One status change.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StatusChange {
    pub status: String,
    pub previous_status: Option<String>,
    pub reason: Option<String>,
    pub source: String,
    pub at: i64,
}

/// One recorded error.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ErrorEntry {
    pub message: String,
    pub source: String,
    pub at: i64,
}

/// `YYYY-MM-DD` (UTC) of a unix-ms time.
pub fn utc_day(ms: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

/// Appends what changed between `before` and `after` to the history tables and the event log; returns
/// the events written.
pub(super) async fn record_changes(
    conn: &mut AnyConnection,
    before: &InstanceRecord,
    after: &InstanceRecord,
    source: &str,
    attribution: Option<&super::settings_history::Attribution>,
) -> Result<Vec<events::Event>, sqlx::Error> {
    super::settings_history::record(conn, before, after, source, attribution).await?;
    let new_events = events::derive(Some(before), after);
    events::insert(conn, &new_events).await?;
    // A pause or an activation changes no status but is part of its history (its reason says which).
    if before.status != after.status || before.paused != after.paused {
        insert_status(conn, after, Some(before.status.as_str()), source).await?;
    }
    if after.error_count > before.error_count
        && let Some(message) = &after.last_error
    {
        sqlx::query(
            "INSERT INTO instance_errors (instance_id, version, message, source, at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(after.id.clone())
        .bind(after.status_version)
        .bind(message.clone())
        .bind(source.to_string())
        .bind(after.updated_at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(new_events)
}

/// Adds messages to an instance's count for one UTC day, unless the instance is gone.
pub(super) async fn add_daily_messages(
    conn: &mut AnyConnection,
    id: &str,
    day: &str,
    sent: i64,
    received: i64,
) -> Result<(), sqlx::Error> {
    if sent <= 0 && received <= 0 {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO message_counts_daily (instance_id, day, sent, received) \
         SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM instances WHERE id = $1) \
         ON CONFLICT (instance_id, day) DO UPDATE SET sent = message_counts_daily.sent + excluded.sent, \
         received = message_counts_daily.received + excluded.received",
    )
    .bind(id.to_string())
    .bind(day.to_string())
    .bind(sent.max(0))
    .bind(received.max(0))
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_status(
    conn: &mut AnyConnection,
    r: &InstanceRecord,
    previous: Option<&str>,
    source: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO status_history (instance_id, version, status, previous_status, reason, source, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(r.id.clone())
    .bind(r.status_version)
    .bind(r.status.as_str())
    .bind(previous.map(str::to_string))
    .bind(r.status_reason.clone())
    .bind(source.to_string())
    .bind(r.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub(super) async fn delete_all(conn: &mut AnyConnection, id: &str) -> Result<(), sqlx::Error> {
    for table in [
        "status_history",
        "instance_errors",
        "settings_history",
        "message_counts_daily",
        "messages",
        "chats",
        "conversations",
        "analytics_days",
        "analytics_users",
        "webhooks",
        "webhook_deliveries",
        "platform_callbacks",
        "schedules",
        "schedule_runs",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE instance_id = $1"
        )))
        .bind(id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

impl Store {
    /// The first history entry and event of a new instance.
    pub async fn record_created(
        &self,
        r: &InstanceRecord,
    ) -> Result<Vec<events::Event>, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        insert_status(&mut tx, r, None, "api").await?;
        let created = events::derive(None, r);
        events::insert(&mut tx, &created).await?;
        tx.commit().await?;
        Ok(created)
    }

    /// Status changes, newest first.
    pub async fn status_history(
        &self,
        id: &str,
        limit: i64,
    ) -> Result<Vec<StatusChange>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT status, previous_status, reason, source, at FROM status_history \
             WHERE instance_id = $1 ORDER BY version DESC LIMIT $2",
        )
        .bind(id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StatusChange {
                    status: r.try_get("status")?,
                    previous_status: r.try_get("previous_status")?,
                    reason: r.try_get("reason")?,
                    source: r.try_get("source")?,
                    at: r.try_get("at")?,
                })
            })
            .collect()
    }

    /// Errors, newest first.
    pub async fn errors(&self, id: &str, limit: i64) -> Result<Vec<ErrorEntry>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT message, source, at FROM instance_errors WHERE instance_id = $1 ORDER BY version DESC LIMIT $2",
        )
        .bind(id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ErrorEntry {
                    message: r.try_get("message")?,
                    source: r.try_get("source")?,
                    at: r.try_get("at")?,
                })
            })
            .collect()
    }

    /// Forgets the instance's recorded errors; returns how many there were.
    pub async fn clear_errors(&self, id: &str) -> Result<u64, sqlx::Error> {
        let done = sqlx::query("DELETE FROM instance_errors WHERE instance_id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// (sent, received) on one UTC day.
    pub async fn messages_on(&self, id: &str, day: &str) -> Result<(i64, i64), sqlx::Error> {
        let row = sqlx::query(
            "SELECT sent, received FROM message_counts_daily WHERE instance_id = $1 AND day = $2",
        )
        .bind(id)
        .bind(day)
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(r) => Ok((r.try_get("sent")?, r.try_get("received")?)),
            None => Ok((0, 0)),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn days_are_utc_dates() {
        assert_eq!(super::utc_day(0), "1970-01-01");
        assert_eq!(super::utc_day(1_795_000_000_000), "2026-11-18");
    }
}
