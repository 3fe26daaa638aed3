//! `GET /api/v1/alerts?status=&limit=`, `POST /api/v1/alerts/{id}/resolve`,
//! `GET/POST /api/v1/alerts/thresholds` (seed 004).

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use shared::{
    ErrorBody,
    api::alerts::{
        AlertList, AlertListQuery, AlertView, Comparison, CreateThresholdRequest, CreatedThreshold,
        DeletedThreshold, ResolvedAlert, ThresholdList, ThresholdView,
    },
    http::{ValidJson, ValidQuery},
};

use super::{
    AppState,
    views::{rfc3339, stored},
};
use crate::{
    auth::Principal,
    error::ApiError,
    fleet::now_ms,
    store::alerts::{Alert, Threshold},
};

fn alert_view(a: &Alert) -> Result<AlertView, ApiError> {
    Ok(AlertView {
        id: a.id.clone(),
        threshold_id: a.threshold_id.clone(),
        target: a.target.clone(),
        metric_type: stored("metric_type", &a.metric_type)?,
        value: a.value,
        threshold_value: a.threshold_value,
        status: stored("status", &a.status)?,
        message: a.message.clone(),
        fired_at: rfc3339(a.fired_at),
        resolved_at: a.resolved_at.map(rfc3339),
    })
}

fn threshold_view(t: &Threshold) -> Result<ThresholdView, ApiError> {
    Ok(ThresholdView {
        id: t.id.clone(),
        scope: stored("scope", &t.scope)?,
        instance_id: t.instance_id.clone(),
        metric_type: stored("metric_type", &t.metric_type)?,
        comparison: stored("comparison", &t.comparison)?,
        threshold_value: t.threshold_value,
        enabled: t.enabled,
        webhook_url: t.webhook_url.as_deref().map(shared::secret::redact_url),
        created_at: t.created_at,
    })
}

#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", summary = "Alerts, newest first",
    params(AlertListQuery),
    responses((status = 200, description = "The alerts, newest first", body = AlertList)),
    security(("admin_key" = [])))]
pub async fn list_alerts(
    State(state): State<AppState>,
    principal: Principal,
    ValidQuery(q): ValidQuery<AlertListQuery>,
) -> Result<Json<AlertList>, ApiError> {
    // Users see the alerts of their own bots; host alerts are for operators and admins.
    let visible = (!principal.sees_all()).then(|| super::visible_instance_ids(&state, &principal));
    let alerts = state
        .fleet
        .store
        .alerts(
            q.status.map(|s| s.as_str()),
            visible.as_deref(),
            i64::from(q.limit()),
        )
        .await?;
    let alerts = alerts
        .iter()
        .map(alert_view)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(AlertList {
        success: true,
        count: alerts.len() as u64,
        alerts,
    }))
}

#[utoipa::path(post, path = "/api/v1/alerts/{id}/resolve", tag = "alerts", summary = "Resolve an active alert",
    params(("id" = String, Path, description = "Alert id")),
    responses((status = 200, description = "Resolved", body = ResolvedAlert),
        (status = 404, description = "No alert by that id", body = ErrorBody),
        (status = 409, description = "The alert is already resolved", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn resolve_alert(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ResolvedAlert>, ApiError> {
    match state.fleet.store.resolve_alert(&id, now_ms()).await? {
        Some(a) => Ok(Json(ResolvedAlert {
            success: true,
            alert: alert_view(&a)?,
        })),
        None => match state.fleet.store.alert(&id).await? {
            Some(_) => Err(ApiError::Conflict(format!(
                "alert {id} is already resolved"
            ))),
            None => Err(ApiError::NotFound(format!("alert {id} not found"))),
        },
    }
}

#[utoipa::path(delete, path = "/api/v1/alerts/thresholds/{id}", tag = "alerts", summary = "Delete a threshold (its active alerts are resolved)",
    params(("id" = String, Path, description = "Threshold id")),
    responses((status = 200, description = "Deleted", body = DeletedThreshold),
        (status = 404, description = "No threshold by that id", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn delete_threshold(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<DeletedThreshold>, ApiError> {
    match state.fleet.store.delete_threshold(&id, now_ms()).await? {
        Some(resolved_alerts) => Ok(Json(DeletedThreshold {
            success: true,
            id,
            resolved_alerts,
        })),
        None => Err(ApiError::NotFound(format!("threshold {id} not found"))),
    }
}

#[utoipa::path(get, path = "/api/v1/alerts/thresholds", tag = "alerts", summary = "Alert thresholds",
    responses((status = 200, description = "Every threshold, oldest first", body = ThresholdList)),
    security(("admin_key" = [])))]
pub async fn list_thresholds(
    State(state): State<AppState>,
) -> Result<Json<ThresholdList>, ApiError> {
    let all = state.fleet.store.thresholds().await?;
    let thresholds = all
        .iter()
        .map(threshold_view)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(ThresholdList {
        success: true,
        count: thresholds.len() as u64,
        thresholds,
    }))
}

#[utoipa::path(post, path = "/api/v1/alerts/thresholds", tag = "alerts", summary = "Create a threshold",
    request_body = CreateThresholdRequest,
    responses((status = 201, description = "Created; evaluated from the next resource sample on", body = CreatedThreshold),
        (status = 404, description = "`instance_id` names no instance", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn create_threshold(
    State(state): State<AppState>,
    ValidJson(body): ValidJson<CreateThresholdRequest>,
) -> Result<(StatusCode, Json<CreatedThreshold>), ApiError> {
    body.check()
        .map_err(|(field, message)| ApiError::validation(field, message))?;
    state
        .fleet
        .check_destination("webhook_url", body.webhook_url.as_deref())?;
    if let Some(id) = &body.instance_id {
        state.fleet.get(id)?;
    }
    let t = Threshold {
        id: uuid::Uuid::new_v4().to_string(),
        scope: body.scope().as_str().into(),
        instance_id: body.instance_id.clone(),
        metric_type: body.metric_type.as_str().into(),
        comparison: body.comparison.unwrap_or(Comparison::Gt).as_str().into(),
        threshold_value: body.threshold_value,
        enabled: body.enabled.unwrap_or(true),
        webhook_url: body.webhook_url.clone(),
        created_at: now_ms(),
    };
    state.fleet.store.insert_threshold(&t).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedThreshold {
            success: true,
            threshold: threshold_view(&t)?,
        }),
    ))
}
