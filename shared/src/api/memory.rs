//! `/api/v1/instances/{id}/memory`: the cached record of an instance in the replaced system's shape.

use serde::{Deserialize, Serialize};

use super::instances::{AuthStatus, DesiredState, InstanceStatus, Interface};
use crate::Provider;

/// Messages the bot sent and received, over every run of its worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageStats {
    pub sent_count: i64,
    pub received_count: i64,
}

/// Health bookkeeping of an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SystemInfo {
    pub health_ok: bool,
    pub restart_count: i64,
    pub health_check_count: i64,
    pub consecutive_failures: i64,
    pub health_fail_count: i64,
    pub crash_count: i64,
    /// RFC 3339: when a crashed worker may be started again.
    pub next_restart_at: Option<String>,
}

/// Errors recorded for an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorInfo {
    pub error_count: i64,
    pub last_error: Option<String>,
}

/// The cached state of an instance, every value taken from the record the database holds. Times are
/// RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemoryView {
    pub instance_id: String,
    pub user_id: String,
    pub provider: Provider,
    pub type_instance: Vec<Interface>,
    pub display_name: String,
    pub port_api: u16,
    /// The port of the bot's MCP server (`type_instance` holds `mcp`).
    pub port_mcp: Option<u16>,
    pub status: InstanceStatus,
    pub status_reason: Option<String>,
    pub desired_state: DesiredState,
    pub auth_status: AuthStatus,
    pub is_ready_for_messages: bool,
    pub account: Option<String>,
    pub phone_number: Option<String>,
    pub bot_id: Option<String>,
    pub container_id: Option<String>,
    pub api_key_hint: String,
    pub api_key_created_at: String,
    pub last_seen: Option<String>,
    pub running_since: Option<String>,
    pub last_poll_at: Option<String>,
    pub api_key_usage_count: i64,
    pub api_key_last_used_at: Option<String>,
    pub message_stats: MessageStats,
    pub system_info: SystemInfo,
    pub error_info: ErrorInfo,
    /// Bumped by every write; the cache keeps the highest it has seen.
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

/// `GET /api/v1/instances/{id}/memory`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemoryResponse {
    pub success: bool,
    pub data: MemoryView,
    /// RFC 3339: when this answer was made.
    pub timestamp: String,
}

/// Fleet-wide counts from the cache.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemoryStats {
    pub total_instances: u64,
    /// Status `running`.
    pub active_instances: u64,
    /// Auth status `client_ready`.
    pub authenticated_instances: u64,
    /// Status `failed` or `degraded`.
    pub error_instances: u64,
    /// Auth status `pending`.
    pub pending_instances: u64,
    /// The manager's resident memory.
    pub memory_usage_mb: u64,
    /// Average time since creation, in hours (three decimals).
    pub avg_uptime_hours: f64,
    pub total_messages_sent: i64,
    pub total_messages_received: i64,
}

/// `GET /api/v1/instances/memory/stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemoryStatsResponse {
    pub success: bool,
    pub stats: MemoryStats,
}
