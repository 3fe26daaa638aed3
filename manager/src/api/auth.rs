//! Admin authentication: every `/api/v1/*` route needs `Authorization: Bearer <admin key>`.

use axum::{
    extract::{Request, State},
    http::header::AUTHORIZATION,
    middleware::Next,
    response::Response,
};

use super::AppState;
use crate::{error::ApiError, keys};

pub async fn require_admin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(shared::bearer_key);
    match presented {
        None => Err(ApiError::Unauthorized("missing admin bearer key")),
        Some(key) if keys::matches_digest(key, &state.admin_key_sha256) => {
            Ok(next.run(request).await)
        }
        Some(_) => Err(ApiError::Unauthorized("invalid admin bearer key")),
    }
}
