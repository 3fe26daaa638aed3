//! Who is calling: what the auth middleware found behind the bearer credential, put in the request's
//! extensions for the handlers (which filter what they show by it) and for the audit log.

use std::collections::BTreeSet;

use axum::{extract::FromRequestParts, http::request::Parts};
pub use shared::api::users::{Role, Scope};

use crate::error::ApiError;

/// The kind of credential presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// A login session (a JWT from `POST /auth/login`).
    Session,
    /// An API key from `POST /api-keys`.
    ApiKey,
    /// The bootstrap admin key (`--admin-key`).
    BootstrapKey,
}

impl Credential {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::ApiKey => "api_key",
            Self::BootstrapKey => "bootstrap_key",
        }
    }
}

/// The caller of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// `None`: the bootstrap admin key.
    pub user_id: Option<String>,
    /// The API key's id, when one was used.
    pub key_id: Option<String>,
    /// The session's id (JWT `jti`), when a session was used.
    pub session_id: Option<String>,
    pub credential: Credential,
    pub role: Role,
    /// What this credential may do (a key's scopes within its owner's role).
    pub scopes: BTreeSet<Scope>,
    /// A key bound to one instance works on that instance alone.
    pub instance_id: Option<String>,
}

impl Principal {
    /// The bootstrap admin key: an admin that belongs to no user.
    pub fn bootstrap() -> Self {
        Self {
            user_id: None,
            key_id: None,
            session_id: None,
            credential: Credential::BootstrapKey,
            role: Role::Admin,
            scopes: Scope::ALL.into_iter().collect(),
            instance_id: None,
        }
    }

    /// Every scope a role may hold.
    pub fn role_scopes(role: Role) -> BTreeSet<Scope> {
        match role {
            Role::Admin => Scope::ALL.into_iter().collect(),
            Role::Operator | Role::User => Scope::ALL
                .into_iter()
                .filter(|s| *s != Scope::Admin)
                .collect(),
        }
    }

    /// How the audit log names the caller: `key:<id>`, `user:<id>` or `bootstrap`.
    pub fn actor(&self) -> String {
        match (&self.key_id, &self.user_id) {
            (Some(key), _) => format!("key:{key}"),
            (None, Some(user)) => format!("user:{user}"),
            (None, None) => "bootstrap".into(),
        }
    }

    /// Who a change was made by, for the settings history.
    pub fn attribution(&self) -> crate::store::settings_history::Attribution {
        crate::store::settings_history::Attribution {
            actor: self.actor(),
            rollback: false,
        }
    }

    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// Admins and operators see every bot.
    pub fn sees_all(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Operator) && self.instance_id.is_none()
    }

    /// Whether the caller may see the instance `instance_id` owned by `owner`.
    pub fn may_see(&self, instance_id: &str, owner: &str) -> bool {
        if let Some(bound) = &self.instance_id {
            return bound == instance_id && self.owns_or_oversees(owner);
        }
        self.owns_or_oversees(owner)
    }

    /// Whether the caller may see the instance `instance_id` as the cache holds it now (an unknown id:
    /// no).
    pub fn may_see_cached(&self, cache: &crate::cache::InstanceCache, instance_id: &str) -> bool {
        cache
            .get(instance_id)
            .is_some_and(|r| self.may_see(instance_id, &r.user_id))
    }

    /// Whether the caller may change the instance (owner or admin; operators read only).
    pub fn may_change(&self, instance_id: &str, owner: &str) -> bool {
        if !self.may_see(instance_id, owner) {
            return false;
        }
        self.role == Role::Admin || self.user_id.as_deref() == Some(owner)
    }

    fn owns_or_oversees(&self, owner: &str) -> bool {
        matches!(self.role, Role::Admin | Role::Operator) || self.user_id.as_deref() == Some(owner)
    }

    /// The key the per-key rate limit counts on: the API key, the session, or the bootstrap key.
    pub fn rate_key(&self) -> String {
        match (&self.key_id, &self.session_id) {
            (Some(key), _) => format!("key:{key}"),
            (None, Some(session)) => format!("session:{session}"),
            (None, None) => "bootstrap".into(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or(ApiError::Unauthorized("missing bearer credential"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, role: Role) -> Principal {
        Principal {
            user_id: Some(id.into()),
            key_id: None,
            session_id: Some("s".into()),
            credential: Credential::Session,
            role,
            scopes: Principal::role_scopes(role),
            instance_id: None,
        }
    }

    #[test]
    fn owners_see_and_change_their_bots_operators_only_see_admins_do_both() {
        let ann = user("ann", Role::User);
        assert!(ann.may_see("i1", "ann") && ann.may_change("i1", "ann"));
        assert!(!ann.may_see("i2", "bob") && !ann.may_change("i2", "bob"));
        let op = user("op", Role::Operator);
        assert!(op.may_see("i2", "bob") && !op.may_change("i2", "bob"));
        let admin = Principal::bootstrap();
        assert!(admin.may_see("i2", "bob") && admin.may_change("i2", "bob"));
        let mut bound = user("ann", Role::User);
        bound.instance_id = Some("i1".into());
        assert!(bound.may_see("i1", "ann") && !bound.may_see("i3", "ann"));
        assert!(!bound.sees_all());
    }
}
