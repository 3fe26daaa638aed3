//! `/api/v1/instances/{id}/qr`, `/current-qr` and `/qr-history` (seed `002`). A bot that pairs with a
//! phone by QR shows its code here; none of this build's providers does (they log in with credentials),
//! so the codes answer the seed's 404 and the history is empty — for every instance, so clients of the
//! replaced system find the routes.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use shared::{
    ErrorBody, ErrorCode,
    api::qr::{QrCode, QrHistory, QrHistoryQuery, QrUnavailable},
    http::ValidQuery,
};

use super::AppState;
use crate::error::ApiError;

#[utoipa::path(get, path = "/api/v1/instances/{id}/qr", tag = "instances", summary = "The QR code to scan, for providers that pair by QR",
    params(("id" = String, Path, description = "Instance id")),
    responses((status = 200, description = "A code waiting to be scanned", body = QrCode),
        (status = 404, description = "No such instance (`code` `instance_not_found`), or no QR code: the provider logs in with credentials, or the bot is already paired (`error` `QR code not available`)", body = QrUnavailable)),
    security(("admin_key" = [])))]
pub async fn get_qr(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    qr(&state, &id)
}

#[utoipa::path(get, path = "/api/v1/instances/{id}/current-qr", tag = "instances", summary = "The QR code shown now, for providers that pair by QR",
    params(("id" = String, Path, description = "Instance id")),
    responses((status = 200, description = "A code waiting to be scanned", body = QrCode),
        (status = 404, description = "No such instance (`code` `instance_not_found`), or no QR code: the provider logs in with credentials, or the bot is already paired (`error` `QR code not available`)", body = QrUnavailable)),
    security(("admin_key" = [])))]
pub async fn get_current_qr(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    qr(&state, &id)
}

#[utoipa::path(get, path = "/api/v1/instances/{id}/qr-history", tag = "instances", summary = "The QR codes shown, newest first",
    params(("id" = String, Path, description = "Instance id"), QrHistoryQuery),
    responses((status = 200, description = "Codes shown (none for providers that log in with credentials)", body = QrHistory),
        (status = 404, description = "No such instance", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn get_qr_history(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ValidQuery(query): ValidQuery<QrHistoryQuery>,
) -> Result<Json<QrHistory>, ApiError> {
    state.fleet.get(&id)?;
    Ok(Json(QrHistory {
        success: true,
        data: Vec::new(),
        count: 0,
        limit: query.limit(),
    }))
}

/// The seed's 404: no provider of this build pairs by QR.
fn qr(state: &AppState, id: &str) -> Result<Response, ApiError> {
    let r = state.fleet.get(id)?;
    let body = QrUnavailable {
        success: false,
        code: ErrorCode::NotFound,
        error: "QR code not available".into(),
        message: Some(format!(
            "{} bots log in with their credentials, not a QR code",
            r.provider.display_name()
        )),
    };
    Ok((StatusCode::NOT_FOUND, Json(body)).into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn no_provider_of_this_build_pairs_by_qr() {
        // The routes above answer 404 for every instance because of this; a provider that pairs by QR must
        // come with its codes.
        assert!(
            shared::Provider::ALL
                .iter()
                .all(|p| !p.capabilities().qr_login)
        );
    }
}
