//! The fleet service: the one place that writes instances. Spec and status go to the database first (a
//! compare-and-swap per part that also appends history) and then to the cache; counters go to the cache
//! and reach the database in batches (`writes.rs`).

use std::{sync::Arc, time::Duration};

use sha2::{Digest, Sha256};

use crate::{
    cache::InstanceCache,
    domain::{AuthStatus, DesiredState, InstanceRecord, InstanceStatus, NewInstance},
    error::ApiError,
    keys,
    observed::Observed,
    op_locks::Operations,
    ports::PortAllocator,
    runtime::PlatformUrls,
    runtime::{RuntimeReader, WorkerSpec},
    store::{Store, events::Event},
    writes::{InstanceWrites, token_conflict},
};

pub use crate::domain::now_ms;

/// Who made a change, as recorded in the status history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Api,
    Health,
    Reconciler,
    DockerEvent,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Health => "health",
            Self::Reconciler => "reconciler",
            Self::DockerEvent => "docker_event",
        }
    }
}

pub struct Fleet {
    pub store: Store,
    pub cache: InstanceCache,
    /// Read-only: only the reconciler changes workers.
    pub runtime: RuntimeReader,
    pub ports: PortAllocator,
    /// User operations in flight (409 for a second one).
    pub ops: Operations,
    pub platform_urls: PlatformUrls,
    /// New events, for live subscribers; they are in the database already.
    pub events: tokio::sync::broadcast::Sender<Event>,
    /// The write path, with the counters waiting for the flush.
    pub writes: InstanceWrites,
    /// The client of user-given destinations (agents), with the operator's `--outbound-allow`, which
    /// workers get too.
    pub outbound: netguard::Outbound,
    /// The workers and agent figures as last seen, so reads need not ask again.
    pub observed: Observed,
}

/// A new instance with the API key that is shown this once.
pub struct Provisioned {
    pub record: InstanceRecord,
    pub api_key: String,
}

impl Fleet {
    /// Reserves a port and writes the instance as wanted (`creating`, desired running); the reconciler
    /// makes its worker. Nothing here touches the runtime.
    pub async fn create(&self, new: NewInstance) -> Result<Provisioned, ApiError> {
        let token_sha256 = keys::sha256_hex(new.credentials.identity());
        if self
            .store
            .instance_with_token(&token_sha256)
            .await?
            .is_some()
        {
            return Err(token_conflict());
        }
        let api_key = keys::generate(keys::INSTANCE_KEY_PREFIX);
        let id = uuid::Uuid::new_v4().to_string();
        let now = now_ms();
        let record = self
            .ports
            .insert_with_ports(&self.store, new.serves_mcp(), |ports| {
                new_record(&id, &new, &token_sha256, &api_key, ports, now)
            })
            .await?;
        let created = self.store.record_created(&record).await?;
        self.publish(created);
        self.cache.revive(&id);
        self.cache.put(record.clone());
        tracing::info!(instance_id = %id, port = record.port, mcp_port = ?record.mcp_port, "instance created");
        Ok(Provisioned { record, api_key })
    }

    /// Refuses a user-given destination (webhook, agent, alert hook) that is an IP literal in a range
    /// `--outbound-allow` does not allow, naming `field`: a mistake shown at once. Host names pass; the
    /// check that matters is the one at connect time, on the address the name resolves to then.
    pub fn check_destination(&self, field: &str, url: Option<&str>) -> Result<(), ApiError> {
        let Some(url) = url.and_then(|u| reqwest::Url::parse(u.trim()).ok()) else {
            return Ok(());
        };
        self.outbound
            .check_url(&url)
            .map_err(|refused| ApiError::validation(field, refused.to_string()))
    }

    /// The instance, from the cache.
    pub fn get(&self, id: &str) -> Result<Arc<InstanceRecord>, ApiError> {
        self.cache
            .get(id)
            .ok_or_else(|| ApiError::instance_not_found(id))
    }

    /// What the worker container of `r` is created with.
    pub fn worker_spec<'a>(
        &'a self,
        r: &'a InstanceRecord,
        config_sha256: &'a str,
    ) -> WorkerSpec<'a> {
        let defaults = self.runtime.settings();
        WorkerSpec {
            instance_id: &r.id,
            provider: r.provider,
            port: r.port,
            mcp_port: r.mcp_port,
            credentials: crate::domain::instance::credentials_json(&r.token),
            api_key_sha256: &r.api_key_sha256,
            control_key_sha256: keys::sha256_hex(&r.control_key),
            platform_urls: &self.platform_urls,
            telegram_webhook_url: (r.provider == shared::Provider::Telegram
                && r.receive == Some(shared::provider::Receive::Webhook))
            .then(|| self.platform_urls.callback_url(r.provider, &r.id)),
            bot_config: Some(worker_bot_config(r)),
            memory_bytes: r
                .memory_limit_mb
                .map(|mb| mb * 1024 * 1024)
                .unwrap_or(defaults.memory_bytes),
            nano_cpus: r
                .cpu_millis
                .map(|m| m * 1_000_000)
                .unwrap_or(defaults.nano_cpus),
            placement: &r.placement,
            config_sha256,
            last_host: r.host_id.as_deref(),
            outbound: self.outbound.policy(),
        }
    }

    /// Digest of everything a container is created with: when it differs from
    /// `applied_config_sha256`, the container must be recreated for the change to take effect.
    pub fn config_digest(&self, r: &InstanceRecord) -> String {
        let spec = self.worker_spec(r, "");
        let mut h = Sha256::new();
        for part in [
            r.token.as_str(),
            spec.api_key_sha256,
            &spec.control_key_sha256,
            spec.platform_urls.of(r.provider),
            &self.runtime.settings().image,
            &spec.memory_bytes.to_string(),
            &spec.nano_cpus.to_string(),
            &r.placement.join("\n"),
        ] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        // Only when set, so the digest of every polling bot stays what it was before webhook mode.
        if let Some(url) = &spec.telegram_webhook_url {
            h.update(url.as_bytes());
            h.update([0]);
        }
        // Likewise: an MCP server's port (a bot without one keeps the digest of before).
        if let Some(port) = spec.mcp_port {
            h.update(format!("mcp:{port}").as_bytes());
            h.update([0]);
        }
        // Likewise: a changed `--outbound-allow` or `--outbound-deny` recreates the workers; neither
        // set is the digest of before.
        if *spec.outbound != netguard::Policy::default() {
            for var in spec.outbound_env() {
                h.update(var.as_bytes());
                h.update([0]);
            }
        }
        hex::encode(h.finalize())
    }

    /// Applies `change` to the instance and stores what changed (spec and status at once, compare-and-
    /// swap per part, retried on a concurrent write; counters at the next flush); returns the record as
    /// it is now, or `None` when the instance is gone. A change that changes nothing writes nothing.
    pub async fn update(
        &self,
        id: &str,
        source: Source,
        change: impl FnMut(&mut InstanceRecord),
    ) -> Result<Option<InstanceRecord>, ApiError> {
        self.write(id, source, None, change).await
    }

    /// [`update`](Self::update) on a user's behalf: the settings history names them.
    pub async fn update_by(
        &self,
        id: &str,
        attribution: &crate::store::settings_history::Attribution,
        change: impl FnMut(&mut InstanceRecord),
    ) -> Result<Option<InstanceRecord>, ApiError> {
        self.write(id, Source::Api, Some(attribution), change).await
    }

    async fn write(
        &self,
        id: &str,
        source: Source,
        attribution: Option<&crate::store::settings_history::Attribution>,
        change: impl FnMut(&mut InstanceRecord),
    ) -> Result<Option<InstanceRecord>, ApiError> {
        let Some((saved, events)) = self
            .writes
            .update_by(
                &self.store,
                &self.cache,
                id,
                source.as_str(),
                attribution,
                change,
            )
            .await?
        else {
            return Ok(None);
        };
        self.publish(events);
        Ok(Some(saved))
    }

    /// Stores every counter changed since the last flush, in one transaction.
    pub async fn flush_counters(&self) -> Result<usize, sqlx::Error> {
        self.writes.flush(&self.store, &self.cache).await
    }

    /// Stores the counters that are due (see `writes.rs`: a bot only seen alive again waits longer).
    pub async fn flush_due_counters(&self) -> Result<usize, sqlx::Error> {
        self.writes.flush_due(&self.store, &self.cache).await
    }

    /// (sent, received) on one UTC day, counting what the next flush will add.
    pub async fn messages_on(&self, id: &str, day: &str) -> Result<(i64, i64), sqlx::Error> {
        let (sent, received) = self.store.messages_on(id, day).await?;
        let (more_sent, more_received) = self.writes.unflushed_messages(id, day);
        Ok((sent + more_sent, received + more_received))
    }

    /// Hands events to live subscribers (`/api/v1/events/stream`).
    pub fn publish(&self, events: Vec<Event>) {
        for e in events {
            // No subscriber is fine: the database has it.
            let _ = self.events.send(e);
        }
    }

    /// Removes the row (and history) and forgets the instance.
    pub async fn forget(&self, id: &str) -> Result<(), ApiError> {
        self.store.delete_instance(id).await?;
        self.cache.remove(id);
        self.writes.forget(id);
        self.observed.forget(id);
        Ok(())
    }
}

/// Flushes the counters every `interval` until `stop` turns true. The last flush, after every other
/// background task has stopped, is the caller's (`app.rs`).
pub async fn run_counter_flusher(
    fleet: Arc<Fleet>,
    interval: Duration,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut every = crate::monitor::Every::new(interval, stop);
    while every.tick().await {
        if let Err(e) = fleet.flush_due_counters().await {
            tracing::warn!(error = %e, "could not store the counters; they are kept for the next flush");
        }
    }
}

/// The row a new instance starts as: `creating`, on `port`, wanting to run.
pub(crate) fn new_record(
    id: &str,
    new: &NewInstance,
    token_sha256: &str,
    api_key: &str,
    (port, mcp_port): (u16, Option<u16>),
    now: i64,
) -> InstanceRecord {
    InstanceRecord {
        id: id.to_string(),
        user_id: new.user_id.clone(),
        provider: new.provider,
        type_instance: new.type_instance.clone(),
        display_name: new.display_name(),
        token: crate::domain::instance::credentials_to_store(&new.credentials),
        token_sha256: token_sha256.to_string(),
        api_key_sha256: keys::sha256_hex(api_key),
        api_key_hint: keys::hint(api_key),
        api_key_created_at: now,
        control_key: keys::generate(keys::CONTROL_KEY_PREFIX),
        port,
        mcp_port,
        agno_config: new.agno_config.clone(),
        status: InstanceStatus::Creating,
        status_reason: Some("port reserved; waiting for the reconciler to start the worker".into()),
        auth_status: AuthStatus::Pending,
        account: None,
        bot_username: None,
        bot_id: None,
        container_id: None,
        health_ok: false,
        last_health_at: None,
        health_check_count: 0,
        consecutive_failures: 0,
        sent_count: 0,
        received_count: 0,
        restart_count: 0,
        error_count: 0,
        last_error: None,
        desired_state: DesiredState::Running,
        applied_config_sha256: None,
        running_since: None,
        last_poll_at: None,
        crash_count: 0,
        next_restart_at: None,
        health_fail_count: 0,
        api_key_usage_count: 0,
        api_key_last_used_at: None,
        memory_limit_mb: None,
        cpu_millis: None,
        seen_sent: 0,
        seen_received: 0,
        seen_key_uses: 0,
        placement: new.placement.clone(),
        labels: new.labels.clone(),
        receive: new.receive,
        revision: 1,
        restart_revision: 0,
        deleting: false,
        paused: false,
        config_revision: 1,
        applied_config_revision: None,
        observed_revision: 0,
        endpoint: None,
        host_id: None,
        spec_version: 1,
        status_version: 1,
        counters_version: 0,
        version: 2,
        created_at: now,
        updated_at: now,
    }
}

/// The bot configuration as the worker reads it at start (`BOTFLEET_BOT_CONFIG`) and is pushed later. Not
/// part of the configuration digest: a change reaches the running worker over its control channel.
pub fn worker_bot_config_body(r: &InstanceRecord) -> shared::worker_api::WorkerBotConfig {
    shared::worker_api::WorkerBotConfig {
        revision: r.config_revision,
        paused: r.paused,
        bot: r.agno_config.clone(),
    }
}

fn worker_bot_config(r: &InstanceRecord) -> String {
    serde_json::to_string(&worker_bot_config_body(r)).unwrap_or_default()
}
