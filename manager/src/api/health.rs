//! `GET /health` (no auth): is the manager up, and can it reach its database.

use axum::{Json, extract::State, http::StatusCode};
use serde_json::{Value, json};

use super::{AppState, views::rfc3339};
use crate::fleet::now_ms;

pub async fn get_health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let database_ok = state.fleet.store.ping().await;
    let status = if database_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if database_ok { "healthy" } else { "unhealthy" },
        "timestamp": rfc3339(now_ms()),
        "uptime": state.started_at.elapsed().as_secs_f64(),
        "version": env!("CARGO_PKG_VERSION"),
        "database": if database_ok { "ok" } else { "unreachable" },
        "instances": state.fleet.cache.len(),
    });
    (status, Json(body))
}
