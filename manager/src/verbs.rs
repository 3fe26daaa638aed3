//! User verbs on an instance. Each one begins a named operation on the instance without waiting (a
//! concurrent verb gets 409 naming it), checks that the verb fits the state (409 naming the state
//! otherwise), records what the user wants in the spec (bumping its revision), and hands over to the
//! reconciler, which alone changes workers. The verb then waits, on the cache's watch, until the
//! reconciler has acted on that revision (bounded by `timeout`), and answers with the instance as it is.

use std::{sync::Arc, time::Duration};

use shared::api::instances::Interface;

use crate::{
    domain::{DesiredState, InstanceRecord, InstanceStatus, lifecycle::Verb},
    error::ApiError,
    fleet::Source,
    keys,
    reconcile::Reconciler,
    store::settings_history::{Attribution, HistoryRow},
};

/// Result of `/process`.
pub enum ProcessOutcome {
    NoChange(InstanceRecord),
    Applied(InstanceRecord),
}

/// A validated `PATCH` body: every field optional, `None` means unchanged.
#[derive(Debug, Default)]
pub struct ConfigChange {
    pub credentials: Option<shared::api::credentials::Credentials>,
    /// The bot configuration whole (`Some(None)` clears it), then `settings`' fields one by one.
    pub agno_config: Option<Option<shared::agent::BotConfig>>,
    pub settings: Option<shared::api::lifecycle::UpdateInstanceRequest>,
    pub memory_limit_mb: Option<i64>,
    pub cpu_millis: Option<i64>,
    /// The interfaces, whole (without repeats).
    pub type_instance: Option<Vec<shared::api::instances::Interface>>,
    /// A rollback of limits may bring back the manager's default (`None`).
    pub clear_limits: bool,
    /// The labels, whole.
    pub labels: Option<shared::api::instances::Labels>,
}

/// `config` with `key` set to `value` (`None`: its default), checked as a whole.
fn with_key(
    config: Option<&shared::agent::BotConfig>,
    key: &str,
    value: Option<serde_json::Value>,
) -> Result<shared::agent::BotConfig, ApiError> {
    let mut fields = match config.map(serde_json::to_value) {
        Some(Ok(serde_json::Value::Object(map))) => map,
        _ => serde_json::Map::new(),
    };
    match value {
        Some(value) => fields.insert(key.to_string(), value),
        None => fields.remove(key),
    };
    let bytes = serde_json::to_vec(&fields).map_err(|e| ApiError::Internal(e.to_string()))?;
    shared::http::parse_json::<shared::agent::BotConfig>(&bytes).map_err(|e| {
        ApiError::Conflict(format!(
            "the earlier value of {key} is no longer accepted: {}",
            e.body.error
        ))
    })
}

impl ConfigChange {
    /// The bot configuration `current` becomes.
    fn bot_config(
        &self,
        current: &Option<shared::agent::BotConfig>,
    ) -> Option<shared::agent::BotConfig> {
        let mut config = match &self.agno_config {
            Some(replacement) => replacement.clone(),
            None => current.clone(),
        };
        if let Some(settings) = self.settings.as_ref().filter(|s| s.has_bot_settings()) {
            let mut edited = config.unwrap_or_default();
            settings.apply_bot_settings(&mut edited);
            config = Some(edited);
        }
        config
    }
}

/// The verbs, with what each one needs to wait for.
pub struct Verbs {
    pub reconciler: Arc<Reconciler>,
    /// How long a verb waits for the reconciler before answering with the state as it is.
    pub timeout: Duration,
}

fn current(reconciler: &Reconciler, id: &str) -> Result<InstanceRecord, ApiError> {
    let r = reconciler.fleet.get(id)?;
    if r.deleting {
        return Err(ApiError::Conflict(format!(
            "instance {id} is being deleted"
        )));
    }
    Ok((*r).clone())
}

impl Verbs {
    /// Writes `change` to the spec as a new revision (a fresh worker when `fresh`), triggers the
    /// reconciler, and waits until it has observed that revision.
    async fn apply(
        &self,
        id: &str,
        fresh: bool,
        change: impl Fn(&mut InstanceRecord),
    ) -> Result<InstanceRecord, ApiError> {
        let fleet = &self.reconciler.fleet;
        let saved = fleet
            .update(id, Source::Api, |r| {
                change(r);
                r.revision += 1;
                if fresh {
                    r.restart_revision = r.revision;
                }
            })
            .await?
            .ok_or_else(|| ApiError::instance_not_found(id))?;
        self.reconciler.trigger(id);
        Ok(self
            .wait_observed(id, saved.revision)
            .await
            .unwrap_or(saved))
    }

    /// Waits until the reconciler has acted on `revision` (or the instance is gone, or the timeout).
    async fn wait_observed(&self, id: &str, revision: i64) -> Option<InstanceRecord> {
        let cache = &self.reconciler.fleet.cache;
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut changes = cache.subscribe();
        loop {
            let record = cache.get(id)?;
            if record.observed_revision >= revision {
                return Some((*record).clone());
            }
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return Some((*record).clone()) },
                _ = tokio::time::sleep_until(deadline) => return Some((*record).clone()),
            }
        }
    }

    /// Creates an instance and waits until the reconciler has made its worker (the stress test's
    /// timing; the create handler answers at once instead).
    pub async fn create(
        &self,
        new: crate::domain::NewInstance,
    ) -> Result<crate::fleet::Provisioned, ApiError> {
        self.reconciler.ensure_engine_up().await?;
        let mut provisioned = self.reconciler.fleet.create(new).await?;
        self.reconciler.trigger(&provisioned.record.id);
        if let Some(r) = self.wait_observed(&provisioned.record.id, 1).await {
            provisioned.record = r;
        }
        Ok(provisioned)
    }

    pub async fn start(&self, id: &str) -> Result<InstanceRecord, ApiError> {
        self.reconciler.ensure_engine_up().await?;
        let _op = self.reconciler.fleet.ops.try_begin(id, "start")?;
        Verb::Start.check(id, current(&self.reconciler, id)?.status)?;
        self.apply(id, true, |r| r.desired_state = DesiredState::Running)
            .await
    }

    pub async fn stop(&self, id: &str) -> Result<InstanceRecord, ApiError> {
        self.reconciler.ensure_engine_up().await?;
        let _op = self.reconciler.fleet.ops.try_begin(id, "stop")?;
        Verb::Stop.check(id, current(&self.reconciler, id)?.status)?;
        self.apply(id, false, |r| r.desired_state = DesiredState::Stopped)
            .await
    }

    /// Stops the worker (SIGTERM) and starts a fresh one; also the way out of `failed`.
    pub async fn restart(&self, id: &str) -> Result<InstanceRecord, ApiError> {
        self.reconciler.ensure_engine_up().await?;
        let _op = self.reconciler.fleet.ops.try_begin(id, "restart")?;
        Verb::Restart.check(id, current(&self.reconciler, id)?.status)?;
        self.apply(id, true, |r| r.desired_state = DesiredState::Running)
            .await
    }

    /// Applies the stored configuration: a fresh worker when the running one was built from another
    /// configuration, is not running, or has failed.
    pub async fn process(&self, id: &str) -> Result<ProcessOutcome, ApiError> {
        self.reconciler.ensure_engine_up().await?;
        let _op = self.reconciler.fleet.ops.try_begin(id, "process")?;
        let r = current(&self.reconciler, id)?;
        Verb::Process.check(id, r.status)?;
        let fleet = &self.reconciler.fleet;
        let up_to_date =
            r.applied_config_sha256.as_deref() == Some(fleet.config_digest(&r).as_str());
        let wants_running = r.desired_state == DesiredState::Running;
        let settled = if wants_running {
            matches!(
                r.status,
                InstanceStatus::Starting | InstanceStatus::Running | InstanceStatus::Degraded
            )
        } else {
            r.status == InstanceStatus::Stopped
        };
        if up_to_date && settled {
            return Ok(ProcessOutcome::NoChange(r));
        }
        let record = self.apply(id, wants_running, |_| {}).await?;
        Ok(ProcessOutcome::Applied(record))
    }

    /// Stores configuration changes. A changed bot configuration gets a new revision, which the
    /// reconciler pushes to the running worker (waited for, up to the verb timeout); credentials and
    /// limits wait for the next `/process` (or a recreated worker).
    pub async fn update_config(
        &self,
        id: &str,
        change: ConfigChange,
        by: &Attribution,
    ) -> Result<InstanceRecord, ApiError> {
        let _op = self
            .reconciler
            .fleet
            .ops
            .try_begin(id, "configuration update")?;
        let before = current(&self.reconciler, id)?;
        Verb::Update.check(id, before.status)?;
        let fleet = &self.reconciler.fleet;
        if let Some(credentials) = &change.credentials {
            let digest = keys::sha256_hex(credentials.identity());
            if let Some(owner) = fleet.store.instance_with_token(&digest).await?
                && owner != id
            {
                return Err(crate::writes::token_conflict());
            }
        }
        // `new_mcp_port`: the port just reserved for an MCP server the bot gains.
        let edit = |r: &mut InstanceRecord, new_mcp_port: Option<u16>| {
            if let Some(credentials) = &change.credentials {
                r.token = crate::domain::instance::credentials_to_store(credentials);
                r.token_sha256 = keys::sha256_hex(credentials.identity());
            }
            let bot = change.bot_config(&r.agno_config);
            if bot != r.agno_config {
                r.agno_config = bot;
                r.bump_config_revision();
            }
            if change.clear_limits {
                (r.memory_limit_mb, r.cpu_millis) = (change.memory_limit_mb, change.cpu_millis);
            } else {
                r.memory_limit_mb = change.memory_limit_mb.or(r.memory_limit_mb);
                r.cpu_millis = change.cpu_millis.or(r.cpu_millis);
            }
            if let Some(labels) = &change.labels {
                r.labels = labels.clone();
            }
            if let Some(interfaces) = &change.type_instance {
                r.type_instance = interfaces.clone();
                if !interfaces.contains(&Interface::Mcp) {
                    r.mcp_port = None;
                } else if r.mcp_port.is_none() {
                    r.mcp_port = new_mcp_port;
                }
            }
        };
        let gains_mcp = change
            .type_instance
            .as_ref()
            .is_some_and(|i| i.contains(&Interface::Mcp))
            && before.mcp_port.is_none();
        let saved = if gains_mcp {
            // Chosen and stored under the allocator's lock, so no create takes the port meanwhile.
            fleet
                .ports
                .assign(&fleet.store, false, async |(port, _)| {
                    fleet.update_by(id, by, |r| edit(r, Some(port))).await
                })
                .await?
        } else {
            fleet.update_by(id, by, |r| edit(r, None)).await?
        }
        .ok_or_else(|| ApiError::instance_not_found(id))?;
        Ok(self.pushed(id, &before, saved).await)
    }

    /// Pauses (`true`) or activates the bot: its worker keeps running and is told over its control
    /// channel; recorded in the status history and the event log.
    pub async fn set_paused(
        &self,
        id: &str,
        paused: bool,
        by: &Attribution,
    ) -> Result<InstanceRecord, ApiError> {
        let _op = self
            .reconciler
            .fleet
            .ops
            .try_begin(id, if paused { "pause" } else { "activation" })?;
        let before = current(&self.reconciler, id)?;
        let saved = self
            .reconciler
            .fleet
            .update_by(id, by, |r| {
                if r.paused != paused {
                    r.paused = paused;
                    r.bump_config_revision();
                    r.status_reason = Some(if paused {
                        "paused: the bot receives and answers nothing".into()
                    } else {
                        "activated: the bot receives and answers again".into()
                    });
                }
            })
            .await?
            .ok_or_else(|| ApiError::instance_not_found(id))?;
        Ok(self.pushed(id, &before, saved).await)
    }

    /// Gives the key of history row `row` its value from before that change, as a new change (recorded
    /// as a rollback). A secret's value was never kept: 409.
    pub async fn rollback(
        &self,
        id: &str,
        row: &HistoryRow,
        by: &Attribution,
    ) -> Result<InstanceRecord, ApiError> {
        let by = &Attribution {
            rollback: true,
            ..by.clone()
        };
        let c = &row.change;
        if c.secret {
            return Err(ApiError::Conflict(format!(
                "{}.{} is a secret: its earlier value was never kept; set it anew",
                c.scope, c.key
            )));
        }
        let old = c.old_value.clone();
        match (c.scope, c.key.as_str()) {
            ("bot", "paused") => {
                let paused = old.as_ref().and_then(serde_json::Value::as_bool);
                self.set_paused(id, paused.unwrap_or(false), by).await
            }
            ("bot", key) => {
                let current = current(&self.reconciler, id)?.agno_config;
                let config = with_key(current.as_ref(), key, old)?;
                let change = ConfigChange {
                    agno_config: Some(Some(config)),
                    ..Default::default()
                };
                self.update_config(id, change, by).await
            }
            ("limits", key @ ("memory_limit_mb" | "cpu_limit")) => {
                let r = current(&self.reconciler, id)?;
                let number = old.as_ref().and_then(serde_json::Value::as_f64);
                let (mut mb, mut millis) = (r.memory_limit_mb, r.cpu_millis);
                if key == "memory_limit_mb" {
                    mb = number.map(|n| n as i64);
                } else {
                    millis = number.map(|cpus| (cpus * 1000.0).round() as i64);
                }
                let change = ConfigChange {
                    memory_limit_mb: mb,
                    cpu_millis: millis,
                    clear_limits: true,
                    ..Default::default()
                };
                self.update_config(id, change, by).await
            }
            (scope, key) => Err(ApiError::Conflict(format!(
                "{scope}.{key} cannot be rolled back"
            ))),
        }
    }

    /// `saved` once the reconciler has pushed its new configuration revision to the worker (or the
    /// verb timeout passed); at once when the write changed no configuration.
    async fn pushed(
        &self,
        id: &str,
        before: &InstanceRecord,
        saved: InstanceRecord,
    ) -> InstanceRecord {
        if saved.config_revision == before.config_revision {
            return saved;
        }
        self.reconciler.trigger(id);
        self.wait_observed(id, saved.revision)
            .await
            .unwrap_or(saved)
    }

    /// Issues a new API key; the reconciler gives the bot a fresh worker that accepts only the new one
    /// (a stopped bot's old worker is removed). The key is returned this once.
    pub async fn rotate_key(&self, id: &str) -> Result<(InstanceRecord, String), ApiError> {
        self.reconciler.ensure_engine_up().await?;
        let _op = self.reconciler.fleet.ops.try_begin(id, "key rotation")?;
        let r = current(&self.reconciler, id)?;
        Verb::RotateKey.check(id, r.status)?;
        let key = keys::generate(keys::INSTANCE_KEY_PREFIX);
        let now = crate::fleet::now_ms();
        let fresh = r.desired_state == DesiredState::Running && r.status != InstanceStatus::Failed;
        let record = self
            .apply(id, fresh, |r| {
                r.api_key_sha256 = keys::sha256_hex(&key);
                r.api_key_hint = keys::hint(&key);
                r.api_key_created_at = now;
                r.api_key_usage_count = 0;
                r.api_key_last_used_at = None;
                r.seen_key_uses = 0;
            })
            .await?;
        Ok((record, key))
    }

    /// Marks the instance for deletion; the reconciler removes the worker, its data, then the row (the
    /// port is free after). Waits until the row is gone.
    pub async fn delete(&self, id: &str) -> Result<(), ApiError> {
        self.reconciler.ensure_engine_up().await?;
        let _op = self.reconciler.fleet.ops.try_begin(id, "deletion")?;
        current(&self.reconciler, id)?;
        let record = self
            .apply(id, false, |r| {
                r.deleting = true;
            })
            .await?;
        if self.reconciler.fleet.cache.get(&record.id).is_some() {
            return Err(ApiError::EngineUnavailable(format!(
                "instance {id} is marked for deletion, but its worker is not removed yet; it will be \
                 removed when the engine answers"
            )));
        }
        Ok(())
    }
}
