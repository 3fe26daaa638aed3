//! The gate in front of every authenticated route: who is calling (bootstrap key, API key or session),
//! whether they are over their request rate (429 + `Retry-After`), whether the route's need allows
//! them (403) and whether they may see the instance it names (404 otherwise, so ids leak nothing).
//! Changes, logins and refusals go to the audit log. Also `POST /auth/login` and `POST /auth/logout`.

use std::net::SocketAddr;

use axum::{
    Json,
    extract::{
        ConnectInfo, MatchedPath, RawPathParams, Request, State, rejection::RawPathParamsRejection,
    },
    http::{Method, header::AUTHORIZATION},
    middleware::Next,
    response::{IntoResponse, Response},
};
use shared::{
    api::{
        Done,
        users::{LoginRequest, LoginResponse},
    },
    http::ValidJson,
};

use super::AppState;
use crate::{
    auth::{
        Principal,
        limits::RetryAfter,
        policy::{self, Need},
        principal::Scope,
    },
    error::ApiError,
    store::audit::AuditRow,
};

/// Put in a response's extensions by a handler that created an instance, so the audit entry names it.
#[derive(Debug, Clone)]
pub struct AuditInstance(pub String);

fn remote_addr(request: &Request) -> Option<std::net::IpAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

fn rate_limited(what: &str, RetryAfter(wait): RetryAfter) -> ApiError {
    ApiError::RateLimited {
        message: format!(
            "too many requests {what}; retry in {:.1} s",
            wait.as_secs_f64()
        ),
        retry_after: wait,
    }
}

/// The manager's MCP endpoint (`crate::mcp`).
const MCP_ROUTE: &str = "/mcp";

pub async fn guard(
    State(state): State<AppState>,
    params: Result<RawPathParams, RawPathParamsRejection>,
    mut request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let method = request.method().clone();
    let need = policy::need(&method, &route);
    let addr = remote_addr(&request);
    let bearer = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(shared::bearer_key);
    let principal = match bearer.map(|b| state.auth.authenticate(b)) {
        None => return ApiError::Unauthorized("missing bearer credential").into_response(),
        Some(Err(e)) => return e.into_response(),
        Some(Ok(p)) => p,
    };
    // Every MCP request counts against the rate once, as it arrives; the REST requests its tool calls
    // make in process (`Relayed`) are checked, scoped and audited as any other, but not counted again.
    let relayed = request.extensions().get::<mcp::Relayed>().is_some();
    if !relayed
        && let Err(wait) = state
            .auth
            .limits
            .request(&principal.rate_key(), principal.user_id.as_deref())
    {
        tracing::warn!(actor = %principal.actor(), %route, "request rate exceeded");
        return rate_limited("for this key or user", wait).into_response();
    }
    // The MCP request itself is only checked for its key; each tool call it makes is a REST request,
    // authorized and audited by its route.
    if route == MCP_ROUTE {
        request.extensions_mut().insert(principal);
        return next.run(request).await;
    }
    let instance_id = match need {
        Need::Instance(_) => params.ok().and_then(|p| {
            p.iter()
                .find(|(name, _)| *name == "id")
                .map(|(_, v)| v.to_string())
        }),
        _ => None,
    };
    let audit = |status: u16, instance: Option<String>| AuditRow {
        id: uuid::Uuid::new_v4().simple().to_string(),
        at: crate::domain::now_ms(),
        actor: principal.actor(),
        user_id: principal.user_id.clone(),
        key_id: principal.key_id.clone(),
        method: method.to_string(),
        route: route.clone(),
        instance_id: instance,
        status: i64::from(status),
        remote_addr: addr.map(|a| a.to_string()),
    };
    if let Err(refusal) = authorize(&state, &principal, need, instance_id.as_deref()) {
        let response = refusal.into_response();
        record(&state, audit(response.status().as_u16(), instance_id)).await;
        return response;
    }
    if method == Method::POST && route.ends_with("/instances/{id}/test") {
        let who = principal
            .user_id
            .clone()
            .unwrap_or_else(|| principal.rate_key());
        if let Err(wait) = state.auth.limits.agent_test(&who) {
            return rate_limited("to the agent test (10 a minute per user)", wait).into_response();
        }
    }
    if let Some(key) = &principal.key_id {
        state.auth.touch_key(key);
    }
    request.extensions_mut().insert(principal.clone());
    let response = next.run(request).await;
    if method != Method::GET && method != Method::HEAD {
        let instance = instance_id.or_else(|| {
            response
                .extensions()
                .get::<AuditInstance>()
                .map(|a| a.0.clone())
        });
        record(&state, audit(response.status().as_u16(), instance)).await;
    }
    response
}

/// Whether `principal` may call a route of `need` (about `instance_id`).
fn authorize(
    state: &AppState,
    principal: &Principal,
    need: Need,
    instance_id: Option<&str>,
) -> Result<(), ApiError> {
    policy::allows(principal, need).map_err(ApiError::Forbidden)?;
    let (Need::Instance(scope), Some(id)) = (need, instance_id) else {
        return Ok(());
    };
    let Some(record) = state.fleet.cache.get(id) else {
        // The handler answers 404 for an unknown id, as for one the caller may not see.
        return Ok(());
    };
    if !principal.may_see(id, &record.user_id) {
        return Err(ApiError::instance_not_found(id));
    }
    if scope != Scope::Read && !principal.may_change(id, &record.user_id) {
        return Err(ApiError::Forbidden(
            "operators may read every bot but change none".into(),
        ));
    }
    Ok(())
}

/// Writes an audit entry; a failure is logged and does not fail the request.
pub async fn record(state: &AppState, entry: AuditRow) {
    if let Err(e) = state.fleet.store.insert_audit(&entry).await {
        tracing::error!(error = %e, route = %entry.route, "could not write an audit entry");
    }
}

/// Log in with a username and password (seed 000): a short-lived bearer token. Attempts are limited
/// per username and per address (429 with `Retry-After`); a wrong password and an unknown username
/// take the same time and get the same answer.
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "auth",
    operation_id = "login",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "A session token", body = LoginResponse),
        (status = 401, description = "Wrong username or password", body = shared::ErrorBody),
        (status = 429, description = "Too many attempts", body = shared::ErrorBody),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    connect: Result<ConnectInfo<SocketAddr>, axum::extract::rejection::ExtensionRejection>,
    ValidJson(body): ValidJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let addr = connect.ok().map(|c| c.0.ip());
    let entry = |status: u16, user_id: Option<String>| AuditRow {
        id: uuid::Uuid::new_v4().simple().to_string(),
        at: crate::domain::now_ms(),
        actor: user_id
            .as_ref()
            .map_or_else(|| "anonymous".to_string(), |u| format!("user:{u}")),
        user_id,
        key_id: None,
        method: "POST".into(),
        route: "/api/v1/auth/login".into(),
        instance_id: None,
        status: i64::from(status),
        remote_addr: addr.map(|a| a.to_string()),
    };
    if let Err(wait) = state.auth.limits.login(&body.username, addr) {
        tracing::warn!(username = %body.username, ?addr, "login attempts throttled");
        record(&state, entry(429, None)).await;
        return Err(rate_limited("to log in; wait", wait));
    }
    match state.auth.login(&body.username, &body.password).await {
        Ok((user_id, session)) => {
            record(&state, entry(200, Some(user_id))).await;
            Ok(Json(session))
        }
        Err(e) => {
            tracing::info!(username = %body.username, ?addr, "login refused");
            record(&state, entry(401, None)).await;
            Err(e)
        }
    }
}

/// End the session whose token is presented: from the next request on it is refused.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "auth",
    operation_id = "logout",
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "Logged out", body = Done),
        (status = 400, description = "Not a session (an API key or the bootstrap key)", body = shared::ErrorBody),
    )
)]
pub async fn logout(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Done>, ApiError> {
    state.auth.logout(&principal).await?;
    Ok(Json(Done::new("logged out")))
}
