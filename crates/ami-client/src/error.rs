//! The one error type callers see, with questions instead of variants to match.

use std::fmt;
use std::io;
use std::time::Duration;

use ami_proto::Message;
use ami_proto::session::ActionFailure;

/// An error from the client. Ask it what happened with [`Error::is_timeout`],
/// [`Error::is_connection_lost`], [`Error::is_closed`], [`Error::is_auth_failed`], or read the
/// server's own words with [`Error::server_message`].
pub struct Error {
    kind: Kind,
}

#[derive(Debug)]
pub(crate) enum Kind {
    Io(io::Error),
    ConnectTimeout(Duration),
    LoginTimeout(Duration),
    ActionTimeout(Duration),
    AuthFailed(String),
    Server { message: String, response: Message },
    Command { output: String, response: Message },
    ConnectionLost,
    NotConnected,
    Closed,
    Protocol(String),
    Refused(ami_proto::session::StartError),
    Overloaded(ami_proto::connection::SendError),
    ReplyTooLarge(ActionFailure),
    Config(String),
    Tls(String),
}

impl Error {
    pub(crate) fn new(kind: Kind) -> Self {
        Self { kind }
    }

    pub(crate) fn from_failure(failure: ActionFailure) -> Self {
        Self::new(match failure {
            ActionFailure::Server { message, response } => Kind::Server { message, response },
            ActionFailure::Command { output, response } => Kind::Command { output, response },
            ActionFailure::ConnectionLost => Kind::ConnectionLost,
            too_large => Kind::ReplyTooLarge(too_large),
        })
    }

    /// A connect, login or per-action timeout expired.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self.kind,
            Kind::ConnectTimeout(_) | Kind::LoginTimeout(_) | Kind::ActionTimeout(_)
        )
    }

    /// The connection dropped while the action was in flight, or was down when it was sent.
    /// The action may or may not have run on the server: it is never retried silently.
    pub fn is_connection_lost(&self) -> bool {
        matches!(self.kind, Kind::ConnectionLost | Kind::NotConnected)
    }

    /// The client was closed (by [`crate::Client::close`] or because the server said goodbye
    /// and reconnecting is off).
    pub fn is_closed(&self) -> bool {
        matches!(self.kind, Kind::Closed)
    }

    /// The server refused the username or secret (`Authentication failed`).
    pub fn is_auth_failed(&self) -> bool {
        matches!(self.kind, Kind::AuthFailed(_))
    }

    /// The action was refused before anything was sent because it is over Asterisk's input
    /// limits ([`ami_proto::MAX_ACTION_LINES`] lines, [`ami_proto::MAX_LINE_BYTES`] bytes per
    /// line): the server would drop lines or answer without the ActionID, and the reply would
    /// never come.
    ///
    /// Also true when the reply was over the client's own limits: a list with more items than
    /// [`crate::Config::max_list_items`], or legacy `Queues` text over
    /// [`crate::Config::max_text_bytes`] (the rest of that reply is discarded as it arrives).
    pub fn is_too_large(&self) -> bool {
        match &self.kind {
            Kind::Refused(ami_proto::session::StartError::Encode(error)) => error.is_too_large(),
            Kind::ReplyTooLarge(_) => true,
            _ => false,
        }
    }

    /// The server is not reading fast enough: the output buffer toward it and the line
    /// waiting for room were full (see [`crate::Config::max_output_bytes`]), or the action
    /// alone is larger than the buffer. The action was not sent.
    pub fn is_overloaded(&self) -> bool {
        matches!(self.kind, Kind::Overloaded(_))
    }

    /// A network or TLS error.
    pub fn is_io(&self) -> bool {
        matches!(self.kind, Kind::Io(_) | Kind::Tls(_))
    }

    /// The server's `Message:` for a `Response: Error` (or the failed login's message).
    pub fn server_message(&self) -> Option<&str> {
        match &self.kind {
            Kind::Server { message, .. } | Kind::AuthFailed(message) => Some(message),
            _ => None,
        }
    }

    /// The CLI text of a failed Command (`No such command ...`).
    pub fn command_output(&self) -> Option<&str> {
        match &self.kind {
            Kind::Command { output, .. } => Some(output),
            _ => None,
        }
    }

    /// The server's response, when the error is one.
    pub fn response(&self) -> Option<&Message> {
        match &self.kind {
            Kind::Server { response, .. } | Kind::Command { response, .. } => Some(response),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Io(error) => write!(f, "I/O error: {error}"),
            Kind::ConnectTimeout(after) => write!(f, "connect timed out after {after:?}"),
            Kind::LoginTimeout(after) => write!(f, "login timed out after {after:?}"),
            Kind::ActionTimeout(after) => write!(f, "no reply within {after:?}"),
            Kind::AuthFailed(message) => write!(f, "authentication failed: {message}"),
            Kind::Server { message, .. } => write!(f, "server error: {message}"),
            Kind::Command { output, .. } => write!(f, "command failed: {}", output.trim_end()),
            Kind::ConnectionLost => {
                f.write_str("connection lost before the reply arrived (the action may have run)")
            }
            Kind::NotConnected => f.write_str("not connected (reconnecting); action not sent"),
            Kind::Closed => f.write_str("client closed"),
            Kind::Protocol(what) => write!(f, "protocol error: {what}"),
            Kind::Refused(error) => write!(f, "action refused: {error}"),
            Kind::Overloaded(error) => write!(f, "action not sent: {error}"),
            Kind::ReplyTooLarge(failure) => write!(f, "reply too large: {failure}"),
            Kind::Config(what) => write!(f, "invalid configuration: {what}"),
            Kind::Tls(what) => write!(f, "TLS error: {what}"),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.kind, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            Kind::Io(error) => Some(error),
            // Not the refusal nor the overload: their text is already this error's own,
            // and a printed chain would say it twice.
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(error: io::Error) -> Self {
        Self::new(Kind::Io(error))
    }
}

/// Short for `Result<T, ami_client::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
