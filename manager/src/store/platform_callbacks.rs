//! `platform_callbacks`: verified platform callbacks kept until the instance's worker took them.

use sqlx::Row;

use super::Store;

/// A kept callback, as listed.
#[derive(Debug, Clone)]
pub struct CallbackRow {
    pub id: String,
    pub platform: String,
    pub received_at: i64,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub delivered_at: Option<i64>,
    pub last_error: Option<String>,
}

/// A callback waiting for its worker.
#[derive(Debug, Clone)]
pub struct DueCallback {
    pub id: String,
    pub instance_id: String,
    pub body: String,
    pub attempts: i64,
}

impl Store {
    /// Keeps a verified callback; due at once.
    pub async fn queue_callback(
        &self,
        id: &str,
        instance_id: &str,
        platform: &str,
        body: &str,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO platform_callbacks (id, instance_id, platform, body, received_at, attempts, next_attempt_at) \
             VALUES ($1, $2, $3, $4, $5, 0, $5)",
        )
        .bind(id.to_string())
        .bind(instance_id.to_string())
        .bind(platform.to_string())
        .bind(body.to_string())
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Undelivered callbacks whose time has come, oldest first.
    pub async fn due_callbacks(
        &self,
        now: i64,
        limit: i64,
    ) -> Result<Vec<DueCallback>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, instance_id, body, attempts FROM platform_callbacks \
             WHERE delivered_at IS NULL AND next_attempt_at <= $1 ORDER BY received_at, id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DueCallback {
                    id: r.try_get("id")?,
                    instance_id: r.try_get("instance_id")?,
                    body: r.try_get("body")?,
                    attempts: r.try_get("attempts")?,
                })
            })
            .collect()
    }

    /// Records an attempt: delivered (`next` is `None`), or to try again at `next` after `error`.
    pub async fn callback_attempted(
        &self,
        id: &str,
        now: i64,
        outcome: Result<(), (&str, i64)>,
    ) -> Result<(), sqlx::Error> {
        let query = match outcome {
            Ok(()) => sqlx::query(
                "UPDATE platform_callbacks SET attempts = attempts + 1, delivered_at = $2, last_error = NULL \
                 WHERE id = $1",
            )
            .bind(id.to_string())
            .bind(now),
            Err((error, next)) => sqlx::query(
                "UPDATE platform_callbacks SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3 \
                 WHERE id = $1",
            )
            .bind(id.to_string())
            .bind(next)
            .bind(error.to_string()),
        };
        query.execute(self.pool()).await?;
        Ok(())
    }

    /// An instance's callbacks, newest first.
    pub async fn callbacks(
        &self,
        instance_id: &str,
        limit: i64,
    ) -> Result<Vec<CallbackRow>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, platform, received_at, attempts, next_attempt_at, delivered_at, last_error \
             FROM platform_callbacks WHERE instance_id = $1 ORDER BY received_at DESC, id LIMIT $2",
        )
        .bind(instance_id.to_string())
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(CallbackRow {
                    id: r.try_get("id")?,
                    platform: r.try_get("platform")?,
                    received_at: r.try_get("received_at")?,
                    attempts: r.try_get("attempts")?,
                    next_attempt_at: r.try_get("next_attempt_at")?,
                    delivered_at: r.try_get("delivered_at")?,
                    last_error: r.try_get("last_error")?,
                })
            })
            .collect()
    }

    /// Forgets delivered callbacks received before `before`.
    pub async fn prune_callbacks(&self, before: i64) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query(
            "DELETE FROM platform_callbacks WHERE delivered_at IS NOT NULL AND received_at < $1",
        )
        .bind(before)
        .execute(self.pool())
        .await?
        .rows_affected())
    }
}
