//! Bearer tokens: stored as SHA-256 hashes, each with the servers, actions and event classes
//! it may use and its own rate limit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::privilege::{ActionClasses, NotByWildcard, wildcard_grants};

/// Actions that would change the gateway's own shared AMI session (log it off, change its
/// event mask or filters, or block it waiting for events): never forwarded, whatever the token.
pub const RESERVED_ACTIONS: &[&str] = &[
    "Login",
    "Logoff",
    "Challenge",
    "Events",
    "Filter",
    "WaitEvent",
];

/// A token's action lists. `"*"` in `allow` grants only the actions whose write classes are
/// safe on the server asked ([`crate::privilege::wildcard_grants`]); every other action must
/// be named. `deny` wins over `allow`. Names compare case-insensitively, as Asterisk does.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ActionRules {
    /// Actions allowed.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Actions denied.
    #[serde(default)]
    pub deny: Vec<String>,
}

/// Why a token may not run an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionDenial {
    /// The action changes the gateway's shared session.
    Reserved,
    /// The token's lists do not allow it.
    NotAllowed,
    /// The token has `"*"`, which does not reach this action: it must be named.
    NotByWildcard(NotByWildcard),
}

impl ActionRules {
    /// Whether these lists allow `action` on a server whose actions have the classes `known`.
    pub fn check(&self, action: &str, known: &ActionClasses) -> Result<(), ActionDenial> {
        let named = |list: &[String]| list.iter().any(|a| a.eq_ignore_ascii_case(action));
        if RESERVED_ACTIONS
            .iter()
            .any(|a| a.eq_ignore_ascii_case(action))
        {
            return Err(ActionDenial::Reserved);
        }
        if named(&self.deny) {
            return Err(ActionDenial::NotAllowed);
        }
        if named(&self.allow) {
            return Ok(());
        }
        if self.allow.iter().any(|a| a == "*") {
            return wildcard_grants(action, known).map_err(ActionDenial::NotByWildcard);
        }
        Err(ActionDenial::NotAllowed)
    }
}

/// One configured token (its hash, never the token itself).
pub struct TokenPolicy {
    /// A label for logs and metrics (never the token).
    pub name: String,
    hash: [u8; 32],
    /// Servers it may use (`"*"`: all).
    pub servers: Vec<String>,
    /// Actions it may run.
    pub actions: ActionRules,
    /// Every action, sensitive ones included ([`TokenPolicy::simulator_admin`] only).
    every_action: bool,
    /// Event classes (the `Privilege:` words: `call`, `agent`, `system` ...) it may receive;
    /// `"*"`: all, including events that carry no class.
    pub events: Vec<String>,
    /// Stream clients this token may hold at once; `None`: `streams.max_clients_per_token`.
    pub max_streams: Option<usize>,
    /// Requests this token may have waiting on a PBX at once; `None`:
    /// `connections.max_in_flight_per_token`.
    pub max_in_flight: Option<usize>,
    limiter: Mutex<Bucket>,
    rate: f64,
    burst: f64,
    /// Stream clients open now.
    streams: AtomicUsize,
    /// Requests waiting on a PBX now.
    in_flight: AtomicUsize,
}

impl std::fmt::Debug for TokenPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPolicy")
            .field("name", &self.name)
            .field("servers", &self.servers)
            .field("actions", &self.actions)
            .field("every_action", &self.every_action)
            .field("events", &self.events)
            .field("rate", &self.rate)
            .field("burst", &self.burst)
            .field("max_streams", &self.max_streams)
            .field("max_in_flight", &self.max_in_flight)
            .finish()
    }
}

impl Clone for TokenPolicy {
    fn clone(&self) -> Self {
        Self {
            name: self.name.clone(),
            hash: self.hash,
            servers: self.servers.clone(),
            actions: self.actions.clone(),
            every_action: self.every_action,
            events: self.events.clone(),
            max_streams: self.max_streams,
            max_in_flight: self.max_in_flight,
            limiter: Mutex::new(Bucket::full(self.burst)),
            rate: self.rate,
            burst: self.burst,
            streams: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
        }
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    fn full(burst: f64) -> Self {
        Self {
            tokens: burst,
            updated: Instant::now(),
        }
    }
}

impl TokenPolicy {
    /// A policy from its configured parts; `sha256` is the lowercase or uppercase hex SHA-256
    /// of the token. `rate_per_second` 0 means no limit; `burst` defaults to twice the rate.
    pub fn new(
        name: String,
        sha256: &str,
        servers: Vec<String>,
        actions: ActionRules,
        events: Vec<String>,
        rate_per_second: f64,
        burst: Option<f64>,
    ) -> Result<Self, String> {
        let hash = parse_hex32(sha256).ok_or_else(|| {
            format!("token {name:?}: sha256 must be 64 hex digits (sha256sum of the token)")
        })?;
        if !rate_per_second.is_finite() || rate_per_second < 0.0 {
            return Err(format!("token {name:?}: rate_per_second must be >= 0"));
        }
        let burst = burst.unwrap_or((rate_per_second * 2.0).max(1.0));
        if !burst.is_finite() || burst < 1.0 {
            return Err(format!("token {name:?}: burst must be >= 1"));
        }
        Ok(Self {
            name,
            hash,
            servers,
            actions,
            every_action: false,
            events,
            max_streams: None,
            max_in_flight: None,
            limiter: Mutex::new(Bucket::full(burst)),
            rate: rate_per_second,
            burst,
            streams: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
        })
    }

    /// Sets the token's own stream and in-flight limits (`None`: the global ones).
    pub fn with_limits(
        mut self,
        max_streams: Option<usize>,
        max_in_flight: Option<usize>,
    ) -> Result<Self, String> {
        if max_streams == Some(0) || max_in_flight == Some(0) {
            return Err(format!(
                "token {:?}: max_streams and max_in_flight must be at least 1",
                self.name
            ));
        }
        self.max_streams = max_streams;
        self.max_in_flight = max_in_flight;
        Ok(self)
    }

    /// A policy allowing every action, sensitive ones included, on every server. Only for
    /// the embedded simulator of `ami gateway --sim`, which runs no code and has no real
    /// configuration: a configuration file cannot express it, since nothing that can run
    /// code on a PBX is granted by a wildcard.
    pub fn simulator_admin(name: impl Into<String>, token: &str, rate_per_second: f64) -> Self {
        Self {
            name: name.into(),
            hash: hash_token(token),
            servers: vec!["*".into()],
            actions: ActionRules {
                allow: vec!["*".to_owned()],
                deny: Vec::new(),
            },
            every_action: true,
            events: vec!["*".into()],
            max_streams: None,
            max_in_flight: None,
            limiter: Mutex::new(Bucket::full(rate_per_second * 2.0)),
            rate: rate_per_second,
            burst: (rate_per_second * 2.0).max(1.0),
            streams: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
        }
    }

    /// Whether the token may run `action` on a server whose actions have the classes `known`.
    pub fn may_run(&self, action: &str, known: &ActionClasses) -> Result<(), ActionDenial> {
        match self.actions.check(action, known) {
            Err(ActionDenial::NotByWildcard(_)) if self.every_action => Ok(()),
            verdict => verdict,
        }
    }

    /// Whether the token may use `server`.
    pub fn may_use_server(&self, server: &str) -> bool {
        self.servers.iter().any(|s| s == "*" || s == server)
    }

    /// Whether the token may receive an event whose `Privilege:` value is `privilege`
    /// (`None` when the event carries none).
    pub fn may_receive(&self, privilege: Option<&[u8]>) -> bool {
        class_allowed(&self.events, privilege)
    }

    /// Takes one request from the bucket; `Err(seconds)` says when to retry.
    pub fn take(&self) -> Result<(), u64> {
        if self.rate == 0.0 {
            return Ok(());
        }
        let mut bucket = self.limiter.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / self.rate;
            Err(wait.ceil().max(1.0) as u64)
        }
    }
}

/// Which of a token's concurrent uses a [`Held`] place counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Use {
    /// An open event stream.
    Stream,
    /// A request waiting on a PBX.
    InFlight,
}

/// One of a token's places (a stream or a request in flight), given back when dropped.
pub(crate) struct Held {
    policy: Arc<TokenPolicy>,
    kind: Use,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.policy
            .counter(self.kind)
            .fetch_sub(1, Ordering::AcqRel);
    }
}

impl TokenPolicy {
    fn counter(&self, kind: Use) -> &AtomicUsize {
        match kind {
            Use::Stream => &self.streams,
            Use::InFlight => &self.in_flight,
        }
    }

    /// How many places of `kind` the token holds now.
    pub(crate) fn in_use(&self, kind: Use) -> usize {
        self.counter(kind).load(Ordering::Relaxed)
    }

    /// Takes one place of `kind` if fewer than `limit` are held; `None` when at the limit.
    pub(crate) fn hold(self: &Arc<Self>, kind: Use, limit: usize) -> Option<Held> {
        let counter = self.counter(kind);
        // Increment first and undo on overshoot: no lock, and concurrent takers can never
        // both pass the last place.
        if counter.fetch_add(1, Ordering::AcqRel) >= limit {
            counter.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Held {
            policy: self.clone(),
            kind,
        })
    }
}

/// Whether an event whose `Privilege:` value is `privilege` belongs to one of `classes`
/// (`"*"` in `classes`: every event, also those without a class). `all` in the header is not
/// a class of its own.
pub fn class_allowed(classes: &[String], privilege: Option<&[u8]>) -> bool {
    if classes.iter().any(|c| c == "*") {
        return true;
    }
    let Some(privilege) = privilege else {
        return false;
    };
    privilege
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|class| !class.eq_ignore_ascii_case(b"all"))
        .any(|class| {
            classes
                .iter()
                .any(|allowed| allowed.as_bytes().eq_ignore_ascii_case(class))
        })
}

/// SHA-256 of a token, as stored in the configuration.
pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Lowercase hex of a token's SHA-256 (what `sha256` in the configuration holds).
pub fn hash_token_hex(token: &str) -> String {
    hash_token(token)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn parse_hex32(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

/// A fresh random token: 32 bytes from the OS, hex-encoded.
pub fn generate_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Finds the policy of a presented token. Every stored hash is compared in constant time, so
/// timing tells nothing about how close a guess was.
pub fn find<'a>(tokens: &'a [Arc<TokenPolicy>], presented: &str) -> Option<&'a Arc<TokenPolicy>> {
    let hash = hash_token(presented);
    let mut found = None;
    for policy in tokens {
        let diff = policy
            .hash
            .iter()
            .zip(hash.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff == 0 && found.is_none() {
            found = Some(policy);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(allow: &[&str], deny: &[&str]) -> ActionRules {
        ActionRules {
            allow: allow.iter().map(|s| (*s).to_owned()).collect(),
            deny: deny.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn star_allows_safe_classes_only_and_never_reserved_actions() {
        let mut known = ActionClasses::default();
        known.insert("Ping", &[]);
        known.insert("CoreShowChannels", &["system", "reporting"]);
        known.insert("Command", &["command"]);
        known.insert("Originate", &["originate"]);
        known.insert("Hangup", &["system", "call"]);
        known.insert("QueuePause", &["agent"]);
        known.insert("Redirect", &["call"]);
        let star = rules(&["*"], &["QueuePause"]);
        assert_eq!(star.check("Ping", &known), Ok(()));
        assert_eq!(star.check("coreshowchannels", &known), Ok(()));
        assert_eq!(
            star.check("QueuePause", &known),
            Err(ActionDenial::NotAllowed)
        );
        for sensitive in ["Command", "originate", "Hangup", "Redirect", "Unlisted"] {
            assert!(
                matches!(
                    star.check(sensitive, &known),
                    Err(ActionDenial::NotByWildcard(_))
                ),
                "{sensitive}"
            );
        }
        assert_eq!(star.check("Logoff", &known), Err(ActionDenial::Reserved));
        assert_eq!(star.check("WaitEvent", &known), Err(ActionDenial::Reserved));
        let granted = rules(&["*", "Command", "Redirect"], &[]);
        assert_eq!(granted.check("command", &known), Ok(()));
        assert_eq!(granted.check("REDIRECT", &known), Ok(()));
        assert_eq!(granted.check("Events", &known), Err(ActionDenial::Reserved));
        assert_eq!(
            rules(&[], &[]).check("Ping", &known),
            Err(ActionDenial::NotAllowed)
        );
    }

    #[test]
    fn only_the_simulator_admin_reaches_sensitive_actions_through_the_wildcard() {
        let known = ActionClasses::default();
        let admin = TokenPolicy::simulator_admin("a", "x", 0.0);
        assert_eq!(admin.may_run("DialplanExtensionAdd", &known), Ok(()));
        assert_eq!(admin.may_run("Logoff", &known), Err(ActionDenial::Reserved));
        let configured = TokenPolicy::new(
            "c".into(),
            &hash_token_hex("c"),
            vec!["*".into()],
            rules(&["*"], &[]),
            vec![],
            0.0,
            None,
        )
        .expect("valid");
        assert!(configured.may_run("DialplanExtensionAdd", &known).is_err());
    }

    #[test]
    fn tokens_are_found_by_hash_only() {
        let hex = hash_token_hex("test");
        assert_eq!(
            hex,
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        );
        let policy = TokenPolicy::new(
            "ops".into(),
            &hex.to_uppercase(),
            vec!["*".into()],
            ActionRules::default(),
            vec![],
            0.0,
            None,
        )
        .expect("valid");
        let tokens = vec![Arc::new(policy)];
        assert_eq!(find(&tokens, "test").map(|p| p.name.as_str()), Some("ops"));
        assert!(find(&tokens, "tesT").is_none());
        assert!(find(&tokens, "").is_none());
        assert!(!format!("{:?}", tokens[0]).contains(&hex));
    }

    #[test]
    fn event_classes_come_from_the_privilege_header() {
        let mut policy = TokenPolicy::simulator_admin("a", "x", 1.0);
        policy.events = vec!["call".into(), "agent".into()];
        assert!(policy.may_receive(Some(b"call,all")));
        assert!(policy.may_receive(Some(b"dialplan, Agent")));
        assert!(!policy.may_receive(Some(b"system,all")));
        assert!(!policy.may_receive(Some(b"all")));
        assert!(!policy.may_receive(None));
        policy.events = vec!["*".into()];
        assert!(policy.may_receive(None));
    }

    #[test]
    fn bucket_allows_the_burst_then_says_when_to_retry() {
        let policy = TokenPolicy::new(
            "r".into(),
            &hash_token_hex("r"),
            vec![],
            ActionRules::default(),
            vec![],
            1.0,
            Some(3.0),
        )
        .expect("valid");
        for _ in 0..3 {
            assert_eq!(policy.take(), Ok(()));
        }
        assert_eq!(policy.take(), Err(1));
        let unlimited = TokenPolicy::simulator_admin("u", "u", 0.0);
        for _ in 0..1000 {
            assert_eq!(unlimited.take(), Ok(()));
        }
    }

    #[test]
    fn places_are_taken_up_to_the_limit_and_given_back() {
        let policy = Arc::new(TokenPolicy::simulator_admin("p", "p", 0.0));
        let first = policy.hold(Use::Stream, 2).expect("room");
        let second = policy.hold(Use::Stream, 2).expect("room");
        assert!(policy.hold(Use::Stream, 2).is_none());
        assert_eq!(policy.in_use(Use::Stream), 2);
        // The two kinds are counted apart.
        let request = policy.hold(Use::InFlight, 1).expect("room");
        assert!(policy.hold(Use::InFlight, 1).is_none());
        drop(first);
        assert!(policy.hold(Use::Stream, 2).is_some());
        drop((second, request));
        assert_eq!(policy.in_use(Use::Stream), 0);
        assert_eq!(policy.in_use(Use::InFlight), 0);
    }

    #[test]
    fn generated_tokens_are_long_and_differ() {
        let (a, b) = (generate_token(), generate_token());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }
}
