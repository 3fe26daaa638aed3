//! `/api/v1/users` (admins) and `/api/v1/users/me` (anyone): users, their roles and quotas.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use shared::{
    ErrorBody,
    api::{
        Done,
        users::{
            CreateUserRequest, MeView, QuotaView, Role, UpdateUserRequest, UserList, UserView,
        },
    },
    http::ValidJson,
};

use super::{AppState, views::rfc3339};
use crate::{auth::Principal, domain::now_ms, error::ApiError, store::users::UserRow};

fn view(u: &UserRow) -> UserView {
    UserView {
        id: u.id.clone(),
        username: u.username.clone(),
        role: Role::parse(&u.role).unwrap_or(Role::User),
        disabled: u.disabled,
        max_instances: u.max_instances,
        max_memory_mb: u.max_memory_mb,
        created_at: rfc3339(u.created_at),
        updated_at: rfc3339(u.updated_at),
    }
}

fn user_not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("user {id} not found"))
}

/// What `owner` holds now: bots, and the memory (MiB) their limits add up to.
pub fn usage(state: &AppState, owner: &str) -> (i64, i64) {
    let default = state.auth.quotas.worker_memory_mb;
    state
        .fleet
        .cache
        .list()
        .iter()
        .filter(|r| r.user_id == owner && !r.deleting)
        .fold((0, 0), |(n, mem), r| {
            (n + 1, mem + r.memory_limit_mb.unwrap_or(default))
        })
}

/// `owner`'s quotas (`None`: unlimited — admins, and owners that are not users).
pub fn quotas(state: &AppState, owner: &str) -> (Option<i64>, Option<i64>) {
    match state.auth.user(owner) {
        Some(u) if Role::parse(&u.role) != Some(Role::Admin) => (
            Some(u.max_instances.unwrap_or(state.auth.quotas.max_instances)),
            Some(u.max_memory_mb.unwrap_or(state.auth.quotas.max_memory_mb)),
        ),
        _ => (None, None),
    }
}

/// Refuses (409) a change that would take `owner` past a quota: `more_instances` more bots, and memory
/// limits that grow by `more_memory_mb`.
pub fn check_quota(
    state: &AppState,
    owner: &str,
    more_instances: i64,
    more_memory_mb: i64,
) -> Result<(), ApiError> {
    let (max_instances, max_memory) = quotas(state, owner);
    let (count, memory) = usage(state, owner);
    if let Some(max) = max_instances
        && more_instances > 0
        && count + more_instances > max
    {
        return Err(ApiError::Conflict(format!(
            "quota reached: this user may own {max} bots and owns {count}"
        )));
    }
    if let Some(max) = max_memory
        && more_memory_mb > 0
        && memory + more_memory_mb > max
    {
        return Err(ApiError::Conflict(format!(
            "quota reached: this user's bots may use {max} MiB in all; they use {memory} MiB and this \
             would add {more_memory_mb} MiB"
        )));
    }
    Ok(())
}

/// Create a user (admins).
#[utoipa::path(post, path = "/api/v1/users", tag = "users", operation_id = "create_user",
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "Created", body = UserView),
        (status = 409, description = "The username is taken", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn create_user(
    State(state): State<AppState>,
    ValidJson(body): ValidJson<CreateUserRequest>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    let now = now_ms();
    let row = UserRow {
        id: uuid::Uuid::new_v4().to_string(),
        username: body.username,
        password_hash: state.auth.hash_password(&body.password).await?,
        role: body.role.as_str().into(),
        disabled: false,
        max_instances: body.max_instances,
        max_memory_mb: body.max_memory_mb,
        sessions_valid_after: 0,
        created_at: now,
        updated_at: now,
    };
    let row = state.auth.add_user(row).await?;
    Ok((StatusCode::CREATED, Json(view(&row))))
}

/// Every user (admins).
#[utoipa::path(get, path = "/api/v1/users", tag = "users", operation_id = "list_users",
    responses((status = 200, description = "Users, oldest first", body = UserList)),
    security(("admin_key" = [])))]
pub async fn list_users(State(state): State<AppState>) -> Json<UserList> {
    let users: Vec<UserView> = state.auth.users().iter().map(view).collect();
    Json(UserList {
        total: users.len(),
        users,
    })
}

/// One user (admins).
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", operation_id = "get_user",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, description = "The user", body = UserView)),
    security(("admin_key" = [])))]
pub async fn get_user(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    let user = state.auth.user(&id).ok_or_else(|| user_not_found(&id))?;
    Ok(Json(view(&user)))
}

/// Change a user (admins). A new password, role or `disabled: true` ends their sessions at once.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", operation_id = "update_user",
    params(("id" = String, Path, description = "User id")),
    request_body = UpdateUserRequest,
    responses((status = 200, description = "The user as changed", body = UserView)),
    security(("admin_key" = [])))]
pub async fn update_user(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ValidJson(body): ValidJson<UpdateUserRequest>,
) -> Result<Json<UserView>, ApiError> {
    let mut user = state.auth.user(&id).ok_or_else(|| user_not_found(&id))?;
    let now = now_ms();
    let mut end_sessions = false;
    if let Some(password) = &body.password {
        user.password_hash = state.auth.hash_password(password).await?;
        end_sessions = true;
    }
    if let Some(role) = body.role
        && role.as_str() != user.role
    {
        user.role = role.as_str().into();
        end_sessions = true;
    }
    if let Some(disabled) = body.disabled {
        end_sessions |= disabled && !user.disabled;
        user.disabled = disabled;
    }
    if let Some(max) = body.max_instances {
        user.max_instances = max;
    }
    if let Some(max) = body.max_memory_mb {
        user.max_memory_mb = max;
    }
    if end_sessions {
        user.sessions_valid_after = now;
    }
    user.updated_at = now;
    let user = state.auth.update_user(user).await?;
    Ok(Json(view(&user)))
}

/// Delete a user and their API keys (admins). A user who still owns bots is kept (409): delete the
/// bots first.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users", operation_id = "delete_user",
    params(("id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "Deleted", body = Done),
        (status = 409, description = "The user still owns bots", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn delete_user(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Done>, ApiError> {
    state.auth.user(&id).ok_or_else(|| user_not_found(&id))?;
    let (bots, _) = usage(&state, &id);
    if bots > 0 {
        return Err(ApiError::Conflict(format!(
            "user {id} still owns {bots} bots; delete them first"
        )));
    }
    state.auth.remove_user(&id).await?;
    // Their templates go with them (bots made from them keep their configuration).
    state.fleet.store.delete_templates_of(&id).await?;
    Ok(Json(Done::new(format!("user {id} deleted"))))
}

/// Who the caller is: user, role, this credential's scopes, request-rate limits and quotas with what
/// is used of them.
#[utoipa::path(get, path = "/api/v1/users/me", tag = "users", operation_id = "get_me",
    responses((status = 200, description = "The caller", body = MeView)),
    security(("admin_key" = [])))]
pub async fn get_me(State(state): State<AppState>, principal: Principal) -> Json<MeView> {
    let user = principal
        .user_id
        .as_deref()
        .and_then(|id| state.auth.user(id));
    let (used_instances, used_memory) = principal
        .user_id
        .as_deref()
        .map_or((0, 0), |id| usage(&state, id));
    let (max_instances, max_memory) = principal
        .user_id
        .as_deref()
        .map_or((None, None), |id| quotas(&state, id));
    let rates = state.auth.limits.settings;
    Json(MeView {
        user: user.as_ref().map(view),
        role: principal.role,
        scopes: principal.scopes.iter().copied().collect(),
        credential: principal.credential.as_str().into(),
        key_id: principal.key_id.clone(),
        instance_id: principal.instance_id.clone(),
        rate_limit_per_key: rates.per_key.view(),
        rate_limit_per_user: rates.per_user.view(),
        max_instances: QuotaView {
            limit: max_instances,
            used: used_instances,
        },
        max_memory_mb: QuotaView {
            limit: max_memory,
            used: used_memory,
        },
    })
}
