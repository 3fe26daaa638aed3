//! `POST /api/v1/control/callback`: a platform callback (a Telegram update in webhook mode, a WhatsApp
//! notification, …) the manager received, verified the platform's way and hands on (control key only).

use axum::{Json, body::Bytes, extract::State};
use shared::{ErrorBody, api::platform_webhooks::CallbackDelivered};

use super::AppState;
use crate::error::ApiError;

#[utoipa::path(post, path = "/api/v1/control/callback", tag = "worker", summary = "A verified platform callback, handed on by the manager (control key only)",
    request_body(description = "The callback's body as the platform sent it", content_type = "application/json", content = String),
    responses((status = 200, description = "Taken: the messages it carried reached the bot", body = CallbackDelivered),
        (status = 403, description = "Not the manager's control key", body = ErrorBody),
        (status = 422, description = "Not one of this platform's callbacks", body = ErrorBody)),
    security(("control_key" = [])))]
pub async fn post_callback(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<CallbackDelivered>, ApiError> {
    let messages = state
        .bot
        .deliver_callback(&body)
        .map_err(|e| ApiError::validation("body", e))?;
    Ok(Json(CallbackDelivered {
        success: true,
        messages,
    }))
}
