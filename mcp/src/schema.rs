//! A tool's input schema from the same `utoipa` schema the REST API documents: the type's schema with
//! the schemas it refers to under `$defs` (OpenAPI 3.1 schemas are JSON Schema 2020-12), so the tool
//! and the route it calls take one shape.

use std::sync::Arc;

use rmcp::model::JsonObject;
use serde_json::Value;
use utoipa::openapi::{RefOr, schema::Schema};

const OPENAPI_REFS: &str = "#/components/schemas/";
const JSON_SCHEMA_REFS: &str = "#/$defs/";

/// The JSON Schema of `T`, for a tool's `inputSchema`.
pub fn input_schema<T: utoipa::ToSchema>() -> Arc<JsonObject> {
    let mut dependencies: Vec<(String, RefOr<Schema>)> = Vec::new();
    T::schemas(&mut dependencies);
    let mut root = to_object(&T::schema());
    if !dependencies.is_empty() {
        let defs: JsonObject = dependencies
            .iter()
            .map(|(name, schema)| (name.clone(), Value::Object(to_object(schema))))
            .collect();
        root.insert("$defs".into(), Value::Object(defs));
    }
    let mut root = Value::Object(root);
    rewrite_refs(&mut root);
    let Value::Object(root) = root else {
        unreachable!("an object stays an object")
    };
    Arc::new(root)
}

/// The schema of a tool without arguments.
pub fn no_arguments() -> Arc<JsonObject> {
    let mut schema = JsonObject::new();
    schema.insert("type".into(), Value::String("object".into()));
    schema.insert("properties".into(), Value::Object(JsonObject::new()));
    schema.insert("additionalProperties".into(), Value::Bool(false));
    Arc::new(schema)
}

fn to_object(schema: &RefOr<Schema>) -> JsonObject {
    match serde_json::to_value(schema) {
        Ok(Value::Object(object)) => object,
        _ => JsonObject::new(),
    }
}

/// `#/components/schemas/X` → `#/$defs/X`, everywhere.
fn rewrite_refs(value: &mut Value) {
    match value {
        Value::Object(object) => {
            for (key, inner) in object.iter_mut() {
                if key == "$ref"
                    && let Value::String(target) = inner
                    && let Some(name) = target.strip_prefix(OPENAPI_REFS)
                {
                    *target = format!("{JSON_SCHEMA_REFS}{name}");
                } else {
                    rewrite_refs(inner);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(dead_code)]
    #[derive(utoipa::ToSchema)]
    struct Inner {
        n: u32,
    }

    #[allow(dead_code)]
    #[derive(utoipa::ToSchema)]
    struct Outer {
        name: String,
        inner: Inner,
    }

    #[test]
    fn references_point_into_defs() {
        let schema = Value::Object((*input_schema::<Outer>()).clone());
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["properties"]["inner"]["$ref"], "#/$defs/Inner");
        assert_eq!(
            schema["$defs"]["Inner"]["properties"]["n"]["type"],
            "integer"
        );
        assert!(!schema.to_string().contains("components"));
    }
}
