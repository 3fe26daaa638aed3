//! Platform callbacks in. The route (`api/platform_webhooks.rs`) verifies each platform's way
//! ([`verify`]) and keeps what passed in `platform_callbacks`; the [`Forwarder`] hands each to the
//! instance's worker (`POST /api/v1/control/callback`, control key), retrying with backoff while the worker
//! is down, so a callback is never lost to a restart.

pub mod verify;

use std::{sync::Arc, time::Duration};

use tokio::sync::{Notify, watch};

use crate::{
    fleet::{Fleet, now_ms},
    store::platform_callbacks::DueCallback,
    webhook_delivery::RetryPolicy,
};

/// Callbacks handed on per round, at most.
const BATCH: i64 = 50;
/// Delivered callbacks are listed for a day, then forgotten.
const KEEP_DELIVERED: Duration = Duration::from_secs(24 * 3600);
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Hands kept callbacks to their workers.
pub struct Forwarder {
    fleet: Arc<Fleet>,
    client: reqwest::Client,
    /// Rung by the route when a callback is kept, so it goes out at once.
    arrived: Arc<Notify>,
    policy: RetryPolicy,
}

impl Forwarder {
    pub fn new(fleet: Arc<Fleet>, arrived: Arc<Notify>) -> Result<Self, reqwest::Error> {
        Ok(Self {
            fleet,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
            arrived,
            // Until the worker takes it: the delay doubles from 1 s up to 30 s and stays there.
            policy: RetryPolicy {
                max_attempts: u32::MAX,
                base: Duration::from_secs(1),
                max: Duration::from_secs(30),
            },
        })
    }

    /// Hands callbacks on as they arrive (and at least every `every`) until `stop`.
    pub async fn run(self: Arc<Self>, every: Duration, mut stop: watch::Receiver<bool>) {
        let mut last_prune = tokio::time::Instant::now();
        loop {
            match self.fleet.store.due_callbacks(now_ms(), BATCH).await {
                Ok(due) => {
                    let full = due.len() as i64 == BATCH;
                    for callback in due {
                        self.deliver(callback).await;
                    }
                    if full {
                        continue;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not read the platform callbacks due"),
            }
            if last_prune.elapsed() >= PRUNE_EVERY {
                last_prune = tokio::time::Instant::now();
                let before = now_ms() - KEEP_DELIVERED.as_millis() as i64;
                if let Err(e) = self.fleet.store.prune_callbacks(before).await {
                    tracing::warn!(error = %e, "could not prune delivered platform callbacks");
                }
            }
            tokio::select! {
                _ = self.arrived.notified() => {}
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// One attempt; the outcome is stored.
    async fn deliver(&self, callback: DueCallback) {
        let now = now_ms();
        let outcome = self.attempt(&callback).await;
        let failures = u32::try_from(callback.attempts + 1).unwrap_or(u32::MAX);
        let stored = match &outcome {
            Ok(()) => {
                metrics::counter!("botfleet_platform_callbacks_total", "outcome" => "delivered")
                    .increment(1);
                self.fleet
                    .store
                    .callback_attempted(&callback.id, now, Ok(()))
                    .await
            }
            Err(error) => {
                metrics::counter!("botfleet_platform_callbacks_total", "outcome" => "retry")
                    .increment(1);
                let wait = self.policy.delay_after(failures).unwrap_or(self.policy.max);
                tracing::debug!(callback = %callback.id, error = %error, ?wait, "platform callback not taken yet");
                self.fleet
                    .store
                    .callback_attempted(
                        &callback.id,
                        now,
                        Err((error.as_str(), now + wait.as_millis() as i64)),
                    )
                    .await
            }
        };
        if let Err(e) = stored {
            tracing::warn!(error = %e, "could not record a platform callback attempt");
        }
    }

    async fn attempt(&self, callback: &DueCallback) -> Result<(), String> {
        let r = self
            .fleet
            .cache
            .get(&callback.instance_id)
            .ok_or("the instance is gone")?;
        let endpoint = r.endpoint.as_deref().ok_or("the worker is not running")?;
        let response = self
            .client
            .post(format!("http://{endpoint}/api/v1/control/callback"))
            .bearer_auth(&r.control_key)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(callback.body.clone())
            .send()
            .await
            .map_err(|e| format!("the worker could not be reached: {}", e.without_url()))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else if status == reqwest::StatusCode::UNPROCESSABLE_ENTITY {
            // The worker read it and found no callback of its platform: retrying cannot help. Kept as
            // taken, with the worker's words.
            let words = response.text().await.unwrap_or_default();
            tracing::warn!(callback = %callback.id, "the worker refused a platform callback: {words}");
            Ok(())
        } else {
            Err(format!("the worker answered {status}"))
        }
    }
}
