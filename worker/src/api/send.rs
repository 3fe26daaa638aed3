//! `POST /api/v1/send`: one text message to one chat.

use axum::{
    Json,
    extract::{Path, State, rejection::JsonRejection},
};
use serde_json::Value;
use shared::{ErrorBody, worker_api::SendResponse};
use teloxide::{
    RequestError,
    types::{ChatId, ParseMode, Recipient, ReplyMarkup},
};

use super::AppState;
use crate::{bot::TextOptions, error::ApiError};

/// Telegram's limit on the length of one text message, in characters.
const MAX_MESSAGE_CHARS: usize = 4096;

#[utoipa::path(post, path = "/api/v1/send", tag = "worker", summary = "Send one text message",
    request_body(content = serde_json::Value, description = "{chatId: number or string, message: string}"),
    responses((status = 200, description = "Sent", body = SendResponse), (status = 401, description = "Missing or wrong key", body = ErrorBody),
        (status = 422, description = "A field is missing or wrong", body = ErrorBody), (status = 502, description = "Telegram refused", body = ErrorBody),
        (status = 503, description = "Bot not connected yet", body = ErrorBody)),
    security(("instance_key" = [])))]
pub async fn send_text(
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<SendResponse>, ApiError> {
    let Json(body) = body?;
    let chat = parse_chat_id(body.get("chatId"))?;
    deliver(&state, chat, &body).await
}

/// Validates the text and its options, then sends.
async fn deliver(
    state: &AppState,
    chat: Recipient,
    body: &Value,
) -> Result<Json<SendResponse>, ApiError> {
    let text = parse_message(body.get("message"))?;
    let options = parse_options(body)?;
    if !state.status.is_healthy() {
        return Err(ApiError::NotReady(
            "the bot is not connected to Telegram yet".into(),
        ));
    }
    let message_id = state
        .bot
        .send_formatted(chat, text, options)
        .await
        .map_err(provider_error)?;
    Ok(Json(SendResponse {
        message_id: message_id.to_string(),
        provider: state.provider.clone(),
    }))
}

#[utoipa::path(post, path = "/api/v1/telegram/send", tag = "worker", summary = "Alias of /api/v1/send",
    request_body(content = serde_json::Value, description = "{chatId: number or string, message: string}"),
    responses((status = 200, description = "Sent", body = SendResponse), (status = 401, description = "Missing or wrong key", body = ErrorBody),
        (status = 422, description = "A field is missing or wrong", body = ErrorBody), (status = 502, description = "Telegram refused", body = ErrorBody)),
    security(("instance_key" = [])))]
pub async fn send_telegram_text(
    state: State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<SendResponse>, ApiError> {
    send_text(state, body).await
}

#[utoipa::path(post, path = "/api/v1/groups/{id}/send", tag = "worker", summary = "Send one text message to a group",
    params(("id" = String, Path, description = "Group chat id (negative) or @username")),
    request_body(content = serde_json::Value, description = "{message, parseMode?, replyMarkup?}"),
    responses((status = 200, description = "Sent", body = SendResponse), (status = 401, description = "Missing or wrong key", body = ErrorBody),
        (status = 422, description = "Not a group id, or a field is wrong", body = ErrorBody), (status = 502, description = "Telegram refused", body = ErrorBody)),
    security(("instance_key" = [])))]
pub async fn send_group(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<SendResponse>, ApiError> {
    let Json(body) = body?;
    let chat = match parse_chat_id(Some(&Value::String(id))) {
        Ok(Recipient::Id(ChatId(n))) if n < 0 => Recipient::Id(ChatId(n)),
        Ok(Recipient::ChannelUsername(u)) => Recipient::ChannelUsername(u),
        _ => {
            return Err(ApiError::validation(
                "id",
                "a group id is a negative chat id or an @username",
            ));
        }
    };
    deliver(&state, chat, &body).await
}

/// `parseMode` (`HTML`, `MarkdownV2`, `Markdown`) and `replyMarkup` (Telegram's reply_markup object).
pub(super) fn parse_options(body: &Value) -> Result<TextOptions, ApiError> {
    let parse_mode = match body.get("parseMode") {
        None | Some(Value::Null) => None,
        Some(Value::String(m)) => Some(match m.as_str() {
            "HTML" => ParseMode::Html,
            "MarkdownV2" => ParseMode::MarkdownV2,
            #[allow(deprecated)]
            "Markdown" => ParseMode::Markdown,
            _ => {
                return Err(ApiError::validation(
                    "parseMode",
                    "parseMode must be HTML, MarkdownV2 or Markdown",
                ));
            }
        }),
        Some(_) => {
            return Err(ApiError::validation(
                "parseMode",
                "parseMode must be a string",
            ));
        }
    };
    let reply_markup = match body.get("replyMarkup") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            serde_json::from_value::<ReplyMarkup>(v.clone()).map_err(|e| {
                ApiError::validation(
                    "replyMarkup",
                    format!("replyMarkup is not a Telegram reply markup: {e}"),
                )
            })?,
        ),
    };
    Ok(TextOptions {
        parse_mode,
        reply_markup,
    })
}

/// A chat is a numeric id (as a JSON number or string) or a public `@username`.
pub fn parse_chat_id(value: Option<&Value>) -> Result<Recipient, ApiError> {
    const FIELD: &str = "chatId";
    match value {
        None | Some(Value::Null) => Err(ApiError::validation(FIELD, "chatId is required")),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(|id| Recipient::Id(ChatId(id)))
            .ok_or_else(|| ApiError::validation(FIELD, "chatId must be an integer")),
        Some(Value::String(s)) => {
            let s = s.trim();
            if s.is_empty() {
                Err(ApiError::validation(FIELD, "chatId is required"))
            } else if let Ok(id) = s.parse::<i64>() {
                Ok(Recipient::Id(ChatId(id)))
            } else if s.len() > 1 && s.starts_with('@') {
                Ok(Recipient::ChannelUsername(s.to_string()))
            } else {
                Err(ApiError::validation(
                    FIELD,
                    "chatId must be a numeric chat id or an @username",
                ))
            }
        }
        Some(_) => Err(ApiError::validation(
            FIELD,
            "chatId must be a number or a string",
        )),
    }
}

fn parse_message(value: Option<&Value>) -> Result<String, ApiError> {
    const FIELD: &str = "message";
    match value {
        Some(Value::String(s)) if !s.trim().is_empty() => {
            if s.chars().count() > MAX_MESSAGE_CHARS {
                Err(ApiError::validation(
                    FIELD,
                    format!("message is longer than {MAX_MESSAGE_CHARS} characters"),
                ))
            } else {
                Ok(s.clone())
            }
        }
        Some(Value::String(_)) | None | Some(Value::Null) => {
            Err(ApiError::validation(FIELD, "message is required"))
        }
        Some(_) => Err(ApiError::validation(FIELD, "message must be a string")),
    }
}

pub(super) fn provider_error(e: RequestError) -> ApiError {
    ApiError::Provider(provider_error_text(&e))
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
    use serde_json::json;

    #[test]
    fn chat_ids_parse_from_numbers_strings_and_usernames() {
        assert!(matches!(
            parse_chat_id(Some(&json!(42))),
            Ok(Recipient::Id(ChatId(42)))
        ));
        assert!(matches!(
            parse_chat_id(Some(&json!("-100123"))),
            Ok(Recipient::Id(ChatId(-100123)))
        ));
        assert!(matches!(
            parse_chat_id(Some(&json!("@chan"))),
            Ok(Recipient::ChannelUsername(_))
        ));
        for bad in [json!(""), json!("abc"), json!(1.5), json!([1]), json!("@")] {
            assert!(parse_chat_id(Some(&bad)).is_err(), "{bad} should fail");
        }
        assert!(parse_chat_id(None).is_err());
    }

    #[test]
    fn messages_must_be_non_empty_strings_within_the_limit() {
        assert!(parse_message(Some(&json!("hi"))).is_ok());
        assert!(parse_message(Some(&json!("  "))).is_err());
        assert!(parse_message(Some(&json!(5))).is_err());
        assert!(parse_message(Some(&json!("x".repeat(4097)))).is_err());
    }
}
