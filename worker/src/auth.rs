//! Bearer-key check for the worker API: the worker holds only SHA-256 digests of the keys it accepts and
//! compares digests in constant time.

use axum::{
    extract::{Request, State},
    http::header::AUTHORIZATION,
    middleware::Next,
    response::Response,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{api::AppState, config::Config, error::ApiError};

/// Digests of the keys that may call the protected routes: the user's API key first, then the
/// manager's control key when configured (the only key the control routes take).
#[derive(Debug, Clone)]
pub struct AcceptedKeys {
    digests: Vec<[u8; 32]>,
}

/// Who presented an accepted key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    User,
    Manager,
}

impl AcceptedKeys {
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let mut digests = vec![parse_digest(&config.api_key_sha256)?];
        if let Some(control) = &config.control_key_sha256 {
            digests.push(parse_digest(control)?);
        }
        Ok(Self { digests })
    }

    /// Who `key` belongs to, if it hashes to an accepted digest. Every digest is compared, so the time
    /// taken does not tell which one matched.
    pub fn caller(&self, key: &str) -> Option<Caller> {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let matches: Vec<bool> = self
            .digests
            .iter()
            .map(|d| bool::from(d.ct_eq(&digest)))
            .collect();
        match matches.as_slice() {
            [true, ..] => Some(Caller::User),
            [_, true] => Some(Caller::Manager),
            _ => None,
        }
    }

    pub fn accepts(&self, key: &str) -> bool {
        self.caller(key).is_some()
    }
}

fn parse_digest(hex_digest: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = hex::decode(hex_digest.trim())
        .map_err(|_| anyhow::anyhow!("a key digest must be 64 hex characters"))?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("a key digest must be 64 hex characters"))
}

/// Middleware: lets the request through only with `Authorization: Bearer <accepted key>`.
pub async fn require_bearer(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(shared::bearer_key);
    match presented {
        None => Err(ApiError::Unauthorized("missing bearer key")),
        Some(key) => match state.keys.caller(key) {
            Some(caller) => {
                // A tool call's REST request: its MCP request was counted already.
                let relayed = request.extensions().get::<mcp::Relayed>().is_some();
                if caller == Caller::User && !relayed {
                    state.status.record_key_use();
                }
                request.extensions_mut().insert(caller);
                Ok(next.run(request).await)
            }
            None => Err(ApiError::Unauthorized("invalid bearer key")),
        },
    }
}

/// Middleware behind [`require_bearer`] on the control routes (`/api/v1/events`, `/api/v1/events/ack`,
/// `/api/v1/control/*`): only the manager's control key passes; the user's key gets 403. A user who could
/// read or acknowledge the outbox would make the manager lose the events it had not stored yet.
pub async fn require_manager(request: Request, next: Next) -> Result<Response, ApiError> {
    match request.extensions().get::<Caller>() {
        Some(Caller::Manager) => Ok(next.run(request).await),
        _ => Err(ApiError::Forbidden(
            "only the manager's control key may use this route",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(accepted: &[&str]) -> AcceptedKeys {
        AcceptedKeys {
            digests: accepted
                .iter()
                .map(|k| Sha256::digest(k.as_bytes()).into())
                .collect(),
        }
    }

    #[test]
    fn accepts_only_the_configured_keys() {
        let k = keys(&["user-key", "control-key"]);
        assert_eq!(k.caller("user-key"), Some(Caller::User));
        assert_eq!(k.caller("control-key"), Some(Caller::Manager));
        assert!(!k.accepts("user-key "));
        assert!(!k.accepts(""));
    }

    #[test]
    fn rejects_malformed_digests() {
        assert!(parse_digest("abc").is_err());
        assert!(parse_digest(&"0".repeat(64)).is_ok());
    }
}
