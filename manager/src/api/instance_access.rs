//! `/api/v1/instances/{id}/auth-status` and `/credentials`: how a user learns the bot is usable and
//! where its API lives.

use axum::{
    Json,
    extract::{Path, State},
};
use shared::api::access::{AuthStatusResponse, CredentialsResponse};

use super::{AppState, views};
use crate::error::ApiError;

#[utoipa::path(get, path = "/api/v1/instances/{id}/auth-status", tag = "instances", summary = "Whether the bot can send",
    params(("id" = String, Path, description = "Instance id")),
    responses((status = 200, description = "The bot's readiness", body = AuthStatusResponse)),
    security(("admin_key" = [])))]
pub async fn get_auth_status(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<AuthStatusResponse>, ApiError> {
    let r = state.fleet.get(&id)?;
    Ok(Json(AuthStatusResponse {
        success: true,
        auth_status: r.auth_status,
        status: r.status,
        is_ready_for_messages: r.is_ready_for_messages(),
        account: r.account.clone(),
        phone_number: r.handle(),
        last_seen: r.last_health_at.map(views::rfc3339),
        reason: r.status_reason.clone(),
    }))
}

#[utoipa::path(get, path = "/api/v1/instances/{id}/credentials", tag = "instances", summary = "API key hint and worker API URL",
    params(("id" = String, Path, description = "Instance id")),
    responses((status = 200, description = "Where the bot's API is", body = CredentialsResponse)),
    security(("admin_key" = [])))]
pub async fn get_credentials(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<CredentialsResponse>, ApiError> {
    let r = state.fleet.get(&id)?;
    Ok(Json(CredentialsResponse {
        success: true,
        api_key_hint: r.api_key_hint.clone(),
        api_url: worker_api_url(&state.public_host, r.port),
        ports: views::ports(&r),
        mcp_url: r.mcp_port.map(|p| worker_mcp_url(&state.public_host, p)),
    }))
}

/// `http://<host>:<port>`, with IPv6 hosts bracketed. (The replaced system printed
/// `http://localhost:3000:5010/api`, a host with two ports.)
fn origin(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("http://[{host}]:{port}")
    } else {
        format!("http://{host}:{port}")
    }
}

/// `http://<host>:<port>/api/v1`: the bot's REST API.
pub fn worker_api_url(host: &str, port: u16) -> String {
    format!("{}/api/v1", origin(host, port))
}

/// `http://<host>:<mcp port>/mcp`: the bot's MCP server.
pub fn worker_mcp_url(host: &str, port: u16) -> String {
    format!("{}/mcp", origin(host, port))
}

#[cfg(test)]
mod tests {
    use super::worker_api_url;

    #[test]
    fn the_url_has_one_host_and_one_port() {
        assert_eq!(
            worker_api_url("localhost", 5010),
            "http://localhost:5010/api/v1"
        );
        assert_eq!(worker_api_url("::1", 5010), "http://[::1]:5010/api/v1");
        let url = worker_api_url("10.0.0.5", 3001);
        assert_eq!(url.matches(':').count(), 2);
    }
}
