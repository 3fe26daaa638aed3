//! `GET /api/v1/instances/{id}/conversations` and `…/conversations/{conversation_id}` (seed 003): the
//! bot's chats grouped into conversations by silences of `conversation_ttl_hours`, as the manager
//! collected them from the worker, with what each question to the agent cost and became.

use axum::{
    Json,
    extract::{Path, State},
};
use shared::{
    ErrorBody,
    api::conversations::{
        ConversationDetail, ConversationList, ConversationMessage, ConversationQuery,
        ConversationRole, ConversationView, ConversationsQuery, Outcome,
    },
    http::ValidQuery,
};

use super::{AppState, views::rfc3339};
use crate::{
    error::ApiError,
    store::conversations::{ConversationMessageRow, ConversationRow},
};

#[utoipa::path(get, path = "/api/v1/instances/{id}/conversations", tag = "conversations",
    summary = "The bot's conversations, most recently active first",
    params(("id" = String, Path, description = "Instance id"), ConversationsQuery),
    responses((status = 200, description = "Conversations", body = ConversationList)),
    security(("admin_key" = [])))]
pub async fn list_conversations(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ValidQuery(query): ValidQuery<ConversationsQuery>,
) -> Result<Json<ConversationList>, ApiError> {
    state.fleet.get(&id)?;
    let (rows, total) = state
        .fleet
        .store
        .conversations(&id, i64::from(query.limit()), i64::from(query.offset))
        .await?;
    let conversations: Vec<ConversationView> = rows.into_iter().map(conversation_view).collect();
    Ok(Json(ConversationList {
        success: true,
        count: conversations.len(),
        total,
        offset: query.offset,
        conversations,
    }))
}

#[utoipa::path(get, path = "/api/v1/instances/{id}/conversations/{conversation_id}", tag = "conversations",
    summary = "A conversation and its messages, oldest first",
    params(("id" = String, Path, description = "Instance id"),
        ("conversation_id" = String, Path, description = "Conversation id"), ConversationQuery),
    responses((status = 200, description = "The conversation", body = ConversationDetail),
        (status = 404, description = "No such instance, or no such conversation of it", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn get_conversation(
    State(state): State<AppState>,
    Path((id, conversation_id)): Path<(String, String)>,
    ValidQuery(query): ValidQuery<ConversationQuery>,
) -> Result<Json<ConversationDetail>, ApiError> {
    state.fleet.get(&id)?;
    let conversation = state
        .fleet
        .store
        .conversation(&id, &conversation_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("conversation {conversation_id} not found")))?;
    let messages = state
        .fleet
        .store
        .conversation_messages(
            &conversation.id,
            i64::from(query.limit()),
            i64::from(query.offset),
        )
        .await?
        .into_iter()
        .map(message_view)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(ConversationDetail {
        success: true,
        conversation: conversation_view(conversation),
        messages,
    }))
}

fn conversation_view(c: ConversationRow) -> ConversationView {
    ConversationView {
        id: c.id,
        platform_user_id: c.platform_user_id,
        chat_id: c.chat_id,
        message_count: c.message_count,
        tokens_in: c.tokens_in,
        tokens_out: c.tokens_out,
        started_at: rfc3339(c.started_at),
        last_message_at: rfc3339(c.last_message_at),
    }
}

/// A damaged row (the manager itself writes these columns).
fn damaged(id: &str, what: &str, value: &str) -> ApiError {
    ApiError::Database(sqlx::Error::Decode(
        format!("message {id} has {what} {value:?}").into(),
    ))
}

fn message_view(m: ConversationMessageRow) -> Result<ConversationMessage, ApiError> {
    let role = ConversationRole::parse(&m.role).ok_or_else(|| damaged(&m.id, "role", &m.role))?;
    let outcome = m
        .outcome
        .as_deref()
        .map(|o| Outcome::parse(o).ok_or_else(|| damaged(&m.id, "outcome", o)))
        .transpose()?;
    Ok(ConversationMessage {
        id: m.id,
        role,
        content: m.text,
        created_at: rfc3339(m.at),
        tokens_in: m.tokens_in,
        tokens_out: m.tokens_out,
        latency_ms: m.latency_ms,
        outcome,
        error: m.error,
    })
}
