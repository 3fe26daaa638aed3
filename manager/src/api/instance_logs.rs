//! `GET /api/v1/instances/{id}/logs?tail=N[&follow=true]`: the worker's log as plain text without ANSI
//! escapes; with `follow`, streamed (chunked) until the client leaves.

use axum::{
    body::Body,
    extract::{Path, State},
    http::header,
    response::{IntoResponse, Response},
};
use futures::StreamExt;
use shared::{api::history::LogQuery, http::ValidQuery};

use super::AppState;
use crate::{
    error::ApiError,
    runtime::{self, RuntimeError},
};

#[utoipa::path(get, path = "/api/v1/instances/{id}/logs", tag = "history", summary = "Worker log as plain text; follow=true streams it",
    params(("id" = String, Path, description = "Instance id"), LogQuery),
    responses((status = 200, description = "The last `tail` lines of the worker's log, ANSI escapes removed; with `follow=true` \
                   the answer stays open and new lines are streamed (chunked) until the client leaves",
        body = String, content_type = "text/plain")),
    security(("admin_key" = [])))]
pub async fn get_logs(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ValidQuery(params): ValidQuery<LogQuery>,
) -> Result<Response, ApiError> {
    state.fleet.get(&id)?;
    worker_log(&state, &id, &params).await
}

/// The instance's worker log as plain text (ANSI escapes removed), streamed with `follow`; 404 when the
/// instance has no worker right now. Also the log of a host's container.
pub(super) async fn worker_log(
    state: &AppState,
    id: &str,
    params: &LogQuery,
) -> Result<Response, ApiError> {
    if state.fleet.runtime.inspect_worker(id).await?.is_none() {
        return Err(ApiError::NotFound(format!(
            "instance {id} has no container right now"
        )));
    }
    let stream = state
        .fleet
        .runtime
        .logs(id, u64::from(params.tail()), params.follow)
        .boxed()
        .map(|chunk| chunk.map(|bytes| bytes::Bytes::from(strip_ansi_escapes::strip(&bytes))));
    let text = "text/plain; charset=utf-8";
    if params.follow {
        // Each chunk goes out as Docker hands it over; dropping the connection drops the stream.
        return Ok(([(header::CONTENT_TYPE, text)], Body::from_stream(stream)).into_response());
    }
    let chunks: Vec<_> = stream.collect().await;
    let mut out = Vec::new();
    for chunk in chunks {
        match chunk {
            Ok(bytes) => out.extend_from_slice(&bytes),
            // Removed between the inspect and the read (a restart recreates it): gone, not broken.
            Err(RuntimeError::Docker(e)) if runtime::is_not_found(&e) => {
                return Err(ApiError::NotFound(format!(
                    "instance {id} has no container right now"
                )));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(([(header::CONTENT_TYPE, text)], out).into_response())
}
