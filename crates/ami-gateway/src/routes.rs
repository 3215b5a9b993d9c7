//! The route table: one list that both builds the router and generates the OpenAPI document,
//! so the document cannot name a path or method the router does not serve (or miss one).

use axum::routing::{MethodRouter, get, post};
use serde_json::{Map, Value, json};

use crate::error::ERROR_CODES;
use crate::state::AppState;
use crate::{api, console, streams};

/// What a response carries, for the document.
#[derive(Clone, Copy)]
pub(crate) enum Body {
    /// `application/json` with this component schema.
    Json(&'static str),
    /// The error object.
    Error,
    /// `text/event-stream`.
    EventStream,
    /// Another media type, as text.
    Text(&'static str),
    /// No body (a WebSocket upgrade).
    Empty,
}

/// One path parameter or query parameter.
pub(crate) struct Param {
    pub(crate) name: &'static str,
    pub(crate) location: &'static str,
    pub(crate) description: &'static str,
    pub(crate) pattern: Option<&'static str>,
}

/// One route: method, path (the same `{param}` syntax for axum and OpenAPI), documentation,
/// and the handler.
pub(crate) struct Route {
    pub(crate) method: &'static str,
    pub(crate) path: &'static str,
    pub(crate) operation_id: &'static str,
    pub(crate) summary: &'static str,
    pub(crate) tag: &'static str,
    /// Behind the bearer-token middleware.
    pub(crate) secured: bool,
    /// Left out of the document (the console's static files).
    pub(crate) hidden: bool,
    pub(crate) params: &'static [Param],
    /// The request body's component schema, and whether a body is required.
    pub(crate) request: Option<(&'static str, bool)>,
    pub(crate) responses: &'static [(u16, &'static str, Body)],
    pub(crate) handler: fn() -> MethodRouter<AppState>,
}

const NAME_PATTERN: &str = "^[A-Za-z0-9._-]{1,64}$";

const SERVER_PARAM: Param = Param {
    name: "name",
    location: "path",
    description: "The server's configured name.",
    pattern: Some(NAME_PATTERN),
};

const STREAM_PARAMS: &[Param] = &[
    Param {
        name: "server",
        location: "query",
        description: "Server names, comma-separated (or repeat the parameter); default: every server the token may use. A name given twice counts once; more than 64 names (repeats included) is 400.",
        pattern: None,
    },
    Param {
        name: "event",
        location: "query",
        description: "Event names, comma-separated (or repeat); default: all. A name given twice counts once; more than 256 names (repeats included) is 400.",
        pattern: None,
    },
    Param {
        name: "header",
        location: "query",
        description: "A header match `Name:Value` (repeat for several; all must match, case-insensitive). More than 64 matches (repeats included) is 400.",
        pattern: Some("^[^:]*[^:\\s][^:]*:.*$"),
    },
    Param {
        name: "backlog",
        location: "query",
        description: "Send first the last N matching events the gateway saw (at most 256 are kept per server).",
        pattern: Some("^[0-9]{1,6}$"),
    },
];

const DENIED: [(u16, &str, Body); 3] = [
    (401, "No valid bearer token.", Body::Error),
    (403, "The token may not do this.", Body::Error),
    (
        429,
        "The token's rate limit was hit; see Retry-After.",
        Body::Error,
    ),
];

/// 429 on the action routes: the rate limit or the in-flight limit.
const BUSY_REQUESTS: (u16, &str, Body) = (
    429,
    "The token's rate limit was hit (rate_limited), or it has its limit of requests waiting on a server (token_request_limit); see Retry-After.",
    Body::Error,
);

/// 429 on the stream routes: the rate limit or the token's own stream limit.
const BUSY_STREAMS: (u16, &str, Body) = (
    429,
    "The token's rate limit was hit (rate_limited, see Retry-After), or it holds its limit of event streams (token_stream_limit).",
    Body::Error,
);

macro_rules! responses {
    ($($item:expr),* $(,)?) => { &[$($item),*] };
}

/// Every route the gateway serves.
pub(crate) const ROUTES: &[Route] = &[
    Route {
        method: "get",
        path: "/healthz",
        operation_id: "healthz",
        summary: "Liveness: the process is up.",
        tag: "health",
        secured: false,
        hidden: false,
        params: &[],
        request: None,
        responses: responses![(200, "Up.", Body::Json("Health"))],
        handler: || get(api::healthz),
    },
    Route {
        method: "get",
        path: "/readyz",
        operation_id: "readyz",
        summary: "Readiness: at least one AMI server is logged in.",
        tag: "health",
        secured: false,
        hidden: false,
        params: &[],
        request: None,
        responses: responses![
            (200, "Ready.", Body::Json("Ready")),
            (503, "No server is connected.", Body::Json("Ready")),
        ],
        handler: || get(api::readyz),
    },
    Route {
        method: "get",
        path: "/metrics",
        operation_id: "metrics",
        summary: "Prometheus metrics (text exposition format).",
        tag: "health",
        secured: false,
        hidden: false,
        params: &[],
        request: None,
        responses: responses![(200, "Metrics.", Body::Text("text/plain"))],
        handler: || get(api::metrics),
    },
    Route {
        method: "get",
        path: "/v1/openapi.json",
        operation_id: "openapi",
        summary: "This document.",
        tag: "meta",
        secured: false,
        hidden: false,
        params: &[],
        request: None,
        responses: responses![(200, "The OpenAPI document.", Body::Json("Document"))],
        handler: || get(crate::openapi::serve),
    },
    Route {
        method: "get",
        path: "/v1/servers",
        operation_id: "listServers",
        summary: "The servers this token may use, with connection state, AMI version and uptime.",
        tag: "servers",
        secured: true,
        hidden: false,
        params: &[],
        request: None,
        responses: responses![
            (200, "The servers.", Body::Json("ServerList")),
            DENIED[0],
            DENIED[2],
        ],
        handler: || get(api::get_servers),
    },
    Route {
        method: "post",
        path: "/v1/servers/{name}/actions/{action}",
        operation_id: "sendAction",
        summary: "Sends any AMI action. The body is a JSON object of headers (arrays for repeated keys); list actions answer with their items collected.",
        tag: "servers",
        secured: true,
        hidden: false,
        params: &[
            SERVER_PARAM,
            Param {
                name: "action",
                location: "path",
                description: "The AMI action (Ping, CoreShowChannels, QueueStatus, Originate ...).",
                pattern: Some(NAME_PATTERN),
            },
        ],
        request: Some(("ActionHeaders", false)),
        responses: responses![
            (200, "The server's reply.", Body::Json("ActionResult")),
            (400, "Bad name, body or header.", Body::Error),
            DENIED[0],
            DENIED[1],
            (404, "No such server.", Body::Error),
            (
                413,
                "Over a limit, nothing sent: a body over 256 KiB, or an action over what Asterisk reads (127 lines with Action and the gateway's ActionID, so 125 headers, arrays expanded; 1022 bytes per `Name: value` line). The message says which.",
                Body::Error
            ),
            (
                422,
                "The server answered Response: Error (its response is in error.response).",
                Body::Error
            ),
            BUSY_REQUESTS,
            (
                502,
                "The AMI connection dropped with the action in flight.",
                Body::Error
            ),
            (503, "The server is not connected.", Body::Error),
            (504, "The server did not answer in time.", Body::Error),
        ],
        handler: || post(api::post_action),
    },
    Route {
        method: "post",
        path: "/v1/servers/{name}/command",
        operation_id: "runCommand",
        summary: "Runs a CLI command (needs the Command action) and returns its text and parsed records, as `ami command --json`.",
        tag: "servers",
        secured: true,
        hidden: false,
        params: &[SERVER_PARAM],
        request: Some(("CommandRequest", true)),
        responses: responses![
            (200, "The output.", Body::Json("CommandResult")),
            (400, "Bad body.", Body::Error),
            DENIED[0],
            DENIED[1],
            (404, "No such server.", Body::Error),
            (
                413,
                "A body over 256 KiB, or a command line over 1022 bytes with its `Command: ` name.",
                Body::Error
            ),
            (
                422,
                "The CLI or the server refused the command.",
                Body::Error
            ),
            BUSY_REQUESTS,
            (
                502,
                "The AMI connection dropped with the command in flight.",
                Body::Error
            ),
            (503, "The server is not connected.", Body::Error),
            (504, "The server did not answer in time.", Body::Error),
        ],
        handler: || post(api::post_command),
    },
    Route {
        method: "get",
        path: "/v1/events",
        operation_id: "eventStream",
        summary: "Events as Server-Sent Events (each `event:` is the message type: hello, event, connection, lagged, closing).",
        tag: "events",
        secured: true,
        hidden: false,
        params: STREAM_PARAMS,
        request: None,
        responses: responses![
            (200, "The stream.", Body::EventStream),
            (400, "Bad query.", Body::Error),
            DENIED[0],
            DENIED[1],
            (404, "No such server.", Body::Error),
            BUSY_STREAMS,
            (
                503,
                "The gateway serves as many streams as it may (too_many_streams).",
                Body::Error
            ),
        ],
        handler: || get(streams::sse),
    },
    Route {
        method: "get",
        path: "/v1/events/ws",
        operation_id: "eventWebSocket",
        summary: "Events over WebSocket: one JSON text frame per message, the same messages as the SSE stream.",
        tag: "events",
        secured: true,
        hidden: false,
        params: STREAM_PARAMS,
        request: None,
        responses: responses![
            (101, "Switching to WebSocket.", Body::Empty),
            (400, "Not a WebSocket upgrade, or a bad query.", Body::Error),
            DENIED[0],
            DENIED[1],
            (404, "No such server.", Body::Error),
            BUSY_STREAMS,
            (
                503,
                "The gateway serves as many streams as it may (too_many_streams).",
                Body::Error
            ),
        ],
        handler: || get(streams::websocket),
    },
    Route {
        method: "get",
        path: "/",
        operation_id: "console",
        summary: "The browser console.",
        tag: "console",
        secured: false,
        hidden: true,
        params: &[],
        request: None,
        responses: responses![(200, "HTML.", Body::Text("text/html"))],
        handler: || get(console::index),
    },
    Route {
        method: "get",
        path: "/console.js",
        operation_id: "consoleScript",
        summary: "The console's script.",
        tag: "console",
        secured: false,
        hidden: true,
        params: &[],
        request: None,
        responses: responses![(200, "JavaScript.", Body::Text("text/javascript"))],
        handler: || get(console::script),
    },
    Route {
        method: "get",
        path: "/console.css",
        operation_id: "consoleStyle",
        summary: "The console's style sheet.",
        tag: "console",
        secured: false,
        hidden: true,
        params: &[],
        request: None,
        responses: responses![(200, "CSS.", Body::Text("text/css"))],
        handler: || get(console::style),
    },
];

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
    json!({
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
    })
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
pub(crate) fn document() -> Value {
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
        assert_eq!(operations, ROUTES.iter().filter(|r| !r.hidden).count());
    }

    #[test]
    fn secured_routes_document_401_and_429() {
        for route in ROUTES.iter().filter(|r| r.secured) {
            let statuses: Vec<u16> = route.responses.iter().map(|r| r.0).collect();
            assert!(
                statuses.contains(&401) && statuses.contains(&429),
                "{}",
                route.path
            );
        }
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
