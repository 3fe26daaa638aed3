//! `GET /health` (no auth): is the manager up, and can it reach its database (seed 000 shape plus
//! version and database); `GET /api/v1/health/history?hours=&limit=` (seed 001): the same, sampled.

use axum::{
    Json,
    extract::{Query, State, rejection::QueryRejection},
    http::StatusCode,
};
use serde::Deserialize;
use serde_json::{Value, json};
use shared::ErrorBody;

use super::{AppState, views::rfc3339};
use crate::{error::ApiError, fleet::now_ms, monitor::resources::manager_rss_bytes};

#[utoipa::path(get, path = "/health", tag = "manager", summary = "Manager health: status, uptime, memory, active tasks, database", responses((status = 200, description = "Success", body = serde_json::Value), (status = 503, description = "Database unreachable", body = serde_json::Value)))]
pub async fn get_health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let database_ok = state.fleet.store.ping().await;
    let status = if database_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if database_ok { "healthy" } else { "unhealthy" },
        "uptime": state.started_at.elapsed().as_secs_f64(),
        "memory_mb": (manager_rss_bytes() as f64 / 1_048_576.0 * 100.0).round() / 100.0,
        // Requests being served right now (this one included).
        "active_tasks": state.performance.in_flight(),
        "timestamp": rfc3339(now_ms()),
        "version": env!("CARGO_PKG_VERSION"),
        "database": if database_ok { "ok" } else { "unreachable" },
        "instances": state.fleet.cache.len(),
    });
    (status, Json(body))
}

#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    hours: Option<f64>,
    limit: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/health/history", tag = "manager", summary = "Sampled manager health", params(("hours" = Option<f64>, Query, description = "Default 24"), ("limit" = Option<usize>, Query, description = "Default 100")), responses((status = 200, description = "Success", body = serde_json::Value), (status = 401, description = "Missing or wrong admin key", body = ErrorBody), (status = 422, description = "Bad hours or limit", body = ErrorBody)), security(("admin_key" = [])))]
pub async fn history(
    State(state): State<AppState>,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query?;
    let hours = q.hours.unwrap_or(24.0);
    if !(hours > 0.0 && hours <= 24.0 * 30.0) {
        return Err(ApiError::validation(
            "hours",
            "hours must be more than 0 and at most 720",
        ));
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::validation(
            "limit",
            "limit must be from 1 to 10000",
        ));
    }
    let to = now_ms();
    let samples = state
        .resources
        .between(to - (hours * 3_600_000.0) as i64, to);
    let history: Vec<Value> = samples
        .iter()
        .rev()
        .take(limit)
        .map(|s| {
            json!({
                "service": "botfleet-manager",
                "version": env!("CARGO_PKG_VERSION"),
                "status": if s.database_ok && s.containers.is_some() { "healthy" } else { "degraded" },
                "db_status": if s.database_ok { "ok" } else { "unreachable" },
                "docker_status": if s.containers.is_some() { "ok" } else { "unreachable" },
                "instances": s.instances_total,
                "running_instances": s.instances_running,
                "memory_mb": s.manager_rss_bytes / 1_048_576,
                "checked_at": rfc3339(s.at),
            })
        })
        .collect();
    Ok(Json(json!({
        "success": true,
        "history": history,
        "period_hours": hours,
        "total_records": history.len(),
    })))
}
