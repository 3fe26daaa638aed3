//! `GET /api/v1/events?after=&limit=&wait_ms=` and `POST /api/v1/events/ack`: the manager collects the
//! worker's events (long-polling with `wait_ms`, so it sees them as they happen) and then acknowledges them.
//! Control routes: only the manager's control key passes (`auth::require_manager`); a user who could read
//! or acknowledge the outbox would make the manager lose the events it had not stored yet.

use axum::{Json, extract::State};
use shared::{
    ErrorBody,
    http::{ValidJson, ValidQuery},
    worker_api::{AckResponse, EventAck, EventBatch, EventsQuery, WorkerReport},
};

use super::AppState;

/// Events one collection returns when no `limit` is given.
const DEFAULT_LIMIT: u32 = 500;

#[utoipa::path(get, path = "/api/v1/events", tag = "worker", summary = "Events not yet acknowledged, oldest first (control key only)",
    params(EventsQuery),
    responses((status = 200, description = "Events", body = EventBatch),
        (status = 403, description = "Not the manager's control key (the user's key may not collect events)", body = ErrorBody)),
    security(("control_key" = [])))]
pub async fn list_events(
    State(state): State<AppState>,
    ValidQuery(query): ValidQuery<EventsQuery>,
) -> Json<EventBatch> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT) as usize;
    let after = query.after.unwrap_or(0);
    let wait_ms = query.wait_ms.unwrap_or(0);
    let mut batch = if wait_ms == 0 {
        state.events.after(after, limit)
    } else {
        // A stopping worker ends its long polls at once, so they never hold up the shutdown.
        let stop = state.shutdown.clone().wait();
        state
            .events
            .after_waiting(
                after,
                limit,
                std::time::Duration::from_millis(wait_ms),
                stop,
            )
            .await
    };
    if query.status == Some(true) {
        batch.report = Some(WorkerReport {
            health: super::health::health_of(&state),
            status: super::status::status_of(&state),
        });
    }
    Json(batch)
}

#[utoipa::path(post, path = "/api/v1/events/ack", tag = "worker", summary = "Forget events up to a sequence number (control key only)",
    request_body = EventAck,
    responses((status = 200, description = "Forgotten", body = AckResponse),
        (status = 403, description = "Not the manager's control key (the user's key may not acknowledge events)", body = ErrorBody)),
    security(("control_key" = [])))]
pub async fn ack_events(
    State(state): State<AppState>,
    ValidJson(ack): ValidJson<EventAck>,
) -> Json<AckResponse> {
    Json(AckResponse {
        success: true,
        forgotten: state.events.ack(ack.up_to),
    })
}
