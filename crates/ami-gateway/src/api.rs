//! The JSON handlers: servers, actions, CLI commands, health, metrics, and the bearer-token
//! middleware in front of the `/v1/servers` and `/v1/events` routes.

use std::sync::Arc;
use std::time::Instant;

use ami_client::Reply;
use ami_json::cli_output::parse_cli_output;
use ami_proto::Message;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tracing::warn;

use crate::auth::{self, ActionDenial, TokenPolicy, Use};
use crate::error::AppError;
use crate::privilege::NotByWildcard;
use crate::state::{AppState, Denial};
use crate::upstream::remote::PortError;
use crate::upstream::{LinkState, Upstream};

/// The policy of the token that authenticated the request.
#[derive(Clone)]
pub(crate) struct Caller(pub(crate) Arc<TokenPolicy>);

/// Longest token looked at: anything longer cannot be one of ours and is not hashed.
const MAX_TOKEN_LEN: usize = 4096;

/// Checks the bearer token and its rate limit; denied requests are logged with the token's
/// configured name (never the token) or, for 401, just the reason.
pub(crate) async fn require_token(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    let policy = presented
        .filter(|token| !token.is_empty() && token.len() <= MAX_TOKEN_LEN)
        .and_then(|token| auth::find(state.tokens(), token));
    let Some(policy) = policy.cloned() else {
        if let Some(unlogged) = state.count_denied(Denial::Unauthorized) {
            let reason = if presented.is_some() {
                "unknown token"
            } else {
                "no bearer token"
            };
            warn!(method = %request.method(), path = %request.uri().path(), reason, unlogged, "request denied (401); `unlogged` more since the last such line");
        }
        return AppError::unauthorized().into_response();
    };
    if let Err(retry_after) = policy.take() {
        if let Some(unlogged) = state.count_denied(Denial::RateLimited) {
            warn!(method = %request.method(), path = %request.uri().path(), token = %policy.name, unlogged, "request denied (429): rate limit; `unlogged` more since the last such line");
        }
        return AppError::rate_limited(retry_after).into_response();
    }
    request.extensions_mut().insert(Caller(policy));
    next.run(request).await
}

/// A 403, counted and logged with the token's name.
pub(crate) fn forbid(state: &AppState, caller: &Caller, message: String) -> AppError {
    if let Some(unlogged) = state.count_denied(Denial::Forbidden) {
        warn!(token = %caller.0.name, reason = %message, unlogged, "request denied (403); `unlogged` more since the last such line");
    }
    AppError::forbidden(message)
}

/// The server named in the path, if it exists and the caller may use it. A server the token
/// may not use gets the same 404 as one that does not exist, so a token cannot learn the
/// names of servers it has no right to.
pub(crate) fn server_for<'a>(
    state: &'a AppState,
    caller: &Caller,
    name: &str,
) -> Result<&'a Upstream, AppError> {
    match state.server(name) {
        Some(server) if caller.0.may_use_server(name) => Ok(server),
        Some(_) => {
            // Counted as the denial it is, answered as an unknown name.
            if let Some(unlogged) = state.count_denied(Denial::Forbidden) {
                warn!(token = %caller.0.name, server = %name, unlogged, "request denied (404 for a server the token may not use); `unlogged` more since the last such line");
            }
            Err(no_such_server(name))
        }
        None => Err(no_such_server(name)),
    }
}

fn no_such_server(name: &str) -> AppError {
    AppError::not_found(format!("no server named {name:?} for this token"))
}

fn message_value(message: &Message) -> Value {
    Value::Object(ami_json::message_to_json(message))
}

/// A reply in the JSON form of `ami action`: the response, plus the items and the completion
/// event for list actions, the CLI text for Command, bare text for legacy Queues. Public (from
/// the crate root) so that the NATS bridge answers actions with the same JSON.
pub fn reply_json(reply: &Reply) -> Value {
    match reply {
        Reply::Response(response) => json!({ "response": message_value(response) }),
        Reply::List(list) => json!({
            "response": message_value(&list.response),
            "items": list.items.iter().map(message_value).collect::<Vec<_>>(),
            "complete": message_value(&list.complete),
        }),
        Reply::Command(command) => json!({
            "response": message_value(&command.response),
            "output": command.output,
        }),
        Reply::Text(text) => json!({ "text": text }),
        // A newer kind of reply: its response, when it has one.
        other => json!({ "response": other.response().map(message_value) }),
    }
}

fn result_label(result: &Result<Reply, PortError>) -> &'static str {
    match result {
        Ok(_) => "success",
        Err(error) => error.label(),
    }
}

/// Action names go into AMI and into metric labels: plain words only. Public (from the crate
/// root) for the NATS bridge, which takes them from subjects.
pub fn valid_action_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

pub(crate) fn path_error(rejection: PathRejection) -> AppError {
    AppError::bad_request(format!("invalid path: {}", rejection.body_text()))
}

fn body_error(rejection: BytesRejection) -> AppError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::payload_too_large(format!(
            "the request body is over {} KiB, more than any action Asterisk reads can take",
            crate::MAX_BODY / 1024
        ))
    } else {
        AppError::bad_request("the request body could not be read")
    }
}

/// The body of `POST .../command`: only the `command` key, read without building a JSON tree
/// (an unknown key is refused before its value is read).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandBody {
    command: String,
}

const COMMAND_BODY_HINT: &str =
    "expected {\"command\": \"<CLI command>\"} (only the \"command\" key is accepted)";

fn parse_command_body(body: &[u8]) -> Result<String, AppError> {
    // A derived struct would also take `["..."]`: only an object is a command body.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(AppError::bad_request(COMMAND_BODY_HINT));
    }
    let parsed: CommandBody = serde_json::from_slice(body).map_err(|error| {
        use serde_json::error::Category;
        match error.classify() {
            // These texts say what was expected where, never the input.
            Category::Syntax | Category::Eof => {
                AppError::bad_request(format!("the body is not valid JSON: {error}"))
            }
            // serde's texts for a wrong type may quote the value: say what is expected.
            Category::Data | Category::Io => AppError::bad_request(COMMAND_BODY_HINT),
        }
    })?;
    let command = parsed.command.trim();
    if command.is_empty() {
        return Err(AppError::bad_request(COMMAND_BODY_HINT));
    }
    Ok(command.to_owned())
}

/// The action named `name` with the headers of a JSON body (empty: none). Over Asterisk's
/// limits is 413, anything else wrong 400; either way nothing is sent. A caller's ActionID is
/// refused: the one who sends the action (the gateway, the NATS bridge) sets it.
pub fn action_from_body(name: &str, body: &[u8]) -> Result<ami_client::Action, AppError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    let action = ami_json::action_from_json_slice(name, body).map_err(|error| {
        if error.is_too_large() {
            AppError::payload_too_large(error.to_string())
        } else {
            AppError::bad_request(error.to_string())
        }
    })?;
    if action.action_id().is_some() {
        return Err(AppError::bad_request(
            "ActionID is set by the gateway or bridge that sends the action; leave it out",
        ));
    }
    Ok(action)
}

/// Sends `action` and waits for its reply, holding one of the caller's in-flight places
/// meanwhile: a token whose actions wait on a slow PBX cannot take every request slot.
async fn send(
    state: &AppState,
    caller: &Caller,
    server: &Upstream,
    name: &str,
    action: ami_client::Action,
) -> Result<Reply, AppError> {
    let port = server.port().ok_or_else(AppError::unavailable)?;
    if !server.is_connected() {
        if server.is_remote() {
            // Say why: no bridge has published that it serves the PBX, or it lost it.
            let why = server.status().last_error.unwrap_or_default();
            return Err(AppError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "upstream_unavailable",
                format!(
                    "no bridge is logged in to {:?} now (the server is served through NATS): {why}",
                    server.name()
                ),
            ));
        }
        return Err(AppError::unavailable());
    }
    let limit = caller
        .0
        .max_in_flight
        .unwrap_or(state.connection_limits().max_in_flight_per_token);
    let Some(_in_flight) = caller.0.hold(Use::InFlight, limit) else {
        if let Some(unlogged) = state.count_denied(Denial::TokenRequestLimit) {
            warn!(token = %caller.0.name, limit, unlogged, "request denied (429): the token has its limit of requests in flight; `unlogged` more since the last such line");
        }
        return Err(AppError::token_request_limit(limit));
    };
    let started = Instant::now();
    let result = port.send(action, None).await;
    // Labelled by the PBX's own spelling of actions it lists, so that junk names cannot
    // use up the metric's label slots and push real actions into `_other`.
    let classes = server.action_classes();
    let label = classes.canonical_name(name).unwrap_or("_unknown");
    server
        .metrics()
        .action(label, result_label(&result), started.elapsed());
    result.map_err(|error| error.to_app_error())
}

/// `POST /v1/servers/{name}/actions/{action}`: the body is a JSON object of headers (arrays
/// for repeated keys).
pub(crate) async fn post_action(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    let Path((server_name, action_name)) = path.map_err(path_error)?;
    let server = server_for(&state, &caller, &server_name)?;
    if !valid_action_name(&action_name) {
        return Err(AppError::bad_request(
            "an action name is 1-64 letters, digits, '_', '-' or '.'",
        ));
    }
    match caller.0.may_run(&action_name, &server.action_classes()) {
        Ok(()) => {}
        Err(ActionDenial::Reserved) => {
            return Err(forbid(
                &state,
                &caller,
                format!("{action_name} would change the gateway's shared AMI session"),
            ));
        }
        Err(ActionDenial::NotAllowed) => {
            return Err(forbid(
                &state,
                &caller,
                format!("this token may not run {action_name}"),
            ));
        }
        // Before the PBX has listed its actions nothing can be judged: the same answer as
        // while it is down.
        Err(ActionDenial::NotByWildcard(NotByWildcard::UnknownClass))
            if server.action_classes().is_empty() =>
        {
            return Err(AppError::unavailable());
        }
        Err(ActionDenial::NotByWildcard(why)) => {
            return Err(forbid(
                &state,
                &caller,
                format!(
                    "\"*\" does not grant {action_name} ({why}): name it in the token's allow list"
                ),
            ));
        }
    }
    // Read straight into the action: no JSON tree, and reading stops at the first line past
    // Asterisk's limits. The body is dropped here, before the wait for the reply.
    let action = action_from_body(&action_name, &body.map_err(body_error)?)?;
    let reply = send(&state, &caller, server, &action_name, action).await?;
    Ok(axum::Json(reply_json(&reply)).into_response())
}

/// `POST /v1/servers/{name}/command` with `{"command": "core show channels concise"}`: the CLI
/// text and its parsed form, as `ami command --json` gives it.
pub(crate) async fn post_command(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    let Path(server_name) = path.map_err(path_error)?;
    let server = server_for(&state, &caller, &server_name)?;
    if caller
        .0
        .may_run("Command", &server.action_classes())
        .is_err()
    {
        return Err(forbid(
            &state,
            &caller,
            "this token may not run Command".into(),
        ));
    }
    let command = parse_command_body(&body.map_err(body_error)?)?;
    let command = command.as_str();
    let action = ami_client::Action::new("Command").header("Command", command);
    match ami_proto::check_action(&action) {
        Ok(()) => {}
        Err(error) if error.is_too_large() => {
            return Err(AppError::payload_too_large(error.to_string()));
        }
        Err(_) => {
            return Err(AppError::bad_request(
                "the command contains a line break, which AMI cannot carry",
            ));
        }
    }
    let reply = send(&state, &caller, server, "Command", action).await?;
    let output = match &reply {
        Reply::Command(command) => command.output.clone(),
        Reply::Text(text) => text.clone(),
        _ => String::new(),
    };
    let parsed = parse_cli_output(command, &output);
    Ok(axum::Json(json!({
        "command": command,
        "format": parsed.format,
        "parsed": parsed.value,
        "output": output,
    }))
    .into_response())
}

/// `GET /v1/servers`: the servers this token may use, with connection state, AMI version and
/// uptimes.
pub(crate) async fn get_servers(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Response {
    let servers: Vec<Value> = state
        .servers()
        .filter(|server| caller.0.may_use_server(server.name()))
        .map(server_json)
        .collect();
    axum::Json(json!({ "servers": servers })).into_response()
}

fn server_json(server: &Upstream) -> Value {
    let status = server.status();
    let connected = status.state == LinkState::Connected;
    json!({
        "name": server.name(),
        "state": status.state.as_str(),
        "state_since": status.since_unix,
        "ami_version": status.ami_version,
        "connected_seconds": connected.then(|| status.since.elapsed().as_secs()),
        "uptime_seconds": status
            .pbx_uptime
            .filter(|_| connected)
            .map(|(seconds, at)| seconds + at.elapsed().as_secs()),
        "reconnects": server.reconnects(),
        "last_error": status.last_error,
    })
}

/// `GET /healthz`: the process is up.
pub(crate) async fn healthz(State(state): State<AppState>) -> Response {
    axum::Json(json!({ "status": "ok", "uptime_seconds": state.uptime_seconds() })).into_response()
}

/// `GET /readyz`: ready while at least one server is logged in (a fleet gateway still serves
/// the servers that are up).
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let total = state.servers().count();
    let connected = state.servers().filter(|s| s.is_connected()).count();
    let ready = connected > 0;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(json!({
            "status": if ready { "ready" } else { "not_ready" },
            "servers": total,
            "connected": connected,
        })),
    )
        .into_response()
}

/// `GET /metrics`: Prometheus text format.
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let mut response = crate::exposition::render(&state).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// Unknown paths.
/// The OpenAPI document's text, as the app hands it to [`openapi`] (`crate::openapi` builds it).
#[derive(Clone, Copy)]
pub(crate) struct OpenApiDocument(pub(crate) &'static str);

/// `GET /v1/openapi.json`.
pub(crate) async fn openapi(Extension(document): Extension<OpenApiDocument>) -> Response {
    let mut response = document.0.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

pub(crate) async fn not_found() -> AppError {
    AppError::not_found("no such endpoint")
}

/// Known paths with the wrong method.
pub(crate) async fn method_not_allowed() -> AppError {
    AppError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_are_plain_words() {
        assert!(valid_action_name("CoreShowChannels"));
        assert!(valid_action_name("PJSIPShowEndpoints"));
        assert!(!valid_action_name(""));
        assert!(!valid_action_name("Ping\r\nAction: Logoff"));
        assert!(!valid_action_name("Core Show"));
        assert!(!valid_action_name(&"A".repeat(65)));
    }

    #[test]
    fn action_bodies_over_asterisks_limits_are_413_and_other_faults_400() {
        assert!(
            action_from_body("Ping", b" ")
                .expect("empty")
                .headers()
                .is_empty()
        );
        let lines = format!("{{\"X\": [{}]}}", vec!["\"\""; 126].join(","));
        let error = action_from_body("Ping", lines.as_bytes()).expect_err("128 lines");
        assert_eq!(error.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(error.code, "payload_too_large");
        assert!(error.message.contains("at most 127"), "{}", error.message);
        let line = format!("{{\"X\": \"{}\"}}", "v".repeat(1020));
        let error = action_from_body("Ping", line.as_bytes()).expect_err("1023 bytes");
        assert_eq!(error.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(error.message.contains("1022 bytes"), "{}", error.message);
        for body in [r#"{"actionid": "1"}"#, r#"{"Action": "Command"}"#, "{nope"] {
            let error = action_from_body("Ping", body.as_bytes()).expect_err(body);
            assert_eq!(error.status, StatusCode::BAD_REQUEST, "{body}");
        }
    }

    #[test]
    fn command_body_is_only_a_command_and_errors_never_quote_the_input() {
        assert_eq!(
            parse_command_body(br#"{"command": " core show uptime "}"#).expect("valid"),
            "core show uptime"
        );
        for body in [
            &b""[..],
            b"{nope",
            br#"{"command": ""}"#,
            br#"{"command": 12345}"#,
            br#"{"command": "x", "other": [1, 2, 3]}"#,
            br#"{"command": "x", "command": "y"}"#,
            br#"["core show uptime"]"#,
        ] {
            let error = parse_command_body(body).expect_err("refused");
            assert_eq!(error.status, StatusCode::BAD_REQUEST);
            assert!(!error.message.contains("12345"), "{}", error.message);
        }
    }
}
