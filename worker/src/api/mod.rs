//! The worker's REST API: every route, with the `/api/v1/telegram/*` aliases of the replaced system.

mod bulk;
mod conversations;
mod events;
mod health;
mod media;
mod send;

pub use send::{parse_chat_id, provider_error_text};
mod status;
mod webhook;

use std::sync::Arc;

use axum::{Json, Router, middleware, routing::get};
use utoipa::OpenApi as _;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth, auth::AcceptedKeys, bot::TelegramBot, events::EventLog, jobs::Jobs, seen::Seen,
    shutdown::ShutdownSignal, state::BotStatus, webhook::WebhookState,
};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub status: Arc<BotStatus>,
    pub seen: Arc<Seen>,
    pub jobs: Arc<Jobs>,
    pub events: Arc<EventLog>,
    pub webhook: Arc<WebhookState>,
    pub bot: TelegramBot,
    pub keys: AcceptedKeys,
    pub provider: String,
    pub shutdown: ShutdownSignal,
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "botfleet worker", description = "The per-instance API of one bot, on the instance's own port."),
    modifiers(&InstanceKeyScheme),
    components(schemas(shared::ErrorBody))
)]
struct ApiDoc;

struct InstanceKeyScheme;

impl utoipa::Modify for InstanceKeyScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "instance_key",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
    }
}

/// Routes without auth, with their documentation.
fn open_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::get_health))
        .routes(routes!(health::get_telegram_health))
}

/// Routes behind the bearer key, with their documentation.
fn protected_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(status::get_status))
        .routes(routes!(status::get_telegram_status))
        .routes(routes!(send::send_text))
        .routes(routes!(send::send_telegram_text))
        .routes(routes!(send::send_group))
        .routes(routes!(conversations::chats))
        .routes(routes!(conversations::telegram_chats))
        .routes(routes!(conversations::groups))
        .routes(routes!(conversations::contacts))
        .routes(routes!(conversations::telegram_contacts))
        .routes(routes!(conversations::messages))
        .routes(routes!(bulk::send_bulk))
        .routes(routes!(bulk::telegram_send_bulk))
        .routes(routes!(bulk::get_job))
        .routes(routes!(events::list))
        .routes(routes!(events::ack))
        .routes(routes!(webhook::get_config, webhook::put_config))
        .routes(routes!(webhook::put_from_manager))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(media::send_media))
                // Uploads may exceed axum's default 2 MB; only this route takes more.
                .layer(axum::extract::DefaultBodyLimit::max(
                    media::MAX_UPLOAD_BYTES + 64 * 1024,
                )),
        )
}

/// The worker's OpenAPI document (also served by the manager's docs UI).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = open_routes().merge(protected_routes()).into_openapi();
    utoipa::Modify::modify(&shared::openapi::StandardErrors, &mut doc);
    doc
}

/// Builds the router, with `/openapi.json`.
pub fn router(state: AppState) -> Router {
    let (open, mut doc) = open_routes().split_for_parts();
    let (protected, protected_doc) = protected_routes().split_for_parts();
    doc.merge(protected_doc);
    utoipa::Modify::modify(&shared::openapi::StandardErrors, &mut doc);
    let protected = protected.route_layer(middleware::from_fn_with_state(
        state.clone(),
        auth::require_bearer,
    ));
    open.merge(protected)
        .route("/openapi.json", get(move || async move { Json(doc) }))
        .with_state(state)
}

#[cfg(test)]
mod openapi_tests {
    /// The manager serves the worker's document from `shared/openapi/worker.json` (it does not link the
    /// worker). Run with `BOTFLEET_UPDATE_OPENAPI=1` to write the file anew after changing a route.
    #[test]
    fn the_checked_in_openapi_document_is_current() {
        let generated = serde_json::to_string_pretty(&super::openapi()).unwrap() + "\n";
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/openapi/worker.json");
        if std::env::var_os("BOTFLEET_UPDATE_OPENAPI").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        assert!(
            generated == shared::worker_api::OPENAPI_JSON,
            "shared/openapi/worker.json is stale: run `BOTFLEET_UPDATE_OPENAPI=1 cargo test -p worker openapi`"
        );
    }

    #[test]
    fn operation_ids_are_unique_and_every_success_has_a_schema() {
        let doc = super::openapi();
        assert_eq!(
            shared::openapi::duplicate_operation_ids(&doc),
            Vec::<String>::new()
        );
        assert_eq!(
            shared::openapi::untyped_success_responses(&doc),
            Vec::<String>::new()
        );
    }
}
