//! The health poller: asks every worker for its health and status with bounded concurrency and short
//! timeouts, and writes what it learns through the fleet service (database, then cache).

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use shared::worker_api::{BotState, HealthResponse, HealthStatus, StatusResponse};
use tokio::sync::watch;

use crate::{
    domain::{AuthStatus, InstanceRecord, InstanceStatus},
    fleet::{Fleet, now_ms},
};

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What one round of checks learned about a worker.
#[derive(Debug, Clone)]
pub enum Probe {
    /// The worker's API did not answer.
    Unreachable(String),
    /// The worker answered its health check (and its status, when that worked too).
    Reported {
        healthy: bool,
        status: Option<StatusResponse>,
    },
}

/// Talks to workers over HTTP.
pub struct Prober {
    client: reqwest::Client,
    /// Where the manager reaches published worker ports.
    host: String,
}

impl Prober {
    pub fn new(host: String) -> Self {
        let client = reqwest::Client::builder()
            .timeout(PROBE_TIMEOUT)
            .pool_max_idle_per_host(1)
            .build()
            .unwrap_or_default();
        Self { client, host }
    }

    pub async fn probe(&self, r: &InstanceRecord) -> Probe {
        let base = format!("http://{}:{}/api/v1", self.host, r.port);
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
            .ok();
        Probe::Reported {
            healthy: health.status == HealthStatus::Healthy,
            status,
        }
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

/// Folds a probe into the instance's record. Pure, so the rules are unit-tested.
pub fn apply(r: &mut InstanceRecord, probe: &Probe, now: i64) {
    r.health_check_count += 1;
    match probe {
        Probe::Unreachable(error) => {
            r.health_ok = false;
            r.consecutive_failures += 1;
            r.last_error = Some(format!("health check failed: {error}"));
            if r.status == InstanceStatus::Running {
                r.status = InstanceStatus::Degraded;
                r.status_reason = Some(format!("worker API unreachable: {error}"));
            }
        }
        Probe::Reported { healthy, status } => {
            r.consecutive_failures = 0;
            r.last_health_at = Some(now);
            let mut bot_error = None;
            let mut auth_failed = false;
            if let Some(s) = status {
                r.sent_count = s.messages.sent as i64;
                r.received_count = s.messages.received as i64;
                if let Some(info) = &s.info {
                    r.account = Some(info.first_name.clone());
                    r.bot_username = info.username.clone();
                    r.bot_id = i64::try_from(info.id).ok();
                }
                bot_error = s.last_error.clone();
                auth_failed = s.state == BotState::AuthFailed;
            }
            let bot_error = bot_error.unwrap_or_else(|| "not connected yet".into());
            if *healthy {
                r.health_ok = true;
                r.auth_status = AuthStatus::ClientReady;
                if r.status != InstanceStatus::Running {
                    r.status = InstanceStatus::Running;
                    r.status_reason = Some("bot connected to Telegram".into());
                }
            } else if auth_failed {
                r.health_ok = false;
                r.auth_status = AuthStatus::Failed;
                if r.status != InstanceStatus::Failed {
                    r.status = InstanceStatus::Failed;
                    r.status_reason = Some(format!("Telegram refused the bot token: {bot_error}"));
                    r.error_count += 1;
                    r.last_error = r.status_reason.clone();
                }
            } else {
                r.health_ok = false;
                if r.status == InstanceStatus::Running {
                    r.status = InstanceStatus::Degraded;
                    r.status_reason = Some(format!("bot not connected to Telegram: {bot_error}"));
                }
            }
        }
    }
}

/// Whether the poller should look at an instance in this state.
fn is_polled(status: InstanceStatus) -> bool {
    !matches!(status, InstanceStatus::Creating | InstanceStatus::Deleting)
}

/// Probes one instance and records the result; returns the stored record.
pub async fn check(fleet: &Fleet, prober: &Prober, id: &str) -> Option<InstanceRecord> {
    let record = fleet.cache.get(id)?;
    if !is_polled(record.status) {
        return Some((*record).clone());
    }
    let probe = prober.probe(&record).await;
    let now = now_ms();
    match fleet.update(id, |r| apply(r, &probe, now)).await {
        Ok(saved) => saved,
        Err(e) => {
            tracing::warn!(instance_id = %id, error = %e, "could not record a health check");
            None
        }
    }
}

/// One pass over the whole fleet, at most `concurrency` checks at a time.
pub async fn run_once(fleet: &Fleet, prober: &Prober, concurrency: usize) {
    let ids: Vec<String> = fleet
        .cache
        .list()
        .iter()
        .filter(|r| is_polled(r.status))
        .map(|r| r.id.clone())
        .collect();
    futures::stream::iter(ids)
        .for_each_concurrent(concurrency.max(1), |id| async move {
            check(fleet, prober, &id).await;
        })
        .await;
}

/// Polls every `interval` until `stop` turns true.
pub async fn run(
    fleet: Arc<Fleet>,
    prober: Arc<Prober>,
    interval: Duration,
    concurrency: usize,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let stopped = tokio::select! {
            _ = ticker.tick() => false,
            _ = stop.wait_for(|s| *s) => true,
        };
        if stopped {
            return;
        }
        run_once(&fleet, &prober, concurrency).await;
    }
}

/// Checks one instance every 250 ms until it is running or failed, or `timeout` passes.
pub async fn wait_until_settled(
    fleet: &Fleet,
    prober: &Prober,
    id: &str,
    timeout: Duration,
) -> Option<InstanceRecord> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let record = check(fleet, prober, id).await?;
        let settled = matches!(
            record.status,
            InstanceStatus::Running | InstanceStatus::Failed
        );
        if settled || tokio::time::Instant::now() >= deadline {
            return Some(record);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::worker_api::{BotInfo, ConnectionStatus, MessageCounts};

    fn record(status: InstanceStatus) -> InstanceRecord {
        InstanceRecord {
            id: "i".into(),
            user_id: "u".into(),
            provider: "telegram".into(),
            type_instance: vec!["api".into()],
            display_name: "telegram_api".into(),
            token: "t".into(),
            token_sha256: "h".into(),
            api_key_sha256: "k".into(),
            api_key_hint: "bfk_…".into(),
            api_key_created_at: 0,
            control_key: "c".into(),
            port: 3001,
            agno_config: None,
            status,
            status_reason: None,
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
            version: 1,
            created_at: 0,
            updated_at: 0,
        }
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
            last_error: Some("Unauthorized".into()),
        }
    }

    #[test]
    fn a_healthy_report_makes_the_instance_running_and_ready() {
        let mut r = record(InstanceStatus::Starting);
        let info = BotInfo {
            id: 7,
            first_name: "Sales".into(),
            username: Some("sales_bot".into()),
            is_bot: true,
        };
        let probe = Probe::Reported {
            healthy: true,
            status: Some(status(BotState::Ready, Some(info))),
        };
        apply(&mut r, &probe, 42);
        assert_eq!(r.status, InstanceStatus::Running);
        assert_eq!(r.auth_status, AuthStatus::ClientReady);
        assert!(r.is_ready_for_messages());
        assert_eq!(r.handle().as_deref(), Some("@sales_bot"));
        assert_eq!((r.sent_count, r.received_count), (3, 4));
        assert_eq!(r.last_health_at, Some(42));
    }

    #[test]
    fn a_refused_token_fails_the_instance_once() {
        let mut r = record(InstanceStatus::Starting);
        let probe = Probe::Reported {
            healthy: false,
            status: Some(status(BotState::AuthFailed, None)),
        };
        apply(&mut r, &probe, 1);
        apply(&mut r, &probe, 2);
        assert_eq!(r.status, InstanceStatus::Failed);
        assert_eq!(r.auth_status, AuthStatus::Failed);
        assert_eq!(r.error_count, 1);
    }

    #[test]
    fn an_unreachable_running_worker_is_degraded() {
        let mut r = record(InstanceStatus::Running);
        r.health_ok = true;
        apply(&mut r, &Probe::Unreachable("refused".into()), 1);
        assert_eq!(r.status, InstanceStatus::Degraded);
        assert!(!r.health_ok);
        assert_eq!(r.consecutive_failures, 1);
        let mut s = record(InstanceStatus::Starting);
        apply(&mut s, &Probe::Unreachable("refused".into()), 1);
        assert_eq!(s.status, InstanceStatus::Starting);
    }
}
