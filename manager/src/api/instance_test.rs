//! `POST /api/v1/instances/{id}/test`: sends a message through the instance's agent pipeline without
//! Telegram (seed 003), returning the answer and its latency.

use axum::{
    Json,
    extract::{Path, State, rejection::JsonRejection},
};
use serde_json::{Value, json};
use shared::ErrorBody;

use super::AppState;
use crate::error::ApiError;

#[utoipa::path(post, path = "/api/v1/instances/{id}/test", tag = "agent",
    summary = "Ask the instance's agent a question without Telegram",
    params(("id" = String, Path, description = "Instance id")),
    request_body(content = serde_json::Value, description = "{message: string}"),
    responses((status = 200, description = "The agent's answer and latency", body = serde_json::Value),
        (status = 401, description = "Missing or wrong admin key", body = ErrorBody),
        (status = 404, description = "No such instance", body = ErrorBody),
        (status = 409, description = "The instance has no agent", body = ErrorBody),
        (status = 422, description = "No message", body = ErrorBody),
        (status = 502, description = "The agent failed", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn test_agent(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    let message = body
        .get("message")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| ApiError::validation("message", "message is required"))?
        .to_string();
    let r = state.fleet.get(&id)?;
    let config = r
        .agno_config
        .as_ref()
        .and_then(|v| worker::agent::AgentConfig::from_json(v).ok().flatten())
        .ok_or_else(|| {
            ApiError::Conflict(format!("instance {id} has no enabled agent (agno_config)"))
        })?;
    let kind = format!("{:?}", config.kind).to_lowercase();
    let client = worker::agent::AgentClient::new(config);
    let answer = client
        .ask(&format!("test:{id}"), "botfleet-test", &[], &message)
        .await
        .map_err(|e| ApiError::Upstream(e.to_string()))?;
    Ok(Json(json!({
        "success": true,
        "instance_id": id,
        "agent": kind,
        "reply": answer.text,
        "latency_ms": answer.latency.as_secs_f64() * 1e3,
    })))
}
