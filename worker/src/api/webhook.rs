//! `GET/PUT /api/v1/webhook/config`: where the instance's events are delivered. The manager delivers
//! them (signed, retried, dead-lettered); a change made here reaches it with the next event collection.
//! `PUT /api/v1/control/webhook` is the manager's way to hand its configuration back (control key only).

use axum::{Json, extract::State};
use shared::{
    ErrorBody,
    http::ValidJson,
    webhook::{WebhookConfigRequest, WebhookConfigView},
};

use super::AppState;
use crate::error::ApiError;

#[utoipa::path(get, path = "/api/v1/webhook/config", tag = "worker", summary = "The webhook configuration (never the secret)",
    responses((status = 200, description = "Configuration", body = WebhookConfigView)),
    security(("instance_key" = [])))]
pub async fn get_webhook_config(State(state): State<AppState>) -> Json<WebhookConfigView> {
    Json(state.webhook.view())
}

#[utoipa::path(put, path = "/api/v1/webhook/config", tag = "worker", summary = "Set the webhook: URL, event filter, secret",
    request_body = WebhookConfigRequest,
    responses((status = 200, description = "Saved; a generated secret is shown this once", body = WebhookConfigView)),
    security(("instance_key" = [])))]
pub async fn put_webhook_config(
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
        (status = 403, description = "Not the manager's control key", body = ErrorBody)),
    security(("control_key" = [])))]
pub async fn put_control_webhook(
    State(state): State<AppState>,
    ValidJson(view): ValidJson<WebhookConfigView>,
) -> Json<WebhookConfigView> {
    state.webhook.set_by_manager(view);
    Json(state.webhook.view())
}

/// The URL's host, for logs (paths and queries may hold tokens).
pub fn host_of(url: Option<&str>) -> &str {
    url.and_then(|u| u.split("://").nth(1))
        .and_then(|rest| rest.split(['/', '?', '#']).next())
        .map(|h| h.rsplit('@').next().unwrap_or(h))
        .unwrap_or("")
}
