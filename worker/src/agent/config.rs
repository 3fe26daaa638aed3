//! The agent configuration: the seed's `agno_config` (`agnoUrl`, `agent_id`, `model`, `stream`,
//! `enabled`) plus `kind`, `url`, `api_key`, `system_prompt`, `context_messages`, `welcome_message`,
//! `fallback_message` and `timeout_secs`.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentKind {
    Agno,
    OpenAi,
    Webhook,
}

#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub kind: AgentKind,
    pub url: String,
    pub agent_id: Option<String>,
    pub model: Option<String>,
    pub api_key: Option<String>,
    pub system_prompt: Option<String>,
    /// Earlier turns of the chat sent along (0 for none).
    pub context_messages: usize,
    /// Sent in answer to `/start`.
    pub welcome_message: Option<String>,
    /// Sent when the agent fails.
    pub fallback_message: String,
    pub timeout_secs: u64,
}

pub const DEFAULT_FALLBACK: &str = "Sorry, I cannot answer right now. Please try again later.";

impl AgentConfig {
    /// `Ok(None)` when no agent is configured or it is disabled; `Err` names the field at fault.
    pub fn from_json(v: &Value) -> Result<Option<Self>, (&'static str, String)> {
        if v.is_null() {
            return Ok(None);
        }
        let obj = v
            .as_object()
            .ok_or(("agno_config", "agno_config must be an object".to_string()))?;
        if obj.get("enabled").and_then(Value::as_bool) == Some(false) {
            return Ok(None);
        }
        let s = |k: &str| {
            obj.get(k)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let url = s("url").or_else(|| s("agnoUrl")).or_else(|| s("agno_url"));
        let kind = match s("kind").as_deref() {
            None | Some("agno") => AgentKind::Agno,
            Some("openai") => AgentKind::OpenAi,
            Some("webhook") => AgentKind::Webhook,
            Some(other) => {
                return Err((
                    "kind",
                    format!("unknown agent kind '{other}'; known: agno, openai, webhook"),
                ));
            }
        };
        let Some(url) = url else {
            // The seed's configs may carry a model but no URL: nothing to call.
            return Ok(None);
        };
        match reqwest::Url::parse(&url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            _ => return Err(("url", "the agent URL must be an http(s) URL".to_string())),
        }
        let context_messages = match obj.get("context_messages") {
            None | Some(Value::Null) => 10,
            Some(n) => n.as_u64().filter(|n| *n <= 100).ok_or((
                "context_messages",
                "context_messages must be 0 to 100".to_string(),
            ))? as usize,
        };
        let timeout_secs = match obj.get("timeout_secs") {
            None | Some(Value::Null) => 30,
            Some(n) => n
                .as_u64()
                .filter(|n| (1..=300).contains(n))
                .ok_or(("timeout_secs", "timeout_secs must be 1 to 300".to_string()))?,
        };
        Ok(Some(Self {
            kind,
            url,
            agent_id: s("agent_id"),
            model: s("model"),
            api_key: s("api_key"),
            system_prompt: s("system_prompt"),
            context_messages,
            welcome_message: s("welcome_message"),
            fallback_message: s("fallback_message").unwrap_or_else(|| DEFAULT_FALLBACK.to_string()),
            timeout_secs,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_seed_config_is_an_agno_agent() {
        let c = AgentConfig::from_json(&json!({"model": "gpt-4.1", "stream": false,
            "agnoUrl": "https://agents.example/v1/agents/a1/runs", "enabled": true, "agent_id": "a1"}))
        .unwrap()
        .unwrap();
        assert_eq!(c.kind, AgentKind::Agno);
        assert_eq!(c.agent_id.as_deref(), Some("a1"));
        assert_eq!(c.context_messages, 10);
        assert_eq!(c.fallback_message, DEFAULT_FALLBACK);
    }

    #[test]
    fn disabled_or_urlless_configs_mean_no_agent() {
        assert!(
            AgentConfig::from_json(&json!({"enabled": false, "url": "http://x"}))
                .unwrap()
                .is_none()
        );
        assert!(
            AgentConfig::from_json(&json!({"model": "m"}))
                .unwrap()
                .is_none()
        );
        assert!(AgentConfig::from_json(&Value::Null).unwrap().is_none());
    }

    #[test]
    fn bad_fields_are_named() {
        assert_eq!(
            AgentConfig::from_json(&json!({"kind": "llama", "url": "http://x"}))
                .unwrap_err()
                .0,
            "kind"
        );
        assert_eq!(
            AgentConfig::from_json(&json!({"url": "ftp://x"}))
                .unwrap_err()
                .0,
            "url"
        );
        assert_eq!(
            AgentConfig::from_json(&json!({"url": "http://x", "context_messages": 1000}))
                .unwrap_err()
                .0,
            "context_messages"
        );
    }
}
