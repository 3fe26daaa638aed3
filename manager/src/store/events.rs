//! The `events` table: the operational event log (instance created, started, stopped, crashed,
//! restarted, failed, adopted, recreated, degraded, config changed, key rotated, deleted). Events are
//! derived from each instance write, in its transaction, and outlive the instance.

use serde::Serialize;
use sqlx::{AnyConnection, Row};

use super::Store;
use crate::domain::{InstanceRecord, InstanceStatus};

/// Every event type, for validating filters.
pub use shared::webhook::INSTANCE_EVENT_TYPES as EVENT_TYPES;

/// One entry of the event log.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub id: String,
    pub at: i64,
    pub event_type: String,
    pub instance_id: Option<String>,
    pub message: String,
}

impl Event {
    fn new(r: &InstanceRecord, event_type: &str, message: String) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            at: r.updated_at,
            event_type: event_type.to_string(),
            instance_id: Some(r.id.clone()),
            message,
        }
    }
}

/// The events one write produced.
pub fn derive(before: Option<&InstanceRecord>, after: &InstanceRecord) -> Vec<Event> {
    let reason = after.status_reason.clone().unwrap_or_default();
    let Some(before) = before else {
        return vec![Event::new(
            after,
            "instance.created",
            format!("instance created on port {}", after.port),
        )];
    };
    let mut events = Vec::new();
    if before.status != after.status {
        use InstanceStatus::*;
        let kind = match after.status {
            Running => Some("instance.started"),
            Stopped => Some("instance.stopped"),
            Failed => Some("instance.failed"),
            Degraded => Some("instance.degraded"),
            Deleting => Some("instance.deleted"),
            Restarting if after.crash_count > before.crash_count => Some("instance.crashed"),
            Starting if reason.contains("adopted") => Some("instance.adopted"),
            Starting if reason.contains("recreated") => Some("instance.recreated"),
            Starting if before.status == Restarting => Some("instance.restarted"),
            _ => None,
        };
        if let Some(kind) = kind {
            events.push(Event::new(after, kind, reason.clone()));
        }
    }
    let config_changed = before.token_sha256 != after.token_sha256
        || before.agno_config != after.agno_config
        || before.memory_limit_mb != after.memory_limit_mb
        || before.cpu_millis != after.cpu_millis;
    if config_changed {
        // Names the fields, never their values: the token must not reach the log.
        let mut fields = Vec::new();
        if before.token_sha256 != after.token_sha256 {
            fields.push("token");
        }
        if before.agno_config != after.agno_config {
            fields.push("agno_config");
        }
        if before.memory_limit_mb != after.memory_limit_mb {
            fields.push("memory_limit_mb");
        }
        if before.cpu_millis != after.cpu_millis {
            fields.push("cpu_limit");
        }
        events.push(Event::new(
            after,
            "instance.config_changed",
            format!("changed: {}", fields.join(", ")),
        ));
    }
    if before.paused != after.paused {
        events.push(if after.paused {
            Event::new(after, "instance.paused", "the bot was paused".into())
        } else {
            Event::new(after, "instance.activated", "the bot was activated".into())
        });
    }
    if before.api_key_sha256 != after.api_key_sha256 {
        events.push(Event::new(
            after,
            "instance.key_rotated",
            "a new API key was issued".into(),
        ));
    }
    events
}

pub(super) async fn insert(conn: &mut AnyConnection, events: &[Event]) -> Result<(), sqlx::Error> {
    for e in events {
        insert_once(conn, e).await?;
    }
    Ok(())
}

/// Inserts an event (one a worker sent may arrive more than once: its id keys it) and queues it for the
/// instance's webhook; true when it was new.
pub(super) async fn insert_once(conn: &mut AnyConnection, e: &Event) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO events (id, at, event_type, instance_id, message) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(e.id.clone())
    .bind(e.at)
    .bind(e.event_type.clone())
    .bind(e.instance_id.clone())
    .bind(e.message.clone())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(false);
    }
    if let Some(instance_id) = &e.instance_id {
        let data = serde_json::json!({ "message": e.message });
        super::webhooks::enqueue(conn, instance_id, &e.id, &e.event_type, e.at, data).await?;
    }
    Ok(true)
}

impl Store {
    /// Newest first, optionally for one instance and some types.
    /// The newest events, of the given types (all when empty), about the given instances (`None`: any,
    /// and events about no instance).
    pub async fn events(
        &self,
        instance_ids: Option<&[String]>,
        types: &[String],
        limit: i64,
    ) -> Result<Vec<Event>, sqlx::Error> {
        if instance_ids.is_some_and(|ids| ids.is_empty()) {
            return Ok(Vec::new());
        }
        let mut sql =
            String::from("SELECT id, at, event_type, instance_id, message FROM events WHERE 1 = 1");
        let mut n = 0;
        if let Some(ids) = instance_ids {
            let params: Vec<String> = ids
                .iter()
                .map(|_| {
                    n += 1;
                    format!("${n}")
                })
                .collect();
            sql.push_str(&format!(" AND instance_id IN ({})", params.join(", ")));
        }
        if !types.is_empty() {
            let params: Vec<String> = types
                .iter()
                .map(|_| {
                    n += 1;
                    format!("${n}")
                })
                .collect();
            sql.push_str(&format!(" AND event_type IN ({})", params.join(", ")));
        }
        sql.push_str(&format!(" ORDER BY at DESC, id DESC LIMIT ${}", n + 1));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in instance_ids.unwrap_or_default() {
            query = query.bind(id.clone());
        }
        for t in types {
            query = query.bind(t.clone());
        }
        let rows = query.bind(limit).fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                Ok(Event {
                    id: r.try_get("id")?,
                    at: r.try_get("at")?,
                    event_type: r.try_get("event_type")?,
                    instance_id: r.try_get("instance_id")?,
                    message: r.try_get("message")?,
                })
            })
            .collect()
    }
}
