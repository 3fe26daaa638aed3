//! `POST /api/v1/instances/{id}/{start,stop,restart,process}` and `PATCH /api/v1/instances/{id}`.

use garde::Validate;
use serde::{Deserialize, Serialize};

use super::instances::{InstanceStatus, InstanceView, ProcessAction, ProcessDetails};
use crate::agent::BotConfig;

/// The answer of `start`, `stop` and `restart`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerbResponse {
    pub success: bool,
    pub instance_id: String,
    pub status: InstanceStatus,
    pub message: String,
    pub instance: InstanceView,
}

/// The answer of `process`: nothing to apply, or the worker recreated with the stored configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProcessResponse {
    pub success: bool,
    pub instance_id: String,
    pub action: ProcessAction,
    pub details: ProcessDetails,
    pub message: String,
}

/// `PATCH /api/v1/instances/{id}`: what to change; absent fields stay. The bot configuration (seed 003's
/// fields one by one, or `agno_config` whole) reaches the running worker at once, without a new
/// container; credentials, limits and interfaces are stored and applied by the next `process`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateInstanceRequest {
    /// A new Telegram bot token. Write-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(inner(custom(super::instances::telegram_token)))]
    #[cfg_attr(
        feature = "openapi",
        schema(write_only, pattern = r"^[0-9]{1,20}:[A-Za-z0-9_-]{20,100}$")
    )]
    pub token: Option<String>,
    /// New credentials, whole, in the instance's provider's shape. Write-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    #[cfg_attr(feature = "openapi", schema(write_only, value_type = Option<super::instances::CredentialsSchema>))]
    pub credentials: Option<serde_json::Value>,
    /// The interfaces, whole: adding `mcp` reserves the bot's MCP port at once (shown as `port_mcp`),
    /// removing it frees that port; the next `process` recreates the worker with them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(inner(length(min = 1)))]
    #[cfg_attr(feature = "openapi", schema(min_items = 1))]
    pub type_instance: Option<Vec<super::instances::Interface>>,
    /// A new bot configuration, whole (the seed's `agno_config`); `null` removes it. Applied before the
    /// fields one by one.
    #[serde(
        default,
        with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[garde(dive)]
    pub agno_config: Option<Option<BotConfig>>,
    /// The labels, whole (`{}` removes them all); stored at once, nothing to apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(inner(custom(super::instances::valid_labels)))]
    pub labels: Option<super::instances::Labels>,
    /// Memory limit of the worker container, 16 to 16384 MB.
    #[serde(default)]
    #[garde(inner(range(min = 16, max = 16_384)))]
    #[cfg_attr(feature = "openapi", schema(minimum = 16, maximum = 16384))]
    pub memory_limit_mb: Option<i64>,
    /// CPUs of the worker container, 0.01 to 64.
    #[serde(default)]
    #[garde(inner(range(min = 0.01, max = 64.0)))]
    #[cfg_attr(feature = "openapi", schema(minimum = 0.01, maximum = 64))]
    pub cpu_limit: Option<f64>,
    /// The bot's name, as its owner calls it. `null` resets it to the default.
    #[serde(
        default,
        with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[garde(inner(inner(length(min = 1, max = 100), custom(crate::rules::not_blank))))]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 100, pattern = r"\S")
    )]
    pub name: Option<Option<String>>,
    /// `null` resets it to the default.
    #[serde(
        default,
        with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[garde(inner(inner(length(max = 2000))))]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub description: Option<Option<String>>,
    /// `null` resets it to the default.
    #[serde(
        default,
        with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[garde(inner(inner(length(max = 20000))))]
    #[cfg_attr(feature = "openapi", schema(max_length = 20000))]
    pub system_prompt: Option<Option<String>>,
    /// `openai`, `agno`, `webhook` or `anthropic`. `null` resets it to the default.
    #[serde(
        default,
        with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[garde(skip)]
    pub llm_provider: Option<Option<crate::agent::AgentKind>>,
    /// The agent's http(s) URL. `null` resets it to the default.
    #[serde(
        default,
        with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[garde(inner(inner(custom(crate::agent::http_url))))]
    #[cfg_attr(feature = "openapi", schema(pattern = "^https?://", max_length = 2048))]
    pub llm_url: Option<Option<String>>,
    /// `null` resets it to the default.
    #[serde(
        default,
        with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[garde(inner(inner(length(max = 256))))]
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub llm_agent_id: Option<Option<String>>,
    /// `null` resets it to the default.
    #[serde(
        default,
        with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[garde(inner(inner(length(max = 256))))]
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub llm_model: Option<Option<String>>,
    /// Sampling settings (temperature, top_p, top_k, stop). `null` resets it to the default.
    #[serde(
        default,
        with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[garde(dive)]
    pub llm_config: Option<Option<crate::agent::LlmConfig>>,
    /// Write-only; views carry `has_llm_api_key`. `null` resets it to the default.
    #[serde(
        default,
        with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[garde(inner(inner(length(max = 4096))))]
    #[cfg_attr(feature = "openapi", schema(max_length = 4096, write_only))]
    pub llm_api_key: Option<Option<String>>,
    /// `null` resets it to the default.
    #[serde(
        default,
        with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[garde(inner(inner(range(min = 1, max = 200_000))))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 200000))]
    pub max_tokens_per_turn: Option<Option<u32>>,
    /// `null` resets it to the default.
    #[serde(
        default,
        with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[garde(inner(inner(range(min = 1000, max = 60_000))))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1000, maximum = 60000))]
    pub timeout_ms: Option<Option<u32>>,
    /// `null` resets it to the default.
    #[serde(
        default,
        with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[garde(inner(inner(range(max = 100))))]
    #[cfg_attr(feature = "openapi", schema(maximum = 100))]
    pub conversation_max_messages: Option<Option<u32>>,
    /// `null` resets it to the default.
    #[serde(
        default,
        with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[garde(inner(inner(range(min = 1, max = 8760))))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 8760))]
    pub conversation_ttl_hours: Option<Option<u32>>,
    /// `null` resets it to the default.
    #[serde(
        default,
        with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[garde(inner(inner(length(max = 4096))))]
    #[cfg_attr(feature = "openapi", schema(max_length = 4096))]
    pub welcome_message: Option<Option<String>>,
    /// `null` resets it to the default.
    #[serde(
        default,
        with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[garde(inner(inner(length(max = 4096))))]
    #[cfg_attr(feature = "openapi", schema(max_length = 4096))]
    pub fallback_message: Option<Option<String>>,
    /// Tokens per UTC day. `null` resets it to the default.
    #[serde(
        default,
        with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[garde(inner(inner(range(min = 1, max = 1_000_000_000_000))))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000000000000_u64))]
    pub spending_cap: Option<Option<u64>>,
    /// Agent calls one chat may cause per minute. `null` resets it to the default.
    #[serde(
        default,
        with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[garde(dive)]
    pub chat_rate_limit: Option<Option<crate::agent::ChatRateLimit>>,
    /// `false` keeps the configuration but calls no agent. `null` resets it to the default.
    #[serde(
        default,
        with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[garde(skip)]
    pub enabled: Option<Option<bool>>,
}

/// The seed-003 fields of [`UpdateInstanceRequest`], each `Option<Option<_>>`, named once.
macro_rules! bot_settings {
    ($mac:ident) => {
        $mac!(
            name,
            description,
            system_prompt,
            llm_provider,
            llm_url,
            llm_agent_id,
            llm_model,
            llm_config,
            llm_api_key,
            max_tokens_per_turn,
            timeout_ms,
            conversation_max_messages,
            conversation_ttl_hours,
            welcome_message,
            fallback_message,
            spending_cap,
            chat_rate_limit,
            enabled
        )
    };
}

impl UpdateInstanceRequest {
    /// Whether the body changes the bot configuration field by field (seed 003's names).
    pub fn has_bot_settings(&self) -> bool {
        macro_rules! any_set {
            ($($field:ident),*) => { false $(|| self.$field.is_some())* };
        }
        bot_settings!(any_set)
    }

    /// Applies the seed-003 fields present in the body to `config` (`null` resets one to its default).
    pub fn apply_bot_settings(&self, config: &mut BotConfig) {
        macro_rules! apply {
            ($($field:ident),*) => {{
                $(if let Some(value) = &self.$field {
                    config.$field = value.to_owned();
                })*
            }};
        }
        bot_settings!(apply)
    }
}

/// The bot configuration fields a `PATCH` may set one by one.
pub const BOT_SETTINGS_FIELDS: &[&str] = &[
    "name",
    "description",
    "system_prompt",
    "llm_provider",
    "llm_url",
    "llm_agent_id",
    "llm_model",
    "llm_config",
    "llm_api_key",
    "max_tokens_per_turn",
    "timeout_ms",
    "conversation_max_messages",
    "conversation_ttl_hours",
    "welcome_message",
    "fallback_message",
    "spending_cap",
    "chat_rate_limit",
    "enabled",
];

/// `agno_config` absent (keep), `null` (remove) or a value (replace). Fields using it also need
/// `skip_serializing_if = "Option::is_none"`, or "absent" is written as `null`.
pub(crate) mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn deserialize<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(d).map(Some)
    }

    pub fn serialize<S, T>(v: &Option<Option<T>>, s: S) -> Result<S::Ok, S::Error>
    where
        S: Serializer,
        T: Serialize,
    {
        match v {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }
}

/// `PATCH /api/v1/instances/{id}` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateInstanceResponse {
    pub success: bool,
    pub instance_id: String,
    /// True while the stored configuration differs from the running worker's; `process` applies it.
    pub pending_changes: bool,
    pub message: String,
    pub instance: InstanceView,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absent_agent_is_not_sent_as_null() {
        let only_memory = UpdateInstanceRequest {
            memory_limit_mb: Some(128),
            ..Default::default()
        };
        let json = serde_json::to_value(&only_memory).unwrap();
        assert!(json.get("agno_config").is_none(), "{json}");
        let back: UpdateInstanceRequest = serde_json::from_value(json).unwrap();
        assert!(back.agno_config.is_none());
        let remove = UpdateInstanceRequest {
            agno_config: Some(None),
            ..Default::default()
        };
        let json = serde_json::to_value(&remove).unwrap();
        assert_eq!(json["agno_config"], serde_json::Value::Null);
        let back: UpdateInstanceRequest = serde_json::from_value(json).unwrap();
        assert_eq!(back.agno_config, Some(None));
    }
}
