//! How a user learns that a bot is usable and where its API is: `auth-status`, `credentials`, the API
//! key's metadata and rotation, and the agent test.

use garde::Validate;
use serde::{Deserialize, Serialize};

use super::instances::{AuthStatus, InstanceStatus};
use crate::agent::AgentKind;

/// `GET /api/v1/instances/{id}/auth-status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuthStatusResponse {
    pub success: bool,
    pub auth_status: AuthStatus,
    pub status: InstanceStatus,
    pub is_ready_for_messages: bool,
    pub account: Option<String>,
    /// `@username`.
    pub phone_number: Option<String>,
    /// RFC 3339: the last answered health check.
    pub last_seen: Option<String>,
    pub reason: Option<String>,
}

/// `GET /api/v1/instances/{id}/credentials`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CredentialsResponse {
    pub success: bool,
    /// The first characters of the key, enough to tell keys apart.
    pub api_key_hint: String,
    /// `http://<public host>:<port>/api/v1`.
    pub api_url: String,
    /// The instance's ports (`mcp`: `null` unless `type_instance` holds `mcp`).
    pub ports: crate::api::instances::InstancePorts,
    /// `http://<public host>:<mcp port>/mcp`: the bot as an MCP server (streamable HTTP, the instance's
    /// API key as `Authorization: Bearer`); `null` unless `type_instance` holds `mcp`.
    pub mcp_url: Option<String>,
}

/// The instance API key's metadata (never the key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyInfo {
    pub api_key_hint: String,
    /// RFC 3339.
    pub generated_at: String,
    pub usage_count: i64,
    /// RFC 3339.
    pub last_use: Option<String>,
}

/// `GET /api/v1/instances/{id}/api-key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyResponse {
    pub success: bool,
    pub data: ApiKeyInfo,
}

/// `POST /api/v1/instances/{id}/api-key/rotate`: the new key, shown only here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RotatedApiKey {
    pub success: bool,
    pub api_key: String,
    pub api_key_hint: String,
    /// RFC 3339.
    pub generated_at: String,
    pub message: String,
}

/// `POST /api/v1/instances/{id}/test`.
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AgentTestRequest {
    /// What to ask the agent.
    #[garde(length(min = 1, max = 4096), custom(crate::rules::not_blank))]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 4096, pattern = r"\S")
    )]
    pub message: String,
}

/// The agent's answer to a test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentTestResponse {
    pub success: bool,
    pub instance_id: String,
    pub agent: AgentKind,
    pub reply: String,
    pub latency_ms: f64,
    /// The tokens the agent's `usage` reported (none when it reported none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<TestTokens>,
}

/// Tokens of an agent call (seed 003's `tokens` of `/test`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TestTokens {
    pub input: u64,
    pub output: u64,
}
