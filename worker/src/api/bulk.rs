//! `POST /api/v1/send-bulk` (and the `/api/v1/telegram/send-bulk` alias): one template to many chats.
//! Up to 50 recipients answer when done (seed `002` shape); more run as a job, answered at once with its
//! id, and `GET /api/v1/jobs/{id}` reports progress.

use std::sync::Arc;

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use shared::{
    ErrorBody,
    http::ValidJson,
    worker_api::{
        BULK_INLINE_LIMIT, BulkJob, BulkJobAccepted, BulkResult, BulkSendRequest, JobStatus,
    },
};

use super::{AppState, send::ensure_ready};
use crate::{error::ApiError, jobs::BulkRecipient};

/// A bulk send's answer: done (200), or running as a job (202).
pub enum BulkAnswer {
    Done(BulkResult),
    Queued(BulkJobAccepted),
}

impl IntoResponse for BulkAnswer {
    fn into_response(self) -> Response {
        match self {
            Self::Done(result) => Json(result).into_response(),
            Self::Queued(job) => (StatusCode::ACCEPTED, Json(job)).into_response(),
        }
    }
}

async fn bulk(state: AppState, body: BulkSendRequest) -> Result<BulkAnswer, ApiError> {
    let provider = state.bot.provider();
    let recipients: Vec<BulkRecipient> = body
        .recipients
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let (chat, vars) = r.into_parts();
            let canonical = provider
                .check_chat(&chat, false)
                .map_err(|e| ApiError::validation(format!("recipients[{i}]"), e))?;
            Ok(BulkRecipient {
                chat: canonical,
                ..BulkRecipient::new(chat, vars)
            })
        })
        .collect::<Result<_, ApiError>>()?;
    ensure_ready(&state)?;
    let total = recipients.len();
    // A request answered inline waits for its sends: each takes a place in its chat's line (a job
    // paces itself and waits as long as it takes).
    let _places = if total <= BULK_INLINE_LIMIT {
        recipients
            .iter()
            .map(|r| state.backlog.enter(&r.chat))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        Vec::new()
    };
    let id = state.jobs.create(&body.message, &recipients);
    let run = Arc::clone(&state.jobs).run(
        id.clone(),
        state.bot.clone(),
        body.message,
        recipients.into_iter().enumerate().collect(),
    );
    if total <= BULK_INLINE_LIMIT {
        return Ok(BulkAnswer::Done(run.await.into()));
    }
    tokio::spawn(run);
    Ok(BulkAnswer::Queued(BulkJobAccepted {
        success: true,
        status_url: format!("/api/v1/jobs/{id}"),
        job_id: id,
        status: JobStatus::Running,
        total_recipients: total,
    }))
}

#[utoipa::path(post, path = "/api/v1/send-bulk", tag = "worker", summary = "One template to many chats",
    request_body = BulkSendRequest,
    responses((status = 200, description = "Done: up to 50 recipients are answered when every send finished", body = BulkResult),
        (status = 202, description = "More than 50 recipients: running as a job; follow `statusUrl`", body = BulkJobAccepted),
        (status = 429, description = "Sends to this chat are already waiting for its rate limit; retry after `Retry-After` seconds", body = ErrorBody),
        (status = 503, description = "The bot is not connected to its platform yet", body = ErrorBody)),
    security(("instance_key" = [])))]
pub async fn send_bulk(
    State(state): State<AppState>,
    ValidJson(body): ValidJson<BulkSendRequest>,
) -> Result<BulkAnswer, ApiError> {
    bulk(state, body).await
}

#[utoipa::path(post, path = "/api/v1/telegram/send-bulk", tag = "worker", summary = "Alias of /api/v1/send-bulk",
    request_body = BulkSendRequest,
    responses((status = 200, description = "Done: up to 50 recipients are answered when every send finished", body = BulkResult),
        (status = 202, description = "More than 50 recipients: running as a job; follow `statusUrl`", body = BulkJobAccepted),
        (status = 429, description = "Sends to this chat are already waiting for its rate limit; retry after `Retry-After` seconds", body = ErrorBody),
        (status = 503, description = "The bot is not connected to its platform yet", body = ErrorBody)),
    security(("instance_key" = [])))]
pub async fn send_telegram_bulk(
    State(state): State<AppState>,
    ValidJson(body): ValidJson<BulkSendRequest>,
) -> Result<BulkAnswer, ApiError> {
    bulk(state, body).await
}

#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "worker", summary = "Progress of a bulk job",
    params(("id" = String, Path, description = "The job's id (`jobId`)")),
    responses((status = 200, description = "The job and its results so far", body = BulkJob)),
    security(("instance_key" = [])))]
pub async fn get_job(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<BulkJob>, ApiError> {
    state
        .jobs
        .get(&id)
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("job {id} not found")))
}
