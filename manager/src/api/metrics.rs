//! `GET /metrics`: the text exposition format, for Prometheus (with a key holding the `read` scope:
//! `authorization: {credentials: <key>}` in the scrape config). Admins and operators get every series;
//! a user gets the per-bot families of their own bots only.

use axum::{extract::State, http::header, response::IntoResponse};

use super::AppState;
use crate::auth::Principal;

#[utoipa::path(get, path = "/metrics", tag = "manager", summary = "Prometheus text exposition",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4 (`text/plain; version=0.0.4`)",
        body = String, content_type = "text/plain")),
    security(("admin_key" = [])))]
pub async fn get_metrics(State(state): State<AppState>, principal: Principal) -> impl IntoResponse {
    crate::metrics::record_fleet(&state.fleet.cache.list(), state.fleet.ports.len());
    metrics::gauge!("botfleet_leader").set(f64::from(u8::from(state.leader.is_leading())));
    let text = if principal.sees_all() {
        crate::metrics::render(state.started_at.elapsed())
    } else {
        crate::metrics::render_bots(&|id| principal.may_see_cached(&state.fleet.cache, id))
    };
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}
