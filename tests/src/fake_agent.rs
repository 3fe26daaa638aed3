//! A fake AI agent for tests, speaking the four kinds the worker supports: the Agno agent runs API
//! (`POST /agno/v1/agents/{id}/runs`, form fields), an OpenAI-compatible
//! `POST /openai/v1/chat/completions`, Anthropic's Messages API (`POST /anthropic/v1/messages`), and a
//! plain JSON webhook (`POST /webhook`). `POST /fail/...`
//! always answers 500. Each answer names what it was asked and how much context came along, so tests
//! can check context and sessions.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    Form, Json, Router,
    extract::{Path, State},
    http::StatusCode,
    routing::post,
};
use serde_json::{Value, json};

/// What the fake agent was asked.
#[derive(Debug, Clone)]
pub struct AgentCall {
    pub kind: &'static str,
    pub message: String,
    /// Earlier turns sent along (OpenAI messages and webhook context).
    pub context_len: usize,
    pub session: Option<String>,
    /// The JSON body as it came (OpenAI and Anthropic), for what a test wants to look at.
    pub body: Value,
    /// The `usage` the answer reported, `(in, out)` tokens (OpenAI and Anthropic).
    pub usage: Option<(u64, u64)>,
}

/// Tokens as the fake counts them: words, at least one.
pub fn tokens(text: &str) -> u64 {
    (text.split_whitespace().count() as u64).max(1)
}

#[derive(Clone, Default)]
pub struct FakeAgent {
    calls: Arc<Mutex<Vec<AgentCall>>>,
}

impl FakeAgent {
    pub async fn start(addr: SocketAddr) -> std::io::Result<(Self, SocketAddr)> {
        let fake = Self::default();
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        let app = Router::new()
            .route("/agno/v1/agents/{agent}/runs", post(agno))
            .route("/openai/v1/chat/completions", post(openai))
            .route("/webhook", post(webhook))
            .route("/anthropic/v1/messages", post(anthropic))
            .route(
                "/fail/{*rest}",
                post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "agent down") }),
            )
            .with_state(fake.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok((fake, bound))
    }

    pub fn calls(&self) -> Vec<AgentCall> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn record(&self, call: AgentCall) {
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(call);
    }
}

async fn agno(
    State(fake): State<FakeAgent>,
    Path(agent): Path<String>,
    Form(form): Form<std::collections::HashMap<String, String>>,
) -> Json<Value> {
    let message = form.get("message").cloned().unwrap_or_default();
    let session = form.get("session_id").cloned();
    fake.record(AgentCall {
        kind: "agno",
        message: message.clone(),
        context_len: 0,
        session: session.clone(),
        body: Value::Null,
        usage: None,
    });
    Json(
        json!({"content": format!("agno {agent}: {message}"), "session_id": session, "run_id": "r1"}),
    )
}

async fn openai(State(fake): State<FakeAgent>, Json(body): Json<Value>) -> Json<Value> {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let last = messages
        .last()
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_string();
    let context_len = messages.len().saturating_sub(1);
    let reply = format!("openai ({context_len} before): {last}");
    let prompt: u64 = messages
        .iter()
        .map(|m| tokens(m["content"].as_str().unwrap_or_default()))
        .sum();
    let completion = tokens(&reply);
    fake.record(AgentCall {
        kind: "openai",
        message: last.clone(),
        context_len,
        session: None,
        body: body.clone(),
        usage: Some((prompt, completion)),
    });
    Json(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": body["model"],
        "choices": [{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": reply}}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion},
    }))
}

/// Anthropic's Messages API: refuses a request without `anthropic-version`, `x-api-key` or `max_tokens`
/// as Anthropic does (400/401), and answers with one text block and `usage`.
async fn anthropic(
    State(fake): State<FakeAgent>,
    headers: axum::http::HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let error = |status: StatusCode, kind: &str, message: &str| {
        (
            status,
            Json(json!({"type": "error", "error": {"type": kind, "message": message}})),
        )
    };
    if headers.get("anthropic-version").is_none() {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "anthropic-version header is required",
        );
    }
    if headers.get("x-api-key").is_none() {
        return error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "x-api-key header is required",
        );
    }
    if !body["max_tokens"].is_u64() {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "max_tokens: Field required",
        );
    }
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    if messages.first().is_some_and(|m| m["role"] != "user")
        || messages.iter().any(|m| m["role"] == "system")
    {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "messages: roles must alternate, starting with user; the system prompt goes in `system`",
        );
    }
    let last = messages
        .last()
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_string();
    let context_len = messages.len().saturating_sub(1);
    let system = body["system"]
        .as_str()
        .map(|s| format!(" [{s}]"))
        .unwrap_or_default();
    let reply = format!("anthropic ({context_len} before){system}: {last}");
    let input: u64 = messages
        .iter()
        .map(|m| tokens(m["content"].as_str().unwrap_or_default()))
        .sum::<u64>()
        + body["system"].as_str().map_or(0, tokens);
    let output = tokens(&reply);
    fake.record(AgentCall {
        kind: "anthropic",
        message: last.clone(),
        context_len,
        session: body["metadata"]["user_id"].as_str().map(str::to_string),
        body: body.clone(),
        usage: Some((input, output)),
    });
    (
        StatusCode::OK,
        Json(json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": body["model"],
            "content": [{"type": "text", "text": reply}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": input, "output_tokens": output},
        })),
    )
}

async fn webhook(State(fake): State<FakeAgent>, Json(body): Json<Value>) -> Json<Value> {
    let text = body["text"].as_str().unwrap_or_default().to_string();
    let context_len = body["context"].as_array().map(Vec::len).unwrap_or(0);
    let session = body["session_id"].as_str().map(str::to_string);
    fake.record(AgentCall {
        kind: "webhook",
        message: text.clone(),
        context_len,
        session,
        body: body.clone(),
        usage: None,
    });
    Json(json!({"reply": format!("webhook: {text}")}))
}
