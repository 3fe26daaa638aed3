//! The AI agent bridge: an incoming text goes to the instance's agent and its answer goes back to the
//! chat. Four kinds of agent are spoken: the Agno agent runs API (the seed's `agno_config`), any
//! OpenAI-compatible `/v1/chat/completions` endpoint, Anthropic's Messages API, and a plain JSON webhook. Each chat keeps its own
//! recent context, so two chats never mix.

mod bridge;
mod context;
mod guard;

use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub use bridge::{AgentBridge, Reply};
pub use context::{ChatContext, Role, Turn};
pub use shared::agent::{ActiveAgent as AgentConfig, AgentKind};
pub use shared::worker_api::{Exchange, Outcome};

/// Why the agent gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The agent's address is not allowed (`--outbound-allow`): nothing was sent.
    #[error("agent not called: {0}")]
    Refused(netguard::Refused),
    #[error("agent unreachable: {0}")]
    Unreachable(String),
    #[error("agent answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("agent answer has no text: {0}")]
    NoText(String),
}

/// An answer, how long it took and what it cost.
#[derive(Debug, Clone)]
pub struct Answer {
    pub text: String,
    pub latency: Duration,
    /// The tokens the agent's `usage` reported; none when it reported none.
    pub tokens: Option<Tokens>,
}

/// Tokens of one agent call, as the agent reported them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tokens {
    /// The question with its context and system prompt.
    pub input: u64,
    /// The answer.
    pub output: u64,
}

/// Talks to one configured agent, through the guarded client (the agent's URL is user input: no
/// private destination unless allowed, no redirect).
#[derive(Clone)]
pub struct AgentClient {
    config: AgentConfig,
    http: netguard::Outbound,
}

impl AgentClient {
    pub fn new(config: AgentConfig, http: netguard::Outbound) -> Self {
        Self { config, http }
    }

    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    /// Asks the agent about `text`, with the chat's earlier turns as context.
    pub async fn ask(
        &self,
        session_id: &str,
        user_id: &str,
        history: &[Turn],
        text: &str,
    ) -> Result<Answer, AgentError> {
        let started = Instant::now();
        let c = &self.config;
        let request = match c.kind {
            AgentKind::Agno => {
                let mut form = vec![
                    ("message", text.to_string()),
                    ("stream", "false".to_string()),
                    ("session_id", session_id.to_string()),
                    ("user_id", user_id.to_string()),
                ];
                if let Some(model) = &c.model {
                    form.push(("model", model.clone()));
                }
                self.http.post(&c.url).form(&form)
            }
            AgentKind::OpenAi => {
                let mut messages = Vec::new();
                if let Some(system) = &c.system_prompt {
                    messages.push(json!({"role": "system", "content": system}));
                }
                for turn in history {
                    messages.push(json!({"role": turn.role.as_str(), "content": turn.text}));
                }
                messages.push(json!({"role": "user", "content": text}));
                let mut body = json!({
                    "model": c.model.clone().unwrap_or_else(|| "gpt-4o-mini".into()),
                    "messages": messages,
                    "stream": false,
                    "user": user_id,
                });
                let sampling = &c.llm_config;
                for (key, value) in [
                    ("temperature", sampling.temperature.map(Value::from)),
                    ("top_p", sampling.top_p.map(Value::from)),
                    ("stop", sampling.stop.clone().map(Value::from)),
                    ("max_tokens", c.max_tokens.map(Value::from)),
                ] {
                    if let Some(value) = value {
                        body[key] = value;
                    }
                }
                let mut request = self.http.post(&c.url).json(&body);
                if let Some(key) = &c.api_key {
                    request = request.bearer_auth(key);
                }
                request
            }
            AgentKind::Anthropic => {
                // The Messages API wants the turns to start with the user's (a context window cut
                // after a question starts with an answer: it is left out); the system prompt apart.
                let first_question = history
                    .iter()
                    .position(|t| t.role == Role::User)
                    .unwrap_or(history.len());
                let mut messages: Vec<Value> = history[first_question..]
                    .iter()
                    .map(|t| json!({"role": t.role.as_str(), "content": t.text}))
                    .collect();
                messages.push(json!({"role": "user", "content": text}));
                let mut body = json!({
                    "model": c.model.clone().unwrap_or_else(|| "claude-sonnet-4-5".into()),
                    "max_tokens": c.max_tokens.unwrap_or(ANTHROPIC_MAX_TOKENS),
                    "messages": messages,
                    "metadata": {"user_id": user_id},
                });
                if let Some(system) = &c.system_prompt {
                    body["system"] = json!(system);
                }
                let sampling = &c.llm_config;
                for (key, value) in [
                    ("temperature", sampling.temperature.map(Value::from)),
                    ("top_p", sampling.top_p.map(Value::from)),
                    ("top_k", sampling.top_k.map(Value::from)),
                    ("stop_sequences", sampling.stop.clone().map(Value::from)),
                ] {
                    if let Some(value) = value {
                        body[key] = value;
                    }
                }
                let mut request = self
                    .http
                    .post(&c.url)
                    .header("anthropic-version", ANTHROPIC_VERSION)
                    .json(&body);
                if let Some(key) = &c.api_key {
                    request = request.header("x-api-key", key);
                }
                request
            }
            AgentKind::Webhook => {
                let context: Vec<Value> = history
                    .iter()
                    .map(|t| json!({"role": t.role.as_str(), "text": t.text}))
                    .collect();
                let mut request = self.http.post(&c.url).json(&json!({
                    "session_id": session_id,
                    "user_id": user_id,
                    "text": text,
                    "context": context,
                }));
                if let Some(key) = &c.api_key {
                    request = request.bearer_auth(key);
                }
                request
            }
        };
        let response = request
            .timeout(Duration::from_millis(c.timeout_ms))
            .send()
            .await
            .map_err(|e| match e {
                netguard::Error::Refused(refused) => AgentError::Refused(refused),
                netguard::Error::Http(e) => AgentError::Unreachable(e.without_url().to_string()),
            })?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| AgentError::Unreachable(e.without_url().to_string()))?;
        if !status.is_success() {
            return Err(AgentError::Status {
                status: status.as_u16(),
                body: body.chars().take(200).collect(),
            });
        }
        let text = extract_text(c.kind, &body)
            .ok_or_else(|| AgentError::NoText(body.chars().take(200).collect()))?;
        Ok(Answer {
            text,
            latency: started.elapsed(),
            tokens: extract_tokens(&body),
        })
    }
}

/// The Messages API version spoken.
const ANTHROPIC_VERSION: &str = "2023-06-01";
/// Longest answer asked of an Anthropic model when `max_tokens_per_turn` is not set, in tokens (the API
/// requires a bound).
const ANTHROPIC_MAX_TOKENS: u32 = 1024;

/// The answer's text, wherever each kind of agent puts it.
fn extract_text(kind: AgentKind, body: &str) -> Option<String> {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        // Agno and webhooks may answer plain text.
        let t = body.trim();
        return (!t.is_empty() && matches!(kind, AgentKind::Agno | AgentKind::Webhook))
            .then(|| t.to_string());
    };
    let text = match kind {
        AgentKind::OpenAi => v
            .pointer("/choices/0/message/content")
            .and_then(Value::as_str),
        AgentKind::Agno => v.get("content").and_then(Value::as_str),
        // The first text block of the answer's content.
        AgentKind::Anthropic => v
            .get("content")
            .and_then(Value::as_array)
            .and_then(|blocks| {
                blocks
                    .iter()
                    .find(|b| b["type"] == "text")
                    .and_then(|b| b["text"].as_str())
            }),
        AgentKind::Webhook => ["reply", "text", "content", "message"]
            .iter()
            .find_map(|k| v.get(*k).and_then(Value::as_str)),
    };
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

/// The tokens of the answer's `usage`: OpenAI's `prompt_tokens`/`completion_tokens`, Anthropic's
/// `input_tokens`/`output_tokens`; Agno and webhooks count only when they send such a `usage` (either
/// naming). A missing half counts 0; no usage at all, none.
fn extract_tokens(body: &str) -> Option<Tokens> {
    let v = serde_json::from_str::<Value>(body).ok()?;
    let usage = v.get("usage").filter(|u| u.is_object())?;
    let count = |names: [&str; 2]| {
        names
            .iter()
            .find_map(|n| usage.get(*n).and_then(Value::as_u64))
    };
    let (input, output) = (
        count(["input_tokens", "prompt_tokens"]),
        count(["output_tokens", "completion_tokens"]),
    );
    (input.is_some() || output.is_some()).then(|| Tokens {
        input: input.unwrap_or(0),
        output: output.unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_found_where_each_kind_puts_them() {
        let openai = r#"{"choices":[{"message":{"role":"assistant","content":"hi"}}]}"#;
        assert_eq!(
            extract_text(AgentKind::OpenAi, openai).as_deref(),
            Some("hi")
        );
        assert_eq!(
            extract_text(AgentKind::Agno, r#"{"content":"agno"}"#).as_deref(),
            Some("agno")
        );
        assert_eq!(
            extract_text(AgentKind::Agno, "plain").as_deref(),
            Some("plain")
        );
        assert_eq!(
            extract_text(AgentKind::Webhook, r#"{"reply":"w"}"#).as_deref(),
            Some("w")
        );
        let anthropic = r#"{"type":"message","role":"assistant","content":[{"type":"thinking","thinking":"…"},{"type":"text","text":"claude"}],"usage":{"input_tokens":3,"output_tokens":1}}"#;
        assert_eq!(
            extract_text(AgentKind::Anthropic, anthropic).as_deref(),
            Some("claude")
        );
        assert_eq!(extract_text(AgentKind::Anthropic, "plain"), None);
        assert_eq!(extract_text(AgentKind::OpenAi, "plain"), None);
        assert_eq!(extract_text(AgentKind::Webhook, r#"{"reply":"  "}"#), None);
    }

    #[test]
    fn tokens_come_from_the_usage_under_either_naming() {
        let tokens = |input, output| Some(Tokens { input, output });
        let openai = r#"{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}"#;
        assert_eq!(extract_tokens(openai), tokens(12, 3));
        let anthropic = r#"{"content":[],"usage":{"input_tokens":7,"output_tokens":2}}"#;
        assert_eq!(extract_tokens(anthropic), tokens(7, 2));
        assert_eq!(
            extract_tokens(r#"{"reply":"w","usage":{"output_tokens":4}}"#),
            tokens(0, 4)
        );
        assert_eq!(extract_tokens(r#"{"reply":"w"}"#), None);
        assert_eq!(extract_tokens(r#"{"reply":"w","usage":{}}"#), None);
        assert_eq!(extract_tokens(r#"{"usage":"lots"}"#), None);
        assert_eq!(extract_tokens("plain text"), None);
    }
}
