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
    /// Cannot run until a user acts (e.g. Telegram refused the token).
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
            Self::Failed,
            Self::Deleting,
        ]
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
