//! What logging in sends and how it can fail: the `Challenge` and `Login` actions, the MD5 key,
//! and the actions that put a reconnected session's event settings back.

use std::fmt;
use std::time::Duration;

use crate::decode::DecodeError;
use crate::encode::Action;
use crate::session::Reply;
use crate::syntax::EncodeError;

/// How to log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Auth {
    /// `Secret:` sent as is (fine over TLS or loopback).
    #[default]
    Plain,
    /// `Action: Challenge`, then `AuthType: MD5` with `Key: md5(challenge + secret)`: the
    /// secret never crosses the wire.
    Md5,
}

/// Why a connection never became usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoginError {
    /// The peer closed the connection before sending anything.
    #[error("connection closed before the banner")]
    ClosedBeforeBanner,
    /// Nothing arrived within the banner timeout.
    #[error("no banner within {0:?}")]
    BannerTimeout(Duration),
    /// The first bytes were not AMI.
    #[error("unreadable banner: {0}")]
    Banner(DecodeError),
    /// The server refused the login (or the challenge) with this message.
    #[error("authentication failed: {0}")]
    AuthFailed(String),
    /// The `Challenge` reply carried no `Challenge:` value.
    #[error("no Challenge in reply")]
    NoChallenge,
    /// The login exchange did not finish within the login timeout.
    #[error("login timed out after {0:?}")]
    Timeout(Duration),
    /// The connection dropped during the login exchange.
    #[error("connection lost during login")]
    ConnectionLost,
    /// The username (or another login value) cannot be written as a header.
    #[error("login action refused: {0}")]
    Encode(EncodeError),
}

/// Which setting a restore action puts back after a reconnect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Restore {
    /// The event mask set with `Action: Events`.
    EventMask,
    /// One `Action: Filter` (`Operation: Add`).
    Filter,
}

impl fmt::Display for Restore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::EventMask => "event mask",
            Self::Filter => "event filter",
        })
    }
}

pub(super) fn challenge_action() -> Action {
    Action::new("Challenge").header("AuthType", "MD5")
}

/// The `Login` action. `challenge` is the server's challenge for an MD5 login.
pub(super) fn login_action(
    username: &str,
    secret: &str,
    challenge: Option<&str>,
    events: Option<&str>,
) -> Action {
    let mut login = Action::new("Login").header("Username", username);
    match challenge {
        Some(challenge) => {
            login.push("AuthType", "MD5");
            login.push("Key", md5_key(challenge, secret));
        }
        None => login.push("Secret", secret),
    }
    if let Some(events) = events {
        login.push("Events", events);
    }
    login
}

/// The challenge text of a `Challenge` reply.
pub(super) fn challenge_of(reply: &Reply) -> Option<String> {
    reply
        .response()
        .and_then(|response| response.get("Challenge"))
        .map(|challenge| challenge.into_owned())
}

/// The actions that restore event settings on a new session, in the order to send them.
pub(super) fn restore_actions(events: Option<&str>, filters: &[String]) -> Vec<(Action, Restore)> {
    let mask = events.map(|mask| {
        (
            Action::new("Events").header("EventMask", mask),
            Restore::EventMask,
        )
    });
    let filters = filters.iter().map(|filter| {
        (
            Action::new("Filter")
                .header("Operation", "Add")
                .header("Filter", filter.as_str()),
            Restore::Filter,
        )
    });
    mask.into_iter().chain(filters).collect()
}

/// The MD5 login key as Asterisk computes it in manager.c: lowercase hex of
/// `md5(challenge + secret)`.
pub fn md5_key(challenge: &str, secret: &str) -> String {
    use md5::{Digest, Md5};
    let digest = Md5::new()
        .chain_update(challenge.as_bytes())
        .chain_update(secret.as_bytes())
        .finalize();
    let mut key = String::with_capacity(32);
    for byte in digest {
        key.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
        key.push(char::from_digit(u32::from(byte & 0xf), 16).unwrap_or('0'));
    }
    key
}

#[cfg(test)]
mod tests {
    #[test]
    fn md5_key_is_lowercase_hex_of_challenge_then_secret() {
        assert_eq!(super::md5_key("", ""), "d41d8cd98f00b204e9800998ecf8427e");
        // md5("abc"), split between challenge and secret.
        assert_eq!(
            super::md5_key("a", "bc"),
            "900150983cd24fb0d6963f7d28e17f72"
        );
    }
}
