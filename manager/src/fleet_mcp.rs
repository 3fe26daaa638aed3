//! The fleet as an MCP server (`/mcp` on the manager), so an assistant can run the fleet: each tool is a
//! call of a REST route, made in process with the caller's own key (`botfleet-mcp`), so what a key may
//! do through MCP is exactly what it may do through REST (scopes, ownership, rate limits, audit).

use mcp::{Catalog, Effect, ResourceSpec, RestCall, ToolSpec, arguments, query, schema, segment};
use rmcp::model::{Implementation, JsonObject, ServerCapabilities, ServerConfig};
use serde_json::Value;
use shared::{
    ErrorBody,
    api::{
        instances::CreateInstanceRequest,
        mcp::{InstanceRef, ListInstancesArgs, LogsArgs, ResourcesArgs},
    },
};

/// The longest a `create_instance` call waits for the new bot to connect (its answer then says
/// whether it did; the manager's `--wait-timeout-secs` may cap it lower).
const CREATE_WAIT_SECS: u32 = 60;

/// What the manager's MCP endpoint offers.
pub struct FleetCatalog;

fn instance_path(args: &JsonObject, tail: &str) -> Result<String, ErrorBody> {
    let r: InstanceRef = arguments(args)?;
    Ok(format!(
        "/api/v1/instances/{}{tail}",
        segment(r.instance_id.trim())
    ))
}

impl Catalog for FleetCatalog {
    fn info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::default())
            .with_server_info(
                Implementation::new("botfleet-manager", env!("CARGO_PKG_VERSION"))
                    .with_title("botfleet fleet manager"),
            )
            .with_instructions(
                "Runs a fleet of messaging bots, one container each. list_instances shows the bots \
                 this key may see; create_instance provisions one (its answer holds the bot's API key, \
                 shown once); start/stop/restart_instance change its worker; get_logs and \
                 get_resources show how it runs.",
            )
    }

    fn tools(&self) -> Vec<ToolSpec> {
        vec![
            ToolSpec::new(
                "list_instances",
                "List bots",
                "The bots this key may see, with their status and health: oldest first unless `sort` \
                 says otherwise, filtered by state, provider, owner, label or text.",
                schema::input_schema::<ListInstancesArgs>(),
                Effect::Reads,
            ),
            ToolSpec::new(
                "get_instance",
                "Show a bot",
                "One bot with its configuration, status, health and container.",
                schema::input_schema::<InstanceRef>(),
                Effect::Reads,
            ),
            ToolSpec::new(
                "create_instance",
                "Create a bot",
                "Provisions a bot in its own container and waits (up to a minute) for it to connect. \
                 The answer holds the bot's API key, shown only this once; `type_instance: [\"api\", \
                 \"mcp\"]` makes the bot an MCP server too (its URL is in the answer).",
                schema::input_schema::<CreateInstanceRequest>(),
                Effect::Writes,
            ),
            ToolSpec::new(
                "start_instance",
                "Start a bot",
                "Starts a stopped or failed bot's worker.",
                schema::input_schema::<InstanceRef>(),
                Effect::Writes,
            ),
            ToolSpec::new(
                "stop_instance",
                "Stop a bot",
                "Stops the bot's worker: it receives and sends nothing until started.",
                schema::input_schema::<InstanceRef>(),
                Effect::Disrupts,
            ),
            ToolSpec::new(
                "restart_instance",
                "Restart a bot",
                "Restarts the bot's worker (also the way out of `failed`).",
                schema::input_schema::<InstanceRef>(),
                Effect::Disrupts,
            ),
            ToolSpec::new(
                "get_logs",
                "Bot logs",
                "The last lines (`tail`, default 100) of the bot's worker log.",
                schema::input_schema::<LogsArgs>(),
                Effect::Reads,
            ),
            ToolSpec::new(
                "get_resources",
                "Resources",
                "CPU and memory of one bot's container (`instance_id`), or, without it (operators \
                 and admins), the host's and the fleet's.",
                schema::input_schema::<ResourcesArgs>(),
                Effect::Reads,
            ),
        ]
    }

    fn call(&self, tool: &str, args: &JsonObject) -> Result<RestCall, ErrorBody> {
        Ok(match tool {
            "list_instances" => {
                let page: ListInstancesArgs = arguments(args)?;
                RestCall::get(format!("/api/v1/instances{}", query(&page)))
            }
            "get_instance" => RestCall::get(instance_path(args, "")?),
            // The body goes as it came: the route parses and checks it, as it does any create.
            "create_instance" => RestCall::post(
                format!("/api/v1/instances?wait=true&timeout={CREATE_WAIT_SECS}"),
                Some(Value::Object(args.clone())),
            ),
            "start_instance" => RestCall::post(instance_path(args, "/start")?, None),
            "stop_instance" => RestCall::post(instance_path(args, "/stop")?, None),
            "restart_instance" => RestCall::post(instance_path(args, "/restart")?, None),
            "get_logs" => {
                let logs: LogsArgs = arguments(args)?;
                let tail = logs.tail.map(|t| format!("?tail={t}")).unwrap_or_default();
                RestCall::get(format!(
                    "/api/v1/instances/{}/logs{tail}",
                    segment(logs.instance_id.trim())
                ))
            }
            "get_resources" => {
                let r: ResourcesArgs = arguments(args)?;
                match r.instance_id {
                    Some(id) => RestCall::get(format!(
                        "/api/v1/instances/{}/resources",
                        segment(id.trim())
                    )),
                    None => RestCall::get("/api/v1/resources"),
                }
            }
            other => return Err(mcp::unknown_tool(other)),
        })
    }

    fn resources(&self) -> Vec<ResourceSpec> {
        vec![ResourceSpec {
            uri: "botfleet://fleet/instances",
            name: "instances",
            description: "The bots this key may see, with their status and health.",
            path: "/api/v1/instances",
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: Value) -> JsonObject {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn each_tool_is_the_route_it_names() {
        let c = FleetCatalog;
        let id = serde_json::json!({"instance_id": "abc"});
        for (tool, method, path) in [
            ("get_instance", "GET", "/api/v1/instances/abc"),
            ("start_instance", "POST", "/api/v1/instances/abc/start"),
            ("stop_instance", "POST", "/api/v1/instances/abc/stop"),
            ("restart_instance", "POST", "/api/v1/instances/abc/restart"),
            ("get_logs", "GET", "/api/v1/instances/abc/logs"),
            ("get_resources", "GET", "/api/v1/instances/abc/resources"),
        ] {
            let call = c.call(tool, &args(id.clone())).unwrap();
            assert_eq!((call.method.as_str(), call.path.as_str()), (method, path));
        }
        let call = c
            .call("list_instances", &args(serde_json::json!({"limit": 2})))
            .unwrap();
        assert_eq!(call.path, "/api/v1/instances?limit=2");
        let call = c
            .call(
                "list_instances",
                &args(serde_json::json!({"label": "team=support", "status": "running", "sort": "memory", "order": "desc"})),
            )
            .unwrap();
        assert_eq!(
            call.path,
            "/api/v1/instances?status=running&label=team%3Dsupport&sort=memory&order=desc"
        );
        let call = c
            .call("get_resources", &args(serde_json::json!({})))
            .unwrap();
        assert_eq!(call.path, "/api/v1/resources");
    }

    #[test]
    fn bad_arguments_name_the_argument() {
        let c = FleetCatalog;
        let refused = c
            .call("get_instance", &args(serde_json::json!({})))
            .unwrap_err();
        assert_eq!(refused.field.as_deref(), Some("instance_id"));
        let refused = c
            .call(
                "get_logs",
                &args(serde_json::json!({"instance_id": "a", "tail": 0})),
            )
            .unwrap_err();
        assert_eq!(refused.field.as_deref(), Some("tail"));
        // An id cannot reach another route.
        let call = c
            .call(
                "stop_instance",
                &args(serde_json::json!({"instance_id": "../../users"})),
            )
            .unwrap();
        assert_eq!(call.path, "/api/v1/instances/%2E%2E%2F%2E%2E%2Fusers/stop");
    }

    #[test]
    fn every_tool_has_an_object_schema() {
        for t in FleetCatalog.tools() {
            assert_eq!(t.input_schema["type"], "object", "{}", t.name);
        }
    }
}
