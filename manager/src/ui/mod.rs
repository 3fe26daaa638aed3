//! The dashboard (`/ui`): server-rendered pages (maud) with little JavaScript, in the binary, no npm and
//! no CDN. The dashboard is a client of the REST API: every page reads, and every form writes, through
//! the API's own routes, called in process with the signed-in caller's credential (`mcp::relay`), so a
//! user sees and changes exactly what the API lets them (their bots; an admin everything), with the
//! API's validation (its `field` becomes the inline error), rate limits and audit.
//!
//! Sign-in keeps the credential (a login session, or an API key) in an `HttpOnly`, `SameSite=Strict`
//! cookie: a page on another site can neither read it nor make the browser send it with a form post.

mod bot_config;
mod bot_new;
mod bot_page;
mod bot_try;
mod bot_webhook;
mod bots;
mod form;
mod layout;
mod login;
mod overview;
mod resources;

use axum::{
    Router,
    body::to_bytes,
    extract::{FromRequestParts, State},
    http::{HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use mcp::RestCall;
use serde::de::DeserializeOwned;
use shared::ErrorBody;

use crate::api::AppState;

/// The cookie holding the signed-in credential.
const SESSION_COOKIE: &str = "botfleet_session";

/// Largest API answer a page reads.
const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;

/// What every page handler can reach: the manager's state and its REST router (called in process).
#[derive(Clone)]
pub struct Ui {
    pub state: AppState,
    pub api: Router,
}

/// The dashboard's routes, over `api` (the manager's REST router with all its layers).
pub fn routes(state: AppState, api: Router) -> Router<AppState> {
    Router::new()
        .route("/ui", get(overview::page))
        .route("/ui/", get(overview::page))
        .route("/ui/login", get(login::form).post(login::submit))
        .route("/ui/logout", post(login::logout))
        .route("/ui/bots", get(bots::list).post(bot_new::create))
        .route("/ui/bots/bulk", post(bots::bulk))
        .route("/ui/bots/new", get(bot_new::new_form))
        .route("/ui/bots/{id}", get(bot_page::show))
        .route("/ui/bots/{id}/status", get(bot_page::status))
        .route("/ui/bots/{id}/send", post(bot_try::send))
        .route("/ui/bots/{id}/test", post(bot_try::test_agent))
        .route("/ui/bots/{id}/config", post(bot_config::save))
        .route("/ui/bots/{id}/webhook", post(bot_webhook::save))
        .route("/ui/bots/{id}/webhook/remove", post(bot_webhook::remove))
        .route(
            "/ui/bots/{id}/webhook/replay",
            post(bot_webhook::replay_dead),
        )
        .route(
            "/ui/bots/{id}/webhook/replay/{delivery_id}",
            post(bot_webhook::replay_one),
        )
        .route("/ui/bots/{id}/rotate-key", post(bot_page::rotate_key))
        .route("/ui/bots/{id}/verb/{verb}", post(bot_page::verb))
        .route("/ui/bots/{id}/logs/stream", get(bot_page::logs_stream))
        .route("/ui/events/stream", get(overview::events_stream))
        .route("/ui/resources", get(resources::page))
        .route("/ui/resources/alerts", get(resources::alerts_fragment))
        .route(
            "/ui/resources/alerts/{id}/resolve",
            post(resources::resolve),
        )
        .route(
            "/ui/resources/thresholds/{id}/delete",
            post(resources::delete_threshold),
        )
        .route(
            "/ui/resources/thresholds",
            post(resources::create_threshold),
        )
        .route("/ui/assets/app.css", get(layout::stylesheet))
        .with_state(Ui { state, api })
}

/// The signed-in caller: their credential, read from the session cookie. A page asked for without one
/// sends the browser to the sign-in form.
#[derive(Clone)]
pub struct Caller {
    credential: String,
    /// Where the browser connects from: the API's per-address limits and audit see it.
    addr: Option<std::net::SocketAddr>,
}

impl FromRequestParts<Ui> for Caller {
    type Rejection = Response;

    /// The caller, counted once against their request rate (the API calls a page makes for them are
    /// marked relayed and not counted again, as an MCP request's tool calls are).
    async fn from_request_parts(parts: &mut Parts, ui: &Ui) -> Result<Self, Self::Rejection> {
        let credential = cookie(parts, SESSION_COOKIE)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| Redirect::to("/ui/login").into_response())?;
        let principal = ui
            .state
            .auth
            .authenticate(&credential)
            .map_err(|_| signed_out())?;
        if let Err(crate::auth::limits::RetryAfter(wait)) = ui
            .state
            .auth
            .limits
            .request(&principal.rate_key(), principal.user_id.as_deref())
        {
            return Err(slow_down(wait));
        }
        Ok(Caller {
            credential,
            addr: remote_addr(parts),
        })
    }
}

/// The page of a caller over their request rate: when to try again.
fn slow_down(wait: std::time::Duration) -> Response {
    let secs = wait.as_secs().max(1);
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, secs.to_string())],
        layout::page(
            "Too many requests",
            None,
            maud::html! {
                h1 { "Too many requests" }
                p role="alert" class="error" {
                    "You made more requests than your rate limit allows; try again in " (secs) " s."
                }
            },
        ),
    )
        .into_response()
}

impl axum::extract::OptionalFromRequestParts<Ui> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        ui: &Ui,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(
            <Self as FromRequestParts<Ui>>::from_request_parts(parts, ui)
                .await
                .ok(),
        )
    }
}

/// The address the request came from, when the server recorded it.
fn remote_addr(parts: &Parts) -> Option<std::net::SocketAddr> {
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0)
}

/// The value of cookie `name`, if the request carries it.
fn cookie(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_string())
}

/// Why a call of the API from a page did not give what the page wanted.
pub enum ApiFailure {
    /// The credential is no longer accepted (expired session, revoked key): sign in again.
    SignedOut,
    /// The API refused, with its error body (a 422 names the field).
    Refused(StatusCode, ErrorBody),
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        match self {
            Self::SignedOut => signed_out(),
            Self::Refused(status, body) => (
                status,
                layout::page(
                    "Error",
                    None,
                    maud::html! {
                        h1 { "Something went wrong" }
                        p role="alert" class="error" { (body.error) }
                        p { a href="/ui" { "Back to the overview" } }
                    },
                ),
            )
                .into_response(),
        }
    }
}

/// Clears the cookie and sends the browser to the sign-in form.
fn signed_out() -> Response {
    (
        [(header::SET_COOKIE, clear_cookie())],
        Redirect::to("/ui/login"),
    )
        .into_response()
}

fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("botfleet_session=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0")
}

impl Ui {
    /// Calls the API as `caller` (`None`: anonymously, from `addr`); the status and body.
    async fn call(
        &self,
        caller: Option<&Caller>,
        call: RestCall,
    ) -> Result<(StatusCode, bytes::Bytes), ApiFailure> {
        self.call_from(caller, None, call).await
    }

    /// [`call`](Self::call), anonymously from `addr` when there is no caller (the sign-in).
    async fn call_from(
        &self,
        caller: Option<&Caller>,
        addr: Option<std::net::SocketAddr>,
        call: RestCall,
    ) -> Result<(StatusCode, bytes::Bytes), ApiFailure> {
        let response = self.relay(caller, addr, call).await?;
        let status = response.status();
        let body = to_bytes(response.into_body(), MAX_ANSWER_BYTES)
            .await
            .map_err(|e| internal(e.to_string()))?;
        Ok((status, body))
    }

    /// Calls the API as `caller` and hands its answer on as it comes (a stream: events, a followed log).
    async fn pass_through(&self, caller: &Caller, call: RestCall) -> Result<Response, ApiFailure> {
        self.relay(Some(caller), None, call).await
    }

    /// The API's answer to `call` made as `caller`; a credential no longer accepted signs the caller out.
    async fn relay(
        &self,
        caller: Option<&Caller>,
        addr: Option<std::net::SocketAddr>,
        call: RestCall,
    ) -> Result<Response, ApiFailure> {
        let mut request = axum::http::Request::builder();
        if let Some(caller) = caller {
            request = request.header(
                header::AUTHORIZATION,
                format!("Bearer {}", caller.credential),
            );
        }
        if let Some(addr) = caller.and_then(|c| c.addr).or(addr) {
            request = request.extension(axum::extract::ConnectInfo(addr));
        }
        let (parts, ()) = request
            .body(())
            .map_err(|e| internal(e.to_string()))?
            .into_parts();
        let response = mcp::relay(&self.api, call, Some(&parts))
            .await
            .map_err(|e| internal(e.to_string()))?;
        if response.status() == StatusCode::UNAUTHORIZED && caller.is_some() {
            return Err(ApiFailure::SignedOut);
        }
        Ok(response)
    }

    /// Calls the API as `caller` and reads its answer as `T`; a refusal carries the API's error body.
    async fn read<T: DeserializeOwned>(
        &self,
        caller: &Caller,
        call: RestCall,
    ) -> Result<T, ApiFailure> {
        let (status, body) = self.call(Some(caller), call).await?;
        if !status.is_success() {
            return Err(refusal(status, &body));
        }
        serde_json::from_slice(&body).map_err(|e| internal(format!("the API answered: {e}")))
    }
}

/// The API's error body of a refusal (or one naming what came instead).
fn refusal(status: StatusCode, body: &[u8]) -> ApiFailure {
    let error = serde_json::from_slice::<ErrorBody>(body).unwrap_or_else(|_| {
        ErrorBody::new(
            shared::ErrorCode::Internal,
            String::from_utf8_lossy(body).into_owned(),
            None,
        )
    });
    ApiFailure::Refused(status, error)
}

fn internal(message: String) -> ApiFailure {
    tracing::error!(error = %message, "a dashboard page could not call the API");
    ApiFailure::Refused(
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorBody::new(shared::ErrorCode::Internal, message, None),
    )
}

/// `State` under its dashboard name, for handlers.
pub type UiState = State<Ui>;
