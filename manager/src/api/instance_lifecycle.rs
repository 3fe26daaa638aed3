//! `POST /api/v1/instances/{id}/{start,stop,restart,process,pause,activate}` and
//! `PATCH /api/v1/instances/{id}`.

use axum::{
    Json,
    extract::{Path, State},
};
use shared::{
    ErrorBody,
    api::{
        instances::{ProcessAction, ProcessDetails},
        lifecycle::{ProcessResponse, UpdateInstanceRequest, UpdateInstanceResponse, VerbResponse},
    },
    http::ValidJson,
};

use super::{AppState, views};
use crate::{
    auth::Principal,
    domain::InstanceRecord,
    error::ApiError,
    verbs::{ConfigChange, ProcessOutcome},
};

fn answer(message: &str, r: &InstanceRecord) -> Json<VerbResponse> {
    Json(VerbResponse {
        success: true,
        instance_id: r.id.clone(),
        status: r.status,
        message: message.into(),
        instance: views::instance(r),
    })
}

#[utoipa::path(post, path = "/api/v1/instances/{id}/start", tag = "lifecycle", summary = "Start a stopped or failed instance",
    params(("id" = String, Path, description = "Instance id")),
    responses((status = 200, description = "Started", body = VerbResponse),
        (status = 409, description = "Not startable in its state, or another operation is in progress", body = ErrorBody),
        (status = 503, description = "The container engine is unreachable", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn start(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<VerbResponse>, ApiError> {
    let r = state.verbs.start(&id).await?;
    Ok(answer("Instance started", &r))
}

#[utoipa::path(post, path = "/api/v1/instances/{id}/stop", tag = "lifecycle", summary = "Stop the worker (the container stays)",
    params(("id" = String, Path, description = "Instance id")),
    responses((status = 200, description = "Stopped", body = VerbResponse),
        (status = 409, description = "Not stoppable in its state, or another operation is in progress", body = ErrorBody),
        (status = 503, description = "The container engine is unreachable", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn stop(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<VerbResponse>, ApiError> {
    let r = state.verbs.stop(&id).await?;
    Ok(answer("Instance stopped", &r))
}

#[utoipa::path(post, path = "/api/v1/instances/{id}/restart", tag = "lifecycle", summary = "Restart the worker; also the way out of failed",
    params(("id" = String, Path, description = "Instance id")),
    responses((status = 200, description = "Restarted", body = VerbResponse),
        (status = 409, description = "Not restartable in its state, or another operation is in progress", body = ErrorBody),
        (status = 503, description = "The container engine is unreachable", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn restart(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<VerbResponse>, ApiError> {
    let r = state.verbs.restart(&id).await?;
    Ok(answer("Instance restarted successfully", &r))
}

#[utoipa::path(post, path = "/api/v1/instances/{id}/process", tag = "lifecycle", summary = "Apply the stored configuration (no_change or recreated)",
    params(("id" = String, Path, description = "Instance id")),
    responses((status = 200, description = "Applied, or nothing to apply", body = ProcessResponse),
        (status = 409, description = "Not processable in its state, or another operation is in progress", body = ErrorBody),
        (status = 503, description = "The container engine is unreachable", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn process(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ProcessResponse>, ApiError> {
    let (action, message, r) = match state.verbs.process(&id).await? {
        ProcessOutcome::NoChange(r) => {
            (ProcessAction::NoChange, "Instance is already up to date", r)
        }
        ProcessOutcome::Applied(r) => (
            ProcessAction::Recreated,
            "Configuration applied; worker recreated",
            r,
        ),
    };
    Ok(Json(ProcessResponse {
        success: true,
        instance_id: r.id.clone(),
        action,
        details: ProcessDetails {
            display_name: r.display_name.clone(),
            ports: views::ports(&r),
            mcp_url: r
                .mcp_port
                .map(|p| super::instance_access::worker_mcp_url(&state.public_host, p)),
            api_key: None,
            auth_status: r.auth_status,
            status: r.status,
            status_check_url: views::status_check_url(&state.public_url, &r.id),
        },
        message: message.into(),
    }))
}

#[utoipa::path(patch, path = "/api/v1/instances/{id}", tag = "lifecycle", summary = "Change the bot configuration (applied live) or credentials and limits (applied by process)",
    params(("id" = String, Path, description = "Instance id")),
    request_body = UpdateInstanceRequest,
    responses((status = 200, description = "Stored", body = UpdateInstanceResponse),
        (status = 409, description = "The token is used by another instance, or another operation is in progress", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ValidJson(body): ValidJson<UpdateInstanceRequest>,
) -> Result<Json<UpdateInstanceResponse>, ApiError> {
    if body.cpu_limit.is_some() || body.memory_limit_mb.is_some() {
        fits_a_host(&state, body.cpu_limit, body.memory_limit_mb).await?;
    }
    let agent_url = body
        .agno_config
        .as_ref()
        .and_then(|c| c.as_ref()?.llm_url.as_deref());
    state
        .fleet
        .check_destination("agno_config.url", agent_url)?;
    let llm_url = body.llm_url.as_ref().and_then(|u| u.as_deref());
    state.fleet.check_destination("llm_url", llm_url)?;
    let credentials = match (&body.token, &body.credentials) {
        (None, None) => None,
        _ => {
            let provider = state.fleet.get(&id)?.provider;
            Some(crate::domain::new_instance::credentials(
                provider,
                body.token.clone(),
                body.credentials.clone(),
            )?)
        }
    };
    // A larger memory limit counts against the owner's quota.
    let _turn;
    if let Some(mb) = body.memory_limit_mb {
        _turn = state.auth.quota_turn().await;
        let r = state.fleet.get(&id)?;
        let now = r
            .memory_limit_mb
            .unwrap_or(state.auth.quotas.worker_memory_mb);
        super::users::check_quota(&state, &r.user_id, 0, mb - now)?;
    }
    let change = ConfigChange {
        credentials,
        agno_config: body.agno_config.clone(),
        memory_limit_mb: body.memory_limit_mb,
        cpu_millis: body.cpu_limit.map(|cpus| (cpus * 1000.0).round() as i64),
        type_instance: body.type_instance.as_ref().map(|interfaces| {
            let mut unique = Vec::new();
            for i in interfaces {
                if !unique.contains(i) {
                    unique.push(*i);
                }
            }
            unique
        }),
        clear_limits: false,
        labels: body.labels.clone(),
        settings: Some(body),
    };
    let r = state
        .verbs
        .update_config(&id, change, &principal.attribution())
        .await?;
    let pending =
        r.applied_config_sha256.as_deref() != Some(state.fleet.config_digest(&r).as_str());
    let config_live = r.applied_config_revision == Some(r.config_revision);
    Ok(Json(UpdateInstanceResponse {
        success: true,
        instance_id: r.id.clone(),
        pending_changes: pending,
        message: match (pending, config_live) {
            (true, _) => "Saved; POST /process applies the credentials, limits or interfaces",
            (false, true) => "Saved; the bot runs by it now",
            (false, false) => "Saved; the bot gets it as soon as its worker answers",
        }
        .into(),
        instance: views::instance(&r),
    }))
}

#[utoipa::path(post, path = "/api/v1/instances/{id}/pause", tag = "lifecycle", summary = "Pause the bot: it receives and answers nothing, its worker stays warm",
    params(("id" = String, Path, description = "Instance id")),
    responses((status = 200, description = "Paused (or already paused)", body = VerbResponse),
        (status = 409, description = "Being deleted, or another operation is in progress", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn pause(
    state: State<AppState>,
    principal: Principal,
    id: Path<String>,
) -> Result<Json<VerbResponse>, ApiError> {
    set_paused(state, principal, id, true).await
}

#[utoipa::path(post, path = "/api/v1/instances/{id}/activate", tag = "lifecycle", summary = "Activate a paused bot",
    params(("id" = String, Path, description = "Instance id")),
    responses((status = 200, description = "Active (or already active)", body = VerbResponse),
        (status = 409, description = "Being deleted, or another operation is in progress", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn activate(
    state: State<AppState>,
    principal: Principal,
    id: Path<String>,
) -> Result<Json<VerbResponse>, ApiError> {
    set_paused(state, principal, id, false).await
}

async fn set_paused(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    paused: bool,
) -> Result<Json<VerbResponse>, ApiError> {
    let r = state
        .verbs
        .set_paused(&id, paused, &principal.attribution())
        .await?;
    Ok(answer(
        if paused {
            "Bot paused"
        } else {
            "Bot activated"
        },
        &r,
    ))
}

/// Refuses limits no host could give: the engine would refuse every start, and the bot would end
/// `failed` at the next `/process`.
async fn fits_a_host(
    state: &AppState,
    cpus: Option<f64>,
    memory_mb: Option<i64>,
) -> Result<(), ApiError> {
    let seen = state.hosts.read(&state.fleet.runtime).await?;
    let largest = |f: fn(&crate::runtime::HostView) -> f64| {
        seen.observed.hosts.iter().map(f).fold(0.0, f64::max)
    };
    let (max_cpus, max_memory) = (largest(|h| h.cpus), largest(|h| h.memory_bytes as f64));
    if let Some(cpus) = cpus
        && max_cpus > 0.0
        && cpus > max_cpus
    {
        return Err(ApiError::validation(
            "cpu_limit",
            format!("{cpus} CPUs is more than the largest host has ({max_cpus})"),
        ));
    }
    if let Some(mb) = memory_mb
        && max_memory > 0.0
        && (mb as f64) * 1_048_576.0 > max_memory
    {
        return Err(ApiError::validation(
            "memory_limit_mb",
            format!(
                "{mb} MiB is more than the largest host has ({} MiB)",
                (max_memory / 1_048_576.0).floor()
            ),
        ));
    }
    Ok(())
}
