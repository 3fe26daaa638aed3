//! The `settings_history` table: every change of an instance's configuration, key by key (seed 001's
//! settings history), written in the same transaction as the change itself by `record_changes`. A
//! secret is recorded as changed, never with its values.

use serde_json::{Map, Value};
use sqlx::{AnyConnection, Row};

use super::Store;
use crate::domain::InstanceRecord;

/// Who made a change, and whether it undid an earlier one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribution {
    /// The principal's actor (`user:…`, `key:…`, `bootstrap`).
    pub actor: String,
    /// Set when the change is the rollback of a history row.
    pub rollback: bool,
}

/// One changed key.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingChange {
    pub scope: &'static str,
    pub key: String,
    pub old_value: Option<Value>,
    pub new_value: Option<Value>,
    pub secret: bool,
}

/// A stored history row.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRow {
    pub id: String,
    pub change: SettingChange,
    pub changed_by: String,
    pub changed_at: i64,
    pub change_type: String,
}

/// Keys of the bot configuration whose values are secret.
const SECRET_BOT_KEYS: &[&str] = &["llm_api_key"];

use shared::api::settings::SETTINGS_SCOPES as SCOPES;

/// What changed between two versions of an instance's configuration, key by key (none for a change of
/// status or counters only).
pub fn diff(before: &InstanceRecord, after: &InstanceRecord) -> Vec<SettingChange> {
    let mut changes = Vec::new();
    let fields = |r: &InstanceRecord| -> Map<String, Value> {
        match r.agno_config.as_ref().map(serde_json::to_value) {
            Some(Ok(Value::Object(map))) => map,
            _ => Map::new(),
        }
    };
    let (old, new) = (fields(before), fields(after));
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let (o, n) = (old.get(key), new.get(key));
        if o != n {
            let secret = SECRET_BOT_KEYS.contains(&key.as_str());
            changes.push(SettingChange {
                scope: "bot",
                key: key.clone(),
                old_value: if secret { None } else { o.cloned() },
                new_value: if secret { None } else { n.cloned() },
                secret,
            });
        }
    }
    if before.paused != after.paused {
        changes.push(plain("bot", "paused", before.paused, after.paused));
    }
    if before.memory_limit_mb != after.memory_limit_mb {
        changes.push(plain(
            "limits",
            "memory_limit_mb",
            before.memory_limit_mb,
            after.memory_limit_mb,
        ));
    }
    if before.cpu_millis != after.cpu_millis {
        let cpus = |m: Option<i64>| m.map(|m| m as f64 / 1000.0);
        changes.push(plain(
            "limits",
            "cpu_limit",
            cpus(before.cpu_millis),
            cpus(after.cpu_millis),
        ));
    }
    if before.token_sha256 != after.token_sha256 {
        changes.push(SettingChange {
            scope: "credentials",
            key: "credentials".into(),
            old_value: None,
            new_value: None,
            secret: true,
        });
    }
    changes
}

fn plain<T: serde::Serialize>(scope: &'static str, key: &str, old: T, new: T) -> SettingChange {
    let value = |v: T| serde_json::to_value(v).ok().filter(|v| !v.is_null());
    SettingChange {
        scope,
        key: key.into(),
        old_value: value(old),
        new_value: value(new),
        secret: false,
    }
}

fn change_type(c: &SettingChange, attribution: Option<&Attribution>) -> &'static str {
    if attribution.is_some_and(|a| a.rollback) {
        "rollback"
    } else if c.secret {
        "updated"
    } else {
        match (&c.old_value, &c.new_value) {
            (None, Some(_)) => "created",
            (Some(_), None) => "cleared",
            _ => "updated",
        }
    }
}

/// Writes the history rows of a change (inside its transaction).
pub(super) async fn record(
    conn: &mut AnyConnection,
    before: &InstanceRecord,
    after: &InstanceRecord,
    source: &str,
    attribution: Option<&Attribution>,
) -> Result<(), sqlx::Error> {
    let text = |v: &Option<Value>| v.as_ref().map(Value::to_string);
    for (seq, c) in diff(before, after).iter().enumerate() {
        sqlx::query(
            "INSERT INTO settings_history (id, instance_id, scope, key, old_value, new_value, secret, \
             changed_by, changed_at, change_type, seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(format!("sh_{}", uuid::Uuid::new_v4().simple()))
        .bind(after.id.clone())
        .bind(c.scope)
        .bind(c.key.clone())
        .bind(text(&c.old_value))
        .bind(text(&c.new_value))
        .bind(i64::from(c.secret))
        .bind(
            attribution
                .map(|a| a.actor.clone())
                .unwrap_or_else(|| source.to_string()),
        )
        .bind(after.updated_at)
        .bind(change_type(c, attribution))
        .bind(seq as i64)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

fn from_row(row: &sqlx::any::AnyRow) -> Result<HistoryRow, sqlx::Error> {
    let json = |column: &str| -> Result<Option<Value>, sqlx::Error> {
        Ok(row
            .try_get::<Option<String>, _>(column)?
            .and_then(|t| serde_json::from_str(&t).ok()))
    };
    let scope: String = row.try_get("scope")?;
    Ok(HistoryRow {
        id: row.try_get("id")?,
        change: SettingChange {
            scope: SCOPES
                .iter()
                .find(|s| **s == scope)
                .copied()
                .unwrap_or("bot"),
            key: row.try_get("key")?,
            old_value: json("old_value")?,
            new_value: json("new_value")?,
            secret: row.try_get::<i64, _>("secret")? != 0,
        },
        changed_by: row.try_get("changed_by")?,
        changed_at: row.try_get("changed_at")?,
        change_type: row.try_get("change_type")?,
    })
}

const COLUMNS: &str =
    "id, scope, key, old_value, new_value, secret, changed_by, changed_at, change_type";

impl Store {
    /// The instance's history, newest first, optionally of one scope and key.
    pub async fn settings_history(
        &self,
        instance_id: &str,
        scope: Option<&str>,
        key: Option<&str>,
        limit: i64,
    ) -> Result<Vec<HistoryRow>, sqlx::Error> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM settings_history WHERE instance_id = $1 \
             AND ($2 IS NULL OR scope = $2) AND ($3 IS NULL OR key = $3) \
             ORDER BY changed_at DESC, seq DESC LIMIT $4"
        )))
        .bind(instance_id.to_string())
        .bind(scope.map(str::to_string))
        .bind(key.map(str::to_string))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// One history row of the instance.
    pub async fn settings_history_row(
        &self,
        instance_id: &str,
        id: &str,
    ) -> Result<Option<HistoryRow>, sqlx::Error> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM settings_history WHERE instance_id = $1 AND id = $2"
        )))
        .bind(instance_id.to_string())
        .bind(id.to_string())
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::health::tests::record;

    #[test]
    fn changes_are_found_key_by_key_and_secrets_lose_their_values() {
        let before = record(crate::domain::InstanceStatus::Running);
        let mut after = before.clone();
        after.agno_config = Some(shared::agent::BotConfig {
            system_prompt: Some("new".into()),
            llm_api_key: Some("sk-secret".into()),
            ..before.agno_config.clone().unwrap_or_default()
        });
        after.paused = true;
        after.memory_limit_mb = Some(256);
        let changes = diff(&before, &after);
        let keys: Vec<&str> = changes.iter().map(|c| c.key.as_str()).collect();
        assert!(
            keys.contains(&"system_prompt") && keys.contains(&"llm_api_key"),
            "{keys:?}"
        );
        assert!(
            keys.contains(&"paused") && keys.contains(&"memory_limit_mb"),
            "{keys:?}"
        );
        let key = changes.iter().find(|c| c.key == "llm_api_key").unwrap();
        assert!(key.secret && key.old_value.is_none() && key.new_value.is_none());
        assert!(!format!("{changes:?}").contains("sk-secret"));
        let prompt = changes.iter().find(|c| c.key == "system_prompt").unwrap();
        assert_eq!(prompt.new_value, Some(Value::from("new")));
        assert_eq!(change_type(prompt, None), "created");
        assert!(diff(&before, &before).is_empty());
    }
}
