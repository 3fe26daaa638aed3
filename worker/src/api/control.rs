//! `PUT /api/v1/control/config`: the manager hands the worker its bot configuration (control key only).
//! It applies at once — a new agent, prompt or window, a pause or an activation — without a restart.

use axum::{Json, extract::State};
use shared::{
    ErrorBody,
    http::ValidJson,
    worker_api::{ConfigApplied, WorkerBotConfig},
};

use super::AppState;

#[utoipa::path(put, path = "/api/v1/control/config", tag = "worker", summary = "The manager's bot configuration (control key only)",
    request_body = WorkerBotConfig,
    responses((status = 200, description = "Applied", body = ConfigApplied),
        (status = 403, description = "Not the manager's control key", body = ErrorBody)),
    security(("control_key" = [])))]
pub async fn put_control_config(
    State(state): State<AppState>,
    ValidJson(config): ValidJson<WorkerBotConfig>,
) -> Json<ConfigApplied> {
    Json(state.bot.config().apply(config))
}
