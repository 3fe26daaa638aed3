//! An instance as the manager stores it: one row of `instances`, mirrored by the cache.

use shared::{Provider, agent::AgentConfig};

pub use shared::api::instances::{AuthStatus, DesiredState, InstanceStatus, Interface};

/// One instance, every column. Secrets (`token`, `control_key`) stay inside the manager: API views are
/// built field by field and never serialize this struct whole.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceRecord {
    pub id: String,
    pub user_id: String,
    pub provider: Provider,
    pub type_instance: Vec<Interface>,
    pub display_name: String,
    pub token: String,
    pub token_sha256: String,
    pub api_key_sha256: String,
    /// The first characters of the API key, enough for a user to tell keys apart.
    pub api_key_hint: String,
    pub api_key_created_at: i64,
    pub control_key: String,
    pub port: u16,
    pub agno_config: Option<AgentConfig>,
    pub status: InstanceStatus,
    pub status_reason: Option<String>,
    pub auth_status: AuthStatus,
    pub account: Option<String>,
    pub bot_username: Option<String>,
    pub bot_id: Option<i64>,
    pub container_id: Option<String>,
    pub health_ok: bool,
    pub last_health_at: Option<i64>,
    pub health_check_count: i64,
    pub consecutive_failures: i64,
    pub sent_count: i64,
    pub received_count: i64,
    pub restart_count: i64,
    pub error_count: i64,
    pub last_error: Option<String>,
    pub desired_state: DesiredState,
    /// Digest of the configuration the current container was created with (`None`: no container yet).
    pub applied_config_sha256: Option<String>,
    /// When the worker last became healthy after a start (unix ms).
    pub running_since: Option<i64>,
    /// When the bot last had a long poll answered by Telegram (unix ms, from the worker's report).
    pub last_poll_at: Option<i64>,
    /// Crashes in a row; reset once the worker has run stably.
    pub crash_count: i64,
    /// When a crashed worker may be started again (unix ms).
    pub next_restart_at: Option<i64>,
    pub health_fail_count: i64,
    pub api_key_usage_count: i64,
    pub api_key_last_used_at: Option<i64>,
    /// Per-instance limits; `None` means the manager's defaults.
    pub memory_limit_mb: Option<i64>,
    pub cpu_millis: Option<i64>,
    /// The worker's own counters at the last poll (they restart at zero with the worker).
    pub seen_sent: i64,
    pub seen_received: i64,
    pub seen_key_uses: i64,
    /// Placement constraints the runtime honours (`node.labels.region==eu`); Swarm only.
    pub placement: Vec<String>,
    /// Bumped by every change a user makes to the spec; the reconciler records the one it acted on.
    pub revision: i64,
    /// The revision of the last verb that asked for a fresh worker (start, restart, process, key
    /// rotation): a converge that has not observed it yet recreates the worker.
    pub restart_revision: i64,
    /// A user asked for deletion; the reconciler removes the worker, then the row.
    pub deleting: bool,
    /// The spec revision the reconciler last converged (status).
    pub observed_revision: i64,
    /// Where the manager reaches the worker's API (`host:port`), as the runtime reported it (status).
    pub endpoint: Option<String>,
    /// The host (Docker engine or Swarm node) the worker runs on (status).
    pub host_id: Option<String>,
    /// Bumped by every write; the cache keeps the highest version it has seen.
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl InstanceRecord {
    /// Whether a verb the user made is still waiting for the reconciler.
    pub fn is_converging(&self) -> bool {
        self.observed_revision < self.revision
    }

    pub fn is_ready_for_messages(&self) -> bool {
        self.auth_status == AuthStatus::ClientReady && self.health_ok
    }

    /// `@username` as the replaced system showed it in `phone_number`.
    pub fn handle(&self) -> Option<String> {
        self.bot_username.as_ref().map(|u| format!("@{u}"))
    }
}
