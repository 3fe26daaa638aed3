//! `POST /api/v1/send-bulk` (and the `/api/v1/telegram/send-bulk` alias): one template to many chats.
//! Up to 50 recipients answer when done (seed `002` shape); more run as a job, answered at once with its
//! id, and `GET /api/v1/jobs/{id}` reports progress.

use std::sync::Arc;

use axum::{
    Json,
    extract::{Path, State, rejection::JsonRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value, json};
use shared::ErrorBody;

use super::{AppState, send::parse_chat_id};
use crate::{error::ApiError, jobs::BulkRecipient};

/// Recipients answered in the same request; more become a job.
pub const INLINE_LIMIT: usize = 50;
/// Recipients one request may name.
pub const MAX_RECIPIENTS: usize = 1000;

fn parse_recipients(value: Option<&Value>) -> Result<Vec<BulkRecipient>, ApiError> {
    let items = value
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            ApiError::validation("recipients", "recipients must be a non-empty array")
        })?;
    if items.len() > MAX_RECIPIENTS {
        return Err(ApiError::validation(
            "recipients",
            format!("at most {MAX_RECIPIENTS} recipients per request"),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let (chat, vars) = match item {
                Value::Object(o) => (
                    o.get("chatId"),
                    o.get("vars")
                        .and_then(Value::as_object)
                        .cloned()
                        .unwrap_or_default(),
                ),
                other => (Some(other), Map::new()),
            };
            let parsed = parse_chat_id(chat)
                .map_err(|e| ApiError::validation("recipients", format!("recipients[{i}]: {e}")))?;
            let label = match chat {
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
                None => String::new(),
            };
            Ok(BulkRecipient {
                label,
                chat: parsed,
                vars,
            })
        })
        .collect()
}

async fn bulk(
    state: AppState,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body?;
    let recipients = parse_recipients(body.get("recipients"))?;
    let template = body
        .get("message")
        .and_then(Value::as_str)
        .filter(|m| !m.trim().is_empty())
        .ok_or_else(|| ApiError::validation("message", "message is required"))?
        .to_string();
    if !state.status.is_healthy() {
        return Err(ApiError::NotReady(
            "the bot is not connected to Telegram yet".into(),
        ));
    }
    let total = recipients.len();
    let id = state.jobs.create(&template, &recipients);
    let run = Arc::clone(&state.jobs).run(
        id.clone(),
        state.bot.clone(),
        template,
        recipients.into_iter().enumerate().collect(),
    );
    if total <= INLINE_LIMIT {
        let job = run.await;
        return Ok(Json(json!({
            "success": job.success,
            "totalRecipients": job.total_recipients,
            "successCount": job.success_count,
            "failureCount": job.failure_count,
            "results": job.results,
            "startTime": job.start_time,
            "endTime": job.end_time,
            "totalDuration": job.total_duration,
        }))
        .into_response());
    }
    tokio::spawn(run);
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "success": true,
            "jobId": id,
            "status": "running",
            "totalRecipients": total,
            "statusUrl": format!("/api/v1/jobs/{id}"),
        })),
    )
        .into_response())
}

#[utoipa::path(post, path = "/api/v1/send-bulk", tag = "worker", summary = "One template to many chats",
    request_body(content = serde_json::Value, description = "{recipients: [chatId | {chatId, vars}], message: \"Hello {name}\"}"),
    responses((status = 200, description = "Done (up to 50 recipients)", body = serde_json::Value),
        (status = 202, description = "Queued as a job", body = serde_json::Value),
        (status = 401, description = "Missing or wrong key", body = ErrorBody),
        (status = 422, description = "A field is missing or wrong", body = ErrorBody)),
    security(("instance_key" = [])))]
pub async fn send_bulk(
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    bulk(state, body).await
}

#[utoipa::path(post, path = "/api/v1/telegram/send-bulk", tag = "worker", summary = "Alias of /api/v1/send-bulk",
    request_body(content = serde_json::Value, description = "{recipients, message}"),
    responses((status = 200, description = "Done", body = serde_json::Value), (status = 202, description = "Queued as a job", body = serde_json::Value),
        (status = 401, description = "Missing or wrong key", body = ErrorBody), (status = 422, description = "A field is missing or wrong", body = ErrorBody)),
    security(("instance_key" = [])))]
pub async fn telegram_send_bulk(
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    bulk(state, body).await
}

#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "worker", summary = "Progress of a bulk job",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, description = "The job", body = serde_json::Value), (status = 401, description = "Missing or wrong key", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody)),
    security(("instance_key" = [])))]
pub async fn get_job(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let job = state
        .jobs
        .get(&id)
        .ok_or_else(|| ApiError::NotFound(format!("job {id} not found")))?;
    Ok(Json(json!(job)))
}
