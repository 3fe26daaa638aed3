//! `POST /api/v1/send` (and `/api/v1/telegram/send`) and `POST /api/v1/groups/{id}/send`: one text
//! message to one chat.

use axum::{
    Json,
    extract::{Path, State},
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use shared::{
    ErrorBody,
    http::ValidJson,
    worker_api::{
        ChatRef, GroupSendRequest, IDEMPOTENT_REPLAYED_HEADER, ParseMode, ReplyMarkup, SendRequest,
        SendResponse,
    },
};

use super::AppState;
use crate::{
    error::ApiError,
    idempotency::{Answer, fingerprint},
    provider::{SendError, TextOptions},
};

#[utoipa::path(post, path = "/api/v1/send", tag = "worker", summary = "Send one text message",
    params(("Idempotency-Key" = Option<String>, Header, description = "Sends at most once: a repeat with the same key within 24 hours (even across a worker restart) is answered with the first answer, header `Idempotent-Replayed: true`, and sends nothing; a repeat while the first is sending waits for it. Only successful sends are remembered. 1 to 255 visible ASCII characters; reusing a key for another chat, text or options is a 422 naming `Idempotency-Key`.", max_length = 255, pattern = "^[!-~]{1,255}$")),
    request_body = SendRequest,
    responses((status = 200, description = "Sent", body = SendResponse),
        (status = 422, description = "A field is missing or wrong (`field` names it), or the platform refused the message: chat not found, bot blocked, … (`code` `provider_refused`, its words in `error`)", body = ErrorBody),
        (status = 502, description = "The platform could not be reached or failed", body = ErrorBody),
        (status = 429, description = "Sends to this chat are already waiting for its rate limit; retry after `Retry-After` seconds", body = ErrorBody),
        (status = 503, description = "The bot is not connected to its platform yet", body = ErrorBody)),
    security(("instance_key" = [])))]
pub async fn send_text(
    State(state): State<AppState>,
    headers: HeaderMap,
    ValidJson(body): ValidJson<SendRequest>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let options = text_options(&state, body.parse_mode, body.reply_markup.as_ref())?;
    deliver(&state, &body.chat_id, body.message, options, key).await
}

#[utoipa::path(post, path = "/api/v1/telegram/send", tag = "worker", summary = "Alias of /api/v1/send",
    params(("Idempotency-Key" = Option<String>, Header, description = "Sends at most once: a repeat with the same key within 24 hours (even across a worker restart) is answered with the first answer, header `Idempotent-Replayed: true`, and sends nothing; a repeat while the first is sending waits for it. Only successful sends are remembered. 1 to 255 visible ASCII characters; reusing a key for another chat, text or options is a 422 naming `Idempotency-Key`.", max_length = 255, pattern = "^[!-~]{1,255}$")),
    request_body = SendRequest,
    responses((status = 200, description = "Sent", body = SendResponse),
        (status = 422, description = "A field is missing or wrong (`field` names it), or the platform refused the message: chat not found, bot blocked, … (`code` `provider_refused`, its words in `error`)", body = ErrorBody),
        (status = 502, description = "The platform could not be reached or failed", body = ErrorBody),
        (status = 429, description = "Sends to this chat are already waiting for its rate limit; retry after `Retry-After` seconds", body = ErrorBody),
        (status = 503, description = "The bot is not connected to its platform yet", body = ErrorBody)),
    security(("instance_key" = [])))]
pub async fn send_telegram_text(
    state: State<AppState>,
    headers: HeaderMap,
    body: ValidJson<SendRequest>,
) -> Result<Response, ApiError> {
    send_text(state, headers, body).await
}

#[utoipa::path(post, path = "/api/v1/groups/{id}/send", tag = "worker", summary = "Send one text message to a group",
    params(("id" = String, Path, description = "The group, as the provider names it (Telegram: a negative chat id or an @username)",
        pattern = "^[A-Za-z0-9_@.:+-]{1,128}$"),
        ("Idempotency-Key" = Option<String>, Header, description = "Sends at most once: a repeat with the same key within 24 hours (even across a worker restart) is answered with the first answer, header `Idempotent-Replayed: true`, and sends nothing; a repeat while the first is sending waits for it. Only successful sends are remembered. 1 to 255 visible ASCII characters; reusing a key for another chat, text or options is a 422 naming `Idempotency-Key`.", max_length = 255, pattern = "^[!-~]{1,255}$")),
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
    headers: HeaderMap,
    ValidJson(body): ValidJson<GroupSendRequest>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let chat = ChatRef::parse(&id).map_err(|e| ApiError::validation("id", e))?;
    let chat = state
        .bot
        .provider()
        .check_chat(&chat, true)
        .map_err(|e| ApiError::validation("id", e))?;
    let options = text_options(&state, body.parse_mode, body.reply_markup.as_ref())?;
    deliver(&state, &chat, body.message, options, key).await
}

/// The request's `Idempotency-Key`, if it has one (see [`shared::http::idempotency_key`]).
pub(super) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    Ok(shared::http::idempotency_key(headers)?)
}

/// Sends once the bot is connected; with a key, at most once per key (see `crate::idempotency`).
async fn deliver(
    state: &AppState,
    chat: &ChatRef,
    text: String,
    options: TextOptions,
    key: Option<String>,
) -> Result<Response, ApiError> {
    let chat = check_chat(state, chat)?;
    check_text(state, &text)?;
    let Some(key) = key else {
        return Ok(Json(send_now(state, &chat, &text, &options).await?).into_response());
    };
    let asked = fingerprint(&(
        chat.as_str(),
        &text,
        options.parse_mode,
        options.reply_markup.as_ref(),
    ));
    let answer = state
        .sent_keys
        .once(&key, &asked, || send_now(state, &chat, &text, &options))
        .await?;
    Ok(match answer {
        Answer::Fresh(sent) => Json(sent).into_response(),
        Answer::Replayed(sent) => {
            ([(IDEMPOTENT_REPLAYED_HEADER, "true")], Json(sent)).into_response()
        }
    })
}

async fn send_now(
    state: &AppState,
    chat: &ChatRef,
    text: &str,
    options: &TextOptions,
) -> Result<SendResponse, ApiError> {
    ensure_ready(state)?;
    let _place = state.backlog.enter(chat)?;
    let message_id = state
        .bot
        .send_text(chat, text, options)
        .await
        .map_err(provider_error)?;
    Ok(SendResponse {
        message_id,
        provider: state.provider.clone(),
    })
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
