//! The JSON handlers: servers, actions, CLI commands, health, metrics, and the bearer-token
//! middleware in front of the `/v1/servers` and `/v1/events` routes.

use std::sync::Arc;
use std::time::Instant;

use ami_client::Reply;
use ami_proto::Message;
use ami_proto::cli_output::parse_cli_output;
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
use crate::state::{AppState, Denial};
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
        state.count_denied(Denial::Unauthorized);
        let reason = if presented.is_some() {
            "unknown token"
        } else {
            "no bearer token"
        };
        warn!(method = %request.method(), path = %request.uri().path(), reason, "request denied (401)");
        return AppError::unauthorized().into_response();
    };
    if let Err(retry_after) = policy.take() {
        state.count_denied(Denial::RateLimited);
        warn!(method = %request.method(), path = %request.uri().path(), token = %policy.name, "request denied (429): rate limit");
        return AppError::rate_limited(retry_after).into_response();
    }
    request.extensions_mut().insert(Caller(policy));
    next.run(request).await
}

/// A 403, counted and logged with the token's name.
pub(crate) fn forbid(state: &AppState, caller: &Caller, message: String) -> AppError {
    state.count_denied(Denial::Forbidden);
    warn!(token = %caller.0.name, reason = %message, "request denied (403)");
    AppError::forbidden(message)
}

/// The server named in the path, if it exists and the caller may use it.
pub(crate) fn server_for<'a>(
    state: &'a AppState,
    caller: &Caller,
    name: &str,
) -> Result<&'a Upstream, AppError> {
    let server = state
        .server(name)
        .ok_or_else(|| AppError::not_found(format!("no server named {name:?}")))?;
    if !caller.0.may_use_server(name) {
        return Err(forbid(
            state,
            caller,
            format!("this token may not use server {name:?}"),
        ));
    }
    Ok(server)
}

fn message_value(message: &Message) -> Value {
    Value::Object(ami_proto::json::message_to_json(message))
}

/// A reply in the JSON form of `ami action`: the response, plus the items and the completion
/// event for list actions, the CLI text for Command, bare text for legacy Queues.
pub(crate) fn reply_json(reply: &Reply) -> Value {
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
    }
}

fn result_label(result: &Result<Reply, ami_client::Error>) -> &'static str {
    match result {
        Ok(_) => "success",
        Err(error) if error.response().is_some() => "error",
        Err(error) if error.is_timeout() => "timeout",
        Err(error) if error.is_connection_lost() || error.is_io() => "connection_lost",
        Err(error) if error.is_closed() => "unavailable",
        Err(_) => "refused",
    }
}

/// Action names go into AMI and into metric labels: plain words only.
fn valid_action_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

fn path_error(rejection: PathRejection) -> AppError {
    AppError::bad_request(format!("invalid path: {}", rejection.body_text()))
}

fn body_error(rejection: BytesRejection) -> AppError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is too large",
        )
    } else {
        AppError::bad_request("the request body could not be read")
    }
}

fn parse_body(body: &[u8]) -> Result<Value, AppError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body)
        .map_err(|error| AppError::bad_request(format!("the body is not valid JSON: {error}")))
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
    let client = server.client().ok_or_else(AppError::unavailable)?;
    if !server.is_connected() {
        return Err(AppError::unavailable());
    }
    let limit = caller
        .0
        .max_in_flight
        .unwrap_or(state.connection_limits().max_in_flight_per_token);
    let Some(_in_flight) = caller.0.hold(Use::InFlight, limit) else {
        state.count_denied(Denial::TokenRequestLimit);
        warn!(token = %caller.0.name, limit, "request denied (429): the token has its limit of requests in flight");
        return Err(AppError::token_request_limit(limit));
    };
    let started = Instant::now();
    let result = client.send(action).await;
    server
        .metrics()
        .action(name, result_label(&result), started.elapsed());
    result.map_err(|error| AppError::from_client(&error))
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
    match caller.0.actions.check(&action_name) {
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
    }
    let headers = parse_body(&body.map_err(body_error)?)?;
    if headers
        .as_object()
        .is_some_and(|h| h.keys().any(|k| k.eq_ignore_ascii_case("ActionID")))
    {
        return Err(AppError::bad_request(
            "ActionID is set by the gateway; leave it out",
        ));
    }
    let action = ami_proto::json::action_from_json(&action_name, &headers)
        .map_err(|error| AppError::bad_request(error.to_string()))?;
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
    if caller.0.actions.check("Command").is_err() {
        return Err(forbid(
            &state,
            &caller,
            "this token may not run Command".into(),
        ));
    }
    let body = parse_body(&body.map_err(body_error)?)?;
    let command = body
        .get("command")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| AppError::bad_request("expected {\"command\": \"<CLI command>\"}"))?;
    if body.as_object().is_some_and(|o| o.len() > 1) {
        return Err(AppError::bad_request(
            "only the \"command\" key is accepted",
        ));
    }
    let action = ami_client::Action::new("Command").header("Command", command);
    let mut probe = bytes::BytesMut::new();
    if ami_proto::encode_action(&action, &mut probe).is_err() {
        return Err(AppError::bad_request(
            "the command contains a line break, which AMI cannot carry",
        ));
    }
    let reply = send(&state, &caller, server, "Command", action).await?;
    let output = match &reply {
        Reply::Command(command) => command.output.clone(),
        Reply::Text(text) => text.clone(),
        Reply::Response(_) | Reply::List(_) => String::new(),
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
    let mut response = crate::metrics::render(&state).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// Unknown paths.
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
    fn empty_body_is_an_empty_object_and_bad_json_is_400() {
        assert_eq!(parse_body(b"").expect("empty"), json!({}));
        assert_eq!(parse_body(b" \n").expect("blank"), json!({}));
        let error = parse_body(b"{nope").expect_err("bad");
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
    }
}
