//! An instance as the manager stores it: one row of `instances`, mirrored by the cache.

use serde::Serialize;
use serde_json::Value;

/// Where an instance is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceStatus {
    /// Row written, port reserved, container not yet started.
    Creating,
    /// Container started; the worker has not reported healthy yet.
    Starting,
    /// Worker healthy and its bot connected.
    Running,
    /// Was running, health checks now fail.
    Degraded,
    /// The worker exited on its own; waiting out the backoff before it is started again.
    Restarting,
    /// Being stopped at the user's request.
    Stopping,
    /// Stopped at the user's request; the container exists but does not run.
    Stopped,
    /// Cannot run until a user acts (Telegram refused the token, or the worker kept crashing).
    Failed,
    /// Being removed.
    Deleting,
}

impl InstanceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Degraded => "degraded",
            Self::Restarting => "restarting",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::Failed => "failed",
            Self::Deleting => "deleting",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Creating,
            Self::Starting,
            Self::Running,
            Self::Degraded,
            Self::Restarting,
            Self::Stopping,
            Self::Stopped,
            Self::Failed,
            Self::Deleting,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// What the user asked for; the reconciler makes Docker match it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DesiredState {
    Running,
    Stopped,
}

impl DesiredState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Stopped => "stopped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Running, Self::Stopped]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// Whether the bot's account is usable, in the vocabulary of the replaced system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthStatus {
    Pending,
    ClientReady,
    Failed,
}

impl AuthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::ClientReady => "client_ready",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::ClientReady, Self::Failed]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// One instance, every column. Secrets (`token`, `control_key`) stay inside the manager: API views are
/// built field by field and never serialize this struct whole.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceRecord {
    pub id: String,
    pub user_id: String,
    pub provider: String,
    pub type_instance: Vec<String>,
    pub display_name: String,
    pub token: String,
    pub token_sha256: String,
    pub api_key_sha256: String,
    /// The first characters of the API key, enough for a user to tell keys apart.
    pub api_key_hint: String,
    pub api_key_created_at: i64,
    pub control_key: String,
    pub port: u16,
    pub agno_config: Option<Value>,
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
    /// Bumped by every write; the cache keeps the highest version it has seen.
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl InstanceRecord {
    pub fn is_ready_for_messages(&self) -> bool {
        self.auth_status == AuthStatus::ClientReady && self.health_ok
    }

    /// `@username` as the replaced system showed it in `phone_number`.
    pub fn handle(&self) -> Option<String> {
        self.bot_username.as_ref().map(|u| format!("@{u}"))
    }
}
