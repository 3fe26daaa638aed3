//! JSON views of instances. Built field by field from the record, so a secret can only appear in a
//! response if a line here names it (none does).

use serde_json::{Value, json};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use crate::domain::InstanceRecord;

/// Unix milliseconds as RFC 3339 (UTC).
pub fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

fn opt_rfc3339(ms: Option<i64>) -> Value {
    ms.map(|m| Value::String(rfc3339(m))).unwrap_or(Value::Null)
}

/// The instance as listed and shown: configuration and state, never the token or keys.
pub fn instance(r: &InstanceRecord) -> Value {
    json!({
        "id": r.id,
        "user_id": r.user_id,
        "provider": r.provider,
        "type_instance": r.type_instance,
        "display_name": r.display_name,
        "port_api": r.port,
        "has_token": !r.token.is_empty(),
        "api_key_hint": r.api_key_hint,
        "agno_config": r.agno_config,
        "status": r.status,
        "status_reason": r.status_reason,
        "desired_state": r.desired_state,
        "auth_status": r.auth_status,
        "account": r.account,
        "phone_number": r.handle(),
        "is_ready_for_messages": r.is_ready_for_messages(),
        "limits": {
            "memory_limit_mb": r.memory_limit_mb,
            "cpu_limit": r.cpu_millis.map(|m| m as f64 / 1000.0),
        },
        "health": {
            "healthy": r.health_ok,
            "last_check_at": opt_rfc3339(r.last_health_at),
            "consecutive_failures": r.consecutive_failures,
        },
        "created_at": rfc3339(r.created_at),
        "updated_at": rfc3339(r.updated_at),
    })
}

/// The cached runtime state of an instance (`/memory`), in the shape of the replaced system, with
/// every value taken from the same record the database holds.
pub fn memory(r: &InstanceRecord) -> Value {
    json!({
        "instance_id": r.id,
        "user_id": r.user_id,
        "provider": r.provider,
        "type_instance": r.type_instance,
        "display_name": r.display_name,
        "port_api": r.port,
        "status": r.status,
        "status_reason": r.status_reason,
        "desired_state": r.desired_state,
        "auth_status": r.auth_status,
        "is_ready_for_messages": r.is_ready_for_messages(),
        "account": r.account,
        "phone_number": r.handle(),
        "bot_id": r.bot_id,
        "container_id": r.container_id,
        "api_key_hint": r.api_key_hint,
        "api_key_created_at": rfc3339(r.api_key_created_at),
        "last_seen": opt_rfc3339(r.last_health_at),
        "running_since": opt_rfc3339(r.running_since),
        "last_poll_at": opt_rfc3339(r.last_poll_at),
        "api_key_usage_count": r.api_key_usage_count,
        "api_key_last_used_at": opt_rfc3339(r.api_key_last_used_at),
        "message_stats": {
            "sent_count": r.sent_count,
            "received_count": r.received_count,
        },
        "system_info": {
            "health_ok": r.health_ok,
            "restart_count": r.restart_count,
            "health_check_count": r.health_check_count,
            "consecutive_failures": r.consecutive_failures,
            "health_fail_count": r.health_fail_count,
            "crash_count": r.crash_count,
            "next_restart_at": opt_rfc3339(r.next_restart_at),
        },
        "error_info": {
            "error_count": r.error_count,
            "last_error": r.last_error,
        },
        "version": r.version,
        "created_at": rfc3339(r.created_at),
        "updated_at": rfc3339(r.updated_at),
    })
}
