//! `/api/v1/templates` (seed 003's templates) and `POST /api/v1/instances/setup` (its setup wizard):
//! built-in templates for everyone, users' own templates for them (admins and operators see all), and a
//! bot made from a template through the same path as `POST /api/v1/instances`.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use shared::{
    ErrorBody,
    agent::{AgentKind, BotConfig},
    api::{
        instances::{
            CreateInstanceQuery, CreateInstanceRequest, CreateInstanceResponse, Interface,
        },
        templates::{
            CreateTemplateRequest, DeleteTemplateResponse, SetupAgent, SetupRequest, TemplateList,
            TemplateListQuery, TemplateResponse, TemplateView, UpdateTemplateRequest,
        },
    },
    http::{ValidJson, ValidQuery},
};

use super::{
    AppState,
    instances::{BOOTSTRAP_OWNER, Created},
    views::rfc3339,
};
use crate::{
    auth::{Principal, principal::Role},
    domain::{
        now_ms,
        templates::{self, Filled, Template},
    },
    error::ApiError,
};

/// The provider a template calls when it does not say (seed 003's default).
const DEFAULT_PROVIDER: AgentKind = AgentKind::Anthropic;

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("template {id} not found"))
}

/// Who owns what the caller creates: the caller, or `admin` for the bootstrap key (as its bots).
fn owner_of_new(principal: &Principal) -> String {
    principal
        .user_id
        .clone()
        .unwrap_or_else(|| BOOTSTRAP_OWNER.to_string())
}

/// Built-ins are everyone's; a user sees their own templates, admins and operators every one.
fn may_see(principal: &Principal, t: &Template) -> bool {
    match t.owner.as_deref() {
        None => true,
        Some(owner) => principal.sees_all() || owner_of_new(principal) == owner,
    }
}

/// The template `id` if the caller may see it; another user's template is the 404 of an unknown id.
async fn visible(state: &AppState, principal: &Principal, id: &str) -> Result<Template, ApiError> {
    if let Some(t) = templates::built_in(id) {
        return Ok(t.clone());
    }
    match state.fleet.store.template(id).await? {
        Some(t) if may_see(principal, &t) => Ok(t),
        _ => Err(not_found(id)),
    }
}

/// The template `id` if the caller may change it: not a built-in (403), theirs or the caller an admin.
async fn changeable(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<Template, ApiError> {
    let t = visible(state, principal, id).await?;
    if t.built_in() {
        return Err(ApiError::Forbidden(format!(
            "template {id} is built in and read-only; create your own with POST /api/v1/templates"
        )));
    }
    let owner = t.owner.as_deref().unwrap_or_default();
    if principal.role != Role::Admin && owner_of_new(principal) != owner {
        return Err(ApiError::Forbidden(format!(
            "only the owner of template {id} or an admin may change it"
        )));
    }
    Ok(t)
}

fn view(t: &Template) -> TemplateView {
    TemplateView {
        id: t.id.clone(),
        name: t.name.clone(),
        description: t.description.clone(),
        category: t.category.clone(),
        system_prompt: t.system_prompt.clone(),
        welcome_message: t.welcome_message.clone(),
        fallback_message: t.fallback_message.clone(),
        llm_provider: t.llm_provider,
        llm_model: t.llm_model.clone(),
        llm_config: t.llm_config.clone(),
        // Every stored text was parsed when it was written; the built-ins by a unit test.
        placeholders: t.placeholders().unwrap_or_default(),
        built_in: t.built_in(),
        owner: t.owner.clone(),
        created_at: rfc3339(t.created_at),
        updated_at: rfc3339(t.updated_at),
    }
}

fn answer(t: &Template) -> Json<TemplateResponse> {
    Json(TemplateResponse {
        success: true,
        template: view(t),
    })
}

#[utoipa::path(get, path = "/api/v1/templates", tag = "templates",
    summary = "Templates the caller sees: the built-ins, then their own (admins and operators: every one), oldest first",
    params(TemplateListQuery),
    responses((status = 200, description = "A page of templates", body = TemplateList)),
    security(("admin_key" = [])))]
pub async fn list_templates(
    State(state): State<AppState>,
    principal: Principal,
    ValidQuery(q): ValidQuery<TemplateListQuery>,
) -> Result<Json<TemplateList>, ApiError> {
    let category = q.category.as_deref();
    let mut all: Vec<Template> = templates::built_ins()
        .iter()
        .filter(|t| category.is_none() || t.category.as_deref() == category)
        .cloned()
        .collect();
    let owner = (!principal.sees_all()).then(|| owner_of_new(&principal));
    all.extend(
        state
            .fleet
            .store
            .templates(owner.as_deref(), category)
            .await?,
    );
    let templates: Vec<TemplateView> = all
        .iter()
        .skip(q.offset as usize)
        .take(q.limit() as usize)
        .map(view)
        .collect();
    Ok(Json(TemplateList {
        success: true,
        total: all.len(),
        count: templates.len(),
        templates,
    }))
}

#[utoipa::path(post, path = "/api/v1/templates", tag = "templates",
    summary = "Create a template of the caller's own",
    request_body = CreateTemplateRequest,
    responses((status = 201, description = "Created; `placeholders` lists what a setup must fill", body = TemplateResponse)),
    security(("admin_key" = [])))]
pub async fn create_template(
    State(state): State<AppState>,
    principal: Principal,
    ValidJson(body): ValidJson<CreateTemplateRequest>,
) -> Result<(StatusCode, Json<TemplateResponse>), ApiError> {
    let now = now_ms();
    let t = Template {
        id: format!("tpl_{}", uuid::Uuid::new_v4().simple()),
        owner: Some(owner_of_new(&principal)),
        name: body.name,
        description: body.description,
        category: body.category,
        system_prompt: body.system_prompt,
        welcome_message: body.welcome_message,
        fallback_message: body.fallback_message,
        llm_provider: body.llm_provider.unwrap_or(DEFAULT_PROVIDER),
        llm_model: body.llm_model,
        llm_config: body.llm_config.unwrap_or_default(),
        created_at: now,
        updated_at: now,
    };
    t.placeholders()?;
    state.fleet.store.insert_template(&t).await?;
    Ok((StatusCode::CREATED, answer(&t)))
}

#[utoipa::path(get, path = "/api/v1/templates/{id}", tag = "templates", summary = "One template",
    params(("id" = String, Path, description = "Template id (`tpl_…`)")),
    responses((status = 200, description = "The template", body = TemplateResponse)),
    security(("admin_key" = [])))]
pub async fn get_template(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<TemplateResponse>, ApiError> {
    Ok(answer(&visible(&state, &principal, &id).await?))
}

#[utoipa::path(patch, path = "/api/v1/templates/{id}", tag = "templates",
    summary = "Change a template: the fields given",
    params(("id" = String, Path, description = "Template id (`tpl_…`)")),
    request_body = UpdateTemplateRequest,
    responses((status = 200, description = "The changed template", body = TemplateResponse),
        (status = 403, description = "A built-in template (read-only), or another user's template the caller sees but may not change", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn update_template(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ValidJson(body): ValidJson<UpdateTemplateRequest>,
) -> Result<Json<TemplateResponse>, ApiError> {
    let mut t = changeable(&state, &principal, &id).await?;
    if let Some(name) = body.name {
        t.name = name;
    }
    if let Some(description) = body.description {
        t.description = description;
    }
    if let Some(category) = body.category {
        t.category = category;
    }
    if let Some(prompt) = body.system_prompt {
        t.system_prompt = prompt;
    }
    if let Some(welcome) = body.welcome_message {
        t.welcome_message = welcome;
    }
    if let Some(fallback) = body.fallback_message {
        t.fallback_message = fallback;
    }
    if let Some(provider) = body.llm_provider {
        t.llm_provider = provider;
    }
    if let Some(model) = body.llm_model {
        t.llm_model = model;
    }
    if let Some(config) = body.llm_config {
        t.llm_config = config;
    }
    t.placeholders()?;
    t.updated_at = now_ms().max(t.created_at);
    if !state.fleet.store.update_template(&t).await? {
        // Deleted meanwhile.
        return Err(not_found(&id));
    }
    Ok(answer(&t))
}

#[utoipa::path(delete, path = "/api/v1/templates/{id}", tag = "templates",
    summary = "Delete a template (bots made from it keep their configuration)",
    params(("id" = String, Path, description = "Template id (`tpl_…`)")),
    responses((status = 200, description = "Deleted", body = DeleteTemplateResponse),
        (status = 403, description = "A built-in template (read-only), or another user's template the caller sees but may not change", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn delete_template(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<DeleteTemplateResponse>, ApiError> {
    changeable(&state, &principal, &id).await?;
    if !state.fleet.store.delete_template(&id).await? {
        return Err(not_found(&id));
    }
    Ok(Json(DeleteTemplateResponse {
        success: true,
        message: format!("template {id} deleted"),
        template_id: id,
    }))
}

/// What a bot made from `template` is configured with: the filled prompt and messages, the template's
/// provider and model (unless `agent` overrides them) and the agent to call. The one place a template
/// becomes a bot's configuration.
///
fn bot_config(
    template: &Template,
    filled: Filled,
    name: String,
    agent: Option<SetupAgent>,
    llm_api_key: Option<String>,
) -> BotConfig {
    let agent = agent.as_ref();
    let nonempty = |s: &str| (!s.trim().is_empty()).then(|| s.to_string());
    let llm_config = template.llm_config.clone();
    BotConfig {
        name: Some(name),
        description: nonempty(&template.description),
        llm_provider: Some(agent.and_then(|a| a.kind).unwrap_or(template.llm_provider)),
        llm_url: agent.map(|a| a.url.clone()),
        llm_agent_id: agent.and_then(|a| a.agent_id.clone()),
        llm_model: agent
            .and_then(|a| a.model.clone())
            .or_else(|| template.llm_model.clone()),
        llm_config: (llm_config != Default::default()).then_some(llm_config),
        llm_api_key: llm_api_key.or_else(|| agent.and_then(|a| a.api_key.clone())),
        system_prompt: Some(filled.system_prompt),
        conversation_max_messages: agent.and_then(|a| a.context_messages),
        welcome_message: filled.welcome_message,
        fallback_message: filled.fallback_message,
        timeout_secs: agent.and_then(|a| a.timeout_secs),
        ..Default::default()
    }
}

/// A field of the create request, as the setup body names it.
fn setup_field(field: &str, has_placeholders: bool) -> String {
    let texts = ["system_prompt", "welcome_message", "fallback_message"];
    match field.strip_prefix("agno_config.") {
        Some(text) if texts.iter().any(|t| text.starts_with(t)) => {
            if has_placeholders {
                "config_values".into()
            } else {
                "template_id".into()
            }
        }
        Some("api_key") => "llm_api_key".into(),
        Some(rest) => format!("agent.{rest}"),
        None if field == "provider" => "platform".into(),
        None => match field.strip_prefix("credentials") {
            Some(rest) => format!("platform_config{rest}"),
            None => field.to_string(),
        },
    }
}

/// A refusal of the create path, with its field named as the setup body names it.
fn setup_error(e: ApiError, has_placeholders: bool) -> ApiError {
    let (field, message) = match e {
        ApiError::Validation { field, message } => (field, message),
        ApiError::Rejected(r) => match r.body.field.clone() {
            Some(field) => {
                let message = r
                    .body
                    .error
                    .strip_prefix(&format!("{field}: "))
                    .unwrap_or(&r.body.error)
                    .to_string();
                (field, message)
            }
            None => return ApiError::Rejected(r),
        },
        other => return other,
    };
    let renamed = setup_field(&field, has_placeholders);
    if renamed == field {
        ApiError::validation(field, message)
    } else {
        let what = field.strip_prefix("agno_config.").unwrap_or(&field);
        ApiError::validation(renamed, format!("{what} of the bot: {message}"))
    }
}

#[utoipa::path(post, path = "/api/v1/instances/setup", tag = "templates",
    summary = "Create a bot from a template (seed 003's setup wizard)",
    params(CreateInstanceQuery),
    request_body = SetupRequest,
    responses(
        (status = 201, description = "Created, as `POST /api/v1/instances` answers: the template's prompt and \
            messages, filled from `config_values`, are the bot's agent configuration", body = CreateInstanceResponse),
        (status = 404, description = "No template by that id, or another user's", body = ErrorBody),
        (status = 409, description = "The token is already used by another instance, or a quota is reached", body = ErrorBody),
        (status = 503, description = "No free port, or the container engine is unreachable", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn setup_instance(
    State(state): State<AppState>,
    principal: Principal,
    ValidQuery(params): ValidQuery<CreateInstanceQuery>,
    ValidJson(body): ValidJson<SetupRequest>,
) -> Result<Created, ApiError> {
    let template = visible(&state, &principal, &body.template_id).await?;
    let has_placeholders = !template.placeholders()?.is_empty();
    let filled = template.fill(&body.config_values)?;
    if body.llm_api_key.is_some() && body.agent.as_ref().is_some_and(|a| a.api_key.is_some()) {
        return Err(ApiError::validation(
            "llm_api_key",
            "give the agent's key once: as `llm_api_key` or as `agent.api_key`",
        ));
    }
    if let Some(agent) = &body.agent {
        state
            .fleet
            .check_destination("agent.url", Some(&agent.url))?;
    }
    let name = body.bot_name.unwrap_or_else(|| template.name.clone());
    tracing::info!(template = %template.id, bot_name = %name, "setting up a bot from a template");
    let request = CreateInstanceRequest {
        user_id: body.user_id,
        provider: body.platform,
        type_instance: vec![Interface::Api],
        token: None,
        credentials: Some(body.platform_config),
        receive: body.receive,
        agno_config: Some(bot_config(
            &template,
            filled,
            name,
            body.agent,
            body.llm_api_key,
        )),
        placement: Vec::new(),
        labels: Default::default(),
    };
    // The rules `POST /api/v1/instances` applies to its body, on what the template made of this one.
    shared::http::validate(&request).map_err(|r| setup_error(r.into(), has_placeholders))?;
    super::instances::provision(&state, &principal, &params, request)
        .await
        .map_err(|e| setup_error(e, has_placeholders))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_path_fields_are_named_as_the_setup_body_names_them() {
        assert_eq!(setup_field("agno_config.url", true), "agent.url");
        assert_eq!(
            setup_field("agno_config.system_prompt", true),
            "config_values"
        );
        assert_eq!(
            setup_field("agno_config.welcome_message", false),
            "template_id"
        );
        assert_eq!(setup_field("agno_config.api_key", true), "llm_api_key");
        assert_eq!(
            setup_field("credentials.token", true),
            "platform_config.token"
        );
        assert_eq!(setup_field("provider", true), "platform");
        assert_eq!(setup_field("receive", true), "receive");
        assert_eq!(setup_field("user_id", true), "user_id");
    }

    #[test]
    fn a_template_becomes_the_bots_agent_configuration() {
        let t = templates::built_in("tpl_support").unwrap();
        let values = [("company_name", "Acme"), ("support_contact", "desk")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
        let filled = t.fill(&values).unwrap();
        let agent: SetupAgent = serde_json::from_str(
            r#"{"url": "http://agent.test/v1/messages", "kind": "anthropic", "api_key": "k"}"#,
        )
        .unwrap();
        let c = bot_config(t, filled.clone(), "Acme".into(), Some(agent), None);
        assert_eq!(c.llm_provider, Some(AgentKind::Anthropic));
        assert_eq!(c.llm_model, t.llm_model);
        assert_eq!(c.llm_api_key.as_deref(), Some("k"));
        assert_eq!(c.name.as_deref(), Some("Acme"));
        assert_eq!(c.llm_config.as_ref(), Some(&t.llm_config));
        assert_eq!(
            c.system_prompt.as_deref(),
            Some(filled.system_prompt.as_str())
        );
        assert_eq!(c.welcome_message, filled.welcome_message);
        assert!(c.active().is_some());
        // Without an agent the bot keeps the texts and calls none.
        let c = bot_config(t, filled, "Acme".into(), None, Some("k2".into()));
        assert_eq!(c.llm_provider, Some(t.llm_provider));
        assert_eq!(c.llm_api_key.as_deref(), Some("k2"));
        assert!(c.active().is_none());
    }
}
