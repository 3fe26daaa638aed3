//! `GET /api/v1/instances/{id}/api-key` (metadata only: the key itself is never stored) and
//! `POST /api/v1/instances/{id}/api-key/rotate` (a new key, shown once; the old one stops working).

use axum::{
    Json,
    extract::{Path, State},
};
use shared::{
    ErrorBody,
    api::access::{ApiKeyInfo, ApiKeyResponse, RotatedApiKey},
};

use super::{AppState, views::rfc3339};
use crate::error::ApiError;

#[utoipa::path(get, path = "/api/v1/instances/{id}/api-key", tag = "instances", summary = "API key metadata (never the key)",
    params(("id" = String, Path, description = "Instance id")),
    responses((status = 200, description = "The key's metadata", body = ApiKeyResponse)),
    security(("admin_key" = [])))]
pub async fn get_api_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ApiKeyResponse>, ApiError> {
    let r = state.fleet.get(&id)?;
    Ok(Json(ApiKeyResponse {
        success: true,
        data: ApiKeyInfo {
            api_key_hint: r.api_key_hint.clone(),
            generated_at: rfc3339(r.api_key_created_at),
            usage_count: r.api_key_usage_count,
            last_use: r.api_key_last_used_at.map(rfc3339),
        },
    }))
}

#[utoipa::path(post, path = "/api/v1/instances/{id}/api-key/rotate", tag = "instances", summary = "Issue a new key (shown once); the old one stops working",
    params(("id" = String, Path, description = "Instance id")),
    responses((status = 200, description = "The new key, shown only now", body = RotatedApiKey),
        (status = 409, description = "Not possible in its state, or another operation is in progress", body = ErrorBody),
        (status = 503, description = "The container engine is unreachable", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn rotate_api_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RotatedApiKey>, ApiError> {
    let (r, key) = state.verbs.rotate_key(&id).await?;
    Ok(Json(RotatedApiKey {
        success: true,
        api_key: key,
        api_key_hint: r.api_key_hint.clone(),
        generated_at: rfc3339(r.api_key_created_at),
        message: "New API key issued; the previous key no longer works. It is shown only now."
            .into(),
    }))
}
