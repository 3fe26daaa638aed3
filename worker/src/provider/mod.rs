//! The seam between the worker and a messaging platform. Everything else in the worker (the API, jobs,
//! the agent bridge, events, the outbox and what the bot has seen) speaks these neutral types and calls
//! a [`Provider`]; only the modules below name a platform crate.

pub mod discord;
pub mod pace;
pub mod slack;
pub mod telegram;
pub mod whatsapp;

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use shared::{
    Provider as ProviderKind,
    provider::Capabilities,
    worker_api::{ChatKind, ChatRef, MediaKind, ParseMode, ReplyMarkup},
};

/// The provider the configuration's credentials name, pointed at the configured platform URLs.
pub fn build(config: &crate::config::Config) -> anyhow::Result<Arc<dyn Provider>> {
    use shared::api::credentials::Credentials;
    let credentials = config.credentials()?;
    if credentials.provider().as_str() != config.provider {
        anyhow::bail!(
            "the credentials are {}'s but the provider is {}",
            credentials.provider(),
            config.provider
        );
    }
    Ok(match credentials {
        Credentials::Telegram(c) => {
            let receive = match (&config.telegram_webhook_url, &config.control_key_sha256) {
                (Some(url), Some(digest)) => telegram::Receive::Webhook {
                    url: url.clone(),
                    secret_token: shared::secret::telegram_webhook_secret(digest),
                },
                _ => telegram::Receive::Polling,
            };
            Arc::new(telegram::TelegramProvider::new(
                &c.token,
                &config.telegram_api_url,
                receive,
            )?)
        }
        Credentials::Slack(c) => Arc::new(slack::SlackProvider::new(&c, &config.slack_api_url)?),
        Credentials::Whatsapp(c) => Arc::new(whatsapp::WhatsappProvider::new(
            &c,
            &config.whatsapp_api_url,
        )?),
        Credentials::Discord(c) => Arc::new(discord::DiscordProvider::new(
            &c,
            &config.discord_api_url,
            &config.discord_gateway_url,
        )?),
    })
}

/// Who the bot is on its platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The platform's id of the bot's account.
    pub id: String,
    /// Its display name.
    pub name: String,
    /// Its handle, where the platform has one (Telegram's username without `@`).
    pub username: Option<String>,
}

/// A chat as the platform describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chat {
    pub id: ChatRef,
    /// A group's title, a person's name; `None` when the platform did not say.
    pub name: Option<String>,
    pub kind: ChatKind,
    /// The chat's public handle, if it has one.
    pub username: Option<String>,
}

/// Someone who wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub id: String,
    pub name: String,
    pub username: Option<String>,
    pub is_bot: bool,
}

/// A message that reached the bot or that it sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The platform's id of the message.
    pub id: String,
    pub chat: Chat,
    pub from: Option<Person>,
    /// Text or caption.
    pub text: Option<String>,
    /// Unix seconds.
    pub date: i64,
}

/// How a text is formatted and what keyboard comes with it; a provider without the capability refuses
/// a request that sets one ([`SendError::Unsupported`]).
#[derive(Debug, Clone, Default)]
pub struct TextOptions {
    pub parse_mode: Option<ParseMode>,
    pub reply_markup: Option<ReplyMarkup>,
}

impl TextOptions {
    /// Refuses a parse mode or a keyboard the provider has no such thing for (the API refuses them
    /// before; this keeps a provider from silently dropping one).
    pub fn check_supported(&self, provider: ProviderKind) -> Result<(), SendError> {
        let capabilities = provider.capabilities();
        let platform = provider.display_name();
        if self.parse_mode.is_some() && !capabilities.parse_modes {
            return Err(SendError::Unsupported {
                field: "parseMode",
                message: format!("{platform} bots take no parseMode: the text is sent as written"),
            });
        }
        if self.reply_markup.is_some() && !capabilities.reply_markup {
            return Err(SendError::Unsupported {
                field: "replyMarkup",
                message: format!("{platform} bots take no replyMarkup"),
            });
        }
        Ok(())
    }
}

/// Where a media file comes from.
#[derive(Debug, Clone)]
pub enum MediaSource {
    /// A URL the platform fetches (or the provider fetches and uploads, where the platform cannot).
    Url(String),
    /// The file itself.
    Upload { file_name: String, bytes: Bytes },
}

/// A media message.
#[derive(Debug, Clone)]
pub struct Media {
    pub kind: MediaKind,
    pub source: MediaSource,
    pub caption: Option<String>,
}

/// Why connecting failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnectError {
    /// The platform refused the credentials: retrying cannot help (final until they change).
    #[error("{0}")]
    Refused(String),
    /// The platform could not be reached or failed; the caller retries with backoff.
    #[error("{0}")]
    Failed(String),
}

/// Why a send failed; each becomes one answer of the API.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    /// The request names a chat this platform cannot have: 422 naming the request's chat field.
    #[error("{message}")]
    BadChat { message: String },
    /// The platform cannot do what was asked (a parse mode, a keyboard, an upload), or a field is not
    /// what the platform takes: 422 naming the request's `field` (`replyMarkup`, `url`, `type`, …).
    #[error("{message}")]
    Unsupported {
        field: &'static str,
        message: String,
    },
    /// The platform answered and refused (chat not found, bot blocked, text too long): 422 with its words.
    #[error("{0}")]
    Refused(String),
    /// A rate limit the platform still insists on after the provider waited: 429.
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after: Duration,
    },
    /// The platform failed or could not be reached: 502. `transient` when a retry may succeed (a network
    /// error), which bulk jobs retry.
    #[error("{message}")]
    Failed { message: String, transient: bool },
    /// The bot is paused: nothing leaves it (409).
    #[error("the bot is paused; activate it to send")]
    Paused,
}

/// Where a provider delivers what reaches the bot, and reports that its link to the platform lives.
pub trait Inbound: Send + Sync {
    /// A message reached the bot.
    fn message(&self, message: Message);
    /// The platform answered (a long poll, a heartbeat ACK, an envelope): the link is alive.
    fn alive(&self);
    /// The link failed; the provider is reconnecting. `first` for the first failure in a row.
    fn trouble(&self, error: &str, first: bool);
    /// The link works again after `failures` failures.
    fn recovered(&self, failures: u32);
}

/// One messaging platform. A worker runs one, chosen by its credentials.
#[async_trait::async_trait]
pub trait Provider: Send + Sync + 'static {
    fn kind(&self) -> ProviderKind;

    /// What this provider can do.
    fn capabilities(&self) -> &'static Capabilities {
        self.kind().capabilities()
    }

    /// Checks the credentials with the platform and says who the bot is. The caller retries
    /// [`ConnectError::Failed`] with backoff.
    async fn connect(&self) -> Result<Identity, ConnectError>;

    /// Receives until the future is dropped (at shutdown): every message that reaches the bot goes to
    /// `inbound`. Reconnects by itself on failures; returns only when the platform refuses the
    /// credentials (the worker then reports itself unauthorized). A provider that receives through
    /// platform webhooks only waits here.
    async fn receive(&self, inbound: Arc<dyn Inbound>) -> ConnectError;

    /// Messages in a platform callback the manager verified and handed on (`POST
    /// /api/v1/platform/inbound`); `Err` says why the body is not one of this platform's callbacks.
    fn parse_callback(&self, body: &[u8]) -> Result<Vec<Message>, String> {
        let _ = body;
        Err(format!(
            "{} bots do not take platform callbacks",
            self.kind().display_name()
        ))
    }

    /// Checks that `chat` can be one of this platform's chats (and a group, when `group`), before
    /// anything is sent, and returns it in its one canonical spelling (Telegram's `"007"` is `"7"`), so
    /// per-chat limits cannot be dodged by spelling a chat differently: `Err` says why not.
    fn check_chat(&self, chat: &ChatRef, group: bool) -> Result<ChatRef, String>;

    /// Sends a text, honouring the platform's rate limits (waiting where the platform asks to).
    async fn send_text(
        &self,
        chat: &ChatRef,
        text: &str,
        options: &TextOptions,
    ) -> Result<Message, SendError>;

    /// Sends a photo, document, audio or video with an optional caption.
    async fn send_media(
        &self,
        chat: &ChatRef,
        media: Media,
        options: &TextOptions,
    ) -> Result<Message, SendError>;
}
