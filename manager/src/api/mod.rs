//! The manager's HTTP API. All routes are listed here; each resource has its own module.

mod auth;
mod health;
mod instance_access;
mod instance_api_key;
mod instance_history;
mod instance_lifecycle;
mod instance_logs;
mod instance_memory;
mod instances;
mod overview;
mod views;

use std::{sync::Arc, time::Instant};

use axum::{
    Router, middleware,
    routing::{get, post},
};

use crate::{fleet::Fleet, monitor::health::Prober, reconcile::Reconciler};

/// What every handler can reach; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub fleet: Arc<Fleet>,
    pub reconciler: Arc<Reconciler>,
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
            get(instances::get_instance)
                .delete(instances::delete_instance)
                .patch(instance_lifecycle::update),
        )
        .route(
            "/api/v1/instances/{id}/start",
            post(instance_lifecycle::start),
        )
        .route(
            "/api/v1/instances/{id}/stop",
            post(instance_lifecycle::stop),
        )
        .route(
            "/api/v1/instances/{id}/restart",
            post(instance_lifecycle::restart),
        )
        .route(
            "/api/v1/instances/{id}/process",
            post(instance_lifecycle::process),
        )
        .route(
            "/api/v1/instances/{id}/status-history",
            get(instance_history::status_history),
        )
        .route(
            "/api/v1/instances/{id}/errors",
            get(instance_history::errors),
        )
        .route(
            "/api/v1/instances/{id}/clear-errors",
            post(instance_history::clear_errors),
        )
        .route(
            "/api/v1/instances/{id}/activity-stats",
            get(instance_history::activity_stats),
        )
        .route("/api/v1/instances/{id}/logs", get(instance_logs::logs))
        .route(
            "/api/v1/instances/{id}/api-key",
            get(instance_api_key::get_api_key),
        )
        .route(
            "/api/v1/instances/{id}/api-key/rotate",
            post(instance_api_key::rotate_api_key),
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
