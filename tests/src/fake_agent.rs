//! A fake AI agent for tests, speaking the three kinds the worker supports: the Agno agent runs API
//! (`POST /agno/v1/agents/{id}/runs`, form fields), an OpenAI-compatible
//! `POST /openai/v1/chat/completions`, and a plain JSON webhook (`POST /webhook`). `POST /fail/...`
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
    fake.record(AgentCall {
        kind: "openai",
        message: last.clone(),
        context_len,
        session: None,
    });
    Json(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": body["model"],
        "choices": [{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": format!("openai ({context_len} before): {last}")}}],
    }))
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
    });
    Json(json!({"reply": format!("webhook: {text}")}))
}
