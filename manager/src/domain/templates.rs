//! Bot templates: the built-ins compiled into the manager, and what a template becomes once its
//! placeholders are filled.

use std::collections::BTreeMap;

use shared::{
    agent::AgentKind,
    api::templates::placeholders::{self, FillError},
};

use crate::error::ApiError;

/// A template, built-in or a user's.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub id: String,
    /// `None` for a built-in.
    pub owner: Option<String>,
    pub name: String,
    pub description: String,
    pub category: Option<String>,
    pub system_prompt: String,
    pub welcome_message: Option<String>,
    pub fallback_message: Option<String>,
    pub llm_provider: AgentKind,
    pub llm_model: Option<String>,
    pub llm_config: shared::agent::LlmConfig,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A template with its placeholders filled.
#[derive(Debug, Clone, PartialEq)]
pub struct Filled {
    pub system_prompt: String,
    pub welcome_message: Option<String>,
    pub fallback_message: Option<String>,
}

impl Template {
    pub fn built_in(&self) -> bool {
        self.owner.is_none()
    }

    /// The texts that may hold placeholders, with their field names.
    fn texts(&self) -> [(&'static str, Option<&str>); 3] {
        [
            ("system_prompt", Some(self.system_prompt.as_str())),
            ("welcome_message", self.welcome_message.as_deref()),
            ("fallback_message", self.fallback_message.as_deref()),
        ]
    }

    /// The placeholders of the prompt and messages, each once, in the order they first appear.
    /// `Err` names the text whose braces do not parse.
    pub fn placeholders(&self) -> Result<Vec<String>, ApiError> {
        let mut all: Vec<String> = Vec::new();
        for (field, text) in self.texts() {
            let Some(text) = text else { continue };
            let names = placeholders::names(text)
                .map_err(|e| ApiError::validation(field, e.to_string()))?;
            for name in names {
                if !all.contains(&name) {
                    all.push(name);
                }
            }
        }
        Ok(all)
    }

    /// The texts with every placeholder filled from `values`. A value that names no placeholder, or a
    /// placeholder without a value, is a 422 naming it (as `config_values.<name>`).
    pub fn fill(&self, values: &BTreeMap<String, String>) -> Result<Filled, ApiError> {
        let wanted = self.placeholders()?;
        if let Some(unknown) = values.keys().find(|k| !wanted.contains(k)) {
            let shown = shared::api::templates::shown_key(unknown);
            return Err(ApiError::validation(
                format!("config_values.{shown}"),
                format!(
                    "template {} has no placeholder `{{{shown}}}`; its placeholders are: {}",
                    self.id,
                    listed(&wanted)
                ),
            ));
        }
        if let Some(missing) = wanted.iter().find(|w| !values.contains_key(*w)) {
            return Err(ApiError::validation(
                format!("config_values.{missing}"),
                format!(
                    "placeholder `{{{missing}}}` of template {} has no value; give every one of: {}",
                    self.id,
                    listed(&wanted)
                ),
            ));
        }
        let fill = |field: &str, text: &str| {
            placeholders::fill(text, values).map_err(|e| match e {
                FillError::Malformed(m) => ApiError::validation(field, m.to_string()),
                FillError::Unfilled(name) => ApiError::validation(
                    format!("config_values.{name}"),
                    format!("placeholder `{{{name}}}` has no value"),
                ),
            })
        };
        Ok(Filled {
            system_prompt: fill("system_prompt", &self.system_prompt)?,
            welcome_message: self
                .welcome_message
                .as_deref()
                .map(|t| fill("welcome_message", t))
                .transpose()?,
            fallback_message: self
                .fallback_message
                .as_deref()
                .map(|t| fill("fallback_message", t))
                .transpose()?,
        })
    }
}

fn listed(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// When the built-ins were written (2026-11-27T00:00:00Z).
const BUILT_IN_AT: i64 = 1_795_737_600_000;

/// The templates every user sees; read-only.
pub fn built_ins() -> &'static [Template] {
    static BUILT_INS: std::sync::LazyLock<Vec<Template>> = std::sync::LazyLock::new(|| {
        let config = |temperature: f64| shared::agent::LlmConfig {
            temperature: Some(temperature),
            ..Default::default()
        };
        let built_in = |id: &str, name: &str, category: &str, description: &str| Template {
            id: id.into(),
            owner: None,
            name: name.into(),
            description: description.into(),
            category: Some(category.into()),
            system_prompt: String::new(),
            welcome_message: None,
            fallback_message: None,
            llm_provider: AgentKind::OpenAi,
            llm_model: Some("gpt-4o-mini".into()),
            llm_config: config(0.3),
            created_at: BUILT_IN_AT,
            updated_at: BUILT_IN_AT,
        };
        vec![
            Template {
                system_prompt: "You are the customer support assistant of {company_name}. Answer \
                    questions about {company_name}'s products and services politely and briefly, in \
                    the language the customer writes in. Never invent prices, policies or order \
                    details: when you do not know, or the customer asks for a person, point them to \
                    {support_contact}."
                    .into(),
                welcome_message: Some(
                    "Hi! I'm {company_name}'s support assistant. How can I help you today?".into(),
                ),
                fallback_message: Some(
                    "Sorry, I can't answer right now. Please contact {support_contact}.".into(),
                ),
                ..built_in(
                    "tpl_support",
                    "Customer support",
                    "support",
                    "Answers customers' questions about a company's products and hands over to a \
                     human contact when it cannot help.",
                )
            },
            Template {
                system_prompt: "You answer frequently asked questions about {topic} for \
                    {company_name}. Use only the facts below. When the answer is not among them, say \
                    so and suggest {contact}. Keep answers short.\n\nFacts:\n{faq}"
                    .into(),
                welcome_message: Some(
                    "Hello! Ask me anything about {topic}.".into(),
                ),
                fallback_message: Some(
                    "I can't look that up right now. Please try again later or contact {contact}."
                        .into(),
                ),
                ..built_in(
                    "tpl_faq",
                    "FAQ bot",
                    "faq",
                    "Answers from a list of facts you give it, and says so when the answer is not \
                     there.",
                )
            },
            Template {
                system_prompt: "You are {assistant_name}, a helpful and friendly assistant. Answer \
                    clearly and concisely, in the language the user writes in. Say so when you are \
                    not sure."
                    .into(),
                welcome_message: Some("Hi, I'm {assistant_name}. What can I do for you?".into()),
                fallback_message: None,
                llm_config: config(0.7),
                ..built_in(
                    "tpl_assistant",
                    "General assistant",
                    "general",
                    "A general-purpose chat assistant with a name of your choice.",
                )
            },
        ]
    });
    &BUILT_INS
}

/// The built-in template `id`, if there is one.
pub fn built_in(id: &str) -> Option<&'static Template> {
    built_ins().iter().find(|t| t.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn built_ins_parse_and_are_read_only() {
        for t in built_ins() {
            assert!(t.built_in() && t.id.starts_with("tpl_"), "{}", t.id);
            assert!(!t.placeholders().unwrap().is_empty(), "{}", t.id);
            assert!(t.system_prompt.chars().count() <= 20_000);
        }
        assert_eq!(
            built_in("tpl_support").unwrap().placeholders().unwrap(),
            ["company_name", "support_contact"]
        );
    }

    #[test]
    fn filling_needs_every_placeholder_and_no_other() {
        let t = built_in("tpl_support").unwrap();
        let filled = t
            .fill(&values(&[
                ("company_name", "Acme"),
                ("support_contact", "help@acme.test"),
            ]))
            .unwrap();
        assert!(filled.system_prompt.contains("assistant of Acme."));
        assert_eq!(
            filled.welcome_message.as_deref(),
            Some("Hi! I'm Acme's support assistant. How can I help you today?")
        );
        let field = |e: ApiError| match e {
            ApiError::Validation { field, message } => (field, message),
            other => panic!("{other:?}"),
        };
        let (f, m) = field(t.fill(&values(&[("company_name", "Acme")])).unwrap_err());
        assert_eq!(f, "config_values.support_contact");
        assert!(m.contains("{support_contact}"), "{m}");
        let (f, m) = field(
            t.fill(&values(&[
                ("company_name", "Acme"),
                ("support_contact", "x"),
                ("colour", "red"),
            ]))
            .unwrap_err(),
        );
        assert_eq!(f, "config_values.colour");
        assert!(
            m.contains("{colour}") && m.contains("`company_name`"),
            "{m}"
        );
    }

    #[test]
    fn a_stored_text_that_does_not_parse_names_its_field() {
        let mut t = built_in("tpl_assistant").unwrap().clone();
        t.fallback_message = Some("oops }".into());
        match t.placeholders().unwrap_err() {
            ApiError::Validation { field, .. } => assert_eq!(field, "fallback_message"),
            other => panic!("{other:?}"),
        }
    }
}
