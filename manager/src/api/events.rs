//! `GET /api/v1/events?instance_id=&types=&limit=` (the operational event log, newest first) and
//! `GET /api/v1/events/stream` (the same events live, as Server-Sent Events, until the client leaves).

use shared::{ErrorBody, webhook::BOT_EVENT_TYPES};
use std::convert::Infallible;

use axum::{
    Json,
    extract::{Query, State, rejection::QueryRejection},
    response::sse::{Event as SseEvent, KeepAlive, Sse},
};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_stream::wrappers::BroadcastStream;

use super::{AppState, views::rfc3339};
use crate::{
    error::ApiError,
    store::events::{EVENT_TYPES, Event},
};

#[derive(Debug, Deserialize)]
pub struct EventQuery {
    instance_id: Option<String>,
    /// Comma-separated event types.
    types: Option<String>,
    limit: Option<i64>,
}

impl EventQuery {
    fn types(&self) -> Result<Vec<String>, ApiError> {
        let Some(types) = &self.types else {
            return Ok(vec![]);
        };
        types
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| {
                // `started` is short for `instance.started`.
                let t = if t.contains('.') {
                    t.to_string()
                } else {
                    format!("instance.{t}")
                };
                if EVENT_TYPES.contains(&t.as_str()) || BOT_EVENT_TYPES.contains(&t.as_str()) {
                    Ok(t)
                } else {
                    Err(ApiError::validation(
                        "types",
                        format!(
                            "unknown event type '{t}'; known: {}, {}",
                            EVENT_TYPES.join(", "),
                            BOT_EVENT_TYPES.join(", ")
                        ),
                    ))
                }
            })
            .collect()
    }

    fn matches(&self, e: &Event, types: &[String]) -> bool {
        self.instance_id
            .as_ref()
            .is_none_or(|id| e.instance_id.as_ref() == Some(id))
            && (types.is_empty() || types.contains(&e.event_type))
    }
}

fn view(e: &Event) -> Value {
    json!({
        "id": e.id,
        "timestamp": rfc3339(e.at),
        "event_type": e.event_type,
        "instance_id": e.instance_id,
        "message": e.message,
    })
}

#[utoipa::path(get, path = "/api/v1/events", tag = "events", summary = "Operational event log, newest first", params(("instance_id" = Option<String>, Query, description = "One instance"), ("types" = Option<String>, Query, description = "Comma-separated event types"), ("limit" = Option<i64>, Query, description = "1 to 1000, default 50")), responses((status = 200, description = "Success", body = serde_json::Value), (status = 401, description = "Missing or wrong admin key", body = ErrorBody), (status = 422, description = "Unknown type or bad limit", body = ErrorBody)), security(("admin_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<EventQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query?;
    let types = q.types()?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::validation(
            "limit",
            "limit must be from 1 to 1000",
        ));
    }
    let events = state
        .fleet
        .store
        .events(q.instance_id.as_deref(), &types, limit)
        .await?;
    let data: Vec<Value> = events.iter().map(view).collect();
    Ok(Json(
        json!({ "success": true, "count": data.len(), "limit": limit, "events": data }),
    ))
}

#[utoipa::path(get, path = "/api/v1/events/stream", tag = "events", summary = "The event log live, as Server-Sent Events", params(("instance_id" = Option<String>, Query, description = "One instance"), ("types" = Option<String>, Query, description = "Comma-separated event types")), responses((status = 200, description = "Success", body = serde_json::Value), (status = 401, description = "Missing or wrong admin key", body = ErrorBody)), security(("admin_key" = [])))]
pub async fn stream(
    State(state): State<AppState>,
    query: Result<Query<EventQuery>, QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let Query(q) = query?;
    let types = q.types()?;
    let live = BroadcastStream::new(state.fleet.events.subscribe()).filter_map(move |e| {
        let keep = e.ok().filter(|e| q.matches(e, &types));
        async move {
            keep.map(|e| {
                Ok(SseEvent::default()
                    .event(e.event_type.clone())
                    .id(e.id.clone())
                    .data(view(&e).to_string()))
            })
        }
    });
    Ok(Sse::new(live).keep_alive(KeepAlive::default()))
}
