//! `GET /api/v1/health`: open liveness of the bot, `healthy` once Telegram accepted the token.

use axum::{Json, extract::State};
use shared::worker_api::{HealthResponse, HealthStatus};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use super::AppState;

pub async fn get_health(State(state): State<AppState>) -> Json<HealthResponse> {
    let status = if state.status.is_healthy() {
        HealthStatus::Healthy
    } else {
        HealthStatus::Unhealthy
    };
    Json(HealthResponse {
        status,
        provider: state.provider.clone(),
        timestamp: OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default(),
    })
}
