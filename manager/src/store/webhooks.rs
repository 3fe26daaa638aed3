//! `webhooks` and `webhook_deliveries`: each instance's webhook configuration, and the outbox of
//! deliveries the dispatcher works through (pending → delivered, or dead after the last attempt).

use serde_json::Value;
use shared::{
    api::webhooks::DeliveryStatus,
    events::EventType,
    webhook::{WebhookConfigView, WebhookEnvelope, WebhookSetting, wants},
};
use sqlx::{AnyConnection, Row, any::AnyRow};

use super::{
    Store,
    sealing::{WEBHOOK_SECRET, WEBHOOK_URL},
};
use crate::seal::Sealer;

/// An instance's webhook, with its secret (never shown to users).
#[derive(Debug, Clone)]
pub struct WebhookRow {
    pub url: String,
    pub events: Vec<EventType>,
    pub secret: String,
    pub enabled: bool,
    pub updated_at: i64,
}

impl WebhookRow {
    pub fn view(&self) -> WebhookConfigView {
        WebhookConfigView {
            configured: true,
            url: Some(shared::secret::redact_url(&self.url)),
            events: self.events.clone(),
            enabled: self.enabled,
            has_secret: true,
            updated_at: Some(self.updated_at),
            secret: None,
        }
    }
}

/// A delivery due now, with where and how to send it.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub id: String,
    pub instance_id: String,
    pub event_type: String,
    pub payload: String,
    pub attempts: i64,
    pub url: String,
    pub secret: String,
}

/// A delivery as listed to users (no URL secrets, no signing secret).
#[derive(Debug, Clone)]
pub struct DeliveryRow {
    pub id: String,
    pub event_type: EventType,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub last_status: Option<i64>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
    /// `None` if the stored body does not read as an envelope.
    pub payload: Option<WebhookEnvelope>,
}

/// What a replay request found.
#[derive(Debug, PartialEq, Eq)]
pub enum Replay {
    Queued,
    NotFound,
    StillPending,
}

fn webhook_from_row(
    r: &AnyRow,
    sealer: &Sealer,
    instance_id: &str,
) -> Result<WebhookRow, sqlx::Error> {
    let events: String = r.try_get("events")?;
    let url: String = r.try_get("url")?;
    let secret: String = r.try_get("secret")?;
    Ok(WebhookRow {
        url: sealer.open(WEBHOOK_URL.place(instance_id), &url)?,
        events: parse_event_types(&events),
        secret: sealer.open(WEBHOOK_SECRET.place(instance_id), &secret)?,
        enabled: r.try_get::<i64, _>("enabled")? != 0,
        updated_at: r.try_get("updated_at")?,
    })
}

async fn get(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    instance_id: &str,
) -> Result<Option<WebhookRow>, sqlx::Error> {
    sqlx::query(
        "SELECT url, events, secret, enabled, updated_at FROM webhooks WHERE instance_id = $1",
    )
    .bind(instance_id.to_string())
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(|r| webhook_from_row(r, sealer, instance_id))
    .transpose()
}

/// Saves `setting` unless the stored configuration is newer (last writer wins). A setting without a
/// secret keeps the stored one, or gets `generate()`d. Returns the stored row and whether it changed.
pub(super) async fn put(
    conn: &mut AnyConnection,
    sealer: &Sealer,
    instance_id: &str,
    setting: &WebhookSetting,
    generate: impl FnOnce() -> String,
) -> Result<(WebhookRow, bool), sqlx::Error> {
    // Write first: a SQLite transaction that reads and then writes cannot wait for another writer (it
    // fails at once with "database is locked"), and on PostgreSQL this locks the row, so that two
    // writers cannot both pass the newer-wins check below.
    sqlx::query("UPDATE webhooks SET updated_at = updated_at WHERE instance_id = $1")
        .bind(instance_id.to_string())
        .execute(&mut *conn)
        .await?;
    let existing = get(conn, sealer, instance_id).await?;
    if let Some(row) = &existing
        && row.updated_at > setting.updated_at
    {
        return Ok((row.clone(), false));
    }
    let secret = setting
        .secret
        .clone()
        .or_else(|| existing.map(|r| r.secret))
        .unwrap_or_else(generate);
    let row = WebhookRow {
        url: setting.url.clone(),
        events: setting.events.clone(),
        secret,
        enabled: setting.enabled,
        updated_at: setting.updated_at,
    };
    sqlx::query(
        "INSERT INTO webhooks (instance_id, url, events, secret, enabled, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (instance_id) DO UPDATE SET url = excluded.url, events = excluded.events, \
         secret = excluded.secret, enabled = excluded.enabled, updated_at = excluded.updated_at",
    )
    .bind(instance_id.to_string())
    .bind(sealer.seal(WEBHOOK_URL.place(instance_id), &row.url))
    .bind(
        row.events
            .iter()
            .map(|e| e.as_str())
            .collect::<Vec<_>>()
            .join(","),
    )
    .bind(sealer.seal(WEBHOOK_SECRET.place(instance_id), &row.secret))
    .bind(i64::from(row.enabled))
    .bind(row.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok((row, true))
}

/// Queues `event` for the instance's webhook if it has one that wants this type. Called in the
/// transaction that stores the event; the event id keys the delivery, so a repeat is queued once.
pub(super) async fn enqueue(
    conn: &mut AnyConnection,
    instance_id: &str,
    event_id: &str,
    event_type: &str,
    at: i64,
    data: Value,
) -> Result<(), sqlx::Error> {
    let Some(event_type) = parse_event_type(event_type) else {
        tracing::warn!(
            event_type,
            "an event of an unknown type is not delivered to webhooks"
        );
        return Ok(());
    };
    // Whether the webhook wants it; its URL and secret are not needed (nor opened) here.
    let hook = sqlx::query("SELECT events, enabled FROM webhooks WHERE instance_id = $1")
        .bind(instance_id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    let Some(hook) = hook else {
        return Ok(());
    };
    let events: String = hook.try_get("events")?;
    if hook.try_get::<i64, _>("enabled")? == 0 || !wants(&parse_event_types(&events), event_type) {
        return Ok(());
    }
    let data = match data {
        Value::Object(map) => map,
        other => serde_json::Map::from_iter([("value".to_string(), other)]),
    };
    let payload = WebhookEnvelope {
        id: event_id.to_string(),
        event_type,
        instance_id: instance_id.to_string(),
        occurred_at: at,
        data,
    };
    let payload = serde_json::to_string(&payload).expect("an envelope serializes");
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, instance_id, event_type, payload, status, attempts, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5) ON CONFLICT (id) DO NOTHING",
    )
    .bind(event_id.to_string())
    .bind(instance_id.to_string())
    .bind(event_type.as_str())
    .bind(payload)
    .bind(crate::fleet::now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The stored comma-separated types. Only known types are ever stored; one this build does not know is
/// ignored.
fn parse_event_types(stored: &str) -> Vec<EventType> {
    stored.split(',').filter_map(parse_event_type).collect()
}

/// An event type by its exact wire name.
fn parse_event_type(name: &str) -> Option<EventType> {
    EventType::ALL.iter().copied().find(|t| t.as_str() == name)
}

fn delivery_from_row(r: &AnyRow) -> Result<DeliveryRow, sqlx::Error> {
    let payload: String = r.try_get("payload")?;
    let event_name: String = r.try_get("event_type")?;
    let status: String = r.try_get("status")?;
    let decode = |what: &str, value: &str| {
        sqlx::Error::Decode(format!("webhook delivery with {what} {value:?}").into())
    };
    Ok(DeliveryRow {
        id: r.try_get("id")?,
        event_type: parse_event_type(&event_name)
            .ok_or_else(|| decode("event type", &event_name))?,
        status: DeliveryStatus::parse(&status).ok_or_else(|| decode("status", &status))?,
        attempts: r.try_get("attempts")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        last_error: r.try_get("last_error")?,
        last_status: r.try_get("last_status")?,
        created_at: r.try_get("created_at")?,
        finished_at: r.try_get("finished_at")?,
        payload: serde_json::from_str(&payload).ok(),
    })
}

impl Store {
    /// Every instance's webhook version (`updated_at`), by instance id: one read a health round, so a
    /// worker that holds the current configuration costs no read of its webhook (nor opening its secret).
    pub async fn webhook_versions(
        &self,
    ) -> Result<std::collections::HashMap<String, i64>, sqlx::Error> {
        let rows = sqlx::query("SELECT instance_id, updated_at FROM webhooks")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("instance_id")?, r.try_get("updated_at")?)))
            .collect()
    }

    pub async fn webhook(&self, instance_id: &str) -> Result<Option<WebhookRow>, sqlx::Error> {
        let mut conn = self.pool().acquire().await?;
        get(&mut conn, self.sealer(), instance_id).await
    }

    /// See [`put`].
    pub async fn put_webhook(
        &self,
        instance_id: &str,
        setting: &WebhookSetting,
        generate: impl FnOnce() -> String,
    ) -> Result<(WebhookRow, bool), sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let saved = put(&mut tx, self.sealer(), instance_id, setting, generate).await?;
        tx.commit().await?;
        Ok(saved)
    }

    /// Removes the webhook and its undelivered deliveries; true when there was one.
    pub async fn delete_webhook(&self, instance_id: &str) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let gone = sqlx::query("DELETE FROM webhooks WHERE instance_id = $1")
            .bind(instance_id.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM webhook_deliveries WHERE instance_id = $1 AND status = 'pending'")
            .bind(instance_id.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(gone > 0)
    }

    /// Pending deliveries whose time has come, oldest first, with their (enabled) webhook.
    pub async fn due_deliveries(
        &self,
        now: i64,
        limit: i64,
    ) -> Result<Vec<DueDelivery>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT d.id, d.instance_id, d.event_type, d.payload, d.attempts, w.url, w.secret \
             FROM webhook_deliveries d JOIN webhooks w ON w.instance_id = d.instance_id \
             WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND w.enabled = 1 \
             ORDER BY d.next_attempt_at, d.created_at LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let instance_id: String = r.try_get("instance_id")?;
                let (url, secret): (String, String) = (r.try_get("url")?, r.try_get("secret")?);
                Ok(DueDelivery {
                    id: r.try_get("id")?,
                    url: self.sealer().open(WEBHOOK_URL.place(&instance_id), &url)?,
                    secret: self
                        .sealer()
                        .open(WEBHOOK_SECRET.place(&instance_id), &secret)?,
                    instance_id,
                    event_type: r.try_get("event_type")?,
                    payload: r.try_get("payload")?,
                    attempts: r.try_get("attempts")?,
                })
            })
            .collect()
    }

    /// Records an attempt: delivered, retried at `next_attempt_at`, or dead when that is `None`.
    pub async fn record_attempt(
        &self,
        id: &str,
        now: i64,
        outcome: Result<u16, (Option<u16>, String)>,
        next_attempt_at: Option<i64>,
    ) -> Result<(), sqlx::Error> {
        let (status, code, error, next, finished) = match outcome {
            Ok(code) => ("delivered", Some(code), None, now, Some(now)),
            Err((code, error)) => match next_attempt_at {
                Some(next) => ("pending", code, Some(error), next, None),
                None => ("dead", code, Some(error), now, Some(now)),
            },
        };
        sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, last_status = $2, \
             last_error = $3, next_attempt_at = $4, finished_at = $5 WHERE id = $6",
        )
        .bind(status)
        .bind(code.map(i64::from))
        .bind(error)
        .bind(next)
        .bind(finished)
        .bind(id.to_string())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// An instance's deliveries, newest first, optionally of one status.
    pub async fn deliveries(
        &self,
        instance_id: &str,
        status: Option<DeliveryStatus>,
        limit: i64,
    ) -> Result<Vec<DeliveryRow>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, event_type, status, attempts, next_attempt_at, last_error, last_status, created_at, \
             finished_at, payload FROM webhook_deliveries WHERE instance_id = $1 AND ($2 = '' OR status = $2) \
             ORDER BY created_at DESC, id DESC LIMIT $3",
        )
        .bind(instance_id.to_string())
        .bind(status.map_or("", DeliveryStatus::as_str))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(delivery_from_row).collect()
    }

    /// Queues a finished (dead or delivered) delivery again, with a fresh count of attempts.
    pub async fn replay_delivery(
        &self,
        instance_id: &str,
        id: &str,
    ) -> Result<Replay, sqlx::Error> {
        let updated = sqlx::query(
            "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1, finished_at = NULL \
             WHERE instance_id = $2 AND id = $3 AND status <> 'pending'",
        )
        .bind(crate::fleet::now_ms())
        .bind(instance_id.to_string())
        .bind(id.to_string())
        .execute(self.pool())
        .await?
        .rows_affected();
        if updated > 0 {
            return Ok(Replay::Queued);
        }
        let exists =
            sqlx::query("SELECT 1 FROM webhook_deliveries WHERE instance_id = $1 AND id = $2")
                .bind(instance_id.to_string())
                .bind(id.to_string())
                .fetch_optional(self.pool())
                .await?;
        Ok(if exists.is_some() {
            Replay::StillPending
        } else {
            Replay::NotFound
        })
    }

    /// Queues every dead delivery of the instance again; returns how many.
    pub async fn replay_dead(&self, instance_id: &str) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query(
            "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1, finished_at = NULL \
             WHERE instance_id = $2 AND status = 'dead'",
        )
        .bind(crate::fleet::now_ms())
        .bind(instance_id.to_string())
        .execute(self.pool())
        .await?
        .rows_affected())
    }

    /// Deliveries by status over the whole fleet, for metrics.
    pub async fn delivery_counts(&self) -> Result<Vec<(String, i64)>, sqlx::Error> {
        let rows =
            sqlx::query("SELECT status, COUNT(*) AS n FROM webhook_deliveries GROUP BY status")
                .fetch_all(self.pool())
                .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("status")?, r.try_get("n")?)))
            .collect()
    }
}
