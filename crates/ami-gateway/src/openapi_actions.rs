//! The OpenAPI parts for each catalogued action: a request schema per action (its parameters,
//! which are required, enumerated values, repeatable ones as arrays) and a path of its own,
//! `POST /v1/servers/{name}/actions/<Action>`, so that a client generated from the document is
//! typed. The generic `{action}` route serves them all; any other action still goes through it.

use serde_json::{Map, Value, json};

/// A documented value list is an enumeration only when every value is a plain token: some
/// lists are examples (`system,call,log,...` for EventMask), and an enum of those would make
/// generated clients refuse valid values.
fn is_strict_enum(values: &[&str]) -> bool {
    !values.is_empty()
        && values
            .iter()
            .all(|v| !v.is_empty() && !v.contains("...") && !v.contains(',') && !v.contains(' '))
}

/// The schema name of an action's request body.
pub(crate) fn schema_name(action: &ami_catalog::Action) -> String {
    format!(
        "Action{}",
        action
            .name
            .replace(|c: char| !c.is_ascii_alphanumeric(), "")
    )
}

fn versions(versions: ami_catalog::Versions) -> String {
    versions
        .iter()
        .map(|v| v.label())
        .collect::<Vec<_>>()
        .join(", ")
}

/// One request schema per catalogued action.
pub(crate) fn schemas() -> Map<String, Value> {
    let mut schemas = Map::new();
    for action in ami_catalog::actions() {
        let mut properties = Map::new();
        let mut required = Vec::new();
        for param in action.params {
            // The gateway sets ActionID; the action is named in the path.
            if param.name.eq_ignore_ascii_case("ActionID")
                || param.name.eq_ignore_ascii_case("Action")
            {
                continue;
            }
            let mut value = if is_strict_enum(param.values) {
                json!({"type": "string", "enum": param.values})
            } else {
                json!({"$ref": "#/components/schemas/HeaderValue"})
            };
            let mut description = format!("Documented by Asterisk {}.", versions(param.versions));
            if !param.values.is_empty() && !is_strict_enum(param.values) {
                description.push_str(&format!(" Values such as: {}.", param.values.join(" | ")));
            }
            if let Some(default) = param.default {
                description.push_str(&format!(" Default: {default}."));
            }
            if param.repeatable {
                value = json!({"oneOf": [value.clone(), {"type": "array", "items": value}]});
            }
            value["description"] = json!(description);
            properties.insert(param.name.to_owned(), value);
            if param.is_required() {
                required.push(param.name);
            }
        }
        let mut schema = json!({
            "type": "object",
            "description": format!(
                "The headers of {} (documented by Asterisk {}). Other headers are sent as given.",
                action.name,
                versions(action.documented)
            ),
            "properties": properties,
            "additionalProperties": {"$ref": "#/components/schemas/HeaderValues"},
        });
        if !required.is_empty() {
            schema["required"] = json!(required);
        }
        schemas.insert(schema_name(action), schema);
    }
    schemas
}

/// One path per catalogued action, each a copy of the generic operation (`generic`, the
/// document's `sendAction`) with the action's own request schema and no `{action}` parameter.
pub(crate) fn paths(generic: &Value) -> Map<String, Value> {
    let mut paths = Map::new();
    for action in ami_catalog::actions() {
        let mut operation = generic.clone();
        operation["operationId"] = json!(format!(
            "action{}",
            schema_name(action).trim_start_matches("Action")
        ));
        operation["summary"] = json!(format!(
            "Sends {} (its typed request; the generic route takes any action).",
            action.name
        ));
        operation["tags"] = json!(["actions"]);
        if let Some(parameters) = operation["parameters"].as_array_mut() {
            parameters.retain(|p| p["name"] != "action");
        }
        let required = action
            .params
            .iter()
            .any(|p| p.is_required() && !p.name.eq_ignore_ascii_case("ActionID"));
        operation["requestBody"] = json!({
            "required": required,
            "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{}", schema_name(action))}}},
        });
        paths.insert(
            format!("/v1/servers/{{name}}/actions/{}", action.name),
            json!({ "post": operation }),
        );
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn originate_has_its_own_typed_request() {
        let schemas = schemas();
        let originate = &schemas["ActionOriginate"];
        assert_eq!(originate["required"], json!(["Channel"]));
        assert!(originate["properties"]["Context"].is_object());
        assert!(originate["properties"].get("ActionID").is_none());
        // Variable repeats: one value or an array of them.
        assert!(originate["properties"]["Variable"]["oneOf"].is_array());
        // EventMask's documented values are examples, not an enumeration.
        let mask = &schemas["ActionEvents"]["properties"]["EventMask"];
        assert!(mask.get("enum").is_none(), "{mask}");
        assert_eq!(schemas.len(), ami_catalog::actions().len());
    }

    #[test]
    fn every_catalogued_action_has_a_path() {
        let generic = json!({"operationId": "sendAction", "parameters": [{"name": "name"}, {"name": "action"}]});
        let paths = paths(&generic);
        let originate = &paths["/v1/servers/{name}/actions/Originate"]["post"];
        assert_eq!(originate["operationId"], "actionOriginate");
        assert_eq!(originate["requestBody"]["required"], true);
        assert_eq!(originate["parameters"], json!([{"name": "name"}]));
        assert_eq!(
            paths["/v1/servers/{name}/actions/Ping"]["post"]["requestBody"]["required"],
            false
        );
        assert_eq!(paths.len(), ami_catalog::actions().len());
    }
}
