//! The upstream seam: what a server served by someone else than the gateway's own AMI login
//! must provide (a NATS bridge, in `ami-bridge`), and the gateway's side of it.
//!
//! A [`Remote`] is a stream of [`RemoteItem`]s (events, the source's connection changes and
//! gaps, in the PBX's order) and a way to send an action and get its JSON reply
//! ([`RemoteActions`]). The gateway defines it and never names its implementations, so a crate
//! that implements it may depend on the gateway (the bridge does, for the `[[servers]]`
//! entries and the action rules) without an import circle; the `ami` binary, which depends on
//! both, hands the implementation in ([`crate::AppState::start_with_remotes`]).
//!
//! [`Port`] is what the rest of the gateway sends actions through: its own client, or a
//! remote; a remote's JSON reply is read back into the [`Reply`] the client would have given,
//! so the action API, the resync and the metrics need no second path.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use ami_client::{Action, Client, Reply};
use ami_proto::Message;
use axum::http::StatusCode;
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use crate::error::{AppError, ERROR_CODES};

/// One thing a remote source delivers, in the PBX's order.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RemoteItem {
    /// An AMI event.
    Event(Message),
    /// The source is logged in to the PBX (the first time, or again: events before this may
    /// be missing). What follows is the new session's.
    Connected {
        /// The PBX's AMI version, as the source reports it.
        ami_version: String,
    },
    /// The source lost its PBX (or stopped serving it): nothing arrives until `Connected`.
    Disconnected {
        /// Why, in words.
        reason: String,
    },
    /// The source lost this many events here.
    Lagged(u64),
}

/// Why a remote could not answer an action.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// Nobody answered in time.
    #[error("the remote did not answer in time")]
    TimedOut,
    /// Nobody serves the server now (the words say why; shown to the caller).
    #[error("{0}")]
    Unavailable(String),
    /// The request failed otherwise, or the reply was not understood (shown to the caller).
    #[error("{0}")]
    Failed(String),
}

/// The future of one remote action.
pub type RemoteFuture<'a> = Pin<Box<dyn Future<Output = Result<Value, RemoteError>> + Send + 'a>>;

/// Sends actions to whoever serves a remote server.
pub trait RemoteActions: Send + Sync + 'static {
    /// Sends `action` with `headers` (a JSON object, arrays for repeated headers, no
    /// `ActionID`) and returns the JSON reply: the gateway's action JSON
    /// ([`crate::reply_json`]), or its error object `{"error": {...}}`.
    fn request(&self, action: &str, headers: Value, timeout: Duration) -> RemoteFuture<'_>;
}

/// A server served from elsewhere: its items and its actions.
pub struct Remote {
    /// The source's items; closed when the source ends for good.
    pub items: mpsc::Receiver<RemoteItem>,
    /// Where actions go.
    pub actions: Arc<dyn RemoteActions>,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote").finish_non_exhaustive()
    }
}

/// Where one server's actions go.
#[derive(Clone)]
pub(crate) enum Port {
    /// The gateway's own AMI client.
    Ami(Client),
    /// A remote, with the server's action timeout.
    Remote(Arc<dyn RemoteActions>, Duration),
}

/// Why an action through a [`Port`] has no reply.
#[derive(Debug)]
pub(crate) enum PortError {
    Ami(ami_client::Error),
    /// Already the error the caller gets.
    Remote(AppError),
}

impl std::fmt::Display for PortError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ami(error) => error.fmt(f),
            Self::Remote(error) => error.fmt(f),
        }
    }
}

impl PortError {
    /// The error the HTTP caller gets.
    pub(crate) fn to_app_error(&self) -> AppError {
        match self {
            Self::Ami(error) => AppError::from_client(error),
            Self::Remote(error) => AppError {
                status: error.status,
                code: error.code,
                message: error.message.clone(),
                response: error.response.clone(),
                retry_after: error.retry_after,
            },
        }
    }

    /// The `result` label of the action metric.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Self::Ami(error) if error.response().is_some() => "error",
            Self::Ami(error) if error.is_timeout() => "timeout",
            Self::Ami(error) if error.is_connection_lost() || error.is_io() => "connection_lost",
            Self::Ami(error) if error.is_closed() => "unavailable",
            Self::Ami(_) => "refused",
            Self::Remote(error) => match error.code {
                "action_failed" => "error",
                "upstream_timeout" => "timeout",
                "upstream_connection_lost" => "connection_lost",
                "upstream_unavailable" => "unavailable",
                _ => "refused",
            },
        }
    }
}

impl Port {
    /// Sends `action`, waiting at most `timeout` (the client's or the server's own default
    /// when `None`).
    pub(crate) async fn send(
        &self,
        action: Action,
        timeout: Option<Duration>,
    ) -> Result<Reply, PortError> {
        match self {
            Self::Ami(client) => match timeout {
                Some(timeout) => client.send_with_timeout(action, timeout).await,
                None => client.send(action).await,
            }
            .map_err(PortError::Ami),
            Self::Remote(remote, default) => {
                let name = action.name().to_owned();
                let headers = headers_json(&action);
                let timeout = timeout.unwrap_or(*default);
                match remote.request(&name, headers, timeout).await {
                    Ok(value) => reply_from_json(&value).map_err(PortError::Remote),
                    Err(error) => Err(PortError::Remote(remote_error(&error))),
                }
            }
        }
    }

    /// The AMI client, for a server the gateway logs in to itself.
    pub(crate) fn client(&self) -> Option<&Client> {
        match self {
            Self::Ami(client) => Some(client),
            Self::Remote(..) => None,
        }
    }
}

/// An action's headers as the JSON object the remote expects (repeated names as arrays).
fn headers_json(action: &Action) -> Value {
    let mut map = Map::new();
    for (name, value) in action.headers() {
        let value = ami_json::bytes_to_json(value);
        match map.get_mut(name) {
            Some(Value::Array(values)) => values.push(value),
            Some(first) => *first = Value::Array(vec![first.take(), value]),
            None => {
                map.insert(name.clone(), value);
            }
        }
    }
    Value::Object(map)
}

fn remote_error(error: &RemoteError) -> AppError {
    match error {
        RemoteError::TimedOut => AppError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "upstream_timeout",
            "the AMI server did not answer in time",
        ),
        RemoteError::Unavailable(why) => AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "upstream_unavailable",
            why.clone(),
        ),
        RemoteError::Failed(why) => AppError::new(
            StatusCode::BAD_GATEWAY,
            "upstream_connection_lost",
            why.clone(),
        ),
    }
}

/// The HTTP status of each error code a remote may answer with.
fn status_of(code: &str) -> StatusCode {
    match code {
        "bad_request" => StatusCode::BAD_REQUEST,
        "forbidden" => StatusCode::FORBIDDEN,
        "not_found" => StatusCode::NOT_FOUND,
        "payload_too_large" => StatusCode::PAYLOAD_TOO_LARGE,
        "rate_limited" | "token_request_limit" => StatusCode::TOO_MANY_REQUESTS,
        "action_failed" => StatusCode::UNPROCESSABLE_ENTITY,
        "upstream_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
        "upstream_timeout" => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::BAD_GATEWAY,
    }
}

/// Reads a remote's JSON reply back into the reply (or the error) it stands for.
pub(crate) fn reply_from_json(value: &Value) -> Result<Reply, AppError> {
    let bad = |what: &str| {
        AppError::new(
            StatusCode::BAD_GATEWAY,
            "upstream_connection_lost",
            format!("the remote's reply is not an action reply ({what})"),
        )
    };
    let message = |key: &str| -> Result<Message, AppError> {
        match value.get(key) {
            Some(Value::Object(object)) => {
                ami_json::message_from_json(object).map_err(|_| bad(key))
            }
            _ => Err(bad(key)),
        }
    };
    if let Some(error) = value.get("error") {
        let code = error.get("code").and_then(Value::as_str).unwrap_or("");
        // Codes are `&'static str`: one the gateway does not know is shown as a bad gateway.
        let known = ERROR_CODES.iter().find(|c| **c == code).copied();
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("the remote refused the action")
            .to_owned();
        let mut app = AppError::new(
            known.map_or(StatusCode::BAD_GATEWAY, status_of),
            known.unwrap_or("upstream_connection_lost"),
            message,
        );
        app.response = error.get("response").cloned().map(Box::new);
        return Err(app);
    }
    if let Some(text) = value.get("text") {
        return Ok(Reply::Text(text.as_str().unwrap_or_default().to_owned()));
    }
    if let Some(output) = value.get("output") {
        return Ok(Reply::Command(ami_client::CommandOutput {
            response: message("response")?,
            output: output.as_str().unwrap_or_default().to_owned(),
        }));
    }
    if let Some(items) = value.get("items") {
        let items = items
            .as_array()
            .ok_or_else(|| bad("items"))?
            .iter()
            .map(|item| match item {
                Value::Object(object) => {
                    ami_json::message_from_json(object).map_err(|_| bad("items"))
                }
                _ => Err(bad("items")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Reply::List(ami_client::List {
            response: message("response")?,
            items,
            complete: message("complete")?,
        }));
    }
    Ok(Reply::Response(message("response")?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replies_read_back_as_the_client_gives_them() {
        let list = json!({
            "response": {"Response": "Success", "EventList": "start"},
            "items": [{"Event": "CoreShowChannel", "Channel": "PJSIP/100-1"}],
            "complete": {"Event": "CoreShowChannelsComplete", "ListItems": "1"},
        });
        match reply_from_json(&list).expect("a list") {
            Reply::List(list) => {
                assert_eq!(list.items.len(), 1);
                assert!(list.items[0].value_is("Channel", "PJSIP/100-1"));
            }
            other => panic!("{other:?}"),
        }
        // The round trip gives the JSON the bridge sent.
        assert_eq!(
            crate::reply_json(&reply_from_json(&list).expect("list")),
            list
        );
        let command = json!({"response": {"Response": "Success"}, "output": "up 5 s\n"});
        assert!(matches!(
            reply_from_json(&command),
            Ok(Reply::Command(c)) if c.output == "up 5 s\n"
        ));
        let pong = json!({"response": {"Response": "Success", "Ping": "Pong"}});
        assert!(
            matches!(reply_from_json(&pong), Ok(Reply::Response(r)) if r.value_is("Ping", "Pong"))
        );
        assert!(reply_from_json(&json!({"nothing": 1})).is_err());
    }

    #[test]
    fn remote_errors_keep_their_code_and_status() {
        let refused = json!({"error": {"code": "forbidden", "message": "the bridge's [actions] rules do not allow Originate"}});
        let error = reply_from_json(&refused).expect_err("refused");
        assert_eq!(error.status, StatusCode::FORBIDDEN);
        assert_eq!(error.code, "forbidden");
        assert!(error.message.contains("[actions]"), "{}", error.message);
        let odd = json!({"error": {"code": "made_up", "message": "x"}});
        assert_eq!(
            reply_from_json(&odd).expect_err("odd").status,
            StatusCode::BAD_GATEWAY
        );
        let none = remote_error(&RemoteError::Unavailable("no bridge".into()));
        assert_eq!(none.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(none.code, "upstream_unavailable");
        assert_eq!(
            remote_error(&RemoteError::TimedOut).status,
            StatusCode::GATEWAY_TIMEOUT
        );
    }

    #[test]
    fn repeated_headers_become_arrays() {
        let action = Action::new("Originate")
            .header("Variable", "a=1")
            .header("Variable", "b=2")
            .header("Channel", "PJSIP/100");
        assert_eq!(
            headers_json(&action),
            json!({"Variable": ["a=1", "b=2"], "Channel": "PJSIP/100"})
        );
    }
}
