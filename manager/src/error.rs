//! The manager API's error type. Every failure answers JSON (`shared::ErrorBody`) with the status that
//! tells the client what to do: 4xx for input it can fix, 503 when capacity or Docker is missing, 500 only
//! for faults of our own, whose detail goes to the log and not to the client.

use axum::{
    Json,
    extract::rejection::{JsonRejection, QueryRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use shared::{ErrorBody, ErrorCode, http::Rejection};

use crate::runtime::RuntimeError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(&'static str),
    /// A platform callback whose signature or token did not verify.
    #[error("{0}")]
    Unverified(String),
    /// Recognised, but not allowed (a platform handshake with the wrong token).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{field}: {message}")]
    Validation { field: String, message: String },
    /// A body or query the shared extractors refused.
    #[error("{}", .0.body.error)]
    Rejected(Rejection),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The manager cannot answer yet (e.g. no resource sample taken).
    #[error("{0}")]
    NotReady(String),
    /// A service we called (an agent) failed.
    #[error("{0}")]
    Upstream(String),
    /// No free port is left in the configured range.
    #[error("{0}")]
    PortsExhausted(String),
    /// The container engine is unreachable, so a change cannot be acted on.
    #[error("{0}")]
    EngineUnavailable(String),
    /// Docker refused or is unreachable.
    #[error("container runtime: {0}")]
    Runtime(#[from] RuntimeError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Too many requests; try again after `retry_after`.
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after: std::time::Duration,
    },
    /// A fault of our own (not the database's); the detail stays in the log.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn instance_not_found(id: &str) -> Self {
        Self::NotFound(format!("instance {id} not found"))
    }
}

impl From<Rejection> for ApiError {
    fn from(rejection: Rejection) -> Self {
        Self::Rejected(rejection)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        Self::BadRequest(rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::BadRequest(rejection.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        use ErrorCode as C;
        let (status, code, field) = match &self {
            Self::Rejected(r) => return r.clone().into_response(),
            Self::Unauthorized(_) | Self::Unverified(_) => {
                (StatusCode::UNAUTHORIZED, C::Unauthorized, None)
            }
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, C::Forbidden, None),
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, C::BadRequest, None),
            Self::Validation { field, .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                C::ValidationFailed,
                Some(field.clone()),
            ),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, C::NotFound, None),
            Self::Conflict(_) => (StatusCode::CONFLICT, C::Conflict, None),
            Self::Upstream(_) => (StatusCode::BAD_GATEWAY, C::UpstreamFailed, None),
            Self::NotReady(_) => (StatusCode::SERVICE_UNAVAILABLE, C::NotReady, None),
            Self::PortsExhausted(_) => (StatusCode::SERVICE_UNAVAILABLE, C::PortsExhausted, None),
            Self::EngineUnavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, C::RuntimeUnavailable, None)
            }
            Self::Runtime(RuntimeError::NoSuchHost(_)) => {
                (StatusCode::NOT_FOUND, C::NotFound, None)
            }
            Self::Runtime(RuntimeError::Unsupported(_)) => {
                (StatusCode::UNPROCESSABLE_ENTITY, C::ValidationFailed, None)
            }
            Self::Runtime(_) => (StatusCode::SERVICE_UNAVAILABLE, C::RuntimeUnavailable, None),
            Self::Database(_) | Self::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, C::Internal, None)
            }
            Self::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, C::RateLimited, None),
        };
        let message = match &self {
            Self::Database(e) => {
                tracing::error!(error = %e, "database error");
                "internal error; see the manager log".to_string()
            }
            Self::Internal(e) => {
                tracing::error!(error = %e, "internal error");
                "internal error; see the manager log".to_string()
            }
            Self::Runtime(e) => {
                tracing::error!(error = %e, "container runtime error");
                self.to_string()
            }
            _ => self.to_string(),
        };
        let mut response = (status, Json(ErrorBody::new(code, message, field))).into_response();
        if let Self::RateLimited { retry_after, .. } = &self {
            // Whole seconds, rounded up: a client that waits this long gets through.
            let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(secs.max(1)),
            );
        }
        response
    }
}
