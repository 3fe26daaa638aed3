//! `GET /api/v1/instances/{id}/status-history`, `/errors`, `/activity-stats` and
//! `POST /api/v1/instances/{id}/clear-errors`.

use axum::{
    Json,
    extract::{Path, Query, State, rejection::QueryRejection},
};
use serde::Deserialize;
use serde_json::{Value, json};
use shared::ErrorBody;

use super::{AppState, views::rfc3339};
use crate::{
    error::ApiError,
    fleet::{Source, now_ms},
    store::history::utc_day,
};

#[derive(Debug, Deserialize)]
pub struct Limit {
    pub(super) limit: Option<i64>,
}

impl Limit {
    pub(super) fn value(&self) -> Result<i64, ApiError> {
        match self.limit {
            None => Ok(50),
            Some(n) if (1..=1000).contains(&n) => Ok(n),
            Some(_) => Err(ApiError::validation(
                "limit",
                "limit must be from 1 to 1000",
            )),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/instances/{id}/status-history", tag = "history", summary = "Status changes, newest first", params(("id" = String, Path, description = "Instance id"), ("limit" = Option<i64>, Query, description = "1 to 1000, default 50")), responses((status = 200, description = "Success", body = serde_json::Value), (status = 401, description = "Missing or wrong admin key", body = ErrorBody), (status = 404, description = "No such instance", body = ErrorBody), (status = 422, description = "Bad limit", body = ErrorBody)), security(("admin_key" = [])))]
pub async fn status_history(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<Limit>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query?;
    let limit = query.value()?;
    state.fleet.get(&id)?;
    let entries = state.fleet.store.status_history(&id, limit).await?;
    let data: Vec<Value> = entries
        .iter()
        .map(|e| {
            json!({
                "status": e.status,
                "previous_status": e.previous_status,
                "reason": e.reason,
                "message": e.reason,
                "source": e.source,
                "timestamp": rfc3339(e.at),
            })
        })
        .collect();
    Ok(Json(
        json!({ "success": true, "count": data.len(), "limit": limit, "data": data }),
    ))
}

#[utoipa::path(get, path = "/api/v1/instances/{id}/errors", tag = "history", summary = "Recorded errors, newest first", params(("id" = String, Path, description = "Instance id"), ("limit" = Option<i64>, Query, description = "1 to 1000, default 50")), responses((status = 200, description = "Success", body = serde_json::Value), (status = 401, description = "Missing or wrong admin key", body = ErrorBody), (status = 404, description = "No such instance", body = ErrorBody)), security(("admin_key" = [])))]
pub async fn errors(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<Limit>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query?;
    let limit = query.value()?;
    let r = state.fleet.get(&id)?;
    let entries = state.fleet.store.errors(&id, limit).await?;
    let data: Vec<Value> = entries
        .iter()
        .map(|e| json!({ "message": e.message, "source": e.source, "timestamp": rfc3339(e.at) }))
        .collect();
    Ok(Json(json!({
        "success": true,
        "count": data.len(),
        "limit": limit,
        "error_count": r.error_count,
        "data": data,
    })))
}

#[utoipa::path(post, path = "/api/v1/instances/{id}/clear-errors", tag = "history", summary = "Forget recorded errors", params(("id" = String, Path, description = "Instance id")), responses((status = 200, description = "Success", body = serde_json::Value), (status = 401, description = "Missing or wrong admin key", body = ErrorBody), (status = 404, description = "No such instance", body = ErrorBody)), security(("admin_key" = [])))]
pub async fn clear_errors(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state.fleet.get(&id)?;
    let cleared = state.fleet.store.clear_errors(&id).await?;
    state
        .fleet
        .update(&id, Source::Api, |r| {
            r.error_count = 0;
            r.last_error = None;
        })
        .await?;
    Ok(Json(
        json!({ "success": true, "cleared": cleared, "message": "Errors cleared successfully" }),
    ))
}

#[utoipa::path(get, path = "/api/v1/instances/{id}/activity-stats", tag = "history", summary = "Uptime, messages today, health score, restarts", params(("id" = String, Path, description = "Instance id")), responses((status = 200, description = "Success", body = serde_json::Value), (status = 401, description = "Missing or wrong admin key", body = ErrorBody), (status = 404, description = "No such instance", body = ErrorBody)), security(("admin_key" = [])))]
pub async fn activity_stats(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let r = state.fleet.get(&id)?;
    let now = now_ms();
    let (sent_today, received_today) = state.fleet.store.messages_on(&id, &utc_day(now)).await?;
    let uptime_ms = r
        .running_since
        .map(|since| (now - since).max(0))
        .unwrap_or(0);
    let checks = r.health_check_count.max(1);
    let health_score =
        ((checks - r.health_fail_count.min(checks)) as f64 / checks as f64 * 100.0).round();
    Ok(Json(json!({
        "success": true,
        "data": {
            "status": r.status,
            "uptime_seconds": uptime_ms / 1000,
            "uptime_hours": uptime_ms as f64 / 3_600_000.0,
            "running_since": r.running_since.map(rfc3339),
            "messages_sent_today": sent_today,
            "messages_received_today": received_today,
            "messages_sent_total": r.sent_count,
            "messages_received_total": r.received_count,
            "health_score": if r.health_check_count == 0 { 100.0 } else { health_score },
            "health_checks": r.health_check_count,
            "failed_health_checks": r.health_fail_count,
            "restarts": r.restart_count,
            "crashes_in_a_row": r.crash_count,
            "last_seen": r.last_health_at.map(rfc3339),
            "last_poll_at": r.last_poll_at.map(rfc3339),
        }
    })))
}
