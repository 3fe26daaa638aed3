//! `GET /api/v1/instances/{id}/chats`, `/groups`, `/contacts` and `/messages?chatId=&limit=`: the
//! conversations the manager collected from the worker; they outlive the worker's container.

use axum::{
    Json,
    extract::{Path, State},
};
use shared::{
    api::messages::{
        ChatKind, ChatList, ChatView, ContactList, ContactView, GroupList, MessageDirection,
        MessageList, MessageView, MessagesQuery,
    },
    http::ValidQuery,
};

use super::{AppState, views::rfc3339};
use crate::{
    error::ApiError,
    store::messages::{ChatRow, MessageRow},
};

#[utoipa::path(get, path = "/api/v1/instances/{id}/chats", tag = "messages", summary = "The bot's chats, most recent first",
    params(("id" = String, Path, description = "Instance id")),
    responses((status = 200, description = "Chats", body = ChatList)),
    security(("admin_key" = [])))]
pub async fn list_chats(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ChatList>, ApiError> {
    let chats = chat_views(&state, &id, false).await?;
    Ok(Json(ChatList {
        success: true,
        count: chats.len(),
        chats,
    }))
}

#[utoipa::path(get, path = "/api/v1/instances/{id}/groups", tag = "messages", summary = "The bot's group chats, most recent first",
    params(("id" = String, Path, description = "Instance id")),
    responses((status = 200, description = "Groups and supergroups", body = GroupList)),
    security(("admin_key" = [])))]
pub async fn list_groups(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<GroupList>, ApiError> {
    let groups = chat_views(&state, &id, true).await?;
    Ok(Json(GroupList {
        success: true,
        count: groups.len(),
        groups,
    }))
}

#[utoipa::path(get, path = "/api/v1/instances/{id}/contacts", tag = "messages", summary = "The people who wrote to the bot, most recent first",
    params(("id" = String, Path, description = "Instance id")),
    responses((status = 200, description = "Contacts", body = ContactList)),
    security(("admin_key" = [])))]
pub async fn list_contacts(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ContactList>, ApiError> {
    state.fleet.get(&id)?;
    let contacts: Vec<ContactView> = state
        .fleet
        .store
        .contacts(&id)
        .await?
        .into_iter()
        .map(|c| ContactView {
            user_id: c.user_id,
            name: c.name,
            message_count: c.message_count,
            last_seen_at: rfc3339(c.last_seen_at),
        })
        .collect();
    Ok(Json(ContactList {
        success: true,
        count: contacts.len(),
        contacts,
    }))
}

async fn chat_views(
    state: &AppState,
    id: &str,
    groups_only: bool,
) -> Result<Vec<ChatView>, ApiError> {
    state.fleet.get(id)?;
    Ok(state
        .fleet
        .store
        .chats(id, groups_only)
        .await?
        .into_iter()
        .map(chat_view)
        .collect())
}

fn chat_view(c: ChatRow) -> ChatView {
    ChatView {
        chat_id: c.chat_id,
        name: c.name,
        // Written by the worker (possibly a newer one): a kind this manager does not know is shown as
        // unknown rather than failing the list.
        chat_type: c.chat_type.as_deref().and_then(ChatKind::parse),
        message_count: c.message_count,
        last_message: c.last_message,
        last_message_at: rfc3339(c.last_message_at),
    }
}

#[utoipa::path(get, path = "/api/v1/instances/{id}/messages", tag = "messages", summary = "A chat's messages, newest first",
    params(("id" = String, Path, description = "Instance id"), MessagesQuery),
    responses((status = 200, description = "Messages", body = MessageList)),
    security(("admin_key" = [])))]
pub async fn list_messages(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ValidQuery(query): ValidQuery<MessagesQuery>,
) -> Result<Json<MessageList>, ApiError> {
    state.fleet.get(&id)?;
    let messages = state
        .fleet
        .store
        .messages(&id, query.chat_id.as_str(), i64::from(query.limit()))
        .await?
        .into_iter()
        .map(message_view)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(MessageList {
        success: true,
        count: messages.len(),
        messages,
    }))
}

fn message_view(m: MessageRow) -> Result<MessageView, ApiError> {
    // The manager itself writes `in` or `out`; anything else is a damaged row.
    let direction = MessageDirection::parse(&m.direction).ok_or_else(|| {
        ApiError::Database(sqlx::Error::Decode(
            format!("message {} has direction {:?}", m.id, m.direction).into(),
        ))
    })?;
    Ok(MessageView {
        id: m.id,
        chat_id: m.chat_id,
        direction,
        message_id: m.message_id,
        from_id: m.from_id,
        from_name: m.from_name,
        text: m.text,
        timestamp: rfc3339(m.at),
    })
}
