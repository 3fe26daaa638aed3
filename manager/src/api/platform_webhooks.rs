//! `POST /api/v1/webhooks/{platform}/{instance_id}`: platform callbacks in (seed `003`). Each is verified
//! the platform's way before anything in it is read — Telegram's secret token, WhatsApp's
//! `X-Hub-Signature-256`, Slack's `X-Slack-Signature` (five-minute window), Discord's Ed25519 — then kept
//! and handed to the worker by the forwarder. A refused one is 401 and counted
//! (`botfleet_platform_callbacks_rejected_total`). WhatsApp's subscription handshake is the `GET`;
//! Slack's `url_verification` and Discord's PING are answered here. An unknown platform, instance, or an
//! instance of another platform is 404, the same answer, so ids leak nothing.

use std::collections::HashMap;

use axum::{
    Json,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use shared::{
    ErrorBody, Provider,
    api::{
        credentials::Credentials,
        platform_webhooks::{
            CallbackAccepted, CallbackListQuery, DiscordInteractionResponse, PlatformCallbackList,
            PlatformCallbackView, SlackChallenge,
        },
    },
    http::ValidQuery,
};

use super::{AppState, views};
use crate::{
    domain::{InstanceRecord, instance::stored_credentials},
    error::ApiError,
    fleet::now_ms,
    keys,
    platform_webhooks::verify::{self, VerifyError},
};

/// The instance a callback is for, when the platform is its own.
fn target(
    state: &AppState,
    platform: &str,
    id: &str,
) -> Result<std::sync::Arc<InstanceRecord>, ApiError> {
    let not_found = || ApiError::NotFound(format!("no {platform} bot {id} takes callbacks here"));
    let provider = Provider::parse(platform).ok_or_else(not_found)?;
    let r = state.fleet.get(id).map_err(|_| not_found())?;
    if r.provider != provider {
        return Err(not_found());
    }
    Ok(r)
}

/// Counts and logs a refused callback; the answer is 401 saying what was wrong (never a secret).
fn refused(platform: &str, id: &str, e: &VerifyError) -> ApiError {
    metrics::counter!("botfleet_platform_callbacks_rejected_total",
        "platform" => platform.to_string(), "reason" => e.reason())
    .increment(1);
    tracing::warn!(platform, instance_id = %id, error = %e, "platform callback refused");
    ApiError::Unverified(format!("the {platform} callback was not verified: {e}"))
}

/// The platform's proof, checked against the instance's secrets.
fn check(r: &InstanceRecord, headers: &HeaderMap, body: &[u8]) -> Result<(), VerifyError> {
    match stored_credentials(&r.token) {
        Credentials::Telegram(_) => verify::verify_telegram(
            headers,
            &shared::secret::telegram_webhook_secret(&keys::sha256_hex(&r.control_key)),
        ),
        Credentials::Whatsapp(c) => verify::verify_whatsapp(headers, body, &c.app_secret),
        Credentials::Slack(c) => verify::verify_slack(
            headers,
            body,
            c.signing_secret.as_deref().unwrap_or_default(),
            now_ms() / 1000,
        ),
        Credentials::Discord(c) => {
            verify::verify_discord(headers, body, c.public_key.as_deref().unwrap_or_default())
        }
    }
}

/// What a platform's own handshake in a POST asks for.
#[derive(Deserialize)]
struct Probe {
    #[serde(rename = "type")]
    kind: Option<serde_json::Value>,
    challenge: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/webhooks/{platform}/{instance_id}", tag = "platform webhooks",
    summary = "A platform's callback for one bot, verified the platform's way",
    params(("platform" = String, Path, description = "telegram, whatsapp, slack or discord"),
        ("instance_id" = String, Path, description = "Instance id")),
    request_body(description = "The platform's callback as it sends it", content_type = "application/json", content = String),
    responses((status = 200, description = "Verified and kept for the worker; or Slack's challenge echoed, or Discord's PONG / deferred answer", body = CallbackAccepted),
        (status = 401, description = "The platform's signature or secret token is missing, malformed, stale or wrong", body = ErrorBody),
        (status = 400, description = "The body is not UTF-8 JSON", body = ErrorBody),
        (status = 404, description = "No bot of this platform with this id", body = ErrorBody)),
    security(()))]
pub async fn receive_callback(
    State(state): State<AppState>,
    Path((platform, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let r = target(&state, &platform, &id)?;
    check(&r, &headers, &body).map_err(|e| refused(&platform, &id, &e))?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::BadRequest("the callback body is not UTF-8".into()))?;
    let probe: Probe = serde_json::from_str(text)
        .map_err(|e| ApiError::BadRequest(format!("the callback body is not JSON: {e}")))?;
    match r.provider {
        Provider::Slack
            if probe.kind.as_ref().and_then(|k| k.as_str()) == Some("url_verification") =>
        {
            let challenge = probe.challenge.unwrap_or_default();
            return Ok(Json(SlackChallenge { challenge }).into_response());
        }
        Provider::Discord if probe.kind.as_ref().and_then(|k| k.as_u64()) == Some(1) => {
            return Ok(Json(DiscordInteractionResponse { kind: 1 }).into_response());
        }
        _ => {}
    }
    let callback = uuid::Uuid::new_v4().to_string();
    state
        .fleet
        .store
        .queue_callback(&callback, &r.id, &platform, text, now_ms())
        .await?;
    metrics::counter!("botfleet_platform_callbacks_received_total", "platform" => platform.clone())
        .increment(1);
    state.callbacks_arrived.notify_one();
    Ok(match r.provider {
        // An interaction is answered within Discord's 3 s as deferred; the bot follows up.
        Provider::Discord => Json(DiscordInteractionResponse { kind: 5 }).into_response(),
        _ => Json(CallbackAccepted {
            success: true,
            id: callback,
        })
        .into_response(),
    })
}

#[utoipa::path(get, path = "/api/v1/webhooks/{platform}/{instance_id}", tag = "platform webhooks",
    summary = "WhatsApp's subscription handshake: echoes hub.challenge when hub.verify_token is the bot's",
    params(("platform" = String, Path, description = "whatsapp"),
        ("instance_id" = String, Path, description = "Instance id"),
        ("hub.mode" = String, Query, description = "subscribe"),
        ("hub.verify_token" = String, Query, description = "The verify token given in the bot's credentials"),
        ("hub.challenge" = String, Query, description = "What to echo")),
    responses((status = 200, description = "The challenge, as text", body = String, content_type = "text/plain"),
        (status = 403, description = "The verify token is not the bot's, or a parameter is missing", body = ErrorBody),
        (status = 404, description = "No WhatsApp bot with this id", body = ErrorBody)),
    security(()))]
pub async fn verify_subscription(
    State(state): State<AppState>,
    Path((platform, id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let r = target(&state, &platform, &id)?;
    let Credentials::Whatsapp(c) = stored_credentials(&r.token) else {
        return Err(ApiError::NotFound(format!(
            "{platform} has no subscription handshake"
        )));
    };
    match verify::whatsapp_handshake(&query, &c.verify_token) {
        Ok(challenge) => Ok((StatusCode::OK, challenge).into_response()),
        Err(e) => {
            let _ = refused(&platform, &id, &e);
            Err(ApiError::Forbidden(format!(
                "the subscription was not verified: {e}"
            )))
        }
    }
}

#[utoipa::path(get, path = "/api/v1/instances/{id}/platform-callbacks", tag = "platform webhooks",
    summary = "Platform callbacks received for the bot, and whether its worker took them",
    params(("id" = String, Path, description = "Instance id"), CallbackListQuery),
    responses((status = 200, description = "Newest first", body = PlatformCallbackList),
        (status = 404, description = "No such instance", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn list_callbacks(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ValidQuery(query): ValidQuery<CallbackListQuery>,
) -> Result<Json<PlatformCallbackList>, ApiError> {
    state.fleet.get(&id)?;
    let rows = state
        .fleet
        .store
        .callbacks(&id, i64::from(query.limit.unwrap_or(50)))
        .await?;
    let callbacks: Vec<PlatformCallbackView> = rows
        .into_iter()
        .map(|c| PlatformCallbackView {
            id: c.id,
            platform: c.platform,
            received_at: views::rfc3339(c.received_at),
            attempts: c.attempts,
            next_attempt_at: c
                .delivered_at
                .is_none()
                .then(|| views::rfc3339(c.next_attempt_at)),
            delivered_at: c.delivered_at.map(views::rfc3339),
            last_error: c.last_error,
        })
        .collect();
    Ok(Json(PlatformCallbackList {
        success: true,
        count: callbacks.len(),
        pending: callbacks
            .iter()
            .filter(|c| c.delivered_at.is_none())
            .count(),
        callbacks,
    }))
}
