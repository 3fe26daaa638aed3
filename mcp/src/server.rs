//! The MCP server over a REST router: `tools/list` and `resources/list` come from a [`Catalog`];
//! `tools/call` and `resources/read` become requests of the router, made in process with the caller's
//! `Authorization` (and address), so they pass the same key checks, scopes, rate limits, validation
//! and handlers as the REST API, and leave the same events and audit entries.

use std::{net::SocketAddr, sync::Arc};

use axum::{
    Router,
    body::{Body, to_bytes},
    extract::ConnectInfo,
};
use http::{HeaderName, HeaderValue, Method, Request, StatusCode, header};
use rmcp::{
    ErrorData as McpError, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, JsonObject,
        ListResourcesResult, ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams,
        ReadResourceResponse, ReadResourceResult, Resource, ResourceContents, ServerConfig, Tool,
        ToolAnnotations,
    },
    service::RequestContext,
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    },
};
use serde_json::Value;
use shared::ErrorBody;
use tower::ServiceExt;

/// Largest answer of a route a tool passes on (a page of logs or messages is far smaller).
const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;

/// Largest MCP request body taken (a tool's arguments).
const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// Marks a request a tool call made of the API in process (only this crate can set it: extensions do not
/// come from the wire). The API may skip what it already did for the MCP request that carried the call
/// (count a key use, a request against the rate limit), so nothing counts twice.
#[derive(Debug, Clone, Copy)]
pub struct Relayed;

/// What a tool does to the world, as clients are told (hints: a client may call a reading tool without
/// asking).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Reads only.
    Reads,
    /// Changes something (sends, creates, starts).
    Writes,
    /// May undo or lose something (stop, restart).
    Disrupts,
}

/// One tool: what `tools/list` shows of it.
#[derive(Debug, Clone)]
pub struct ToolSpec {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub input_schema: Arc<JsonObject>,
    pub effect: Effect,
}

impl ToolSpec {
    pub fn new(
        name: &'static str,
        title: &'static str,
        description: &'static str,
        input_schema: Arc<JsonObject>,
        effect: Effect,
    ) -> Self {
        Self {
            name,
            title,
            description,
            input_schema,
            effect,
        }
    }

    fn tool(&self) -> Tool {
        let read_only = self.effect == Effect::Reads;
        Tool::new(self.name, self.description, self.input_schema.clone())
            .with_title(self.title)
            .with_annotations(
                ToolAnnotations::with_title(self.title)
                    .read_only(read_only)
                    .destructive(self.effect == Effect::Disrupts)
                    .open_world(!read_only),
            )
    }
}

/// One resource: a `GET` route of the API, shown as JSON.
#[derive(Debug, Clone)]
pub struct ResourceSpec {
    pub uri: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    /// The route it reads (path and query).
    pub path: &'static str,
}

/// A tool call as a request of the REST API.
#[derive(Debug, Clone, PartialEq)]
pub struct RestCall {
    pub method: Method,
    /// Path and query, its parts already percent-encoded ([`segment`](crate::segment)).
    pub path: String,
    pub body: Option<Value>,
}

impl RestCall {
    /// `method` on `path` with `body` (JSON).
    pub fn new(method: Method, path: impl Into<String>, body: Option<Value>) -> Self {
        Self {
            method,
            path: path.into(),
            body,
        }
    }

    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::GET, path, None)
    }

    pub fn post(path: impl Into<String>, body: Option<Value>) -> Self {
        Self::new(Method::POST, path, body)
    }
}

/// What a server offers: its tools and resources, and how each tool call maps onto its API.
pub trait Catalog: Send + Sync + 'static {
    /// Name, version, instructions (capabilities are set by the server).
    fn info(&self) -> ServerConfig;
    /// The tools offered now.
    fn tools(&self) -> Vec<ToolSpec>;
    /// The request `tool` (one of [`tools`](Self::tools)) makes with `args`; arguments that do not
    /// parse are refused with the API's own error body (a tool error, not a protocol error).
    fn call(&self, tool: &str, args: &JsonObject) -> Result<RestCall, ErrorBody>;
    fn resources(&self) -> Vec<ResourceSpec> {
        Vec::new()
    }
}

/// The MCP handler: a catalog and the API router its calls go to.
pub struct RestMcp<C> {
    catalog: Arc<C>,
    api: Router,
}

impl<C> Clone for RestMcp<C> {
    fn clone(&self) -> Self {
        Self {
            catalog: self.catalog.clone(),
            api: self.api.clone(),
        }
    }
}

/// The streamable HTTP service to mount at `/mcp` (`Router::route_service`), answering each request on
/// its own (no sessions to lose when the process restarts), in JSON.
///
/// The SDK's `Host` check (loopback only, against DNS rebinding) is off: bots are reached at their
/// host's public address, and what guards `/mcp` is the bearer key, which a rebound page cannot send.
pub fn service<C: Catalog>(
    catalog: Arc<C>,
    api: Router,
) -> StreamableHttpService<RestMcp<C>, LocalSessionManager> {
    let handler = RestMcp { catalog, api };
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_max_request_body_bytes(MAX_REQUEST_BYTES)
        .disable_allowed_hosts();
    StreamableHttpService::new(
        move || Ok(handler.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    )
}

impl<C: Catalog> RestMcp<C> {
    /// Makes `call` on the API as the caller of this MCP request; the status and the answer's body.
    async fn forward(
        &self,
        call: RestCall,
        context: &RequestContext<RoleServer>,
    ) -> Result<(StatusCode, Vec<u8>), McpError> {
        let caller = context.extensions.get::<http::request::Parts>();
        let response = relay(&self.api, call, caller).await.map_err(internal)?;
        let status = response.status();
        let bytes = to_bytes(response.into_body(), MAX_ANSWER_BYTES)
            .await
            .map_err(internal)?;
        Ok((status, bytes.to_vec()))
    }
}

/// Makes `call` on `api` in process as the caller of `caller` (its `Authorization`, request id and
/// address), marked [`Relayed`]; the route's whole answer (its body may stream).
pub async fn relay(
    api: &Router,
    call: RestCall,
    caller: Option<&http::request::Parts>,
) -> Result<axum::response::Response, http::Error> {
    let mut request = Request::builder()
        .method(call.method)
        .uri(&call.path)
        .extension(Relayed);
    if let Some(parts) = caller {
        for name in [
            header::AUTHORIZATION,
            HeaderName::from_static("x-request-id"),
        ] {
            if let Some(value) = parts.headers.get(&name) {
                request = request.header(name, value);
            }
        }
        if let Some(connect) = parts.extensions.get::<ConnectInfo<SocketAddr>>() {
            request = request.extension(*connect);
        }
    }
    let body = match call.body {
        Some(body) => {
            request = request.header(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            Body::from(serde_json::to_vec(&body).unwrap_or_default())
        }
        None => Body::empty(),
    };
    let request = request.body(body)?;
    // The router's error type is `Infallible`.
    Ok(match api.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    })
}

fn internal(e: impl std::fmt::Display) -> McpError {
    tracing::error!(error = %e, "an MCP call could not be made");
    McpError::internal_error(e.to_string(), None)
}

/// The route's answer as the tool's result: its JSON as text (and as structured content when it is an
/// object); a refusal (4xx/5xx) is a tool error carrying the API's error body, status included.
pub fn tool_result(status: StatusCode, body: &[u8]) -> CallToolResult {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    if status.is_success() {
        let text = String::from_utf8_lossy(body).into_owned();
        let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
        if let Some(object @ Value::Object(_)) = json {
            result.structured_content = Some(object);
        }
        return result;
    }
    let mut error = match json {
        Some(Value::Object(object)) => object,
        _ => {
            let mut object = JsonObject::new();
            object.insert(
                "error".into(),
                Value::String(String::from_utf8_lossy(body).into_owned()),
            );
            object
        }
    };
    error.insert("status".into(), Value::from(status.as_u16()));
    let text = Value::Object(error.clone()).to_string();
    let mut result = CallToolResult::error(vec![ContentBlock::text(text)]);
    result.structured_content = Some(Value::Object(error));
    result
}

/// Arguments refused before any call: the 422 the route would have answered.
fn refused(body: ErrorBody) -> CallToolResult {
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    tool_result(StatusCode::UNPROCESSABLE_ENTITY, &bytes)
}

impl<C: Catalog> ServerHandler for RestMcp<C> {
    fn get_info(&self) -> ServerConfig {
        let mut info = self.catalog.info();
        info.capabilities = rmcp::model::ServerCapabilities::builder()
            .enable_tools()
            .enable_resources()
            .build();
        info
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let tools = self.catalog.tools().iter().map(ToolSpec::tool).collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let name = request.name.as_ref();
        if !self.catalog.tools().iter().any(|t| t.name == name) {
            return Err(McpError::invalid_params(
                format!("no tool named {name:?} here (tools/list shows the tools)"),
                None,
            ));
        }
        let args = request.arguments.unwrap_or_default();
        let call = match self.catalog.call(name, &args) {
            Ok(call) => call,
            Err(body) => return Ok(refused(body).into()),
        };
        let (status, body) = self.forward(call, &context).await?;
        Ok(tool_result(status, &body).into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let resources = self
            .catalog
            .resources()
            .into_iter()
            .map(|r| {
                Resource::new(r.uri, r.name)
                    .with_description(r.description)
                    .with_mime_type("application/json")
            })
            .collect();
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let Some(resource) = self
            .catalog
            .resources()
            .into_iter()
            .find(|r| r.uri == request.uri)
        else {
            return Err(McpError::resource_not_found(
                format!("no resource {:?} here", request.uri),
                None,
            ));
        };
        let (status, body) = self.forward(RestCall::get(resource.path), &context).await?;
        let text = String::from_utf8_lossy(&body).into_owned();
        if !status.is_success() {
            return Err(McpError::internal_error(
                format!("{} answered {status}: {text}", resource.path),
                None,
            ));
        }
        Ok(ReadResourceResult::new(vec![
            ResourceContents::text(text, resource.uri).with_mime_type("application/json"),
        ])
        .into())
    }
}
