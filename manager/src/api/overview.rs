//! `GET /api/v1/`: the map of the API, and the JSON answers for unknown routes.

use axum::{Json, http::StatusCode};
use serde_json::{Value, json};
use shared::ErrorBody;

#[utoipa::path(get, path = "/api/v1/", tag = "manager", summary = "Map of the API", responses((status = 200, description = "Success", body = serde_json::Value), (status = 401, description = "Missing or wrong admin key", body = ErrorBody)), security(("admin_key" = [])))]
pub async fn get_overview() -> Json<Value> {
    Json(json!({
        "version": "v1",
        "endpoints": {
            "instances": "/api/v1/instances",
            "instance": "/api/v1/instances/{id}",
            "auth_status": "/api/v1/instances/{id}/auth-status",
            "credentials": "/api/v1/instances/{id}/credentials",
            "memory": "/api/v1/instances/{id}/memory",
            "memory_stats": "/api/v1/instances/memory/stats",
            "lifecycle": "/api/v1/instances/{id}/{start,stop,restart,process}",
            "status_history": "/api/v1/instances/{id}/status-history",
            "errors": "/api/v1/instances/{id}/errors",
            "activity_stats": "/api/v1/instances/{id}/activity-stats",
            "logs": "/api/v1/instances/{id}/logs",
            "api_key": "/api/v1/instances/{id}/api-key",
            "health": "/health",
        }
    }))
}

pub async fn not_found() -> (StatusCode, Json<ErrorBody>) {
    (
        StatusCode::NOT_FOUND,
        Json(ErrorBody::new(
            shared::ErrorCode::NotFound,
            "no such route",
            None,
        )),
    )
}

pub async fn method_not_allowed() -> (StatusCode, Json<ErrorBody>) {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(ErrorBody::new(
            shared::ErrorCode::MethodNotAllowed,
            "method not allowed on this route",
            None,
        )),
    )
}
