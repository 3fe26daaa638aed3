//! `POST /api/v1/send/media`: a photo, document, audio or video, by URL (JSON body; Telegram fetches it)
//! or uploaded (`multipart/form-data` with a `file` part).

use axum::{
    Json,
    extract::{FromRequest, Multipart, Request, State},
    http::{StatusCode, header::CONTENT_TYPE},
};
use shared::{
    ErrorBody,
    http::{ValidJson, parse_fields},
    worker_api::{
        ChatRef, MediaKind, ParseMode, ReplyMarkup, SendMediaForm, SendMediaRequest, SendResponse,
    },
};

use super::{
    AppState,
    send::{check_chat, ensure_ready, provider_error, text_options},
};
use crate::{
    error::ApiError,
    provider::{self, MediaSource},
};

/// Largest upload the worker takes (Telegram allows 10 MB for photos and 50 MB for other files, but a
/// worker runs in 128 MB; send larger files by URL).
pub const MAX_UPLOAD_BYTES: usize = 20 * 1024 * 1024;

/// One media message, from either body.
struct Media {
    chat: ChatRef,
    kind: MediaKind,
    source: MediaSource,
    caption: Option<String>,
    parse_mode: Option<ParseMode>,
    reply_markup: Option<ReplyMarkup>,
}

#[utoipa::path(post, path = "/api/v1/send/media", tag = "worker", summary = "Send a photo, document, audio or video",
    request_body(description = "JSON with the file's `url` (the platform fetches it), or `multipart/form-data` with the \
        same fields as text parts and the file (at most 20 MB) as a `file` part instead of `url`",
        content((SendMediaRequest = "application/json"), (SendMediaForm = "multipart/form-data"))),
    responses((status = 200, description = "Sent", body = SendResponse),
        (status = 400, description = "The body is neither JSON nor multipart/form-data, or does not parse", body = ErrorBody),
        (status = 413, description = "The upload is larger than 20 MB", body = ErrorBody),
        (status = 422, description = "A field is missing or wrong (`field` names it), or the platform refused the message: chat not found, bot blocked, … (`code` `provider_refused`, its words in `error`)", body = ErrorBody),
        (status = 502, description = "The platform could not be reached or failed", body = ErrorBody),
        (status = 429, description = "Sends to this chat are already waiting for its rate limit; retry after `Retry-After` seconds", body = ErrorBody),
        (status = 503, description = "The bot is not connected to its platform yet", body = ErrorBody)),
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
    let media = if content_type.starts_with("multipart/form-data") {
        let multipart = Multipart::from_request(request, &())
            .await
            .map_err(|e| ApiError::BadRequest(e.body_text()))?;
        read_multipart(multipart).await?
    } else if content_type.starts_with("application/json") {
        let ValidJson(body) = ValidJson::<SendMediaRequest>::from_request(request, &()).await?;
        Media {
            chat: body.chat_id,
            kind: body.kind,
            source: MediaSource::Url(body.url),
            caption: body.caption,
            parse_mode: body.parse_mode,
            reply_markup: body.reply_markup,
        }
    } else {
        return Err(ApiError::BadRequest(
            "Content-Type must be application/json (media by URL) or multipart/form-data (upload)"
                .into(),
        ));
    };
    let options = text_options(&state, media.parse_mode, media.reply_markup.as_ref())?;
    let chat = check_chat(&state, &media.chat)?;
    let capabilities = state.bot.provider().capabilities();
    let platform = state.bot.provider().kind().display_name();
    if matches!(media.source, MediaSource::Upload { .. }) && !capabilities.media_upload {
        return Err(ApiError::validation(
            "file",
            format!("{platform} bots send media by url only; uploads are not supported"),
        ));
    }
    if let Some(caption) = &media.caption
        && caption.chars().count() > capabilities.max_caption_chars as usize
    {
        return Err(ApiError::validation(
            "caption",
            format!(
                "{platform} takes at most {} characters in a caption",
                capabilities.max_caption_chars
            ),
        ));
    }
    if let MediaSource::Url(url) = &media.source {
        reqwest::Url::parse(url).map_err(|e| ApiError::validation("url", format!("url: {e}")))?;
    }
    ensure_ready(&state)?;
    let _place = state.backlog.enter(&chat)?;
    let message_id = state
        .bot
        .send_media(
            &chat,
            provider::Media {
                kind: media.kind,
                source: media.source,
                caption: media.caption,
            },
            &options,
        )
        .await
        .map_err(provider_error)?;
    Ok(Json(SendResponse {
        message_id,
        provider: state.provider.clone(),
    }))
}

/// The text parts become a [`SendMediaForm`] (parsed and checked as a query string would be, so a
/// refusal names the part); the `file` part is the upload.
async fn read_multipart(mut multipart: Multipart) -> Result<Media, ApiError> {
    let mut fields: Vec<(String, String)> = Vec::new();
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
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
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
            upload = Some((file_name, bytes));
            continue;
        }
        let text = field
            .text()
            .await
            .map_err(|e| ApiError::BadRequest(e.body_text()))?;
        fields.push((name, text));
    }
    let form: SendMediaForm = parse_fields(fields)?;
    let source = match (upload, form.url) {
        (Some(_), Some(_)) => {
            return Err(ApiError::validation(
                "url",
                "give either a url or an uploaded file, not both",
            ));
        }
        (Some((file_name, bytes)), None) => MediaSource::Upload { file_name, bytes },
        (None, Some(url)) => MediaSource::Url(url),
        (None, None) => {
            return Err(ApiError::validation(
                "url",
                "url is required (or upload a `file` as multipart/form-data)",
            ));
        }
    };
    Ok(Media {
        chat: form.chat_id,
        kind: form.kind,
        source,
        caption: form.caption,
        parse_mode: form.parse_mode,
        reply_markup: form.reply_markup.map(|m| m.0),
    })
}
