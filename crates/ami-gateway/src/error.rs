//! The one error type of the HTTP API. Every error answers with a stable body
//! `{"error": {"code": "...", "message": "..."}}`; internals (I/O errors, upstream addresses,
//! secrets) never reach it.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// An API error: a status, a stable code, a message safe to show, and optionally the AMI
/// server's response (for an action the server refused).
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct AppError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code (`unauthorized`, `forbidden`, `rate_limited` ...).
    pub code: &'static str,
    /// Human-readable explanation, safe to show.
    pub message: String,
    /// The AMI response for `action_failed` (boxed: errors travel in every `Result`).
    pub response: Option<Box<Value>>,
    /// Seconds to wait, for `rate_limited`.
    pub retry_after: Option<u64>,
}

/// Every error code the API answers with, for the OpenAPI document.
pub const ERROR_CODES: &[&str] = &[
    "bad_request",
    "unauthorized",
    "forbidden",
    "not_found",
    "method_not_allowed",
    "payload_too_large",
    "rate_limited",
    "action_failed",
    "upstream_unavailable",
    "upstream_connection_lost",
    "upstream_timeout",
    "too_many_streams",
    "token_stream_limit",
    "token_request_limit",
    "internal",
];

impl AppError {
    /// An error with no AMI response attached.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            response: None,
            retry_after: None,
        }
    }

    /// 400: the request itself is wrong.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 401: no token or an unknown one.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required (Authorization: Bearer <token>)",
        )
    }

    /// 403: the token may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 413: the body, or the action it describes, is over a limit (named in `message`).
    pub fn payload_too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }

    /// 429 with the seconds to wait.
    pub fn rate_limited(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many requests for this token; retry in {retry_after} s"),
            )
        }
    }

    /// 429: the token holds `limit` event streams, its most.
    pub fn token_stream_limit(limit: usize) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "token_stream_limit",
            format!("this token holds its limit of {limit} event streams; close one first"),
        )
    }

    /// 429: the token has `limit` requests waiting on a PBX, its most.
    pub fn token_request_limit(limit: usize) -> Self {
        Self {
            retry_after: Some(1),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "token_request_limit",
                format!(
                    "this token has its limit of {limit} requests waiting on a server; retry when one has finished"
                ),
            )
        }
    }

    /// Maps an ami-client error. Only its category and the server's own words are shown.
    pub fn from_client(error: &ami_client::Error) -> Self {
        if let Some(response) = error.response() {
            let message = error
                .server_message()
                .map(str::to_owned)
                .or_else(|| error.command_output().map(|t| t.trim_end().to_owned()))
                .unwrap_or_else(|| "the server refused the action".to_owned());
            return Self {
                response: Some(Box::new(Value::Object(ami_json::message_to_json(response)))),
                ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "action_failed", message)
            };
        }
        if error.is_timeout() {
            return Self::new(
                StatusCode::GATEWAY_TIMEOUT,
                "upstream_timeout",
                "the AMI server did not answer in time",
            );
        }
        if error.is_connection_lost() || error.is_io() {
            return Self::new(
                StatusCode::BAD_GATEWAY,
                "upstream_connection_lost",
                "the AMI connection was lost or is reconnecting; the action may or may not have run",
            );
        }
        if error.is_closed() {
            return Self::unavailable();
        }
        if error.is_too_large() {
            // The client's own check, should the gateway's ever let one through.
            return Self::payload_too_large(
                "the action is over Asterisk's limits (lines or line length)",
            );
        }
        // Refused before sending (an encoding problem the JSON check missed): the caller's fault.
        Self::bad_request("the action could not be sent as given")
    }

    /// 503: the server is not connected.
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "upstream_unavailable",
            "the AMI server is not connected",
        )
    }
}

impl AppError {
    /// The JSON body: `{"error": {"code", "message", "response"?}}`. Public so that other
    /// front ends (the NATS bridge's replies) answer with the very same object.
    pub fn body(&self) -> Value {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(response) = &self.response {
            error["response"] = (**response).clone();
        }
        json!({ "error": error })
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut reply = (self.status, axum::Json(self.body())).into_response();
        if let Some(seconds) = self.retry_after {
            reply
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            reply
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        reply
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_used_is_listed() {
        for error in [
            AppError::bad_request("x"),
            AppError::unauthorized(),
            AppError::forbidden("x"),
            AppError::not_found("x"),
            AppError::rate_limited(1),
            AppError::token_stream_limit(1),
            AppError::token_request_limit(1),
            AppError::unavailable(),
            AppError::payload_too_large("x"),
        ] {
            assert!(ERROR_CODES.contains(&error.code), "{}", error.code);
        }
    }

    #[test]
    fn rate_limited_carries_retry_after_and_401_asks_for_bearer() {
        let reply = AppError::rate_limited(3).into_response();
        assert_eq!(reply.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(reply.headers()[header::RETRY_AFTER], "3");
        let reply = AppError::unauthorized().into_response();
        assert_eq!(reply.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }
}
