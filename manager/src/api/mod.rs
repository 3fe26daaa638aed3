//! The manager's HTTP API. All routes are listed here; each resource has its own module.

mod alerts;
mod api_keys;
mod audit;
pub mod auth;
mod events;
mod health;
mod hosts;
mod instance_access;
mod instance_analytics;
mod instance_api_key;
mod instance_conversations;
mod instance_history;
mod instance_lifecycle;
mod instance_list;
mod instance_logs;
mod instance_memory;
mod instance_messages;
mod instance_qr;
mod instance_schedules;
mod instance_send;
mod instance_settings;
mod instance_test;
mod instance_webhook;
mod instances;
mod metrics;
mod overview;
mod platform_webhooks;
mod providers;
mod resources;
mod templates;
mod users;
mod views;

use std::{sync::Arc, time::Instant};

use axum::{
    Router,
    extract::{MatchedPath, Request, State},
    middleware::{self, Next},
    response::Response,
};
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};
use utoipa::OpenApi as _;
use utoipa_axum::{router::OpenApiRouter, routes};
use utoipa_swagger_ui::{SwaggerUi, Url};

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
    /// The user verbs (write the spec, wait for the reconciler).
    pub verbs: Arc<crate::verbs::Verbs>,
    pub prober: Arc<Prober>,
    /// The engine's hosts as last seen (host reads answer from it while the engine does not).
    pub hosts: Arc<crate::hosts::KnownHosts>,
    pub resources: Arc<Resources>,
    pub performance: Arc<Performance>,
    /// Users, keys, sessions, rate limits and quotas.
    pub auth: Arc<crate::auth::Auth>,
    /// Base URL of this manager as users reach it.
    pub public_url: Arc<String>,
    /// Host users reach workers at.
    pub public_host: Arc<String>,
    pub wait_timeout: std::time::Duration,
    pub started_at: Instant,
    /// Rung when a platform callback is kept, for the forwarder.
    pub callbacks_arrived: Arc<tokio::sync::Notify>,
    /// Rung when a schedule is written, so the scheduler looks again at once.
    pub schedules: Arc<tokio::sync::Notify>,
    /// Whether this manager leads the fleet (always, on SQLite).
    pub leader: crate::leadership::Leader,
}

/// The ids of the instances `principal` may see.
fn visible_instance_ids(state: &AppState, principal: &crate::auth::Principal) -> Vec<String> {
    state
        .fleet
        .cache
        .list()
        .iter()
        .filter(|r| principal.may_see(&r.id, &r.user_id))
        .map(|r| r.id.clone())
        .collect()
}

/// The API documentation's frame: title, version, the admin key scheme.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "botfleet manager", description = "One Docker container per messaging bot, behind one API."),
    modifiers(&AdminKeyScheme),
    components(schemas(shared::ErrorBody, shared::worker_api::ChatRef))
)]
struct ApiDoc;

struct AdminKeyScheme;

impl utoipa::Modify for AdminKeyScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Routes behind the auth gate (`auth::guard`; what each needs is in `crate::auth::policy`), registered
/// together with their documentation, so the two cannot drift apart.
fn guarded_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(auth::logout))
        .routes(routes!(users::list_users, users::create_user))
        .routes(routes!(users::get_me))
        .routes(routes!(
            users::get_user,
            users::update_user,
            users::delete_user
        ))
        .routes(routes!(api_keys::create_api_key))
        .routes(routes!(api_keys::list_my_api_keys))
        .routes(routes!(api_keys::revoke_api_key))
        .routes(routes!(audit::list_audit))
        .routes(routes!(metrics::get_metrics))
        .routes(routes!(overview::get_overview))
        .routes(routes!(
            instance_list::list_instances,
            instances::create_instance
        ))
        .routes(routes!(templates::setup_instance))
        .routes(routes!(instance_memory::get_stats))
        .routes(routes!(
            instances::get_instance,
            instances::delete_instance,
            instance_lifecycle::update
        ))
        .routes(routes!(instance_lifecycle::start))
        .routes(routes!(instance_lifecycle::stop))
        .routes(routes!(instance_lifecycle::restart))
        .routes(routes!(instance_lifecycle::process))
        .routes(routes!(instance_lifecycle::pause))
        .routes(routes!(instance_lifecycle::activate))
        .routes(routes!(instance_settings::get_settings_history))
        .routes(routes!(instance_settings::rollback_setting))
        .routes(routes!(instance_memory::get_memory))
        .routes(routes!(instance_access::get_auth_status))
        .routes(routes!(instance_access::get_credentials))
        .routes(routes!(instance_qr::get_qr))
        .routes(routes!(instance_qr::get_current_qr))
        .routes(routes!(instance_qr::get_qr_history))
        .routes(routes!(providers::list_providers))
        .routes(routes!(platform_webhooks::list_callbacks))
        .routes(routes!(instance_history::get_status_history))
        .routes(routes!(instance_history::list_errors))
        .routes(routes!(instance_history::clear_errors))
        .routes(routes!(instance_history::get_activity_stats))
        .routes(routes!(instance_logs::get_logs))
        .routes(routes!(instance_api_key::get_api_key))
        .routes(routes!(instance_api_key::rotate_api_key))
        .routes(routes!(instance_test::test_agent))
        .routes(routes!(instance_messages::list_chats))
        .routes(routes!(instance_messages::list_messages))
        .routes(routes!(instance_messages::list_groups))
        .routes(routes!(instance_messages::list_contacts))
        .routes(routes!(instance_conversations::list_conversations))
        .routes(routes!(instance_conversations::get_conversation))
        .routes(routes!(instance_analytics::get_analytics))
        .routes(routes!(instance_analytics::get_insights))
        .routes(routes!(
            instance_webhook::get_webhook_config,
            instance_webhook::put_webhook_config,
            instance_webhook::delete_webhook_config
        ))
        .routes(routes!(
            instance_schedules::list_schedules,
            instance_schedules::create_schedule
        ))
        .routes(routes!(
            instance_schedules::get_schedule,
            instance_schedules::update_schedule,
            instance_schedules::delete_schedule
        ))
        .routes(routes!(instance_schedules::list_schedule_runs))
        .routes(routes!(instance_webhook::list_webhook_deliveries))
        .routes(routes!(instance_webhook::replay_webhook_delivery))
        .routes(routes!(instance_webhook::replay_dead_webhook_deliveries))
        .routes(routes!(resources::get_resources))
        .routes(routes!(resources::get_instance_resources))
        .routes(routes!(resources::get_one_instance_resources))
        .routes(routes!(instance_send::send_message))
        .routes(routes!(resources::get_port_stats))
        .routes(routes!(resources::clear_port_cache))
        .routes(routes!(resources::get_performance))
        .routes(routes!(resources::get_resource_health))
        .routes(routes!(resources::cleanup_memory))
        .routes(routes!(resources::run_stress_test))
        .routes(routes!(resources::get_resource_history))
        .routes(routes!(health::get_health_history))
        .routes(routes!(hosts::list_hosts))
        .routes(routes!(hosts::get_host, hosts::update_host))
        .routes(routes!(hosts::get_host_metrics))
        .routes(routes!(hosts::get_host_metrics_history))
        .routes(routes!(hosts::list_host_containers))
        .routes(routes!(hosts::start_host_container))
        .routes(routes!(hosts::stop_host_container))
        .routes(routes!(hosts::restart_host_container))
        .routes(routes!(hosts::get_host_container_logs))
        .routes(routes!(events::list_events))
        .routes(routes!(events::stream_events))
        .routes(routes!(alerts::list_alerts))
        .routes(routes!(alerts::resolve_alert))
        .routes(routes!(alerts::list_thresholds, alerts::create_threshold))
        .routes(routes!(alerts::delete_threshold))
        .routes(routes!(
            templates::list_templates,
            templates::create_template
        ))
        .routes(routes!(
            templates::get_template,
            templates::update_template,
            templates::delete_template
        ))
}

/// Routes without auth.
fn open_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health::get_health))
        .routes(routes!(auth::login))
        .routes(routes!(
            platform_webhooks::receive_callback,
            platform_webhooks::verify_subscription
        ))
}

/// Every route with the admin check in place, and the manager's OpenAPI document.
fn routes(state: AppState) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let admin = guarded_routes().route_layer(middleware::from_fn_with_state(state, auth::guard));
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(open_routes())
        .merge(admin)
        .split_for_parts();
    utoipa::Modify::modify(&shared::openapi::StandardErrors, &mut doc);
    utoipa::Modify::modify(&shared::openapi::ScopedCredentialErrors, &mut doc);
    (router, doc)
}

/// The manager's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(open_routes())
        .merge(guarded_routes())
        .into_openapi();
    utoipa::Modify::modify(&shared::openapi::StandardErrors, &mut doc);
    utoipa::Modify::modify(&shared::openapi::ScopedCredentialErrors, &mut doc);
    doc
}

pub fn router(state: AppState) -> Router {
    let (api, doc) = routes(state.clone());
    let docs = SwaggerUi::new("/docs")
        .url(Url::new("manager", "/openapi.json"), doc)
        .external_url_unchecked(
            Url::new("worker", "/openapi/worker.json"),
            shared::worker_api::openapi_document(),
        );
    // The MCP endpoint's tools call the REST routes, in process, through every layer a request from
    // outside passes (so they are timed, traced and logged as any call of those routes).
    let rest = layered(api.clone(), &state);
    let fleet_mcp = Router::new()
        .route_service(
            "/mcp",
            mcp::service(
                std::sync::Arc::new(crate::fleet_mcp::FleetCatalog),
                rest.clone(),
            ),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::guard));
    // The dashboard: pages that read and write through the same REST routes.
    let dashboard = crate::ui::routes(state.clone(), rest.clone());
    layered(api.merge(docs).merge(fleet_mcp).merge(dashboard), &state)
}

/// `api` with the fallbacks, request ids, tracing and timing of every request.
fn layered(api: Router<AppState>, state: &AppState) -> Router {
    api.fallback(overview::not_found)
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
        .with_state(state.clone())
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

#[cfg(test)]
mod openapi_tests {
    #[test]
    fn operation_ids_are_unique_and_every_success_has_a_schema() {
        shared::openapi::assert_complete(&super::openapi());
    }
}
