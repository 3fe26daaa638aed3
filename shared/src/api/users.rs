//! `/api/v1/auth/*`, `/api/v1/users*` and `/api/v1/api-keys*`: who may call the manager, and what they
//! may do. Three roles (`admin` does everything; `operator` runs hosts and resources and reads every bot;
//! `user` owns bots and sees only those), and API keys whose scopes narrow their owner's role.

use garde::Validate;
use serde::{Deserialize, Serialize};

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything: users, keys, audit, hosts, every bot.
    Admin,
    /// Hosts and resources; every bot read-only.
    Operator,
    /// Their own bots.
    User,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Operator => "operator",
            Self::User => "user",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Admin, Self::Operator, Self::User]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// What an API key may do, within its owner's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Read bots, their messages, logs, history (and, for operators, hosts and resources).
    Read,
    /// Make a bot send (the agent test).
    Send,
    /// Create, start, stop, restart and delete bots; replay webhooks; operators: drain hosts.
    Control,
    /// Change a bot's settings: its spec, webhook, API key.
    Settings,
    /// Users, keys of others, audit, manager maintenance (admins only).
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Self::Read,
        Self::Send,
        Self::Control,
        Self::Settings,
        Self::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Send => "send",
            Self::Control => "control",
            Self::Settings => "settings",
            Self::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn username_chars(value: &str, _: &()) -> garde::Result {
    if value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'))
    {
        Ok(())
    } else {
        Err(garde::Error::new(
            "only letters, digits and _ - . @ are allowed",
        ))
    }
}

/// `POST /api/v1/auth/login` (seed 000's shape).
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[garde(length(min = 1, max = 64))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub username: String,
    #[garde(length(min = 1, max = 1024))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 1024))]
    pub password: String,
}

/// A signed session token (a JWT) for `Authorization: Bearer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginResponse {
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

/// `POST /api/v1/users`.
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// Unique; letters, digits and `_ - . @`.
    #[garde(length(min = 1, max = 64), custom(username_chars))]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9_.@-]+$")
    )]
    pub username: String,
    /// At least 8 characters.
    #[garde(length(chars, min = 8, max = 1024))]
    #[cfg_attr(feature = "openapi", schema(min_length = 8, max_length = 1024))]
    pub password: String,
    #[garde(skip)]
    pub role: Role,
    /// Most bots this user may own; the manager's default when absent.
    #[serde(default)]
    #[garde(inner(range(min = 0, max = 100_000)))]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 100000))]
    pub max_instances: Option<i64>,
    /// Most memory (MiB, the sum of their bots' limits) this user may hold; the default when absent.
    #[serde(default)]
    #[garde(inner(range(min = 0, max = 16_777_216)))]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 16777216))]
    pub max_memory_mb: Option<i64>,
}

/// `PATCH /api/v1/users/{id}`: the fields given change. A new password, a new role or `disabled: true`
/// ends the user's sessions.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    #[serde(default)]
    #[garde(inner(length(chars, min = 8, max = 1024)))]
    #[cfg_attr(feature = "openapi", schema(min_length = 8, max_length = 1024))]
    pub password: Option<String>,
    #[serde(default)]
    #[garde(skip)]
    pub role: Option<Role>,
    #[serde(default)]
    #[garde(skip)]
    pub disabled: Option<bool>,
    /// `null` returns to the manager's default.
    #[serde(
        default,
        with = "crate::api::lifecycle::double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[garde(inner(inner(range(min = 0, max = 100_000))))]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>, minimum = 0, maximum = 100000))]
    pub max_instances: Option<Option<i64>>,
    /// `null` returns to the manager's default.
    #[serde(
        default,
        with = "crate::api::lifecycle::double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[garde(inner(inner(range(min = 0, max = 16_777_216))))]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>, minimum = 0, maximum = 16777216))]
    pub max_memory_mb: Option<Option<i64>>,
}

/// A user as shown (never the password or its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserView {
    pub id: String,
    pub username: String,
    pub role: Role,
    pub disabled: bool,
    /// The user's own quota, `null` when the manager's default applies.
    pub max_instances: Option<i64>,
    pub max_memory_mb: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
}

/// `GET /api/v1/users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserList {
    pub users: Vec<UserView>,
    pub total: usize,
}

/// One request-rate limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RateLimitView {
    /// Requests a second, on average.
    pub per_second: u32,
    /// Requests that may arrive at once.
    pub burst: u32,
}

/// One quota and what is used of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuotaView {
    /// `null`: unlimited (admins, the bootstrap key).
    pub limit: Option<i64>,
    pub used: i64,
}

/// `GET /api/v1/users/me`: who the caller is, what they may do, and their limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeView {
    /// `null` for the bootstrap admin key, which belongs to no user.
    pub user: Option<UserView>,
    pub role: Role,
    /// What this credential may do.
    pub scopes: Vec<Scope>,
    /// `session`, `api_key` or `bootstrap_key`.
    pub credential: String,
    /// The API key's id when the caller used one.
    pub key_id: Option<String>,
    /// The only instance this key works on, when it is bound to one.
    pub instance_id: Option<String>,
    pub rate_limit_per_key: RateLimitView,
    pub rate_limit_per_user: RateLimitView,
    pub max_instances: QuotaView,
    pub max_memory_mb: QuotaView,
}

/// `POST /api/v1/api-keys`.
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    #[garde(length(chars, min = 1, max = 128))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 128))]
    pub name: String,
    /// What the key may do (within its owner's role); at least one.
    #[garde(length(min = 1, max = 5))]
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 5))]
    pub scopes: Vec<Scope>,
    /// Bind the key to this instance: it works there and nowhere else.
    #[serde(default)]
    #[garde(inner(length(min = 1, max = 128)))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 128))]
    pub instance_id: Option<String>,
    /// RFC 3339; the key stops working then. Must be in the future.
    #[serde(default)]
    #[garde(inner(length(min = 1, max = 64)))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64, format = DateTime))]
    pub expires_at: Option<String>,
    /// Admins only: the user the key acts as (default: the caller; for the bootstrap key, no user —
    /// an admin key).
    #[serde(default)]
    #[garde(inner(length(min = 1, max = 128)))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 128))]
    pub user_id: Option<String>,
}

/// An API key as listed (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    /// The key's first characters, to tell keys apart.
    pub key_hint: String,
    /// `null`: an admin key made with the bootstrap key.
    pub user_id: Option<String>,
    pub scopes: Vec<Scope>,
    pub instance_id: Option<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
}

/// `POST /api/v1/api-keys` answer: the key, shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedApiKey {
    /// The key (`bfk_…`-like prefix plus 256 random bits). Only shown once: the manager keeps a digest.
    pub key: String,
    #[serde(flatten)]
    pub view: ApiKeyView,
}

/// `GET /api/v1/api-keys/me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyList {
    pub keys: Vec<ApiKeyView>,
    pub total: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_scopes_read_their_wire_names() {
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::json!(s.as_str())
            );
        }
        assert_eq!(Role::parse("operator"), Some(Role::Operator));
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn quotas_left_out_of_an_update_are_not_sent_as_null() {
        let role_only = UpdateUserRequest {
            role: Some(Role::Operator),
            ..Default::default()
        };
        let json = serde_json::to_value(&role_only).unwrap();
        assert!(json.get("max_instances").is_none(), "{json}");
        assert!(json.get("max_memory_mb").is_none(), "{json}");
        let back: UpdateUserRequest = serde_json::from_value(json).unwrap();
        assert_eq!((back.max_instances, back.max_memory_mb), (None, None));
    }

    #[test]
    fn bad_usernames_and_short_passwords_are_refused() {
        let ok = CreateUserRequest {
            username: "ann.o@x".into(),
            password: "12345678".into(),
            role: Role::User,
            max_instances: None,
            max_memory_mb: None,
        };
        assert!(ok.validate().is_ok());
        let mut bad = ok.clone();
        bad.username = "ann o".into();
        assert!(bad.validate().is_err());
        let mut bad = ok;
        bad.password = "1234567".into();
        assert!(bad.validate().is_err());
    }
}
