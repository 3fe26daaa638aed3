//! A fake WhatsApp Business Cloud API (Meta's Graph API) for tests, and Meta's side of the webhooks:
//!
//! - `GET [/v{N}.{M}]/{phone-number-id}` (optionally `?fields=…`) → the number's node (`id`,
//!   `verified_name`, `display_phone_number`, `quality_rating`, …);
//! - `POST [/v{N}.{M}]/{phone-number-id}/messages` with `messaging_product: "whatsapp"`, `to`, and
//!   `type: text` (`text.body`) or `image|document|audio|video` (`{type}.link`, `{type}.caption`,
//!   `document.filename`) → `{"messaging_product":"whatsapp","contacts":[{"input","wa_id"}],
//!   "messages":[{"id":"wamid.…"}]}`;
//! - Graph's error bodies `{"error":{"message","type","code","error_data":{…},"fbtrace_id"}}`: 401 with
//!   code 190 for a token that is not the number's, 400 with code 100 for a bad parameter, 131030
//!   (recipient not in the allowed list), 130429 (throughput exceeded), 131056 (pair rate limit).
//!
//! The two sending limits are enforced as Meta describes them, as GCRA buckets: per business number
//! `throughput_per_sec` messages a second (80 by default), and per (number, recipient) one message every
//! `pair_interval` (6 s) with bursts of up to `pair_burst` (45). Sends over a limit are refused with
//! 130429 or 131056 and not delivered. Errors can also be injected for the next sends or look-ups.
//!
//! Inbound: [`FakeWhatsapp::text_callback`] builds a webhook body exactly as Meta sends it (compact JSON
//! with `/` and non-ASCII escaped the way Meta's serializer does) and its `X-Hub-Signature-256`;
//! [`FakeWhatsapp::subscribe`] performs Meta's `GET` verification handshake against a callback URL, and
//! [`FakeWhatsapp::push_text`] then delivers a signed message to it, as Meta would.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, Method, StatusCode},
    response::{IntoResponse, Response},
    routing::any,
};
use serde_json::{Value, json};

use crate::platform_signing::{WHATSAPP_SIGNATURE_HEADER, sign_whatsapp};

/// The credentials of a number registered with the fake, shaped like `WhatsappCredentials`.
#[derive(Debug, Clone)]
pub struct WhatsappNumber {
    pub phone_number_id: String,
    pub access_token: String,
    /// The app's secret: Meta signs every callback with it.
    pub app_secret: String,
    /// What the app expects back in the subscription handshake.
    pub verify_token: String,
    pub verified_name: String,
    /// As Meta shows it (`+1 555-010-0001`).
    pub display_phone_number: String,
    /// The WhatsApp Business Account the number belongs to (the callback's `entry[].id`).
    pub waba_id: String,
}

impl WhatsappNumber {
    /// The credentials as the manager's create request takes them (`credentials` with
    /// `provider: "whatsapp"`).
    pub fn credentials_json(&self) -> Value {
        json!({
            "access_token": self.access_token,
            "phone_number_id": self.phone_number_id,
            "app_secret": self.app_secret,
            "verify_token": self.verify_token,
        })
    }

    /// The display number's digits, as `metadata.display_phone_number` carries it.
    fn display_digits(&self) -> String {
        digits(&self.display_phone_number)
    }
}

/// A message a number sent through the fake.
#[derive(Debug, Clone)]
pub struct SentWhatsapp {
    pub phone_number_id: String,
    /// `to` as the request gave it.
    pub to: String,
    /// Its digits (what the fake answered as `wa_id`).
    pub wa_id: String,
    /// `text`, `image`, `document`, `audio` or `video`.
    pub kind: String,
    /// `text.body` of a text message.
    pub text: Option<String>,
    /// `{type}.link` of a media message.
    pub link: Option<String>,
    pub caption: Option<String>,
    /// `document.filename`.
    pub filename: Option<String>,
    /// The `wamid.…` the fake answered.
    pub message_id: String,
    /// When the fake accepted it.
    pub at: Instant,
    /// The request body as sent.
    pub body: Value,
}

/// The platform's sending limits as the fake enforces them.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Messages a second per business number (Cloud API's default throughput is 80).
    pub throughput_per_sec: u32,
    /// One message to the same user every this long (6 s)…
    pub pair_interval: Duration,
    /// …with bursts of up to this many (45).
    pub pair_burst: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            throughput_per_sec: 80,
            pair_interval: Duration::from_secs(6),
            pair_burst: 45,
        }
    }
}

/// A GCRA bucket: `tat` is the theoretical arrival time of the next conforming request.
#[derive(Debug, Clone, Copy)]
struct Gcra {
    tat: Instant,
}

impl Gcra {
    /// Takes one slot at `now` if the bucket (interval `t`, burst `burst`) has one.
    fn take(&mut self, now: Instant, t: Duration, burst: u32) -> bool {
        let tolerance = t * burst.saturating_sub(1);
        let tat = self.tat.max(now);
        if tat > now + tolerance {
            return false;
        }
        self.tat = tat + t;
        true
    }
}

/// A signed webhook callback, as Meta POSTs it.
#[derive(Debug, Clone)]
pub struct Callback {
    /// The raw body, byte for byte what is signed.
    pub body: Vec<u8>,
    /// `X-Hub-Signature-256`'s value.
    pub signature: String,
}

impl Callback {
    /// The headers Meta sends with it.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        vec![
            ("Content-Type", "application/json".to_string()),
            ("User-Agent", "facebookexternalua".to_string()),
            (WHATSAPP_SIGNATURE_HEADER, self.signature.clone()),
        ]
    }

    /// POSTs it to `url` (the manager's `/api/v1/webhooks/whatsapp/{instance_id}`).
    pub async fn post(&self, url: &str) -> reqwest::Result<reqwest::Response> {
        let mut request = reqwest::Client::new().post(url).body(self.body.clone());
        for (name, value) in self.headers() {
            request = request.header(name, value);
        }
        request.send().await
    }
}

#[derive(Default)]
struct Inner {
    /// By phone number id.
    numbers: HashMap<String, WhatsappNumber>,
    limits: Limits,
    number_buckets: HashMap<String, Gcra>,
    pair_buckets: HashMap<(String, String), Gcra>,
    /// Per number: when set, only these recipients (wa_id digits) may be sent to (a test number's
    /// allowed list); others get 131030.
    allowed: HashMap<String, HashSet<String>>,
    /// Per number: error codes the next sends answer with, one each.
    send_failures: HashMap<String, VecDeque<i64>>,
    /// Per number: error codes the next `GET /{id}` answer with, one each.
    lookup_failures: HashMap<String, VecDeque<i64>>,
    /// Per number: the callback URL a [`FakeWhatsapp::subscribe`] verified.
    callback_urls: HashMap<String, String>,
    sent: Vec<SentWhatsapp>,
    /// `{phone_number_id}/{code}` → how many sends were refused with that code.
    refused: HashMap<String, usize>,
    /// `{phone_number_id}/{GET|messages}` → calls.
    calls: HashMap<String, usize>,
    next_id: u64,
}

/// Shared state of a running fake Graph API.
#[derive(Clone, Default)]
pub struct FakeWhatsapp {
    inner: Arc<Mutex<Inner>>,
}

impl FakeWhatsapp {
    /// Starts the server on `addr` (port 0 picks one) and returns it with its bound address. The
    /// worker's `BOTFLEET_WHATSAPP_API_URL` is then `http://{addr}/v21.0` (any version, or none).
    pub async fn start(addr: SocketAddr) -> std::io::Result<(Self, SocketAddr)> {
        let fake = Self::default();
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        let app = Router::new()
            .route("/{*path}", any(handle))
            .with_state(fake.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok((fake, bound))
    }

    /// Registers a business phone number (with its own app) and returns its credentials.
    pub fn add_number(&self, verified_name: &str) -> WhatsappNumber {
        let mut inner = self.lock();
        inner.next_id += 1;
        let n = inner.next_id;
        let uuid = uuid::Uuid::new_v4().simple().to_string();
        let number = WhatsappNumber {
            phone_number_id: format!("1065{:011}", n),
            access_token: format!("EAAG{}{}", uuid, uuid::Uuid::new_v4().simple()),
            app_secret: uuid[..32].to_string(),
            verify_token: format!("verify-{n}-{}", &uuid[..8]),
            verified_name: verified_name.to_string(),
            display_phone_number: format!("+1 555-010-{:04}", n % 10_000),
            waba_id: format!("1020{:011}", n),
        };
        inner
            .numbers
            .insert(number.phone_number_id.clone(), number.clone());
        number
    }

    /// Gives the number a new access token (the old one now gets 401, code 190) and returns it.
    pub fn rotate_token(&self, phone_number_id: &str) -> Option<String> {
        let mut inner = self.lock();
        let number = inner.numbers.get_mut(phone_number_id)?;
        number.access_token = format!("EAAG{}", uuid::Uuid::new_v4().simple());
        Some(number.access_token.clone())
    }

    /// Sets the sending limits (for every number).
    pub fn set_limits(&self, limits: Limits) {
        let mut inner = self.lock();
        inner.limits = limits;
        inner.number_buckets.clear();
        inner.pair_buckets.clear();
    }

    /// Restricts the number to these recipients, as a test number's allowed list does: sending to
    /// anyone else is refused with 131030.
    pub fn allow_only(&self, phone_number_id: &str, recipients: &[&str]) {
        self.lock().allowed.insert(
            phone_number_id.to_string(),
            recipients.iter().map(|r| digits(r)).collect(),
        );
    }

    /// The next `times` sends of the number are refused with Graph error `code` (130429, 131056,
    /// 131030, 131047, 131026, 131000, 190, 100, 2).
    pub fn fail_next_sends(&self, phone_number_id: &str, code: i64, times: usize) {
        let mut inner = self.lock();
        let queue = inner
            .send_failures
            .entry(phone_number_id.to_string())
            .or_default();
        queue.extend(std::iter::repeat_n(code, times));
    }

    /// The next `times` look-ups of the number (`GET /{id}`) answer with Graph error `code` (2 is
    /// "Service temporarily unavailable", 503).
    pub fn fail_next_lookups(&self, phone_number_id: &str, code: i64, times: usize) {
        let mut inner = self.lock();
        let queue = inner
            .lookup_failures
            .entry(phone_number_id.to_string())
            .or_default();
        queue.extend(std::iter::repeat_n(code, times));
    }

    /// Everything sent, in order.
    pub fn sent(&self) -> Vec<SentWhatsapp> {
        self.lock().sent.clone()
    }

    /// What the number sent.
    pub fn sent_by(&self, phone_number_id: &str) -> Vec<SentWhatsapp> {
        self.lock()
            .sent
            .iter()
            .filter(|s| s.phone_number_id == phone_number_id)
            .cloned()
            .collect()
    }

    /// How many sends of the number were refused with `code` (injected or by a limit).
    pub fn refused(&self, phone_number_id: &str, code: i64) -> usize {
        self.lock()
            .refused
            .get(&format!("{phone_number_id}/{code}"))
            .copied()
            .unwrap_or(0)
    }

    /// Calls of `GET /{id}` (`what = "GET"`) or `POST /{id}/messages` (`what = "messages"`).
    pub fn calls(&self, phone_number_id: &str, what: &str) -> usize {
        self.lock()
            .calls
            .get(&format!("{phone_number_id}/{what}"))
            .copied()
            .unwrap_or(0)
    }

    /// A webhook callback carrying one text message from `from` (digits) named `name`, signed with the
    /// number's app secret, byte for byte as Meta sends it.
    pub fn text_callback(
        &self,
        number: &WhatsappNumber,
        from: &str,
        name: &str,
        text: &str,
    ) -> Callback {
        let id = self.next_wamid(from);
        let message = json!({
            "from": from,
            "id": id,
            "timestamp": now_secs().to_string(),
            "text": {"body": text},
            "type": "text",
        });
        let value = json!({
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": number.display_digits(),
                "phone_number_id": number.phone_number_id,
            },
            "contacts": [{"profile": {"name": name}, "wa_id": from}],
            "messages": [message],
        });
        self.callback(number, value)
    }

    /// A webhook callback carrying a delivery status of a sent message (what a bot must ignore).
    pub fn status_callback(
        &self,
        number: &WhatsappNumber,
        message_id: &str,
        recipient: &str,
        status: &str,
    ) -> Callback {
        let value = json!({
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": number.display_digits(),
                "phone_number_id": number.phone_number_id,
            },
            "statuses": [{
                "id": message_id,
                "status": status,
                "timestamp": now_secs().to_string(),
                "recipient_id": recipient,
                "conversation": {
                    "id": format!("CONVERSATION_{}", uuid::Uuid::new_v4().simple()),
                    "origin": {"type": "service"},
                },
                "pricing": {"billable": true, "pricing_model": "CBP", "category": "service"},
            }],
        });
        self.callback(number, value)
    }

    /// A callback around `value` (one entry, one change in the `messages` field), signed.
    pub fn callback(&self, number: &WhatsappNumber, value: Value) -> Callback {
        let payload = json!({
            "object": "whatsapp_business_account",
            "entry": [{
                "id": number.waba_id,
                "changes": [{"value": value, "field": "messages"}],
            }],
        });
        let body = meta_json(&payload).into_bytes();
        let signature = sign_whatsapp(&number.app_secret, &body);
        Callback { body, signature }
    }

    /// Meta's webhook verification: `GET url?hub.mode=subscribe&hub.challenge=…&hub.verify_token=…`;
    /// the URL is subscribed when it answers 200 with the challenge as its body. `Err` says what it
    /// answered instead.
    pub async fn subscribe(&self, number: &WhatsappNumber, url: &str) -> Result<(), String> {
        let challenge = (now_secs() % 1_000_000_007).to_string();
        let answer = reqwest::Client::new()
            .get(url)
            .query(&[
                ("hub.mode", "subscribe"),
                ("hub.challenge", challenge.as_str()),
                ("hub.verify_token", number.verify_token.as_str()),
            ])
            .send()
            .await
            .map_err(|e| format!("the callback URL could not be reached: {e}"))?;
        let status = answer.status();
        let body = answer.text().await.unwrap_or_default();
        if status != StatusCode::OK || body != challenge {
            return Err(format!(
                "the callback URL answered {status} with {body:?}, not the challenge"
            ));
        }
        self.lock()
            .callback_urls
            .insert(number.phone_number_id.clone(), url.to_string());
        Ok(())
    }

    /// Delivers a text message from `from` to the number's subscribed callback URL as Meta does (signed
    /// POST) and returns the status it answered.
    pub async fn push_text(
        &self,
        number: &WhatsappNumber,
        from: &str,
        name: &str,
        text: &str,
    ) -> Result<StatusCode, String> {
        let url = self
            .lock()
            .callback_urls
            .get(&number.phone_number_id)
            .cloned()
            .ok_or("the number has no subscribed callback URL")?;
        let callback = self.text_callback(number, from, name, text);
        let answer = callback.post(&url).await.map_err(|e| e.to_string())?;
        Ok(answer.status())
    }

    fn next_wamid(&self, peer: &str) -> String {
        let mut inner = self.lock();
        inner.next_id += 1;
        wamid(peer, inner.next_id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A `wamid.` id: base64 of a protobuf in Meta's ids; any unique opaque text here.
fn wamid(peer: &str, n: u64) -> String {
    format!("wamid.HBgL{peer}FQIAERgS{n:016X}AA==")
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// JSON as Meta's webhooks serialize it: compact, with `/` escaped as `\/` and every non-ASCII character
/// as `\uXXXX` (UTF-16, surrogate pairs beyond the BMP). Both only occur inside strings, where the
/// escapes mean the same characters; a verifier must hash these bytes, not a re-serialization.
pub fn meta_json(value: &Value) -> String {
    let compact = value.to_string();
    let mut out = String::with_capacity(compact.len());
    for c in compact.chars() {
        match c {
            '/' => out.push_str("\\/"),
            c if c.is_ascii() => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out
}

/// A Graph API error: the HTTP status and the body `{"error":{…}}`.
fn graph_error(code: i64, field: Option<&str>) -> Response {
    let (status, kind, message, details): (StatusCode, &str, String, Option<&str>) = match code {
        190 => (
            StatusCode::UNAUTHORIZED,
            "OAuthException",
            "Invalid OAuth access token - Cannot parse access token".into(),
            None,
        ),
        104 => (
            StatusCode::UNAUTHORIZED,
            "OAuthException",
            "An access token is required to request this resource.".into(),
            None,
        ),
        100 => (
            StatusCode::BAD_REQUEST,
            "OAuthException",
            match field {
                Some(f) => format!("(#100) The parameter {f} is required."),
                None => "(#100) Invalid parameter".into(),
            },
            None,
        ),
        2 => (
            StatusCode::SERVICE_UNAVAILABLE,
            "OAuthException",
            "Service temporarily unavailable".into(),
            None,
        ),
        130429 => (
            StatusCode::BAD_REQUEST,
            "OAuthException",
            "(#130429) Rate limit hit".into(),
            Some("Cloud API message throughput has been reached."),
        ),
        131056 => (
            StatusCode::BAD_REQUEST,
            "OAuthException",
            "(#131056) (Business Account, Consumer Account) pair rate limit hit".into(),
            Some(
                "Message failed to send because there were too many messages sent from this phone \
                 number to the same phone number in a short period of time.",
            ),
        ),
        131030 => (
            StatusCode::BAD_REQUEST,
            "OAuthException",
            "(#131030) Recipient phone number not in allowed list".into(),
            Some(
                "Recipient phone number not in allowed list: Add recipient phone number to recipient \
                 list and try again.",
            ),
        ),
        131047 => (
            StatusCode::BAD_REQUEST,
            "OAuthException",
            "(#131047) Re-engagement message".into(),
            Some(
                "Message failed to send because more than 24 hours have passed since the customer \
                 last replied to this number.",
            ),
        ),
        131026 => (
            StatusCode::BAD_REQUEST,
            "OAuthException",
            "(#131026) Message undeliverable".into(),
            Some("Message failed to send because the recipient cannot receive it."),
        ),
        131000 => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "OAuthException",
            "(#131000) Something went wrong".into(),
            Some("Message failed to send due to an unknown error."),
        ),
        other => (
            StatusCode::BAD_REQUEST,
            "OAuthException",
            format!("(#{other}) Error"),
            None,
        ),
    };
    let mut error = json!({
        "message": message,
        "type": kind,
        "code": code,
        "fbtrace_id": format!("A{}", &uuid::Uuid::new_v4().simple().to_string()[..22]),
    });
    if let Some(details) = details {
        error["error_data"] = json!({"messaging_product": "whatsapp", "details": details});
    }
    if code == 2 || code == 131000 {
        error["is_transient"] = json!(true);
    }
    (status, Json(json!({ "error": error }))).into_response()
}

/// The bearer token of a request: `Authorization: Bearer …` or Graph's `access_token` parameter.
fn token(headers: &HeaderMap, query: &HashMap<String, String>) -> Option<String> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string)
        .or_else(|| query.get("access_token").cloned())
}

async fn handle(
    State(fake): State<FakeWhatsapp>,
    Path(path): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // An optional API version first (`v21.0`).
    if segments.first().is_some_and(|s| {
        s.strip_prefix('v')
            .is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
    }) {
        segments.remove(0);
    }
    let (id, what) = match (method.clone(), segments.as_slice()) {
        (Method::GET, [id]) => (id.to_string(), "GET"),
        (Method::POST, [id, "messages"]) => (id.to_string(), "messages"),
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": {
                    "message": format!("Unsupported {method} request."),
                    "type": "GraphMethodException", "code": 100, "error_subcode": 33,
                    "fbtrace_id": "AfakeTrace"}})),
            )
                .into_response();
        }
    };
    let number = {
        let mut inner = fake.lock();
        *inner.calls.entry(format!("{id}/{what}")).or_default() += 1;
        inner.numbers.get(&id).cloned()
    };
    let Some(given) = token(&headers, &query) else {
        return graph_error(104, None);
    };
    let Some(number) = number else {
        // Graph cannot tell a missing object from one the token may not see.
        if fake
            .lock()
            .numbers
            .values()
            .any(|n| n.access_token == given)
        {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": {
                    "message": format!("Unsupported {} request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api", method.as_str().to_lowercase()),
                    "type": "GraphMethodException", "code": 100, "error_subcode": 33,
                    "fbtrace_id": "AfakeTrace"}})),
            )
                .into_response();
        }
        return graph_error(190, None);
    };
    if given != number.access_token {
        return graph_error(190, None);
    }
    if what == "GET" {
        if let Some(code) = fake
            .lock()
            .lookup_failures
            .get_mut(&id)
            .and_then(VecDeque::pop_front)
        {
            return graph_error(code, None);
        }
        return lookup(&number, query.get("fields"));
    }
    send(&fake, &number, &body)
}

/// `GET /{phone-number-id}`: the node, or only the `fields` asked for (and `id`, always).
fn lookup(number: &WhatsappNumber, fields: Option<&String>) -> Response {
    let node = json!({
        "verified_name": number.verified_name,
        "code_verification_status": "VERIFIED",
        "display_phone_number": number.display_phone_number,
        "quality_rating": "GREEN",
        "platform_type": "CLOUD_API",
        "throughput": {"level": "STANDARD"},
        "id": number.phone_number_id,
    });
    let Some(fields) = fields else {
        return Json(node).into_response();
    };
    let mut picked = serde_json::Map::new();
    for field in fields.split(',').map(str::trim).chain(["id"]) {
        match node.get(field) {
            Some(v) => {
                picked.insert(field.to_string(), v.clone());
            }
            None => {
                return (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"error": {
                        "message": format!("(#100) Tried accessing nonexisting field ({field}) on node type (WhatsAppBusinessPhoneNumber)"),
                        "type": "OAuthException", "code": 100, "fbtrace_id": "AfakeTrace"}})),
                )
                    .into_response();
            }
        }
    }
    Json(Value::Object(picked)).into_response()
}

const MEDIA_KINDS: [&str; 4] = ["image", "document", "audio", "video"];

/// `POST /{phone-number-id}/messages`.
fn send(fake: &FakeWhatsapp, number: &WhatsappNumber, body: &[u8]) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return graph_error(100, None);
    };
    let str_field = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    if str_field(&request, "messaging_product").as_deref() != Some("whatsapp") {
        return graph_error(100, Some("messaging_product"));
    }
    let Some(to) = str_field(&request, "to") else {
        return graph_error(100, Some("to"));
    };
    let wa_id = digits(&to);
    if wa_id.is_empty() {
        return graph_error(100, None);
    }
    let kind = str_field(&request, "type").unwrap_or_else(|| "text".into());
    let (mut text, mut link, mut caption, mut filename) = (None, None, None, None);
    if kind == "text" {
        let Some(body) = request.get("text").and_then(|t| str_field(t, "body")) else {
            return graph_error(100, Some("text['body']"));
        };
        if body.chars().count() > 4096 {
            return graph_error(100, None);
        }
        text = Some(body);
    } else if MEDIA_KINDS.contains(&kind.as_str()) {
        let Some(media) = request.get(&kind) else {
            return graph_error(100, Some(&kind));
        };
        link = str_field(media, "link");
        let id = str_field(media, "id");
        if link.is_none() && id.is_none() {
            return graph_error(100, Some(&format!("{kind}['link']")));
        }
        if let Some(l) = &link
            && !(l.starts_with("https://") || l.starts_with("http://"))
        {
            return graph_error(100, None);
        }
        caption = str_field(media, "caption");
        // Graph: "Do not use [caption] with audio or sticker media."
        if kind == "audio" && caption.is_some() {
            return graph_error(100, None);
        }
        if caption.as_ref().is_some_and(|c| c.chars().count() > 1024) {
            return graph_error(100, None);
        }
        filename = str_field(media, "filename");
    } else {
        return graph_error(100, None);
    }

    let mut inner = fake.lock();
    let id = number.phone_number_id.clone();
    let refuse = |inner: &mut Inner, code: i64| {
        *inner.refused.entry(format!("{id}/{code}")).or_default() += 1;
        graph_error(code, None)
    };
    if let Some(code) = inner
        .send_failures
        .get_mut(&number.phone_number_id)
        .and_then(VecDeque::pop_front)
    {
        return refuse(&mut inner, code);
    }
    if inner
        .allowed
        .get(&number.phone_number_id)
        .is_some_and(|allowed| !allowed.contains(&wa_id))
    {
        return refuse(&mut inner, 131030);
    }
    let now = Instant::now();
    let limits = inner.limits;
    let per_sec = limits.throughput_per_sec.max(1);
    let number_ok = inner
        .number_buckets
        .entry(number.phone_number_id.clone())
        .or_insert(Gcra { tat: now })
        .take(now, Duration::from_secs(1) / per_sec, per_sec);
    if !number_ok {
        return refuse(&mut inner, 130429);
    }
    let pair_ok = inner
        .pair_buckets
        .entry((number.phone_number_id.clone(), wa_id.clone()))
        .or_insert(Gcra { tat: now })
        .take(now, limits.pair_interval, limits.pair_burst.max(1));
    if !pair_ok {
        return refuse(&mut inner, 131056);
    }
    inner.next_id += 1;
    let message_id = wamid(&wa_id, inner.next_id);
    inner.sent.push(SentWhatsapp {
        phone_number_id: number.phone_number_id.clone(),
        to: to.clone(),
        wa_id: wa_id.clone(),
        kind,
        text,
        link,
        caption,
        filename,
        message_id: message_id.clone(),
        at: now,
        body: request,
    });
    Json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": to, "wa_id": wa_id}],
        "messages": [{"id": message_id}],
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_json_escapes_slashes_and_non_ascii() {
        let v = json!({"a": "https://x/y", "b": "héllo 👋"});
        assert_eq!(
            meta_json(&v),
            r#"{"a":"https:\/\/x\/y","b":"h\u00e9llo \ud83d\udc4b"}"#
        );
        // The same value once parsed.
        assert_eq!(
            serde_json::from_str::<Value>(&meta_json(&v)).expect("json"),
            v
        );
    }

    #[test]
    fn gcra_allows_a_burst_then_one_per_interval() {
        let t0 = Instant::now();
        let mut g = Gcra { tat: t0 };
        let t = Duration::from_secs(6);
        for _ in 0..3 {
            assert!(g.take(t0, t, 3));
        }
        assert!(!g.take(t0, t, 3));
        assert!(!g.take(t0 + Duration::from_secs(5), t, 3));
        assert!(g.take(t0 + Duration::from_secs(6), t, 3));
        assert!(!g.take(t0 + Duration::from_secs(7), t, 3));
    }
}
