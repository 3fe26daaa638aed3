//! `POST /api/v1/send/media`: a photo, document, audio or video, by URL (JSON body; Telegram fetches it)
//! or uploaded (`multipart/form-data` with a `file` part).

use axum::{
    Json,
    extract::{FromRequest, Multipart, Request, State},
    http::header::CONTENT_TYPE,
};
use serde_json::{Map, Value};
use shared::{ErrorBody, worker_api::SendResponse};
use teloxide::types::InputFile;

use super::{
    AppState,
    send::{parse_chat_id, parse_options, provider_error},
};
use crate::{bot::MediaKind, error::ApiError};

/// Largest upload the worker takes (Telegram allows 10 MB for photos and 50 MB for other files, but a
/// worker runs in 128 MB; send larger files by URL).
pub const MAX_UPLOAD_BYTES: usize = 20 * 1024 * 1024;

/// Telegram's limit on a caption, in characters.
const MAX_CAPTION_CHARS: usize = 1024;

/// Where the file comes from.
enum Source {
    Url(reqwest::Url),
    Upload { name: String, bytes: Vec<u8> },
}

#[utoipa::path(post, path = "/api/v1/send/media", tag = "worker", summary = "Send a photo, document, audio or video",
    request_body(content = serde_json::Value, description = "JSON {chatId, type: photo|document|audio|video, url, caption?, parseMode?, replyMarkup?}, \
        or multipart/form-data with the same fields and a `file` part (at most 20 MB) instead of `url`"),
    responses((status = 200, description = "Sent", body = SendResponse), (status = 400, description = "Malformed body or content type", body = ErrorBody),
        (status = 401, description = "Missing or wrong key", body = ErrorBody), (status = 413, description = "Upload too large", body = ErrorBody),
        (status = 422, description = "A field is missing or wrong", body = ErrorBody), (status = 502, description = "Telegram refused", body = ErrorBody),
        (status = 503, description = "Bot not connected yet", body = ErrorBody)),
    security(("instance_key" = [])))]
pub async fn send_media(
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<SendResponse>, ApiError> {
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let (fields, upload) = if content_type.starts_with("application/json") {
        let Json(body) = Json::<Value>::from_request(request, &()).await?;
        match body {
            Value::Object(fields) => (fields, None),
            _ => {
                return Err(ApiError::BadRequest(
                    "the body must be a JSON object".into(),
                ));
            }
        }
    } else if content_type.starts_with("multipart/form-data") {
        let multipart = Multipart::from_request(request, &())
            .await
            .map_err(|e| ApiError::BadRequest(e.body_text()))?;
        read_multipart(multipart).await?
    } else {
        return Err(ApiError::BadRequest(
            "Content-Type must be application/json (media by URL) or multipart/form-data (upload)"
                .into(),
        ));
    };
    let body = Value::Object(fields);
    let chat = parse_chat_id(body.get("chatId"))?;
    let kind = match body.get("type").and_then(Value::as_str) {
        Some(t) => MediaKind::parse(t).ok_or_else(|| {
            ApiError::validation("type", "type must be photo, document, audio or video")
        })?,
        None => return Err(ApiError::validation("type", "type is required")),
    };
    let source = match (upload, body.get("url")) {
        (Some(_), Some(_)) => {
            return Err(ApiError::validation(
                "url",
                "give either a url or an uploaded file, not both",
            ));
        }
        (Some((name, bytes)), None) => Source::Upload { name, bytes },
        (None, Some(Value::String(url))) => Source::Url(parse_url(url)?),
        (None, Some(_)) => return Err(ApiError::validation("url", "url must be a string")),
        (None, None) => {
            return Err(ApiError::validation(
                "url",
                "url is required (or upload a `file` as multipart/form-data)",
            ));
        }
    };
    let caption = match body.get("caption") {
        None | Some(Value::Null) => None,
        Some(Value::String(c)) if c.chars().count() <= MAX_CAPTION_CHARS => Some(c.clone()),
        Some(Value::String(_)) => {
            return Err(ApiError::validation(
                "caption",
                format!("caption is longer than {MAX_CAPTION_CHARS} characters"),
            ));
        }
        Some(_) => return Err(ApiError::validation("caption", "caption must be a string")),
    };
    let options = parse_options(&body)?;
    if !state.status.is_healthy() {
        return Err(ApiError::NotReady(
            "the bot is not connected to Telegram yet".into(),
        ));
    }
    let file = match source {
        Source::Url(url) => InputFile::url(url),
        Source::Upload { name, bytes } => InputFile::memory(bytes).file_name(name),
    };
    let message_id = state
        .bot
        .send_media(chat, kind, file, caption, options)
        .await
        .map_err(provider_error)?;
    Ok(Json(SendResponse {
        message_id: message_id.to_string(),
        provider: state.provider.clone(),
    }))
}

fn parse_url(url: &str) -> Result<reqwest::Url, ApiError> {
    let parsed = reqwest::Url::parse(url.trim())
        .map_err(|e| ApiError::validation("url", format!("url is not a valid URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(ApiError::validation(
            "url",
            "url must be an http:// or https:// URL Telegram can fetch",
        ));
    }
    Ok(parsed)
}

/// Text fields become JSON values (`replyMarkup` is parsed as JSON); the `file` part is the upload.
async fn read_multipart(
    mut multipart: Multipart,
) -> Result<(Map<String, Value>, Option<(String, Vec<u8>)>), ApiError> {
    let mut fields = Map::new();
    let mut upload = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| ApiError::BadRequest(e.body_text()))?
    {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            let file_name = field
                .file_name()
                .filter(|n| !n.is_empty())
                .unwrap_or("file")
                .to_string();
            let bytes = field.bytes().await.map_err(|e| {
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::TooLarge(format!(
                        "the upload is larger than {} MB; send it by url",
                        MAX_UPLOAD_BYTES / (1024 * 1024)
                    ))
                } else {
                    ApiError::BadRequest(e.body_text())
                }
            })?;
            if bytes.is_empty() {
                return Err(ApiError::validation("file", "the uploaded file is empty"));
            }
            upload = Some((file_name, bytes.to_vec()));
            continue;
        }
        let text = field
            .text()
            .await
            .map_err(|e| ApiError::BadRequest(e.body_text()))?;
        let value = if name == "replyMarkup" {
            serde_json::from_str(&text).map_err(|e| {
                ApiError::validation("replyMarkup", format!("replyMarkup is not JSON: {e}"))
            })?
        } else {
            Value::String(text)
        };
        fields.insert(name, value);
    }
    Ok((fields, upload))
}
