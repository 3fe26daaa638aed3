//! `POST /api/v1/instances/{id}/{start,stop,restart,process}` and `PATCH /api/v1/instances/{id}`.

use axum::{
    Json,
    extract::{Path, State, rejection::JsonRejection},
};
use serde_json::{Map, Value, json};
use shared::ErrorBody;

use super::{AppState, views};
use crate::{
    domain::InstanceRecord,
    error::ApiError,
    verbs::{self, ConfigChange, ProcessOutcome},
};

fn answer(message: &str, r: &InstanceRecord) -> Json<Value> {
    Json(json!({
        "success": true,
        "instance_id": r.id,
        "status": r.status,
        "message": message,
        "instance": views::instance(r),
    }))
}

#[utoipa::path(post, path = "/api/v1/instances/{id}/start", tag = "lifecycle", summary = "Start a stopped or failed instance", params(("id" = String, Path, description = "Instance id")), responses((status = 200, description = "Success", body = serde_json::Value), (status = 401, description = "Missing or wrong admin key", body = ErrorBody), (status = 404, description = "No such instance", body = ErrorBody), (status = 409, description = "Not startable in its state", body = ErrorBody)), security(("admin_key" = [])))]
pub async fn start(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let r = verbs::start(&state.reconciler, &id).await?;
    Ok(answer("Instance started", &r))
}

#[utoipa::path(post, path = "/api/v1/instances/{id}/stop", tag = "lifecycle", summary = "Stop the worker (the container stays)", params(("id" = String, Path, description = "Instance id")), responses((status = 200, description = "Success", body = serde_json::Value), (status = 401, description = "Missing or wrong admin key", body = ErrorBody), (status = 404, description = "No such instance", body = ErrorBody), (status = 409, description = "Not stoppable in its state", body = ErrorBody)), security(("admin_key" = [])))]
pub async fn stop(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let r = verbs::stop(&state.reconciler, &id).await?;
    Ok(answer("Instance stopped", &r))
}

#[utoipa::path(post, path = "/api/v1/instances/{id}/restart", tag = "lifecycle", summary = "Restart the worker; also the way out of failed", params(("id" = String, Path, description = "Instance id")), responses((status = 200, description = "Success", body = serde_json::Value), (status = 401, description = "Missing or wrong admin key", body = ErrorBody), (status = 404, description = "No such instance", body = ErrorBody), (status = 409, description = "Not restartable in its state", body = ErrorBody)), security(("admin_key" = [])))]
pub async fn restart(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let r = verbs::restart(&state.reconciler, &id).await?;
    Ok(answer("Instance restarted successfully", &r))
}

#[utoipa::path(post, path = "/api/v1/instances/{id}/process", tag = "lifecycle", summary = "Apply the stored configuration (no_change or recreated)", params(("id" = String, Path, description = "Instance id")), responses((status = 200, description = "Success", body = serde_json::Value), (status = 401, description = "Missing or wrong admin key", body = ErrorBody), (status = 404, description = "No such instance", body = ErrorBody), (status = 409, description = "Not processable in its state", body = ErrorBody)), security(("admin_key" = [])))]
pub async fn process(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (action, message, r) = match verbs::process(&state.reconciler, &id).await? {
        ProcessOutcome::NoChange(r) => ("no_change", "Instance is already up to date", r),
        ProcessOutcome::Applied(r) => ("recreated", "Configuration applied; worker recreated", r),
    };
    Ok(Json(json!({
        "success": true,
        "instance_id": r.id,
        "action": action,
        "details": {
            "display_name": r.display_name,
            "ports": { "api": r.port, "mcp": null },
            "auth_status": r.auth_status,
            "status": r.status,
            "status_check_url": format!("{}/api/v1/instances/{}/auth-status", state.public_url, r.id),
        },
        "message": message,
    })))
}

#[utoipa::path(patch, path = "/api/v1/instances/{id}", tag = "lifecycle", summary = "Store configuration changes; the next process applies them", params(("id" = String, Path, description = "Instance id")), request_body(content = serde_json::Value, description = "{token?, agno_config?, memory_limit_mb?, cpu_limit?}"), responses((status = 200, description = "Success", body = serde_json::Value), (status = 401, description = "Missing or wrong admin key", body = ErrorBody), (status = 404, description = "No such instance", body = ErrorBody), (status = 409, description = "Token used elsewhere, or an operation is in progress", body = ErrorBody), (status = 422, description = "A field is wrong", body = ErrorBody)), security(("admin_key" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body?;
    let change = parse_change(&body)?;
    let r = verbs::update_config(&state.reconciler, &id, change).await?;
    let pending =
        r.applied_config_sha256.as_deref() != Some(state.fleet.config_digest(&r).as_str());
    Ok(Json(json!({
        "success": true,
        "instance_id": r.id,
        "pending_changes": pending,
        "message": if pending { "Saved; POST /process applies it" } else { "Nothing to apply" },
        "instance": views::instance(&r),
    })))
}

/// Validates a PATCH body. Unknown fields are refused, so a typo is not silently ignored.
fn parse_change(body: &Value) -> Result<ConfigChange, ApiError> {
    let object: &Map<String, Value> = body
        .as_object()
        .ok_or_else(|| ApiError::BadRequest("the body must be a JSON object".into()))?;
    let mut change = ConfigChange::default();
    for (field, value) in object {
        match field.as_str() {
            "token" => {
                let token = value
                    .as_str()
                    .ok_or_else(|| ApiError::validation("token", "token must be a string"))?;
                crate::domain::new_instance::validate_telegram_token(token.trim())?;
                change.token = Some(token.trim().to_string());
            }
            "agno_config" => match value {
                Value::Null => change.agno_config = Some(None),
                Value::Object(_) => {
                    crate::domain::new_instance::validate_agent_config(value)?;
                    change.agno_config = Some(Some(value.clone()));
                }
                _ => {
                    return Err(ApiError::validation(
                        "agno_config",
                        "agno_config must be an object or null",
                    ));
                }
            },
            "memory_limit_mb" => {
                let mb = value
                    .as_i64()
                    .filter(|mb| (16..=16_384).contains(mb))
                    .ok_or_else(|| {
                        ApiError::validation(
                            "memory_limit_mb",
                            "memory_limit_mb must be an integer from 16 to 16384",
                        )
                    })?;
                change.memory_limit_mb = Some(mb);
            }
            "cpu_limit" => {
                let cpus = value
                    .as_f64()
                    .filter(|c| (0.01..=64.0).contains(c))
                    .ok_or_else(|| {
                        ApiError::validation(
                            "cpu_limit",
                            "cpu_limit must be a number of CPUs from 0.01 to 64",
                        )
                    })?;
                change.cpu_millis = Some((cpus * 1000.0).round() as i64);
            }
            other => {
                return Err(ApiError::BadRequest(format!(
                    "unknown field '{other}'; updatable: token, agno_config, memory_limit_mb, cpu_limit"
                )));
            }
        }
    }
    Ok(change)
}
