//! `GET /api/v1/status`: who the bot is, whether it is connected, and its message counters.

use axum::{Json, extract::State};
use shared::{
    ErrorBody,
    worker_api::{KeyUsage, StatusResponse},
};

use super::AppState;
use crate::state::now_ms;

fn age(at: Option<i64>) -> Option<u64> {
    at.map(|t| u64::try_from(now_ms() - t).unwrap_or(0))
}

#[utoipa::path(get, path = "/api/v1/status", tag = "worker", summary = "Who the bot is, its connection and counters",
    responses((status = 200, description = "Status", body = StatusResponse), (status = 401, description = "Missing or wrong key", body = ErrorBody)),
    security(("instance_key" = [])))]
pub async fn get_status(State(state): State<AppState>) -> Json<StatusResponse> {
    Json(status_of(&state))
}

/// The bot's status as it is now (also answered with collected events, `status=true`).
pub fn status_of(state: &AppState) -> StatusResponse {
    let snapshot = state.status.snapshot();
    StatusResponse {
        provider: state.provider.clone(),
        status: snapshot.connection,
        info: snapshot.info,
        state: snapshot.state,
        messages: state.status.counts(),
        last_poll_age_ms: age(state.status.last_poll_at()),
        send_latency_ms_total: state.status.send_latency_ms_total(),
        api_key_usage: {
            let (uses, last) = state.status.key_usage();
            KeyUsage {
                uses,
                last_used_age_ms: age(last),
            }
        },
        webhook_updated_at: state.webhook.updated_at(),
        config_revision: state.bot.config().revision(),
        paused: state.bot.config().paused(),
        last_error: snapshot.last_error,
    }
}

#[utoipa::path(get, path = "/api/v1/telegram/status", tag = "worker", summary = "Alias of /api/v1/status",
    responses((status = 200, description = "Status", body = StatusResponse), (status = 401, description = "Missing or wrong key", body = ErrorBody)),
    security(("instance_key" = [])))]
pub async fn get_telegram_status(state: State<AppState>) -> Json<StatusResponse> {
    get_status(state).await
}
