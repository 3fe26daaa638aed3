//! The `instances` table. Every write returns the row as stored, and updates are compare-and-swap on
//! `version`, so the cache is only ever fed rows the database actually holds. An update also appends to
//! the history tables in the same transaction (see `history.rs`).

use std::sync::LazyLock;

use sqlx::{Row, any::AnyRow};

use super::{Store, events::Event, history};
use crate::domain::{AuthStatus, DesiredState, InstanceRecord, InstanceStatus};

/// Why an insert or update was refused.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("port already taken")]
    PortTaken,
    #[error("bot token already used by another instance")]
    TokenTaken,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Every column, in the order `bind_all` binds them; `id` first.
const COLUMNS: &[&str] = &[
    "id",
    "user_id",
    "provider",
    "type_instance",
    "display_name",
    "token",
    "token_sha256",
    "api_key_sha256",
    "api_key_hint",
    "api_key_created_at",
    "control_key",
    "port",
    "agno_config",
    "status",
    "status_reason",
    "auth_status",
    "account",
    "bot_username",
    "bot_id",
    "container_id",
    "health_ok",
    "last_health_at",
    "health_check_count",
    "consecutive_failures",
    "sent_count",
    "received_count",
    "restart_count",
    "error_count",
    "last_error",
    "desired_state",
    "applied_config_sha256",
    "running_since",
    "last_poll_at",
    "crash_count",
    "next_restart_at",
    "health_fail_count",
    "api_key_usage_count",
    "api_key_last_used_at",
    "memory_limit_mb",
    "cpu_millis",
    "seen_sent",
    "seen_received",
    "seen_key_uses",
    "placement",
    "revision",
    "restart_revision",
    "deleting",
    "observed_revision",
    "endpoint",
    "host_id",
    "version",
    "created_at",
    "updated_at",
];

static SELECT: LazyLock<String> = LazyLock::new(|| COLUMNS.join(", "));

static INSERT: LazyLock<String> = LazyLock::new(|| {
    let params: Vec<String> = (1..=COLUMNS.len()).map(|i| format!("${i}")).collect();
    format!(
        "INSERT INTO instances ({}) VALUES ({}) RETURNING {}",
        *SELECT,
        params.join(", "),
        *SELECT
    )
});

/// `UPDATE … SET <every column but id> WHERE id = $1 AND version = $n`.
static UPDATE: LazyLock<String> = LazyLock::new(|| {
    let sets: Vec<String> = COLUMNS
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, c)| format!("{c} = ${}", i + 1))
        .collect();
    format!(
        "UPDATE instances SET {} WHERE id = $1 AND version = ${} RETURNING {}",
        sets.join(", "),
        COLUMNS.len() + 1,
        *SELECT
    )
});

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

impl Store {
    pub async fn insert_instance(&self, r: &InstanceRecord) -> Result<InstanceRecord, WriteError> {
        let query = bind_all(sqlx::query(sqlx::AssertSqlSafe(INSERT.as_str())), r);
        match query.fetch_one(self.pool()).await {
            Ok(row) => Ok(from_row(&row)?),
            Err(e) => Err(classify(e)),
        }
    }

    /// Writes `next` if the stored row still has `previous.version` (the caller set
    /// `next.version = previous.version + 1`), and records what changed in the history tables, all in one
    /// transaction. `None` when the row changed meanwhile or is gone.
    pub async fn update_instance(
        &self,
        previous: &InstanceRecord,
        next: &InstanceRecord,
        source: &str,
    ) -> Result<Option<(InstanceRecord, Vec<Event>)>, WriteError> {
        let mut tx = self.pool().begin().await?;
        let query = bind_all(sqlx::query(sqlx::AssertSqlSafe(UPDATE.as_str())), next)
            .bind(previous.version);
        let row = match query.fetch_optional(&mut *tx).await {
            Ok(row) => row,
            Err(e) => return Err(classify(e)),
        };
        let Some(row) = row else { return Ok(None) };
        let saved = from_row(&row)?;
        let events = history::record_changes(&mut tx, previous, &saved, source).await?;
        tx.commit().await?;
        Ok(Some((saved, events)))
    }

    pub async fn get_instance(&self, id: &str) -> Result<Option<InstanceRecord>, sqlx::Error> {
        let sql = format!("SELECT {} FROM instances WHERE id = $1", *SELECT);
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.map(|row| from_row(&row)).transpose()
    }

    pub async fn list_instances(&self) -> Result<Vec<InstanceRecord>, sqlx::Error> {
        let sql = format!("SELECT {} FROM instances ORDER BY created_at, id", *SELECT);
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn used_ports(&self) -> Result<Vec<u16>, sqlx::Error> {
        let rows = sqlx::query("SELECT port FROM instances")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| r.try_get::<i64, _>("port").map(port_from_i64))
            .collect()
    }

    /// Id of the instance using the token with this digest, if any.
    pub async fn instance_with_token(
        &self,
        token_sha256: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        let row = sqlx::query("SELECT id FROM instances WHERE token_sha256 = $1")
            .bind(token_sha256)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| r.try_get::<String, _>("id")).transpose()
    }

    /// Deletes the row and its history; true when it existed.
    pub async fn delete_instance(&self, id: &str) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        history::delete_all(&mut tx, id).await?;
        let done = sqlx::query("DELETE FROM instances WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }
}

fn classify(e: sqlx::Error) -> WriteError {
    match e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            if db.message().contains("token") {
                WriteError::TokenTaken
            } else {
                WriteError::PortTaken
            }
        }
        e => WriteError::Database(e),
    }
}

/// Binds every column of `r` in `COLUMNS` order.
fn bind_all<'q>(query: AnyQuery<'q>, r: &InstanceRecord) -> AnyQuery<'q> {
    query
        .bind(r.id.clone())
        .bind(r.user_id.clone())
        .bind(r.provider.as_str())
        .bind(serde_json::to_string(&r.type_instance).unwrap_or_else(|_| "[]".into()))
        .bind(r.display_name.clone())
        .bind(r.token.clone())
        .bind(r.token_sha256.clone())
        .bind(r.api_key_sha256.clone())
        .bind(r.api_key_hint.clone())
        .bind(r.api_key_created_at)
        .bind(r.control_key.clone())
        .bind(i64::from(r.port))
        .bind(
            r.agno_config
                .as_ref()
                .and_then(|c| serde_json::to_string(c).ok()),
        )
        .bind(r.status.as_str())
        .bind(r.status_reason.clone())
        .bind(r.auth_status.as_str())
        .bind(r.account.clone())
        .bind(r.bot_username.clone())
        .bind(r.bot_id)
        .bind(r.container_id.clone())
        .bind(i64::from(r.health_ok))
        .bind(r.last_health_at)
        .bind(r.health_check_count)
        .bind(r.consecutive_failures)
        .bind(r.sent_count)
        .bind(r.received_count)
        .bind(r.restart_count)
        .bind(r.error_count)
        .bind(r.last_error.clone())
        .bind(r.desired_state.as_str())
        .bind(r.applied_config_sha256.clone())
        .bind(r.running_since)
        .bind(r.last_poll_at)
        .bind(r.crash_count)
        .bind(r.next_restart_at)
        .bind(r.health_fail_count)
        .bind(r.api_key_usage_count)
        .bind(r.api_key_last_used_at)
        .bind(r.memory_limit_mb)
        .bind(r.cpu_millis)
        .bind(r.seen_sent)
        .bind(r.seen_received)
        .bind(r.seen_key_uses)
        .bind(serde_json::to_string(&r.placement).unwrap_or_else(|_| "[]".into()))
        .bind(r.revision)
        .bind(r.restart_revision)
        .bind(i64::from(r.deleting))
        .bind(r.observed_revision)
        .bind(r.endpoint.clone())
        .bind(r.host_id.clone())
        .bind(r.version)
        .bind(r.created_at)
        .bind(r.updated_at)
}

fn port_from_i64(p: i64) -> u16 {
    u16::try_from(p).unwrap_or(0)
}

fn decode_error(column: &str, value: &str) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_string(),
        source: format!("unexpected value '{value}'").into(),
    }
}

fn from_row(row: &AnyRow) -> Result<InstanceRecord, sqlx::Error> {
    let status: String = row.try_get("status")?;
    let auth_status: String = row.try_get("auth_status")?;
    let desired: String = row.try_get("desired_state")?;
    let type_instance: String = row.try_get("type_instance")?;
    let agno_config: Option<String> = row.try_get("agno_config")?;
    let provider: String = row.try_get("provider")?;
    let placement: String = row.try_get("placement")?;
    Ok(InstanceRecord {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        provider: shared::Provider::parse(&provider)
            .ok_or_else(|| decode_error("provider", &provider))?,
        type_instance: serde_json::from_str(&type_instance)
            .map_err(|_| decode_error("type_instance", &type_instance))?,
        display_name: row.try_get("display_name")?,
        token: row.try_get("token")?,
        token_sha256: row.try_get("token_sha256")?,
        api_key_sha256: row.try_get("api_key_sha256")?,
        api_key_hint: row.try_get("api_key_hint")?,
        api_key_created_at: row.try_get("api_key_created_at")?,
        control_key: row.try_get("control_key")?,
        port: port_from_i64(row.try_get("port")?),
        agno_config: agno_config
            // The value is not quoted in the error: it may hold the agent key.
            .map(|s| {
                serde_json::from_str(&s).map_err(|_| decode_error("agno_config", "(unreadable)"))
            })
            .transpose()?,
        status: InstanceStatus::parse(&status).ok_or_else(|| decode_error("status", &status))?,
        status_reason: row.try_get("status_reason")?,
        auth_status: AuthStatus::parse(&auth_status)
            .ok_or_else(|| decode_error("auth_status", &auth_status))?,
        account: row.try_get("account")?,
        bot_username: row.try_get("bot_username")?,
        bot_id: row.try_get("bot_id")?,
        container_id: row.try_get("container_id")?,
        health_ok: row.try_get::<i64, _>("health_ok")? != 0,
        last_health_at: row.try_get("last_health_at")?,
        health_check_count: row.try_get("health_check_count")?,
        consecutive_failures: row.try_get("consecutive_failures")?,
        sent_count: row.try_get("sent_count")?,
        received_count: row.try_get("received_count")?,
        restart_count: row.try_get("restart_count")?,
        error_count: row.try_get("error_count")?,
        last_error: row.try_get("last_error")?,
        desired_state: DesiredState::parse(&desired)
            .ok_or_else(|| decode_error("desired_state", &desired))?,
        applied_config_sha256: row.try_get("applied_config_sha256")?,
        running_since: row.try_get("running_since")?,
        last_poll_at: row.try_get("last_poll_at")?,
        crash_count: row.try_get("crash_count")?,
        next_restart_at: row.try_get("next_restart_at")?,
        health_fail_count: row.try_get("health_fail_count")?,
        api_key_usage_count: row.try_get("api_key_usage_count")?,
        api_key_last_used_at: row.try_get("api_key_last_used_at")?,
        memory_limit_mb: row.try_get("memory_limit_mb")?,
        cpu_millis: row.try_get("cpu_millis")?,
        seen_sent: row.try_get("seen_sent")?,
        seen_received: row.try_get("seen_received")?,
        seen_key_uses: row.try_get("seen_key_uses")?,
        placement: serde_json::from_str(&placement)
            .map_err(|_| decode_error("placement", &placement))?,
        revision: row.try_get("revision")?,
        restart_revision: row.try_get("restart_revision")?,
        deleting: row.try_get::<i64, _>("deleting")? != 0,
        observed_revision: row.try_get("observed_revision")?,
        endpoint: row.try_get("endpoint")?,
        host_id: row.try_get("host_id")?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}
