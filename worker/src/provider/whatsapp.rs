//! WhatsApp Business Cloud API (Meta's Graph API) through plain reqwest: `GET /{phone-number-id}` to
//! connect, `POST /{phone-number-id}/messages` to send text and media by link. Messages come in through
//! platform webhooks: Meta calls the manager, which checks `X-Hub-Signature-256` and hands the body on;
//! [`WhatsappProvider::parse_callback`] reads it.
//!
//! Sending is paced as the platform asks, with two GCRA buckets: per business number
//! `messages_per_second` (Cloud API's default throughput is 80), and per recipient one message every
//! `pair_interval` (6 s) with bursts of up to `pair_burst` (45). A send that would have to wait longer
//! than `max_wait` is refused as [`SendError::RateLimited`] at once. Graph's 130429 (throughput) and
//! 131056 (pair rate limit) are waited out and retried within the same budget.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use shared::{
    Provider as ProviderKind,
    api::credentials::WhatsappCredentials,
    worker_api::{ChatKind, ChatRef, MediaKind},
};
use tokio::time::Instant;

use super::{
    Chat, ConnectError, Identity, Inbound, Media, MediaSource, Message, Person, Provider,
    SendError, TextOptions,
};

/// Longest text message (Graph refuses longer ones).
const MAX_TEXT_CHARS: usize = 4096;

/// How sending is paced; the defaults are the platform's.
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    /// Messages a second from the business number (Cloud API allows 80; the default keeps a margin).
    pub messages_per_second: u32,
    /// One message to the same user every this long…
    pub pair_interval: Duration,
    /// …with bursts of up to this many.
    pub pair_burst: u32,
    /// Added to `pair_interval` when pacing, so that messages that reach the platform a little
    /// unevenly still keep to its interval.
    pub pair_margin: Duration,
    /// The first wait after a 130429 (throughput) error; doubled on each in a row.
    pub throughput_backoff: Duration,
    /// Longest a send waits for the limits (pacing and errors together) before it is refused with
    /// [`SendError::RateLimited`].
    pub max_wait: Duration,
    /// How often `receive` checks the token still works (`GET /{phone-number-id}`).
    pub check_every: Duration,
}

impl Default for Pacing {
    fn default() -> Self {
        Self {
            messages_per_second: 75,
            pair_interval: Duration::from_secs(6),
            pair_burst: 45,
            pair_margin: Duration::from_millis(100),
            throughput_backoff: Duration::from_secs(1),
            max_wait: Duration::from_secs(30),
            check_every: Duration::from_secs(60),
        }
    }
}

/// A GCRA bucket: `tat` is the theoretical arrival time of the next conforming message.
#[derive(Debug, Clone, Copy)]
struct Gcra {
    tat: Instant,
}

impl Gcra {
    fn new(now: Instant) -> Self {
        Self { tat: now }
    }

    /// The earliest moment at or after `now` a message conforms (interval `t`, burst `burst`).
    fn earliest(&self, now: Instant, t: Duration, burst: u32) -> Instant {
        let tolerance = t * burst.saturating_sub(1);
        now.max(self.tat.checked_sub(tolerance).unwrap_or(now))
    }

    /// Takes the slot at `at` (from [`Gcra::earliest`]).
    fn take(&mut self, at: Instant, t: Duration) {
        self.tat = self.tat.max(at) + t;
    }

    /// The platform says the bucket is empty: nothing before `now + wait`.
    fn empty_until(&mut self, now: Instant, wait: Duration, t: Duration, burst: u32) {
        let tolerance = t * burst.saturating_sub(1);
        self.tat = self.tat.max(now + wait + tolerance);
    }
}

/// The two buckets.
struct Pacer {
    pacing: Pacing,
    number: Gcra,
    pairs: HashMap<String, Gcra>,
}

impl Pacer {
    fn number_interval(&self) -> Duration {
        Duration::from_secs(1) / self.pacing.messages_per_second.max(1)
    }

    fn pair_interval(&self) -> Duration {
        self.pacing.pair_interval + self.pacing.pair_margin
    }

    /// Reserves the next slot for a message to `peer`, if it comes within `budget`: how long to wait
    /// for it (`Err` with the wait when it is longer; nothing is reserved then). Slots to one user may
    /// lie well ahead (a burst used up); they hold up no one else.
    fn reserve_pair(
        &mut self,
        peer: &str,
        now: Instant,
        budget: Duration,
    ) -> Result<Duration, Duration> {
        let (t, burst) = (self.pair_interval(), self.pacing.pair_burst.max(1));
        if self.pairs.len() > 4096 {
            // A bucket whose tat has passed is a fresh one.
            self.pairs.retain(|_, g| g.tat > now);
        }
        let pair = self.pairs.entry(peer.to_string()).or_insert(Gcra::new(now));
        let at = pair.earliest(now, t, burst);
        let wait = at - now;
        if wait > budget {
            return Err(wait);
        }
        pair.take(at, t);
        Ok(wait)
    }

    /// Reserves the number's next slot (taken when the message is about to leave, so one user's
    /// wait does not move everyone's).
    fn reserve_number(&mut self, now: Instant, budget: Duration) -> Result<Duration, Duration> {
        let (t, burst) = (
            self.number_interval(),
            self.pacing.messages_per_second.max(1),
        );
        let at = self.number.earliest(now, t, burst);
        let wait = at - now;
        if wait > budget {
            return Err(wait);
        }
        self.number.take(at, t);
        Ok(wait)
    }
}

/// WhatsApp Business Cloud API behind the seam.
pub struct WhatsappProvider {
    http: reqwest::Client,
    /// `https://graph.facebook.com/v21.0`, without a trailing `/`.
    base: String,
    phone_number_id: String,
    /// Never logged: requests carry it in the `Authorization` header only.
    access_token: String,
    pacer: Mutex<Pacer>,
    /// Who the bot is, once connected (the `from` of what it sends).
    me: OnceLock<Identity>,
}

impl std::fmt::Debug for WhatsappProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhatsappProvider")
            .field("base", &self.base)
            .field("phone_number_id", &self.phone_number_id)
            .field("access_token", &"<redacted>")
            .finish()
    }
}

/// A Graph API failure, read from its answer.
#[derive(Debug)]
enum GraphError {
    /// The request did not get an answer (connection, timeout).
    Network(String),
    /// Graph answered `status` with `{"error":{…}}` (or something else, `code` 0).
    Api {
        status: u16,
        code: i64,
        message: String,
        details: Option<String>,
        transient: bool,
    },
}

impl GraphError {
    fn text(&self) -> String {
        match self {
            Self::Network(e) => format!("WhatsApp could not be reached: {e}"),
            Self::Api {
                message, details, ..
            } => match details {
                Some(d) if !d.is_empty() => format!("WhatsApp: {message}: {d}"),
                _ => format!("WhatsApp: {message}"),
            },
        }
    }

    /// The token (or the number id with it) is refused: retrying cannot help.
    fn is_refusal(&self) -> bool {
        matches!(self, Self::Api { status, code, .. }
            if *status == 401 || *status == 403 || matches!(code, 190 | 104 | 10 | 200)
                // 100 "object does not exist or cannot be loaded due to missing permissions"
                || (*code == 100 && *status == 400))
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorInner,
}

#[derive(Deserialize)]
struct ErrorInner {
    #[serde(default)]
    message: String,
    #[serde(default)]
    code: i64,
    #[serde(default)]
    error_data: Option<ErrorData>,
    #[serde(default)]
    is_transient: bool,
}

#[derive(Deserialize)]
struct ErrorData {
    #[serde(default)]
    details: Option<String>,
}

#[derive(Deserialize)]
struct NumberNode {
    id: String,
    #[serde(default)]
    verified_name: Option<String>,
    #[serde(default)]
    display_phone_number: Option<String>,
}

#[derive(Deserialize)]
struct SendAnswer {
    #[serde(default)]
    contacts: Vec<SendContact>,
    #[serde(default)]
    messages: Vec<SendMessageId>,
}

#[derive(Deserialize)]
struct SendContact {
    #[serde(default)]
    wa_id: Option<String>,
}

#[derive(Deserialize)]
struct SendMessageId {
    id: String,
}

impl WhatsappProvider {
    /// A provider for the number in `credentials`, talking to the Graph API at `api_url`
    /// (`https://graph.facebook.com/v21.0`, or a fake), paced as the platform asks.
    pub fn new(credentials: &WhatsappCredentials, api_url: &str) -> anyhow::Result<Self> {
        Self::with_pacing(credentials, api_url, Pacing::default())
    }

    /// The same with other limits (tests use shorter ones).
    pub fn with_pacing(
        credentials: &WhatsappCredentials,
        api_url: &str,
        pacing: Pacing,
    ) -> anyhow::Result<Self> {
        let url = reqwest::Url::parse(api_url)
            .map_err(|e| anyhow::anyhow!("invalid WhatsApp API URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            anyhow::bail!("invalid WhatsApp API URL: not http(s)");
        }
        if credentials.phone_number_id.is_empty()
            || !credentials
                .phone_number_id
                .bytes()
                .all(|b| b.is_ascii_digit())
        {
            anyhow::bail!("the WhatsApp phone number id must be digits");
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            http,
            base: api_url.trim_end_matches('/').to_string(),
            phone_number_id: credentials.phone_number_id.clone(),
            access_token: credentials.access_token.clone(),
            pacer: Mutex::new(Pacer {
                pacing,
                number: Gcra::new(Instant::now()),
                pairs: HashMap::new(),
            }),
            me: OnceLock::new(),
        })
    }

    fn pacer(&self) -> std::sync::MutexGuard<'_, Pacer> {
        self.pacer.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn pacing(&self) -> Pacing {
        self.pacer().pacing
    }

    /// Reads a Graph answer: the JSON of a 2xx, or the error.
    async fn answer<T: serde::de::DeserializeOwned>(
        response: reqwest::Result<reqwest::Response>,
    ) -> Result<T, GraphError> {
        let response = response.map_err(|e| GraphError::Network(e.without_url().to_string()))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| GraphError::Network(e.without_url().to_string()))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| GraphError::Api {
                status: status.as_u16(),
                code: 0,
                message: format!("an answer WhatsApp's API does not give ({e})"),
                details: None,
                transient: false,
            });
        }
        Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(ErrorBody { error }) => GraphError::Api {
                status: status.as_u16(),
                code: error.code,
                message: error.message,
                details: error.error_data.and_then(|d| d.details),
                transient: error.is_transient || status.is_server_error(),
            },
            Err(_) => GraphError::Api {
                status: status.as_u16(),
                code: 0,
                message: format!("HTTP {status}"),
                details: None,
                transient: status.is_server_error() || status.as_u16() == 429,
            },
        })
    }

    /// `GET /{phone-number-id}`: who the number is.
    async fn lookup(&self) -> Result<Identity, GraphError> {
        let response = self
            .http
            .get(format!("{}/{}", self.base, self.phone_number_id))
            .query(&[("fields", "id,verified_name,display_phone_number")])
            .bearer_auth(&self.access_token)
            .send()
            .await;
        let node: NumberNode = Self::answer(response).await?;
        let display = node.display_phone_number.unwrap_or_default();
        let handle: String = display.chars().filter(char::is_ascii_digit).collect();
        Ok(Identity {
            name: node
                .verified_name
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| display.clone()),
            id: node.id,
            // The number is the account's public handle (wa.me/<digits>).
            username: (!handle.is_empty()).then_some(handle),
        })
    }

    /// Sends one message body to `peer` (wa_id digits), paced, waiting out the platform's rate-limit
    /// errors within the budget.
    async fn post_message(&self, peer: &str, body: &Value) -> Result<(String, String), SendError> {
        let pacing = self.pacing();
        let start = Instant::now();
        let mut throughput_errors = 0u32;
        let mut pair_errors = 0u32;
        loop {
            for number in [false, true] {
                let budget = pacing.max_wait.saturating_sub(start.elapsed());
                let reserved = if number {
                    self.pacer().reserve_number(Instant::now(), budget)
                } else {
                    self.pacer().reserve_pair(peer, Instant::now(), budget)
                };
                let wait = reserved.map_err(|wait| rate_limited(wait + start.elapsed()))?;
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
            }
            let response = self
                .http
                .post(format!("{}/{}/messages", self.base, self.phone_number_id))
                .bearer_auth(&self.access_token)
                .json(body)
                .send()
                .await;
            match Self::answer::<SendAnswer>(response).await {
                Ok(answer) => {
                    let id = answer
                        .messages
                        .into_iter()
                        .next()
                        .map(|m| m.id)
                        .ok_or_else(|| SendError::Failed {
                            message: "WhatsApp accepted the message but gave no id".into(),
                            transient: false,
                        })?;
                    let wa_id = answer
                        .contacts
                        .into_iter()
                        .find_map(|c| c.wa_id)
                        .filter(|w| !w.is_empty())
                        .unwrap_or_else(|| peer.to_string());
                    return Ok((id, wa_id));
                }
                Err(GraphError::Api { code: 131056, .. }) => {
                    // The pair's bucket is empty at Meta's end: nothing to this user for an interval,
                    // longer on each refusal in a row.
                    let wait = pacing.pair_interval * 2u32.saturating_pow(pair_errors.min(8));
                    pair_errors += 1;
                    tracing::warn!(?wait, "WhatsApp pair rate limit hit (131056); waiting");
                    let now = Instant::now();
                    let mut pacer = self.pacer();
                    let (t, burst) = (pacer.pair_interval(), pacer.pacing.pair_burst.max(1));
                    pacer
                        .pairs
                        .entry(peer.to_string())
                        .or_insert_with(|| Gcra::new(now))
                        .empty_until(now, wait, t, burst);
                }
                Err(GraphError::Api { code, status, .. })
                    if code == 130429 || code == 80007 || code == 4 || status == 429 =>
                {
                    let wait =
                        pacing.throughput_backoff * 2u32.saturating_pow(throughput_errors.min(8));
                    throughput_errors += 1;
                    tracing::warn!(?wait, code, "WhatsApp throughput limit hit; waiting");
                    let now = Instant::now();
                    let mut pacer = self.pacer();
                    let (t, burst) = (
                        pacer.number_interval(),
                        pacer.pacing.messages_per_second.max(1),
                    );
                    pacer.number.empty_until(now, wait, t, burst);
                }
                Err(e) => return Err(send_error(e)),
            }
        }
    }

    /// A message the bot sent, in neutral terms.
    fn sent(&self, id: String, wa_id: &str, chat: &ChatRef, text: Option<String>) -> Message {
        Message {
            id,
            chat: Chat {
                id: ChatRef::parse(wa_id).unwrap_or_else(|_| chat.clone()),
                name: None,
                kind: ChatKind::Private,
                username: None,
            },
            from: self.me.get().map(|me| Person {
                id: me.id.clone(),
                name: me.name.clone(),
                username: me.username.clone(),
                is_bot: true,
            }),
            text,
            date: unix_now(),
        }
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn rate_limited(wait: Duration) -> SendError {
    let secs = wait.as_secs().max(1);
    SendError::RateLimited {
        message: format!(
            "WhatsApp's sending limits (80 messages/s per number, 1 message every 6 s to the same \
             user) need a wait of about {secs} s"
        ),
        retry_after: Duration::from_secs(secs),
    }
}

/// Graph's refusals (the recipient is not allowed, the 24-hour window has closed, a bad parameter)
/// are the caller's to fix; 5xx and network failures may pass on retry.
fn send_error(e: GraphError) -> SendError {
    let message = e.text();
    match e {
        GraphError::Network(_) => SendError::Failed {
            message,
            transient: true,
        },
        GraphError::Api {
            status, transient, ..
        } if transient || status >= 500 => SendError::Failed {
            message,
            transient: true,
        },
        GraphError::Api { code, status, .. }
            if status == 401 || matches!(code, 190 | 104 | 10 | 200) =>
        {
            SendError::Failed {
                message: format!("{message} (the access token was refused)"),
                transient: false,
            }
        }
        GraphError::Api { .. } => SendError::Refused(message),
    }
}

/// `+15550100001` or `15550100001`: 6 to 15 digits, an optional leading `+`. The digits are the
/// recipient (`to`, `wa_id`).
fn phone_digits(chat: &ChatRef) -> Result<&str, String> {
    let s = chat.as_str();
    let digits = s.strip_prefix('+').unwrap_or(s);
    if (6..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(digits)
    } else {
        Err(
            "a WhatsApp chat is a phone number in international format: 6 to 15 digits, optionally \
             after a +"
                .into(),
        )
    }
}

// ---- Inbound callbacks (what Meta POSTs, verified by the manager) ----

#[derive(Deserialize)]
struct Callback {
    object: String,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    #[serde(default)]
    field: String,
    #[serde(default)]
    value: Option<ChangeValue>,
}

#[derive(Deserialize)]
struct ChangeValue {
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    contacts: Vec<Contact>,
    #[serde(default)]
    messages: Vec<InMessage>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    phone_number_id: String,
}

#[derive(Deserialize)]
struct Contact {
    #[serde(default)]
    wa_id: String,
    #[serde(default)]
    profile: Option<Profile>,
}

#[derive(Deserialize)]
struct Profile {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct InMessage {
    from: String,
    id: String,
    timestamp: String,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(flatten)]
    rest: serde_json::Map<String, Value>,
}

impl InMessage {
    /// The text of a text message, the caption of a medium, the label of a pressed button or picked
    /// list row; `None` for what carries no text (a location, a sticker, a reaction…).
    fn text(&self) -> Option<String> {
        let part = self.rest.get(&self.kind)?;
        let text = match self.kind.as_str() {
            "text" => part.get("body"),
            "image" | "video" | "document" => part.get("caption"),
            "button" => part.get("text"),
            "interactive" => part
                .get("button_reply")
                .or_else(|| part.get("list_reply"))
                .and_then(|r| r.get("title")),
            _ => None,
        };
        text.and_then(Value::as_str).map(str::to_string)
    }
}

#[async_trait]
impl Provider for WhatsappProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Whatsapp
    }

    async fn connect(&self) -> Result<Identity, ConnectError> {
        match self.lookup().await {
            Ok(me) => {
                let _ = self.me.set(me.clone());
                Ok(me)
            }
            Err(e) if e.is_refusal() => Err(ConnectError::Refused(e.text())),
            Err(e) => Err(ConnectError::Failed(e.text())),
        }
    }

    /// Messages come through callbacks; meanwhile the token is checked every `check_every`, so a
    /// revoked token makes the worker report itself unauthorized.
    async fn receive(&self, inbound: Arc<dyn Inbound>) -> ConnectError {
        inbound.alive();
        let every = self.pacing().check_every;
        let mut failures = 0u32;
        loop {
            tokio::time::sleep(every).await;
            match self.lookup().await {
                Ok(_) => {
                    if failures > 0 {
                        inbound.recovered(failures);
                    }
                    failures = 0;
                    inbound.alive();
                }
                Err(e) if e.is_refusal() => {
                    tracing::error!("WhatsApp refused the access token");
                    return ConnectError::Refused(e.text());
                }
                Err(e) => {
                    failures += 1;
                    inbound.trouble(&e.text(), failures == 1);
                }
            }
        }
    }

    fn parse_callback(&self, body: &[u8]) -> Result<Vec<Message>, String> {
        let callback: Callback = serde_json::from_slice(body)
            .map_err(|e| format!("not a WhatsApp webhook callback: {e}"))?;
        if callback.object != "whatsapp_business_account" {
            return Err(format!(
                "not a WhatsApp Business Account callback (object {:?})",
                callback.object
            ));
        }
        let mut out = Vec::new();
        for change in callback.entry.iter().flat_map(|e| &e.changes) {
            let Some(value) = change.value.as_ref().filter(|_| change.field == "messages") else {
                continue;
            };
            // An app's webhook carries every number of the app: only ours are ours.
            if value
                .metadata
                .as_ref()
                .is_some_and(|m| m.phone_number_id != self.phone_number_id)
            {
                continue;
            }
            for message in &value.messages {
                let date = message.timestamp.parse::<i64>().map_err(|_| {
                    format!("message {}: timestamp is not unix seconds", message.id)
                })?;
                let chat = ChatRef::parse(&message.from)
                    .map_err(|e| format!("message {}: from: {e}", message.id))?;
                let name = value
                    .contacts
                    .iter()
                    .find(|c| c.wa_id == message.from)
                    .or_else(|| value.contacts.first().filter(|_| value.contacts.len() == 1))
                    .and_then(|c| c.profile.as_ref())
                    .map(|p| p.name.clone())
                    .filter(|n| !n.is_empty());
                out.push(Message {
                    id: message.id.clone(),
                    chat: Chat {
                        id: chat,
                        name: name.clone(),
                        kind: ChatKind::Private,
                        username: None,
                    },
                    from: Some(Person {
                        id: message.from.clone(),
                        name: name.unwrap_or_else(|| format!("+{}", message.from)),
                        username: None,
                        is_bot: false,
                    }),
                    text: message.text(),
                    date,
                });
            }
        }
        Ok(out)
    }

    fn check_chat(&self, chat: &ChatRef, group: bool) -> Result<ChatRef, String> {
        if group {
            return Err("WhatsApp Cloud API bots have no groups: a chat is a phone number".into());
        }
        phone_digits(chat).and_then(|digits| ChatRef::parse(digits).map_err(str::to_string))
    }

    async fn send_text(
        &self,
        chat: &ChatRef,
        text: &str,
        options: &TextOptions,
    ) -> Result<Message, SendError> {
        options.check_supported(self.kind())?;
        let peer = phone_digits(chat).map_err(|message| SendError::BadChat { message })?;
        if text.chars().count() > MAX_TEXT_CHARS {
            return Err(SendError::Refused(format!(
                "a WhatsApp text is at most {MAX_TEXT_CHARS} characters"
            )));
        }
        let body = json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": peer,
            "type": "text",
            "text": {"preview_url": false, "body": text},
        });
        let (id, wa_id) = self.post_message(peer, &body).await?;
        Ok(self.sent(id, &wa_id, chat, Some(text.to_string())))
    }

    /// Media go by link (Graph fetches it). An audio message takes no caption on WhatsApp: the caption
    /// follows as a text.
    async fn send_media(
        &self,
        chat: &ChatRef,
        media: Media,
        options: &TextOptions,
    ) -> Result<Message, SendError> {
        options.check_supported(self.kind())?;
        let peer = phone_digits(chat).map_err(|message| SendError::BadChat { message })?;
        let link = match media.source {
            MediaSource::Url(url) => url,
            MediaSource::Upload { .. } => {
                return Err(SendError::Unsupported {
                    field: "file",
                    message: "WhatsApp bots send media by URL only, not as uploads".into(),
                });
            }
        };
        let parsed = reqwest::Url::parse(&link).map_err(|e| SendError::Unsupported {
            field: "url",
            message: format!("url: {e}"),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(SendError::Unsupported {
                field: "url",
                message: "url: WhatsApp fetches media over http(s) only".into(),
            });
        }
        let kind = match media.kind {
            MediaKind::Photo => "image",
            MediaKind::Document => "document",
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
        };
        let mut object = json!({ "link": link });
        let caption = media.caption.filter(|c| !c.is_empty());
        if kind != "audio"
            && let Some(c) = &caption
        {
            object["caption"] = json!(c);
        }
        if kind == "document"
            && let Some(name) = parsed
                .path_segments()
                .and_then(|mut s| s.next_back())
                .filter(|n| !n.is_empty())
        {
            object["filename"] = json!(name);
        }
        let body = json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": peer,
            "type": kind,
            kind: object,
        });
        let (id, wa_id) = self.post_message(peer, &body).await?;
        if kind == "audio"
            && let Some(c) = &caption
        {
            let follow = json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": peer,
                "type": "text",
                "text": {"preview_url": false, "body": c},
            });
            if let Err(e) = self.post_message(peer, &follow).await {
                tracing::warn!(error = %e, "the audio was sent, its caption was not");
            }
        }
        Ok(self.sent(id, &wa_id, chat, caption))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> WhatsappProvider {
        let credentials = WhatsappCredentials {
            access_token: "EAAGtesttesttesttesttest".into(),
            phone_number_id: "106540352242922".into(),
            app_secret: "0123456789abcdef".into(),
            verify_token: "verify-me-1".into(),
        };
        WhatsappProvider::new(&credentials, "http://127.0.0.1:1/v21.0").expect("provider")
    }

    #[test]
    fn chats_are_phone_numbers() {
        let p = provider();
        let chat = |s: &str| ChatRef::parse(s).expect("chat ref");
        for ok in [
            "+15550100001",
            "15550100001",
            "491711234567",
            "123456",
            "123456789012345",
        ] {
            assert!(p.check_chat(&chat(ok), false).is_ok(), "{ok}");
        }
        for bad in [
            "12345",
            "1234567890123456",
            "+",
            "++15550100001",
            "1555-010",
            "@someone",
            "C0123",
            "-100",
        ] {
            assert!(p.check_chat(&chat(bad), false).is_err(), "{bad}");
        }
        assert!(p.check_chat(&chat("15550100001"), true).is_err());
    }

    /// A callback as Meta documents it (with Meta's `\/` and `\u` escapes), with a status change and
    /// another number's message, which are not ours.
    #[test]
    fn a_callback_becomes_messages() {
        let p = provider();
        let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[
            {"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},
              "contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],
              "messages":[{"from":"16505551234","id":"wamid.HBgLMTY1MDUwNzY1MjAVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=","timestamp":"1749416383","type":"text","text":{"body":"Does it come in another color? h\u00e9 \/ok"}},
                          {"from":"16505551234","id":"wamid.2","timestamp":"1749416390","type":"image","image":{"caption":"this one","mime_type":"image\/jpeg","sha256":"x","id":"1"}},
                          {"from":"16505551234","id":"wamid.3","timestamp":"1749416391","type":"location","location":{"latitude":1,"longitude":2}}]},
             "field":"messages"},
            {"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},
              "statuses":[{"id":"wamid.X","status":"delivered","timestamp":"1749416400","recipient_id":"16505551234"}]},
             "field":"messages"},
            {"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550000000","phone_number_id":"999"},
              "contacts":[{"profile":{"name":"Other"},"wa_id":"1"}],
              "messages":[{"from":"16505550000","id":"wamid.other","timestamp":"1749416383","type":"text","text":{"body":"not ours"}}]},
             "field":"messages"}]}]}"#;
        let messages = p.parse_callback(body).expect("parsed");
        assert_eq!(messages.len(), 3);
        let m = &messages[0];
        assert_eq!(m.chat.id.as_str(), "16505551234");
        assert_eq!(m.chat.kind, ChatKind::Private);
        assert_eq!(m.chat.name.as_deref(), Some("Sheena Nelson"));
        let from = m.from.as_ref().expect("from");
        assert_eq!(
            (from.id.as_str(), from.name.as_str(), from.is_bot),
            ("16505551234", "Sheena Nelson", false)
        );
        assert_eq!(
            m.text.as_deref(),
            Some("Does it come in another color? hé /ok")
        );
        assert_eq!(m.date, 1_749_416_383);
        assert!(m.id.starts_with("wamid."));
        assert_eq!(messages[1].text.as_deref(), Some("this one"));
        assert_eq!(messages[2].text, None);
    }

    #[test]
    fn what_is_not_a_callback_is_an_error() {
        let p = provider();
        assert!(p.parse_callback(b"not json").is_err());
        assert!(
            p.parse_callback(br#"{"object":"page","entry":[]}"#)
                .is_err()
        );
        assert!(p.parse_callback(br#"{"update_id":1}"#).is_err());
        // A message without its required fields, or with a bad timestamp.
        let bad = br#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{
            "messages":[{"from":"1","id":"w","timestamp":"soon","type":"text","text":{"body":"x"}}]}}]}]}"#;
        assert!(p.parse_callback(bad).is_err());
        let bad = br#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{
            "messages":[{"id":"w","timestamp":"1","type":"text"}]}}]}]}"#;
        assert!(p.parse_callback(bad).is_err());
        // Statuses only: no messages, no error.
        let statuses = br#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{
            "statuses":[{"id":"w","status":"read","timestamp":"1","recipient_id":"1"}]}}]}]}"#;
        assert_eq!(p.parse_callback(statuses).expect("ok").len(), 0);
    }

    #[test]
    fn the_pacer_bursts_then_spaces_messages_to_one_user() {
        let now = Instant::now();
        let mut pacer = Pacer {
            pacing: Pacing {
                pair_burst: 3,
                pair_margin: Duration::ZERO,
                ..Pacing::default()
            },
            number: Gcra::new(now),
            pairs: HashMap::new(),
        };
        let budget = Duration::from_secs(30);
        let waits: Vec<Duration> = (0..5)
            .map(|_| pacer.reserve_pair("1", now, budget).expect("within budget"))
            .collect();
        // Three at once, then 6 s apart.
        assert_eq!(&waits[..3], &[Duration::ZERO; 3]);
        assert_eq!(waits[3], Duration::from_secs(6));
        assert_eq!(waits[4], Duration::from_secs(12));
        // Another user is not held up, nor is the number.
        assert_eq!(pacer.reserve_pair("2", now, budget), Ok(Duration::ZERO));
        assert_eq!(pacer.reserve_number(now, budget), Ok(Duration::ZERO));
        // Past the budget: refused, and nothing reserved.
        assert_eq!(
            pacer.reserve_pair("1", now, Duration::from_secs(17)),
            Err(Duration::from_secs(18))
        );
        assert_eq!(
            pacer.reserve_pair("1", now, budget),
            Ok(Duration::from_secs(18))
        );
    }

    #[test]
    fn the_pacer_spaces_the_numbers_messages() {
        let now = Instant::now();
        let mut pacer = Pacer {
            pacing: Pacing {
                messages_per_second: 4,
                ..Pacing::default()
            },
            number: Gcra::new(now),
            pairs: HashMap::new(),
        };
        let budget = Duration::from_secs(30);
        let waits: Vec<Duration> = (0..6)
            .map(|_| pacer.reserve_number(now, budget).expect("within budget"))
            .collect();
        // A second's worth at once, then 250 ms apart.
        assert_eq!(&waits[..4], &[Duration::ZERO; 4]);
        assert_eq!(waits[4], Duration::from_millis(250));
        assert_eq!(waits[5], Duration::from_millis(500));
        // Once time has passed, the bucket has refilled.
        assert_eq!(
            pacer.reserve_number(now + Duration::from_secs(3), budget),
            Ok(Duration::ZERO)
        );
    }
}
