//! `/api/v1/resources*`: the host, the engine's containers, every instance's CPU and memory, ports,
//! the manager's own timings and a health verdict. Everything is read from the sampler's latest sample;
//! no request waits on Docker.

use shared::ErrorBody;
use std::{sync::Arc, time::Instant};

use axum::{
    Json,
    extract::{
        Query, State,
        rejection::{JsonRejection, QueryRejection},
    },
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, views::rfc3339};
use crate::{
    domain::{InstanceStatus, NewInstance},
    error::ApiError,
    fleet::now_ms,
    monitor::resources::{Sample, manager_rss_bytes, percent},
    verbs,
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

#[utoipa::path(get, path = "/api/v1/resources", tag = "resources", summary = "Host, Docker and instance counts", responses((status = 200, description = "Success", body = serde_json::Value), (status = 401, description = "Missing or wrong admin key", body = ErrorBody), (status = 503, description = "No sample yet", body = ErrorBody)), security(("admin_key" = [])))]
pub async fn overview(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let s = latest(&state)?;
    let all = state.fleet.cache.list();
    let running = all
        .iter()
        .filter(|r| r.status == InstanceStatus::Running)
        .count();
    let stopped = all
        .iter()
        .filter(|r| r.status == InstanceStatus::Stopped)
        .count();
    let mut by_status = serde_json::Map::new();
    for r in &all {
        let n = by_status.entry(r.status.as_str()).or_insert(json!(0));
        *n = json!(n.as_u64().unwrap_or(0) + 1);
    }
    let h = &s.host;
    Ok(Json(json!({
        "success": true,
        "sampled_at": rfc3339(s.at),
        "server": {
            "cpu_usage": format!("{:.1}%", h.cpu_percent),
            "memory_usage": format!("{:.1}%", h.memory_percent),
            "disk_usage": format!("{:.1}%", h.disk_percent),
            "uptime": human_uptime(h.uptime_seconds),
            "cpu_percent": h.cpu_percent,
            "cpu_count": h.cpu_count,
            "memory_used_bytes": h.memory_used_bytes,
            "memory_total_bytes": h.memory_total_bytes,
            "memory_percent": h.memory_percent,
            "disk_used_bytes": h.disk_used_bytes,
            "disk_total_bytes": h.disk_total_bytes,
            "disk_percent": h.disk_percent,
            "uptime_seconds": h.uptime_seconds,
            "load_average": h.load_average,
        },
        "docker": match s.containers {
            Some((total, running)) => json!({
                "available": true,
                "total_containers": total,
                "running_containers": running,
                "stopped_containers": total - running,
            }),
            None => json!({ "available": false }),
        },
        "instances": {
            "total": all.len(),
            "running": running,
            "stopped": stopped,
            "by_status": by_status,
        },
    })))
}

#[utoipa::path(get, path = "/api/v1/resources/instances", tag = "resources", summary = "CPU and memory of every instance container", responses((status = 200, description = "Success", body = serde_json::Value), (status = 401, description = "Missing or wrong admin key", body = ErrorBody), (status = 503, description = "No sample yet", body = ErrorBody)), security(("admin_key" = [])))]
pub async fn instances(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let s = latest(&state)?;
    let list: Vec<Value> = s
        .instances
        .iter()
        .map(|i| {
            json!({
                "instance_id": i.instance_id,
                "display_name": i.display_name,
                "status": i.status,
                "cpu_usage": format!("{:.1}%", i.usage.cpu_percent),
                "memory_usage": mb(i.usage.memory_bytes),
                "cpu_percent": i.usage.cpu_percent,
                "memory_bytes": i.usage.memory_bytes,
                "memory_limit_bytes": i.usage.memory_limit_bytes,
                "memory_percent": percent(i.usage.memory_bytes, i.usage.memory_limit_bytes),
            })
        })
        .collect();
    Ok(Json(json!({
        "success": true,
        "sampled_at": rfc3339(s.at),
        "total": list.len(),
        "instances": list,
    })))
}

/// Port statistics of the configured range.
pub fn port_stats(state: &AppState) -> Value {
    let range = state.fleet.ports.range();
    let total = u64::from(range.end() - range.start()) + 1;
    let all = state.fleet.cache.list();
    let used = all.len() as u64;
    let reserved = all
        .iter()
        .filter(|r| r.status == InstanceStatus::Creating)
        .count() as u64;
    let busy = state.fleet.ports.busy_on_host() as u64;
    json!({
        "totalPorts": total,
        "usedPorts": used,
        "availablePorts": total.saturating_sub(used + busy),
        "reservedPorts": reserved,
        "busyOnHost": busy,
        "portRange": { "start": range.start(), "end": range.end() },
        "utilizationPercent": used as f64 / total as f64 * 100.0,
    })
}

#[utoipa::path(get, path = "/api/v1/resources/ports", tag = "resources", summary = "Port range usage", responses((status = 200, description = "Success", body = serde_json::Value), (status = 401, description = "Missing or wrong admin key", body = ErrorBody)), security(("admin_key" = [])))]
pub async fn ports(State(state): State<AppState>) -> Json<Value> {
    let mut body = port_stats(&state);
    body["success"] = json!(true);
    Json(body)
}

#[utoipa::path(post, path = "/api/v1/resources/ports/clear-cache", tag = "resources", summary = "Forget which host ports were busy", responses((status = 200, description = "Success", body = serde_json::Value), (status = 401, description = "Missing or wrong admin key", body = ErrorBody)), security(("admin_key" = [])))]
pub async fn clear_port_cache(State(state): State<AppState>) -> Json<Value> {
    let cleared = state.fleet.ports.clear_cache();
    Json(json!({
        "success": true,
        "cleared": cleared,
        "message": "Port cache cleared successfully",
    }))
}

#[utoipa::path(get, path = "/api/v1/resources/performance", tag = "resources", summary = "Port assignment and request timings", responses((status = 200, description = "Success", body = serde_json::Value), (status = 401, description = "Missing or wrong admin key", body = ErrorBody)), security(("admin_key" = [])))]
pub async fn performance(State(state): State<AppState>) -> Json<Value> {
    let mut body = state.performance.report();
    body["success"] = json!(true);
    body["portStatistics"] = port_stats(&state);
    Json(body)
}

/// Problems an operator should look at, with what to do about each.
pub fn health_verdict(state: &AppState) -> Value {
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
    let utilisation = ports["utilizationPercent"].as_f64().unwrap_or(0.0);
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
        "critical"
    } else if issues.is_empty() {
        "healthy"
    } else {
        "warning"
    };
    json!({
        "status": status,
        "issues": issues,
        "recommendations": recommendations,
        "portStatistics": ports,
    })
}

#[utoipa::path(get, path = "/api/v1/resources/health", tag = "resources", summary = "Issues and recommendations", responses((status = 200, description = "Success", body = serde_json::Value), (status = 401, description = "Missing or wrong admin key", body = ErrorBody)), security(("admin_key" = [])))]
pub async fn health(State(state): State<AppState>) -> Json<Value> {
    let mut body = health_verdict(&state);
    body["success"] = json!(true);
    Json(body)
}

#[utoipa::path(post, path = "/api/v1/resources/memory/cleanup", tag = "resources", summary = "Trim kept history and idle bookkeeping", responses((status = 200, description = "Success", body = serde_json::Value), (status = 401, description = "Missing or wrong admin key", body = ErrorBody)), security(("admin_key" = [])))]
pub async fn memory_cleanup(State(state): State<AppState>) -> Json<Value> {
    let before = manager_rss_bytes();
    let trimmed = state.resources.trim();
    let locks = state.fleet.locks.forget_idle();
    let after = manager_rss_bytes();
    Json(json!({
        "success": true,
        "message": "Memory cleanup completed",
        "trimmed_samples": trimmed,
        "released_locks": locks,
        "total_instances": state.fleet.cache.len(),
        "memory_before_mb": before / (1024 * 1024),
        "memory_after_mb": after / (1024 * 1024),
    }))
}

#[derive(Debug, Deserialize)]
pub struct HistoryParams {
    from: Option<String>,
    to: Option<String>,
}

/// RFC 3339 or unix milliseconds.
fn parse_time(field: &'static str, value: &str) -> Result<i64, ApiError> {
    use time::{OffsetDateTime, format_description::well_known::Rfc3339};
    if let Ok(ms) = value.parse::<i64>() {
        return Ok(ms);
    }
    OffsetDateTime::parse(value, &Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|_| {
            ApiError::validation(
                field,
                format!("{field} must be RFC 3339 or unix milliseconds"),
            )
        })
}

#[utoipa::path(get, path = "/api/v1/resources/history", tag = "resources", summary = "Kept host and instance samples", params(("from" = Option<String>, Query, description = "RFC 3339 or unix ms"), ("to" = Option<String>, Query, description = "RFC 3339 or unix ms")), responses((status = 200, description = "Success", body = serde_json::Value), (status = 401, description = "Missing or wrong admin key", body = ErrorBody), (status = 422, description = "Bad time", body = ErrorBody)), security(("admin_key" = [])))]
pub async fn history(
    State(state): State<AppState>,
    query: Result<Query<HistoryParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query?;
    let to =
        q.to.as_deref()
            .map(|t| parse_time("to", t))
            .transpose()?
            .unwrap_or_else(now_ms);
    let from = q
        .from
        .as_deref()
        .map(|f| parse_time("from", f))
        .transpose()?
        .unwrap_or(to - 3_600_000);
    if from > to {
        return Err(ApiError::validation("from", "from must not be after to"));
    }
    let samples = state.resources.between(from, to);
    let data: Vec<Value> = samples
        .iter()
        .map(|s| {
            json!({
                "timestamp": rfc3339(s.at),
                "host": s.host,
                "containers": s.containers.map(|(total, running)| json!({"total": total, "running": running})),
                "instances": s.instances,
                "manager_rss_bytes": s.manager_rss_bytes,
            })
        })
        .collect();
    Ok(Json(json!({
        "success": true,
        "from": rfc3339(from),
        "to": rfc3339(to),
        "count": data.len(),
        "data": data,
    })))
}

#[derive(Debug, Deserialize)]
pub struct StressParams {
    instances: Option<u32>,
}

/// Provisions N throwaway instances (with tokens Telegram will refuse, so no bot runs) and removes
/// them, timing both. Bounded to 20.
#[utoipa::path(post, path = "/api/v1/resources/stress-test", tag = "resources", summary = "Provision and remove N throwaway instances, timed", request_body(content = serde_json::Value, description = "{instances: 1..=20}"), responses((status = 200, description = "Success", body = serde_json::Value), (status = 401, description = "Missing or wrong admin key", body = ErrorBody), (status = 422, description = "Bad count", body = ErrorBody)), security(("admin_key" = [])))]
pub async fn stress_test(
    State(state): State<AppState>,
    body: Result<Json<StressParams>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let n = body.map(|Json(b)| b.instances).ok().flatten().unwrap_or(3);
    if !(1..=20).contains(&n) {
        return Err(ApiError::validation(
            "instances",
            "instances must be from 1 to 20",
        ));
    }
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
                token,
                agno_config: None,
            };
            let p = state.fleet.provision(new).await?;
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
                match verbs::delete(&state.reconciler, &id).await {
                    Ok(()) => delete_ms.push(t.elapsed().as_secs_f64() * 1e3),
                    Err(e) => errors.push(e.to_string()),
                }
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    let avg = |v: &[f64]| {
        if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    Ok(Json(json!({
        "success": errors.is_empty(),
        "instances": n,
        "created": create_ms.len(),
        "deleted": delete_ms.len(),
        "create_ms": { "average": avg(&create_ms), "max": max(&create_ms) },
        "delete_ms": { "average": avg(&delete_ms), "max": max(&delete_ms) },
        "total_ms": started.elapsed().as_secs_f64() * 1e3,
        "errors": errors,
    })))
}
