//! `GET /api/v1/chats`, `/contacts`, `/groups`, `/messages?chatId=&limit=`: what the bot has seen (with
//! `/api/v1/telegram/{chats,contacts}` as aliases, as in the seed).

use axum::{Json, extract::State};
use shared::{
    ErrorBody,
    http::ValidQuery,
    worker_api::{ChatSummary, Contact, MessagesQuery, StoredMessage},
};

use super::AppState;
use crate::error::ApiError;

/// Messages `/messages` returns when no `limit` is given.
const DEFAULT_MESSAGES: u32 = 50;

fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn chat_list(state: &AppState, groups_only: bool) -> Json<Vec<ChatSummary>> {
    Json(
        state
            .seen
            .chats(groups_only)
            .into_iter()
            .map(|c| ChatSummary {
                id: c.id.to_string(),
                name: c.name,
                kind: c.kind,
                username: c.username,
                message_count: c.message_count,
                timestamp: rfc3339(c.last_message_date),
                last_message: c.last_message,
            })
            .collect(),
    )
}

#[utoipa::path(get, path = "/api/v1/chats", tag = "worker", summary = "Chats the bot has seen, most recent first",
    responses((status = 200, description = "Chats", body = Vec<ChatSummary>)),
    security(("instance_key" = [])))]
pub async fn list_chats(State(state): State<AppState>) -> Json<Vec<ChatSummary>> {
    chat_list(&state, false)
}

#[utoipa::path(get, path = "/api/v1/telegram/chats", tag = "worker", summary = "Alias of /api/v1/chats",
    responses((status = 200, description = "Chats", body = Vec<ChatSummary>)),
    security(("instance_key" = [])))]
pub async fn list_telegram_chats(State(state): State<AppState>) -> Json<Vec<ChatSummary>> {
    chat_list(&state, false)
}

#[utoipa::path(get, path = "/api/v1/groups", tag = "worker", summary = "Groups the bot has seen, most recent first",
    responses((status = 200, description = "Groups and supergroups", body = Vec<ChatSummary>)),
    security(("instance_key" = [])))]
pub async fn list_groups(State(state): State<AppState>) -> Json<Vec<ChatSummary>> {
    chat_list(&state, true)
}

#[utoipa::path(get, path = "/api/v1/contacts", tag = "worker", summary = "People who wrote to the bot, most recent first",
    responses((status = 200, description = "Contacts", body = Vec<Contact>)),
    security(("instance_key" = [])))]
pub async fn list_contacts(State(state): State<AppState>) -> Json<Vec<Contact>> {
    Json(state.seen.contacts())
}

#[utoipa::path(get, path = "/api/v1/telegram/contacts", tag = "worker", summary = "Alias of /api/v1/contacts",
    responses((status = 200, description = "Contacts", body = Vec<Contact>)),
    security(("instance_key" = [])))]
pub async fn list_telegram_contacts(State(state): State<AppState>) -> Json<Vec<Contact>> {
    Json(state.seen.contacts())
}

#[utoipa::path(get, path = "/api/v1/messages", tag = "worker", summary = "Recent messages of one chat, newest first",
    params(MessagesQuery),
    responses((status = 200, description = "Messages", body = Vec<StoredMessage>),
        (status = 404, description = "The bot has never seen this chat", body = ErrorBody),
        (status = 422, description = "`chatId` cannot be one of this provider's chats, or `limit` is out of range", body = ErrorBody)),
    security(("instance_key" = [])))]
pub async fn list_messages(
    State(state): State<AppState>,
    ValidQuery(query): ValidQuery<MessagesQuery>,
) -> Result<Json<Vec<StoredMessage>>, ApiError> {
    let chat = state
        .bot
        .provider()
        .check_chat(&query.chat_id, false)
        .map_err(|e| ApiError::validation("chatId", e))?;
    let limit = query.limit.unwrap_or(DEFAULT_MESSAGES) as usize;
    state
        .seen
        .messages(chat.as_str(), limit)
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("chat {} not seen by this bot", query.chat_id)))
}
