//! The instance tables: the spec (`instances`), the status (`instance_status`) and the counters
//! (`instance_counters`), read back joined into one `InstanceRecord`. Spec and status are written
//! compare-and-swap on their own `version`, in one transaction with the history rows the change makes
//! (see `history.rs`), and only the parts that changed; counters are written in batches by `flush_counters`.

use std::sync::LazyLock;

use sqlx::{AnyConnection, Row, any::AnyRow};

use super::{
    Store,
    events::Event,
    history,
    peers::Change,
    sealing::{INSTANCE_AGENT_CONFIG, INSTANCE_CONTROL_KEY, INSTANCE_TOKEN},
};
use crate::{
    domain::{AuthStatus, DesiredState, InstanceRecord, InstanceStatus, Parts},
    seal::Sealer,
};

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

/// One of the three tables an instance is stored in: its columns in bind order, the key first and
/// `version`, `updated_at` last.
struct Table {
    name: &'static str,
    key: &'static str,
    /// Columns between the key and `version`.
    columns: &'static [&'static str],
}

impl Table {
    fn all_columns(&self) -> Vec<&'static str> {
        let mut all = vec![self.key];
        all.extend_from_slice(self.columns);
        all.extend(["version", "updated_at"]);
        all
    }

    fn insert_sql(&self) -> String {
        let columns = self.all_columns();
        let params: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
        format!(
            "INSERT INTO {} ({}) VALUES ({})",
            self.name,
            columns.join(", "),
            params.join(", ")
        )
    }

    /// `UPDATE … SET <every column but the key> WHERE key = $1 AND version <guard> $n`: with `=`, a
    /// compare-and-swap on the version the writer read (bound last); with `<`, a write that only moves
    /// forward (`$n` is the new version).
    fn update_sql(&self, guard: &str) -> String {
        let columns = self.all_columns();
        let sets: Vec<String> = columns
            .iter()
            .enumerate()
            .skip(1)
            .map(|(i, c)| format!("{c} = ${}", i + 1))
            .collect();
        let version_param = if guard == "=" {
            columns.len() + 1
        } else {
            columns.len() - 1
        };
        format!(
            "UPDATE {} SET {} WHERE {} = $1 AND version {guard} ${version_param}",
            self.name,
            sets.join(", "),
            self.key,
        )
    }

    /// `alias.column` for each column, the version and update time renamed after the table.
    fn select_list(&self, alias: &str, part: &str) -> String {
        let mut list: Vec<String> = self
            .columns
            .iter()
            .map(|c| format!("{alias}.{c}"))
            .collect();
        list.push(format!("{alias}.version AS {part}_version"));
        list.push(format!("{alias}.updated_at AS {part}_updated_at"));
        list.join(", ")
    }
}

const SPEC: Table = Table {
    name: "instances",
    key: "id",
    columns: &[
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
        "desired_state",
        "memory_limit_mb",
        "cpu_millis",
        "placement",
        "receive",
        "revision",
        "restart_revision",
        "deleting",
        "created_at",
        "paused",
        "config_revision",
        "mcp_port",
        "labels",
    ],
};

const STATUS: Table = Table {
    name: "instance_status",
    key: "instance_id",
    columns: &[
        "status",
        "status_reason",
        "auth_status",
        "account",
        "bot_username",
        "bot_user_id",
        "container_id",
        "health_ok",
        "consecutive_failures",
        "restart_count",
        "error_count",
        "last_error",
        "applied_config_sha256",
        "running_since",
        "crash_count",
        "next_restart_at",
        "observed_revision",
        "endpoint",
        "host_id",
        "applied_config_revision",
    ],
};

const COUNTERS: Table = Table {
    name: "instance_counters",
    key: "instance_id",
    columns: &[
        "health_check_count",
        "last_health_at",
        "health_fail_count",
        "sent_count",
        "received_count",
        "api_key_usage_count",
        "api_key_last_used_at",
        "last_poll_at",
        "seen_sent",
        "seen_received",
        "seen_key_uses",
    ],
};

/// The three tables joined into one row per instance.
static SELECT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT i.id, {}, {}, {} FROM instances i \
         JOIN instance_status s ON s.instance_id = i.id \
         JOIN instance_counters c ON c.instance_id = i.id",
        SPEC.select_list("i", "spec"),
        STATUS.select_list("s", "status"),
        COUNTERS.select_list("c", "counters"),
    )
});

static INSERT_SPEC: LazyLock<String> = LazyLock::new(|| SPEC.insert_sql());
static INSERT_STATUS: LazyLock<String> = LazyLock::new(|| STATUS.insert_sql());
static INSERT_COUNTERS: LazyLock<String> = LazyLock::new(|| COUNTERS.insert_sql());
static UPDATE_SPEC: LazyLock<String> = LazyLock::new(|| SPEC.update_sql("="));
static UPDATE_STATUS: LazyLock<String> = LazyLock::new(|| STATUS.update_sql("="));
static FLUSH_COUNTERS: LazyLock<String> = LazyLock::new(|| COUNTERS.update_sql("<"));

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

fn query(sql: &'static LazyLock<String>) -> AnyQuery<'static> {
    sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
}

/// The counters of one instance to store, with the messages counted per UTC day since the last flush.
#[derive(Debug, Clone)]
pub struct CounterFlush {
    pub record: std::sync::Arc<InstanceRecord>,
    /// `(day, sent, received)`.
    pub daily: Vec<(String, i64, i64)>,
}

impl Store {
    /// Writes a new instance (its three rows, in one transaction) and returns it as stored.
    pub async fn insert_instance(&self, r: &InstanceRecord) -> Result<InstanceRecord, WriteError> {
        let mut tx = self.pool().begin().await?;
        bind_spec(query(&INSERT_SPEC), r, self.sealer())
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        lease_ports(&mut tx, r).await?;
        bind_status(query(&INSERT_STATUS), r)
            .execute(&mut *tx)
            .await?;
        bind_counters(query(&INSERT_COUNTERS), r)
            .execute(&mut *tx)
            .await?;
        self.announce_in(&mut tx, &Change::Instance(r.id.clone()))
            .await?;
        tx.commit().await?;
        note_write("instance_insert");
        Ok(r.clone())
    }

    /// Writes the `parts` of `next` that changed since `previous` (spec and/or status; the caller set
    /// their versions to `previous`'s plus one), each only if its stored version is still `previous`'s,
    /// and records what changed in the history tables, all in one transaction. `None` when a part changed
    /// meanwhile or the instance is gone. Counters are not written here: see `flush_counters`.
    pub async fn update_instance(
        &self,
        previous: &InstanceRecord,
        next: &InstanceRecord,
        parts: Parts,
        source: &str,
        attribution: Option<&super::settings_history::Attribution>,
    ) -> Result<Option<Vec<Event>>, WriteError> {
        let mut tx = self.pool().begin().await?;
        if parts.spec {
            let done = bind_spec(query(&UPDATE_SPEC), next, self.sealer())
                .bind(previous.spec_version)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
            if done.rows_affected() == 0 {
                return Ok(None);
            }
            if (previous.port, previous.mcp_port) != (next.port, next.mcp_port) {
                release_ports(&mut tx, &next.id).await?;
                lease_ports(&mut tx, next).await?;
            }
        }
        if parts.status {
            let done = bind_status(query(&UPDATE_STATUS), next)
                .bind(previous.status_version)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Ok(None);
            }
        }
        let events = history::record_changes(&mut tx, previous, next, source, attribution).await?;
        self.announce_in(&mut tx, &Change::Instance(next.id.clone()))
            .await?;
        tx.commit().await?;
        note_write("instance_update");
        Ok(Some(events))
    }

    /// Stores the counters of every instance in `batch`, and adds their messages to the per-day counts,
    /// in one transaction. A counters row only moves forward (its version must be below the one
    /// written); an instance deleted meanwhile gets no row back.
    pub async fn flush_counters(&self, batch: &[CounterFlush]) -> Result<(), sqlx::Error> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool().begin().await?;
        for flush in batch {
            bind_counters(query(&FLUSH_COUNTERS), &flush.record)
                .execute(&mut *tx)
                .await?;
            for (day, sent, received) in &flush.daily {
                history::add_daily_messages(&mut tx, &flush.record.id, day, *sent, *received)
                    .await?;
            }
            self.announce_in(&mut tx, &Change::Instance(flush.record.id.clone()))
                .await?;
        }
        tx.commit().await?;
        note_write("counters_flush");
        Ok(())
    }

    pub async fn get_instance(&self, id: &str) -> Result<Option<InstanceRecord>, sqlx::Error> {
        let sql = format!("{} WHERE i.id = $1", *SELECT);
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.map(|row| from_row(&row, self.sealer())).transpose()
    }

    pub async fn list_instances(&self) -> Result<Vec<InstanceRecord>, sqlx::Error> {
        let sql = format!("{} ORDER BY i.created_at, i.id", *SELECT);
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| from_row(r, self.sealer())).collect()
    }

    /// Every port an instance holds (API and MCP ports alike).
    pub async fn used_ports(&self) -> Result<Vec<u16>, sqlx::Error> {
        let rows = sqlx::query("SELECT port FROM port_leases")
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

    /// Deletes the instance's rows and history; true when it existed.
    pub async fn delete_instance(&self, id: &str) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        history::delete_all(&mut tx, id).await?;
        delete_parts(&mut tx, id).await?;
        release_ports(&mut tx, id).await?;
        let done = sqlx::query("DELETE FROM instances WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        self.announce_in(&mut tx, &Change::Instance(id.to_string()))
            .await?;
        tx.commit().await?;
        note_write("instance_delete");
        Ok(done.rows_affected() > 0)
    }
}

async fn delete_parts(conn: &mut AnyConnection, id: &str) -> Result<(), sqlx::Error> {
    for table in [STATUS.name, COUNTERS.name] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE instance_id = $1"
        )))
        .bind(id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Records the ports `r` holds in `port_leases`, whose primary key is what keeps any two instances
/// from sharing a port, API and MCP ports alike (a clash is [`WriteError::PortTaken`]).
async fn lease_ports(conn: &mut AnyConnection, r: &InstanceRecord) -> Result<(), WriteError> {
    let leases = [(Some(r.port), "api"), (r.mcp_port, "mcp")];
    for (port, purpose) in leases {
        let Some(port) = port else { continue };
        sqlx::query("INSERT INTO port_leases (port, instance_id, purpose) VALUES ($1, $2, $3)")
            .bind(i64::from(port))
            .bind(r.id.clone())
            .bind(purpose)
            .execute(&mut *conn)
            .await
            .map_err(classify)?;
    }
    Ok(())
}

async fn release_ports(conn: &mut AnyConnection, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM port_leases WHERE instance_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Counts a committed write transaction on the instance tables (`/metrics`).
fn note_write(kind: &'static str) {
    metrics::counter!("botfleet_db_write_transactions_total", "kind" => kind).increment(1);
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

/// Binds the spec columns of `r` in `SPEC` order, its secrets sealed.
fn bind_spec<'q>(query: AnyQuery<'q>, r: &InstanceRecord, sealer: &Sealer) -> AnyQuery<'q> {
    query
        .bind(r.id.clone())
        .bind(r.user_id.clone())
        .bind(r.provider.as_str())
        .bind(serde_json::to_string(&r.type_instance).unwrap_or_else(|_| "[]".into()))
        .bind(r.display_name.clone())
        .bind(sealer.seal(INSTANCE_TOKEN.place(&r.id), &r.token))
        .bind(r.token_sha256.clone())
        .bind(r.api_key_sha256.clone())
        .bind(r.api_key_hint.clone())
        .bind(r.api_key_created_at)
        .bind(sealer.seal(INSTANCE_CONTROL_KEY.place(&r.id), &r.control_key))
        .bind(i64::from(r.port))
        .bind(
            r.agno_config
                .as_ref()
                .and_then(|c| serde_json::to_string(c).ok())
                .map(|c| sealer.seal(INSTANCE_AGENT_CONFIG.place(&r.id), &c)),
        )
        .bind(r.desired_state.as_str())
        .bind(r.memory_limit_mb)
        .bind(r.cpu_millis)
        .bind(serde_json::to_string(&r.placement).unwrap_or_else(|_| "[]".into()))
        .bind(r.receive.map(|w| w.as_str()))
        .bind(r.revision)
        .bind(r.restart_revision)
        .bind(i64::from(r.deleting))
        .bind(r.created_at)
        .bind(i64::from(r.paused))
        .bind(r.config_revision)
        .bind(r.mcp_port.map(i64::from))
        .bind(serde_json::to_string(&r.labels).unwrap_or_else(|_| "{}".into()))
        .bind(r.spec_version)
        .bind(r.updated_at)
}

/// Binds the status columns of `r` in `STATUS` order.
fn bind_status<'q>(query: AnyQuery<'q>, r: &InstanceRecord) -> AnyQuery<'q> {
    query
        .bind(r.id.clone())
        .bind(r.status.as_str())
        .bind(r.status_reason.clone())
        .bind(r.auth_status.as_str())
        .bind(r.account.clone())
        .bind(r.bot_username.clone())
        .bind(r.bot_id.clone())
        .bind(r.container_id.clone())
        .bind(i64::from(r.health_ok))
        .bind(r.consecutive_failures)
        .bind(r.restart_count)
        .bind(r.error_count)
        .bind(r.last_error.clone())
        .bind(r.applied_config_sha256.clone())
        .bind(r.running_since)
        .bind(r.crash_count)
        .bind(r.next_restart_at)
        .bind(r.observed_revision)
        .bind(r.endpoint.clone())
        .bind(r.host_id.clone())
        .bind(r.applied_config_revision)
        .bind(r.status_version)
        .bind(r.updated_at)
}

/// Binds the counter columns of `r` in `COUNTERS` order.
fn bind_counters<'q>(query: AnyQuery<'q>, r: &InstanceRecord) -> AnyQuery<'q> {
    query
        .bind(r.id.clone())
        .bind(r.health_check_count)
        .bind(r.last_health_at)
        .bind(r.health_fail_count)
        .bind(r.sent_count)
        .bind(r.received_count)
        .bind(r.api_key_usage_count)
        .bind(r.api_key_last_used_at)
        .bind(r.last_poll_at)
        .bind(r.seen_sent)
        .bind(r.seen_received)
        .bind(r.seen_key_uses)
        .bind(r.counters_version)
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

fn from_row(row: &AnyRow, sealer: &Sealer) -> Result<InstanceRecord, sqlx::Error> {
    let id: String = row.try_get("id")?;
    let token: String = row.try_get("token")?;
    let control_key: String = row.try_get("control_key")?;
    let status: String = row.try_get("status")?;
    let auth_status: String = row.try_get("auth_status")?;
    let desired: String = row.try_get("desired_state")?;
    let type_instance: String = row.try_get("type_instance")?;
    let agno_config = sealer.open_opt(
        INSTANCE_AGENT_CONFIG.place(&id),
        row.try_get::<Option<String>, _>("agno_config")?.as_deref(),
    )?;
    let provider: String = row.try_get("provider")?;
    let placement: String = row.try_get("placement")?;
    let labels: String = row.try_get("labels")?;
    let spec_version: i64 = row.try_get("spec_version")?;
    let status_version: i64 = row.try_get("status_version")?;
    let counters_version: i64 = row.try_get("counters_version")?;
    // The last change of any part.
    let updated_at = [
        "spec_updated_at",
        "status_updated_at",
        "counters_updated_at",
    ]
    .into_iter()
    .map(|c| row.try_get::<i64, _>(c))
    .collect::<Result<Vec<_>, _>>()?
    .into_iter()
    .max()
    .unwrap_or(0);
    Ok(InstanceRecord {
        token: sealer.open(INSTANCE_TOKEN.place(&id), &token)?,
        control_key: sealer.open(INSTANCE_CONTROL_KEY.place(&id), &control_key)?,
        id,
        user_id: row.try_get("user_id")?,
        provider: shared::Provider::parse(&provider)
            .ok_or_else(|| decode_error("provider", &provider))?,
        type_instance: serde_json::from_str(&type_instance)
            .map_err(|_| decode_error("type_instance", &type_instance))?,
        display_name: row.try_get("display_name")?,
        token_sha256: row.try_get("token_sha256")?,
        api_key_sha256: row.try_get("api_key_sha256")?,
        api_key_hint: row.try_get("api_key_hint")?,
        api_key_created_at: row.try_get("api_key_created_at")?,
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
        bot_id: row.try_get("bot_user_id")?,
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
        labels: serde_json::from_str(&labels).map_err(|_| decode_error("labels", &labels))?,
        receive: row
            .try_get::<Option<String>, _>("receive")?
            .map(|w| {
                shared::provider::Receive::parse(&w).ok_or_else(|| decode_error("receive", &w))
            })
            .transpose()?,
        revision: row.try_get("revision")?,
        restart_revision: row.try_get("restart_revision")?,
        deleting: row.try_get::<i64, _>("deleting")? != 0,
        paused: row.try_get::<i64, _>("paused")? != 0,
        config_revision: row.try_get("config_revision")?,
        mcp_port: row
            .try_get::<Option<i64>, _>("mcp_port")?
            .map(port_from_i64),
        applied_config_revision: row.try_get("applied_config_revision")?,
        observed_revision: row.try_get("observed_revision")?,
        endpoint: row.try_get("endpoint")?,
        host_id: row.try_get("host_id")?,
        spec_version,
        status_version,
        counters_version,
        version: spec_version + status_version + counters_version,
        created_at: row.try_get("created_at")?,
        updated_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writes::tests::{TestDb, running};

    #[tokio::test]
    async fn every_field_survives_the_round_trip_through_the_three_tables() {
        let db = TestDb::new().await;
        let mut r = running(1);
        r.agno_config = None;
        r.desired_state = DesiredState::Stopped;
        r.memory_limit_mb = Some(256);
        r.cpu_millis = Some(750);
        r.placement = vec!["node.hostname==a".into()];
        r.mcp_port = Some(4999);
        (r.revision, r.restart_revision, r.deleting) = (3, 2, true);
        (r.status_reason, r.account, r.bot_username) =
            (Some("why".into()), Some("Acc".into()), Some("bot".into()));
        (r.bot_id, r.container_id) = (Some("77".into()), Some("c1".into()));
        (r.consecutive_failures, r.restart_count, r.error_count) = (1, 2, 3);
        r.last_error = Some("err".into());
        r.applied_config_sha256 = Some("sha".into());
        (r.running_since, r.crash_count, r.next_restart_at) = (Some(5), 4, Some(6));
        (r.observed_revision, r.host_id) = (3, Some("host".into()));
        (r.health_check_count, r.last_health_at, r.health_fail_count) = (9, Some(8), 7);
        (r.sent_count, r.received_count, r.api_key_usage_count) = (6, 5, 4);
        (r.api_key_last_used_at, r.last_poll_at) = (Some(3), Some(2));
        (r.seen_sent, r.seen_received, r.seen_key_uses) = (1, 2, 3);
        (r.spec_version, r.status_version, r.counters_version) = (4, 5, 6);
        r.version = r.combined_version();
        r.updated_at = 1_234;
        db.store.insert_instance(&r).await.unwrap();
        assert_eq!(db.store.get_instance(&r.id).await.unwrap(), Some(r.clone()));
        assert_eq!(db.store.list_instances().await.unwrap(), vec![r]);
    }

    /// No port is held twice, whatever it serves: one bot's MCP port cannot be another's API port, a
    /// moved port frees the old one, and a delete frees them all.
    #[tokio::test]
    async fn a_port_is_leased_to_one_instance_whatever_it_serves() {
        let db = TestDb::new().await;
        let mut a = running(1);
        a.mcp_port = Some(4002);
        db.store.insert_instance(&a).await.unwrap();
        let b = running(2); // its API port is 4002, `a`'s MCP port
        assert!(matches!(
            db.store.insert_instance(&b).await,
            Err(WriteError::PortTaken)
        ));
        let mut ports = db.store.used_ports().await.unwrap();
        ports.sort();
        assert_eq!(ports, [4001, 4002]);
        // `a` gives up MCP: its port is free again, and `b` takes it.
        let mut next = a.clone();
        next.mcp_port = None;
        next.spec_version += 1;
        let parts = a.changed_parts(&next);
        db.store
            .update_instance(&a, &next, parts, "api", None)
            .await
            .unwrap()
            .expect("stored");
        db.store.insert_instance(&b).await.unwrap();
        db.store.delete_instance(&a.id).await.unwrap();
        assert_eq!(db.store.used_ports().await.unwrap(), [4002]);
    }

    /// The split migration moves every value of a row written before it, and history keys stay unique.
    #[tokio::test]
    async fn the_split_keeps_rows_written_before_it() {
        let path = std::env::temp_dir().join(format!("botfleet-{}.db", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        crate::db::MIGRATOR
            .run_to(20261123000006, &pool)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO instances (id, user_id, provider, type_instance, display_name, token, \
             token_sha256, api_key_sha256, api_key_hint, api_key_created_at, control_key, port, status, \
             status_reason, auth_status, account, health_ok, health_check_count, sent_count, \
             restart_count, last_poll_at, observed_revision, endpoint, revision, version, created_at, \
             updated_at) VALUES ('old', 'u', 'telegram', '[\"api\"]', 'bot', '1:t', 'sha', 'ksha', \
             'bfk_', 1, 'bfc_', 3001, 'running', 'ok', 'client_ready', 'Acc', 1, 40, 12, 2, 99, 3, \
             '127.0.0.1:3001', 3, 41, 5, 6)",
        )
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO status_history (instance_id, version, status, source, at) \
             VALUES ('old', 41, 'running', 'health', 6)",
        )
        .execute(&pool)
        .await
        .unwrap();
        crate::db::MIGRATOR.run(&pool).await.unwrap();
        let store = Store::new(pool, std::sync::Arc::new(Sealer::ephemeral()));
        let r = store.get_instance("old").await.unwrap().unwrap();
        assert_eq!(r.status, InstanceStatus::Running);
        assert_eq!(r.auth_status, AuthStatus::ClientReady);
        assert_eq!(r.status_reason.as_deref(), Some("ok"));
        assert_eq!(r.account.as_deref(), Some("Acc"));
        assert!(r.health_ok);
        assert_eq!((r.health_check_count, r.sent_count), (40, 12));
        assert_eq!((r.restart_count, r.last_poll_at), (2, Some(99)));
        assert_eq!((r.revision, r.observed_revision), (3, 3));
        assert_eq!(r.endpoint.as_deref(), Some("127.0.0.1:3001"));
        assert_eq!(
            (r.spec_version, r.status_version, r.counters_version),
            (41, 41, 0)
        );
        assert_eq!(r.updated_at, 6);
        // Its port became a lease (the MCP migration).
        assert_eq!(store.used_ports().await.unwrap(), [3001]);
        assert_eq!(r.mcp_port, None);
        // The moved columns are gone from `instances`.
        assert!(
            sqlx::query("SELECT status FROM instances")
                .fetch_all(store.pool())
                .await
                .is_err()
        );
        // The next status change is keyed above every history row written before.
        let cache =
            crate::cache::InstanceCache::from_records(store.list_instances().await.unwrap());
        let writes = crate::writes::InstanceWrites::default();
        writes
            .update(&store, &cache, "old", "health", |r| {
                r.status = InstanceStatus::Degraded
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(store.status_history("old", 10).await.unwrap().len(), 2);
        store.pool().close().await;
        let _ = std::fs::remove_file(&path);
    }
}
