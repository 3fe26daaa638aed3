//! `/api/v1/resources*`: the host, the engine's containers, every instance's CPU and memory, ports,
//! the manager's own timings and a health verdict. Everything is read from the sampler's latest sample;
//! no request waits on Docker.

use std::{collections::BTreeMap, sync::Arc, time::Instant};

use axum::{
    Json,
    extract::{Path, State},
};
use shared::{
    ErrorBody,
    api::resources::{
        ClearPortCacheResponse, ContainerCounts, DockerSummary, DurationStats, InstanceCounts,
        InstanceResources, InstanceResourcesResponse, InstanceSample, InstanceUsage,
        MemoryCleanupResponse, PerformanceResponse, PortRange, PortStats, PortsResponse,
        ResourceHealthResponse, ResourceHealthStatus, ResourceHistoryQuery,
        ResourceHistoryResponse, ResourceSample, ResourcesOverview, ServerResources,
        StressTestRequest, StressTestResponse, parse_timestamp_ms,
    },
    http::{ValidJson, ValidQuery},
};

use super::{AppState, views::rfc3339};
use crate::{
    auth::Principal,
    domain::{InstanceStatus, NewInstance},
    error::ApiError,
    fleet::now_ms,
    monitor::resources::{Sample, manager_rss_bytes, percent},
};

fn latest(state: &AppState) -> Result<Arc<Sample>, ApiError> {
    state.resources.latest().ok_or_else(|| {
        ApiError::NotReady(
            "the first resource sample is not taken yet; retry in a few seconds".into(),
        )
    })
}

fn human_uptime(secs: u64) -> String {
    let (days, hours, minutes) = (secs / 86_400, secs % 86_400 / 3_600, secs % 3_600 / 60);
    match days {
        0 => format!("{hours} hours, {minutes} minutes"),
        1 => format!("1 day, {hours} hours"),
        d => format!("{d} days, {hours} hours"),
    }
}

fn mb(bytes: u64) -> String {
    format!("{}MB", bytes / (1024 * 1024))
}

#[utoipa::path(get, path = "/api/v1/resources", tag = "resources", summary = "Host, Docker and instance counts",
    responses((status = 200, description = "The latest sample", body = ResourcesOverview),
        (status = 503, description = "No sample taken yet", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn get_resources(
    State(state): State<AppState>,
) -> Result<Json<ResourcesOverview>, ApiError> {
    let s = latest(&state)?;
    let all = state.fleet.cache.list();
    let count = |status: InstanceStatus| all.iter().filter(|r| r.status == status).count() as u64;
    let mut by_status = BTreeMap::<String, u64>::new();
    for r in &all {
        *by_status.entry(r.status.as_str().to_string()).or_default() += 1;
    }
    let h = &s.host;
    Ok(Json(ResourcesOverview {
        success: true,
        sampled_at: rfc3339(s.at),
        server: ServerResources {
            cpu_usage: format!("{:.1}%", h.cpu_percent),
            memory_usage: format!("{:.1}%", h.memory_percent),
            disk_usage: format!("{:.1}%", h.disk_percent),
            uptime: human_uptime(h.uptime_seconds),
            host: h.clone(),
        },
        docker: match s.containers {
            Some((total, running)) => DockerSummary {
                available: true,
                total_containers: Some(total as u64),
                running_containers: Some(running as u64),
                stopped_containers: Some(total.saturating_sub(running) as u64),
            },
            None => DockerSummary {
                available: false,
                total_containers: None,
                running_containers: None,
                stopped_containers: None,
            },
        },
        instances: InstanceCounts {
            total: all.len() as u64,
            running: count(InstanceStatus::Running),
            stopped: count(InstanceStatus::Stopped),
            by_status,
        },
    }))
}

fn usage(i: &crate::monitor::resources::InstanceSample) -> InstanceUsage {
    InstanceUsage {
        instance_id: i.instance_id.to_string(),
        display_name: i.display_name.to_string(),
        status: i.status,
        cpu_usage: format!("{:.1}%", i.usage.cpu_percent),
        memory_usage: mb(i.usage.memory_bytes),
        cpu_percent: i.usage.cpu_percent,
        memory_bytes: i.usage.memory_bytes,
        memory_limit_bytes: i.usage.memory_limit_bytes,
        memory_percent: percent(i.usage.memory_bytes, i.usage.memory_limit_bytes),
    }
}

#[utoipa::path(get, path = "/api/v1/resources/instances", tag = "resources", summary = "CPU and memory of the caller's instance containers",
    responses((status = 200, description = "The latest sample of every running worker the caller may see (a user: their own; operators and admins: all)", body = InstanceResources),
        (status = 503, description = "No sample taken yet", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn get_instance_resources(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<InstanceResources>, ApiError> {
    let s = latest(&state)?;
    let instances: Vec<InstanceUsage> = s
        .instances
        .iter()
        .filter(|i| principal.may_see_cached(&state.fleet.cache, &i.instance_id))
        .map(usage)
        .collect();
    Ok(Json(InstanceResources {
        success: true,
        sampled_at: rfc3339(s.at),
        total: instances.len() as u64,
        instances,
    }))
}

#[utoipa::path(get, path = "/api/v1/instances/{id}/resources", tag = "resources", summary = "CPU and memory of one instance's container",
    params(("id" = String, Path, description = "Instance id")),
    responses((status = 200, description = "The latest sample of the instance's worker (`usage` is null while it does not run)", body = InstanceResourcesResponse),
        (status = 503, description = "No sample taken yet", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn get_one_instance_resources(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<InstanceResourcesResponse>, ApiError> {
    let r = state.fleet.get(&id)?;
    let s = latest(&state)?;
    Ok(Json(InstanceResourcesResponse {
        success: true,
        instance_id: r.id.clone(),
        sampled_at: rfc3339(s.at),
        usage: s
            .instances
            .iter()
            .find(|i| *i.instance_id == *r.id)
            .map(usage),
    }))
}

/// Port statistics of the configured range.
pub fn port_stats(state: &AppState) -> PortStats {
    let range = state.fleet.ports.range();
    let total = u64::from(range.end() - range.start()) + 1;
    let all = state.fleet.cache.list();
    // An MCP server holds a second port.
    let used = all
        .iter()
        .map(|r| 1 + u64::from(r.mcp_port.is_some()))
        .sum::<u64>();
    let reserved = all
        .iter()
        .filter(|r| r.status == InstanceStatus::Creating)
        .count() as u64;
    let busy = state.fleet.ports.busy_on_host() as u64;
    PortStats {
        total_ports: total,
        used_ports: used,
        available_ports: total.saturating_sub(used + busy),
        reserved_ports: reserved,
        busy_on_host: busy,
        port_range: PortRange {
            start: *range.start(),
            end: *range.end(),
        },
        utilization_percent: used as f64 / total as f64 * 100.0,
    }
}

#[utoipa::path(get, path = "/api/v1/resources/ports", tag = "resources", summary = "Port range usage",
    responses((status = 200, description = "Used, available, reserved and busy ports", body = PortsResponse)),
    security(("admin_key" = [])))]
pub async fn get_port_stats(State(state): State<AppState>) -> Json<PortsResponse> {
    Json(PortsResponse {
        success: true,
        stats: port_stats(&state),
    })
}

#[utoipa::path(post, path = "/api/v1/resources/ports/clear-cache", tag = "resources", summary = "Forget which host ports were busy",
    responses((status = 200, description = "Forgotten", body = ClearPortCacheResponse)),
    security(("admin_key" = [])))]
pub async fn clear_port_cache(State(state): State<AppState>) -> Json<ClearPortCacheResponse> {
    let cleared = state.fleet.ports.clear_cache();
    Json(ClearPortCacheResponse {
        success: true,
        cleared: cleared as u64,
        message: "Port cache cleared successfully".into(),
    })
}

#[utoipa::path(get, path = "/api/v1/resources/performance", tag = "resources", summary = "Port assignment and request timings",
    responses((status = 200, description = "Timings since the manager started", body = PerformanceResponse)),
    security(("admin_key" = [])))]
pub async fn get_performance(State(state): State<AppState>) -> Json<PerformanceResponse> {
    let (port_assignment, requests) = state.performance.report();
    Json(PerformanceResponse {
        success: true,
        port_assignment,
        requests,
        port_statistics: port_stats(&state),
    })
}

/// Problems an operator should look at, with what to do about each.
pub fn health_verdict(state: &AppState) -> ResourceHealthResponse {
    let mut issues = Vec::new();
    let mut recommendations = Vec::new();
    let mut critical = false;
    match state.resources.latest() {
        None => issues.push("no resource sample yet".to_string()),
        Some(s) => {
            if s.host.memory_percent > 90.0 {
                issues.push(format!("host memory at {:.1}%", s.host.memory_percent));
                recommendations.push(
                    "free memory or lower --worker-memory-mb; move bots to another host"
                        .to_string(),
                );
                critical |= s.host.memory_percent > 97.0;
            }
            if s.host.disk_percent > 90.0 {
                issues.push(format!("disk at {:.1}%", s.host.disk_percent));
                recommendations.push("free disk space (old images, logs)".to_string());
            }
            if s.containers.is_none() {
                issues.push("Docker does not answer".to_string());
                recommendations
                    .push("check that dockerd runs and the socket is reachable".to_string());
                critical = true;
            }
        }
    }
    let ports = port_stats(state);
    let utilisation = ports.utilization_percent;
    if utilisation > 90.0 {
        issues.push(format!("port range {utilisation:.1}% used"));
        recommendations.push("widen --port-min/--port-max or delete unused instances".to_string());
    }
    let failing: Vec<String> = state
        .fleet
        .cache
        .list()
        .iter()
        .filter(|r| matches!(r.status, InstanceStatus::Failed | InstanceStatus::Degraded))
        .map(|r| format!("{} ({})", r.id, r.status.as_str()))
        .collect();
    if !failing.is_empty() {
        issues.push(format!(
            "{} instance(s) failing: {}",
            failing.len(),
            failing.join(", ")
        ));
        recommendations
            .push("see /api/v1/instances/{id}/errors and restart or fix their tokens".to_string());
    }
    let status = if critical {
        ResourceHealthStatus::Critical
    } else if issues.is_empty() {
        ResourceHealthStatus::Healthy
    } else {
        ResourceHealthStatus::Warning
    };
    ResourceHealthResponse {
        success: true,
        status,
        issues,
        recommendations,
        port_statistics: ports,
    }
}

#[utoipa::path(get, path = "/api/v1/resources/health", tag = "resources", summary = "Issues and recommendations",
    responses((status = 200, description = "healthy, warning or critical, with the issues found", body = ResourceHealthResponse)),
    security(("admin_key" = [])))]
pub async fn get_resource_health(State(state): State<AppState>) -> Json<ResourceHealthResponse> {
    Json(health_verdict(&state))
}

#[utoipa::path(post, path = "/api/v1/resources/memory/cleanup", tag = "resources", summary = "Trim kept history and idle bookkeeping",
    responses((status = 200, description = "Trimmed", body = MemoryCleanupResponse)),
    security(("admin_key" = [])))]
pub async fn cleanup_memory(State(state): State<AppState>) -> Json<MemoryCleanupResponse> {
    let before = manager_rss_bytes();
    let trimmed = state.resources.trim();
    let locks = state.reconciler.forget_idle_locks();
    let after = manager_rss_bytes();
    Json(MemoryCleanupResponse {
        success: true,
        message: "Memory cleanup completed".into(),
        trimmed_samples: trimmed as u64,
        released_locks: locks as u64,
        total_instances: state.fleet.cache.len() as u64,
        memory_before_mb: before / (1024 * 1024),
        memory_after_mb: after / (1024 * 1024),
    })
}

/// A time the query's validation accepted, as unix ms.
pub(super) fn time_param(field: &str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    value
        .map(|v| {
            parse_timestamp_ms(v)
                .ok_or_else(|| ApiError::validation(field, "must be RFC 3339 or unix milliseconds"))
        })
        .transpose()
}

#[utoipa::path(get, path = "/api/v1/resources/history", tag = "resources", summary = "Kept host and instance samples",
    params(ResourceHistoryQuery),
    responses((status = 200, description = "Samples in the range, oldest first (per-bot figures: every sample of the last five minutes, one a minute before)", body = ResourceHistoryResponse),
        (status = 404, description = "No instance `instance_id`", body = ErrorBody),
        (status = 422, description = "A bad range or `max_points`", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn get_resource_history(
    State(state): State<AppState>,
    ValidQuery(q): ValidQuery<ResourceHistoryQuery>,
) -> Result<Json<ResourceHistoryResponse>, ApiError> {
    let to = time_param("to", q.to.as_deref())?.unwrap_or_else(now_ms);
    let from = time_param("from", q.from.as_deref())?.unwrap_or(to - 3_600_000);
    if from > to {
        return Err(ApiError::validation("from", "from must not be after to"));
    }
    if let Some(id) = &q.instance_id {
        state.fleet.get(id)?;
    }
    let wanted = |i: &&crate::monitor::resources::InstanceSample| {
        q.instance_id
            .as_deref()
            .is_none_or(|id| *i.instance_id == *id)
    };
    let mut kept = state.resources.between(from, to);
    // One bot's history: the samples holding its figures.
    if q.instance_id.is_some() {
        kept.retain(|s| s.instances.iter().any(|i| wanted(&i)));
    }
    if let Some(max) = q.max_points {
        kept = super::hosts::thin(&kept, max as usize);
    }
    let data: Vec<ResourceSample> = kept
        .iter()
        .map(|s| ResourceSample {
            timestamp: rfc3339(s.at),
            host: s.host.clone(),
            containers: s.containers.map(|(total, running)| ContainerCounts {
                total: total as u64,
                running: running as u64,
            }),
            instances: s
                .instances
                .iter()
                .filter(wanted)
                .map(|i| InstanceSample {
                    instance_id: i.instance_id.to_string(),
                    display_name: i.display_name.to_string(),
                    status: i.status,
                    cpu_percent: i.usage.cpu_percent,
                    memory_bytes: i.usage.memory_bytes,
                    memory_limit_bytes: i.usage.memory_limit_bytes,
                })
                .collect(),
            bot_detail: s.bot_detail,
            manager_rss_bytes: s.manager_rss_bytes,
        })
        .collect();
    Ok(Json(ResourceHistoryResponse {
        success: true,
        from: rfc3339(from),
        to: rfc3339(to),
        count: data.len() as u64,
        data,
    }))
}

/// Provisions N throwaway instances (with tokens Telegram will refuse, so no bot runs) and removes
/// them, timing both. Bounded to 20.
#[utoipa::path(post, path = "/api/v1/resources/stress-test", tag = "resources", summary = "Provision and remove N throwaway instances, timed",
    request_body(content = StressTestRequest, description = "How many instances (1 to 20); `{}` runs 3"),
    responses((status = 200, description = "Timings; `success` is false when a create or delete failed", body = StressTestResponse)),
    security(("admin_key" = [])))]
pub async fn run_stress_test(
    State(state): State<AppState>,
    ValidJson(body): ValidJson<StressTestRequest>,
) -> Result<Json<StressTestResponse>, ApiError> {
    let n = body.instances();
    let started = Instant::now();
    let creates = (0..n).map(|_| {
        let state = state.clone();
        async move {
            let t = Instant::now();
            let token = format!("1:stress{}", uuid::Uuid::new_v4().simple());
            let new = NewInstance {
                user_id: "stress-test".into(),
                provider: shared::Provider::Telegram,
                type_instance: vec![shared::api::instances::Interface::Api],
                credentials: shared::api::credentials::Credentials::Telegram(
                    shared::api::credentials::TelegramCredentials { token },
                ),
                agno_config: None,
                placement: vec![],
                receive: None,
                labels: Default::default(),
            };
            let p = state.verbs.create(new).await?;
            Ok::<_, ApiError>((p.record.id, t.elapsed().as_secs_f64() * 1e3))
        }
    });
    let created = futures::future::join_all(creates).await;
    let mut create_ms = Vec::new();
    let mut delete_ms = Vec::new();
    let mut errors = Vec::new();
    for result in created {
        match result {
            Ok((id, ms)) => {
                create_ms.push(ms);
                let t = Instant::now();
                match state.verbs.delete(&id).await {
                    Ok(()) => delete_ms.push(t.elapsed().as_secs_f64() * 1e3),
                    Err(e) => errors.push(e.to_string()),
                }
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    let stats = |v: &[f64]| DurationStats {
        average: if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        },
        max: v.iter().copied().fold(0.0, f64::max),
    };
    Ok(Json(StressTestResponse {
        success: errors.is_empty(),
        instances: n,
        created: create_ms.len() as u64,
        deleted: delete_ms.len() as u64,
        create_ms: stats(&create_ms),
        delete_ms: stats(&delete_ms),
        total_ms: started.elapsed().as_secs_f64() * 1e3,
        errors,
    }))
}
