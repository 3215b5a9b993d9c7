//! The HTTP session's policy without IO: which cookie to present, when the server has
//! forgotten the session (so a new login is due), when to keep it alive, and how long a
//! WaitEvent may wait. Time is passed in, so every rule is testable with a made-up clock.

use std::time::{Duration, Instant};

use super::wire::SessionCookie;

/// How long a WaitEvent waits when nothing shorter is called for (Asterisk caps it below the
/// session timeout itself).
const DEFAULT_WAIT: Duration = Duration::from_secs(30);

/// What an answer says about the session the request presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The session is alive (or the answer says nothing about it).
    Alive,
    /// The server no longer knows the session this request presented, which is still the
    /// current one: log in again, then send the request again (the server ran nothing).
    Expired,
    /// The request presented a session that a new login has already replaced: send it again.
    Replaced,
}

/// The cookie and clock of one HTTP manager session.
#[derive(Debug)]
pub(crate) struct Policy {
    cookie: Option<SessionCookie>,
    /// Bumped at every login: tells a stale request's `Expired` from a current one.
    generation: u64,
    /// The session timeout the server announced (the cookie's `Max-Age`, httptimeout).
    server_timeout: Option<Duration>,
    keepalive: Option<Duration>,
    last_request: Instant,
    down: bool,
}

impl Policy {
    pub(crate) fn new(keepalive: Option<Duration>, now: Instant) -> Self {
        Self {
            cookie: None,
            generation: 0,
            server_timeout: None,
            keepalive,
            last_request: now,
            down: false,
        }
    }

    /// The session to present now: its generation and `Cookie` header (none before a login).
    pub(crate) fn current(&self) -> (u64, Option<String>) {
        (
            self.generation,
            self.cookie.as_ref().map(SessionCookie::header),
        )
    }

    /// A request leaves now: the session's idle time starts again.
    pub(crate) fn handle_sent(&mut self, now: Instant) {
        self.last_request = self.last_request.max(now);
    }

    /// A login succeeded with this cookie (the one its answer set, or the Challenge's).
    pub(crate) fn handle_login(&mut self, cookie: Option<SessionCookie>, now: Instant) {
        if let Some(cookie) = &cookie {
            self.learn_timeout(cookie);
        }
        self.cookie = cookie;
        self.generation += 1;
        self.handle_sent(now);
    }

    fn learn_timeout(&mut self, cookie: &SessionCookie) {
        if let Some(seconds) = cookie.max_age.filter(|s| *s > 0) {
            self.server_timeout = Some(Duration::from_secs(seconds));
        }
    }

    /// Reads an answer to a request that presented session `generation`: the cookie it set
    /// and whether its first response was `Permission denied`. Asterisk answers a request
    /// whose session it does not know (expired, or lost in a restart) with exactly that and a
    /// cookie for a new, unauthenticated session; a user refused an action keeps their cookie.
    pub(crate) fn handle_answer(
        &mut self,
        generation: u64,
        cookie: Option<&SessionCookie>,
        denied: bool,
    ) -> Verdict {
        let Some(cookie) = cookie else {
            return Verdict::Alive;
        };
        let ours = self.cookie.as_ref().map(|c| c.id.as_str());
        if ours == Some(cookie.id.as_str()) {
            self.learn_timeout(cookie);
            return Verdict::Alive;
        }
        if !denied {
            return Verdict::Alive;
        }
        if generation == self.generation {
            Verdict::Expired
        } else {
            Verdict::Replaced
        }
    }

    /// The generation a new login would replace, if it is still `generation` (no one else
    /// has logged in again meanwhile).
    pub(crate) fn needs_login(&self, generation: u64) -> bool {
        self.generation == generation
    }

    /// How often an idle session is kept alive: the configured keepalive, but at most half
    /// the server's session timeout, so that one lost keepalive does not lose the session.
    pub(crate) fn keepalive_interval(&self) -> Option<Duration> {
        let keepalive = self.keepalive?;
        Some(match self.server_timeout {
            Some(timeout) => keepalive.min(timeout / 2).max(Duration::from_secs(1)),
            None => keepalive,
        })
    }

    /// When the idle session next needs a keepalive request (none with keepalive off).
    pub(crate) fn poll_keepalive(&self) -> Option<Instant> {
        Some(self.last_request + self.keepalive_interval()?)
    }

    /// The `Timeout` of the next WaitEvent, in whole seconds (at least 1): the keepalive
    /// interval, as a WaitEvent is itself the keepalive of a session that takes events.
    pub(crate) fn wait_seconds(&self) -> u64 {
        let wait = self
            .keepalive_interval()
            .unwrap_or(match self.server_timeout {
                Some(timeout) => DEFAULT_WAIT.min(timeout / 2),
                None => DEFAULT_WAIT,
            });
        wait.as_secs().max(1)
    }

    /// Marks the link down; true if it was up (subscribers are told once).
    pub(crate) fn mark_down(&mut self) -> bool {
        !std::mem::replace(&mut self.down, true)
    }

    /// Marks the link up; true if it was down (subscribers are told once).
    pub(crate) fn mark_up(&mut self) -> bool {
        std::mem::replace(&mut self.down, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookie(id: &str, max_age: Option<u64>) -> SessionCookie {
        SessionCookie {
            id: id.into(),
            max_age,
        }
    }

    #[test]
    fn a_new_cookie_with_permission_denied_is_an_expired_session() {
        let now = Instant::now();
        let mut policy = Policy::new(None, now);
        assert_eq!(policy.current(), (0, None));
        policy.handle_login(Some(cookie("aa", Some(60))), now);
        let (generation, header) = policy.current();
        assert_eq!(header.as_deref(), Some("mansession_id=\"aa\""));
        // Our own cookie, denied: the user may not run the action; the session is fine.
        assert_eq!(
            policy.handle_answer(generation, Some(&cookie("aa", Some(60))), true),
            Verdict::Alive
        );
        // A fresh cookie without a refusal says nothing about ours.
        assert_eq!(
            policy.handle_answer(generation, Some(&cookie("bb", Some(60))), false),
            Verdict::Alive
        );
        assert_eq!(policy.handle_answer(generation, None, true), Verdict::Alive);
        // A fresh cookie with the refusal: the server forgot us.
        assert_eq!(
            policy.handle_answer(generation, Some(&cookie("bb", Some(60))), true),
            Verdict::Expired
        );
        assert!(policy.needs_login(generation));
        policy.handle_login(Some(cookie("cc", Some(60))), now);
        assert!(!policy.needs_login(generation));
        // A request that went out on the old session is only sent again.
        assert_eq!(
            policy.handle_answer(generation, Some(&cookie("dd", Some(60))), true),
            Verdict::Replaced
        );
    }

    #[test]
    fn keepalive_fits_inside_the_server_session_timeout() {
        let start = Instant::now();
        let mut policy = Policy::new(Some(Duration::from_secs(30)), start);
        assert_eq!(policy.keepalive_interval(), Some(Duration::from_secs(30)));
        policy.handle_login(Some(cookie("aa", Some(10))), start);
        assert_eq!(policy.keepalive_interval(), Some(Duration::from_secs(5)));
        assert_eq!(
            policy.poll_keepalive(),
            Some(start + Duration::from_secs(5))
        );
        assert_eq!(policy.wait_seconds(), 5);
        let later = start + Duration::from_secs(3);
        policy.handle_sent(later);
        assert_eq!(
            policy.poll_keepalive(),
            Some(later + Duration::from_secs(5))
        );
        // The clock never runs backwards for a request stamped late.
        policy.handle_sent(start);
        assert_eq!(
            policy.poll_keepalive(),
            Some(later + Duration::from_secs(5))
        );
    }

    #[test]
    fn without_keepalive_nothing_is_due_and_waits_follow_the_server() {
        let start = Instant::now();
        let mut policy = Policy::new(None, start);
        assert_eq!(policy.poll_keepalive(), None);
        assert_eq!(policy.wait_seconds(), 30);
        policy.handle_login(Some(cookie("aa", Some(4))), start);
        assert_eq!(policy.wait_seconds(), 2);
        policy.handle_login(Some(cookie("bb", Some(1))), start);
        assert_eq!(policy.wait_seconds(), 1, "never a zero (unbounded) wait");
    }

    #[test]
    fn down_and_up_are_told_once_each() {
        let mut policy = Policy::new(None, Instant::now());
        assert!(!policy.mark_up());
        assert!(policy.mark_down());
        assert!(!policy.mark_down());
        assert!(policy.mark_up());
        assert!(!policy.mark_up());
    }
}
