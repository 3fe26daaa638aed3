//! `/api/v1/api-keys` (seed 004): keys with scopes, optionally bound to one instance and expiring, shown
//! once and kept as SHA-256 digests; revoked at once.

use std::collections::BTreeSet;

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use shared::{
    ErrorBody,
    api::{
        Done,
        users::{ApiKeyList, ApiKeyView, CreateApiKeyRequest, CreatedApiKey, Role, Scope},
    },
    http::ValidJson,
};

use super::{AppState, views::rfc3339};
use crate::{
    auth::{self, Principal, USER_KEY_PREFIX},
    domain::now_ms,
    error::ApiError,
    keys,
    store::users::ApiKeyRow,
};

fn view(k: &ApiKeyRow) -> ApiKeyView {
    ApiKeyView {
        id: k.id.clone(),
        name: k.name.clone(),
        key_hint: k.key_hint.clone(),
        user_id: k.user_id.clone(),
        scopes: auth::parse_scopes(&k.scopes).into_iter().collect(),
        instance_id: k.instance_id.clone(),
        created_at: rfc3339(k.created_at),
        expires_at: k.expires_at.map(rfc3339),
        last_used_at: k.last_used_at.map(rfc3339),
    }
}

/// Mint an API key. It acts as its owner (the caller; admins may name another user) with at most the
/// scopes asked, which must be within the owner's role and the caller's own scopes. The key is in the
/// answer once; the manager keeps only its digest.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "api-keys", operation_id = "create_api_key",
    request_body = CreateApiKeyRequest,
    responses(
        (status = 201, description = "The key, shown this once", body = CreatedApiKey),
        (status = 403, description = "Only admins may mint keys for others; a bound key may mint none", body = ErrorBody),
        (status = 404, description = "No such instance (or user)", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn create_api_key(
    State(state): State<AppState>,
    principal: Principal,
    ValidJson(body): ValidJson<CreateApiKeyRequest>,
) -> Result<(StatusCode, Json<CreatedApiKey>), ApiError> {
    if principal.instance_id.is_some() {
        return Err(ApiError::Forbidden(
            "a key bound to an instance cannot mint keys".into(),
        ));
    }
    let owner = match body.user_id.as_deref() {
        None => principal.user_id.clone(),
        Some(id) if principal.user_id.as_deref() == Some(id) => Some(id.to_string()),
        Some(id) if principal.role == Role::Admin => {
            state
                .auth
                .user(id)
                .ok_or_else(|| ApiError::NotFound(format!("user {id} not found")))?;
            Some(id.to_string())
        }
        Some(_) => {
            return Err(ApiError::Forbidden(
                "only admins may mint keys for another user".into(),
            ));
        }
    };
    let owner_role = match &owner {
        None => Role::Admin,
        Some(id) => state
            .auth
            .user(id)
            .and_then(|u| Role::parse(&u.role))
            .unwrap_or(Role::User),
    };
    let scopes: BTreeSet<Scope> = body.scopes.iter().copied().collect();
    let within_role = Principal::role_scopes(owner_role);
    if let Some(s) = scopes.iter().find(|s| !within_role.contains(s)) {
        return Err(ApiError::validation(
            "scopes",
            format!("a {} may not hold the `{s}` scope", owner_role.as_str()),
        ));
    }
    if let Some(s) = scopes.iter().find(|s| !principal.has(**s)) {
        return Err(ApiError::validation(
            "scopes",
            format!("this credential lacks the `{s}` scope, so it cannot grant it"),
        ));
    }
    if let Some(id) = &body.instance_id {
        let visible = state.fleet.cache.get(id).is_some_and(|r| {
            principal.may_see(id, &r.user_id)
                && (owner_role != Role::User || owner.as_deref() == Some(r.user_id.as_str()))
        });
        if !visible {
            return Err(ApiError::instance_not_found(id));
        }
    }
    let expires_at = match &body.expires_at {
        None => None,
        Some(text) => {
            let at =
                time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| ApiError::validation("expires_at", "not an RFC 3339 date-time"))?;
            let ms = (at.unix_timestamp_nanos() / 1_000_000) as i64;
            if ms <= now_ms() {
                return Err(ApiError::validation("expires_at", "must be in the future"));
            }
            Some(ms)
        }
    };
    let key = keys::generate(USER_KEY_PREFIX);
    let row = ApiKeyRow {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: owner,
        name: body.name,
        key_sha256: keys::sha256_hex(&key),
        key_hint: keys::hint(&key),
        scopes: auth::format_scopes(&scopes),
        instance_id: body.instance_id,
        expires_at,
        created_at: now_ms(),
        last_used_at: None,
    };
    let row = state.auth.add_key(row).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiKey {
            key,
            view: view(&row),
        }),
    ))
}

/// The caller's keys (for the bootstrap key: the admin keys it minted), never the keys themselves.
#[utoipa::path(get, path = "/api/v1/api-keys/me", tag = "api-keys", operation_id = "list_my_api_keys",
    responses((status = 200, description = "Keys, oldest first", body = ApiKeyList)),
    security(("admin_key" = [])))]
pub async fn list_my_api_keys(
    State(state): State<AppState>,
    principal: Principal,
) -> Json<ApiKeyList> {
    let keys: Vec<ApiKeyView> = state
        .auth
        .keys_of(principal.user_id.as_deref())
        .iter()
        .map(view)
        .collect();
    Json(ApiKeyList {
        total: keys.len(),
        keys,
    })
}

/// Revoke a key: the next request with it gets 401. The caller's own keys; admins any key.
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "api-keys", operation_id = "revoke_api_key",
    params(("id" = String, Path, description = "Key id")),
    responses(
        (status = 200, description = "Revoked", body = Done),
        (status = 404, description = "No such key of the caller's", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn revoke_api_key(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Done>, ApiError> {
    let key = state
        .auth
        .key(&id)
        .filter(|k| {
            (principal.role == Role::Admin && principal.instance_id.is_none())
                || (k.user_id.is_some() && k.user_id == principal.user_id)
        })
        .ok_or_else(|| ApiError::NotFound(format!("API key {id} not found")))?;
    state.auth.revoke_key(&key.id).await?;
    Ok(Json(Done::new(format!("API key {id} revoked"))))
}
