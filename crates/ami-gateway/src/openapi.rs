//! The OpenAPI 3.1 document, generated from the route table (`crate::routes`) and built once;
//! `GET /v1/openapi.json` serves it (the app hands it to the handler, so the route table,
//! which names every handler, need not import this module).

use std::sync::OnceLock;

use serde_json::{Map, Value, json};

use crate::error::ERROR_CODES;
use crate::routes::{Body, ROUTES};

/// The document as JSON text.
pub fn document_json() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| document().to_string())
}

/// Headers an action may carry: Asterisk's line limit less the `Action:` and `ActionID:` lines.
const MAX_HEADERS: usize = ami_proto::MAX_ACTION_LINES - 2;

fn schemas() -> Value {
    // What `action_from_json` accepts: single-line strings, numbers, booleans, Latin-1.
    let header_value = json!({
        "oneOf": [
            {"type": "string", "pattern": "^[^\r\n]*$"},
            {"type": "number"},
            {"type": "boolean"},
            {"$ref": "#/components/schemas/Latin1"},
        ]
    });
    let mut schemas = json!({
        "HeaderValue": header_value.clone(),
        "HeaderValues": {"oneOf": [header_value.clone(), {"type": "array", "items": header_value.clone(), "maxItems": MAX_HEADERS}]},
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string", "enum": ERROR_CODES},
                        "message": {"type": "string"},
                        "response": {"$ref": "#/components/schemas/Message"},
                    },
                },
            },
        },
        "Latin1": {
            "type": "object",
            "description": "Bytes that are not UTF-8: each character is one byte (U+0000-U+00FF).",
            "required": ["latin1"],
            "properties": {"latin1": {"type": "string", "pattern": "^[\\u0000-\\u0009\\u000b\\u000c\\u000e-\\u00ff]*$"}},
            "additionalProperties": false,
        },
        "Message": {
            "type": "object",
            "description": "An AMI message in the one JSON mapping: header names as sent; a repeated name maps to an array; `_text` holds lines without a name, `_body` a legacy Command body.",
            "additionalProperties": true,
        },
        "ActionHeaders": {
            "type": "object",
            "description": "Headers of the action (not ActionID, which the gateway sets, nor Action: the action is named in the path; either is 400); an array sends the key once per element. At most 125 headers in all, arrays expanded (Asterisk reads 127 lines, Action and ActionID included), each `Name: value` line at most 1022 bytes; over that is 413. A key given twice is 400.",
            "maxProperties": MAX_HEADERS,
            "propertyNames": {
                // As the encoder checks names: no CR, LF, colon, space or tab.
                "pattern": "^[^:\r\n \t]+$",
                "not": {"pattern": "^[Aa][Cc][Tt][Ii][Oo][Nn]([Ii][Dd])?$"},
            },
            "additionalProperties": {
                "oneOf": [header_value.clone(), {"type": "array", "items": header_value, "maxItems": MAX_HEADERS}],
            },
        },
        "ActionResult": {
            "type": "object",
            "properties": {
                "response": {"$ref": "#/components/schemas/Message"},
                "items": {"type": "array", "items": {"$ref": "#/components/schemas/Message"}},
                "complete": {"$ref": "#/components/schemas/Message"},
                "output": {"type": "string", "description": "CLI text of a Command action."},
                "text": {"type": "string", "description": "Raw text of the legacy Queues action."},
            },
        },
        "CommandRequest": {
            "type": "object",
            "required": ["command"],
            "properties": {"command": {"type": "string", "pattern": "^[^\r\n]*\\S[^\r\n]*$"}},
            "additionalProperties": false,
        },
        "CommandResult": {
            "type": "object",
            "required": ["command", "format", "parsed", "output"],
            "properties": {
                "command": {"type": "string"},
                "format": {"type": "string", "description": "Which parser read the output (channels_concise, queues, uptime, table, lines ...)."},
                "parsed": {"description": "Records (an array) or an object (uptime)."},
                "output": {"type": "string"},
            },
        },
        "Server": {
            "type": "object",
            "required": ["name", "state", "state_since", "ami_version", "connected_seconds", "uptime_seconds", "reconnects", "last_error"],
            "properties": {
                "name": {"type": "string"},
                "state": {"type": "string", "enum": ["connecting", "connected", "disconnected"]},
                "state_since": {"type": "integer", "description": "Unix time of the last state change."},
                "ami_version": {"type": ["string", "null"]},
                "connected_seconds": {"type": ["integer", "null"]},
                "uptime_seconds": {"type": ["integer", "null"], "description": "The PBX's uptime (core show uptime), when the AMI user may run Command."},
                "reconnects": {"type": "integer"},
                "last_error": {"type": ["string", "null"]},
            },
        },
        "ServerList": {
            "type": "object",
            "required": ["servers"],
            "properties": {"servers": {"type": "array", "items": {"$ref": "#/components/schemas/Server"}}},
        },
        "Health": {
            "type": "object",
            "required": ["status", "uptime_seconds"],
            "properties": {"status": {"type": "string", "enum": ["ok"]}, "uptime_seconds": {"type": "integer"}},
        },
        "Ready": {
            "type": "object",
            "required": ["status", "servers", "connected"],
            "properties": {
                "status": {"type": "string", "enum": ["ready", "not_ready"]},
                "servers": {"type": "integer"},
                "connected": {"type": "integer"},
            },
        },
        "Document": {"type": "object"},
        // The live state is `ami_state::Snapshot` as serde writes it: objects the model gains
        // later are served as they come, so the schemas name what is there today and allow more.
        "StateSnapshot": {
            "type": "object",
            "description": "The live state: channels and bridges by id, calls oldest first, queues by name (and any object the state model adds, under its own key).",
            "properties": {
                "channels": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/StateChannel"}},
                "calls": {"type": "array", "items": {"$ref": "#/components/schemas/StateCall"}},
                "bridges": {"type": "object", "additionalProperties": {"type": "object"}},
                "queues": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/StateQueue"}},
            },
            "additionalProperties": true,
        },
        "StateChannel": {
            "type": "object",
            "description": "One channel, keyed by its Uniqueid: name, linkedid, state and state_desc, caller ID and connected line, context/exten/priority, application and its data, bridge.",
            "properties": {
                "name": {"type": "string"},
                "uniqueid": {"type": "string"},
                "linkedid": {"type": ["string", "null"]},
                "state_desc": {"type": "string"},
                "bridge": {"type": ["string", "null"]},
            },
            "additionalProperties": true,
        },
        "StateCall": {
            "type": "object",
            "description": "A call: its id (the Linkedid, or a bridge or channel id without one) and its channels' Uniqueids, oldest first.",
            "properties": {
                "id": {"type": "string"},
                "channels": {"type": "array", "items": {"type": "string"}},
            },
            "additionalProperties": true,
        },
        "StateQueue": {
            "type": "object",
            "description": "A queue: name, strategy, completed and abandoned counts, members by interface (status, paused, paused_reason, penalty, calls_taken, in_call, membership), callers waiting in queue order.",
            "properties": {
                "name": {"type": "string"},
                "members": {"type": "object", "additionalProperties": {"type": "object"}},
                "callers": {"type": "array", "items": {"type": "object"}},
            },
            "additionalProperties": true,
        },
        "StateCalls": {
            "type": "object",
            "required": ["calls", "channels"],
            "properties": {
                "calls": {"type": "array", "items": {"$ref": "#/components/schemas/StateCall"}},
                "channels": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/StateChannel"}},
            },
        },
        "StateQueues": {
            "type": "object",
            "required": ["queues"],
            "properties": {
                "queues": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/StateQueue"}},
            },
        },
        "StateAgents": {
            "type": "object",
            "required": ["agents"],
            "properties": {"agents": {"description": "The agents as the state model keeps them."}},
        },
    });
    if let Some(map) = schemas.as_object_mut() {
        map.extend(crate::openapi_actions::schemas());
    }
    schemas
}

fn response_object(description: &str, body: Body) -> Value {
    let mut response = json!({ "description": description });
    let content = match body {
        Body::Json(schema) => Some((
            "application/json",
            json!({ "$ref": format!("#/components/schemas/{schema}") }),
        )),
        Body::Error => Some((
            "application/json",
            json!({ "$ref": "#/components/schemas/Error" }),
        )),
        Body::EventStream => Some(("text/event-stream", json!({ "type": "string" }))),
        Body::Text(media) => Some((media, json!({ "type": "string" }))),
        Body::Empty => None,
    };
    if let Some((media, schema)) = content {
        response["content"] = json!({ media: { "schema": schema } });
    }
    response
}

/// The OpenAPI 3.1 document, generated from [`ROUTES`].
fn document() -> Value {
    let mut paths = Map::new();
    for route in ROUTES.iter().filter(|r| !r.hidden) {
        let mut responses = Map::new();
        for (status, description, body) in route.responses {
            responses.insert(status.to_string(), response_object(description, *body));
        }
        let parameters: Vec<Value> = route
            .params
            .iter()
            .map(|param| {
                let mut schema = json!({ "type": "string" });
                if let Some(pattern) = param.pattern {
                    schema["pattern"] = json!(pattern);
                }
                json!({
                    "name": param.name,
                    "in": param.location,
                    "required": param.location == "path",
                    "description": param.description,
                    "schema": schema,
                })
            })
            .collect();
        let mut operation = json!({
            "operationId": route.operation_id,
            "summary": route.summary,
            "tags": [route.tag],
            "responses": responses,
        });
        if !parameters.is_empty() {
            operation["parameters"] = Value::Array(parameters);
        }
        if let Some((schema, required)) = route.request {
            operation["requestBody"] = json!({
                "required": required,
                "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}},
            });
        }
        operation["security"] = if route.secured {
            json!([{ "bearer": [] }])
        } else {
            json!([])
        };
        let item = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| json!({}));
        item[route.method] = operation;
    }
    // Each catalogued action gets a typed path of its own, a copy of the generic one.
    if let Some(generic) = paths
        .get("/v1/servers/{name}/actions/{action}")
        .map(|item| item["post"].clone())
    {
        paths.extend(crate::openapi_actions::paths(&generic));
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "amikit gateway",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "HTTP/JSON, SSE and WebSocket access to a fleet of Asterisk servers over AMI. Errors are {\"error\": {\"code\", \"message\"}}.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::ROUTES;

    #[test]
    fn every_documented_ref_exists() {
        let document = document();
        let text = document.to_string();
        let schemas = document["components"]["schemas"]
            .as_object()
            .expect("schemas");
        for piece in text.split("#/components/schemas/").skip(1) {
            let name: String = piece.chars().take_while(|c| c.is_alphanumeric()).collect();
            assert!(schemas.contains_key(&name), "missing schema {name}");
        }
    }

    #[test]
    fn every_route_is_documented_once_unless_hidden() {
        let document = document();
        for route in ROUTES {
            let documented = document["paths"][route.path][route.method].is_object();
            assert_eq!(documented, !route.hidden, "{} {}", route.method, route.path);
        }
        let operations: usize = document["paths"]
            .as_object()
            .expect("paths")
            .values()
            .map(|item| item.as_object().map_or(0, |o| o.len()))
            .sum();
        assert_eq!(
            operations,
            ROUTES.iter().filter(|r| !r.hidden).count() + ami_catalog::actions().len(),
            "every route once, and one typed path per catalogued action"
        );
    }

    #[test]
    fn documented_limits_are_the_ones_enforced() {
        let document = document().to_string().to_lowercase();
        for limit in [
            format!("body over {} kib", crate::MAX_BODY / 1024),
            format!("{} lines", ami_proto::MAX_ACTION_LINES),
            format!("{} headers", MAX_HEADERS),
            format!("{} bytes per", ami_proto::MAX_LINE_BYTES),
            format!("more than {} names", crate::streams::MAX_QUERY_SERVERS),
            format!("more than {} names", crate::streams::MAX_QUERY_EVENTS),
            format!("more than {} matches", crate::streams::MAX_QUERY_HEADERS),
        ] {
            assert!(document.contains(&limit), "{limit}");
        }
    }
}
