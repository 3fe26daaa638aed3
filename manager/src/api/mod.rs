//! The manager's HTTP API. All routes are listed here; each resource has its own module.

mod auth;
mod health;
mod instance_access;
mod instance_memory;
mod instances;
mod overview;
mod views;

use std::{sync::Arc, time::Instant};

use axum::{Router, middleware, routing::get};

use crate::{fleet::Fleet, monitor::health::Prober};

/// What every handler can reach; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub fleet: Arc<Fleet>,
    pub prober: Arc<Prober>,
    /// Hex SHA-256 of the admin key.
    pub admin_key_sha256: Arc<String>,
    /// Base URL of this manager as users reach it.
    pub public_url: Arc<String>,
    /// Host users reach workers at.
    pub public_host: Arc<String>,
    pub wait_timeout: std::time::Duration,
    pub started_at: Instant,
}

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/api/v1", get(overview::get_overview))
        .route("/api/v1/", get(overview::get_overview))
        .route(
            "/api/v1/instances",
            get(instances::list_instances).post(instances::create_instance),
        )
        .route(
            "/api/v1/instances/memory/stats",
            get(instance_memory::get_stats),
        )
        .route(
            "/api/v1/instances/{id}",
            get(instances::get_instance).delete(instances::delete_instance),
        )
        .route(
            "/api/v1/instances/{id}/memory",
            get(instance_memory::get_memory),
        )
        .route(
            "/api/v1/instances/{id}/auth-status",
            get(instance_access::get_auth_status),
        )
        .route(
            "/api/v1/instances/{id}/credentials",
            get(instance_access::get_credentials),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_admin,
        ));
    Router::new()
        .route("/health", get(health::get_health))
        .merge(api)
        .fallback(overview::not_found)
        .method_not_allowed_fallback(overview::method_not_allowed)
        .with_state(state)
}
