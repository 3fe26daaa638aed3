//! The bot configuration an instance carries (seed 003's fields; the seed's `agno_config` is the same object
//! under older names), as it is written and as it is shown. The LLM key is write-only.

use garde::Validate;
use serde::{Deserialize, Serialize};

/// Which protocol the agent speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum AgentKind {
    /// Agno's agent runs API (form fields `message`, `session_id`, `user_id`).
    #[default]
    Agno,
    /// Any OpenAI-compatible `/v1/chat/completions` endpoint.
    #[serde(rename = "openai")]
    OpenAi,
    /// A plain JSON webhook: `{session_id, user_id, text, context}` → `{"reply"}`.
    Webhook,
    /// Anthropic's Messages API (`POST …/v1/messages`, `x-api-key`, `anthropic-version: 2023-06-01`).
    Anthropic,
}

/// Sent when the agent fails and no `fallback_message` is configured.
pub const DEFAULT_FALLBACK: &str = "Sorry, I cannot answer right now. Please try again later.";
/// Earlier turns sent along when `context_messages` is not set.
pub const DEFAULT_CONTEXT_MESSAGES: u32 = 10;
/// Seconds the agent may take when `timeout_secs` is not set.
pub const DEFAULT_TIMEOUT_SECS: u32 = 30;

/// An instance's bot configuration (seed 003's fields), as a client writes it and the manager stores
/// it: the agent it calls and how, what it says on its own, how long conversations last and what one
/// may cost. Every field is optional (`null`: the default). The seed's `agno_config` is the same object
/// under its older names, which are still accepted (`kind`, `url`/`agnoUrl`, `agent_id`, `model`,
/// `api_key`, `context_messages`). An agent is called when the configuration is enabled and names a URL.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BotConfig {
    /// The bot's name, as its owner calls it (not the platform's display name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(inner(length(min = 1, max = 100), custom(crate::rules::not_blank)))]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 100, pattern = r"\S")
    )]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(inner(length(max = 2000)))]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub description: Option<String>,
    /// The protocol the agent speaks (default `agno`).
    #[serde(default, alias = "kind", skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub llm_provider: Option<AgentKind>,
    /// The agent's http(s) URL (`url`, `agnoUrl`: the seed's names).
    #[serde(
        default,
        alias = "url",
        alias = "agnoUrl",
        alias = "agno_url",
        skip_serializing_if = "Option::is_none"
    )]
    #[garde(inner(custom(http_url)))]
    #[cfg_attr(feature = "openapi", schema(pattern = "^https?://", max_length = 2048))]
    pub llm_url: Option<String>,
    /// Agno's agent id (`agent_id`).
    #[serde(default, alias = "agent_id", skip_serializing_if = "Option::is_none")]
    #[garde(inner(length(max = 256)))]
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub llm_agent_id: Option<String>,
    #[serde(default, alias = "model", skip_serializing_if = "Option::is_none")]
    #[garde(inner(length(max = 256)))]
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub llm_model: Option<String>,
    /// Sampling settings passed to OpenAI-compatible and Anthropic agents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(dive)]
    pub llm_config: Option<LlmConfig>,
    /// Bearer token of `openai` and `webhook` agents, `x-api-key` of `anthropic` ones. Write-only:
    /// views carry `has_llm_api_key`.
    #[serde(default, alias = "api_key", skip_serializing_if = "Option::is_none")]
    #[garde(inner(length(max = 4096)))]
    #[cfg_attr(feature = "openapi", schema(max_length = 4096, write_only))]
    pub llm_api_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(inner(length(max = 20000)))]
    #[cfg_attr(feature = "openapi", schema(max_length = 20000))]
    pub system_prompt: Option<String>,
    /// Longest answer asked of the model, in tokens (OpenAI-compatible and Anthropic agents; default:
    /// the model's own for OpenAI, 1024 for Anthropic, which requires one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(inner(range(min = 1, max = 200_000)))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 200000))]
    pub max_tokens_per_turn: Option<u32>,
    /// Longest wait for an answer, 1000 to 60000 ms (default 30000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(inner(range(min = 1000, max = 60_000)))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1000, maximum = 60000))]
    pub timeout_ms: Option<u32>,
    /// The seed's timeout, 1 to 300 seconds; `timeout_ms` wins when both are set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(inner(range(min = 1, max = 300)))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 300))]
    pub timeout_secs: Option<u32>,
    /// Earlier messages of the conversation sent along (0 to 100, default 10; `context_messages`).
    #[serde(
        default,
        alias = "context_messages",
        skip_serializing_if = "Option::is_none"
    )]
    #[garde(inner(range(max = 100)))]
    #[cfg_attr(feature = "openapi", schema(maximum = 100))]
    pub conversation_max_messages: Option<u32>,
    /// Hours of silence after which a chat starts a new conversation (and the agent forgets the old
    /// one), 1 to 8760 (default 24).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(inner(range(min = 1, max = 8760)))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 8760))]
    pub conversation_ttl_hours: Option<u32>,
    /// Sent in answer to `/start`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(inner(length(max = 4096)))]
    #[cfg_attr(feature = "openapi", schema(max_length = 4096))]
    pub welcome_message: Option<String>,
    /// Sent when the agent fails (and when the spending cap or a chat's rate limit stops a call).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(inner(length(max = 4096)))]
    #[cfg_attr(feature = "openapi", schema(max_length = 4096))]
    pub fallback_message: Option<String>,
    /// Tokens (in + out, as the agent's `usage` reports them) the bot may spend per UTC day; once
    /// spent, questions get the fallback message until midnight UTC. None: no cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(inner(range(min = 1, max = 1_000_000_000_000)))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000000000000_u64))]
    pub spending_cap: Option<u64>,
    /// Agent calls one chat may cause per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(dive)]
    pub chat_rate_limit: Option<ChatRateLimit>,
    /// Kept for the seed's clients; answers are never streamed to chats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub stream: Option<bool>,
    /// `false` keeps the configuration but calls no agent. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub enabled: Option<bool>,
}

/// Sampling settings of the model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LlmConfig {
    /// 0 to 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(inner(range(min = 0.0, max = 2.0)))]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 2))]
    pub temperature: Option<f64>,
    /// 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(inner(range(min = 0.0, max = 1.0)))]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1))]
    pub top_p: Option<f64>,
    /// Anthropic only, 1 to 500.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(inner(range(min = 1, max = 500)))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 500))]
    pub top_k: Option<u32>,
    /// Up to 4 stop sequences of at most 64 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(inner(length(max = 4), inner(length(min = 1, max = 64))))]
    #[cfg_attr(feature = "openapi", schema(max_items = 4))]
    pub stop: Option<Vec<String>>,
}

/// What happens to a chat's question beyond its rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum RateStrategy {
    /// Not asked: the chat gets the fallback message (counted as `dropped_rate`).
    #[default]
    Drop,
    /// Asked once the rate allows, if that is within 30 s; dropped otherwise.
    Wait,
}

/// A chat's limit on agent calls (LangBot's per-session rate limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChatRateLimit {
    /// Agent calls per minute, 1 to 600.
    #[garde(range(min = 1, max = 600))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 600))]
    pub per_minute: u32,
    #[serde(default)]
    #[garde(skip)]
    pub strategy: RateStrategy,
}

/// garde rule: an http(s) URL with a host and no spaces, at most 2048 characters.
pub fn http_url(url: &str, _: &()) -> garde::Result {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| garde::Error::new("must be an http:// or https:// URL"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || url.chars().any(char::is_whitespace) {
        return Err(garde::Error::new("must be a URL with a host and no spaces"));
    }
    if url.len() > 2048 {
        return Err(garde::Error::new("must be at most 2048 characters"));
    }
    Ok(())
}

/// Hours a conversation lasts after its last message when `conversation_ttl_hours` is not set.
pub const DEFAULT_CONVERSATION_TTL_HOURS: u32 = 24;

/// An agent that will be called: the configuration with its defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveAgent {
    pub kind: AgentKind,
    pub url: String,
    pub agent_id: Option<String>,
    pub model: Option<String>,
    pub api_key: Option<String>,
    pub system_prompt: Option<String>,
    pub llm_config: LlmConfig,
    pub max_tokens: Option<u32>,
    pub context_messages: usize,
    pub conversation_ttl_ms: i64,
    pub welcome_message: Option<String>,
    pub fallback_message: String,
    pub timeout_ms: u64,
    pub spending_cap: Option<u64>,
    pub chat_rate_limit: Option<ChatRateLimit>,
}

fn nonempty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl BotConfig {
    /// The agent to call, if this configuration calls one (enabled, with a URL).
    pub fn active(&self) -> Option<ActiveAgent> {
        if self.enabled == Some(false) {
            return None;
        }
        Some(ActiveAgent {
            kind: self.llm_provider.unwrap_or_default(),
            url: nonempty(&self.llm_url)?,
            agent_id: nonempty(&self.llm_agent_id),
            model: nonempty(&self.llm_model),
            api_key: nonempty(&self.llm_api_key),
            system_prompt: nonempty(&self.system_prompt),
            llm_config: self.llm_config.clone().unwrap_or_default(),
            max_tokens: self.max_tokens_per_turn,
            context_messages: self
                .conversation_max_messages
                .unwrap_or(DEFAULT_CONTEXT_MESSAGES) as usize,
            conversation_ttl_ms: i64::from(
                self.conversation_ttl_hours
                    .unwrap_or(DEFAULT_CONVERSATION_TTL_HOURS),
            ) * 3_600_000,
            welcome_message: nonempty(&self.welcome_message),
            fallback_message: self.fallback_message(),
            timeout_ms: match (self.timeout_ms, self.timeout_secs) {
                (Some(ms), _) => u64::from(ms),
                (None, Some(secs)) => u64::from(secs) * 1000,
                (None, None) => u64::from(DEFAULT_TIMEOUT_SECS) * 1000,
            },
            spending_cap: self.spending_cap,
            chat_rate_limit: self.chat_rate_limit,
        })
    }

    /// What a chat is told when there is no answer for it.
    pub fn fallback_message(&self) -> String {
        nonempty(&self.fallback_message).unwrap_or_else(|| DEFAULT_FALLBACK.to_string())
    }

    /// Hours a conversation lasts after its last message.
    pub fn conversation_ttl_hours(&self) -> u32 {
        self.conversation_ttl_hours
            .unwrap_or(DEFAULT_CONVERSATION_TTL_HOURS)
    }

    /// Whether there is an LLM key.
    pub fn has_llm_api_key(&self) -> bool {
        self.llm_api_key.as_deref().is_some_and(|k| !k.is_empty())
    }

    /// The seed's `agno_config` view of this configuration: its names, never the key.
    pub fn agno_view(&self) -> AgentConfigView {
        AgentConfigView {
            kind: self.llm_provider.unwrap_or_default(),
            url: self.llm_url.as_deref().map(crate::secret::redact_url),
            agent_id: self.llm_agent_id.clone(),
            model: self.llm_model.clone(),
            stream: self.stream,
            enabled: self.enabled.unwrap_or(true),
            has_api_key: self.has_llm_api_key(),
            system_prompt: self.system_prompt.clone(),
            context_messages: self.conversation_max_messages,
            welcome_message: self.welcome_message.clone(),
            fallback_message: self.fallback_message.clone(),
            timeout_secs: self.timeout_secs,
        }
    }

    /// What users are shown: everything but the key (`has_llm_api_key` instead), the URL redacted.
    pub fn view(&self) -> BotConfigView {
        BotConfigView {
            name: self.name.clone(),
            description: self.description.clone(),
            llm_provider: self.llm_provider.unwrap_or_default(),
            llm_url: self.llm_url.as_deref().map(crate::secret::redact_url),
            llm_agent_id: self.llm_agent_id.clone(),
            llm_model: self.llm_model.clone(),
            llm_config: self.llm_config.clone(),
            has_llm_api_key: self.has_llm_api_key(),
            system_prompt: self.system_prompt.clone(),
            max_tokens_per_turn: self.max_tokens_per_turn,
            timeout_ms: self.timeout_ms,
            timeout_secs: self.timeout_secs,
            conversation_max_messages: self.conversation_max_messages,
            conversation_ttl_hours: self.conversation_ttl_hours,
            welcome_message: self.welcome_message.clone(),
            fallback_message: self.fallback_message.clone(),
            spending_cap: self.spending_cap,
            chat_rate_limit: self.chat_rate_limit,
            enabled: self.enabled.unwrap_or(true),
        }
    }
}

/// `agno_config` as it is shown (the seed's names): never the key, only whether there is one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentConfigView {
    pub kind: AgentKind,
    /// The URL with any password and query values shown as `***`.
    pub url: Option<String>,
    pub agent_id: Option<String>,
    pub model: Option<String>,
    pub stream: Option<bool>,
    pub enabled: bool,
    pub has_api_key: bool,
    pub system_prompt: Option<String>,
    pub context_messages: Option<u32>,
    pub welcome_message: Option<String>,
    pub fallback_message: Option<String>,
    pub timeout_secs: Option<u32>,
}

/// The bot configuration as it is shown (seed 003's names): `null` means the default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BotConfigView {
    pub name: Option<String>,
    pub description: Option<String>,
    pub llm_provider: AgentKind,
    /// The URL with any password and query values shown as `***`.
    pub llm_url: Option<String>,
    pub llm_agent_id: Option<String>,
    pub llm_model: Option<String>,
    pub llm_config: Option<LlmConfig>,
    pub has_llm_api_key: bool,
    pub system_prompt: Option<String>,
    pub max_tokens_per_turn: Option<u32>,
    pub timeout_ms: Option<u32>,
    pub timeout_secs: Option<u32>,
    pub conversation_max_messages: Option<u32>,
    pub conversation_ttl_hours: Option<u32>,
    pub welcome_message: Option<String>,
    pub fallback_message: Option<String>,
    pub spending_cap: Option<u64>,
    pub chat_rate_limit: Option<ChatRateLimit>,
    pub enabled: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<BotConfig, String> {
        let c: BotConfig = serde_json::from_str(json).map_err(|e| e.to_string())?;
        c.validate().map_err(|e| e.to_string())?;
        Ok(c)
    }

    #[test]
    fn the_seed_config_is_an_agno_agent() {
        let c = parse(r#"{"model": "gpt-4.1", "stream": false, "agnoUrl": "https://agents.example/v1/agents/a1/runs", "enabled": true, "agent_id": "a1"}"#).unwrap();
        let a = c.active().unwrap();
        assert_eq!(a.kind, AgentKind::Agno);
        assert_eq!(a.agent_id.as_deref(), Some("a1"));
        assert_eq!(a.context_messages, 10);
        assert_eq!(a.fallback_message, DEFAULT_FALLBACK);
    }

    #[test]
    fn disabled_or_urlless_configs_call_no_agent() {
        assert!(
            parse(r#"{"enabled": false, "url": "http://x"}"#)
                .unwrap()
                .active()
                .is_none()
        );
        assert!(parse(r#"{"model": "m"}"#).unwrap().active().is_none());
    }

    #[test]
    fn bad_fields_are_refused() {
        assert!(parse(r#"{"kind": "llama", "url": "http://x"}"#).is_err());
        assert!(parse(r#"{"url": "ftp://x"}"#).is_err());
        assert!(parse(r#"{"url": "http://x", "context_messages": 1000}"#).is_err());
        assert!(parse(r#"{"url": "http://x", "typo": 1}"#).is_err());
    }

    #[test]
    fn the_view_never_holds_the_key() {
        let c = parse(r#"{"kind": "openai", "url": "http://x", "api_key": "sk-secret"}"#).unwrap();
        let shown = serde_json::to_string(&c.view()).unwrap();
        assert!(!shown.contains("sk-secret"));
        assert!(c.view().has_llm_api_key);
        assert!(
            !serde_json::to_string(&c.agno_view())
                .unwrap()
                .contains("sk-secret")
        );
        assert!(c.agno_view().has_api_key);
    }

    #[test]
    fn the_seed_names_and_the_platform_names_are_one_configuration() {
        let old = parse(r#"{"kind": "openai", "url": "http://x", "model": "m", "api_key": "k", "context_messages": 3, "agent_id": "a"}"#).unwrap();
        let new = parse(r#"{"llm_provider": "openai", "llm_url": "http://x", "llm_model": "m", "llm_api_key": "k", "conversation_max_messages": 3, "llm_agent_id": "a"}"#).unwrap();
        assert_eq!(old, new);
        // Stored under the new names, read back the same.
        let stored = serde_json::to_string(&old).unwrap();
        assert!(
            stored.contains("llm_provider") && !stored.contains("\"kind\""),
            "{stored}"
        );
        assert_eq!(parse(&stored).unwrap(), old);
        // Both names of one field at once is a duplicate.
        assert!(parse(r#"{"kind": "openai", "llm_provider": "agno"}"#).is_err());
    }

    #[test]
    fn timeouts_and_windows_get_their_defaults_and_bounds() {
        let a = parse(r#"{"url": "http://x"}"#).unwrap().active().unwrap();
        assert_eq!(a.timeout_ms, 30_000);
        assert_eq!(a.conversation_ttl_ms, 24 * 3_600_000);
        let a = parse(r#"{"url": "http://x", "timeout_secs": 5, "timeout_ms": 2500}"#)
            .unwrap()
            .active()
            .unwrap();
        assert_eq!(a.timeout_ms, 2500);
        assert!(parse(r#"{"timeout_ms": 60001}"#).is_err());
        assert!(parse(r#"{"timeout_ms": 999}"#).is_err());
        assert!(parse(r#"{"conversation_ttl_hours": 0}"#).is_err());
        assert!(parse(r#"{"llm_config": {"temperature": 2.5}}"#).is_err());
        assert!(parse(r#"{"llm_config": {"temprature": 1}}"#).is_err());
        assert!(parse(r#"{"chat_rate_limit": {"per_minute": 0}}"#).is_err());
        assert!(parse(r#"{"name": "  "}"#).is_err());
        assert!(parse(r#"{"spending_cap": 0}"#).is_err());
    }
}
