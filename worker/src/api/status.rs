//! `GET /api/v1/status`: who the bot is, whether it is connected, and its message counters.

use axum::{Json, extract::State};
use shared::worker_api::{KeyUsage, StatusResponse};

use super::AppState;
use crate::state::now_ms;

fn age(at: Option<i64>) -> Option<u64> {
    at.map(|t| u64::try_from(now_ms() - t).unwrap_or(0))
}

pub async fn get_status(State(state): State<AppState>) -> Json<StatusResponse> {
    let snapshot = state.status.snapshot();
    Json(StatusResponse {
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
        last_error: snapshot.last_error,
    })
}
