//! `GET /api/v1/alerts?status=`, `POST /api/v1/alerts/{id}/resolve`, `GET/POST /api/v1/alerts/thresholds`
//! (seed 004).

use axum::{
    Json,
    extract::{
        Path, Query, State,
        rejection::{JsonRejection, QueryRejection},
    },
    http::StatusCode,
};
use serde::Deserialize;
use serde_json::{Value, json};
use shared::ErrorBody;

use super::{AppState, views::rfc3339};
use crate::{
    error::ApiError,
    fleet::now_ms,
    monitor::alerts::{COMPARISONS, HOST_METRICS, INSTANCE_METRICS},
    store::alerts::{Alert, Threshold},
};

#[derive(Debug, Deserialize)]
pub struct AlertQuery {
    status: Option<String>,
    limit: Option<i64>,
}

fn view(a: &Alert) -> Value {
    json!({
        "id": a.id,
        "threshold_id": a.threshold_id,
        "target": a.target,
        "metric_type": a.metric_type,
        "value": a.value,
        "threshold_value": a.threshold_value,
        "status": a.status,
        "message": a.message,
        "fired_at": rfc3339(a.fired_at),
        "resolved_at": a.resolved_at.map(rfc3339),
    })
}

#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", summary = "Alerts, newest first", params(("status" = Option<String>, Query, description = "active or resolved"), ("limit" = Option<i64>, Query, description = "Default 100")), responses((status = 200, description = "Success", body = serde_json::Value), (status = 401, description = "Missing or wrong admin key", body = ErrorBody), (status = 422, description = "Bad status", body = ErrorBody)), security(("admin_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<AlertQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query?;
    if let Some(s) = &q.status
        && !["active", "resolved"].contains(&s.as_str())
    {
        return Err(ApiError::validation(
            "status",
            "status must be active or resolved",
        ));
    }
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let alerts = state.fleet.store.alerts(q.status.as_deref(), limit).await?;
    let data: Vec<Value> = alerts.iter().map(view).collect();
    Ok(Json(
        json!({ "success": true, "count": data.len(), "alerts": data }),
    ))
}

#[utoipa::path(post, path = "/api/v1/alerts/{id}/resolve", tag = "alerts", summary = "Resolve an active alert", params(("id" = String, Path, description = "Alert id")), responses((status = 200, description = "Success", body = serde_json::Value), (status = 401, description = "Missing or wrong admin key", body = ErrorBody), (status = 404, description = "No such alert", body = ErrorBody), (status = 409, description = "Already resolved", body = ErrorBody)), security(("admin_key" = [])))]
pub async fn resolve(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    match state.fleet.store.resolve_alert(&id, now_ms()).await? {
        Some(a) => Ok(Json(json!({ "success": true, "alert": view(&a) }))),
        None => match state.fleet.store.alert(&id).await? {
            Some(_) => Err(ApiError::Conflict(format!(
                "alert {id} is already resolved"
            ))),
            None => Err(ApiError::NotFound(format!("alert {id} not found"))),
        },
    }
}

#[utoipa::path(get, path = "/api/v1/alerts/thresholds", tag = "alerts", summary = "Alert thresholds", responses((status = 200, description = "Success", body = serde_json::Value), (status = 401, description = "Missing or wrong admin key", body = ErrorBody)), security(("admin_key" = [])))]
pub async fn thresholds(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let all = state.fleet.store.thresholds().await?;
    Ok(Json(
        json!({ "success": true, "count": all.len(), "thresholds": all }),
    ))
}

#[utoipa::path(post, path = "/api/v1/alerts/thresholds", tag = "alerts", summary = "Create a threshold", request_body(content = serde_json::Value, description = "{scope: host|instance, instance_id?, metric_type, comparison: gt|gte|lt|lte, threshold_value, webhook_url?, enabled?}"), responses((status = 201, description = "Success", body = serde_json::Value), (status = 401, description = "Missing or wrong admin key", body = ErrorBody), (status = 422, description = "A field is wrong", body = ErrorBody)), security(("admin_key" = [])))]
pub async fn create_threshold(
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(body) = body?;
    let str_field = |f: &'static str| body.get(f).and_then(Value::as_str).map(str::to_string);
    let instance_id = str_field("instance_id");
    let scope = str_field("scope").unwrap_or_else(|| {
        if instance_id.is_some() {
            "instance".into()
        } else {
            "host".into()
        }
    });
    let metrics = match scope.as_str() {
        "host" => HOST_METRICS,
        "instance" => INSTANCE_METRICS,
        _ => {
            return Err(ApiError::validation(
                "scope",
                "scope must be host or instance",
            ));
        }
    };
    let metric_type = str_field("metric_type")
        .filter(|m| metrics.contains(&m.as_str()))
        .ok_or_else(|| {
            ApiError::validation(
                "metric_type",
                format!(
                    "metric_type must be one of {} for scope {scope}",
                    metrics.join(", ")
                ),
            )
        })?;
    let comparison = str_field("comparison").unwrap_or_else(|| "gt".into());
    if !COMPARISONS.contains(&comparison.as_str()) {
        return Err(ApiError::validation(
            "comparison",
            "comparison must be gt, gte, lt or lte",
        ));
    }
    let threshold_value = body
        .get("threshold_value")
        .and_then(Value::as_f64)
        .ok_or_else(|| {
            ApiError::validation("threshold_value", "threshold_value must be a number")
        })?;
    if let Some(id) = &instance_id {
        if scope == "host" {
            return Err(ApiError::validation(
                "instance_id",
                "a host threshold has no instance_id",
            ));
        }
        state.fleet.get(id)?;
    }
    let webhook_url = str_field("webhook_url");
    if let Some(url) = &webhook_url
        && reqwest::Url::parse(url)
            .map(|u| !matches!(u.scheme(), "http" | "https"))
            .unwrap_or(true)
    {
        return Err(ApiError::validation(
            "webhook_url",
            "webhook_url must be an http(s) URL",
        ));
    }
    let t = Threshold {
        id: uuid::Uuid::new_v4().to_string(),
        scope,
        instance_id,
        metric_type,
        comparison,
        threshold_value,
        enabled: body.get("enabled").and_then(Value::as_bool).unwrap_or(true),
        webhook_url,
        created_at: now_ms(),
    };
    state.fleet.store.insert_threshold(&t).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "success": true, "threshold": t })),
    ))
}
