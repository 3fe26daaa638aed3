//! A create request that passed validation (serde and garde, in `shared::http`; each provider's
//! credentials by their own rules in `shared::api::credentials`), in the form the fleet provisions from.

use shared::{
    Provider,
    agent::BotConfig,
    api::{
        credentials::{Credentials, TelegramCredentials},
        instances::{CreateInstanceRequest, Interface},
    },
};

use crate::error::ApiError;

/// A create request that passed validation.
#[derive(Debug, Clone)]
pub struct NewInstance {
    pub user_id: String,
    pub provider: Provider,
    pub type_instance: Vec<Interface>,
    pub credentials: Credentials,
    pub agno_config: Option<BotConfig>,
    pub placement: Vec<String>,
    pub labels: shared::api::instances::Labels,
    pub receive: Option<shared::provider::Receive>,
}

impl NewInstance {
    /// `type_instance` holds `mcp`: the bot gets a second port for its MCP server.
    pub fn serves_mcp(&self) -> bool {
        self.type_instance.contains(&Interface::Mcp)
    }
}

impl TryFrom<CreateInstanceRequest> for NewInstance {
    type Error = ApiError;

    fn try_from(r: CreateInstanceRequest) -> Result<Self, ApiError> {
        let mut type_instance: Vec<Interface> = Vec::new();
        for i in r.type_instance {
            if !type_instance.contains(&i) {
                type_instance.push(i);
            }
        }
        let credentials = credentials(r.provider, r.token, r.credentials)?;
        if let Some(way) = r.receive
            && !r.provider.capabilities().receive.contains(&way)
        {
            return Err(ApiError::validation(
                "receive",
                format!(
                    "{} bots cannot receive by {}; they receive by {}",
                    r.provider.display_name(),
                    way.as_str(),
                    r.provider
                        .capabilities()
                        .receive
                        .iter()
                        .map(|w| w.as_str())
                        .collect::<Vec<_>>()
                        .join(" or ")
                ),
            ));
        }
        Ok(Self {
            user_id: r.user_id.as_deref().unwrap_or_default().trim().to_string(),
            provider: r.provider,
            type_instance,
            credentials,
            agno_config: r.agno_config,
            placement: r
                .placement
                .iter()
                .map(|c| c.split_whitespace().collect())
                .collect(),
            receive: r.receive,
            labels: r.labels,
        })
    }
}

/// The provider's credentials from a request's `credentials` object, or Telegram's from the older
/// top-level `token`; exactly one of the two. A refusal names the field (`credentials.app_token`).
pub fn credentials(
    provider: Provider,
    token: Option<String>,
    credentials: Option<serde_json::Value>,
) -> Result<Credentials, ApiError> {
    match (token, credentials) {
        (Some(_), Some(_)) => Err(ApiError::validation(
            "token",
            "give the credentials either as `credentials` or (Telegram) as `token`, not both",
        )),
        (Some(token), None) if provider == Provider::Telegram => {
            Ok(Credentials::Telegram(TelegramCredentials { token }))
        }
        (Some(_), None) => Err(ApiError::validation(
            "token",
            format!(
                "`token` is Telegram's; {} bots take `credentials` (see GET /api/v1/providers)",
                provider.display_name()
            ),
        )),
        (None, Some(value)) => Credentials::from_request(provider, value)
            .map_err(|(field, message)| ApiError::validation(field, message)),
        (None, None) => Err(ApiError::validation(
            if provider == Provider::Telegram {
                "token"
            } else {
                "credentials"
            },
            format!(
                "{} bots need `credentials` (see GET /api/v1/providers){}",
                provider.display_name(),
                if provider == Provider::Telegram {
                    ", or the bot token as `token`"
                } else {
                    ""
                }
            ),
        )),
    }
}

impl NewInstance {
    /// `telegram_api`, as the replaced system named instances.
    pub fn display_name(&self) -> String {
        let interfaces: Vec<&str> = self.type_instance.iter().map(|i| i.as_str()).collect();
        format!("{}_{}", self.provider, interfaces.join("_"))
    }
}
