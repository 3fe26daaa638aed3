//! Validation of `POST /api/v1/instances`: parse the body once into a `NewInstance`, so everything past
//! the handler sees only valid values.

use serde_json::{Map, Value};
use shared::Provider;

use crate::error::ApiError;

/// Interfaces an instance can expose; only the REST API exists today.
const SUPPORTED_INTERFACES: &[&str] = &["api"];

/// A create request that passed validation.
#[derive(Debug, Clone)]
pub struct NewInstance {
    pub user_id: String,
    pub provider: Provider,
    pub type_instance: Vec<String>,
    pub token: String,
    pub agno_config: Option<Value>,
}

impl NewInstance {
    pub fn from_json(body: &Value) -> Result<Self, ApiError> {
        let object = body
            .as_object()
            .ok_or_else(|| ApiError::BadRequest("the body must be a JSON object".into()))?;
        let user_id = required_string(object, "user_id")?;
        if user_id.len() > 128 {
            return Err(ApiError::validation(
                "user_id",
                "user_id must be at most 128 characters",
            ));
        }
        let provider_name = required_string(object, "provider")?;
        let provider = Provider::parse(&provider_name).ok_or_else(|| {
            let supported: Vec<_> = Provider::ALL.iter().map(|p| p.as_str()).collect();
            ApiError::validation(
                "provider",
                format!(
                    "unknown provider '{provider_name}'; supported: {}",
                    supported.join(", ")
                ),
            )
        })?;
        let type_instance = parse_type_instance(object.get("type_instance"))?;
        let token = required_string(object, "token")?;
        validate_telegram_token(&token)?;
        let agno_config = match object.get("agno_config") {
            None | Some(Value::Null) => None,
            Some(v @ Value::Object(_)) => {
                validate_agent_config(v)?;
                Some(v.clone())
            }
            Some(_) => {
                return Err(ApiError::validation(
                    "agno_config",
                    "agno_config must be an object",
                ));
            }
        };
        Ok(Self {
            user_id,
            provider,
            type_instance,
            token,
            agno_config,
        })
    }

    /// `telegram_api`, as the replaced system named instances.
    pub fn display_name(&self) -> String {
        format!("{}_{}", self.provider, self.type_instance.join("_"))
    }
}

fn required_string(object: &Map<String, Value>, field: &'static str) -> Result<String, ApiError> {
    match object.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            Err(ApiError::validation(field, format!("{field} is required")))
        }
        Some(_) => Err(ApiError::validation(
            field,
            format!("{field} must be a string"),
        )),
    }
}

fn parse_type_instance(value: Option<&Value>) -> Result<Vec<String>, ApiError> {
    const FIELD: &str = "type_instance";
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(vec!["api".into()]);
    };
    let items = value
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| ApiError::validation(FIELD, "type_instance must be a non-empty array"))?;
    let mut out = Vec::new();
    for item in items {
        let name = item
            .as_str()
            .ok_or_else(|| ApiError::validation(FIELD, "type_instance items must be strings"))?;
        if !SUPPORTED_INTERFACES.contains(&name) {
            return Err(ApiError::validation(
                FIELD,
                format!(
                    "unsupported type_instance '{name}'; supported: {}",
                    SUPPORTED_INTERFACES.join(", ")
                ),
            ));
        }
        if !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
    }
    Ok(out)
}

/// Checks an agent configuration the way the worker will read it, so a bad one is a 422 now rather than
/// a worker that will not start.
pub fn validate_agent_config(v: &Value) -> Result<(), ApiError> {
    worker::agent::AgentConfig::from_json(v)
        .map(|_| ())
        .map_err(|(field, message)| {
            ApiError::validation("agno_config", format!("agno_config.{field}: {message}"))
        })
}

/// A Telegram token is `<bot id>:<secret>`; checking the shape catches pasted garbage before a container
/// is started for it. The error never echoes the token.
pub fn validate_telegram_token(token: &str) -> Result<(), ApiError> {
    let valid = token.split_once(':').is_some_and(|(id, secret)| {
        !id.is_empty()
            && id.len() <= 20
            && id.bytes().all(|b| b.is_ascii_digit())
            && secret.len() >= 20
            && secret.len() <= 100
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    });
    if valid {
        Ok(())
    } else {
        Err(ApiError::validation(
            "token",
            "token must look like a Telegram bot token: <digits>:<at least 20 letters, digits, '_' or '-'>",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body() -> Value {
        json!({"user_id": "u1", "provider": "telegram", "type_instance": ["api"],
               "token": "123456789:AAAAAAAAAAAAAAAAAAAAAAAAAAAA"})
    }

    fn field_of(result: Result<NewInstance, ApiError>) -> String {
        match result {
            Err(ApiError::Validation { field, .. }) => field.to_string(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_body_parses() {
        let n = NewInstance::from_json(&body()).unwrap();
        assert_eq!(n.user_id, "u1");
        assert_eq!(n.display_name(), "telegram_api");
    }

    #[test]
    fn each_bad_field_is_named() {
        for (field, value) in [
            ("user_id", json!("")),
            ("user_id", json!(5)),
            ("provider", json!("whatsapp")),
            ("type_instance", json!(["mcp"])),
            ("type_instance", json!([])),
            ("token", json!("not-a-token")),
            ("token", json!("12:short")),
            ("agno_config", json!("x")),
        ] {
            let mut b = body();
            b[field] = value;
            assert_eq!(field_of(NewInstance::from_json(&b)), field);
        }
        let mut b = body();
        b.as_object_mut().unwrap().remove("token");
        assert_eq!(field_of(NewInstance::from_json(&b)), "token");
    }

    #[test]
    fn token_errors_do_not_echo_the_token() {
        let mut b = body();
        b["token"] = json!("999:secret!but-invalid");
        let err = NewInstance::from_json(&b).unwrap_err().to_string();
        assert!(!err.contains("secret!but-invalid"));
    }
}
