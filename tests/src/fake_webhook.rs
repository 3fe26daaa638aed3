//! A webhook receiver for tests: records every delivery (headers and body) and can be told to fail
//! on purpose, for a number of requests or until told otherwise.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, http::StatusCode, routing::post};
use serde_json::Value;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub event_id: String,
    pub event_type: String,
    pub timestamp: String,
    pub signature: String,
    pub body: String,
    /// What the receiver answered.
    pub accepted: bool,
    /// Unix ms when it arrived.
    pub received_at_ms: i64,
}

impl Delivery {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("delivery body is JSON")
    }

    /// True when the signature verifies under `secret`, through the contract's own verifier.
    pub fn signed_with(&self, secret: &str) -> bool {
        shared::webhook::verify(secret, &self.timestamp, &self.body, &self.signature)
    }

    /// The body as the contract's envelope.
    pub fn envelope(&self) -> shared::webhook::WebhookEnvelope {
        serde_json::from_str(&self.body).expect("delivery body is a webhook envelope")
    }
}

#[derive(Clone, Default)]
pub struct FakeWebhook {
    deliveries: Arc<Mutex<Vec<Delivery>>>,
    fail_next: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
}

impl FakeWebhook {
    /// Listens on 127.0.0.1 (the manager delivers from the host); returns the receiver and its URL.
    pub async fn start() -> (Self, String) {
        let fake = Self::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind webhook receiver");
        let addr: SocketAddr = listener.local_addr().expect("local addr");
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(fake.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (fake, format!("http://{addr}/hook"))
    }

    /// The next `n` requests get HTTP 500.
    pub fn fail_next(&self, n: usize) {
        self.fail_next.store(n, Ordering::SeqCst);
    }

    /// Every request gets HTTP 500 while `on`.
    pub fn set_failing(&self, on: bool) {
        self.failing.store(on, Ordering::SeqCst);
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Accepted deliveries of `event_type`.
    pub fn accepted(&self, event_type: &str) -> Vec<Delivery> {
        self.deliveries()
            .into_iter()
            .filter(|d| d.accepted && d.event_type == event_type)
            .collect()
    }
}

async fn receive(State(fake): State<FakeWebhook>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let forced = fake
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let accepted = !forced && !fake.failing.load(Ordering::SeqCst);
    fake.deliveries
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Delivery {
            event_id: header(shared::webhook::HEADER_EVENT_ID),
            event_type: header(shared::webhook::HEADER_EVENT_TYPE),
            timestamp: header(shared::webhook::HEADER_TIMESTAMP),
            signature: header(shared::webhook::HEADER_SIGNATURE),
            body: String::from_utf8_lossy(&body).into_owned(),
            accepted,
            received_at_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0),
        });
    if accepted {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}
