//! Login sessions: short-lived HS256 JWTs (seed 000's `access_token`), revocable by their id (`jti`).

use std::{collections::HashMap, sync::RwLock, time::Duration};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::{domain::now_ms, store::Store};

/// What a session token says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id.
    pub sub: String,
    /// The session's id.
    pub jti: String,
    /// Issued at (unix seconds).
    pub iat: i64,
    /// Issued at, in unix ms (a password change within the same second still ends older sessions).
    pub iat_ms: i64,
    /// Expires at (unix seconds).
    pub exp: i64,
}

impl Claims {
    pub fn iat_ms(&self) -> i64 {
        self.iat_ms
    }
}

/// Issues and checks session tokens.
pub struct Sessions {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
    /// Logged-out sessions until they expire: id → expiry (unix ms).
    revoked: RwLock<HashMap<String, i64>>,
}

impl Sessions {
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub", "iat"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
            revoked: RwLock::default(),
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub async fn load_revoked(&self, store: &Store) -> Result<(), sqlx::Error> {
        let revoked = store.revoked_sessions(now_ms()).await?;
        *self.revoked.write().unwrap_or_else(|e| e.into_inner()) = revoked.into_iter().collect();
        Ok(())
    }

    pub fn issue(&self, user_id: &str) -> shared::api::users::LoginResponse {
        let now = now_ms();
        let claims = Claims {
            sub: user_id.to_string(),
            jti: uuid::Uuid::new_v4().simple().to_string(),
            iat: now / 1000,
            iat_ms: now,
            exp: now / 1000 + self.ttl.as_secs() as i64,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing with an in-memory key cannot fail");
        shared::api::users::LoginResponse {
            access_token: token,
            token_type: "bearer".into(),
            expires_in: self.ttl.as_secs(),
        }
    }

    /// The claims of a valid, unexpired, not logged-out token.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()?
            .claims;
        let revoked = self.revoked.read().unwrap_or_else(|e| e.into_inner());
        (!revoked.contains_key(&claims.jti)).then_some(claims)
    }

    /// Revokes a session: refused at once in memory, and kept in the database until it expires.
    pub async fn revoke(&self, store: &Store, jti: &str) -> Result<(), sqlx::Error> {
        let expires = now_ms() + self.ttl.as_millis() as i64;
        {
            let mut revoked = self.revoked.write().unwrap_or_else(|e| e.into_inner());
            let now = now_ms();
            revoked.retain(|_, exp| *exp > now);
            revoked.insert(jti.to_string(), expires);
        }
        store.revoke_session(jti, expires).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_only_with_its_key_and_until_it_expires() {
        let s = Sessions::new(b"0123456789abcdef0123456789abcdef", Duration::from_secs(60));
        let t = s.issue("u1");
        assert_eq!(t.token_type, "bearer");
        assert_eq!(t.expires_in, 60);
        assert_eq!(s.verify(&t.access_token).unwrap().sub, "u1");
        let other = Sessions::new(b"another key of thirty-two bytes!", Duration::from_secs(60));
        assert!(other.verify(&t.access_token).is_none());
        let expired = Sessions::new(b"0123456789abcdef0123456789abcdef", Duration::ZERO);
        let t = expired.issue("u1");
        std::thread::sleep(Duration::from_millis(1100));
        assert!(expired.verify(&t.access_token).is_none());
        assert!(s.verify("not.a.jwt").is_none());
    }
}
