//! `GET/PUT /api/v1/webhook/config`: where the instance's events are delivered. The manager delivers
//! them (signed, retried, dead-lettered); a change made here reaches it with the next event collection.
//! `PUT /api/v1/control/webhook` is the manager's way to hand its configuration back (control key only).

use axum::{Extension, Json, extract::State, extract::rejection::JsonRejection};
use shared::{
    ErrorBody,
    http::ValidJson,
    webhook::{WebhookConfigRequest, WebhookConfigView},
};

use super::AppState;
use crate::{auth::Caller, error::ApiError};

#[utoipa::path(get, path = "/api/v1/webhook/config", tag = "worker", summary = "The webhook configuration (never the secret)",
    responses((status = 200, description = "Configuration", body = WebhookConfigView), (status = 401, description = "Missing or wrong key", body = ErrorBody)),
    security(("instance_key" = [])))]
pub async fn get_config(State(state): State<AppState>) -> Json<WebhookConfigView> {
    Json(state.webhook.view())
}

#[utoipa::path(put, path = "/api/v1/webhook/config", tag = "worker", summary = "Set the webhook: URL, event filter, secret",
    request_body = WebhookConfigRequest,
    responses((status = 200, description = "Saved; a generated secret is shown this once", body = WebhookConfigView),
        (status = 400, description = "Malformed JSON", body = ErrorBody), (status = 401, description = "Missing or wrong key", body = ErrorBody),
        (status = 422, description = "Bad URL, event type or secret", body = ErrorBody)),
    security(("instance_key" = [])))]
pub async fn put_config(
    State(state): State<AppState>,
    ValidJson(request): ValidJson<WebhookConfigRequest>,
) -> Result<Json<WebhookConfigView>, ApiError> {
    let (view, setting) = state.webhook.set_by_user(&request, request.unique_events());
    state.events.webhook_config(setting);
    tracing::info!(url_host = %host_of(view.url.as_deref()), "webhook configured");
    Ok(Json(view))
}

#[utoipa::path(put, path = "/api/v1/control/webhook", tag = "worker", summary = "The manager's webhook configuration (control key only)",
    request_body = WebhookConfigView,
    responses((status = 200, description = "Taken, or ignored as older than the worker's", body = WebhookConfigView),
        (status = 401, description = "Missing or wrong key", body = ErrorBody), (status = 403, description = "Not the control key", body = ErrorBody)),
    security(("instance_key" = [])))]
pub async fn put_from_manager(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<WebhookConfigView>, JsonRejection>,
) -> Result<Json<WebhookConfigView>, ApiError> {
    if caller != Caller::Manager {
        return Err(ApiError::Forbidden(
            "only the manager may hand over its configuration",
        ));
    }
    let Json(view) = body?;
    state.webhook.set_by_manager(view);
    Ok(Json(state.webhook.view()))
}

/// The URL's host, for logs (paths and queries may hold tokens).
pub fn host_of(url: Option<&str>) -> &str {
    url.and_then(|u| u.split("://").nth(1))
        .and_then(|rest| rest.split(['/', '?', '#']).next())
        .map(|h| h.rsplit('@').next().unwrap_or(h))
        .unwrap_or("")
}
