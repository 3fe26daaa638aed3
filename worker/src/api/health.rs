//! `GET /api/v1/health`: open liveness of the bot, `healthy` once Telegram accepted the token.

use axum::{Json, extract::State};
use shared::worker_api::{HealthResponse, HealthStatus};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use super::AppState;

#[utoipa::path(get, path = "/api/v1/health", tag = "worker", summary = "Liveness of the bot: healthy once the platform accepted its credentials",
    responses((status = 200, description = "Health", body = HealthResponse)))]
pub async fn get_health(State(state): State<AppState>) -> Json<HealthResponse> {
    Json(HealthResponse {
        status: health_of(&state),
        provider: state.provider.clone(),
        timestamp: OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default(),
    })
}

/// The bot's health as it is now (also answered with collected events, `status=true`).
pub fn health_of(state: &AppState) -> HealthStatus {
    if state.status.is_healthy() {
        HealthStatus::Healthy
    } else {
        HealthStatus::Unhealthy
    }
}

#[utoipa::path(get, path = "/api/v1/telegram/health", tag = "worker", summary = "Alias of /api/v1/health",
    responses((status = 200, description = "Health", body = HealthResponse)))]
pub async fn get_telegram_health(state: State<AppState>) -> Json<HealthResponse> {
    get_health(state).await
}
