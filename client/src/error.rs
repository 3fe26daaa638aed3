//! What can go wrong with a request.

use shared::ErrorBody;

/// Why a request did not return what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The manager answered and said no: its status and error body, the message as it wrote it.
    #[error("{}", body.error)]
    Api { status: u16, body: ErrorBody },
    /// No answer: the manager could not be reached, the connection broke, or the time ran out.
    #[error("{}", chain(.0))]
    Transport(#[source] reqwest::Error),
    /// The manager answered with success, but not with the body this client expects (a different
    /// version, or not a botfleet manager).
    #[error("{0}")]
    Decode(DecodeError),
}

impl ClientError {
    /// The status of a refusal, `None` when there was no answer to read.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The error body of a refusal.
    pub fn body(&self) -> Option<&ErrorBody> {
        match self {
            Self::Api { body, .. } => Some(body),
            _ => None,
        }
    }
}

/// A success answer that did not decode.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the answer to {request} could not be read: {reason}")]
pub struct DecodeError {
    /// `METHOD /path`.
    pub request: String,
    pub reason: String,
}

/// The base URL given to [`crate::Client::new`] cannot be used.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct InvalidBaseUrl(pub String);

/// An error with its causes, `outer: inner: innermost`, so a transport failure says which one it was
/// (refused, timed out, name not resolved, TLS).
fn chain(e: &reqwest::Error) -> String {
    let mut out = if e.is_timeout() {
        format!("timed out: {e}")
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}
