//! `/api/v1/hosts*` (seed 004's servers, metrics and docker routes, for a fleet): the engine's hosts with
//! their bot counts; availability, changed through the reconciler; the manager's own host's metrics and
//! their history, from the resource sampler; and botfleet's own containers on a host, whose start, stop
//! and restart are the bot's verbs (one path to the engine) and whose logs are the bot's log.

use std::collections::HashMap;

use axum::{
    Json,
    extract::{Path, State},
    response::Response,
};
use shared::{
    ErrorBody,
    api::{
        history::LogQuery,
        hosts::{
            ContainerAction, ContainerActionResponse, ContainerStopQuery, HostAvailability,
            HostContainer, HostContainerList, HostList, HostMetrics, HostMetricsHistory,
            HostMetricsQuery, HostMetricsResponse, HostResponse, HostRole, HostState, HostStatus,
            HostView, MAX_HISTORY_POINTS, RuntimeName, UpdateHostRequest, UpdatedHost,
        },
    },
    http::{ValidJson, ValidQuery},
};

use super::{AppState, instance_logs::worker_log, resources::time_param, views};
use crate::{
    error::ApiError,
    fleet::now_ms,
    hosts::Seen,
    monitor::resources::Sample,
    runtime::{self, Availability, RuntimeError, RuntimeKind, WorkerView},
};

/// Bots per host id, from the cache: instances whose worker was last placed there.
fn bots_per_host(state: &AppState) -> HashMap<String, u64> {
    let mut counts = HashMap::new();
    for r in state.fleet.cache.list() {
        if let Some(host) = &r.host_id {
            *counts.entry(host.clone()).or_default() += 1;
        }
    }
    counts
}

fn view(h: &runtime::HostView, bots: &HashMap<String, u64>, fresh: bool) -> HostView {
    let state = match h.state.as_str() {
        "ready" => HostState::Ready,
        "down" => HostState::Down,
        "disconnected" => HostState::Disconnected,
        _ => HostState::Unknown,
    };
    HostView {
        id: h.id.clone(),
        name: h.hostname.clone(),
        host: h.address.clone(),
        status: match state {
            _ if !fresh => HostStatus::Unknown,
            HostState::Ready => HostStatus::Online,
            HostState::Down | HostState::Disconnected => HostStatus::Offline,
            HostState::Unknown => HostStatus::Unknown,
        },
        // Neither the engine (plain Docker) nor the runtime's host view carries a creation time yet.
        created_at: None,
        role: match h.role.as_str() {
            "manager" => HostRole::Manager,
            "worker" => HostRole::Worker,
            _ => HostRole::Engine,
        },
        availability: match h.availability {
            Availability::Active => HostAvailability::Active,
            Availability::Pause => HostAvailability::Pause,
            Availability::Drain => HostAvailability::Drain,
        },
        state,
        cpus: h.cpus,
        memory_bytes: u64::try_from(h.memory_bytes).unwrap_or(0),
        engine_version: h.engine_version.clone(),
        labels: h.labels.clone(),
        bots: bots.get(&h.id).copied().unwrap_or(0),
        local: h.local,
    }
}

async fn seen(state: &AppState) -> Result<Seen, ApiError> {
    state.hosts.read(&state.fleet.runtime).await
}

#[utoipa::path(get, path = "/api/v1/hosts", tag = "hosts", summary = "The engine's hosts (one for plain Docker, every node for Swarm)",
    responses((status = 200, description = "Every host with its role, availability, state, capacity and bot count; \
                   when the engine does not answer, the last list it gave with status `unknown`", body = HostList),
        (status = 503, description = "The engine does not answer and has listed no hosts since the manager started", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn list_hosts(State(state): State<AppState>) -> Result<Json<HostList>, ApiError> {
    let seen = seen(&state).await?;
    let bots = bots_per_host(&state);
    let hosts: Vec<HostView> = seen
        .observed
        .hosts
        .iter()
        .map(|h| view(h, &bots, seen.fresh))
        .collect();
    Ok(Json(HostList {
        success: true,
        runtime: match state.fleet.runtime.kind() {
            RuntimeKind::Docker => RuntimeName::Docker,
            RuntimeKind::Swarm => RuntimeName::Swarm,
        },
        engine_reachable: seen.fresh,
        observed_at: views::rfc3339(seen.observed.at),
        count: hosts.len() as u64,
        hosts,
    }))
}

#[utoipa::path(get, path = "/api/v1/hosts/{id}", tag = "hosts", summary = "One host",
    params(("id" = String, Path, description = "Host id: the engine's id (plain Docker) or the node id (Swarm)")),
    responses((status = 200, description = "The host", body = HostResponse),
        (status = 503, description = "The engine does not answer and has listed no hosts since the manager started", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn get_host(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<HostResponse>, ApiError> {
    let seen = seen(&state).await?;
    let host = view(seen.get(&id)?, &bots_per_host(&state), seen.fresh);
    Ok(Json(HostResponse {
        success: true,
        host,
    }))
}

#[utoipa::path(patch, path = "/api/v1/hosts/{id}", tag = "hosts", summary = "Set whether a host takes bots: active, pause or drain",
    params(("id" = String, Path, description = "Host id")),
    request_body = UpdateHostRequest,
    responses((status = 200, description = "The host as the engine reports it afterwards; with `drain`, its bots stop and \
                   start on other nodes (bots pinned to it by their data wait for it)", body = UpdatedHost),
        (status = 422, description = "An unknown field or availability, or one the runtime cannot give: plain Docker has one \
                   host, which can only be `active`", body = ErrorBody),
        (status = 503, description = "The container engine is unreachable", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn update_host(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ValidJson(body): ValidJson<UpdateHostRequest>,
) -> Result<Json<UpdatedHost>, ApiError> {
    let availability = match body.availability {
        HostAvailability::Active => Availability::Active,
        HostAvailability::Pause => Availability::Pause,
        HostAvailability::Drain => Availability::Drain,
    };
    let host = state
        .reconciler
        .set_host_availability(&id, availability)
        .await
        .map_err(|e| match e {
            ApiError::Runtime(RuntimeError::NoSuchHost(_)) => {
                ApiError::NotFound(format!("host {id} not found"))
            }
            ApiError::Runtime(RuntimeError::Unsupported(message)) => {
                ApiError::validation("availability", message)
            }
            e => e,
        })?;
    let message = match body.availability {
        HostAvailability::Active => "the host takes bots",
        HostAvailability::Pause => "the host keeps its bots and takes no new ones",
        HostAvailability::Drain => {
            "the host takes no bots; its bots stop and start on other hosts, except those pinned to it by their data, which wait until it is active again"
        }
    };
    Ok(Json(UpdatedHost {
        success: true,
        message: message.into(),
        host: view(&host, &bots_per_host(&state), true),
    }))
}

/// The manager's own host, or 404: `id` unknown, or another node, whose metrics nobody samples.
async fn local_host(state: &AppState, id: &str) -> Result<String, ApiError> {
    let seen = seen(state).await?;
    let host = seen.get(id)?;
    if host.local {
        return Ok(host.id.clone());
    }
    let local = seen
        .local()
        .map(|h| format!(" ({})", h.id))
        .unwrap_or_default();
    Err(ApiError::NotFound(format!(
        "no metrics for host {id}: metrics are sampled only on the host the manager runs on{local}"
    )))
}

fn metrics(server_id: &str, s: &Sample) -> HostMetrics {
    HostMetrics {
        server_id: server_id.to_string(),
        cpu_percent: s.host.cpu_percent,
        memory_percent: s.host.memory_percent,
        disk_usage: s.disks.clone(),
        network: s.networks.clone(),
        timestamp: views::rfc3339(s.at),
    }
}

#[utoipa::path(get, path = "/api/v1/hosts/{id}/metrics", tag = "hosts", summary = "The latest metrics of the manager's host",
    params(("id" = String, Path, description = "Host id (the one with `local: true`)")),
    responses((status = 200, description = "CPU, memory, every file system and network interface, from the latest sample", body = HostMetricsResponse),
        (status = 404, description = "No such host, or a host the manager does not run on: only the manager's own host is sampled", body = ErrorBody),
        (status = 503, description = "No sample taken yet, or the engine has not listed its hosts yet", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn get_host_metrics(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<HostMetricsResponse>, ApiError> {
    let server_id = local_host(&state, &id).await?;
    let sample = state.resources.latest().ok_or_else(|| {
        ApiError::NotReady("the first host sample is not taken yet; retry in a few seconds".into())
    })?;
    Ok(Json(HostMetricsResponse {
        success: true,
        metrics: metrics(&server_id, &sample),
    }))
}

/// At most `max` items picked evenly from `items`, the first and the last kept.
pub(super) fn thin<T: Clone>(items: &[T], max: usize) -> Vec<T> {
    if items.len() <= max {
        return items.to_vec();
    }
    if max < 2 {
        return items[..max].to_vec();
    }
    let last = items.len() - 1;
    (0..max)
        .map(|i| items[i * last / (max - 1)].clone())
        .collect()
}

#[utoipa::path(get, path = "/api/v1/hosts/{id}/metrics/history", tag = "hosts", summary = "Kept metrics of the manager's host",
    params(("id" = String, Path, description = "Host id (the one with `local: true`)"), HostMetricsQuery),
    responses((status = 200, description = "Samples in the range, oldest first: at most 1000, picked evenly", body = HostMetricsHistory),
        (status = 404, description = "No such host, or a host the manager does not run on", body = ErrorBody),
        (status = 503, description = "The engine has not listed its hosts yet", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn get_host_metrics_history(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ValidQuery(q): ValidQuery<HostMetricsQuery>,
) -> Result<Json<HostMetricsHistory>, ApiError> {
    let end = time_param("end", q.end.as_deref())?.unwrap_or_else(now_ms);
    let start = time_param("start", q.start.as_deref())?.unwrap_or(end - 3_600_000);
    if start > end {
        return Err(ApiError::validation("start", "start must not be after end"));
    }
    let server_id = local_host(&state, &id).await?;
    let kept = state.resources.between(start, end);
    let data: Vec<HostMetrics> = thin(&kept, MAX_HISTORY_POINTS)
        .iter()
        .map(|s| metrics(&server_id, s))
        .collect();
    Ok(Json(HostMetricsHistory {
        success: true,
        server_id,
        start: views::rfc3339(start),
        end: views::rfc3339(end),
        available: kept.len() as u64,
        count: data.len() as u64,
        data,
    }))
}

/// This fleet's workers on host `id` (404 for an unknown host).
async fn workers_on(state: &AppState, id: &str) -> Result<Vec<WorkerView>, ApiError> {
    seen(state).await?.get(id)?;
    let workers = state.fleet.runtime.list_workers().await?;
    Ok(workers
        .into_iter()
        .filter(|w| w.host_id.as_deref() == Some(id) && w.instance_id.is_some())
        .collect())
}

#[utoipa::path(get, path = "/api/v1/hosts/{id}/containers", tag = "hosts", summary = "botfleet's own containers on a host",
    params(("id" = String, Path, description = "Host id")),
    responses((status = 200, description = "This fleet's worker containers on the host (Swarm: its bots' services), each with its bot; \
                   nothing else the engine runs", body = HostContainerList),
        (status = 503, description = "The container engine is unreachable", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn list_host_containers(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<HostContainerList>, ApiError> {
    let containers: Vec<HostContainer> = workers_on(&state, &id)
        .await?
        .into_iter()
        .filter_map(|w| {
            let instance_id = w.instance_id?;
            Some(HostContainer {
                instance_status: state.fleet.cache.get(&instance_id).map(|r| r.status),
                id: w.id,
                name: w.name,
                instance_id,
                state: w.state,
                running: w.running,
            })
        })
        .collect();
    Ok(Json(HostContainerList {
        success: true,
        host_id: id,
        count: containers.len() as u64,
        containers,
    }))
}

/// Docker's short ids are 12 characters; a shorter prefix could name several containers.
const MIN_ID_PREFIX: usize = 12;

/// The container `container_id` (full id, name, or an id prefix of 12 characters or more) among this
/// fleet's workers on host `id`, with its instance id. Anything else is 404: a container of another
/// fleet, of no fleet, or one no instance owns.
async fn fleet_container(
    state: &AppState,
    id: &str,
    container_id: &str,
) -> Result<(WorkerView, String), ApiError> {
    let not_found = || {
        ApiError::NotFound(format!(
            "no botfleet container {container_id} of this fleet on host {id}"
        ))
    };
    let workers = workers_on(state, id).await?;
    let mut matches = workers.iter().filter(|w| {
        w.id == container_id
            || w.name == container_id
            || (container_id.len() >= MIN_ID_PREFIX && w.id.starts_with(container_id))
    });
    let (Some(worker), None) = (matches.next(), matches.next()) else {
        return Err(not_found());
    };
    let instance_id = worker.instance_id.clone().ok_or_else(not_found)?;
    if state.fleet.cache.get(&instance_id).is_none() {
        return Err(ApiError::NotFound(format!(
            "container {container_id} belongs to no instance of this fleet (the reconciler removes it)"
        )));
    }
    Ok((worker.clone(), instance_id))
}

/// Runs the bot's verb on the instance the container belongs to.
async fn container_verb(
    state: &AppState,
    id: String,
    container_id: String,
    action: ContainerAction,
) -> Result<Json<ContainerActionResponse>, ApiError> {
    let (worker, instance_id) = fleet_container(state, &id, &container_id).await?;
    let (r, message) = match action {
        ContainerAction::Start => (state.verbs.start(&instance_id).await?, "started"),
        ContainerAction::Stop => (state.verbs.stop(&instance_id).await?, "stopped"),
        ContainerAction::Restart => (state.verbs.restart(&instance_id).await?, "restarted"),
    };
    Ok(Json(ContainerActionResponse {
        success: true,
        action,
        host_id: id,
        container_id: worker.id,
        current_container_id: r.container_id.clone(),
        instance_id: r.id.clone(),
        status: r.status,
        message: format!("instance {} {message}", r.id),
        instance: views::instance(&r),
    }))
}

#[utoipa::path(post, path = "/api/v1/hosts/{id}/containers/{container_id}/start", tag = "hosts", summary = "Start a bot by its container (the instance's start)",
    params(("id" = String, Path, description = "Host id"),
        ("container_id" = String, Path, description = "Container id (or its first 12+ characters, or its name)")),
    responses((status = 200, description = "The bot started; it has a fresh container (`current_container_id`)", body = ContainerActionResponse),
        (status = 404, description = "No such host, or no container of this fleet by that id on it", body = ErrorBody),
        (status = 409, description = "The bot is not startable in its state, or another operation is in progress", body = ErrorBody),
        (status = 503, description = "The container engine is unreachable", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn start_host_container(
    State(state): State<AppState>,
    Path((id, container_id)): Path<(String, String)>,
) -> Result<Json<ContainerActionResponse>, ApiError> {
    container_verb(&state, id, container_id, ContainerAction::Start).await
}

#[utoipa::path(post, path = "/api/v1/hosts/{id}/containers/{container_id}/stop", tag = "hosts", summary = "Stop a bot by its container (the instance's stop)",
    params(("id" = String, Path, description = "Host id"),
        ("container_id" = String, Path, description = "Container id (or its first 12+ characters, or its name)"),
        ContainerStopQuery),
    responses((status = 200, description = "The bot stopped; its container stays", body = ContainerActionResponse),
        (status = 404, description = "No such host, or no container of this fleet by that id on it", body = ErrorBody),
        (status = 409, description = "The bot is not stoppable in its state, or another operation is in progress", body = ErrorBody),
        (status = 503, description = "The container engine is unreachable", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn stop_host_container(
    State(state): State<AppState>,
    Path((id, container_id)): Path<(String, String)>,
    ValidQuery(_timeout): ValidQuery<ContainerStopQuery>,
) -> Result<Json<ContainerActionResponse>, ApiError> {
    container_verb(&state, id, container_id, ContainerAction::Stop).await
}

#[utoipa::path(post, path = "/api/v1/hosts/{id}/containers/{container_id}/restart", tag = "hosts", summary = "Restart a bot by its container (the instance's restart)",
    params(("id" = String, Path, description = "Host id"),
        ("container_id" = String, Path, description = "Container id (or its first 12+ characters, or its name)"),
        ContainerStopQuery),
    responses((status = 200, description = "The bot restarted with a fresh container (`current_container_id`)", body = ContainerActionResponse),
        (status = 404, description = "No such host, or no container of this fleet by that id on it", body = ErrorBody),
        (status = 409, description = "The bot is not restartable in its state, or another operation is in progress", body = ErrorBody),
        (status = 503, description = "The container engine is unreachable", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn restart_host_container(
    State(state): State<AppState>,
    Path((id, container_id)): Path<(String, String)>,
    ValidQuery(_timeout): ValidQuery<ContainerStopQuery>,
) -> Result<Json<ContainerActionResponse>, ApiError> {
    container_verb(&state, id, container_id, ContainerAction::Restart).await
}

#[utoipa::path(get, path = "/api/v1/hosts/{id}/containers/{container_id}/logs", tag = "hosts", summary = "A bot container's log as plain text",
    params(("id" = String, Path, description = "Host id"),
        ("container_id" = String, Path, description = "Container id (or its first 12+ characters, or its name)"),
        LogQuery),
    responses((status = 200, description = "The last `tail` lines of the container's log, ANSI escapes removed; with `follow=true` \
                   new lines are streamed (chunked) until the client leaves", body = String, content_type = "text/plain"),
        (status = 404, description = "No such host, or no container of this fleet by that id on it", body = ErrorBody),
        (status = 503, description = "The container engine is unreachable", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn get_host_container_logs(
    State(state): State<AppState>,
    Path((id, container_id)): Path<(String, String)>,
    ValidQuery(params): ValidQuery<LogQuery>,
) -> Result<Response, ApiError> {
    let (_, instance_id) = fleet_container(&state, &id, &container_id).await?;
    worker_log(&state, &instance_id, &params).await
}

#[cfg(test)]
mod tests {
    use super::thin;

    #[test]
    fn long_histories_are_thinned_evenly_keeping_both_ends() {
        let all: Vec<u32> = (0..5000).collect();
        let kept = thin(&all, 1000);
        assert_eq!(kept.len(), 1000);
        assert_eq!((kept[0], kept[999]), (0, 4999));
        assert!(kept.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(thin(&all[..10], 1000), all[..10].to_vec());
        assert_eq!(thin::<u32>(&[], 1000), Vec::<u32>::new());
    }
}
