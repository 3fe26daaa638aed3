//! `/api/v1/instances`: create, list, show and delete bot instances.

use shared::ErrorBody;
use std::time::Duration;

use axum::{
    Json,
    extract::{
        Path, Query, State,
        rejection::{JsonRejection, QueryRejection},
    },
    http::StatusCode,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, views};
use crate::{
    domain::{AuthStatus, NewInstance},
    error::ApiError,
    monitor::health,
};

#[derive(Debug, Deserialize)]
pub struct CreateParams {
    /// Return only once the worker is healthy (or failed), up to `timeout` seconds.
    #[serde(default)]
    wait: bool,
    timeout: Option<u64>,
}

#[utoipa::path(post, path = "/api/v1/instances", tag = "instances", summary = "Provision a bot in its own container", params(("wait" = Option<bool>, Query, description = "Return once the worker is healthy or failed"), ("timeout" = Option<u64>, Query, description = "Longest wait in seconds")), request_body(content = serde_json::Value, description = "{user_id, provider: telegram, type_instance: [api], token, agno_config?}"), responses((status = 201, description = "Success", body = serde_json::Value), (status = 401, description = "Missing or wrong admin key", body = ErrorBody), (status = 409, description = "Token already used by another instance", body = ErrorBody), (status = 422, description = "A field is missing or wrong", body = ErrorBody), (status = 503, description = "No free port, or Docker unreachable", body = ErrorBody)), security(("admin_key" = [])))]
pub async fn create_instance(
    State(state): State<AppState>,
    params: Result<Query<CreateParams>, QueryRejection>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Query(params) = params?;
    let Json(body) = body?;
    let new = NewInstance::from_json(&body)?;
    let provisioned = state.fleet.provision(new).await?;
    let mut record = provisioned.record;
    if params.wait {
        let limit = params
            .timeout
            .map(Duration::from_secs)
            .unwrap_or(state.wait_timeout)
            .min(state.wait_timeout);
        if let Some(settled) =
            health::wait_until_settled(&state.fleet, &state.prober, &record.id, limit).await
        {
            record = settled;
        }
    }
    let message = match record.auth_status {
        AuthStatus::ClientReady => "Instance created. The bot is connected and ready.",
        AuthStatus::Failed => "Instance created, but Telegram refused the bot token.",
        AuthStatus::Pending => "Instance created. Waiting for the bot to connect...",
    };
    let body = json!({
        "success": true,
        "instance_id": record.id,
        "message": "Instance created and processing started",
        "process_result": {
            "success": true,
            "instance_id": record.id,
            "action": "create",
            "details": {
                "display_name": record.display_name,
                "ports": { "api": record.port, "mcp": null },
                "api_key": provisioned.api_key,
                "auth_status": record.auth_status,
                "status": record.status,
                "status_check_url": format!(
                    "{}/api/v1/instances/{}/auth-status",
                    state.public_url, record.id
                ),
            },
            "message": message,
        }
    });
    Ok((StatusCode::CREATED, Json(body)))
}

#[derive(Debug, Deserialize)]
pub struct Page {
    limit: Option<usize>,
    #[serde(default)]
    offset: usize,
}

#[utoipa::path(get, path = "/api/v1/instances", tag = "instances", summary = "Instances, oldest first (from the cache); all unless paged",
    params(("limit" = Option<usize>, Query, description = "At most this many (1 to 10000)"), ("offset" = Option<usize>, Query, description = "Skip this many")),
    responses((status = 200, description = "Success", body = serde_json::Value), (status = 401, description = "Missing or wrong admin key", body = ErrorBody),
        (status = 422, description = "Bad limit", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn list_instances(
    State(state): State<AppState>,
    page: Result<Query<Page>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(page) = page?;
    if page.limit.is_some_and(|l| !(1..=10_000).contains(&l)) {
        return Err(ApiError::validation(
            "limit",
            "limit must be from 1 to 10000",
        ));
    }
    let all = state.fleet.cache.list();
    let total = all.len();
    let instances: Vec<Value> = all
        .iter()
        .skip(page.offset)
        .take(page.limit.unwrap_or(usize::MAX))
        .map(|r| views::instance(r))
        .collect();
    Ok(Json(json!({
        "success": true,
        "total": total,
        "count": instances.len(),
        "offset": page.offset,
        "instances": instances,
    })))
}

#[utoipa::path(get, path = "/api/v1/instances/{id}", tag = "instances", summary = "One instance with health, container and cached state", params(("id" = String, Path, description = "Instance id")), responses((status = 200, description = "Success", body = serde_json::Value), (status = 401, description = "Missing or wrong admin key", body = ErrorBody), (status = 404, description = "No such instance", body = ErrorBody)), security(("admin_key" = [])))]
pub async fn get_instance(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let record = state.fleet.get(&id)?;
    // The container is looked up live (bounded), so the answer shows what Docker says now.
    let container = tokio::time::timeout(
        Duration::from_secs(3),
        state.fleet.runtime.inspect_worker(&id),
    )
    .await;
    let (docker_ok, containers) = match container {
        Ok(Ok(Some(c))) => (c.running, vec![json!(c)]),
        Ok(Ok(None)) => (false, vec![]),
        Ok(Err(e)) => {
            tracing::warn!(instance_id = %id, error = %e, "inspect failed");
            (false, vec![])
        }
        Err(_) => (false, vec![]),
    };
    let mut instance = views::instance(&record);
    instance["health"]["services"] = json!({ "api": record.health_ok, "docker": docker_ok });
    instance["containers"] = json!(containers);
    instance["memory_data"] = views::memory(&record);
    Ok(Json(json!({ "success": true, "instance": instance })))
}

#[utoipa::path(delete, path = "/api/v1/instances/{id}", tag = "instances", summary = "Remove the container and free the port", params(("id" = String, Path, description = "Instance id")), responses((status = 200, description = "Success", body = serde_json::Value), (status = 401, description = "Missing or wrong admin key", body = ErrorBody), (status = 404, description = "No such instance", body = ErrorBody), (status = 409, description = "Another operation is in progress", body = ErrorBody)), security(("admin_key" = [])))]
pub async fn delete_instance(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    crate::verbs::delete(&state.reconciler, &id).await?;
    Ok(Json(json!({
        "success": true,
        "instance_id": id,
        "message": "Instance deleted; its container is removed and its port freed",
    })))
}
