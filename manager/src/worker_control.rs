//! The manager's control channel to a running worker for what changes without a new container: the bot
//! configuration (agent, prompt, windows, pause). Used by the reconciler, the only code that changes
//! workers.

use std::time::Duration;

use shared::worker_api::ConfigApplied;

use crate::{domain::InstanceRecord, fleet::worker_bot_config_body};

/// How long a push may take; a worker that does not answer gets the configuration at a later converge.
const PUSH_TIMEOUT: Duration = Duration::from_secs(3);

pub struct WorkerControl {
    client: reqwest::Client,
}

impl Default for WorkerControl {
    fn default() -> Self {
        Self {
            client: reqwest::Client::builder()
                .timeout(PUSH_TIMEOUT)
                .pool_max_idle_per_host(1)
                .build()
                .unwrap_or_default(),
        }
    }
}

impl WorkerControl {
    /// Hands `r`'s bot configuration (revision, pause, agent) to its worker.
    pub async fn push_config(&self, r: &InstanceRecord) -> Result<ConfigApplied, String> {
        let endpoint = r
            .endpoint
            .as_deref()
            .ok_or_else(|| "the worker has no endpoint yet".to_string())?;
        let response = self
            .client
            .put(format!("http://{endpoint}/api/v1/control/config"))
            .bearer_auth(&r.control_key)
            .json(&worker_bot_config_body(r))
            .send()
            .await
            .and_then(|resp| resp.error_for_status())
            .map_err(|e| e.without_url().to_string())?;
        response
            .json::<ConfigApplied>()
            .await
            .map_err(|e| e.without_url().to_string())
    }
}
