//! `/api/v1/instances/{id}/memory` and `/api/v1/instances/memory/stats`: answers from the in-memory
//! cache, which is written through from the database and so agrees with it.

use axum::{
    Json,
    extract::{Path, State},
};
use shared::api::memory::{MemoryResponse, MemoryStats, MemoryStatsResponse};

use super::{AppState, views};
use crate::{
    domain::{AuthStatus, InstanceStatus},
    error::ApiError,
    fleet::now_ms,
};

#[utoipa::path(get, path = "/api/v1/instances/{id}/memory", tag = "instances", summary = "The cached record (agrees with the database)",
    params(("id" = String, Path, description = "Instance id")),
    responses((status = 200, description = "The cached record", body = MemoryResponse)),
    security(("admin_key" = [])))]
pub async fn get_memory(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<MemoryResponse>, ApiError> {
    let record = state.fleet.get(&id)?;
    Ok(Json(MemoryResponse {
        success: true,
        data: views::memory(&record),
        timestamp: views::rfc3339(now_ms()),
    }))
}

#[utoipa::path(get, path = "/api/v1/instances/memory/stats", tag = "instances", summary = "Counts by state, manager memory, message totals",
    responses((status = 200, description = "Fleet-wide counts from the cache", body = MemoryStatsResponse)),
    security(("admin_key" = [])))]
pub async fn get_stats(State(state): State<AppState>) -> Json<MemoryStatsResponse> {
    let all = state.fleet.cache.list();
    let now = now_ms();
    let count = |f: &dyn Fn(&crate::domain::InstanceRecord) -> bool| {
        all.iter().filter(|r| f(r)).count() as u64
    };
    let uptime_hours: f64 = all
        .iter()
        .map(|r| (now - r.created_at).max(0) as f64 / 3_600_000.0)
        .sum();
    let avg_uptime_hours = if all.is_empty() {
        0.0
    } else {
        uptime_hours / all.len() as f64
    };
    Json(MemoryStatsResponse {
        success: true,
        stats: MemoryStats {
            total_instances: all.len() as u64,
            active_instances: count(&|r| r.status == InstanceStatus::Running),
            authenticated_instances: count(&|r| r.auth_status == AuthStatus::ClientReady),
            error_instances: count(&|r| {
                matches!(r.status, InstanceStatus::Failed | InstanceStatus::Degraded)
            }),
            pending_instances: count(&|r| r.auth_status == AuthStatus::Pending),
            memory_usage_mb: crate::monitor::resources::manager_rss_bytes() / (1024 * 1024),
            avg_uptime_hours: (avg_uptime_hours * 1000.0).round() / 1000.0,
            total_messages_sent: all.iter().map(|r| r.sent_count).sum(),
            total_messages_received: all.iter().map(|r| r.received_count).sum(),
        },
    })
}
