//! `GET /api/v1/instances/{id}/chats`, `/groups`, `/contacts` and `/messages?chatId=&limit=`: the
//! conversations the manager collected from the worker; they outlive the worker's container.

use axum::{
    Json,
    extract::{Path, Query, State, rejection::QueryRejection},
};
use serde::Deserialize;
use serde_json::{Value, json};
use shared::ErrorBody;

use super::{AppState, views::rfc3339};
use crate::error::ApiError;

#[utoipa::path(get, path = "/api/v1/instances/{id}/chats", tag = "messages", summary = "The bot's chats, most recent first",
    params(("id" = String, Path, description = "Instance id")),
    responses((status = 200, description = "Chats", body = serde_json::Value), (status = 401, description = "Missing or wrong admin key", body = ErrorBody),
        (status = 404, description = "No such instance", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn chats(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    list_chats(&state, &id, false).await
}

#[utoipa::path(get, path = "/api/v1/instances/{id}/groups", tag = "messages", summary = "The bot's group chats, most recent first",
    params(("id" = String, Path, description = "Instance id")),
    responses((status = 200, description = "Groups", body = serde_json::Value), (status = 401, description = "Missing or wrong admin key", body = ErrorBody),
        (status = 404, description = "No such instance", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn groups(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    list_chats(&state, &id, true).await
}

#[utoipa::path(get, path = "/api/v1/instances/{id}/contacts", tag = "messages", summary = "The people who wrote to the bot, most recent first",
    params(("id" = String, Path, description = "Instance id")),
    responses((status = 200, description = "Contacts", body = serde_json::Value), (status = 401, description = "Missing or wrong admin key", body = ErrorBody),
        (status = 404, description = "No such instance", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn contacts(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state.fleet.get(&id)?;
    let contacts: Vec<Value> = state
        .fleet
        .store
        .contacts(&id)
        .await?
        .into_iter()
        .map(|c| {
            json!({
                "user_id": c.user_id,
                "name": c.name,
                "message_count": c.message_count,
                "last_seen_at": rfc3339(c.last_seen_at),
            })
        })
        .collect();
    Ok(Json(
        json!({ "success": true, "count": contacts.len(), "contacts": contacts }),
    ))
}

async fn list_chats(
    state: &AppState,
    id: &str,
    groups_only: bool,
) -> Result<Json<Value>, ApiError> {
    state.fleet.get(id)?;
    let chats: Vec<Value> = state
        .fleet
        .store
        .chats(id, groups_only)
        .await?
        .into_iter()
        .map(|c| {
            json!({
                "chat_id": c.chat_id,
                "name": c.name,
                "type": c.chat_type,
                "message_count": c.message_count,
                "last_message": c.last_message,
                "last_message_at": rfc3339(c.last_message_at),
            })
        })
        .collect();
    let key = if groups_only { "groups" } else { "chats" };
    Ok(Json(
        json!({ "success": true, "count": chats.len(), key: chats }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessagesQuery {
    chat_id: Option<i64>,
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/instances/{id}/messages", tag = "messages", summary = "A chat's messages, newest first",
    params(("id" = String, Path, description = "Instance id"), ("chatId" = i64, Query, description = "Chat id"),
        ("limit" = Option<i64>, Query, description = "1 to 1000, default 50")),
    responses((status = 200, description = "Messages", body = serde_json::Value), (status = 401, description = "Missing or wrong admin key", body = ErrorBody),
        (status = 404, description = "No such instance", body = ErrorBody), (status = 422, description = "Bad chatId or limit", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn messages(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<MessagesQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query?;
    state.fleet.get(&id)?;
    let chat_id = q
        .chat_id
        .ok_or_else(|| ApiError::validation("chatId", "chatId is required"))?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::validation(
            "limit",
            "limit must be from 1 to 1000",
        ));
    }
    let messages: Vec<Value> = state
        .fleet
        .store
        .messages(&id, chat_id, limit)
        .await?
        .into_iter()
        .map(|m| {
            json!({
                "id": m.id,
                "chat_id": m.chat_id,
                "direction": m.direction,
                "message_id": m.message_id,
                "from_id": m.from_id,
                "from_name": m.from_name,
                "text": m.text,
                "timestamp": rfc3339(m.at),
            })
        })
        .collect();
    Ok(Json(
        json!({ "success": true, "count": messages.len(), "messages": messages }),
    ))
}
