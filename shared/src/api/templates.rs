//! `/api/v1/templates` and `POST /api/v1/instances/setup` (seed 003's templates and setup wizard): a
//! template is a bot's configuration with `{placeholders}` in its prompt and messages; setup fills them
//! from `config_values` and creates the bot as `POST /api/v1/instances` does. Built-in templates come
//! with the manager and are read-only; users' own templates are theirs, as their bots are.

pub mod placeholders;

use std::collections::BTreeMap;

use garde::Validate;
use serde::{Deserialize, Serialize};

use crate::{Provider, agent::AgentKind, provider::Receive};

/// The longest `system_prompt`, in characters.
pub const MAX_PROMPT_CHARS: usize = 20_000;
/// The longest welcome or fallback message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 4096;
/// The most `config_values` of a setup.
pub const MAX_CONFIG_VALUES: usize = 64;
/// The longest value of `config_values`, in characters.
pub const MAX_CONFIG_VALUE_CHARS: usize = 4096;

/// A text that contains no NUL (which no database column takes).
fn no_nul(s: &str) -> garde::Result {
    if s.contains('\0') {
        Err(garde::Error::new("must not contain NUL characters"))
    } else {
        Ok(())
    }
}

/// garde rule: a one-line-ish label (name, category, model): not blank, no NUL.
fn label(s: &str, ctx: &()) -> garde::Result {
    crate::rules::not_blank(s, ctx)?;
    no_nul(s)
}

/// garde rule: a template text (prompt, welcome, fallback): no NUL, and its braces parse.
fn template_text(s: &str, ctx: &()) -> garde::Result {
    no_nul(s)?;
    placeholders::well_formed(s, ctx)
}

/// garde rule: a non-blank template text.
fn prompt_text(s: &str, ctx: &()) -> garde::Result {
    crate::rules::not_blank(s, ctx)?;
    template_text(s, ctx)
}

/// garde rule: plain text without NUL (a description).
fn plain_text(s: &str, _: &()) -> garde::Result {
    no_nul(s)
}

/// `POST /api/v1/templates` (seed 003: `name`, `description`, `category`, `system_prompt`, with the
/// bot fields a template presets). `{name}` in the prompt and messages is a placeholder; `{{` and `}}`
/// are literal braces, and any other brace is refused (422 naming the field).
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateTemplateRequest {
    #[garde(length(chars, min = 1, max = 100), custom(label))]
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 100,
            pattern = r"\S",
            example = "Acme support"
        )
    )]
    pub name: String,
    #[garde(length(chars, max = 2000), custom(plain_text))]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub description: String,
    /// What kind of bot (`support`, `faq`, …); `GET /api/v1/templates?type=` filters by it.
    #[serde(default)]
    #[garde(inner(length(chars, min = 1, max = 50), custom(label)))]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 50, pattern = r"\S")
    )]
    pub category: Option<String>,
    /// The LLM's instructions, with `{placeholders}`.
    #[garde(length(chars, min = 1, max = 20_000), custom(prompt_text))]
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 20000,
            pattern = r"\S",
            example = "You are the support assistant of {company_name}."
        )
    )]
    pub system_prompt: String,
    /// Sent in answer to `/start`, with `{placeholders}`.
    #[serde(default)]
    #[garde(inner(length(chars, max = 4096), custom(template_text)))]
    #[cfg_attr(feature = "openapi", schema(max_length = 4096))]
    pub welcome_message: Option<String>,
    /// Sent when the agent fails, with `{placeholders}`.
    #[serde(default)]
    #[garde(inner(length(chars, max = 4096), custom(template_text)))]
    #[cfg_attr(feature = "openapi", schema(max_length = 4096))]
    pub fallback_message: Option<String>,
    /// The protocol of the agent the bot calls (default `anthropic`, as seed 003's bots).
    #[serde(default)]
    #[garde(skip)]
    pub llm_provider: Option<AgentKind>,
    /// The model to ask for (`null`: the agent's default).
    #[serde(default)]
    #[garde(inner(length(chars, min = 1, max = 256), custom(label)))]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 256, pattern = r"\S")
    )]
    pub llm_model: Option<String>,
    /// Sampling settings of the bots made from it (`{"temperature": 0.3}`).
    #[serde(default)]
    #[garde(dive)]
    pub llm_config: Option<crate::agent::LlmConfig>,
}

/// `PATCH /api/v1/templates/{id}`: the fields given change; `null` clears an optional one. The
/// placeholders are read again from the result.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateTemplateRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(inner(length(chars, min = 1, max = 100), custom(label)))]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 100, pattern = r"\S")
    )]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(inner(length(chars, max = 2000), custom(plain_text)))]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub description: Option<String>,
    #[serde(
        default,
        with = "crate::api::lifecycle::double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[garde(inner(inner(length(chars, min = 1, max = 50), custom(label))))]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<String>, min_length = 1, max_length = 50, pattern = r"\S")
    )]
    pub category: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(inner(length(chars, min = 1, max = 20_000), custom(prompt_text)))]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 20000, pattern = r"\S")
    )]
    pub system_prompt: Option<String>,
    #[serde(
        default,
        with = "crate::api::lifecycle::double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[garde(inner(inner(length(chars, max = 4096), custom(template_text))))]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, max_length = 4096))]
    pub welcome_message: Option<Option<String>>,
    #[serde(
        default,
        with = "crate::api::lifecycle::double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[garde(inner(inner(length(chars, max = 4096), custom(template_text))))]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, max_length = 4096))]
    pub fallback_message: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub llm_provider: Option<AgentKind>,
    #[serde(
        default,
        with = "crate::api::lifecycle::double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[garde(inner(inner(length(chars, min = 1, max = 256), custom(label))))]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<String>, min_length = 1, max_length = 256, pattern = r"\S")
    )]
    pub llm_model: Option<Option<String>>,
    /// Replaces the whole object (`{}` empties it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(dive)]
    pub llm_config: Option<crate::agent::LlmConfig>,
}

/// A template as shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TemplateView {
    /// `tpl_…`.
    pub id: String,
    pub name: String,
    pub description: String,
    pub category: Option<String>,
    pub system_prompt: String,
    pub welcome_message: Option<String>,
    pub fallback_message: Option<String>,
    pub llm_provider: AgentKind,
    pub llm_model: Option<String>,
    pub llm_config: crate::agent::LlmConfig,
    /// The `{placeholders}` of the prompt and messages, each once, in the order they first appear:
    /// the keys a setup's `config_values` must give.
    pub placeholders: Vec<String>,
    /// Comes with the manager; read-only (PATCH and DELETE answer 403).
    pub built_in: bool,
    /// The user the template belongs to; `null` for a built-in.
    pub owner: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    pub updated_at: String,
}

/// `GET /api/v1/templates/{id}`, and the answer of a create or change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TemplateResponse {
    pub success: bool,
    pub template: TemplateView,
}

/// `GET /api/v1/templates`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TemplateList {
    pub success: bool,
    /// Templates the caller sees (of the `type` asked for), in all.
    pub total: usize,
    /// Templates in this page.
    pub count: usize,
    pub templates: Vec<TemplateView>,
}

/// `DELETE /api/v1/templates/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeleteTemplateResponse {
    pub success: bool,
    pub template_id: String,
    pub message: String,
}

/// `?type=&limit=&offset=` of `GET /api/v1/templates` (seed 003: `type` filters by category, `limit`
/// 50 by default, at most 100).
#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct TemplateListQuery {
    /// Only templates of this category.
    #[serde(default, rename = "type")]
    #[garde(inner(length(chars, min = 1, max = 50)))]
    #[cfg_attr(feature = "openapi", param(min_length = 1, max_length = 50))]
    pub category: Option<String>,
    /// At most this many (1 to 100; default 50).
    #[garde(inner(range(min = 1, max = 100)))]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 100))]
    pub limit: Option<u32>,
    /// Skip this many.
    #[serde(default)]
    #[garde(range(max = super::MAX_OFFSET))]
    #[cfg_attr(feature = "openapi", param(minimum = 0, maximum = 1000000000))]
    pub offset: u32,
}

impl TemplateListQuery {
    pub fn limit(&self) -> u32 {
        self.limit.unwrap_or(50)
    }
}

/// garde rule for `config_values`: at most 64 values of at most 4096 characters.
fn config_values_rule(values: &BTreeMap<String, String>, _: &()) -> garde::Result {
    if values.len() > MAX_CONFIG_VALUES {
        return Err(garde::Error::new(format!(
            "must have at most {MAX_CONFIG_VALUES} values"
        )));
    }
    for (key, value) in values {
        if value.chars().count() > MAX_CONFIG_VALUE_CHARS {
            return Err(garde::Error::new(format!(
                "the value of `{}` is longer than {MAX_CONFIG_VALUE_CHARS} characters",
                shown_key(key)
            )));
        }
    }
    Ok(())
}

/// A key as it is named in an error: at most 64 characters of it.
pub fn shown_key(key: &str) -> String {
    let shown: String = key.chars().take(64).collect();
    if shown.len() < key.len() {
        format!("{shown}…")
    } else {
        shown
    }
}

/// garde rule: an http(s) URL with a host and no spaces (as `agno_config.url`).
fn http_url(url: &str, _: &()) -> garde::Result {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| garde::Error::new("must be an http:// or https:// URL"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || url.chars().any(char::is_whitespace) {
        return Err(garde::Error::new("must be a URL with a host and no spaces"));
    }
    Ok(())
}

/// `agent` of a setup: where the bot's agent answers, and what the template does not say.
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetupAgent {
    /// The agent's http(s) URL (for `anthropic`, `…/v1/messages`; for `openai`,
    /// `…/v1/chat/completions`).
    #[garde(length(max = 2048), custom(http_url))]
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = r"^https?://[^/?#\s]+\S*$", max_length = 2048)
    )]
    pub url: String,
    /// Overrides the template's `llm_provider`.
    #[serde(default)]
    #[garde(skip)]
    pub kind: Option<AgentKind>,
    /// Overrides the template's `llm_model`.
    #[serde(default)]
    #[garde(inner(length(min = 1, max = 256), custom(label)))]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 256, pattern = r"\S")
    )]
    pub model: Option<String>,
    /// The agent's key (the same as `llm_api_key`; give one of the two). Write-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(inner(length(max = 4096)))]
    #[cfg_attr(feature = "openapi", schema(max_length = 4096, write_only))]
    pub api_key: Option<String>,
    /// Agno's agent id.
    #[serde(default)]
    #[garde(inner(length(max = 256)))]
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub agent_id: Option<String>,
    /// Earlier turns of the chat sent along (0 to 100, default 10).
    #[serde(default)]
    #[garde(inner(range(max = 100)))]
    #[cfg_attr(feature = "openapi", schema(maximum = 100))]
    pub context_messages: Option<u32>,
    /// Longest wait for an answer, 1 to 300 seconds (default 30).
    #[serde(default)]
    #[garde(inner(range(min = 1, max = 300)))]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 300))]
    pub timeout_secs: Option<u32>,
}

/// `POST /api/v1/instances/setup` (seed 003's setup wizard): a template and credentials make a bot.
/// Every placeholder of the template needs a value in `config_values`, and every value must name one
/// of them (422 naming it). The answer is the answer of `POST /api/v1/instances`.
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    /// A template the caller sees (`tpl_support`, or one of their own).
    #[garde(length(min = 1, max = 128))]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 128))]
    pub template_id: String,
    /// The bot's name (default: the template's name); `name` is read as the same field.
    #[serde(default, alias = "name")]
    #[garde(inner(length(chars, min = 1, max = 100), custom(label)))]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 100, pattern = r"\S")
    )]
    pub bot_name: Option<String>,
    /// The user the bot belongs to, as in `POST /api/v1/instances` (admins only may name another).
    #[serde(default)]
    #[garde(inner(length(min = 1, max = 128), custom(crate::rules::not_blank)))]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 128, pattern = r"\S")
    )]
    pub user_id: Option<String>,
    /// The messaging provider (`provider` of `POST /api/v1/instances`, accepted under that name too).
    #[serde(alias = "provider")]
    #[garde(skip)]
    pub platform: Provider,
    /// The provider's credentials (`credentials` of `POST /api/v1/instances`: Telegram's is
    /// `{"token": …}`; see `GET /api/v1/providers`; accepted as `credentials` too). Write-only.
    #[serde(alias = "credentials")]
    #[garde(skip)]
    #[cfg_attr(feature = "openapi", schema(write_only, value_type = super::instances::CredentialsSchema))]
    pub platform_config: serde_json::Value,
    /// How the bot receives messages, as in `POST /api/v1/instances`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(skip)]
    pub receive: Option<Receive>,
    /// A value for each of the template's placeholders.
    #[serde(default)]
    #[garde(custom(config_values_rule))]
    #[cfg_attr(
        feature = "openapi",
        schema(example = json!({"company_name": "Acme Corp"}))
    )]
    pub config_values: BTreeMap<String, String>,
    /// The agent's key (bring your own key). Write-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[garde(inner(length(max = 4096)))]
    #[cfg_attr(feature = "openapi", schema(max_length = 4096, write_only))]
    pub llm_api_key: Option<String>,
    /// The agent the bot calls; without it the bot calls none (and answers no `/start`).
    #[serde(default)]
    #[garde(dive)]
    pub agent: Option<SetupAgent>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<T: serde::de::DeserializeOwned + Validate<Context = ()>>(
        json: serde_json::Value,
    ) -> Result<T, String> {
        let v: T = serde_json::from_value(json).map_err(|e| e.to_string())?;
        v.validate().map_err(|e| e.to_string())?;
        Ok(v)
    }

    fn template() -> serde_json::Value {
        serde_json::json!({"name": "Support", "description": "", "system_prompt": "Help {company}.",
            "welcome_message": "Hi from {company}! {{literal}}"})
    }

    #[test]
    fn a_template_parses_and_malformed_braces_are_refused_by_field() {
        parse::<CreateTemplateRequest>(template()).unwrap();
        for (field, value) in [
            ("system_prompt", serde_json::json!("Help {company.")),
            ("system_prompt", serde_json::json!("")),
            ("system_prompt", serde_json::json!("x".repeat(20_001))),
            ("welcome_message", serde_json::json!("Hi }")),
            ("fallback_message", serde_json::json!("{ nope }")),
            ("name", serde_json::json!("")),
            ("name", serde_json::json!("n".repeat(101))),
            ("llm_provider", serde_json::json!("gemini")),
            ("llm_config", serde_json::json!("hot")),
            ("description", serde_json::json!("a\u{0}b")),
        ] {
            let mut t = template();
            t[field] = value;
            let err = parse::<CreateTemplateRequest>(t).unwrap_err();
            assert!(
                err.contains(field) || field == "llm_provider" || field == "llm_config",
                "{field}: {err}"
            );
        }
        // 20000 characters of two bytes each are within the limit.
        let mut t = template();
        t["system_prompt"] = serde_json::json!("é".repeat(20_000));
        parse::<CreateTemplateRequest>(t).unwrap();
    }

    #[test]
    fn the_setup_body_takes_the_issues_names_too() {
        let seed: SetupRequest =
            serde_json::from_value(serde_json::json!({"template_id": "tpl_faq",
            "bot_name": "A", "platform": "telegram", "platform_config": {"token": "1:x"}}))
            .unwrap();
        let issue: SetupRequest =
            serde_json::from_value(serde_json::json!({"template_id": "tpl_faq",
            "name": "A", "provider": "telegram", "credentials": {"token": "1:x"}}))
            .unwrap();
        assert_eq!(seed.bot_name, issue.bot_name);
        assert_eq!(seed.platform_config, issue.platform_config);
    }

    #[test]
    fn llm_config_is_the_bots_configuration() {
        let mut t = template();
        t["llm_config"] = serde_json::json!({"temprature": 0.2});
        assert!(parse::<CreateTemplateRequest>(t).is_err());
        let mut t = template();
        t["llm_config"] = serde_json::json!({"temperature": 0.2, "stop": ["x"]});
        parse::<CreateTemplateRequest>(t).unwrap();
    }

    #[test]
    fn a_patch_clears_with_null_and_keeps_what_is_absent() {
        let p: UpdateTemplateRequest =
            parse(serde_json::json!({"welcome_message": null, "name": "N"})).unwrap();
        assert_eq!(p.welcome_message, Some(None));
        assert_eq!(p.fallback_message, None);
        assert!(parse::<UpdateTemplateRequest>(serde_json::json!({"system_prompt": "{"})).is_err());
        assert!(parse::<UpdateTemplateRequest>(serde_json::json!({"typo": 1})).is_err());
    }

    #[test]
    fn the_seed_setup_body_parses() {
        let s: SetupRequest = parse(serde_json::json!({
            "template_id": "tpl_support", "bot_name": "Acme Support", "platform": "telegram",
            "platform_config": {"token": "123:ABC"}, "config_values": {"company_name": "Acme Corp"}}))
        .unwrap();
        assert_eq!(s.config_values["company_name"], "Acme Corp");
        for bad in [
            serde_json::json!({"template_id": "t", "platform": "telegram", "platform_config": {},
                "agent": {"url": "ftp://x"}}),
            serde_json::json!({"template_id": "t", "platform": "telegram", "platform_config": {},
                "agent": {"url": "http://"}}),
            serde_json::json!({"template_id": "t", "platform": "telegram", "platform_config": {},
                "config_values": {"a": 1}}),
            serde_json::json!({"template_id": "", "platform": "telegram", "platform_config": {}}),
            serde_json::json!({"template_id": "t"}),
            serde_json::json!({"template_id": "t", "platform": "telegram"}),
        ] {
            assert!(parse::<SetupRequest>(bad.clone()).is_err(), "{bad}");
        }
    }
}
