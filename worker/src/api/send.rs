//! `POST /api/v1/send` (and `/api/v1/telegram/send`) and `POST /api/v1/groups/{id}/send`: one text
//! message to one chat.

use axum::{
    Json,
    extract::{Path, State},
};
use shared::{
    ErrorBody,
    http::ValidJson,
    worker_api::{ChatRef, GroupSendRequest, ParseMode, ReplyMarkup, SendRequest, SendResponse},
};

use super::AppState;
use crate::{
    error::ApiError,
    provider::{SendError, TextOptions},
};

#[utoipa::path(post, path = "/api/v1/send", tag = "worker", summary = "Send one text message",
    request_body = SendRequest,
    responses((status = 200, description = "Sent", body = SendResponse),
        (status = 422, description = "A field is missing or wrong (`field` names it), or the platform refused the message: chat not found, bot blocked, … (`code` `provider_refused`, its words in `error`)", body = ErrorBody),
        (status = 502, description = "The platform could not be reached or failed", body = ErrorBody),
        (status = 429, description = "Sends to this chat are already waiting for its rate limit; retry after `Retry-After` seconds", body = ErrorBody),
        (status = 503, description = "The bot is not connected to its platform yet", body = ErrorBody)),
    security(("instance_key" = [])))]
pub async fn send_text(
    State(state): State<AppState>,
    ValidJson(body): ValidJson<SendRequest>,
) -> Result<Json<SendResponse>, ApiError> {
    let options = text_options(&state, body.parse_mode, body.reply_markup.as_ref())?;
    deliver(&state, &body.chat_id, body.message, options).await
}

#[utoipa::path(post, path = "/api/v1/telegram/send", tag = "worker", summary = "Alias of /api/v1/send",
    request_body = SendRequest,
    responses((status = 200, description = "Sent", body = SendResponse),
        (status = 422, description = "A field is missing or wrong (`field` names it), or the platform refused the message: chat not found, bot blocked, … (`code` `provider_refused`, its words in `error`)", body = ErrorBody),
        (status = 502, description = "The platform could not be reached or failed", body = ErrorBody),
        (status = 429, description = "Sends to this chat are already waiting for its rate limit; retry after `Retry-After` seconds", body = ErrorBody),
        (status = 503, description = "The bot is not connected to its platform yet", body = ErrorBody)),
    security(("instance_key" = [])))]
pub async fn send_telegram_text(
    state: State<AppState>,
    body: ValidJson<SendRequest>,
) -> Result<Json<SendResponse>, ApiError> {
    send_text(state, body).await
}

#[utoipa::path(post, path = "/api/v1/groups/{id}/send", tag = "worker", summary = "Send one text message to a group",
    params(("id" = String, Path, description = "The group, as the provider names it (Telegram: a negative chat id or an @username)",
        pattern = "^[A-Za-z0-9_@.:+-]{1,128}$")),
    request_body = GroupSendRequest,
    responses((status = 200, description = "Sent", body = SendResponse),
        (status = 422, description = "`id` is not a group, or a field is missing or wrong (`field` names it), or the platform refused the message (`code` `provider_refused`, its words in `error`)", body = ErrorBody),
        (status = 502, description = "The platform could not be reached or failed", body = ErrorBody),
        (status = 429, description = "Sends to this chat are already waiting for its rate limit; retry after `Retry-After` seconds", body = ErrorBody),
        (status = 503, description = "The bot is not connected to its platform yet", body = ErrorBody)),
    security(("instance_key" = [])))]
pub async fn send_group(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ValidJson(body): ValidJson<GroupSendRequest>,
) -> Result<Json<SendResponse>, ApiError> {
    let chat = ChatRef::parse(&id).map_err(|e| ApiError::validation("id", e))?;
    let chat = state
        .bot
        .provider()
        .check_chat(&chat, true)
        .map_err(|e| ApiError::validation("id", e))?;
    let options = text_options(&state, body.parse_mode, body.reply_markup.as_ref())?;
    deliver(&state, &chat, body.message, options).await
}

/// Sends once the bot is connected.
async fn deliver(
    state: &AppState,
    chat: &ChatRef,
    text: String,
    options: TextOptions,
) -> Result<Json<SendResponse>, ApiError> {
    let chat = &check_chat(state, chat)?;
    check_text(state, &text)?;
    ensure_ready(state)?;
    let _place = state.backlog.enter(chat)?;
    let message_id = state
        .bot
        .send_text(chat, &text, &options)
        .await
        .map_err(provider_error)?;
    Ok(Json(SendResponse {
        message_id,
        provider: state.provider.clone(),
    }))
}

/// The chat in its canonical spelling; 422 naming `chatId` when it cannot be one of this provider's.
pub(super) fn check_chat(state: &AppState, chat: &ChatRef) -> Result<ChatRef, ApiError> {
    state
        .bot
        .provider()
        .check_chat(chat, false)
        .map_err(|e| ApiError::validation("chatId", e))
}

/// 422 naming `message` when the text is longer than the provider takes.
fn check_text(state: &AppState, text: &str) -> Result<(), ApiError> {
    let max = state.bot.provider().capabilities().max_text_chars;
    if text.chars().count() > max as usize {
        return Err(ApiError::validation(
            "message",
            format!(
                "{} takes at most {max} characters in one message",
                state.bot.provider().kind().display_name()
            ),
        ));
    }
    Ok(())
}

/// 503 until the bot has connected to its platform.
pub(super) fn ensure_ready(state: &AppState) -> Result<(), ApiError> {
    if state.status.is_healthy() {
        Ok(())
    } else {
        Err(ApiError::NotReady(format!(
            "the bot is not connected to {} yet",
            state.bot.provider().kind().display_name()
        )))
    }
}

/// `parseMode` and `replyMarkup`, refused (422 naming the field) where the provider has no such thing.
pub(super) fn text_options(
    state: &AppState,
    parse_mode: Option<ParseMode>,
    reply_markup: Option<&ReplyMarkup>,
) -> Result<TextOptions, ApiError> {
    let provider = state.bot.provider();
    let capabilities = provider.capabilities();
    let platform = provider.kind().display_name();
    if parse_mode.is_some() && !capabilities.parse_modes {
        return Err(ApiError::validation(
            "parseMode",
            format!("parseMode is not supported by {platform} bots"),
        ));
    }
    if reply_markup.is_some() && !capabilities.reply_markup {
        return Err(ApiError::validation(
            "replyMarkup",
            format!("replyMarkup is not supported by {platform} bots"),
        ));
    }
    Ok(TextOptions {
        parse_mode,
        reply_markup: reply_markup.cloned(),
    })
}

/// The platform's refusal of the request itself (chat not found, bot blocked, text too long) is the
/// caller's to fix: 422 with its words. A rate limit the platform still insists on after the provider
/// waited is a 429; a network failure or a server error of the platform's is a 502.
pub(super) fn provider_error(e: SendError) -> ApiError {
    match e {
        SendError::BadChat { message } => ApiError::validation("chatId", message),
        SendError::Unsupported { field, message } => ApiError::validation(field, message),
        SendError::Refused(message) => ApiError::ProviderRefused(message),
        SendError::RateLimited {
            message,
            retry_after,
        } => ApiError::RateLimited {
            message,
            retry_after_secs: retry_after.as_secs().max(1),
        },
        SendError::Failed { message, .. } => ApiError::Provider(message),
        e @ SendError::Paused => ApiError::Paused(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_send_error_has_its_answer() {
        let status = |e| provider_error(e).into_response().status().as_u16();
        use axum::response::IntoResponse;
        assert_eq!(
            status(SendError::BadChat {
                message: "x".into()
            }),
            422
        );
        assert_eq!(status(SendError::Refused("chat not found".into())), 422);
        assert_eq!(
            status(SendError::RateLimited {
                message: "wait".into(),
                retry_after: std::time::Duration::from_secs(3)
            }),
            429
        );
        assert_eq!(
            status(SendError::Failed {
                message: "down".into(),
                transient: true
            }),
            502
        );
    }
}
