//! `GET /api/v1/status`: who the bot is, whether it is connected, and its message counters.

use axum::{Json, extract::State};
use shared::worker_api::StatusResponse;

use super::AppState;

pub async fn get_status(State(state): State<AppState>) -> Json<StatusResponse> {
    let snapshot = state.status.snapshot();
    Json(StatusResponse {
        provider: state.provider.clone(),
        status: snapshot.connection,
        info: snapshot.info,
        state: snapshot.state,
        messages: state.status.counts(),
        last_error: snapshot.last_error,
    })
}
