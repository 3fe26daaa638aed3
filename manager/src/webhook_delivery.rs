//! Delivers queued webhook events: each attempt is a POST of the stored envelope
//! (`shared::webhook::WebhookEnvelope`), signed by `shared::webhook::Signer` (HMAC-SHA256 over
//! `"<timestamp>.<body>"`); a failure is retried with exponential backoff and jitter,
//! and after the last attempt the delivery is dead (listed and replayable through the API).
//!
//! Receivers are user-given URLs: they are called through the guarded client (`netguard`), which
//! refuses loopback, link-local and private destinations unless `--outbound-allow` names them and
//! follows no redirect. A refused destination is dead at once: retrying would refuse it again (the
//! policy is the operator's), and a replay after the URL or the allowlist is fixed sends it.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use futures::StreamExt;
use shared::webhook::{
    HEADER_EVENT_ID, HEADER_EVENT_TYPE, HEADER_SIGNATURE, HEADER_TIMESTAMP, Signer,
};
use tokio::sync::watch;

use crate::{
    fleet::now_ms,
    store::{Store, webhooks::DueDelivery},
};

/// When to try again, and when to give up.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Delay after the first failure; it doubles after each further failure, and up to as much again is
    /// added at random (backon's jitter), so receivers that failed together are not retried together.
    pub base: Duration,
    /// Longest delay.
    pub max: Duration,
}

impl RetryPolicy {
    /// The delay after the `failures`-th failed attempt, or `None` when that was the last attempt.
    pub fn delay_after(&self, failures: u32) -> Option<Duration> {
        if failures >= self.max_attempts {
            return None;
        }
        ExponentialBuilder::default()
            .with_min_delay(self.base)
            .with_max_delay(self.max)
            .with_factor(2.0)
            .with_jitter()
            .with_max_times(self.max_attempts as usize)
            .build()
            .nth(failures.saturating_sub(1) as usize)
    }
}

pub struct Dispatcher {
    store: Store,
    client: netguard::Outbound,
    policy: RetryPolicy,
}

/// Why an attempt failed, and whether trying again could help.
#[derive(Debug)]
struct Failure {
    /// The receiver's HTTP status, when it answered.
    code: Option<u16>,
    reason: String,
    retry: bool,
}

// Finished deliveries (delivered and dead) are forgotten after `--retain-deliveries-days`
// (`crate::retention`).
const COUNT_EVERY: Duration = Duration::from_secs(10);

/// Deliveries taken per round, and sent at once.
const BATCH: i64 = 64;
const IN_FLIGHT: usize = 16;

impl Dispatcher {
    pub fn new(
        store: Store,
        policy: RetryPolicy,
        timeout: Duration,
        outbound: netguard::Policy,
    ) -> anyhow::Result<Self> {
        // A receiver answers itself: the guarded client follows no redirect, which would send signed
        // bodies elsewhere.
        let client = netguard::Outbound::builder(outbound)
            .timeout(timeout)
            .user_agent(concat!("botfleet-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            store,
            client,
            policy,
        })
    }

    /// Sends every delivery due now (up to one batch); returns how many were attempted.
    pub async fn run_once(&self) -> Result<usize, sqlx::Error> {
        let due = self.store.due_deliveries(now_ms(), BATCH).await?;
        let n = due.len();
        futures::stream::iter(due)
            .for_each_concurrent(IN_FLIGHT, |d| async move {
                let outcome = self.attempt(&d).await;
                let failures = u32::try_from(d.attempts + 1).unwrap_or(u32::MAX);
                let next = match &outcome {
                    Err(f) if f.retry => self
                        .policy
                        .delay_after(failures)
                        .map(|delay| now_ms() + delay.as_millis() as i64),
                    _ => None,
                };
                let label = match (&outcome, next) {
                    (Ok(_), _) => "delivered",
                    (Err(_), Some(_)) => "retry",
                    (Err(f), None) if !f.retry => "refused",
                    (Err(_), None) => "dead",
                };
                metrics::counter!("botfleet_webhook_attempts_total", "outcome" => label).increment(1);
                if let Err(f) = &outcome {
                    tracing::warn!(instance_id = %d.instance_id, delivery = %d.id, attempt = failures, error = %f.reason, outcome = label, "webhook delivery failed");
                }
                let outcome = outcome.map_err(|f| (f.code, f.reason));
                if let Err(e) = self.store.record_attempt(&d.id, now_ms(), outcome, next).await {
                    tracing::warn!(delivery = %d.id, error = %e, "could not record a webhook attempt");
                }
            })
            .await;
        Ok(n)
    }

    async fn attempt(&self, d: &DueDelivery) -> Result<u16, Failure> {
        let timestamp = now_ms() / 1000;
        let response = self
            .client
            .post(&d.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(HEADER_EVENT_ID, &d.id)
            .header(HEADER_EVENT_TYPE, &d.event_type)
            .header(HEADER_TIMESTAMP, timestamp.to_string())
            .header(
                HEADER_SIGNATURE,
                Signer::new(&d.secret).sign(timestamp, &d.payload),
            )
            .body(d.payload.clone())
            .send()
            .await
            .map_err(|e| match e {
                netguard::Error::Refused(refused) => Failure {
                    code: None,
                    reason: refused.to_string(),
                    retry: false,
                },
                // Without the URL: its path or query may hold the receiver's own token.
                netguard::Error::Http(e) => Failure {
                    code: None,
                    reason: describe(e),
                    retry: true,
                },
            })?;
        let code = response.status().as_u16();
        if response.status().is_success() {
            Ok(code)
        } else {
            Err(Failure {
                code: Some(code),
                reason: format!("receiver answered HTTP {code}"),
                retry: true,
            })
        }
    }

    /// Works through due deliveries every `interval` until `stop` turns true.
    pub async fn run(self: std::sync::Arc<Self>, interval: Duration, stop: watch::Receiver<bool>) {
        let mut every = crate::monitor::Every::new(interval, stop);
        let mut last_count: Option<std::time::Instant> = None;
        while every.tick().await {
            if last_count.is_none_or(|t| t.elapsed() >= COUNT_EVERY) {
                last_count = Some(std::time::Instant::now());
                if let Ok(counts) = self.store.delivery_counts().await {
                    for status in ["pending", "delivered", "dead"] {
                        let n = counts
                            .iter()
                            .find(|(s, _)| s == status)
                            .map_or(0, |(_, n)| *n);
                        metrics::gauge!("botfleet_webhook_deliveries", "status" => status)
                            .set(n as f64);
                    }
                }
            }
            // A full batch means more are due: go on at once.
            loop {
                match self.run_once().await {
                    Ok(n) if n as i64 == BATCH => continue,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not read webhook deliveries");
                        break;
                    }
                }
            }
        }
    }
}

fn describe(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    format!("{kind}: {}", e.without_url())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_with_jitter_and_stop_after_the_last_attempt() {
        let policy = RetryPolicy {
            max_attempts: 4,
            base: Duration::from_millis(100),
            max: Duration::from_secs(10),
        };
        let first = policy.delay_after(1).unwrap();
        let third = policy.delay_after(3).unwrap();
        assert!(
            first >= Duration::from_millis(100) && first < Duration::from_millis(200),
            "{first:?}"
        );
        assert!(
            third >= Duration::from_millis(400) && third < Duration::from_millis(800),
            "{third:?}"
        );
        assert_eq!(policy.delay_after(4), None);
    }
}
