//! `POST /api/v1/instances/{id}/send`: one text message sent by the bot, through its worker (the
//! dashboard's "send a test message"), with the worker's own validation, pace and answer.

use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
};
use shared::{
    ErrorBody,
    http::{Rejection, ValidJson},
    worker_api::{SendRequest, SendResponse},
};

use super::AppState;
use crate::error::ApiError;

/// How long the worker may take to send (its own pace included).
const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

#[utoipa::path(post, path = "/api/v1/instances/{id}/send", tag = "instances",
    summary = "Send one text message through the bot",
    params(("id" = String, Path, description = "Instance id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Sends at most once: a repeat with the same key within 24 hours is answered with the first answer and sends nothing. 1 to 255 visible ASCII characters.", max_length = 255, pattern = "^[!-~]{1,255}$")),
    request_body = SendRequest,
    responses((status = 200, description = "Sent", body = SendResponse),
        (status = 409, description = "The bot is paused (`code` `paused`): activate it to send", body = ErrorBody),
        (status = 422, description = "A field is wrong (`field` names it), or the platform refused the message (`provider_refused`)", body = ErrorBody),
        (status = 429, description = "Sends to this chat are already waiting; retry after `Retry-After` seconds", body = ErrorBody),
        (status = 502, description = "The platform could not be reached or failed", body = ErrorBody),
        (status = 503, description = "The bot's worker does not run or has not connected yet", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn send_message(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ValidJson(body): ValidJson<SendRequest>,
) -> Result<Json<SendResponse>, ApiError> {
    let r = state.fleet.get(&id)?;
    let key = shared::http::idempotency_key(&headers)?
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    match state
        .prober
        .send_message(&r, &key, &body, SEND_TIMEOUT)
        .await
    {
        Ok(sent) => Ok(Json(sent)),
        // The worker's refusal, as it answered it (its status and body).
        Err(failure) => match (
            failure.status.and_then(|s| StatusCode::from_u16(s).ok()),
            failure.error,
        ) {
            (Some(status), Some(body)) if status.is_client_error() || status.is_server_error() => {
                Err(ApiError::Rejected(Rejection { status, body }))
            }
            _ => Err(ApiError::NotReady(format!(
                "the bot's worker cannot send now: {}",
                failure.message
            ))),
        },
    }
}
