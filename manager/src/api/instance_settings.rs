//! `GET /api/v1/instances/{id}/settings/history` and `POST /api/v1/instances/{id}/settings/rollback/{history_id}`:
//! every configuration change, key by key, and the way back to a key's earlier value.

use axum::{
    Json,
    extract::{Path, State},
};
use shared::{
    ErrorBody,
    api::settings::{
        RollbackResponse, SettingsHistory, SettingsHistoryEntry, SettingsHistoryQuery,
    },
    http::ValidQuery,
};

use super::{AppState, views};
use crate::{auth::Principal, error::ApiError, store::settings_history::HistoryRow};

fn entry(row: HistoryRow) -> SettingsHistoryEntry {
    SettingsHistoryEntry {
        id: row.id,
        scope: row.change.scope.to_string(),
        key: row.change.key,
        old_value: row.change.old_value,
        new_value: row.change.new_value,
        secret: row.change.secret,
        changed_by: row.changed_by,
        changed_at: views::rfc3339(row.changed_at),
        change_type: row.change_type,
    }
}

#[utoipa::path(get, path = "/api/v1/instances/{id}/settings/history", tag = "settings", summary = "Configuration changes key by key, newest first",
    params(("id" = String, Path, description = "Instance id"), SettingsHistoryQuery),
    responses((status = 200, description = "Changes, newest first", body = SettingsHistory)),
    security(("admin_key" = [])))]
pub async fn get_settings_history(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ValidQuery(query): ValidQuery<SettingsHistoryQuery>,
) -> Result<Json<SettingsHistory>, ApiError> {
    state.fleet.get(&id)?;
    let rows = state
        .fleet
        .store
        .settings_history(
            &id,
            query.scope.as_deref(),
            query.key.as_deref(),
            i64::from(query.limit.unwrap_or(50)),
        )
        .await?;
    let history: Vec<SettingsHistoryEntry> = rows.into_iter().map(entry).collect();
    Ok(Json(SettingsHistory {
        success: true,
        count: history.len(),
        history,
    }))
}

#[utoipa::path(post, path = "/api/v1/instances/{id}/settings/rollback/{history_id}", tag = "settings", summary = "Give a key its value from before a change (recorded as a rollback)",
    params(("id" = String, Path, description = "Instance id"), ("history_id" = String, Path, description = "A settings history entry")),
    responses((status = 200, description = "Rolled back; bot configuration applied live, limits by the next process", body = RollbackResponse),
        (status = 404, description = "No such history entry for this instance", body = ErrorBody),
        (status = 409, description = "A secret (its value was never kept), a value no longer accepted, or another operation is in progress", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn rollback_setting(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, history_id)): Path<(String, String)>,
) -> Result<Json<RollbackResponse>, ApiError> {
    state.fleet.get(&id)?;
    let row = state
        .fleet
        .store
        .settings_history_row(&id, &history_id)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no settings history entry {history_id} for instance {id}"
            ))
        })?;
    let r = state
        .verbs
        .rollback(&id, &row, &principal.attribution())
        .await?;
    Ok(Json(RollbackResponse {
        success: true,
        message: format!(
            "Rolled back {}.{} to its value before {}",
            row.change.scope,
            row.change.key,
            views::rfc3339(row.changed_at)
        ),
        instance: views::instance(&r),
    }))
}
