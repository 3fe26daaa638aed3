//! What a bot needs to log in to its platform: one shape per provider, each checked in one place (its
//! garde rules here). The create request carries them as `credentials` (Telegram also takes the older
//! top-level `token`); the manager keeps them sealed and hands them to the worker as one JSON secret
//! (`BOTFLEET_CREDENTIALS`), tagged with the provider. None of them is ever shown again.

use garde::Validate;
use serde::{Deserialize, Serialize};

use crate::Provider;

/// Telegram: the token BotFather gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TelegramCredentials {
    /// `<digits>:<secret>`.
    #[garde(custom(telegram_token))]
    #[cfg_attr(
        feature = "openapi",
        schema(write_only, pattern = r"^[0-9]{1,20}:[A-Za-z0-9_-]{20,100}$")
    )]
    pub token: String,
}

/// Discord: the bot token, and the application's public key when the bot takes interactions through the
/// manager's `POST /api/v1/webhooks/discord/{instance_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DiscordCredentials {
    /// The bot token from the developer portal (three dot-separated parts).
    #[garde(custom(discord_token))]
    #[cfg_attr(
        feature = "openapi",
        schema(write_only, min_length = 50, max_length = 100)
    )]
    pub bot_token: String,
    /// The application's Ed25519 public key, 64 hex digits (needed for interactions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(inner(custom(hex_key)))]
    #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9a-fA-F]{64}$"))]
    pub public_key: Option<String>,
}

/// Slack: the bot token for the Web API, the app-level token for Socket Mode, and the signing secret
/// for Events API callbacks through the manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SlackCredentials {
    /// `xoxb-…`.
    #[garde(custom(prefixed("xoxb-")))]
    #[cfg_attr(
        feature = "openapi",
        schema(write_only, pattern = "^xoxb-[A-Za-z0-9-]{10,250}$")
    )]
    pub bot_token: String,
    /// `xapp-…` (connections:write), for Socket Mode.
    #[garde(custom(prefixed("xapp-")))]
    #[cfg_attr(
        feature = "openapi",
        schema(write_only, pattern = "^xapp-[A-Za-z0-9-]{10,250}$")
    )]
    pub app_token: String,
    /// The app's signing secret (checks `X-Slack-Signature` on callbacks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(inner(custom(hex_secret)))]
    #[cfg_attr(
        feature = "openapi",
        schema(write_only, pattern = "^[0-9a-fA-F]{16,128}$")
    )]
    pub signing_secret: Option<String>,
}

/// WhatsApp Business Cloud API: the number the bot sends from, a token allowed to send from it, and the
/// app's secret and verify token for the webhook the platform calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WhatsappCredentials {
    /// A system-user or temporary access token.
    #[garde(length(min = 20, max = 512), custom(token_chars))]
    #[cfg_attr(
        feature = "openapi",
        schema(write_only, min_length = 20, max_length = 512)
    )]
    pub access_token: String,
    /// The phone number's id in the Graph API (digits).
    #[garde(custom(digits))]
    #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9]{5,20}$"))]
    pub phone_number_id: String,
    /// The app secret: `X-Hub-Signature-256` is its HMAC of each callback.
    #[garde(custom(hex_secret))]
    #[cfg_attr(
        feature = "openapi",
        schema(write_only, pattern = "^[0-9a-fA-F]{16,128}$")
    )]
    pub app_secret: String,
    /// What the platform echoes in the subscription handshake (`hub.verify_token`).
    #[garde(length(min = 8, max = 128), custom(token_chars))]
    #[cfg_attr(
        feature = "openapi",
        schema(write_only, min_length = 8, max_length = 128)
    )]
    pub verify_token: String,
}

/// A bot's credentials, tagged with its provider: what the manager keeps and the worker reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum Credentials {
    Telegram(TelegramCredentials),
    Discord(DiscordCredentials),
    Slack(SlackCredentials),
    Whatsapp(WhatsappCredentials),
}

impl Credentials {
    /// Telegram's credentials: the token alone.
    pub fn telegram(token: impl Into<String>) -> Self {
        Self::Telegram(TelegramCredentials {
            token: token.into(),
        })
    }

    pub fn provider(&self) -> Provider {
        match self {
            Self::Telegram(_) => Provider::Telegram,
            Self::Discord(_) => Provider::Discord,
            Self::Slack(_) => Provider::Slack,
            Self::Whatsapp(_) => Provider::Whatsapp,
        }
    }

    /// What only one live bot may use at a time (two consumers of a Telegram token get 409s from Telegram;
    /// two gateway sessions of one Discord bot both answer): the manager refuses a second instance with it.
    pub fn identity(&self) -> &str {
        match self {
            Self::Telegram(c) => &c.token,
            Self::Discord(c) => &c.bot_token,
            Self::Slack(c) => &c.app_token,
            Self::Whatsapp(c) => &c.phone_number_id,
        }
    }

    /// The provider's shape read from a create request's `credentials` object, checked; `Err` names the
    /// field at fault (`credentials.<name>`) and never echoes a secret.
    pub fn from_request(
        provider: Provider,
        value: serde_json::Value,
    ) -> Result<Self, (String, String)> {
        fn typed<T: serde::de::DeserializeOwned + Validate<Context = ()>>(
            value: serde_json::Value,
        ) -> Result<T, (String, String)> {
            let parsed: T = serde_path_to_error_free(value)?;
            parsed.validate().map_err(|report| {
                let (path, error) = report
                    .iter()
                    .next()
                    .map(|(p, e)| (p.to_string(), e.message().to_string()))
                    .unwrap_or_default();
                (format!("credentials.{path}"), error)
            })?;
            Ok(parsed)
        }
        Ok(match provider {
            Provider::Telegram => Self::Telegram(typed(value)?),
            Provider::Discord => Self::Discord(typed(value)?),
            Provider::Slack => Self::Slack(typed(value)?),
            Provider::Whatsapp => Self::Whatsapp(typed(value)?),
        })
    }
}

/// Reads `value` as `T`, naming the field at fault but never echoing a value (serde's messages can quote
/// what was sent, which here would be a secret).
fn serde_path_to_error_free<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
) -> Result<T, (String, String)> {
    let serde_json::Value::Object(map) = &value else {
        return Err(("credentials".into(), "must be an object".into()));
    };
    let keys: Vec<String> = map.keys().cloned().collect();
    serde_json::from_value(value).map_err(|e| {
        let text = e.to_string();
        if let Some(rest) = text.strip_prefix("missing field `") {
            let name = rest.split('`').next().unwrap_or_default();
            (format!("credentials.{name}"), "is required".into())
        } else if let Some(rest) = text.strip_prefix("unknown field `") {
            let name = rest.split('`').next().unwrap_or_default();
            (
                format!("credentials.{name}"),
                "is not a field of this provider's credentials".into(),
            )
        } else {
            // A value of the wrong type: name the first field, as serde does not say which.
            let name = keys.first().cloned().unwrap_or_default();
            (format!("credentials.{name}"), "must be a string".into())
        }
    })
}

/// A Telegram token is `<bot id>:<secret>`; checking the shape catches pasted garbage before a container
/// is started for it. The error never echoes the token.
pub fn telegram_token(token: &str, _: &()) -> garde::Result {
    let valid = token.split_once(':').is_some_and(|(id, secret)| {
        (1..=20).contains(&id.len())
            && id.bytes().all(|b| b.is_ascii_digit())
            && (20..=100).contains(&secret.len())
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    });
    if valid {
        Ok(())
    } else {
        Err(garde::Error::new(
            "must look like a Telegram bot token: <digits>:<20 to 100 letters, digits, '_' or '-'>",
        ))
    }
}

/// A Discord bot token: three base64url parts joined by dots (the first is the bot's id, base64).
pub fn discord_token(token: &str, _: &()) -> garde::Result {
    let parts: Vec<&str> = token.split('.').collect();
    let valid = (50..=100).contains(&token.len())
        && parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        });
    if valid {
        Ok(())
    } else {
        Err(garde::Error::new(
            "must look like a Discord bot token: three dot-separated parts of letters, digits, '_' or '-' \
             (50 to 100 characters)",
        ))
    }
}

/// A token that starts with `prefix` and goes on with 10 to 250 letters, digits or `-`.
fn prefixed(prefix: &'static str) -> impl FnOnce(&str, &()) -> garde::Result {
    move |token, _| {
        let valid = token.strip_prefix(prefix).is_some_and(|rest| {
            (10..=250).contains(&rest.len())
                && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
        if valid {
            Ok(())
        } else {
            Err(garde::Error::new(format!(
                "must look like a Slack token: {prefix} then 10 to 250 letters, digits or '-'"
            )))
        }
    }
}

/// 16 to 128 hex digits.
fn hex_secret(s: &str, _: &()) -> garde::Result {
    if (16..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(garde::Error::new("must be 16 to 128 hex digits"))
    }
}

/// 64 hex digits (an Ed25519 public key).
fn hex_key(s: &str, _: &()) -> garde::Result {
    if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(garde::Error::new("must be 64 hex digits"))
    }
}

/// 5 to 20 digits.
fn digits(s: &str, _: &()) -> garde::Result {
    if (5..=20).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(garde::Error::new("must be 5 to 20 digits"))
    }
}

/// Printable ASCII without spaces (what a header or query can carry as it is).
fn token_chars(s: &str, _: &()) -> garde::Result {
    if s.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(garde::Error::new("must be printable ASCII without spaces"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DISCORD: &str = "MTA5ODc2NTQzMjEwOTg3NjU0.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789AB";

    #[test]
    fn each_provider_takes_its_own_shape() {
        let ok = [
            (
                Provider::Telegram,
                json!({"token": "123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAA"}),
            ),
            (
                Provider::Discord,
                json!({"bot_token": DISCORD, "public_key": "ab".repeat(32)}),
            ),
            (
                Provider::Slack,
                json!({"bot_token": "xoxb-1234-5678-abcdef", "app_token": "xapp-1-A111-222-abc",
                       "signing_secret": "0123456789abcdef0123"}),
            ),
            (
                Provider::Whatsapp,
                json!({"access_token": "EAAG".to_string() + &"x".repeat(30), "phone_number_id": "1234567890",
                       "app_secret": "0123456789abcdef", "verify_token": "verify-me-1"}),
            ),
        ];
        for (provider, value) in ok {
            let c = Credentials::from_request(provider, value).unwrap();
            assert_eq!(c.provider(), provider);
            let round: Credentials =
                serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
            assert_eq!(round, c);
        }
    }

    #[test]
    fn a_refusal_names_the_field_and_never_the_secret() {
        let refused = |provider, value| Credentials::from_request(provider, value).unwrap_err();
        let (field, message) = refused(Provider::Discord, json!({"bot_token": "secret-but-short"}));
        assert_eq!(field, "credentials.bot_token");
        assert!(!message.contains("secret-but-short"), "{message}");
        assert_eq!(
            refused(
                Provider::Slack,
                json!({"bot_token": "xoxb-1234-5678-abcdef"})
            )
            .0,
            "credentials.app_token"
        );
        assert_eq!(
            refused(
                Provider::Telegram,
                json!({"token": "1:AAAAAAAAAAAAAAAAAAAAAAAA", "x": 1})
            )
            .0,
            "credentials.x"
        );
        let (field, message) = refused(Provider::Telegram, json!({"token": 5}));
        assert_eq!(field, "credentials.token");
        assert!(!message.contains('5'));
        assert_eq!(refused(Provider::Whatsapp, json!("x")).0, "credentials");
        assert_eq!(
            refused(
                Provider::Whatsapp,
                json!({"access_token": "x".repeat(30), "phone_number_id": "12ab",
                       "app_secret": "0123456789abcdef", "verify_token": "verify-me-1"})
            )
            .0,
            "credentials.phone_number_id"
        );
    }
}
