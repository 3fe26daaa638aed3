//! `/api/v1/instances`: create, list, show and delete bot instances.

use std::time::Duration;

use axum::{
    Extension, Json,
    extract::{Path, State},
    http::StatusCode,
};
use shared::{
    ErrorBody,
    api::instances::{
        ContainerInfo, CreateInstanceQuery, CreateInstanceRequest, CreateInstanceResponse,
        DeleteInstanceResponse, InstanceDetail, InstanceResponse, ProcessAction, ProcessDetails,
        ProcessResult, ServiceHealth,
    },
    http::{ValidJson, ValidQuery},
};

use super::{AppState, auth::AuditInstance, views};
use crate::auth::{Principal, principal::Role};
use crate::{domain::AuthStatus, error::ApiError, monitor::health, runtime::RuntimeKind};

#[utoipa::path(post, path = "/api/v1/instances", tag = "instances", summary = "Provision a bot in its own container",
    params(CreateInstanceQuery),
    request_body = CreateInstanceRequest,
    responses(
        (status = 201, description = "Created; `process_result.details.api_key` is shown only here. Without `wait` \
            the answer comes at once (status `creating`) and the reconciler starts the worker", body = CreateInstanceResponse),
        (status = 409, description = "The token is already used by another instance", body = ErrorBody),
        (status = 503, description = "No free port, or the container engine is unreachable", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn create_instance(
    State(state): State<AppState>,
    principal: Principal,
    ValidQuery(params): ValidQuery<CreateInstanceQuery>,
    ValidJson(body): ValidJson<CreateInstanceRequest>,
) -> Result<Created, ApiError> {
    provision(&state, &principal, &params, body).await
}

/// The answer of a create: 201, the instance for the audit log, the body.
pub type Created = (
    StatusCode,
    Extension<AuditInstance>,
    Json<CreateInstanceResponse>,
);

/// The one way a bot is created, for `POST /api/v1/instances` and `POST /api/v1/instances/setup`: checks
/// the request against this manager (runtime, outbound policy, owner, quota), writes the instance, lets
/// the reconciler start it and, with `wait`, waits until it is ready or failed.
pub async fn provision(
    state: &AppState,
    principal: &Principal,
    params: &CreateInstanceQuery,
    body: CreateInstanceRequest,
) -> Result<Created, ApiError> {
    state.reconciler.ensure_engine_up().await?;
    if !body.placement.is_empty() && state.fleet.runtime.kind() != RuntimeKind::Swarm {
        return Err(ApiError::validation(
            "placement",
            "placement constraints need the swarm runtime; this manager runs plain Docker (one host)",
        ));
    }
    let agent_url = body.agno_config.as_ref().and_then(|c| c.llm_url.as_deref());
    state
        .fleet
        .check_destination("agno_config.url", agent_url)?;
    let owner = owner_of_new(principal, body.user_id.as_deref())?;
    let mut new: crate::domain::NewInstance = body.try_into()?;
    new.user_id = owner;
    // One quota-bound create at a time, so two at once cannot both take the last place.
    let provisioned = {
        let _turn = state.auth.quota_turn().await;
        super::users::check_quota(state, &new.user_id, 1, state.auth.quotas.worker_memory_mb)?;
        state.fleet.create(new).await?
    };
    state.reconciler.trigger(&provisioned.record.id);
    let mut record = provisioned.record;
    if params.wait {
        let limit = params
            .timeout
            .map(|s| Duration::from_secs(s.into()))
            .unwrap_or(state.wait_timeout)
            .min(state.wait_timeout);
        if let Some(settled) = health::wait_until_settled(&state.fleet, &record.id, limit).await {
            record = settled;
        }
    }
    let message = match record.auth_status {
        AuthStatus::ClientReady => "Instance created. The bot is connected and ready.",
        AuthStatus::Failed => "Instance created, but its platform refused the credentials.",
        AuthStatus::Pending => "Instance created. Waiting for the bot to connect...",
    };
    let body = CreateInstanceResponse {
        success: true,
        instance_id: record.id.clone(),
        message: "Instance created and processing started".into(),
        process_result: ProcessResult {
            success: true,
            instance_id: record.id.clone(),
            action: ProcessAction::Create,
            details: ProcessDetails {
                display_name: record.display_name.clone(),
                ports: views::ports(&record),
                mcp_url: record
                    .mcp_port
                    .map(|p| super::instance_access::worker_mcp_url(&state.public_host, p)),
                api_key: Some(provisioned.api_key),
                auth_status: record.auth_status,
                status: record.status,
                status_check_url: views::status_check_url(&state.public_url, &record.id),
            },
            message: message.into(),
        },
    };
    Ok((
        StatusCode::CREATED,
        Extension(AuditInstance(record.id.clone())),
        Json(body),
    ))
}

/// The worker as the reconciler last saw it (it looks at every change and every engine event), or, when
/// nothing is known, as the engine says now (bounded).
async fn worker_now(state: &AppState, id: &str) -> Option<crate::runtime::WorkerView> {
    let ticket = match state.fleet.observed.worker(id) {
        Ok(seen) => return seen,
        Err(ticket) => ticket,
    };
    let looked = tokio::time::timeout(
        Duration::from_secs(3),
        state.fleet.runtime.inspect_worker(id),
    )
    .await;
    match looked {
        Ok(Ok(worker)) => {
            state
                .fleet
                .observed
                .looked_at_worker(id, ticket, worker.clone());
            worker
        }
        Ok(Err(e)) => {
            tracing::warn!(instance_id = %id, error = %e, "inspect failed");
            None
        }
        Err(_) => None,
    }
}

/// The owner of bots the bootstrap admin key creates without naming one.
pub const BOOTSTRAP_OWNER: &str = "admin";

/// Who a new bot belongs to: the caller, or (admins only) the user the body names.
fn owner_of_new(principal: &Principal, named: Option<&str>) -> Result<String, ApiError> {
    match (named.map(str::trim), principal.user_id.as_deref()) {
        (Some(named), Some(me)) if named == me => Ok(me.to_string()),
        (Some(named), _) if principal.role == Role::Admin => Ok(named.to_string()),
        (Some(_), _) => Err(ApiError::Forbidden(
            "only admins may create a bot for another user".into(),
        )),
        (None, Some(me)) => Ok(me.to_string()),
        // The bootstrap key is no user: its bots belong to `admin`, which admins and operators see.
        (None, None) => Ok(BOOTSTRAP_OWNER.to_string()),
    }
}

#[utoipa::path(get, path = "/api/v1/instances/{id}", tag = "instances", summary = "One instance with health, container and cached state",
    params(("id" = String, Path, description = "Instance id")),
    responses((status = 200, description = "The instance", body = InstanceResponse)),
    security(("admin_key" = [])))]
pub async fn get_instance(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<InstanceResponse>, ApiError> {
    let record = state.fleet.get(&id)?;
    let containers: Vec<ContainerInfo> = worker_now(&state, &id)
        .await
        .into_iter()
        .map(Into::into)
        .collect();
    let mut instance = views::instance(&record);
    instance.health.services = Some(ServiceHealth {
        api: record.health_ok,
        docker: containers.iter().any(|c| c.running),
    });
    Ok(Json(InstanceResponse {
        success: true,
        instance: InstanceDetail {
            instance,
            containers,
            memory_data: views::memory(&record),
            llm: super::instance_analytics::llm_today(&state.fleet, &id).await?,
        },
    }))
}

#[utoipa::path(delete, path = "/api/v1/instances/{id}", tag = "instances", summary = "Remove the container and free the port",
    params(("id" = String, Path, description = "Instance id")),
    responses((status = 200, description = "Deleted", body = DeleteInstanceResponse),
        (status = 409, description = "Another operation is in progress", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn delete_instance(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<DeleteInstanceResponse>, ApiError> {
    state.verbs.delete(&id).await?;
    // Keys bound to the bot go with it.
    state.auth.forget_instance(&id).await?;
    Ok(Json(DeleteInstanceResponse {
        success: true,
        instance_id: id,
        message: "Instance deleted; its container is removed and its port freed".into(),
    }))
}
