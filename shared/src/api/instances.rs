//! `/api/v1/instances`: create, list, show and delete bot instances, and the states an instance has.

use garde::Validate;
use serde::{Deserialize, Serialize};

use super::memory::MemoryView;
use crate::{
    Provider,
    agent::{AgentConfigView, BotConfig, BotConfigView},
};

/// Where an instance is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// Cannot run until a user acts (the provider refused the token, or the worker kept crashing).
    Failed,
    /// Being removed.
    Deleting,
}

impl InstanceStatus {
    pub const ALL: [Self; 9] = [
        Self::Creating,
        Self::Starting,
        Self::Running,
        Self::Degraded,
        Self::Restarting,
        Self::Stopping,
        Self::Stopped,
        Self::Failed,
        Self::Deleting,
    ];

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
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// What the user asked for; the reconciler makes the containers match it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// An interface an instance exposes; only the REST API exists today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Interface {
    /// The bot's REST API, on `ports.api`.
    Api,
    /// The bot as a Model Context Protocol server (streamable HTTP at `/mcp`), on `ports.mcp`.
    Mcp,
}

impl Interface {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Mcp => "mcp",
        }
    }
}

fn default_interfaces() -> Vec<Interface> {
    vec![Interface::Api]
}

/// `POST /api/v1/instances` (the seed's body).
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateInstanceRequest {
    /// The user the bot belongs to (an id from `/api/v1/users`): the caller when absent. Only admins may
    /// name another user. The bootstrap admin key is no user: its bots belong to `admin` unless it names
    /// someone (any other label makes a bot that only admins and operators see).
    #[serde(default)]
    #[garde(inner(length(min = 1, max = 128), custom(crate::rules::not_blank)))]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 128, pattern = r"\S")
    )]
    pub user_id: Option<String>,
    #[garde(skip)]
    pub provider: Provider,
    /// Interfaces to expose (default `["api"]`): `api` (the REST API, always served) and `mcp` (the bot
    /// as an MCP server on a second port, `ports.mcp`).
    #[serde(default = "default_interfaces")]
    #[garde(length(min = 1))]
    #[cfg_attr(feature = "openapi", schema(min_items = 1))]
    pub type_instance: Vec<Interface>,
    /// Telegram's bot token (`<digits>:<secret>`), as the replaced system took it; the same as
    /// `credentials: {"token": …}`. Write-only: never shown again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(inner(custom(crate::api::credentials::telegram_token)))]
    #[cfg_attr(
        feature = "openapi",
        schema(write_only, pattern = r"^[0-9]{1,20}:[A-Za-z0-9_-]{20,100}$")
    )]
    pub token: Option<String>,
    /// What the bot logs in with, in its provider's shape (see `GET /api/v1/providers`). Write-only:
    /// never shown again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    #[cfg_attr(feature = "openapi", schema(write_only, value_type = Option<CredentialsSchema>))]
    pub credentials: Option<serde_json::Value>,
    /// How the bot receives messages (`polling` or `webhook` for Telegram; `socket` for Discord and Slack;
    /// `webhook` for WhatsApp). Default: the provider's first way in `GET /api/v1/providers`. A way the
    /// provider does not have is refused with 422.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub receive: Option<crate::provider::Receive>,
    /// The bot configuration (seed 003's fields: name, prompt, LLM, conversation window, messages,
    /// spending cap; `config` is accepted as its name too). The seed's `agno_config` names (`kind`,
    /// `agnoUrl`, `model`, `api_key`, …) are read as the same fields.
    #[serde(default, alias = "config")]
    #[garde(dive)]
    pub agno_config: Option<BotConfig>,
    /// Where the bot may run, as Swarm placement constraints (`node.labels.region==eu`,
    /// `node.hostname!=b`); needs the swarm runtime. At most 8.
    #[serde(default)]
    #[garde(length(max = 8), inner(custom(placement_constraint)))]
    #[cfg_attr(feature = "openapi", schema(max_items = 8, example = json!(["node.labels.region==eu"])))]
    pub placement: Vec<String>,
    /// The owner's labels (`team: support`, `env: prod`): at most 32, a key of 1-63 lowercase letters,
    /// digits and `.-_/` (starting and ending with a letter or digit), a value of at most 255
    /// characters. `GET /api/v1/instances?label=team=support` finds the bots that carry one.
    #[serde(default)]
    #[garde(custom(valid_labels))]
    #[cfg_attr(feature = "openapi", schema(example = json!({"team": "support", "env": "prod"})))]
    pub labels: Labels,
}

/// An instance's labels, ordered by key.
pub type Labels = std::collections::BTreeMap<String, String>;

/// Most labels an instance carries.
pub const MAX_LABELS: usize = 32;

/// A label key: 1-63 of `a-z 0-9 . - _ /`, starting and ending with a letter or digit.
pub fn label_key(key: &str) -> garde::Result {
    let edge = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let ok = (1..=63).contains(&key.len())
        && key.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_' | b'/')
        })
        && edge(key.as_bytes().first())
        && edge(key.as_bytes().last());
    if ok {
        Ok(())
    } else {
        Err(garde::Error::new(format!(
            "label key `{key}` must be 1-63 of a-z, 0-9, `.`, `-`, `_`, `/`, starting and ending with a letter or digit"
        )))
    }
}

/// The labels' rules: at most [`MAX_LABELS`], keys as [`label_key`] says, values of at most 255
/// characters without control characters.
pub fn valid_labels(labels: &Labels, _: &()) -> garde::Result {
    if labels.len() > MAX_LABELS {
        return Err(garde::Error::new(format!("at most {MAX_LABELS} labels")));
    }
    for (key, value) in labels {
        label_key(key)?;
        if value.chars().count() > 255 || value.chars().any(char::is_control) {
            return Err(garde::Error::new(format!(
                "the value of label `{key}` must be at most 255 characters, without control characters"
            )));
        }
    }
    Ok(())
}

/// `?label=` of the list: `key=value` (carries the label with that value) or `key` (carries it at all).
pub fn label_selector(selector: &str, _: &()) -> garde::Result {
    let key = selector.split_once('=').map_or(selector, |(k, _)| k);
    label_key(key)
}

/// A placement constraint: `node.<attribute>` `==` or `!=` a value, as Swarm takes them.
pub fn placement_constraint(c: &str, _: &()) -> garde::Result {
    let Some((attribute, value)) = c.split_once("==").or_else(|| c.split_once("!=")) else {
        return Err(garde::Error::new(
            "must be `node.<attribute>==<value>` or `!=`",
        ));
    };
    let attribute = attribute.trim();
    let known = [
        "node.id",
        "node.hostname",
        "node.role",
        "node.platform.os",
        "node.platform.arch",
    ];
    let label = attribute
        .strip_prefix("node.labels.")
        .or_else(|| attribute.strip_prefix("engine.labels."));
    let attribute_ok = known.contains(&attribute)
        || label.is_some_and(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        });
    if !attribute_ok {
        return Err(garde::Error::new(
            "the attribute must be node.id, node.hostname, node.role, node.platform.os|arch, \
             node.labels.<name> or engine.labels.<name>",
        ));
    }
    let value = value.trim();
    if value.is_empty() || value.len() > 128 || value.chars().any(char::is_whitespace) {
        return Err(garde::Error::new(
            "the value must be 1-128 characters without spaces",
        ));
    }
    Ok(())
}

pub use crate::api::credentials::telegram_token;

/// The schema of `credentials`: one of the providers' shapes.
#[cfg(feature = "openapi")]
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = Credentials)]
pub enum CredentialsSchema {
    Telegram(crate::api::credentials::TelegramCredentials),
    Discord(crate::api::credentials::DiscordCredentials),
    Slack(crate::api::credentials::SlackCredentials),
    Whatsapp(crate::api::credentials::WhatsappCredentials),
}

/// `?wait=&timeout=` of a create.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct CreateInstanceQuery {
    /// Answer only once the bot is ready (or failed), up to `timeout` seconds.
    #[serde(default)]
    #[garde(skip)]
    pub wait: bool,
    /// Longest wait in seconds (capped by the manager's `--wait-timeout-secs`).
    #[garde(inner(range(max = 3600)))]
    #[cfg_attr(feature = "openapi", param(maximum = 3600))]
    pub timeout: Option<u32>,
}

/// The ports an instance listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstancePorts {
    /// The bot's REST API.
    pub api: u16,
    /// The bot's MCP server (`type_instance` holds `mcp`); `null` otherwise.
    pub mcp: Option<u16>,
}

/// `process_result.details` of a create (and of `process`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProcessDetails {
    pub display_name: String,
    pub ports: InstancePorts,
    /// Where the bot's MCP server answers (`type_instance` holds `mcp`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp_url: Option<String>,
    /// The instance API key, shown only in the answer to the create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    pub auth_status: AuthStatus,
    pub status: InstanceStatus,
    /// Where to follow the bot until it is ready.
    pub status_check_url: String,
}

/// What the create did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ProcessAction {
    Create,
    NoChange,
    Recreated,
}

/// `process_result` of a create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProcessResult {
    pub success: bool,
    pub instance_id: String,
    pub action: ProcessAction,
    pub details: ProcessDetails,
    pub message: String,
}

/// `201` answer of `POST /api/v1/instances` (the seed's shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateInstanceResponse {
    pub success: bool,
    pub instance_id: String,
    pub message: String,
    pub process_result: ProcessResult,
}

/// Memory and CPU limits of the worker container (`null`: the manager's defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstanceLimits {
    pub memory_limit_mb: Option<i64>,
    pub cpu_limit: Option<f64>,
}

/// Which of the instance's parts answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceHealth {
    /// The worker's API answered its last health check.
    pub api: bool,
    /// The container runs, as Docker says now.
    pub docker: bool,
}

/// The instance's health as the manager last checked it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstanceHealth {
    pub healthy: bool,
    /// RFC 3339.
    pub last_check_at: Option<String>,
    pub consecutive_failures: i64,
    /// Only in `GET /api/v1/instances/{id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<ServiceHealth>,
}

/// An instance as listed and shown: configuration and state, never the token or keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstanceView {
    pub id: String,
    pub user_id: String,
    pub provider: Provider,
    pub type_instance: Vec<Interface>,
    pub display_name: String,
    pub port_api: u16,
    /// The port of the bot's MCP server (`type_instance` holds `mcp`); `null` otherwise.
    pub port_mcp: Option<u16>,
    /// The owner's labels.
    pub labels: Labels,
    pub has_token: bool,
    pub api_key_hint: String,
    /// The bot configuration under the seed's `agno_config` names.
    pub agno_config: Option<AgentConfigView>,
    /// The bot configuration (seed 003's names); never the LLM key.
    pub config: Option<BotConfigView>,
    /// Paused: the worker runs but the bot receives and answers nothing (`POST …/activate` ends it).
    pub paused: bool,
    /// Whether the worker runs by the stored configuration (it is pushed to it without a restart).
    pub config_applied: bool,
    pub status: InstanceStatus,
    pub status_reason: Option<String>,
    pub desired_state: DesiredState,
    pub auth_status: AuthStatus,
    /// The bot's display name, once it connected.
    pub account: Option<String>,
    /// `@username` (the replaced system's name for the field).
    pub phone_number: Option<String>,
    pub is_ready_for_messages: bool,
    pub limits: InstanceLimits,
    pub health: InstanceHealth,
    /// Times its worker was restarted after a crash.
    pub restart_count: i64,
    /// Messages the bot sent and received.
    pub sent_count: i64,
    pub received_count: i64,
    /// RFC 3339.
    pub created_at: String,
    pub updated_at: String,
}

/// `GET /api/v1/instances`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstanceList {
    pub success: bool,
    /// Instances in all.
    pub total: usize,
    /// Instances in this page.
    pub count: usize,
    pub offset: u32,
    pub instances: Vec<InstanceView>,
}

/// What `GET /api/v1/instances` orders by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum InstanceSort {
    /// When it was created (the default; ties by id).
    #[default]
    Created,
    /// Its name as shown (`display_name`), ignoring case.
    Name,
    Status,
    Provider,
    /// Its owner's user id.
    Owner,
    /// Its API port.
    Port,
    /// Restarts after crashes.
    Restarts,
    /// Messages sent and received.
    Messages,
    /// CPU in the latest resource sample (bots without one last).
    Cpu,
    /// Memory in the latest resource sample (bots without one last).
    Memory,
}

impl InstanceSort {
    pub const ALL: [Self; 10] = [
        Self::Created,
        Self::Name,
        Self::Status,
        Self::Provider,
        Self::Owner,
        Self::Port,
        Self::Restarts,
        Self::Messages,
        Self::Cpu,
        Self::Memory,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Name => "name",
            Self::Status => "status",
            Self::Provider => "provider",
            Self::Owner => "owner",
            Self::Port => "port",
            Self::Restarts => "restarts",
            Self::Messages => "messages",
            Self::Cpu => "cpu",
            Self::Memory => "memory",
        }
    }
}

/// Ascending or descending.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    #[default]
    Asc,
    Desc,
}

/// Longest search text of `GET /api/v1/instances?q=`.
pub const MAX_SEARCH_LEN: usize = 100;

/// `?limit=&offset=&status=&provider=&owner=&q=&sort=&order=` of `GET /api/v1/instances`: the bots the
/// caller may see, filtered, ordered, and a page of them (`total` counts every match).
#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct InstanceListQuery {
    /// At most this many (1 to 10000; default all).
    #[garde(inner(range(min = 1, max = 10_000)))]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 10000))]
    pub limit: Option<u32>,
    /// Skip this many matches.
    #[serde(default)]
    #[garde(range(max = super::MAX_OFFSET))]
    #[cfg_attr(feature = "openapi", param(minimum = 0, maximum = 1000000000))]
    pub offset: u32,
    /// Only bots in this state.
    #[garde(skip)]
    #[cfg_attr(feature = "openapi", param(inline))]
    pub status: Option<InstanceStatus>,
    /// Only bots of this provider.
    #[garde(skip)]
    #[cfg_attr(feature = "openapi", param(inline))]
    pub provider: Option<Provider>,
    /// Only bots of this owner (user id).
    #[garde(inner(length(min = 1, max = 256)))]
    #[cfg_attr(feature = "openapi", param(min_length = 1, max_length = 256))]
    pub owner: Option<String>,
    /// Only bots carrying this label: `key=value`, or `key` for any value.
    #[garde(inner(length(max = 320), custom(label_selector)))]
    #[cfg_attr(feature = "openapi", param(max_length = 320, example = "team=support"))]
    pub label: Option<String>,
    /// Only bots whose name, id, owner, account or @handle contains this text (ignoring case).
    #[garde(inner(length(chars, max = MAX_SEARCH_LEN)))]
    #[cfg_attr(feature = "openapi", param(max_length = 100))]
    pub q: Option<String>,
    /// What to order by (default `created`).
    #[serde(default)]
    #[garde(skip)]
    #[cfg_attr(feature = "openapi", param(inline))]
    pub sort: InstanceSort,
    /// `asc` (default) or `desc`.
    #[serde(default)]
    #[garde(skip)]
    #[cfg_attr(feature = "openapi", param(inline))]
    pub order: SortOrder,
}

/// A worker container as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContainerInfo {
    pub id: String,
    pub instance_id: Option<String>,
    pub name: String,
    /// `created`, `running`, `exited`, …
    pub state: String,
    pub running: bool,
    pub started_at: Option<String>,
    pub exit_code: Option<i64>,
    pub restart_count: i64,
}

/// One instance with its live container and cached state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstanceDetail {
    #[serde(flatten)]
    pub instance: InstanceView,
    pub containers: Vec<ContainerInfo>,
    pub memory_data: MemoryView,
    /// The agent's figures (seed 001's LLM block): today's calls and the last success.
    #[serde(default)]
    pub llm: super::analytics::LlmStats,
}

/// `GET /api/v1/instances/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstanceResponse {
    pub success: bool,
    pub instance: InstanceDetail,
}

/// `DELETE /api/v1/instances/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeleteInstanceResponse {
    pub success: bool,
    pub instance_id: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: serde_json::Value) -> Result<CreateInstanceRequest, String> {
        let r: CreateInstanceRequest = serde_json::from_value(json).map_err(|e| e.to_string())?;
        r.validate().map_err(|e| e.to_string())?;
        Ok(r)
    }

    fn body() -> serde_json::Value {
        serde_json::json!({"user_id": "u1", "provider": "telegram", "type_instance": ["api"],
               "token": "123456789:AAAAAAAAAAAAAAAAAAAAAAAAAAAA"})
    }

    #[test]
    fn the_seed_body_parses() {
        let mut b = body();
        b["agno_config"] = serde_json::json!({"model": "gpt-4.1", "stream": false,
            "agnoUrl": "https://a.example/v1/agents/x/runs", "enabled": true, "agent_id": "x"});
        let r = parse(b).unwrap();
        assert_eq!(r.type_instance, vec![Interface::Api]);
        assert!(r.agno_config.unwrap().active().is_some());
    }

    #[test]
    fn each_bad_field_is_refused() {
        for (field, value) in [
            ("user_id", serde_json::json!("")),
            ("user_id", serde_json::json!("   ")),
            ("user_id", serde_json::json!(5)),
            ("provider", serde_json::json!("signal")),
            ("type_instance", serde_json::json!(["sms"])),
            ("type_instance", serde_json::json!([])),
            ("token", serde_json::json!("not-a-token")),
            ("token", serde_json::json!("12:short")),
            ("agno_config", serde_json::json!("x")),
        ] {
            let mut b = body();
            b[field] = value;
            assert!(parse(b).is_err(), "{field}");
        }
    }

    #[test]
    fn token_errors_do_not_echo_the_token() {
        let mut b = body();
        b["token"] = serde_json::json!("999:secret!but-invalid");
        assert!(!parse(b).unwrap_err().contains("secret!but-invalid"));
    }
}
