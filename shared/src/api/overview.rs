//! `GET /api/v1/`: the map of the API.

use serde::{Deserialize, Serialize};

/// Where the main resources are; `{id}` stands for an instance id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiEndpoints {
    pub instances: String,
    pub instance: String,
    pub auth_status: String,
    pub credentials: String,
    pub memory: String,
    pub memory_stats: String,
    /// `…/{start,stop,restart,process}`: one route per verb.
    pub lifecycle: String,
    pub status_history: String,
    pub errors: String,
    pub activity_stats: String,
    pub logs: String,
    pub api_key: String,
    /// The machines bots run on.
    pub hosts: String,
    pub health: String,
}

/// `GET /api/v1/`. The full description of every route is the OpenAPI document at `/openapi.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiOverview {
    /// `v1`.
    pub version: String,
    pub endpoints: ApiEndpoints,
}
