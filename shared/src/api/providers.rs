//! `GET /api/v1/providers`: the messaging providers this manager runs bots on, what each can do, and
//! what each needs to log in.

use serde::{Deserialize, Serialize};

use crate::{
    Provider,
    provider::{Capabilities, Receive},
};

/// One field of a provider's `credentials`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CredentialField {
    pub name: String,
    pub required: bool,
    /// Never shown again once given.
    pub secret: bool,
    pub description: String,
}

/// A provider and what it can do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProviderInfo {
    pub name: Provider,
    pub display_name: String,
    pub credentials: Vec<CredentialField>,
    pub capabilities: Capabilities,
    /// Where the platform calls in, when it does: `POST /api/v1/webhooks/{platform}/{instance_id}`.
    pub webhook_path: Option<String>,
}

/// `GET /api/v1/providers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProviderList {
    pub success: bool,
    pub count: usize,
    pub providers: Vec<ProviderInfo>,
}

fn field(name: &str, required: bool, secret: bool, description: &str) -> CredentialField {
    CredentialField {
        name: name.into(),
        required,
        secret,
        description: description.into(),
    }
}

impl ProviderInfo {
    /// What the manager says about `provider`.
    pub fn of(provider: Provider) -> Self {
        let credentials = match provider {
            Provider::Telegram => vec![field(
                "token",
                true,
                true,
                "The bot token from @BotFather (<digits>:<secret>); also taken as the top-level `token`",
            )],
            Provider::Discord => vec![
                field(
                    "bot_token",
                    true,
                    true,
                    "The bot token from the developer portal",
                ),
                field(
                    "public_key",
                    false,
                    false,
                    "The application's Ed25519 public key (64 hex digits), to verify interactions sent to the webhook path",
                ),
            ],
            Provider::Slack => vec![
                field(
                    "bot_token",
                    true,
                    true,
                    "The bot token (xoxb-…) for the Web API",
                ),
                field(
                    "app_token",
                    true,
                    true,
                    "The app-level token (xapp-…, connections:write) for Socket Mode",
                ),
                field(
                    "signing_secret",
                    false,
                    true,
                    "The app's signing secret, to verify Events API calls sent to the webhook path",
                ),
            ],
            Provider::Whatsapp => vec![
                field(
                    "access_token",
                    true,
                    true,
                    "A token allowed to send from the number (Graph API)",
                ),
                field(
                    "phone_number_id",
                    true,
                    false,
                    "The number's id in the Graph API",
                ),
                field(
                    "app_secret",
                    true,
                    true,
                    "The app secret: X-Hub-Signature-256 is its HMAC of each callback",
                ),
                field(
                    "verify_token",
                    true,
                    true,
                    "What you enter as the verify token when subscribing the webhook",
                ),
            ],
        };
        let capabilities = provider.capabilities().clone();
        let webhook_path = (capabilities.receive.contains(&Receive::Webhook)
            || matches!(provider, Provider::Discord | Provider::Slack))
        .then(|| format!("/api/v1/webhooks/{provider}/{{instance_id}}"));
        Self {
            name: provider,
            display_name: provider.display_name().into(),
            credentials,
            capabilities,
            webhook_path,
        }
    }
}
