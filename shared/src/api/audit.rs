//! `GET /api/v1/audit`: who (a user, an API key, the bootstrap key) did what (method, route, instance,
//! outcome) and when. Every change is recorded, and every login and refused request; reads are not.

use garde::Validate;
use serde::{Deserialize, Serialize};

/// Most entries a page may ask for.
pub const MAX_AUDIT: u32 = 1000;

/// `?user_id=&instance_id=&limit=&offset=` of `GET /api/v1/audit` (newest first).
#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only this user's entries (by user id).
    #[garde(inner(length(min = 1, max = 128)))]
    #[cfg_attr(feature = "openapi", param(min_length = 1, max_length = 128))]
    pub user_id: Option<String>,
    /// Only entries about this instance.
    #[garde(inner(length(min = 1, max = 128)))]
    #[cfg_attr(feature = "openapi", param(min_length = 1, max_length = 128))]
    pub instance_id: Option<String>,
    /// At most this many, 1 to 1000 (default 100).
    #[garde(inner(range(min = 1, max = MAX_AUDIT)))]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000))]
    pub limit: Option<u32>,
    /// Skip this many.
    #[serde(default)]
    #[garde(range(max = crate::api::MAX_OFFSET))]
    #[cfg_attr(feature = "openapi", param(minimum = 0, maximum = 1000000000))]
    pub offset: u32,
}

/// One audited request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    pub id: String,
    pub at: String,
    /// `user:<id>`, `key:<id>`, `bootstrap`, or `anonymous` (no valid credential).
    pub actor: String,
    pub user_id: Option<String>,
    pub key_id: Option<String>,
    pub method: String,
    /// The route's pattern (`/api/v1/instances/{id}/stop`).
    pub route: String,
    pub instance_id: Option<String>,
    /// The HTTP status answered.
    pub status: u16,
    /// The caller's address.
    pub remote_addr: Option<String>,
}

/// `GET /api/v1/audit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditList {
    pub entries: Vec<AuditEntry>,
    pub total: i64,
}
