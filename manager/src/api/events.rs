//! `GET /api/v1/events?instance_id=&types=&limit=` (the operational event log, newest first) and
//! `GET /api/v1/events/stream` (the same events live, as Server-Sent Events, until the client leaves).

use std::convert::Infallible;

use axum::{
    Json,
    extract::State,
    response::sse::{Event as SseEvent, KeepAlive, Sse},
};
use futures::{Stream, StreamExt};
use shared::{
    api::events::{EventList, EventListQuery, EventStreamQuery, EventView},
    events::EventType,
    http::ValidQuery,
};
use tokio_stream::wrappers::BroadcastStream;

use super::{AppState, views::rfc3339};
use crate::{auth::Principal, error::ApiError, store::events::Event};

/// The event as answered; `None` (logged) for a type this build does not know.
fn view(e: &Event) -> Option<EventView> {
    let Some(event_type) = EventType::parse(&e.event_type) else {
        tracing::warn!(event = %e.id, event_type = %e.event_type, "event of an unknown type left out");
        return None;
    };
    Some(EventView {
        id: e.id.clone(),
        timestamp: rfc3339(e.at),
        event_type,
        instance_id: e.instance_id.clone(),
        message: e.message.clone(),
    })
}

#[utoipa::path(get, path = "/api/v1/events", tag = "events", summary = "Operational event log, newest first",
    params(EventListQuery),
    responses((status = 200, description = "The events, newest first", body = EventList)),
    security(("admin_key" = [])))]
pub async fn list_events(
    State(state): State<AppState>,
    principal: Principal,
    ValidQuery(q): ValidQuery<EventListQuery>,
) -> Result<Json<EventList>, ApiError> {
    let types: Vec<String> = q.types.iter().map(|t| t.as_str().to_string()).collect();
    let limit = q.limit();
    // Users see the events of their own bots only; an id they may not see matches nothing.
    let ids: Option<Vec<String>> = match (&q.instance_id, principal.sees_all()) {
        (Some(id), true) => Some(vec![id.clone()]),
        (None, true) => None,
        (Some(id), false) => Some(
            super::visible_instance_ids(&state, &principal)
                .into_iter()
                .filter(|v| v == id)
                .collect(),
        ),
        (None, false) => Some(super::visible_instance_ids(&state, &principal)),
    };
    let events = state
        .fleet
        .store
        .events(ids.as_deref(), &types, i64::from(limit))
        .await?;
    let events: Vec<EventView> = events.iter().filter_map(view).collect();
    Ok(Json(EventList {
        success: true,
        count: events.len() as u64,
        limit,
        events,
    }))
}

#[utoipa::path(get, path = "/api/v1/events/stream", tag = "events", summary = "The event log live, as Server-Sent Events",
    params(EventStreamQuery),
    responses((status = 200,
        description = "Server-Sent Events until the client leaves: each has `event:` the event type, `id:` the event id and \
                       `data:` the event as JSON (an `EventView`, as `GET /api/v1/events` lists it)",
        body = String, content_type = "text/event-stream")),
    security(("admin_key" = [])))]
pub async fn stream_events(
    State(state): State<AppState>,
    principal: Principal,
    ValidQuery(q): ValidQuery<EventStreamQuery>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let fleet = state.fleet.clone();
    // Whether the caller may see an event, decided as it arrives (bots are created and deleted while
    // the stream is open).
    let visible = move |instance_id: Option<&str>| match instance_id {
        _ if principal.sees_all() => true,
        None => false,
        Some(id) => principal.may_see_cached(&fleet.cache, id),
    };
    let live = BroadcastStream::new(state.fleet.events.subscribe()).filter_map(move |e| {
        let keep = e
            .ok()
            .as_ref()
            .and_then(view)
            .filter(|v| q.matches(v.event_type, v.instance_id.as_deref()))
            .filter(|v| visible(v.instance_id.as_deref()));
        async move {
            keep.and_then(|v| {
                let data = serde_json::to_string(&v).ok()?;
                Some(Ok(SseEvent::default()
                    .event(v.event_type.as_str())
                    .id(v.id)
                    .data(data)))
            })
        }
    });
    Sse::new(live).keep_alive(KeepAlive::default())
}
