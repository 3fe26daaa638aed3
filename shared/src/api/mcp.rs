//! Arguments of the tools of the manager's MCP endpoint (`/mcp`) that are not a REST body already
//! (`create_instance` takes [`CreateInstanceRequest`](super::instances::CreateInstanceRequest) itself).

use garde::Validate;
use serde::{Deserialize, Serialize};

/// One instance: `get_instance`, `start_instance`, `stop_instance`, `restart_instance`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct InstanceRef {
    /// The instance's id (`list_instances` shows them).
    #[garde(length(min = 1, max = 128), custom(crate::rules::not_blank))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 128))]
    pub instance_id: String,
}

/// `list_instances`: a page of the caller's instances (every one an admin or operator may see).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ListInstancesArgs {
    /// At most this many (1 to 10000; default all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(inner(range(min = 1, max = 10_000)))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 10000))]
    pub limit: Option<u32>,
    /// Skip this many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(inner(range(max = super::MAX_OFFSET)))]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1000000000))]
    pub offset: Option<u32>,
    /// Only bots in this state. (These filters and the order are `GET /api/v1/instances`'s, checked
    /// there.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub status: Option<super::instances::InstanceStatus>,
    /// Only bots of this provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub provider: Option<crate::Provider>,
    /// Only bots of this owner (user id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub owner: Option<String>,
    /// Only bots carrying this label: `key=value`, or `key` for any value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub label: Option<String>,
    /// Only bots whose name, id, owner, account or @handle contains this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub q: Option<String>,
    /// What to order by (default `created`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub sort: Option<super::instances::InstanceSort>,
    /// `asc` (default) or `desc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub order: Option<super::instances::SortOrder>,
}

/// `get_logs`: the last lines of an instance's worker log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LogsArgs {
    #[garde(length(min = 1, max = 128), custom(crate::rules::not_blank))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 128))]
    pub instance_id: String,
    /// The last this many lines: 1 to 10000, default 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(inner(range(min = 1, max = 10_000)))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 10000))]
    pub tail: Option<u32>,
}

/// `get_resources`: one instance's CPU and memory, or (without `instance_id`, operators and admins)
/// the host's and the fleet's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ResourcesArgs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(inner(length(min = 1, max = 128), custom(crate::rules::not_blank)))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 128))]
    pub instance_id: Option<String>,
}
