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

use super::AppState;
use crate::error::ApiError;

#[derive(Debug, Deserialize)]
pub struct LogParams {
    tail: Option<u64>,
    #[serde(default)]
    follow: bool,
}

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
