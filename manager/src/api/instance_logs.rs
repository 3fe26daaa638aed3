//! `GET /api/v1/instances/{id}/logs?tail=N[&follow=true]`: the worker's log as plain text without ANSI
//! escapes; with `follow`, streamed (chunked) until the client leaves.

use axum::{
    body::Body,
    extract::{Path, Query, State, rejection::QueryRejection},
    http::header,
    response::{IntoResponse, Response},
};
use futures::StreamExt;
use serde::Deserialize;
use shared::ErrorBody;

use super::AppState;
use crate::error::ApiError;

#[derive(Debug, Deserialize)]
pub struct LogParams {
    tail: Option<u64>,
    #[serde(default)]
    follow: bool,
}

#[utoipa::path(get, path = "/api/v1/instances/{id}/logs", tag = "history", summary = "Worker log as plain text; follow=true streams it", params(("id" = String, Path, description = "Instance id"), ("tail" = Option<u64>, Query, description = "Lines, 1 to 10000, default 100"), ("follow" = Option<bool>, Query, description = "Stream new lines")), responses((status = 200, description = "Success", body = serde_json::Value), (status = 401, description = "Missing or wrong admin key", body = ErrorBody), (status = 404, description = "No such instance", body = ErrorBody)), security(("admin_key" = [])))]
pub async fn logs(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<LogParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = query?;
    let tail = params.tail.unwrap_or(100);
    if !(1..=10_000).contains(&tail) {
        return Err(ApiError::validation("tail", "tail must be from 1 to 10000"));
    }
    state.fleet.get(&id)?;
    if state.fleet.runtime.inspect_worker(&id).await?.is_none() {
        return Err(ApiError::NotFound(format!(
            "instance {id} has no container right now"
        )));
    }
    let stream = state
        .fleet
        .runtime
        .logs(&id, tail, params.follow)
        .map(|chunk| chunk.map(|bytes| bytes::Bytes::from(strip_ansi_escapes::strip(&bytes))));
    let text = "text/plain; charset=utf-8";
    if params.follow {
        // Each chunk goes out as Docker hands it over; dropping the connection drops the stream.
        return Ok(([(header::CONTENT_TYPE, text)], Body::from_stream(stream)).into_response());
    }
    let chunks: Vec<_> = stream.collect().await;
    let mut out = Vec::new();
    for chunk in chunks {
        out.extend_from_slice(&chunk?);
    }
    Ok(([(header::CONTENT_TYPE, text)], out).into_response())
}
