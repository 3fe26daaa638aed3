//! The worker's REST API: every route, with the `/api/v1/telegram/*` aliases of the replaced system.

mod bulk;
mod callback;
mod control;
mod conversations;
mod events;
mod health;
mod media;
mod send;
mod status;
mod webhook;

use std::sync::Arc;

use axum::{Json, Router, middleware, routing::get};
use utoipa::OpenApi as _;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth, auth::AcceptedKeys, bot::Bot, events::EventLog, jobs::Jobs, seen::Seen,
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
    pub bot: Bot,
    pub keys: AcceptedKeys,
    pub provider: String,
    pub shutdown: ShutdownSignal,
    /// Sends waiting per chat, so a request that would wait long is refused with 429 instead.
    pub backlog: Arc<crate::backlog::Backlog>,
    /// The `Idempotency-Key`s sent with in the last day, with their answers.
    pub sent_keys: Arc<crate::idempotency::SentKeys>,
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "botfleet worker", description = "The per-instance API of one bot, on the instance's own port."),
    modifiers(&KeySchemes),
    components(schemas(shared::ErrorBody))
)]
struct ApiDoc;

/// The two keys the worker takes, both as `Authorization: Bearer`.
struct KeySchemes;

impl utoipa::Modify for KeySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "instance_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The instance's API key, shown once when the instance is created (or its key \
                         rotated). The manager's control key is accepted too.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "control_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The manager's control key for this instance, which only the manager holds. The \
                         instance's API key is refused here with 403.",
                    ))
                    .build(),
            ),
        );
    }
}

/// Routes without auth, with their documentation.
fn open_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::get_health))
        .routes(routes!(health::get_telegram_health))
}

/// Routes behind the bearer key (the user's or the manager's), with their documentation.
fn protected_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(status::get_status))
        .routes(routes!(status::get_telegram_status))
        .routes(routes!(send::send_text))
        .routes(routes!(send::send_telegram_text))
        .routes(routes!(send::send_group))
        .routes(routes!(conversations::list_chats))
        .routes(routes!(conversations::list_telegram_chats))
        .routes(routes!(conversations::list_groups))
        .routes(routes!(conversations::list_contacts))
        .routes(routes!(conversations::list_telegram_contacts))
        .routes(routes!(conversations::list_messages))
        .routes(routes!(bulk::send_bulk))
        .routes(routes!(bulk::send_telegram_bulk))
        .routes(routes!(bulk::get_job))
        .routes(routes!(
            webhook::get_webhook_config,
            webhook::put_webhook_config
        ))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(media::send_media))
                // Uploads may exceed axum's default 2 MB; only this route takes more.
                .layer(axum::extract::DefaultBodyLimit::max(
                    media::MAX_UPLOAD_BYTES + 64 * 1024,
                )),
        )
}

/// Routes for the manager alone: behind the bearer key, and then only its control key.
fn control_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(events::list_events))
        .routes(routes!(events::ack_events))
        .routes(routes!(webhook::put_control_webhook))
        .routes(routes!(control::put_control_config))
        .routes(routes!(callback::post_callback))
}

/// The worker's OpenAPI document (also served by the manager's docs UI).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = open_routes()
        .merge(protected_routes())
        .merge(control_routes())
        .into_openapi();
    utoipa::Modify::modify(&shared::openapi::StandardErrors, &mut doc);
    doc
}

/// Builds the router, with `/openapi.json`.
pub fn router(state: AppState) -> Router {
    let (open, mut doc) = open_routes().split_for_parts();
    let (protected, protected_doc) = protected_routes().split_for_parts();
    let (control, control_doc) = control_routes().split_for_parts();
    doc.merge(protected_doc);
    doc.merge(control_doc);
    utoipa::Modify::modify(&shared::openapi::StandardErrors, &mut doc);
    // Layers run outside in: the bearer check (which notes who called) before the control-key check.
    let protected = protected
        .merge(control.route_layer(middleware::from_fn(auth::require_manager)))
        .route_layer(middleware::from_fn_with_state(
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
        // The manager parses it at start (`shared::worker_api::openapi_document`); a schema utoipa
        // cannot read back (`serde_json::Value`'s `{}`) would stop the manager from starting.
        if let Err(e) = serde_json::from_str::<utoipa::openapi::OpenApi>(&generated) {
            panic!("the document does not parse back into utoipa's OpenApi: {e}");
        }
    }

    #[test]
    fn operation_ids_are_unique_and_every_success_has_a_schema() {
        shared::openapi::assert_complete(&super::openapi());
    }
}
