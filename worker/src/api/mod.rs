//! The worker's REST API: every route, with the `/api/v1/telegram/*` aliases of the replaced system.

mod health;
mod send;
mod status;

use std::sync::Arc;

use axum::{
    Router, middleware,
    routing::{get, post},
};

use crate::{auth, auth::AcceptedKeys, bot::TelegramBot, state::BotStatus};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub status: Arc<BotStatus>,
    pub bot: TelegramBot,
    pub keys: AcceptedKeys,
    pub provider: String,
}

/// Builds the router: `health` is open, everything else needs the bearer key.
pub fn router(state: AppState) -> Router {
    let protected = Router::new()
        .route("/api/v1/status", get(status::get_status))
        .route("/api/v1/telegram/status", get(status::get_status))
        .route("/api/v1/send", post(send::send_text))
        .route("/api/v1/telegram/send", post(send::send_text))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_bearer,
        ));
    Router::new()
        .route("/api/v1/health", get(health::get_health))
        .route("/api/v1/telegram/health", get(health::get_health))
        .merge(protected)
        .with_state(state)
}
