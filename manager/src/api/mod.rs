//! The manager's HTTP API. All routes are listed here; each resource has its own module.

mod alerts;
mod auth;
mod events;
mod health;
mod instance_access;
mod instance_api_key;
mod instance_history;
mod instance_lifecycle;
mod instance_logs;
mod instance_memory;
mod instances;
mod metrics;
mod overview;
mod resources;
mod views;

use std::{sync::Arc, time::Instant};

use axum::{
    Router,
    extract::{MatchedPath, Request, State},
    middleware::{self, Next},
    response::Response,
    routing::{get, post},
};
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};

use crate::{
    fleet::Fleet,
    monitor::{health::Prober, performance::Performance, resources::Resources},
    reconcile::Reconciler,
};

/// What every handler can reach; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub fleet: Arc<Fleet>,
    pub reconciler: Arc<Reconciler>,
    pub prober: Arc<Prober>,
    pub resources: Arc<Resources>,
    pub performance: Arc<Performance>,
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
        .route("/api/v1/resources", get(resources::overview))
        .route("/api/v1/resources/instances", get(resources::instances))
        .route("/api/v1/resources/ports", get(resources::ports))
        .route(
            "/api/v1/resources/ports/clear-cache",
            post(resources::clear_port_cache),
        )
        .route("/api/v1/resources/performance", get(resources::performance))
        .route("/api/v1/resources/health", get(resources::health))
        .route(
            "/api/v1/resources/memory/cleanup",
            post(resources::memory_cleanup),
        )
        .route(
            "/api/v1/resources/stress-test",
            post(resources::stress_test),
        )
        .route("/api/v1/resources/history", get(resources::history))
        .route("/api/v1/health/history", get(health::history))
        .route("/api/v1/events", get(events::list))
        .route("/api/v1/events/stream", get(events::stream))
        .route("/api/v1/alerts", get(alerts::list))
        .route("/api/v1/alerts/{id}/resolve", post(alerts::resolve))
        .route(
            "/api/v1/alerts/thresholds",
            get(alerts::thresholds).post(alerts::create_threshold),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_admin,
        ));
    Router::new()
        .route("/health", get(health::get_health))
        .route("/metrics", get(metrics::get_metrics))
        .merge(api)
        .fallback(overview::not_found)
        .method_not_allowed_fallback(overview::method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), track_request))
        .layer(
            tower::ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http().make_span_with(|request: &Request| {
                        let id = request
                            .headers()
                            .get("x-request-id")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-");
                        tracing::info_span!("request", method = %request.method(), uri = %request.uri().path(), request_id = %id)
                    }),
                )
                .layer(PropagateRequestIdLayer::x_request_id()),
        )
        .with_state(state)
}

/// Times every request by route (Prometheus) and counts requests in flight.
async fn track_request(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let _in_flight = state.performance.request_started();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    crate::metrics::record_http(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}
