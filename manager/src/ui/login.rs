//! `/ui/login` and `/ui/logout`: sign in with a username and password (a login session of
//! `POST /api/v1/auth/login`) or with an API key, kept in the session cookie.

use axum::{
    Form,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use maud::html;
use mcp::RestCall;
use serde::Deserialize;
use shared::api::users::{LoginRequest, LoginResponse};

use super::{ApiFailure, Caller, SESSION_COOKIE, Ui, UiState, clear_cookie, layout, refusal};

/// The sign-in form's fields.
#[derive(Debug, Default, Deserialize)]
pub struct SignIn {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    /// An API key instead of a username and password.
    #[serde(default)]
    api_key: String,
}

fn form_page(status: StatusCode, username: &str, error: Option<&str>) -> Response {
    let body = html! {
        div class="login" {
            h1 { "Sign in to botfleet" }
            @if let Some(error) = error {
                p role="alert" class="error" id="login-error" { (error) }
            }
            form method="post" action="/ui/login" {
                div class="field" {
                    label for="username" { "Username" }
                    input id="username" name="username" type="text" autocomplete="username"
                        value=(username) autofocus;
                }
                div class="field" {
                    label for="password" { "Password" }
                    input id="password" name="password" type="password" autocomplete="current-password";
                }
                details {
                    summary { "Sign in with an API key instead" }
                    div class="field" {
                        label for="api_key" { "API key" }
                        input id="api_key" name="api_key" type="password" autocomplete="off";
                    }
                }
                div class="actions" { button type="submit" { "Sign in" } }
            }
        }
    };
    (status, layout::page("Sign in", None, body)).into_response()
}

/// `GET /ui/login`.
pub async fn form() -> Response {
    form_page(StatusCode::OK, "", None)
}

fn session_cookie(ui: &Ui, credential: &str, max_age: Option<u64>) -> HeaderValue {
    let secure = if ui.state.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let max_age = max_age
        .map(|s| format!("; Max-Age={s}"))
        .unwrap_or_default();
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={credential}; Path=/ui; HttpOnly; SameSite=Strict{max_age}{secure}"
    ))
    .unwrap_or_else(|_| clear_cookie())
}

/// `POST /ui/login`. The API's sign-in limits (per username and per address) apply: the address is
/// passed on.
pub async fn submit(
    ui: UiState,
    connect: Result<
        axum::extract::ConnectInfo<std::net::SocketAddr>,
        axum::extract::rejection::ExtensionRejection,
    >,
    Form(sign_in): Form<SignIn>,
) -> Response {
    let ui = &ui.0;
    let addr = connect.ok().map(|c| c.0);
    let api_key = sign_in.api_key.trim();
    if !api_key.is_empty() {
        let caller = Caller {
            credential: api_key.to_string(),
            addr,
        };
        return match ui
            .call(Some(&caller), RestCall::get("/api/v1/users/me"))
            .await
        {
            Ok((status, _)) if status.is_success() => signed_in(session_cookie(ui, api_key, None)),
            Ok((status, body)) => match refusal(status, &body) {
                ApiFailure::Refused(_, e) => form_page(status, "", Some(&e.error)),
                ApiFailure::SignedOut => form_page(status, "", Some("This key is not accepted.")),
            },
            Err(_) => form_page(
                StatusCode::UNAUTHORIZED,
                "",
                Some("This key is not accepted."),
            ),
        };
    }
    let request = LoginRequest {
        username: sign_in.username.trim().to_string(),
        password: sign_in.password.clone(),
    };
    let body = serde_json::to_value(&request).ok();
    match ui
        .call_from(None, addr, RestCall::post("/api/v1/auth/login", body))
        .await
    {
        Ok((status, body)) if status.is_success() => {
            match serde_json::from_slice::<LoginResponse>(&body) {
                Ok(session) => signed_in(session_cookie(
                    ui,
                    &session.access_token,
                    Some(session.expires_in),
                )),
                Err(_) => form_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &sign_in.username,
                    Some("The sign-in could not be completed."),
                ),
            }
        }
        Ok((StatusCode::UNAUTHORIZED, _)) => form_page(
            StatusCode::UNAUTHORIZED,
            &sign_in.username,
            Some("Wrong username or password."),
        ),
        Ok((status, body)) => {
            let message = match refusal(status, &body) {
                ApiFailure::Refused(_, e) => e.error,
                ApiFailure::SignedOut => "Wrong username or password.".into(),
            };
            form_page(status, &sign_in.username, Some(&message))
        }
        Err(_) => form_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            &sign_in.username,
            Some("The sign-in could not be completed."),
        ),
    }
}

fn signed_in(cookie: HeaderValue) -> Response {
    ([(header::SET_COOKIE, cookie)], Redirect::to("/ui")).into_response()
}

/// `POST /ui/logout`: ends a login session (an API key stays valid) and clears the cookie.
pub async fn logout(ui: UiState, caller: Option<Caller>) -> Response {
    if let Some(caller) = caller {
        // A key is no session: the API refuses to log it out, and the cookie goes anyway.
        let _ =
            ui.0.call(Some(&caller), RestCall::post("/api/v1/auth/logout", None))
                .await;
    }
    (
        [(header::SET_COOKIE, clear_cookie())],
        Redirect::to("/ui/login"),
    )
        .into_response()
}
