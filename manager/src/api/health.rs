//! `GET /health` (no auth): is the manager up, and can it reach its database (seed 000 shape plus
//! version and database); `GET /api/v1/health/history?hours=&limit=` (seed 001): the same, sampled.

use axum::{Json, extract::State, http::StatusCode};
use shared::{
    api::health::{
        HealthHistoryQuery, HealthHistoryResponse, HealthResponse, HealthSample, ManagerRole,
        ManagerStatus, Reachability, SampledStatus,
    },
    http::ValidQuery,
};

use super::{AppState, views::rfc3339};
use crate::{fleet::now_ms, monitor::resources::manager_rss_bytes};

#[utoipa::path(get, path = "/health", tag = "manager", summary = "Manager health: status, uptime, memory, active tasks, database",
    responses((status = 200, description = "Healthy", body = HealthResponse),
        (status = 503, description = "The database is unreachable (the same body, `unhealthy`)", body = HealthResponse)))]
pub async fn get_health(State(state): State<AppState>) -> (StatusCode, Json<HealthResponse>) {
    let database_ok = state.fleet.store.ping().await;
    let (status, manager) = if database_ok {
        (StatusCode::OK, ManagerStatus::Healthy)
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, ManagerStatus::Unhealthy)
    };
    let body = HealthResponse {
        status: manager,
        uptime: state.started_at.elapsed().as_secs_f64(),
        memory_mb: (manager_rss_bytes() as f64 / 1_048_576.0 * 100.0).round() / 100.0,
        active_tasks: state.performance.in_flight(),
        timestamp: rfc3339(now_ms()),
        version: env!("CARGO_PKG_VERSION").into(),
        database: Reachability::of(database_ok),
        engine: Reachability::of(state.reconciler.engine_up()),
        runtime: state.fleet.runtime.kind().as_str().into(),
        instances: state.fleet.cache.len() as u64,
        role: if state.leader.is_leading() {
            ManagerRole::Leader
        } else {
            ManagerRole::Follower
        },
    };
    (status, Json(body))
}

#[utoipa::path(get, path = "/api/v1/health/history", tag = "manager", summary = "Sampled manager health",
    params(HealthHistoryQuery),
    responses((status = 200, description = "Samples of the period, newest first", body = HealthHistoryResponse)),
    security(("admin_key" = [])))]
pub async fn get_health_history(
    State(state): State<AppState>,
    ValidQuery(q): ValidQuery<HealthHistoryQuery>,
) -> Json<HealthHistoryResponse> {
    let hours = q.hours();
    let to = now_ms();
    let samples = state
        .resources
        .between(to - (hours * 3_600_000.0) as i64, to);
    let history: Vec<HealthSample> = samples
        .iter()
        .rev()
        .take(q.limit() as usize)
        .map(|s| HealthSample {
            service: "botfleet-manager".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            status: if s.database_ok && s.containers.is_some() {
                SampledStatus::Healthy
            } else {
                SampledStatus::Degraded
            },
            db_status: Reachability::of(s.database_ok),
            docker_status: Reachability::of(s.containers.is_some()),
            instances: s.instances_total as u64,
            running_instances: s.instances_running as u64,
            memory_mb: s.manager_rss_bytes / 1_048_576,
            checked_at: rfc3339(s.at),
        })
        .collect();
    Json(HealthHistoryResponse {
        success: true,
        total_records: history.len() as u64,
        history,
        period_hours: hours,
    })
}
