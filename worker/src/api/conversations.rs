//! `GET /api/v1/chats`, `/contacts`, `/groups`, `/messages?chatId=&limit=`: what the bot has seen since
//! the worker started (with `/api/v1/telegram/{chats,contacts}` as aliases, as in the seed).

use axum::{
    Json,
    extract::{Query, State, rejection::QueryRejection},
};
use serde::Deserialize;
use serde_json::{Value, json};
use shared::ErrorBody;

use super::AppState;
use crate::{error::ApiError, seen::StoredMessage};

fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn chats_json(state: &AppState, groups_only: bool) -> Json<Value> {
    let chats: Vec<Value> = state
        .seen
        .chats(groups_only)
        .iter()
        .map(|c| {
            json!({
                "id": c.id.to_string(),
                "name": c.name,
                "type": c.kind,
                "username": c.username,
                "messageCount": c.message_count,
                "timestamp": rfc3339(c.last_message_date),
                "lastMessage": c.last_message,
            })
        })
        .collect();
    Json(Value::Array(chats))
}

#[utoipa::path(get, path = "/api/v1/chats", tag = "worker", summary = "Chats the bot has seen, most recent first",
    responses((status = 200, description = "Chats", body = serde_json::Value), (status = 401, description = "Missing or wrong key", body = ErrorBody)),
    security(("instance_key" = [])))]
pub async fn chats(State(state): State<AppState>) -> Json<Value> {
    chats_json(&state, false)
}

#[utoipa::path(get, path = "/api/v1/telegram/chats", tag = "worker", summary = "Alias of /api/v1/chats",
    responses((status = 200, description = "Chats", body = serde_json::Value), (status = 401, description = "Missing or wrong key", body = ErrorBody)),
    security(("instance_key" = [])))]
pub async fn telegram_chats(State(state): State<AppState>) -> Json<Value> {
    chats_json(&state, false)
}

#[utoipa::path(get, path = "/api/v1/groups", tag = "worker", summary = "Groups the bot has seen",
    responses((status = 200, description = "Groups", body = serde_json::Value), (status = 401, description = "Missing or wrong key", body = ErrorBody)),
    security(("instance_key" = [])))]
pub async fn groups(State(state): State<AppState>) -> Json<Value> {
    chats_json(&state, true)
}

fn contacts_json(state: &AppState) -> Json<Value> {
    Json(json!(state.seen.contacts()))
}

#[utoipa::path(get, path = "/api/v1/contacts", tag = "worker", summary = "People who wrote to the bot",
    responses((status = 200, description = "Contacts", body = serde_json::Value), (status = 401, description = "Missing or wrong key", body = ErrorBody)),
    security(("instance_key" = [])))]
pub async fn contacts(State(state): State<AppState>) -> Json<Value> {
    contacts_json(&state)
}

#[utoipa::path(get, path = "/api/v1/telegram/contacts", tag = "worker", summary = "Alias of /api/v1/contacts",
    responses((status = 200, description = "Contacts", body = serde_json::Value), (status = 401, description = "Missing or wrong key", body = ErrorBody)),
    security(("instance_key" = [])))]
pub async fn telegram_contacts(State(state): State<AppState>) -> Json<Value> {
    contacts_json(&state)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessagesQuery {
    chat_id: Option<String>,
    limit: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/messages", tag = "worker", summary = "Recent messages of one chat, newest first",
    params(("chatId" = String, Query, description = "Numeric chat id"), ("limit" = Option<usize>, Query, description = "1 to 200, default 50")),
    responses((status = 200, description = "Messages", body = serde_json::Value), (status = 401, description = "Missing or wrong key", body = ErrorBody),
        (status = 404, description = "Chat never seen", body = ErrorBody), (status = 422, description = "Bad chatId or limit", body = ErrorBody)),
    security(("instance_key" = [])))]
pub async fn messages(
    State(state): State<AppState>,
    query: Result<Query<MessagesQuery>, QueryRejection>,
) -> Result<Json<Vec<StoredMessage>>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let chat_id = q
        .chat_id
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::validation("chatId", "chatId is required"))?
        .parse::<i64>()
        .map_err(|_| ApiError::validation("chatId", "chatId must be a numeric chat id"))?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=crate::seen::MAX_PER_CHAT).contains(&limit) {
        return Err(ApiError::validation(
            "limit",
            format!("limit must be from 1 to {}", crate::seen::MAX_PER_CHAT),
        ));
    }
    state
        .seen
        .messages(chat_id, limit)
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("chat {chat_id} not seen by this bot")))
}
