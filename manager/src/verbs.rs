//! User verbs on an instance. Each takes the instance's operation lock without waiting (a concurrent
//! verb gets 409), checks that the verb fits the state (409 naming it otherwise), records the intent in
//! the database, and lets the reconciler make Docker match.

use std::sync::Arc;

use crate::{
    domain::{DesiredState, InstanceRecord, InstanceStatus, lifecycle::Verb},
    error::ApiError,
    fleet::Source,
    keys,
    reconcile::Reconciler,
};

/// Result of `/process`.
pub enum ProcessOutcome {
    NoChange(InstanceRecord),
    Applied(InstanceRecord),
}

/// A validated `PATCH` body: every field optional, `None` means unchanged.
#[derive(Debug, Default)]
pub struct ConfigChange {
    pub token: Option<String>,
    /// `Some(None)` clears the agent configuration.
    pub agno_config: Option<Option<shared::agent::AgentConfig>>,
    pub memory_limit_mb: Option<i64>,
    pub cpu_millis: Option<i64>,
}

fn current(reconciler: &Reconciler, id: &str) -> Result<InstanceRecord, ApiError> {
    Ok((*reconciler.fleet.get(id)?).clone())
}

pub async fn start(reconciler: &Arc<Reconciler>, id: &str) -> Result<InstanceRecord, ApiError> {
    let _op = reconciler.fleet.locks.try_acquire(id)?;
    Verb::Start.check(id, current(reconciler, id)?.status)?;
    reconciler
        .fleet
        .update(id, Source::Api, |r| {
            r.desired_state = DesiredState::Running;
            r.status = InstanceStatus::Restarting;
            r.status_reason = Some("start requested".into());
            r.crash_count = 0;
            r.next_restart_at = None;
        })
        .await?;
    reconciler.converge(id, Source::Api).await?;
    current(reconciler, id)
}

pub async fn stop(reconciler: &Arc<Reconciler>, id: &str) -> Result<InstanceRecord, ApiError> {
    let _op = reconciler.fleet.locks.try_acquire(id)?;
    Verb::Stop.check(id, current(reconciler, id)?.status)?;
    reconciler
        .fleet
        .update(id, Source::Api, |r| {
            r.desired_state = DesiredState::Stopped;
            r.status = InstanceStatus::Stopping;
            r.status_reason = Some("stop requested".into());
            r.next_restart_at = None;
        })
        .await?;
    reconciler.converge(id, Source::Api).await?;
    current(reconciler, id)
}

/// Stops the worker (SIGTERM) and starts it again; also the way out of `failed`.
pub async fn restart(reconciler: &Arc<Reconciler>, id: &str) -> Result<InstanceRecord, ApiError> {
    let _op = reconciler.fleet.locks.try_acquire(id)?;
    Verb::Restart.check(id, current(reconciler, id)?.status)?;
    reconciler.fleet.runtime.stop_worker(id).await?;
    reconciler
        .fleet
        .update(id, Source::Api, |r| {
            r.desired_state = DesiredState::Running;
            r.status = InstanceStatus::Restarting;
            r.status_reason = Some("restart requested".into());
            r.crash_count = 0;
            r.next_restart_at = None;
            r.health_ok = false;
            r.running_since = None;
        })
        .await?;
    reconciler.converge(id, Source::Api).await?;
    current(reconciler, id)
}

/// Applies the stored configuration: recreates the container when it was built from another one.
pub async fn process(reconciler: &Arc<Reconciler>, id: &str) -> Result<ProcessOutcome, ApiError> {
    let _op = reconciler.fleet.locks.try_acquire(id)?;
    let r = current(reconciler, id)?;
    Verb::Process.check(id, r.status)?;
    let fleet = &reconciler.fleet;
    let up_to_date = r.applied_config_sha256.as_deref() == Some(fleet.config_digest(&r).as_str());
    let running = fleet
        .runtime
        .inspect_worker(id)
        .await?
        .is_some_and(|c| c.running);
    let wants_running = r.desired_state == DesiredState::Running;
    if up_to_date && (running == wants_running) && r.status != InstanceStatus::Failed {
        return Ok(ProcessOutcome::NoChange(r));
    }
    if wants_running {
        if r.status == InstanceStatus::Failed {
            fleet
                .update(id, Source::Api, |r| {
                    r.crash_count = 0;
                    r.status_reason = Some("process requested".into());
                })
                .await?;
        }
        reconciler.recreate(id, Source::Api).await?;
    } else {
        reconciler.converge(id, Source::Api).await?;
    }
    Ok(ProcessOutcome::Applied(current(reconciler, id)?))
}

/// Stores configuration changes; the next `/process` (or restart of a missing container) applies them.
pub async fn update_config(
    reconciler: &Arc<Reconciler>,
    id: &str,
    change: ConfigChange,
) -> Result<InstanceRecord, ApiError> {
    let _op = reconciler.fleet.locks.try_acquire(id)?;
    Verb::Update.check(id, current(reconciler, id)?.status)?;
    let fleet = &reconciler.fleet;
    if let Some(token) = &change.token {
        let digest = keys::sha256_hex(token);
        if let Some(owner) = fleet.store.instance_with_token(&digest).await?
            && owner != id
        {
            return Err(ApiError::Conflict(
                "this bot token is already used by another instance".into(),
            ));
        }
    }
    fleet
        .update(id, Source::Api, |r| {
            if let Some(token) = &change.token {
                r.token = token.clone();
                r.token_sha256 = keys::sha256_hex(token);
            }
            if let Some(agno) = &change.agno_config {
                r.agno_config = agno.clone();
            }
            if let Some(mb) = change.memory_limit_mb {
                r.memory_limit_mb = Some(mb);
            }
            if let Some(millis) = change.cpu_millis {
                r.cpu_millis = Some(millis);
            }
        })
        .await?
        .ok_or_else(|| ApiError::instance_not_found(id))
}

/// Issues a new API key and recreates the worker so that it accepts only the new one. The key is
/// returned this once.
pub async fn rotate_key(
    reconciler: &Arc<Reconciler>,
    id: &str,
) -> Result<(InstanceRecord, String), ApiError> {
    let _op = reconciler.fleet.locks.try_acquire(id)?;
    let r = current(reconciler, id)?;
    Verb::RotateKey.check(id, r.status)?;
    let key = keys::generate(keys::INSTANCE_KEY_PREFIX);
    let now = crate::fleet::now_ms();
    reconciler
        .fleet
        .update(id, Source::Api, |r| {
            r.api_key_sha256 = keys::sha256_hex(&key);
            r.api_key_hint = keys::hint(&key);
            r.api_key_created_at = now;
            r.api_key_usage_count = 0;
            r.api_key_last_used_at = None;
            r.seen_key_uses = 0;
        })
        .await?;
    if r.desired_state == DesiredState::Running && r.status != InstanceStatus::Failed {
        reconciler.recreate(id, Source::Api).await?;
    } else {
        // Not running: the old container must not come back with the old key.
        reconciler.fleet.runtime.remove_worker(id).await?;
    }
    Ok((current(reconciler, id)?, key))
}

/// Marks the instance for deletion and removes it (container, then row; the port is free after).
pub async fn delete(reconciler: &Arc<Reconciler>, id: &str) -> Result<(), ApiError> {
    let _op = reconciler.fleet.locks.try_acquire(id)?;
    current(reconciler, id)?;
    reconciler
        .fleet
        .update(id, Source::Api, |r| {
            r.status = InstanceStatus::Deleting;
            r.status_reason = Some("deletion requested".into());
        })
        .await?;
    reconciler.converge(id, Source::Api).await?;
    Ok(())
}
