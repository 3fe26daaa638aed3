//! `alert_thresholds` and `alerts`.

use serde::Serialize;
use sqlx::{Row, any::AnyRow};

use super::{Store, sealing::ALERT_HOOK_URL};
use crate::seal::Sealer;

#[derive(Debug, Clone, Serialize)]
pub struct Threshold {
    pub id: String,
    /// `host` or `instance`.
    pub scope: String,
    /// With scope `instance`: one instance, or `None` for every instance.
    pub instance_id: Option<String>,
    pub metric_type: String,
    /// `gt`, `gte`, `lt`, `lte`.
    pub comparison: String,
    pub threshold_value: f64,
    pub enabled: bool,
    pub webhook_url: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    pub id: String,
    pub threshold_id: String,
    /// `host` or an instance id.
    pub target: String,
    pub metric_type: String,
    pub value: f64,
    pub threshold_value: f64,
    /// `active` or `resolved`.
    pub status: String,
    pub message: String,
    pub fired_at: i64,
    pub resolved_at: Option<i64>,
}

fn threshold(r: &AnyRow, sealer: &Sealer) -> Result<Threshold, sqlx::Error> {
    let id: String = r.try_get("id")?;
    let webhook_url: Option<String> = r.try_get("webhook_url")?;
    Ok(Threshold {
        webhook_url: sealer.open_opt(ALERT_HOOK_URL.place(&id), webhook_url.as_deref())?,
        id,
        scope: r.try_get("scope")?,
        instance_id: r.try_get("instance_id")?,
        metric_type: r.try_get("metric_type")?,
        comparison: r.try_get("comparison")?,
        threshold_value: r.try_get("threshold_value")?,
        enabled: r.try_get::<i64, _>("enabled")? != 0,
        created_at: r.try_get("created_at")?,
    })
}

fn alert(r: &AnyRow) -> Result<Alert, sqlx::Error> {
    Ok(Alert {
        id: r.try_get("id")?,
        threshold_id: r.try_get("threshold_id")?,
        target: r.try_get("target")?,
        metric_type: r.try_get("metric_type")?,
        value: r.try_get("value")?,
        threshold_value: r.try_get("threshold_value")?,
        status: r.try_get("status")?,
        message: r.try_get("message")?,
        fired_at: r.try_get("fired_at")?,
        resolved_at: r.try_get("resolved_at")?,
    })
}

const ALERT_COLUMNS: &str = "id, threshold_id, target, metric_type, value, threshold_value, status, message, fired_at, resolved_at";

impl Store {
    pub async fn insert_threshold(&self, t: &Threshold) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO alert_thresholds (id, scope, instance_id, metric_type, comparison, threshold_value, \
             enabled, webhook_url, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(t.id.clone())
        .bind(t.scope.clone())
        .bind(t.instance_id.clone())
        .bind(t.metric_type.clone())
        .bind(t.comparison.clone())
        .bind(t.threshold_value)
        .bind(i64::from(t.enabled))
        .bind(
            self.sealer()
                .seal_opt(ALERT_HOOK_URL.place(&t.id), t.webhook_url.as_deref()),
        )
        .bind(t.created_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn thresholds(&self) -> Result<Vec<Threshold>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, scope, instance_id, metric_type, comparison, threshold_value, enabled, webhook_url, \
             created_at FROM alert_thresholds ORDER BY created_at, id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| threshold(r, self.sealer())).collect()
    }

    /// The newest alerts, in `status` (any when `None`), about the given targets (`None`: any; a target
    /// is `host` or an instance id).
    pub async fn alerts(
        &self,
        status: Option<&str>,
        targets: Option<&[String]>,
        limit: i64,
    ) -> Result<Vec<Alert>, sqlx::Error> {
        if targets.is_some_and(|t| t.is_empty()) {
            return Ok(Vec::new());
        }
        let mut sql = format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE 1 = 1");
        let mut n = 0;
        if status.is_some() {
            n += 1;
            sql.push_str(&format!(" AND status = ${n}"));
        }
        if let Some(targets) = targets {
            let params: Vec<String> = targets
                .iter()
                .map(|_| {
                    n += 1;
                    format!("${n}")
                })
                .collect();
            sql.push_str(&format!(" AND target IN ({})", params.join(", ")));
        }
        sql.push_str(&format!(" ORDER BY fired_at DESC, id LIMIT ${}", n + 1));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        if let Some(s) = status {
            query = query.bind(s.to_string());
        }
        for t in targets.unwrap_or_default() {
            query = query.bind(t.clone());
        }
        let rows = query.bind(limit).fetch_all(self.pool()).await?;
        rows.iter().map(alert).collect()
    }

    pub async fn insert_alert(&self, a: &Alert) -> Result<(), sqlx::Error> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO alerts ({ALERT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        )))
        .bind(a.id.clone())
        .bind(a.threshold_id.clone())
        .bind(a.target.clone())
        .bind(a.metric_type.clone())
        .bind(a.value)
        .bind(a.threshold_value)
        .bind(a.status.clone())
        .bind(a.message.clone())
        .bind(a.fired_at)
        .bind(a.resolved_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Deletes threshold `id` and resolves (at `at`) the alerts it raised that are still active, in one
    /// transaction; the number resolved, or `None` when there is no such threshold.
    pub async fn delete_threshold(&self, id: &str, at: i64) -> Result<Option<u64>, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let resolved = sqlx::query(
            "UPDATE alerts SET status = 'resolved', resolved_at = $1 WHERE threshold_id = $2 \
             AND status = 'active'",
        )
        .bind(at)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let deleted = sqlx::query("DELETE FROM alert_thresholds WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        tx.commit().await?;
        Ok(Some(resolved))
    }

    /// Marks an active alert resolved; `None` when there is no such active alert.
    pub async fn resolve_alert(&self, id: &str, at: i64) -> Result<Option<Alert>, sqlx::Error> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE alerts SET status = 'resolved', resolved_at = $1 WHERE id = $2 AND status = 'active' \
             RETURNING {ALERT_COLUMNS}"
        )))
        .bind(at)
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(alert).transpose()
    }

    pub async fn alert(&self, id: &str) -> Result<Option<Alert>, sqlx::Error> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(alert).transpose()
    }
}
