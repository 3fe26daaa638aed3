//! `GET /metrics` (no auth, as Prometheus scrapes it): the text exposition format.

use axum::{extract::State, http::header, response::IntoResponse};

use super::AppState;

#[utoipa::path(get, path = "/metrics", tag = "manager", summary = "Prometheus text exposition",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4 (`text/plain; version=0.0.4`)",
        body = String, content_type = "text/plain")))]
pub async fn get_metrics(State(state): State<AppState>) -> impl IntoResponse {
    crate::metrics::record_fleet(&state.fleet.cache.list(), state.fleet.ports.len());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(state.started_at.elapsed()),
    )
}
