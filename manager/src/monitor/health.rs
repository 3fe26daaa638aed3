//! The health poller: asks every worker for its health and status with bounded concurrency and short
//! timeouts, and writes what it learns through the fleet service (database, then cache).

use std::{collections::HashMap, sync::Arc, time::Duration};

use futures::StreamExt;
use shared::{
    ErrorBody,
    webhook::WebhookConfigView,
    worker_api::{
        BotState, EventAck, EventBatch, HealthResponse, HealthStatus, IDEMPOTENCY_KEY_HEADER,
        SendRequest, SendResponse, StatusResponse, WorkerReport,
    },
};
use tokio::sync::watch;

use super::collectors::Collectors;
use crate::{
    domain::{AuthStatus, DesiredState, InstanceRecord, InstanceStatus},
    fleet::{Fleet, Source, now_ms},
    reconcile::CrashPolicy,
};

/// How long a health request (and a long poll beyond its wait) may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What one round of checks learned about a worker.
#[derive(Debug, Clone)]
pub enum Probe {
    /// The worker's API did not answer.
    Unreachable(String),
    /// The worker answered its health check (and its status, when that worked too).
    Reported {
        healthy: bool,
        status: Option<Box<StatusResponse>>,
    },
}

impl From<WorkerReport> for Probe {
    fn from(report: WorkerReport) -> Self {
        Probe::Reported {
            healthy: report.health == HealthStatus::Healthy,
            status: Some(Box::new(report.status)),
        }
    }
}

/// What one event collection brought.
#[derive(Debug, Default)]
pub struct Collected {
    /// Events the worker handed over.
    pub received: usize,
    /// The worker's health and status as of its last answer, when asked for.
    pub report: Option<WorkerReport>,
}

/// Why an event collection failed.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// The worker refused the request as malformed (HTTP 400): one older than this manager, which
    /// knows no `status` parameter.
    #[error("the worker refused the request: {0}")]
    Refused(String),
    #[error("{0}")]
    Failed(String),
}

/// What a worker's `/health` alone says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quick {
    Healthy,
    Unhealthy,
    Unreachable,
}

/// Why a worker did not send: it could not be reached (`status` is `None`) or it answered an error.
#[derive(Debug, Clone)]
pub struct SendFailure {
    pub status: Option<u16>,
    /// The worker's error body, when it answered one.
    pub error: Option<ErrorBody>,
    pub message: String,
    /// `Retry-After` seconds of a 429.
    pub retry_after: Option<u64>,
}

impl SendFailure {
    fn unreachable(message: impl Into<String>) -> Self {
        Self {
            status: None,
            error: None,
            message: message.into(),
            retry_after: None,
        }
    }
}

/// Talks to workers over HTTP.
pub struct Prober {
    client: reqwest::Client,
    /// Hands a worker that runs by an older configuration (restarted from its start file) the current.
    control: crate::worker_control::WorkerControl,
    /// Decides when a running worker's crash count is forgotten.
    pub policy: CrashPolicy,
}

impl Prober {
    pub fn new(policy: CrashPolicy) -> Self {
        let client = reqwest::Client::builder()
            .timeout(PROBE_TIMEOUT)
            .pool_max_idle_per_host(1)
            .build()
            .unwrap_or_default();
        Self {
            client,
            control: Default::default(),
            policy,
        }
    }

    /// The worker's API base URL, at the endpoint the runtime reported (none before it first ran).
    fn base(r: &InstanceRecord) -> Result<String, String> {
        r.endpoint
            .as_deref()
            .map(|e| format!("http://{e}/api/v1"))
            .ok_or_else(|| "the worker has no endpoint yet".to_string())
    }

    /// Only the worker's `/health`, with a short timeout: cheap enough to ask often.
    pub async fn quick_health(&self, r: &InstanceRecord) -> Quick {
        let Ok(base) = Self::base(r) else {
            return Quick::Unreachable;
        };
        let url = format!("{base}/health");
        let answer = self
            .client
            .get(url)
            .timeout(Duration::from_millis(500))
            .send()
            .await;
        let Ok(response) = answer else {
            return Quick::Unreachable;
        };
        match response.json::<HealthResponse>().await {
            Ok(h) if h.status == HealthStatus::Healthy => Quick::Healthy,
            _ => Quick::Unhealthy,
        }
    }

    pub async fn probe(&self, r: &InstanceRecord) -> Probe {
        let base = match Self::base(r) {
            Ok(base) => base,
            Err(e) => return Probe::Unreachable(e),
        };
        let health = match self
            .get_json::<HealthResponse>(&format!("{base}/health"), None)
            .await
        {
            Ok(h) => h,
            Err(e) => return Probe::Unreachable(e),
        };
        let status = self
            .get_json::<StatusResponse>(&format!("{base}/status"), Some(&r.control_key))
            .await
            .ok()
            .map(Box::new);
        Probe::Reported {
            healthy: health.status == HealthStatus::Healthy,
            status,
        }
    }

    /// Moves the worker's pending events into the database, then lets the worker forget them. An event
    /// stored but not acknowledged (the manager stopped in between) comes again and is stored once.
    /// With `wait`, the first request is a long poll: it returns as soon as the worker has an event.
    pub async fn collect_events(
        &self,
        fleet: &Fleet,
        r: &InstanceRecord,
        wait: Duration,
        with_status: bool,
    ) -> Result<Collected, CollectError> {
        let failed = |e: String| CollectError::Failed(e);
        let base = Self::base(r).map_err(failed)?;
        let status = if with_status { "&status=true" } else { "" };
        let mut collected = Collected::default();
        // A few batches per round at most; the rest waits for the next round.
        for round in 0..4 {
            let wait_ms = if round == 0 { wait.as_millis() } else { 0 };
            let response = self
                .client
                .get(format!("{base}/events?limit=500&wait_ms={wait_ms}{status}"))
                .bearer_auth(&r.control_key)
                .timeout(PROBE_TIMEOUT + Duration::from_millis(wait_ms as u64))
                .send()
                .await
                .map_err(|e| failed(e.without_url().to_string()))?;
            if response.status() == reqwest::StatusCode::BAD_REQUEST {
                let body = response.text().await.unwrap_or_default();
                return Err(CollectError::Refused(body));
            }
            let mut batch: EventBatch = response
                .error_for_status()
                .map_err(|e| failed(e.without_url().to_string()))?
                .json()
                .await
                .map_err(|e| failed(e.to_string()))?;
            if let Some(report) = batch.report.take() {
                collected.report = Some(report);
            }
            let Some(last) = batch.events.last().map(|e| e.seq) else {
                break;
            };
            let (_, logged) = fleet
                .store
                .store_events(&r.id, &batch.events, conversation_ttl_ms(r))
                .await
                .map_err(|e| failed(e.to_string()))?;
            fleet.observed.messages_stored(&r.id);
            collected.received += batch.events.len();
            fleet.publish(logged);
            self.client
                .post(format!("{base}/events/ack"))
                .bearer_auth(&r.control_key)
                .json(&EventAck { up_to: last })
                .send()
                .await
                .and_then(|resp| resp.error_for_status())
                .map_err(|e| failed(e.to_string()))?;
            if batch.events.len() < 500 {
                break;
            }
        }
        Ok(collected)
    }

    /// Hands the manager's webhook configuration to the worker (which shows it on its own API).
    pub async fn push_webhook(
        &self,
        r: &InstanceRecord,
        view: &WebhookConfigView,
    ) -> Result<(), String> {
        self.client
            .put(format!("{}/control/webhook", Self::base(r)?))
            .bearer_auth(&r.control_key)
            .json(view)
            .send()
            .await
            .and_then(|resp| resp.error_for_status())
            .map_err(|e| e.without_url().to_string())?;
        Ok(())
    }

    /// Sends the stored webhook configuration when the worker holds another one (it holds none after a
    /// restart). Runs after the event collection, which has stored any change made on the worker.
    async fn sync_webhook(
        &self,
        fleet: &Fleet,
        r: &InstanceRecord,
        worker_has: Option<i64>,
        versions: Option<&HashMap<String, i64>>,
    ) -> Result<(), String> {
        if versions.is_some_and(|v| v.get(&r.id).copied() == worker_has) {
            return Ok(());
        }
        let stored = fleet
            .store
            .webhook(&r.id)
            .await
            .map_err(|e| e.to_string())?;
        let view = stored.map_or_else(WebhookConfigView::none, |w| w.view());
        if view.updated_at != worker_has {
            self.push_webhook(r, &view).await?;
        }
        Ok(())
    }

    /// Asks the worker to send one text message (`POST /api/v1/send`, control key), with
    /// `idempotency_key` so that a repeat of this request (after a timeout, a crash) sends nothing
    /// more: the worker answers it with the first answer.
    pub async fn send_message(
        &self,
        r: &InstanceRecord,
        idempotency_key: &str,
        request: &SendRequest,
        timeout: Duration,
    ) -> Result<SendResponse, SendFailure> {
        let base = Self::base(r).map_err(SendFailure::unreachable)?;
        let response = self
            .client
            .post(format!("{base}/send"))
            .bearer_auth(&r.control_key)
            .header(IDEMPOTENCY_KEY_HEADER, idempotency_key)
            .json(request)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| SendFailure::unreachable(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let bytes = response
            .bytes()
            .await
            .map_err(|e| SendFailure::unreachable(e.without_url().to_string()))?;
        if status == 200 {
            return serde_json::from_slice::<SendResponse>(&bytes).map_err(|e| SendFailure {
                status: Some(status),
                error: None,
                message: format!("the worker's answer did not read: {e}"),
                retry_after: None,
            });
        }
        let error = serde_json::from_slice::<ErrorBody>(&bytes).ok();
        Err(SendFailure {
            status: Some(status),
            message: error
                .as_ref()
                .map(|e| e.error.clone())
                .unwrap_or_else(|| format!("the worker answered {status}")),
            error,
            retry_after,
        })
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        bearer: Option<&str>,
    ) -> Result<T, String> {
        let mut request = self.client.get(url);
        if let Some(key) = bearer {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        let response = response.error_for_status().map_err(|e| e.to_string())?;
        response.json::<T>().await.map_err(|e| e.to_string())
    }
}

/// Missed health checks in a row after which a running worker is degraded.
pub const UNREACHABLE_CHECKS_TO_DEGRADE: i64 = 2;

/// How much a worker counter grew since it was last seen; a smaller value means the worker restarted
/// and counted from zero again.
/// How long a chat may stay silent before its next message starts a new conversation (the bot's
/// `conversation_ttl_hours`).
fn conversation_ttl_ms(r: &InstanceRecord) -> i64 {
    let hours = r
        .agno_config
        .as_ref()
        .map_or(shared::agent::DEFAULT_CONVERSATION_TTL_HOURS, |c| {
            c.conversation_ttl_hours()
        });
    i64::from(hours) * 3_600_000
}

fn growth(now: u64, seen: i64) -> i64 {
    let now = now as i64;
    if now >= seen { now - seen } else { now }
}

/// Folds a probe into the instance's record. Pure, so the rules are unit-tested. Health only moves an
/// instance between `starting`, `running`, `degraded` and (refused token) `failed`; every other state
/// belongs to the user's verbs and the reconciler.
pub fn apply(r: &mut InstanceRecord, probe: &Probe, now: i64, policy: &CrashPolicy) {
    r.health_check_count += 1;
    let in_health_states = r.desired_state == DesiredState::Running
        && matches!(
            r.status,
            InstanceStatus::Starting | InstanceStatus::Running | InstanceStatus::Degraded
        );
    match probe {
        Probe::Unreachable(error) => {
            r.consecutive_failures += 1;
            r.health_fail_count += 1;
            // `health_ok` (and so `is_ready_for_messages`) follows the same rule as the status.
            if r.consecutive_failures >= UNREACHABLE_CHECKS_TO_DEGRADE {
                r.health_ok = false;
            }
            // One missed check under load is not an outage; two in a row are.
            if in_health_states
                && r.status != InstanceStatus::Starting
                && r.consecutive_failures >= UNREACHABLE_CHECKS_TO_DEGRADE
            {
                r.status = InstanceStatus::Degraded;
                r.status_reason = Some(format!("worker API unreachable: {error}"));
            }
        }
        Probe::Reported { healthy, status } => {
            r.consecutive_failures = 0;
            r.last_health_at = Some(now);
            let mut bot_error = None;
            let mut auth_failed = false;
            let mut poll_age = None;
            if let Some(s) = status {
                let (sent, received, uses) =
                    (s.messages.sent, s.messages.received, s.api_key_usage.uses);
                r.sent_count += growth(sent, r.seen_sent);
                r.received_count += growth(received, r.seen_received);
                r.api_key_usage_count += growth(uses, r.seen_key_uses);
                (r.seen_sent, r.seen_received, r.seen_key_uses) =
                    (sent as i64, received as i64, uses as i64);
                if let Some(age) = s.api_key_usage.last_used_age_ms {
                    r.api_key_last_used_at = Some(now - age as i64);
                }
                if let Some(age) = s.last_poll_age_ms {
                    r.last_poll_at = Some(now - age as i64);
                    poll_age = Some(age as i64);
                }
                if let Some(info) = &s.info {
                    r.account = Some(info.first_name.clone());
                    r.bot_username = info.username.clone();
                    r.bot_id = Some(info.id.clone());
                }
                bot_error = s.last_error.clone();
                auth_failed = s.state == BotState::AuthFailed;
                r.applied_config_revision = Some(s.config_revision);
            }
            let bot_error = bot_error.unwrap_or_else(|| "not connected yet".into());
            // Healthy and polling: the bot is alive. A bot that stopped polling is not, whatever its
            // health endpoint says.
            let stale_poll =
                poll_age.is_some_and(|age| age > r.provider.capabilities().stale_after_ms());
            if *healthy && !stale_poll {
                r.health_ok = true;
                r.auth_status = AuthStatus::ClientReady;
                if in_health_states && r.status != InstanceStatus::Running {
                    r.status = InstanceStatus::Running;
                    r.status_reason =
                        Some(format!("bot connected to {}", r.provider.display_name()));
                    r.running_since = Some(now);
                }
                policy.note_running(r, now);
            } else if auth_failed {
                r.health_ok = false;
                r.auth_status = AuthStatus::Failed;
                if in_health_states {
                    r.status = InstanceStatus::Failed;
                    r.status_reason = Some(format!(
                        "{} refused the bot's credentials: {bot_error}",
                        r.provider.display_name()
                    ));
                    r.error_count += 1;
                    r.last_error = r.status_reason.clone();
                }
            } else {
                r.health_ok = false;
                r.health_fail_count += 1;
                if in_health_states && r.status == InstanceStatus::Running {
                    r.status = InstanceStatus::Degraded;
                    r.status_reason = Some(if stale_poll {
                        format!(
                            "bot has not heard from {} for {} s: {bot_error}",
                            r.provider.display_name(),
                            poll_age.unwrap_or(0) / 1000
                        )
                    } else {
                        format!(
                            "bot not connected to {}: {bot_error}",
                            r.provider.display_name()
                        )
                    });
                }
            }
        }
    }
}

/// Whether the poller should look at an instance in this state.
fn is_polled(status: InstanceStatus) -> bool {
    matches!(
        status,
        InstanceStatus::Starting
            | InstanceStatus::Running
            | InstanceStatus::Degraded
            | InstanceStatus::Failed
    )
}

/// What a health round knows before it checks a worker, so that an idle worker costs no more than its
/// health and status requests.
#[derive(Default, Clone, Copy)]
pub struct RoundFacts<'a> {
    /// A long-polling collector is live for the worker: its events are left to that collector (one
    /// request less per bot and round: at 2,000 bots, 400 a second).
    pub collecting: bool,
    /// Every instance's webhook version, read once for the round.
    pub webhook_versions: Option<&'a HashMap<String, i64>>,
}

/// Probes one instance and records the result; returns the stored record.
pub async fn check(
    fleet: &Fleet,
    prober: &Prober,
    id: &str,
    facts: RoundFacts<'_>,
) -> Option<InstanceRecord> {
    let current = fleet.cache.get(id)?;
    if !is_polled(current.status) {
        return Some((*current).clone());
    }
    let probe = prober.probe(&current).await;
    record(fleet, prober, id, probe, facts).await
}

/// Records what a check (or an event collector's report) learned about a worker: hands it a newer bot
/// configuration when it runs an older one, collects its events (unless its collector does), hands it
/// the webhook configuration when it holds another, and folds the probe into the instance (`apply`).
/// Returns the stored record.
pub async fn record(
    fleet: &Fleet,
    prober: &Prober,
    id: &str,
    mut probe: Probe,
    facts: RoundFacts<'_>,
) -> Option<InstanceRecord> {
    let policy = prober.policy;
    let record = fleet.cache.get(id)?;
    if let Probe::Reported {
        status: Some(s), ..
    } = &mut probe
        && s.config_revision < record.config_revision
    {
        match prober.control.push_config(&record).await {
            Ok(applied) => (s.config_revision, s.paused) = (applied.revision, applied.paused),
            Err(e) => {
                tracing::warn!(instance_id = %id, error = %e, "could not hand the bot configuration to the worker")
            }
        }
    }
    if let Probe::Reported {
        status: Some(s), ..
    } = &probe
    {
        crate::metrics::record_send_latency(&record, s.send_latency_ms_total, s.messages.sent);
        let collected = if facts.collecting {
            Ok(Collected::default())
        } else {
            prober
                .collect_events(fleet, &record, Duration::ZERO, false)
                .await
        };
        match collected {
            Ok(_) => {
                if let Err(e) = prober
                    .sync_webhook(fleet, &record, s.webhook_updated_at, facts.webhook_versions)
                    .await
                {
                    tracing::warn!(instance_id = %id, error = %e, "could not hand the webhook configuration to the worker");
                }
            }
            Err(e) => {
                tracing::warn!(instance_id = %id, error = %e, "could not collect worker events")
            }
        }
    }
    let now = now_ms();
    match fleet
        .update(id, Source::Health, |r| apply(r, &probe, now, &policy))
        .await
    {
        Ok(saved) => saved,
        Err(e) => {
            tracing::warn!(instance_id = %id, error = %e, "could not record a health check");
            None
        }
    }
}

/// One pass over the whole fleet, at most `concurrency` checks at a time. A worker whose event collector
/// reported lately is not checked again: the report was the check.
async fn run_once(fleet: &Fleet, prober: &Prober, collectors: &Collectors, concurrency: usize) {
    let started = std::time::Instant::now();
    let polled: Vec<String> = fleet
        .cache
        .list()
        .iter()
        .filter(|r| is_polled(r.status))
        .map(|r| r.id.clone())
        .collect();
    let workers = polled.len();
    let versions = match fleet.store.webhook_versions().await {
        Ok(versions) => Some(Arc::new(versions)),
        Err(e) => {
            tracing::warn!(error = %e, "could not read the webhook versions; each check reads its own");
            None
        }
    };
    collectors.set_webhook_versions(versions.clone());
    let versions = versions.as_deref();
    let ids: Vec<String> = polled
        .into_iter()
        .filter(|id| !collectors.reported_lately(id))
        .collect();
    let probed = ids.len();
    futures::stream::iter(ids)
        .for_each_concurrent(concurrency.max(1), |id| async move {
            let facts = RoundFacts {
                collecting: collectors.is_collecting(&id),
                webhook_versions: versions,
            };
            check(fleet, prober, &id, facts).await;
        })
        .await;
    metrics::gauge!("botfleet_health_round_seconds").set(started.elapsed().as_secs_f64());
    metrics::gauge!("botfleet_health_round_workers").set(workers as f64);
    metrics::gauge!("botfleet_health_round_probed").set(probed as f64);
    // However a running worker was last checked (a round or its collector's report), how long ago.
    let now = now_ms();
    let oldest = fleet
        .cache
        .list()
        .iter()
        .filter(|r| r.status == InstanceStatus::Running)
        .filter_map(|r| r.last_health_at)
        .map(|at| now - at)
        .max()
        .unwrap_or(0);
    metrics::gauge!("botfleet_health_oldest_check_seconds").set(oldest as f64 / 1000.0);
}

/// Polls every `interval` until `stop` turns true.
pub async fn run(
    fleet: Arc<Fleet>,
    prober: Arc<Prober>,
    interval: Duration,
    concurrency: usize,
    stop: watch::Receiver<bool>,
) {
    // The collectors end with the loop (a stop, or the end of this manager's lead).
    let collectors = Arc::new(Collectors::new(interval, stop.clone()));
    let mut every = super::Every::new(interval, stop);
    while every.tick().await {
        run_once(&fleet, &prober, &collectors, concurrency).await;
        collectors.ensure_all(&fleet, &prober);
    }
}

/// Waits until the instance is past starting (running, failed, …) or `timeout` passes, and returns it as
/// it is then. The start follower (`monitor::follow`) and the health loop do the checking; this only
/// watches the cache, so a waiting request adds no load.
pub async fn wait_until_settled(
    fleet: &Fleet,
    id: &str,
    timeout: Duration,
) -> Option<InstanceRecord> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut changes = fleet.cache.subscribe();
    loop {
        let record = fleet.cache.get(id)?;
        let settled = !matches!(
            record.status,
            InstanceStatus::Creating | InstanceStatus::Starting
        );
        if settled {
            return Some((*record).clone());
        }
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return Some((*record).clone()) },
            _ = tokio::time::sleep_until(deadline) => return Some((*record).clone()),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use shared::worker_api::{BotInfo, ConnectionStatus, KeyUsage, MessageCounts};

    /// A fresh record in `status`, as provisioning writes it.
    pub(crate) fn record(status: InstanceStatus) -> InstanceRecord {
        let new = crate::domain::NewInstance {
            user_id: "u".into(),
            provider: shared::Provider::Telegram,
            type_instance: vec![crate::domain::Interface::Api],
            credentials: shared::api::credentials::Credentials::telegram("1:t"),
            agno_config: None,
            placement: vec![],
            labels: Default::default(),
            receive: None,
        };
        let mut r = crate::fleet::new_record("i", &new, "h", "bfk_key", (3001, None), 0);
        r.status = status;
        r
    }

    fn status(state: BotState, info: Option<BotInfo>) -> StatusResponse {
        StatusResponse {
            provider: "telegram".into(),
            status: ConnectionStatus::Connected,
            info,
            state,
            messages: MessageCounts {
                sent: 3,
                received: 4,
            },
            last_poll_age_ms: Some(1_000),
            send_latency_ms_total: 0,
            api_key_usage: KeyUsage {
                uses: 2,
                last_used_age_ms: Some(10),
            },
            webhook_updated_at: None,
            config_revision: 1,
            paused: false,
            last_error: Some("Unauthorized".into()),
        }
    }

    #[test]
    fn a_healthy_report_makes_the_instance_running_and_ready() {
        let mut r = record(InstanceStatus::Starting);
        let info = BotInfo {
            id: "7".into(),
            first_name: "Sales".into(),
            username: Some("sales_bot".into()),
            is_bot: true,
        };
        let probe = Probe::Reported {
            healthy: true,
            status: Some(Box::new(status(BotState::Ready, Some(info)))),
        };
        apply(&mut r, &probe, 42, &CrashPolicy::default());
        assert_eq!(r.status, InstanceStatus::Running);
        assert_eq!(r.auth_status, AuthStatus::ClientReady);
        assert!(r.is_ready_for_messages());
        assert_eq!(r.handle().as_deref(), Some("@sales_bot"));
        assert_eq!((r.sent_count, r.received_count), (3, 4));
        assert_eq!(r.api_key_usage_count, 2);
        assert_eq!(r.last_poll_at, Some(42 - 1_000));
        assert_eq!(r.last_health_at, Some(42));
    }

    #[test]
    fn a_refused_token_fails_the_instance_once() {
        let mut r = record(InstanceStatus::Starting);
        let probe = Probe::Reported {
            healthy: false,
            status: Some(Box::new(status(BotState::AuthFailed, None))),
        };
        apply(&mut r, &probe, 1, &CrashPolicy::default());
        apply(&mut r, &probe, 2, &CrashPolicy::default());
        assert_eq!(r.status, InstanceStatus::Failed);
        assert_eq!(r.auth_status, AuthStatus::Failed);
        assert_eq!(r.error_count, 1);
    }

    #[test]
    fn an_unreachable_running_worker_is_degraded() {
        let mut r = record(InstanceStatus::Running);
        r.health_ok = true;
        apply(
            &mut r,
            &Probe::Unreachable("refused".into()),
            1,
            &CrashPolicy::default(),
        );
        assert_eq!(
            r.status,
            InstanceStatus::Running,
            "one miss is not an outage"
        );
        assert!(r.health_ok, "nor does it make the bot unready");
        apply(
            &mut r,
            &Probe::Unreachable("refused".into()),
            2,
            &CrashPolicy::default(),
        );
        assert_eq!(r.status, InstanceStatus::Degraded);
        assert!(!r.health_ok);
        assert_eq!(r.consecutive_failures, 2);
        let mut s = record(InstanceStatus::Starting);
        apply(
            &mut s,
            &Probe::Unreachable("refused".into()),
            1,
            &CrashPolicy::default(),
        );
        assert_eq!(s.status, InstanceStatus::Starting);
    }
}

#[cfg(test)]
mod heartbeat_tests {
    use super::tests::record;
    use super::*;
    use shared::worker_api::{ConnectionStatus, KeyUsage, MessageCounts};

    fn report(sent: u64, poll_age_ms: u64) -> Probe {
        Probe::Reported {
            healthy: true,
            status: Some(Box::new(StatusResponse {
                provider: "telegram".into(),
                status: ConnectionStatus::Connected,
                info: None,
                state: BotState::Ready,
                messages: MessageCounts { sent, received: 0 },
                last_poll_age_ms: Some(poll_age_ms),
                send_latency_ms_total: 0,
                api_key_usage: KeyUsage::default(),
                webhook_updated_at: None,
                config_revision: 1,
                paused: false,
                last_error: None,
            })),
        }
    }

    #[test]
    fn a_bot_that_stopped_polling_is_degraded() {
        let p = CrashPolicy::default();
        let mut r = record(InstanceStatus::Running);
        apply(&mut r, &report(0, 1_000), 100_000, &p);
        assert_eq!(r.status, InstanceStatus::Running);
        apply(&mut r, &report(0, 60_000), 200_000, &p);
        assert_eq!(r.status, InstanceStatus::Degraded);
        assert!(
            r.status_reason
                .as_deref()
                .unwrap()
                .contains("has not heard from Telegram for 60 s")
        );
        // A WhatsApp bot signals every 60 s: 60 s of quiet is normal for it, 200 s is not.
        let mut r = record(InstanceStatus::Running);
        r.provider = shared::Provider::Whatsapp;
        apply(&mut r, &report(0, 60_000), 100_000, &p);
        assert_eq!(r.status, InstanceStatus::Running);
        apply(&mut r, &report(0, 200_000), 200_000, &p);
        assert_eq!(r.status, InstanceStatus::Degraded);
    }

    #[test]
    fn counters_accumulate_across_worker_restarts() {
        let p = CrashPolicy::default();
        let mut r = record(InstanceStatus::Running);
        apply(&mut r, &report(5, 0), 1, &p);
        apply(&mut r, &report(7, 0), 2, &p);
        // The worker restarted and counts from zero again.
        apply(&mut r, &report(2, 0), 3, &p);
        assert_eq!(r.sent_count, 9);
    }

    #[test]
    fn health_does_not_override_a_stopped_instance() {
        let p = CrashPolicy::default();
        let mut r = record(InstanceStatus::Stopping);
        r.desired_state = DesiredState::Stopped;
        apply(&mut r, &report(0, 0), 1, &p);
        assert_eq!(r.status, InstanceStatus::Stopping);
    }
}
