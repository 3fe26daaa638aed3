//! The worker API's error type: every failure becomes a JSON `ErrorBody` with a fitting status.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use shared::{ErrorBody, ErrorCode, http::Rejection};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{field}: {message}")]
    Validation { field: String, message: String },
    /// A body or query the shared extractors refused.
    #[error("{}", .0.body.error)]
    Rejected(Rejection),
    #[error("{0}")]
    BadRequest(String),
    /// The body is larger than this route takes.
    #[error("{0}")]
    TooLarge(String),
    /// The key is valid but may not do this.
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(String),
    /// The bot cannot act yet (it has not passed `getMe`).
    #[error("{0}")]
    NotReady(String),
    /// Too many sends already wait for this chat; the client should retry after the given seconds.
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after_secs: u64,
    },
    /// The provider answered and refused the request; carries its description.
    #[error("{0}")]
    ProviderRefused(String),
    /// The provider failed the call or could not be reached; carries what went wrong.
    #[error("{0}")]
    Provider(String),
    /// The bot is paused.
    #[error("{0}")]
    Paused(String),
}

impl ApiError {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<crate::backlog::Full> for ApiError {
    fn from(full: crate::backlog::Full) -> Self {
        Self::RateLimited {
            message: format!(
                "this chat is at Telegram's per-chat limit (1 message a second, {} a minute, at most {} \
                 waiting); retry after {} s",
                crate::backlog::MAX_PER_MINUTE,
                crate::backlog::MAX_WAITING_PER_CHAT,
                full.retry_after_secs
            ),
            retry_after_secs: full.retry_after_secs,
        }
    }
}

impl From<Rejection> for ApiError {
    fn from(rejection: Rejection) -> Self {
        Self::Rejected(rejection)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, field) = match self {
            ApiError::Rejected(r) => return r.into_response(),
            ApiError::RateLimited {
                message,
                retry_after_secs,
            } => {
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(
                        axum::http::header::RETRY_AFTER,
                        retry_after_secs.to_string(),
                    )],
                    Json(ErrorBody::new(ErrorCode::RateLimited, message, None)),
                )
                    .into_response();
            }
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, None),
            ApiError::Validation { ref field, .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::ValidationFailed,
                Some(field.clone()),
            ),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, ErrorCode::BadRequest, None),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, ErrorCode::Forbidden, None),
            ApiError::TooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                None,
            ),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::NotFound, None),
            ApiError::NotReady(_) => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::NotReady, None),
            ApiError::ProviderRefused(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::ProviderRefused,
                None,
            ),
            ApiError::Provider(_) => (StatusCode::BAD_GATEWAY, ErrorCode::UpstreamFailed, None),
            ApiError::Paused(_) => (StatusCode::CONFLICT, ErrorCode::Paused, None),
        };
        (status, Json(ErrorBody::new(code, self.to_string(), field))).into_response()
    }
}
