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
use teloxide::RequestError;

use super::AppState;
use crate::{
    bot::{TextOptions, recipient},
    error::ApiError,
};

#[utoipa::path(post, path = "/api/v1/send", tag = "worker", summary = "Send one text message",
    request_body = SendRequest,
    responses((status = 200, description = "Sent", body = SendResponse),
        (status = 422, description = "A field is missing or wrong (`field` names it), or Telegram refused the message: chat not found, bot blocked, … (`code` `provider_refused`, its words in `error`)", body = ErrorBody),
        (status = 502, description = "Telegram could not be reached or failed", body = ErrorBody),
        (status = 429, description = "Sends to this chat are already waiting for its rate limit; retry after `Retry-After` seconds", body = ErrorBody),
        (status = 503, description = "The bot is not connected to Telegram yet", body = ErrorBody)),
    security(("instance_key" = [])))]
pub async fn send_text(
    State(state): State<AppState>,
    ValidJson(body): ValidJson<SendRequest>,
) -> Result<Json<SendResponse>, ApiError> {
    let options = text_options(body.parse_mode, body.reply_markup.as_ref())?;
    deliver(&state, &body.chat_id, body.message, options).await
}

#[utoipa::path(post, path = "/api/v1/telegram/send", tag = "worker", summary = "Alias of /api/v1/send",
    request_body = SendRequest,
    responses((status = 200, description = "Sent", body = SendResponse),
        (status = 422, description = "A field is missing or wrong (`field` names it), or Telegram refused the message: chat not found, bot blocked, … (`code` `provider_refused`, its words in `error`)", body = ErrorBody),
        (status = 502, description = "Telegram could not be reached or failed", body = ErrorBody),
        (status = 429, description = "Sends to this chat are already waiting for its rate limit; retry after `Retry-After` seconds", body = ErrorBody),
        (status = 503, description = "The bot is not connected to Telegram yet", body = ErrorBody)),
    security(("instance_key" = [])))]
pub async fn send_telegram_text(
    state: State<AppState>,
    body: ValidJson<SendRequest>,
) -> Result<Json<SendResponse>, ApiError> {
    send_text(state, body).await
}

#[utoipa::path(post, path = "/api/v1/groups/{id}/send", tag = "worker", summary = "Send one text message to a group",
    params(("id" = String, Path, description = "The group: a negative chat id or an @username",
        pattern = "^(-[0-9]{1,16}|@[A-Za-z0-9_]{1,64})$")),
    request_body = GroupSendRequest,
    responses((status = 200, description = "Sent", body = SendResponse),
        (status = 422, description = "`id` is not a group, or a field is missing or wrong (`field` names it), or Telegram refused the message (`code` `provider_refused`, its words in `error`)", body = ErrorBody),
        (status = 502, description = "Telegram could not be reached or failed", body = ErrorBody),
        (status = 429, description = "Sends to this chat are already waiting for its rate limit; retry after `Retry-After` seconds", body = ErrorBody),
        (status = 503, description = "The bot is not connected to Telegram yet", body = ErrorBody)),
    security(("instance_key" = [])))]
pub async fn send_group(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ValidJson(body): ValidJson<GroupSendRequest>,
) -> Result<Json<SendResponse>, ApiError> {
    let chat = ChatRef::parse(&id)
        .ok()
        .filter(ChatRef::is_group)
        .ok_or_else(|| {
            ApiError::validation("id", "a group id is a negative chat id or an @username")
        })?;
    let options = text_options(body.parse_mode, body.reply_markup.as_ref())?;
    deliver(&state, &chat, body.message, options).await
}

/// Sends once the bot is connected.
async fn deliver(
    state: &AppState,
    chat: &ChatRef,
    text: String,
    options: TextOptions,
) -> Result<Json<SendResponse>, ApiError> {
    ensure_ready(state)?;
    let _place = state.backlog.enter(chat)?;
    let message_id = state
        .bot
        .send_formatted(recipient(chat), text, options)
        .await
        .map_err(provider_error)?;
    Ok(Json(SendResponse {
        message_id: message_id.to_string(),
        provider: state.provider.clone(),
    }))
}

/// 503 until the bot has passed `getMe`.
pub(super) fn ensure_ready(state: &AppState) -> Result<(), ApiError> {
    if state.status.is_healthy() {
        Ok(())
    } else {
        Err(ApiError::NotReady(
            "the bot is not connected to Telegram yet".into(),
        ))
    }
}

/// `parseMode` and `replyMarkup` in teloxide's terms; a markup Telegram would not read is a 422.
pub(super) fn text_options(
    parse_mode: Option<ParseMode>,
    reply_markup: Option<&ReplyMarkup>,
) -> Result<TextOptions, ApiError> {
    TextOptions::new(parse_mode, reply_markup)
        .map_err(|e| ApiError::validation("replyMarkup", format!("replyMarkup {e}")))
}

/// Telegram's refusal of the request itself (chat not found, bot blocked, text too long) is the caller's
/// to fix: 422 with Telegram's words. A rate limit Telegram still insists on after the throttle waited
/// is a 429; a network failure or a server error of Telegram's is a 502.
pub(super) fn provider_error(e: RequestError) -> ApiError {
    match &e {
        RequestError::Api(_) => ApiError::ProviderRefused(provider_error_text(&e)),
        RequestError::RetryAfter(wait) => ApiError::RateLimited {
            message: provider_error_text(&e),
            retry_after_secs: u64::from(wait.seconds()).max(1),
        },
        _ => ApiError::Provider(provider_error_text(&e)),
    }
}

/// Telegram's own words for a refusal, or what went wrong on the way.
pub fn provider_error_text(e: &RequestError) -> String {
    match e {
        RequestError::Api(api) => api.to_string(),
        RequestError::RetryAfter(wait) => {
            format!("Telegram rate limit: retry after {} s", wait.seconds())
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_group_pattern_is_the_documented_one() {
        // The literal in `send_group`'s `params` must be this constant.
        assert_eq!(
            shared::worker_api::GROUP_PATTERN,
            "^(-[0-9]{1,16}|@[A-Za-z0-9_]{1,64})$"
        );
        assert!(ChatRef::parse("-100222").unwrap().is_group());
        assert!(!ChatRef::parse("55").unwrap().is_group());
    }

    #[test]
    fn a_markup_telegram_cannot_read_is_refused_as_reply_markup() {
        let markup = |json: &str| serde_json::from_str::<ReplyMarkup>(json).unwrap();
        assert!(
            text_options(
                Some(ParseMode::Html),
                Some(&markup(
                    r#"{"inline_keyboard":[[{"text":"Yes","callback_data":"yes"}]]}"#
                ))
            )
            .is_ok()
        );
        let ApiError::Validation { field, .. } =
            text_options(None, Some(&markup(r#"{"keyboard":"no"}"#))).unwrap_err()
        else {
            panic!("not a validation error")
        };
        assert_eq!(field, "replyMarkup");
    }
}
