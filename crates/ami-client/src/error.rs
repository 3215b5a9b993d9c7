//! The one error type callers see, with questions instead of variants to match.

use std::fmt;
use std::io;
use std::time::Duration;

use ami_proto::Message;
use ami_proto::session::ActionFailure;

/// An error from the client. Ask it what happened with [`Error::is_timeout`],
/// [`Error::is_connection_lost`], [`Error::is_closed`], [`Error::is_auth_failed`], match on
/// [`Error::kind`], or read the server's own words with [`Error::server_message`]. The cause
/// of an IO, TLS or configuration error is its [`std::error::Error::source`].
///
/// One pointer wide (the details are boxed), so a `Result<T, Error>` stays small on the hot
/// path of every action.
pub struct Error {
    kind: Box<Kind>,
}

/// A cause kept as [`std::error::Error::source`].
pub(crate) type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What kind of error an [`Error`] is, for callers that prefer a `match` to the `is_*`
/// questions. More kinds may come: match with a `_` arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A network error (the cause is the `io::Error`).
    Io,
    /// A TLS error: the handshake, the certificate, or the TLS settings.
    Tls,
    /// The configuration cannot work (an empty host, an unreadable CA file ...).
    Config,
    /// The TCP connect, TLS handshake or banner took longer than the connect timeout.
    ConnectTimeout,
    /// The login took longer than the login timeout.
    LoginTimeout,
    /// No reply within the action's timeout.
    ActionTimeout,
    /// The server refused the username or secret.
    AuthFailed,
    /// The server answered `Response: Error`.
    Server,
    /// A Command's CLI part failed.
    Command,
    /// The connection dropped while the action was in flight.
    ConnectionLost,
    /// The connection was down (reconnecting) when the action was sent.
    NotConnected,
    /// The client was closed.
    Closed,
    /// The server spoke something other than AMI.
    Protocol,
    /// The action cannot be encoded or its ActionID is in use; nothing was sent.
    Refused,
    /// The output buffer toward the server is full; the action was not sent.
    Overloaded,
    /// Over a size limit: the action over Asterisk's input limits (not sent), or the reply
    /// over the client's own (see [`Error::is_too_large`]).
    TooLarge,
    /// The catalog marks a parameter of the action required and the action lacks it; nothing
    /// was sent (see [`Error::missing_parameter`]).
    MissingParameter,
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
    Config { what: String, cause: Option<Cause> },
    Tls { what: String, cause: Option<Cause> },
    MissingParameter(&'static str, &'static str),
}

impl Error {
    pub(crate) fn new(kind: Kind) -> Self {
        Self {
            kind: Box::new(kind),
        }
    }

    /// A configuration error, with its cause when there is one.
    pub(crate) fn config(what: impl Into<String>, cause: Option<Cause>) -> Self {
        Self::new(Kind::Config {
            what: what.into(),
            cause,
        })
    }

    /// A TLS error, with its cause when there is one.
    pub(crate) fn tls(what: impl Into<String>, cause: Option<Cause>) -> Self {
        Self::new(Kind::Tls {
            what: what.into(),
            cause,
        })
    }

    /// What kind of error this is.
    pub fn kind(&self) -> ErrorKind {
        match &*self.kind {
            Kind::Io(_) => ErrorKind::Io,
            Kind::ConnectTimeout(_) => ErrorKind::ConnectTimeout,
            Kind::LoginTimeout(_) => ErrorKind::LoginTimeout,
            Kind::ActionTimeout(_) => ErrorKind::ActionTimeout,
            Kind::AuthFailed(_) => ErrorKind::AuthFailed,
            Kind::Server { .. } => ErrorKind::Server,
            Kind::Command { .. } => ErrorKind::Command,
            Kind::ConnectionLost => ErrorKind::ConnectionLost,
            Kind::NotConnected => ErrorKind::NotConnected,
            Kind::Closed => ErrorKind::Closed,
            Kind::Protocol(_) => ErrorKind::Protocol,
            Kind::Refused(_) if self.is_too_large() => ErrorKind::TooLarge,
            Kind::Refused(_) => ErrorKind::Refused,
            Kind::Overloaded(_) => ErrorKind::Overloaded,
            Kind::ReplyTooLarge(_) => ErrorKind::TooLarge,
            Kind::Config { .. } => ErrorKind::Config,
            Kind::Tls { .. } => ErrorKind::Tls,
            Kind::MissingParameter(..) => ErrorKind::MissingParameter,
        }
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
            *self.kind,
            Kind::ConnectTimeout(_) | Kind::LoginTimeout(_) | Kind::ActionTimeout(_)
        )
    }

    /// The connection dropped while the action was in flight, or was down when it was sent.
    /// The action may or may not have run on the server: it is never retried silently.
    pub fn is_connection_lost(&self) -> bool {
        matches!(*self.kind, Kind::ConnectionLost | Kind::NotConnected)
    }

    /// The client was closed (by [`crate::Client::close`] or because the server said goodbye
    /// and reconnecting is off).
    pub fn is_closed(&self) -> bool {
        matches!(*self.kind, Kind::Closed)
    }

    /// The server refused the username or secret (`Authentication failed`).
    pub fn is_auth_failed(&self) -> bool {
        matches!(*self.kind, Kind::AuthFailed(_))
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
        match &*self.kind {
            Kind::Refused(ami_proto::session::StartError::Encode(error)) => error.is_too_large(),
            Kind::ReplyTooLarge(_) => true,
            _ => false,
        }
    }

    /// The server is not reading fast enough: the output buffer toward it and the line
    /// waiting for room were full (see [`crate::Config::max_output_bytes`]), or the action
    /// alone is larger than the buffer. The action was not sent.
    pub fn is_overloaded(&self) -> bool {
        matches!(*self.kind, Kind::Overloaded(_))
    }

    /// The action was refused before anything was sent: the catalog marks this parameter of it
    /// required (in its newest documentation) and the action lacks it.
    pub fn missing_parameter(&self) -> Option<&'static str> {
        match *self.kind {
            Kind::MissingParameter(_, parameter) => Some(parameter),
            _ => None,
        }
    }

    /// A network or TLS error.
    pub fn is_io(&self) -> bool {
        matches!(*self.kind, Kind::Io(_) | Kind::Tls { .. })
    }

    /// The server's `Message:` for a `Response: Error` (or the failed login's message).
    pub fn server_message(&self) -> Option<&str> {
        match &*self.kind {
            Kind::Server { message, .. } | Kind::AuthFailed(message) => Some(message),
            _ => None,
        }
    }

    /// The CLI text of a failed Command (`No such command ...`).
    pub fn command_output(&self) -> Option<&str> {
        match &*self.kind {
            Kind::Command { output, .. } => Some(output),
            _ => None,
        }
    }

    /// The server's response, when the error is one.
    pub fn response(&self) -> Option<&Message> {
        match &*self.kind {
            Kind::Server { response, .. } | Kind::Command { response, .. } => Some(response),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.kind {
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
            Kind::Config { what, .. } => write!(f, "invalid configuration: {what}"),
            Kind::Tls { what, .. } => write!(f, "TLS error: {what}"),
            // (action, parameter), both as the catalog spells them.
            Kind::MissingParameter(action, parameter) => {
                write!(
                    f,
                    "{action} needs the {parameter} parameter; action not sent"
                )
            }
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
        match &*self.kind {
            Kind::Io(error) => Some(error),
            Kind::Config {
                cause: Some(cause), ..
            }
            | Kind::Tls {
                cause: Some(cause), ..
            } => Some(cause.as_ref()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pointer_wide_with_a_kind_and_the_cause_as_source() {
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
        let missing = io::Error::new(io::ErrorKind::NotFound, "no such file");
        let error = Error::config("cannot read CA file /x.pem", Some(Box::new(missing)));
        assert_eq!(error.kind(), ErrorKind::Config);
        assert_eq!(
            error.to_string(),
            "invalid configuration: cannot read CA file /x.pem"
        );
        let source = std::error::Error::source(&error).expect("the cause");
        assert_eq!(source.to_string(), "no such file");
        let tls = Error::tls("invalid server name", None);
        assert_eq!(tls.kind(), ErrorKind::Tls);
        assert!(tls.is_io());
        let timeout = Error::new(Kind::ActionTimeout(Duration::from_secs(1)));
        assert_eq!(timeout.kind(), ErrorKind::ActionTimeout);
        assert!(timeout.is_timeout());
        let too_large = Error::from_failure(ActionFailure::ListTooLong { limit: 3 });
        assert_eq!(too_large.kind(), ErrorKind::TooLarge);
        assert!(too_large.is_too_large());
        let io = Error::from(io::Error::new(io::ErrorKind::ConnectionReset, "reset"));
        assert_eq!(io.kind(), ErrorKind::Io);
        assert!(std::error::Error::source(&io).is_some());
    }
}
