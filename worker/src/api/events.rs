//! `GET /api/v1/events?after=&limit=&wait_ms=` and `POST /api/v1/events/ack`: the manager collects the
//! worker's events (long-polling with `wait_ms`, so it sees them as they happen) and then acknowledges them.

use axum::{
    Json,
    extract::{
        Query, State,
        rejection::{JsonRejection, QueryRejection},
    },
};
use serde::Deserialize;
use serde_json::{Value, json};
use shared::{
    ErrorBody,
    worker_api::{EventAck, EventBatch},
};

use super::AppState;
use crate::error::ApiError;

#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    after: Option<u64>,
    limit: Option<usize>,
    wait_ms: Option<u64>,
}

/// Longest long poll.
const MAX_WAIT_MS: u64 = 30_000;

#[utoipa::path(get, path = "/api/v1/events", tag = "worker", summary = "Events not yet acknowledged, oldest first",
    params(("after" = Option<u64>, Query, description = "Only events after this sequence number"),
        ("limit" = Option<usize>, Query, description = "1 to 1000, default 500"),
        ("wait_ms" = Option<u64>, Query, description = "When there are none yet, wait up to this long (0 to 30000, default 0) for one")),
    responses((status = 200, description = "Events", body = EventBatch), (status = 401, description = "Missing or wrong key", body = ErrorBody),
        (status = 422, description = "Bad limit or wait_ms", body = ErrorBody)),
    security(("instance_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Json<EventBatch>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = q.limit.unwrap_or(500);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::validation(
            "limit",
            "limit must be from 1 to 1000",
        ));
    }
    let wait_ms = q.wait_ms.unwrap_or(0);
    if wait_ms > MAX_WAIT_MS {
        return Err(ApiError::validation(
            "wait_ms",
            format!("wait_ms must be from 0 to {MAX_WAIT_MS}"),
        ));
    }
    let after = q.after.unwrap_or(0);
    if wait_ms == 0 {
        return Ok(Json(state.events.after(after, limit)));
    }
    // A stopping worker ends its long polls at once, so they never hold up the shutdown.
    let stop = state.shutdown.clone().wait();
    Ok(Json(
        state
            .events
            .after_waiting(
                after,
                limit,
                std::time::Duration::from_millis(wait_ms),
                stop,
            )
            .await,
    ))
}

#[utoipa::path(post, path = "/api/v1/events/ack", tag = "worker", summary = "Forget events up to a sequence number",
    request_body = EventAck,
    responses((status = 200, description = "Forgotten", body = serde_json::Value), (status = 401, description = "Missing or wrong key", body = ErrorBody)),
    security(("instance_key" = [])))]
pub async fn ack(
    State(state): State<AppState>,
    body: Result<Json<EventAck>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(ack) = body?;
    let forgotten = state.events.ack(ack.up_to);
    Ok(Json(json!({ "success": true, "forgotten": forgotten })))
}
