//! The `instances` table. Every write returns the row as stored, and updates are compare-and-swap on
//! `version`, so the cache is only ever fed rows the database actually holds.

use sqlx::{Row, any::AnyRow};

use super::Store;
use crate::domain::{AuthStatus, InstanceRecord, InstanceStatus};

/// Why an insert was refused.
#[derive(Debug, thiserror::Error)]
pub enum InsertError {
    #[error("port already taken")]
    PortTaken,
    #[error("bot token already used by another instance")]
    TokenTaken,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

const COLUMNS: &str = "id, user_id, provider, type_instance, display_name, token, token_sha256, \
    api_key_sha256, api_key_hint, api_key_created_at, control_key, port, agno_config, status, \
    status_reason, auth_status, account, bot_username, bot_id, container_id, health_ok, last_health_at, \
    health_check_count, consecutive_failures, sent_count, received_count, restart_count, error_count, \
    last_error, version, created_at, updated_at";

impl Store {
    pub async fn insert_instance(&self, r: &InstanceRecord) -> Result<InstanceRecord, InsertError> {
        let sql = format!(
            "INSERT INTO instances ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
             $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, \
             $32) RETURNING {COLUMNS}"
        );
        let query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(r.id.clone())
            .bind(r.user_id.clone())
            .bind(r.provider.clone())
            .bind(serde_json::to_string(&r.type_instance).unwrap_or_else(|_| "[]".into()))
            .bind(r.display_name.clone())
            .bind(r.token.clone())
            .bind(r.token_sha256.clone())
            .bind(r.api_key_sha256.clone())
            .bind(r.api_key_hint.clone())
            .bind(r.api_key_created_at)
            .bind(r.control_key.clone())
            .bind(i64::from(r.port));
        let query = bind_mutable(query, r);
        match query.fetch_one(self.pool()).await {
            Ok(row) => Ok(from_row(&row)?),
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                if db.message().contains("token") {
                    Err(InsertError::TokenTaken)
                } else {
                    Err(InsertError::PortTaken)
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Writes every mutable column of `r` if the stored row still has `r.version`; returns the new row,
    /// or `None` when the row changed meanwhile or is gone.
    pub async fn update_instance(
        &self,
        r: &InstanceRecord,
    ) -> Result<Option<InstanceRecord>, sqlx::Error> {
        let sql = format!(
            "UPDATE instances SET agno_config = $1, status = $2, status_reason = $3, auth_status = $4, \
             account = $5, bot_username = $6, bot_id = $7, container_id = $8, health_ok = $9, \
             last_health_at = $10, health_check_count = $11, consecutive_failures = $12, sent_count = $13, \
             received_count = $14, restart_count = $15, error_count = $16, last_error = $17, \
             version = $18, created_at = $19, updated_at = $20 \
             WHERE id = $21 AND version = $22 RETURNING {COLUMNS}"
        );
        let query = bind_mutable(sqlx::query(sqlx::AssertSqlSafe(sql)), r)
            .bind(r.id.clone())
            .bind(r.version - 1);
        let row = query.fetch_optional(self.pool()).await?;
        row.map(|row| from_row(&row)).transpose()
    }

    pub async fn get_instance(&self, id: &str) -> Result<Option<InstanceRecord>, sqlx::Error> {
        let sql = format!("SELECT {COLUMNS} FROM instances WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.map(|row| from_row(&row)).transpose()
    }

    pub async fn list_instances(&self) -> Result<Vec<InstanceRecord>, sqlx::Error> {
        let sql = format!("SELECT {COLUMNS} FROM instances ORDER BY created_at, id");
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

    /// Deletes the row; true when it existed.
    pub async fn delete_instance(&self, id: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM instances WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

/// Binds the columns from `agno_config` to `updated_at`, in `COLUMNS` order.
fn bind_mutable<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    r: &InstanceRecord,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    query
        .bind(r.agno_config.as_ref().map(|v| v.to_string()))
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
    let type_instance: String = row.try_get("type_instance")?;
    let agno_config: Option<String> = row.try_get("agno_config")?;
    Ok(InstanceRecord {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        provider: row.try_get("provider")?,
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
        agno_config: agno_config.and_then(|s| serde_json::from_str(&s).ok()),
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
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}
