//! Views of instances in the contract's types. Built field by field from the record, so a secret can only
//! appear in a response if a line here names it (none does: the token, the control key and the agent
//! key stay inside the manager).

use shared::api::{
    instances::{InstanceHealth, InstanceLimits, InstanceView},
    memory::{ErrorInfo, MemoryView, MessageStats, SystemInfo},
};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use crate::domain::InstanceRecord;

/// Unix milliseconds as RFC 3339 (UTC).
pub fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// The instance's ports.
pub fn ports(r: &InstanceRecord) -> shared::api::instances::InstancePorts {
    shared::api::instances::InstancePorts {
        api: r.port,
        mcp: r.mcp_port,
    }
}

/// The instance as listed and shown.
pub fn instance(r: &InstanceRecord) -> InstanceView {
    InstanceView {
        id: r.id.clone(),
        user_id: r.user_id.clone(),
        provider: r.provider,
        type_instance: r.type_instance.clone(),
        display_name: r.display_name.clone(),
        port_api: r.port,
        port_mcp: r.mcp_port,
        labels: r.labels.clone(),
        has_token: !r.token.is_empty(),
        api_key_hint: r.api_key_hint.clone(),
        agno_config: r.agno_config.as_ref().map(|c| c.agno_view()),
        config: r.agno_config.as_ref().map(|c| c.view()),
        paused: r.paused,
        config_applied: r.applied_config_revision == Some(r.config_revision),
        status: if r.deleting {
            crate::domain::InstanceStatus::Deleting
        } else {
            r.status
        },
        status_reason: r.status_reason.clone(),
        desired_state: r.desired_state,
        auth_status: r.auth_status,
        account: r.account.clone(),
        phone_number: r.handle(),
        is_ready_for_messages: r.is_ready_for_messages(),
        limits: InstanceLimits {
            memory_limit_mb: r.memory_limit_mb,
            cpu_limit: r.cpu_millis.map(|m| m as f64 / 1000.0),
        },
        health: InstanceHealth {
            healthy: r.health_ok,
            last_check_at: r.last_health_at.map(rfc3339),
            consecutive_failures: r.consecutive_failures,
            services: None,
        },
        restart_count: r.restart_count,
        sent_count: r.sent_count,
        received_count: r.received_count,
        created_at: rfc3339(r.created_at),
        updated_at: rfc3339(r.updated_at),
    }
}

/// The cached runtime state of an instance (`/memory`), in the shape of the replaced system, with
/// every value taken from the same record the database holds.
pub fn memory(r: &InstanceRecord) -> MemoryView {
    MemoryView {
        instance_id: r.id.clone(),
        user_id: r.user_id.clone(),
        provider: r.provider,
        type_instance: r.type_instance.clone(),
        display_name: r.display_name.clone(),
        port_api: r.port,
        port_mcp: r.mcp_port,
        status: if r.deleting {
            crate::domain::InstanceStatus::Deleting
        } else {
            r.status
        },
        status_reason: r.status_reason.clone(),
        desired_state: r.desired_state,
        auth_status: r.auth_status,
        is_ready_for_messages: r.is_ready_for_messages(),
        account: r.account.clone(),
        phone_number: r.handle(),
        bot_id: r.bot_id.clone(),
        container_id: r.container_id.clone(),
        api_key_hint: r.api_key_hint.clone(),
        api_key_created_at: rfc3339(r.api_key_created_at),
        last_seen: r.last_health_at.map(rfc3339),
        running_since: r.running_since.map(rfc3339),
        last_poll_at: r.last_poll_at.map(rfc3339),
        api_key_usage_count: r.api_key_usage_count,
        api_key_last_used_at: r.api_key_last_used_at.map(rfc3339),
        message_stats: MessageStats {
            sent_count: r.sent_count,
            received_count: r.received_count,
        },
        system_info: SystemInfo {
            health_ok: r.health_ok,
            restart_count: r.restart_count,
            health_check_count: r.health_check_count,
            consecutive_failures: r.consecutive_failures,
            health_fail_count: r.health_fail_count,
            crash_count: r.crash_count,
            next_restart_at: r.next_restart_at.map(rfc3339),
        },
        error_info: ErrorInfo {
            error_count: r.error_count,
            last_error: r.last_error.clone(),
        },
        version: r.version,
        created_at: rfc3339(r.created_at),
        updated_at: rfc3339(r.updated_at),
    }
}

/// Where a user follows the bot until it is ready.
pub fn status_check_url(public_url: &str, id: &str) -> String {
    format!("{public_url}/api/v1/instances/{id}/auth-status")
}

/// A value the store keeps as text (`active`, `docker_event`, `running`) as its contract enum, by the
/// enum's serde name. A value that does not decode is a fault of the database (written by no build of
/// the manager), answered 500 with the detail in the log.
pub fn stored<T: serde::de::DeserializeOwned>(
    column: &str,
    value: &str,
) -> Result<T, crate::error::ApiError> {
    use serde::de::{IntoDeserializer, value::Error};
    T::deserialize(IntoDeserializer::<Error>::into_deserializer(value)).map_err(|e| {
        crate::error::ApiError::Database(sqlx::Error::Decode(
            format!("{column} '{value}': {e}").into(),
        ))
    })
}
