//! The agent configuration an instance carries (the seed's `agno_config`), as it is written and as it is
//! shown. The `api_key` is write-only: views carry `has_api_key` instead.

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

/// `agno_config` as a client writes it (and as the manager stores it). An agent is called when the
/// configuration is enabled and names a `url`; the seed's configurations without one are kept as they
/// are and call nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    #[serde(default)]
    #[garde(skip)]
    pub kind: AgentKind,
    /// The agent's http(s) URL; `agnoUrl` (the seed's name) is accepted too.
    #[serde(default, alias = "agnoUrl", alias = "agno_url")]
    #[garde(inner(custom(http_url)))]
    #[cfg_attr(feature = "openapi", schema(pattern = "^https?://", max_length = 2048))]
    pub url: Option<String>,
    #[serde(default)]
    #[garde(inner(length(max = 256)))]
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub agent_id: Option<String>,
    #[serde(default)]
    #[garde(inner(length(max = 256)))]
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub model: Option<String>,
    /// Kept for the seed's clients; answers are never streamed to chats.
    #[serde(default)]
    #[garde(skip)]
    pub stream: Option<bool>,
    /// `false` keeps the configuration but calls no agent. Default true.
    #[serde(default)]
    #[garde(skip)]
    pub enabled: Option<bool>,
    /// Sent as a bearer token to `openai` and `webhook` agents. Write-only.
    #[serde(default)]
    #[garde(inner(length(max = 4096)))]
    #[cfg_attr(feature = "openapi", schema(max_length = 4096, write_only))]
    pub api_key: Option<String>,
    #[serde(default)]
    #[garde(inner(length(max = 20000)))]
    #[cfg_attr(feature = "openapi", schema(max_length = 20000))]
    pub system_prompt: Option<String>,
    /// Earlier turns of the chat sent along (0 to 100, default 10).
    #[serde(default)]
    #[garde(inner(range(max = 100)))]
    #[cfg_attr(feature = "openapi", schema(maximum = 100))]
    pub context_messages: Option<u32>,
    /// Sent in answer to `/start`.
    #[serde(default)]
    #[garde(inner(length(max = 4096)))]
    #[cfg_attr(feature = "openapi", schema(max_length = 4096))]
    pub welcome_message: Option<String>,
    /// Sent when the agent fails.
    #[serde(default)]
    #[garde(inner(length(max = 4096)))]
    #[cfg_attr(feature = "openapi", schema(max_length = 4096))]
    pub fallback_message: Option<String>,
    /// Longest wait for an answer, 1 to 300 seconds (default 30).
    #[serde(default)]
    #[garde(inner(range(min = 1, max = 300)))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 300))]
    pub timeout_secs: Option<u32>,
}

fn http_url(url: &str, _: &()) -> garde::Result {
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

/// An agent that will be called: the configuration with its defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveAgent {
    pub kind: AgentKind,
    pub url: String,
    pub agent_id: Option<String>,
    pub model: Option<String>,
    pub api_key: Option<String>,
    pub system_prompt: Option<String>,
    pub context_messages: usize,
    pub welcome_message: Option<String>,
    pub fallback_message: String,
    pub timeout_secs: u64,
}

impl AgentConfig {
    /// The agent to call, if this configuration calls one (enabled, with a URL).
    pub fn active(&self) -> Option<ActiveAgent> {
        if self.enabled == Some(false) {
            return None;
        }
        let nonempty = |s: &Option<String>| {
            s.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        Some(ActiveAgent {
            kind: self.kind,
            url: nonempty(&self.url)?,
            agent_id: nonempty(&self.agent_id),
            model: nonempty(&self.model),
            api_key: nonempty(&self.api_key),
            system_prompt: nonempty(&self.system_prompt),
            context_messages: self.context_messages.unwrap_or(DEFAULT_CONTEXT_MESSAGES) as usize,
            welcome_message: nonempty(&self.welcome_message),
            fallback_message: nonempty(&self.fallback_message)
                .unwrap_or_else(|| DEFAULT_FALLBACK.to_string()),
            timeout_secs: u64::from(self.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS)),
        })
    }

    /// What users are shown: everything but the key.
    pub fn view(&self) -> AgentConfigView {
        AgentConfigView {
            kind: self.kind,
            url: self.url.as_deref().map(crate::secret::redact_url),
            agent_id: self.agent_id.clone(),
            model: self.model.clone(),
            stream: self.stream,
            enabled: self.enabled.unwrap_or(true),
            has_api_key: self.api_key.as_deref().is_some_and(|k| !k.is_empty()),
            system_prompt: self.system_prompt.clone(),
            context_messages: self.context_messages,
            welcome_message: self.welcome_message.clone(),
            fallback_message: self.fallback_message.clone(),
            timeout_secs: self.timeout_secs,
        }
    }
}

/// `agno_config` as it is shown: never the key, only whether there is one.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<AgentConfig, String> {
        let c: AgentConfig = serde_json::from_str(json).map_err(|e| e.to_string())?;
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
        assert!(c.view().has_api_key);
    }
}
