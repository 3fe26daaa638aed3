//! `POST /api/v1/instances/{id}/test`: sends a message through the instance's agent pipeline without
//! Telegram (seed 003), returning the answer, its latency and its tokens.

use axum::{
    Json,
    extract::{Path, State},
};
use shared::{
    ErrorBody,
    api::access::{AgentTestRequest, AgentTestResponse, TestTokens},
    http::ValidJson,
};

use super::AppState;
use crate::error::ApiError;

#[utoipa::path(post, path = "/api/v1/instances/{id}/test", tag = "agent",
    summary = "Ask the instance's agent a question without Telegram",
    params(("id" = String, Path, description = "Instance id")),
    request_body = AgentTestRequest,
    responses((status = 200, description = "The agent's answer and latency", body = AgentTestResponse),
        (status = 409, description = "The instance has no enabled agent", body = ErrorBody),
        (status = 502, description = "The agent failed", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn test_agent(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ValidJson(body): ValidJson<AgentTestRequest>,
) -> Result<Json<AgentTestResponse>, ApiError> {
    let r = state.fleet.get(&id)?;
    let config = r
        .agno_config
        .as_ref()
        .and_then(|c| c.active())
        .ok_or_else(|| {
            ApiError::Conflict(format!("instance {id} has no enabled agent (agno_config)"))
        })?;
    let kind = config.kind;
    let client = agent::AgentClient::new(config, state.fleet.outbound.clone());
    let answer = client
        .ask(
            &format!("test:{id}"),
            "botfleet-test",
            &[],
            body.message.trim(),
        )
        .await
        .map_err(|e| ApiError::Upstream(e.to_string()))?;
    Ok(Json(AgentTestResponse {
        success: true,
        instance_id: id,
        agent: kind,
        reply: answer.text,
        latency_ms: answer.latency.as_secs_f64() * 1e3,
        tokens: answer.tokens.map(|t| TestTokens {
            input: t.input,
            output: t.output,
        }),
    }))
}
