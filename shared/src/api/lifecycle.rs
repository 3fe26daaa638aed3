//! `POST /api/v1/instances/{id}/{start,stop,restart,process}` and `PATCH /api/v1/instances/{id}`.

use garde::Validate;
use serde::{Deserialize, Serialize};

use super::instances::{InstanceStatus, InstanceView, ProcessAction, ProcessDetails};
use crate::agent::AgentConfig;

/// The answer of `start`, `stop` and `restart`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerbResponse {
    pub success: bool,
    pub instance_id: String,
    pub status: InstanceStatus,
    pub message: String,
    pub instance: InstanceView,
}

/// The answer of `process`: nothing to apply, or the worker recreated with the stored configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProcessResponse {
    pub success: bool,
    pub instance_id: String,
    pub action: ProcessAction,
    pub details: ProcessDetails,
    pub message: String,
}

/// `PATCH /api/v1/instances/{id}`: what to change; absent fields stay. Stored at once, applied by the
/// next `process`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateInstanceRequest {
    /// A new Telegram bot token. Write-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(inner(custom(super::instances::telegram_token)))]
    #[cfg_attr(
        feature = "openapi",
        schema(write_only, pattern = r"^[0-9]{1,20}:[A-Za-z0-9_-]{20,100}$")
    )]
    pub token: Option<String>,
    /// New credentials, whole, in the instance's provider's shape. Write-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    #[cfg_attr(feature = "openapi", schema(write_only, value_type = Option<super::instances::CredentialsSchema>))]
    pub credentials: Option<serde_json::Value>,
    /// A new agent configuration; `null` removes it.
    #[serde(
        default,
        with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[garde(dive)]
    pub agno_config: Option<Option<AgentConfig>>,
    /// Memory limit of the worker container, 16 to 16384 MB.
    #[serde(default)]
    #[garde(inner(range(min = 16, max = 16_384)))]
    #[cfg_attr(feature = "openapi", schema(minimum = 16, maximum = 16384))]
    pub memory_limit_mb: Option<i64>,
    /// CPUs of the worker container, 0.01 to 64.
    #[serde(default)]
    #[garde(inner(range(min = 0.01, max = 64.0)))]
    #[cfg_attr(feature = "openapi", schema(minimum = 0.01, maximum = 64))]
    pub cpu_limit: Option<f64>,
}

/// `agno_config` absent (keep), `null` (remove) or a value (replace). Fields using it also need
/// `skip_serializing_if = "Option::is_none"`, or "absent" is written as `null`.
pub(crate) mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn deserialize<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(d).map(Some)
    }

    pub fn serialize<S, T>(v: &Option<Option<T>>, s: S) -> Result<S::Ok, S::Error>
    where
        S: Serializer,
        T: Serialize,
    {
        match v {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }
}

/// `PATCH /api/v1/instances/{id}` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateInstanceResponse {
    pub success: bool,
    pub instance_id: String,
    /// True while the stored configuration differs from the running worker's; `process` applies it.
    pub pending_changes: bool,
    pub message: String,
    pub instance: InstanceView,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absent_agent_is_not_sent_as_null() {
        let only_memory = UpdateInstanceRequest {
            memory_limit_mb: Some(128),
            ..Default::default()
        };
        let json = serde_json::to_value(&only_memory).unwrap();
        assert!(json.get("agno_config").is_none(), "{json}");
        let back: UpdateInstanceRequest = serde_json::from_value(json).unwrap();
        assert!(back.agno_config.is_none());
        let remove = UpdateInstanceRequest {
            agno_config: Some(None),
            ..Default::default()
        };
        let json = serde_json::to_value(&remove).unwrap();
        assert_eq!(json["agno_config"], serde_json::Value::Null);
        let back: UpdateInstanceRequest = serde_json::from_value(json).unwrap();
        assert_eq!(back.agno_config, Some(None));
    }
}
