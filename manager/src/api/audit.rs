//! `GET /api/v1/audit` (admins): who did what, newest first.

use axum::{Json, extract::State};
use shared::{
    api::audit::{AuditEntry, AuditList, AuditQuery},
    http::ValidQuery,
};

use super::{AppState, views::rfc3339};
use crate::error::ApiError;

/// The audit log: every change (any method but GET), every login, and every refused request (403 and
/// the 404s of instances the caller may not see), with who made it and the answer's status. Kept for
/// `--audit-retention-days`.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", operation_id = "list_audit",
    params(AuditQuery),
    responses((status = 200, description = "Entries, newest first", body = AuditList)),
    security(("admin_key" = [])))]
pub async fn list_audit(
    State(state): State<AppState>,
    ValidQuery(q): ValidQuery<AuditQuery>,
) -> Result<Json<AuditList>, ApiError> {
    let (rows, total) = state
        .fleet
        .store
        .list_audit(
            q.user_id.as_deref(),
            q.instance_id.as_deref(),
            i64::from(q.limit.unwrap_or(100)),
            i64::from(q.offset),
        )
        .await?;
    Ok(Json(AuditList {
        entries: rows
            .into_iter()
            .map(|r| AuditEntry {
                id: r.id,
                at: rfc3339(r.at),
                actor: r.actor,
                user_id: r.user_id,
                key_id: r.key_id,
                method: r.method,
                route: r.route,
                instance_id: r.instance_id,
                status: u16::try_from(r.status).unwrap_or(0),
                remote_addr: r.remote_addr,
            })
            .collect(),
        total,
    }))
}
