//! `GET /api/v1/instances/{id}/status-history`, `/errors`, `/activity-stats` and
//! `POST /api/v1/instances/{id}/clear-errors`.

use axum::{
    Json,
    extract::{Path, State},
};
use shared::{
    api::history::{
        ActivityStats, ActivityStatsResponse, ClearErrorsResponse, ErrorEntry, ErrorList,
        HistoryQuery, StatusChange, StatusHistory,
    },
    http::ValidQuery,
};

use super::{
    AppState,
    views::{rfc3339, stored},
};
use crate::{
    error::ApiError,
    fleet::{Source, now_ms},
    store::history::utc_day,
};

#[utoipa::path(get, path = "/api/v1/instances/{id}/status-history", tag = "history", summary = "Status changes, newest first",
    params(("id" = String, Path, description = "Instance id"), HistoryQuery),
    responses((status = 200, description = "Status changes, newest first", body = StatusHistory)),
    security(("admin_key" = [])))]
pub async fn get_status_history(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ValidQuery(query): ValidQuery<HistoryQuery>,
) -> Result<Json<StatusHistory>, ApiError> {
    let limit = query.limit();
    state.fleet.get(&id)?;
    let entries = state
        .fleet
        .store
        .status_history(&id, i64::from(limit))
        .await?;
    let data = entries
        .iter()
        .map(|e| {
            Ok(StatusChange {
                status: stored("status", &e.status)?,
                previous_status: e
                    .previous_status
                    .as_deref()
                    .map(|s| stored("previous_status", s))
                    .transpose()?,
                reason: e.reason.clone(),
                message: e.reason.clone(),
                source: stored("source", &e.source)?,
                timestamp: rfc3339(e.at),
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Json(StatusHistory {
        success: true,
        count: data.len() as u64,
        limit,
        data,
    }))
}

#[utoipa::path(get, path = "/api/v1/instances/{id}/errors", tag = "history", summary = "Recorded errors, newest first",
    params(("id" = String, Path, description = "Instance id"), HistoryQuery),
    responses((status = 200, description = "Recorded errors, newest first", body = ErrorList)),
    security(("admin_key" = [])))]
pub async fn list_errors(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ValidQuery(query): ValidQuery<HistoryQuery>,
) -> Result<Json<ErrorList>, ApiError> {
    let limit = query.limit();
    let r = state.fleet.get(&id)?;
    let entries = state.fleet.store.errors(&id, i64::from(limit)).await?;
    let data = entries
        .iter()
        .map(|e| {
            Ok(ErrorEntry {
                message: e.message.clone(),
                source: stored("source", &e.source)?,
                timestamp: rfc3339(e.at),
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Json(ErrorList {
        success: true,
        count: data.len() as u64,
        limit,
        error_count: r.error_count,
        data,
    }))
}

#[utoipa::path(post, path = "/api/v1/instances/{id}/clear-errors", tag = "history", summary = "Forget recorded errors",
    params(("id" = String, Path, description = "Instance id")),
    responses((status = 200, description = "Forgotten; the error count is 0", body = ClearErrorsResponse)),
    security(("admin_key" = [])))]
pub async fn clear_errors(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ClearErrorsResponse>, ApiError> {
    state.fleet.get(&id)?;
    let cleared = state.fleet.store.clear_errors(&id).await?;
    state
        .fleet
        .update(&id, Source::Api, |r| {
            r.error_count = 0;
            r.last_error = None;
        })
        .await?;
    Ok(Json(ClearErrorsResponse {
        success: true,
        cleared,
        message: "Errors cleared successfully".into(),
    }))
}

#[utoipa::path(get, path = "/api/v1/instances/{id}/activity-stats", tag = "history", summary = "Uptime, messages today, health score, restarts",
    params(("id" = String, Path, description = "Instance id")),
    responses((status = 200, description = "The instance's activity", body = ActivityStatsResponse)),
    security(("admin_key" = [])))]
pub async fn get_activity_stats(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ActivityStatsResponse>, ApiError> {
    let r = state.fleet.get(&id)?;
    let now = now_ms();
    let (sent_today, received_today) = state.fleet.messages_on(&id, &utc_day(now)).await?;
    let uptime_ms = r
        .running_since
        .map(|since| (now - since).max(0))
        .unwrap_or(0);
    let checks = r.health_check_count.max(1);
    let health_score =
        ((checks - r.health_fail_count.min(checks)) as f64 / checks as f64 * 100.0).round();
    Ok(Json(ActivityStatsResponse {
        success: true,
        data: ActivityStats {
            status: r.status,
            uptime_seconds: uptime_ms / 1000,
            uptime_hours: uptime_ms as f64 / 3_600_000.0,
            running_since: r.running_since.map(rfc3339),
            messages_sent_today: sent_today,
            messages_received_today: received_today,
            messages_sent_total: r.sent_count,
            messages_received_total: r.received_count,
            health_score: if r.health_check_count == 0 {
                100.0
            } else {
                health_score
            },
            health_checks: r.health_check_count,
            failed_health_checks: r.health_fail_count,
            restarts: r.restart_count,
            crashes_in_a_row: r.crash_count,
            last_seen: r.last_health_at.map(rfc3339),
            last_poll_at: r.last_poll_at.map(rfc3339),
        },
    }))
}
