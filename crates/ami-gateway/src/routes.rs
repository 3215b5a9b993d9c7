//! The route table: one list that both builds the router (`crate::app`) and generates the
//! OpenAPI document (`crate::openapi`), so the document cannot name a path or method the
//! router does not serve (or miss one).

use axum::routing::{MethodRouter, get, post};

use crate::state::AppState;
use crate::{api, console, live, streams};

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
    Param {
        name: "state",
        location: "query",
        description: "`1`: also `state` messages, the live state of each server (whole first, then what changed; whole again after a gap); `only`: those without events; `0` (the default): none. Needs the token's event classes call and agent.",
        pattern: Some("^(0|1|true|false|yes|no|only)$"),
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

/// A `GET /v1/servers/{name}/...` route of the live state (tag `state`, behind a token): 200
/// with `ok` (description, schema), 401, the event-class refusal, 404 (`not_found`) and 429.
macro_rules! state_route {
    ($path:expr, $operation_id:expr, $summary:expr, $ok:expr, $schema:expr, $not_found:expr, $handler:expr $(,)?) => {
        Route {
            method: "get",
            path: $path,
            operation_id: $operation_id,
            summary: $summary,
            tag: "state",
            secured: true,
            hidden: false,
            params: &[SERVER_PARAM],
            request: None,
            responses: &[
                (200, $ok, Body::Json($schema)),
                DENIED[0],
                (
                    403,
                    "The token's event classes do not admit what this part of the state is made of (see the summary).",
                    Body::Error,
                ),
                (404, $not_found, Body::Error),
                DENIED[2],
            ],
            handler: $handler,
        }
    };
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
        handler: || get(api::openapi),
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
    state_route!(
        "/v1/servers/{name}/state",
        "getState",
        "The server's live state: channels, calls, bridges, queues (and every object the state model keeps), kept exact from events and list actions. Needs the event classes call and agent.",
        "The snapshot.",
        "StateSnapshot",
        "No such server.",
        || get(live::get_state),
    ),
    state_route!(
        "/v1/servers/{name}/calls",
        "getCalls",
        "The calls (channels grouped by Linkedid, or by bridge without one) and the channels they name, by Uniqueid. Needs the event class call.",
        "The calls.",
        "StateCalls",
        "No such server.",
        || get(live::get_calls),
    ),
    state_route!(
        "/v1/servers/{name}/queues",
        "getQueues",
        "The queues with their parameters, members (status, paused, penalty, calls taken) and waiting callers. Needs the event class agent.",
        "The queues.",
        "StateQueues",
        "No such server.",
        || get(live::get_queues),
    ),
    state_route!(
        "/v1/servers/{name}/agents",
        "getAgents",
        "The agents, from the live state. Needs the event class agent.",
        "The agents.",
        "StateAgents",
        "No such server, or the state model keeps no agents.",
        || get(live::get_agents),
    ),
    Route {
        method: "get",
        path: "/v1/events",
        operation_id: "eventStream",
        summary: "Events as Server-Sent Events (each `event:` is the message type: hello, event, state, connection, lagged, closing).",
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
