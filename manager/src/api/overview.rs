//! `GET /api/v1/`: the map of the API, and the JSON answers for unknown routes.

use axum::{Json, http::StatusCode};
use shared::{
    ErrorBody,
    api::overview::{ApiEndpoints, ApiOverview},
};

#[utoipa::path(get, path = "/api/v1/", tag = "manager", summary = "Map of the API",
    responses((status = 200, description = "Where the main resources are", body = ApiOverview)),
    security(("admin_key" = [])))]
pub async fn get_overview() -> Json<ApiOverview> {
    let at = |path: &str| path.to_string();
    Json(ApiOverview {
        version: "v1".into(),
        endpoints: ApiEndpoints {
            instances: at("/api/v1/instances"),
            instance: at("/api/v1/instances/{id}"),
            auth_status: at("/api/v1/instances/{id}/auth-status"),
            credentials: at("/api/v1/instances/{id}/credentials"),
            memory: at("/api/v1/instances/{id}/memory"),
            memory_stats: at("/api/v1/instances/memory/stats"),
            lifecycle: at("/api/v1/instances/{id}/{start,stop,restart,process}"),
            status_history: at("/api/v1/instances/{id}/status-history"),
            errors: at("/api/v1/instances/{id}/errors"),
            activity_stats: at("/api/v1/instances/{id}/activity-stats"),
            logs: at("/api/v1/instances/{id}/logs"),
            api_key: at("/api/v1/instances/{id}/api-key"),
            hosts: at("/api/v1/hosts"),
            health: at("/health"),
        },
    })
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
