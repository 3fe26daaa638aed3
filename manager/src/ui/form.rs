//! What the dashboard's forms share: a posted form shown again with its outcome (the API's refusal
//! next to the field it names), and the labelled controls every form is made of.

use maud::{Markup, html};

use super::{ApiFailure, refusal};

/// A form as it was posted, and what came of it: shown again on the page that answers the post.
#[derive(Debug, Default)]
pub struct Posted {
    /// The fields as typed (never a secret: those are not kept).
    pub fields: Vec<(String, String)>,
    /// `Ok(what was done)` or the API's refusal.
    pub outcome: Option<Result<String, Refused>>,
}

/// The API's refusal of a form: its message, and the field it names when it names one.
#[derive(Debug)]
pub struct Refused {
    pub field: Option<String>,
    pub error: String,
}

impl Posted {
    /// The value typed in `name`.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The refusal's message when it names `field` (or a field inside it, `credentials.token`).
    pub fn error_at(&self, field: &str) -> Option<&str> {
        match &self.outcome {
            Some(Err(Refused {
                field: Some(f),
                error,
            })) if f == field
                || f.ends_with(&format!(".{field}"))
                || f.starts_with(&format!("{field}.")) =>
            {
                Some(error.as_str())
            }
            _ => None,
        }
    }

    /// The outcome of an API call: `done` when it succeeded, else its refusal (a sign-out passes on).
    pub fn outcome_of(
        status: axum::http::StatusCode,
        body: &[u8],
        done: impl FnOnce() -> String,
    ) -> Result<Result<String, Refused>, ApiFailure> {
        if status.is_success() {
            return Ok(Ok(done()));
        }
        match refusal(status, body) {
            ApiFailure::Refused(_, e) => Ok(Err(Refused {
                field: e.field,
                error: e.error,
            })),
            signed_out => Err(signed_out),
        }
    }

    /// The outcome as one line a screen reader announces (`id` names it for tests and links).
    pub fn outcome_line(posted: Option<&Posted>, id: &str) -> Markup {
        html! {
            @if let Some(Ok(done)) = posted.and_then(|p| p.outcome.as_ref()) {
                p role="status" id=(id) class="ok" { (done) }
            }
            @if let Some(Err(refused)) = posted.and_then(|p| p.outcome.as_ref()) {
                p role="alert" id=(id) class="error" { (refused.error) }
            }
        }
    }
}

/// The value posted as `name`, trimmed (the first, when repeated).
pub fn posted(fields: &[(String, String)], name: &str) -> Option<String> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim().to_string())
}

/// How a control takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Url,
    Number,
    /// Never shown again: its box starts empty.
    Secret,
    Area,
}

/// A labelled control `name` with its hint and, when the API refused it, its error (`aria-invalid`,
/// announced); `value` is what it shows.
pub fn field(
    prefix: &str,
    name: &str,
    label: &str,
    kind: Kind,
    value: &str,
    hint: &str,
    error: Option<&str>,
) -> Markup {
    let id = format!("{prefix}-{name}");
    let hint_id = format!("{id}-hint");
    let error_id = format!("{id}-error");
    let described = [
        (!hint.is_empty()).then_some(&hint_id),
        error.map(|_| &error_id),
    ]
    .into_iter()
    .flatten()
    .map(String::as_str)
    .collect::<Vec<_>>()
    .join(" ");
    let invalid = error.map(|_| "true");
    html! {
        div class="field" {
            label for=(id) { (label) }
            @if kind == Kind::Area {
                textarea id=(id) name=(name) aria-invalid=[invalid] aria-describedby=(described) { (value) }
            } @else {
                input id=(id) name=(name)
                    type=(match kind { Kind::Url => "url", Kind::Number => "number", Kind::Secret => "password", _ => "text" })
                    inputmode=[(kind == Kind::Number).then_some("numeric")]
                    autocomplete=[(kind == Kind::Secret).then_some("new-password")]
                    value=(if kind == Kind::Secret { "" } else { value })
                    aria-invalid=[invalid] aria-describedby=(described);
            }
            @if !hint.is_empty() { div class="hint" id=(hint_id) { (hint) } }
            @if let Some(e) = error { div class="error" role="alert" id=(error_id) { (e) } }
        }
    }
}

/// A labelled checkbox `name` (posted as `1` when ticked).
pub fn checkbox(prefix: &str, name: &str, label: &str, checked: bool) -> Markup {
    let id = format!("{prefix}-{name}");
    html! {
        div class="field" {
            label for=(id) class="check" {
                input type="checkbox" id=(id) name=(name) value="1" checked[checked];
                " " (label)
            }
        }
    }
}
