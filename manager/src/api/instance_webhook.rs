//! `GET/PUT/DELETE /api/v1/instances/{id}/webhook/config`, `GET .../webhook/deliveries` and the replays
//! of dead-lettered deliveries. The configuration is stored here and handed to the worker; deliveries
//! come from the manager's outbox (see `webhook_delivery`).

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use shared::{
    ErrorBody,
    api::webhooks::{DeliveriesQuery, DeliveryList, DeliveryStatus, DeliveryView, ReplayResponse},
    http::{ValidJson, ValidQuery},
    webhook::{WebhookConfigRequest, WebhookConfigView, WebhookSetting},
};

use super::{AppState, views::rfc3339};
use crate::{
    error::ApiError,
    fleet::now_ms,
    store::webhooks::{DeliveryRow, Replay},
};

#[utoipa::path(get, path = "/api/v1/instances/{id}/webhook/config", tag = "webhooks", summary = "The instance's webhook (never the secret)",
    params(("id" = String, Path, description = "Instance id")),
    responses((status = 200, description = "Configuration (`configured: false` when there is none)", body = WebhookConfigView)),
    security(("admin_key" = [])))]
pub async fn get_webhook_config(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<WebhookConfigView>, ApiError> {
    state.fleet.get(&id)?;
    let stored = state.fleet.store.webhook(&id).await?;
    Ok(Json(
        stored.map_or_else(WebhookConfigView::none, |w| w.view()),
    ))
}

#[utoipa::path(put, path = "/api/v1/instances/{id}/webhook/config", tag = "webhooks", summary = "Set the instance's webhook: URL, event filter, secret",
    params(("id" = String, Path, description = "Instance id")),
    request_body = WebhookConfigRequest,
    responses((status = 200, description = "Saved; a generated secret is shown this once", body = WebhookConfigView)),
    security(("admin_key" = [])))]
pub async fn put_webhook_config(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ValidJson(request): ValidJson<WebhookConfigRequest>,
) -> Result<Json<WebhookConfigView>, ApiError> {
    let record = state.fleet.get(&id)?;
    state.fleet.check_destination("url", Some(&request.url))?;
    let previous = state.fleet.store.webhook(&id).await?;
    let setting = WebhookSetting {
        url: request.url.clone(),
        events: request.unique_events(),
        secret: request.secret.clone(),
        enabled: request.enabled,
        // Strictly newer than the stored one, so this write wins.
        updated_at: now_ms().max(previous.as_ref().map_or(0, |w| w.updated_at + 1)),
    };
    let mut generated = None;
    let (saved, _) = state
        .fleet
        .store
        .put_webhook(&id, &setting, || {
            let secret = shared::secret::webhook_secret();
            generated = Some(secret.clone());
            secret
        })
        .await?;
    // The worker shows it too; if it is not running it gets it at its next health check.
    if let Err(e) = state.prober.push_webhook(&record, &saved.view()).await {
        tracing::debug!(instance_id = %id, error = %e, "webhook configuration not handed to the worker yet");
    }
    Ok(Json(WebhookConfigView {
        secret: generated,
        ..saved.view()
    }))
}

#[utoipa::path(delete, path = "/api/v1/instances/{id}/webhook/config", tag = "webhooks", summary = "Remove the webhook and its undelivered events",
    params(("id" = String, Path, description = "Instance id")),
    responses((status = 204, description = "Removed"),
        (status = 404, description = "No such instance, or it has no webhook", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn delete_webhook_config(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let record = state.fleet.get(&id)?;
    if !state.fleet.store.delete_webhook(&id).await? {
        return Err(ApiError::NotFound(format!("instance {id} has no webhook")));
    }
    let mut none = WebhookConfigView::none();
    none.updated_at = Some(now_ms());
    if let Err(e) = state.prober.push_webhook(&record, &none).await {
        tracing::debug!(instance_id = %id, error = %e, "webhook removal not handed to the worker yet");
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/instances/{id}/webhook/deliveries", tag = "webhooks", summary = "Webhook deliveries, newest first (status=dead lists the dead letters)",
    params(("id" = String, Path, description = "Instance id"), DeliveriesQuery),
    responses((status = 200, description = "Deliveries", body = DeliveryList)),
    security(("admin_key" = [])))]
pub async fn list_webhook_deliveries(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ValidQuery(query): ValidQuery<DeliveriesQuery>,
) -> Result<Json<DeliveryList>, ApiError> {
    state.fleet.get(&id)?;
    let deliveries: Vec<DeliveryView> = state
        .fleet
        .store
        .deliveries(&id, query.status, i64::from(query.limit()))
        .await?
        .into_iter()
        .map(delivery_view)
        .collect();
    Ok(Json(DeliveryList {
        success: true,
        count: deliveries.len(),
        deliveries,
    }))
}

fn delivery_view(d: DeliveryRow) -> DeliveryView {
    DeliveryView {
        next_attempt_at: (d.status == DeliveryStatus::Pending).then(|| rfc3339(d.next_attempt_at)),
        id: d.id,
        event_type: d.event_type,
        status: d.status,
        attempts: d.attempts,
        last_error: d.last_error,
        last_status: d.last_status,
        created_at: rfc3339(d.created_at),
        finished_at: d.finished_at.map(rfc3339),
        payload: d.payload,
    }
}

#[utoipa::path(post, path = "/api/v1/instances/{id}/webhook/deliveries/{delivery_id}/replay", tag = "webhooks", summary = "Queue a dead (or delivered) delivery again",
    params(("id" = String, Path, description = "Instance id"), ("delivery_id" = String, Path, description = "Delivery (event) id")),
    responses((status = 202, description = "Queued", body = ReplayResponse),
        (status = 404, description = "No such instance, or it has no such delivery", body = ErrorBody),
        (status = 409, description = "The delivery is still pending", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn replay_webhook_delivery(
    State(state): State<AppState>,
    Path((id, delivery_id)): Path<(String, String)>,
) -> Result<(StatusCode, Json<ReplayResponse>), ApiError> {
    state.fleet.get(&id)?;
    match state.fleet.store.replay_delivery(&id, &delivery_id).await? {
        Replay::Queued => Ok((
            StatusCode::ACCEPTED,
            Json(ReplayResponse {
                success: true,
                queued: 1,
            }),
        )),
        Replay::NotFound => Err(ApiError::NotFound(format!(
            "instance {id} has no delivery {delivery_id}"
        ))),
        Replay::StillPending => Err(ApiError::Conflict(format!(
            "delivery {delivery_id} is still pending"
        ))),
    }
}

#[utoipa::path(post, path = "/api/v1/instances/{id}/webhook/deliveries/replay", tag = "webhooks", summary = "Queue every dead delivery again",
    params(("id" = String, Path, description = "Instance id")),
    responses((status = 202, description = "Queued (`queued` may be 0)", body = ReplayResponse)),
    security(("admin_key" = [])))]
pub async fn replay_dead_webhook_deliveries(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<ReplayResponse>), ApiError> {
    state.fleet.get(&id)?;
    let queued = state.fleet.store.replay_dead(&id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ReplayResponse {
            success: true,
            queued,
        }),
    ))
}
