//! `GET /api/v1/providers`: the providers bots run on, what each can do and needs.

use axum::Json;
use shared::{
    Provider,
    api::providers::{ProviderInfo, ProviderList},
};

#[utoipa::path(get, path = "/api/v1/providers", tag = "instances", summary = "Messaging providers, their credentials and capabilities",
    responses((status = 200, description = "Every provider", body = ProviderList)),
    security(("admin_key" = [])))]
pub async fn list_providers() -> Json<ProviderList> {
    let providers: Vec<ProviderInfo> = Provider::ALL
        .iter()
        .copied()
        .map(ProviderInfo::of)
        .collect();
    Json(ProviderList {
        success: true,
        count: providers.len(),
        providers,
    })
}
