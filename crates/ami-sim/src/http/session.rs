//! The HTTP manager sessions, sans-IO: found by their `mansession_id` cookie, each one a
//! [`ServerSession`] in HTTP mode, timed out as Asterisk's `httptimeout` says. Time comes in as
//! an `Instant` with each call.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::session::ServerSession;

/// An unauthenticated session lives this long after its last request (Asterisk: 5 s, unless
/// `httptimeout` is shorter).
const UNAUTHENTICATED_TIMEOUT: Duration = Duration::from_secs(5);

/// WaitEvent gives up this long before the session would time out, so the client sees an
/// answer before it gives up on the request (Asterisk: 10 s).
const WAIT_MARGIN: Duration = Duration::from_secs(10);

/// One HTTP manager session.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) session: ServerSession,
    /// When it times out (`None` until its first request is answered).
    expires: Option<Instant>,
    /// Requests being answered now: a session in use is never timed out.
    in_use: u32,
    /// Logoff or a failed login asked for its end.
    pub(crate) destroy: bool,
    /// The WaitEvent now waiting, by number (0: none); a newer one makes an older one give
    /// up with an empty answer, as in Asterisk.
    pub(crate) waiter: u64,
    /// Woken when an event is held or the waiting WaitEvent must end.
    pub(crate) wake: Arc<Notify>,
}

/// Every HTTP manager session of a simulator.
#[derive(Debug)]
pub(crate) struct Table {
    entries: HashMap<u32, Entry>,
    /// Seeds the cookies: random-looking 32-bit ids, as Asterisk's.
    seed: u64,
    next_waiter: u64,
    /// `httptimeout`.
    timeout: Duration,
}

impl Table {
    pub(crate) fn new(timeout: Duration, seed: u64) -> Self {
        Self {
            entries: HashMap::new(),
            seed,
            next_waiter: 0,
            timeout,
        }
    }

    /// `httptimeout` in whole seconds (the cookie's `Max-Age`).
    pub(crate) fn max_age(&self) -> u64 {
        self.timeout.as_secs()
    }

    /// Drops every session whose time is up and that no request is using.
    pub(crate) fn sweep(&mut self, now: Instant) {
        self.entries.retain(|_, entry| {
            entry.in_use > 0 || entry.expires.is_none_or(|expires| now <= expires)
        });
    }

    /// The session `id` names, or a new one made by `make` (a zero, unknown, ended or timed
    /// out id all start a new session). The session is marked in use until [`Table::finish`].
    pub(crate) fn begin(
        &mut self,
        id: u32,
        now: Instant,
        make: impl FnOnce() -> ServerSession,
    ) -> u32 {
        self.sweep(now);
        let usable = id != 0 && self.entries.get(&id).is_some_and(|entry| !entry.destroy);
        let id = if usable { id } else { self.insert(make()) };
        if let Some(entry) = self.entries.get_mut(&id) {
            entry.in_use += 1;
        }
        id
    }

    fn insert(&mut self, session: ServerSession) -> u32 {
        let id = loop {
            // splitmix64: well spread, never repeating within 2^64 steps.
            self.seed = self.seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.seed;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            let id = (z ^ (z >> 31)) as u32;
            if id != 0 && !self.entries.contains_key(&id) {
                break id;
            }
        };
        self.entries.insert(
            id,
            Entry {
                session,
                expires: None,
                in_use: 0,
                destroy: false,
                waiter: 0,
                wake: Arc::new(Notify::new()),
            },
        );
        id
    }

    pub(crate) fn get(&self, id: u32) -> Option<&Entry> {
        self.entries.get(&id)
    }

    pub(crate) fn get_mut(&mut self, id: u32) -> Option<&mut Entry> {
        self.entries.get_mut(&id)
    }

    /// Every session (events are handed to each).
    pub(crate) fn entries_mut(&mut self) -> impl Iterator<Item = &mut Entry> {
        self.entries.values_mut()
    }

    /// Starts a WaitEvent on `id`: how long it may wait (the asked `timeout` in seconds, -1
    /// or none for as long as the session allows, capped at the session's remaining time
    /// less a margin), its waiter number and what wakes it.
    pub(crate) fn start_wait(
        &mut self,
        id: u32,
        timeout: Option<i64>,
        now: Instant,
    ) -> Option<(Duration, u64, Arc<Notify>)> {
        self.next_waiter += 1;
        let number = self.next_waiter;
        let entry = self.entries.get_mut(&id)?;
        let remaining = entry
            .expires
            .map(|expires| expires.saturating_duration_since(now))
            .unwrap_or_default();
        let max = remaining.saturating_sub(WAIT_MARGIN);
        let wait = match timeout {
            Some(secs) if secs >= 0 => Duration::from_secs(secs as u64).min(max),
            _ => max,
        };
        entry.waiter = number;
        // An older WaitEvent on this session gives up now.
        entry.wake.notify_waiters();
        Some((wait, number, entry.wake.clone()))
    }

    /// Ends a request on `id`: the session's time starts again (short while it has not
    /// logged in), and a session asked to end goes once no other request uses it.
    pub(crate) fn finish(&mut self, id: u32, now: Instant) {
        let timeout = self.timeout;
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        entry.in_use = entry.in_use.saturating_sub(1);
        let lifetime = if entry.session.user().is_some() || timeout < UNAUTHENTICATED_TIMEOUT {
            timeout
        } else {
            UNAUTHENTICATED_TIMEOUT
        };
        entry.expires = Some(now + lifetime);
        if entry.destroy {
            if entry.in_use == 0 {
                self.entries.remove(&id);
            } else {
                entry.wake.notify_waiters();
            }
        }
    }

    /// Drops every session (a simulated restart), waking whatever waits.
    pub(crate) fn clear(&mut self) {
        for entry in self.entries.values() {
            entry.wake.notify_waiters();
        }
        self.entries.clear();
    }

    /// How many sessions exist (tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Profile;
    use crate::session::PeerInfo;
    use crate::user::User;

    fn make() -> ServerSession {
        ServerSession::new_http(1, Profile::V22, PeerInfo::default())
    }

    #[test]
    fn a_cookie_finds_its_session_until_it_times_out() {
        let t0 = Instant::now();
        let mut table = Table::new(Duration::from_secs(60), 42);
        let id = table.begin(0, t0, make);
        assert_ne!(id, 0);
        table.finish(id, t0);
        // Not logged in: 5 s.
        assert_eq!(table.begin(id, t0 + Duration::from_secs(4), make), id);
        table.finish(id, t0 + Duration::from_secs(4));
        let later = t0 + Duration::from_secs(10);
        let other = table.begin(id, later, make);
        assert_ne!(other, id, "timed out: a new session");
        assert_eq!(table.len(), 1);
        // Logged in: the full httptimeout.
        if let Some(entry) = table.get_mut(other) {
            entry.session.user = Some(User::defaults().remove(0));
        }
        table.finish(other, later);
        assert_eq!(
            table.begin(other, later + Duration::from_secs(59), make),
            other
        );
        table.finish(other, later + Duration::from_secs(59));
        let gone = later + Duration::from_secs(59 + 61);
        assert_ne!(table.begin(other, gone, make), other);
    }

    #[test]
    fn a_session_in_use_is_not_swept_and_an_ended_one_goes_when_free() {
        let t0 = Instant::now();
        let mut table = Table::new(Duration::from_secs(60), 1);
        let id = table.begin(0, t0, make);
        table.sweep(t0 + Duration::from_secs(3600));
        assert_eq!(table.len(), 1);
        if let Some(entry) = table.get_mut(id) {
            entry.destroy = true;
        }
        table.finish(id, t0);
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn wait_event_is_capped_by_the_session_time_left() {
        let t0 = Instant::now();
        let mut table = Table::new(Duration::from_secs(60), 7);
        let id = table.begin(0, t0, make);
        if let Some(entry) = table.get_mut(id) {
            entry.session.user = Some(User::defaults().remove(0));
        }
        table.finish(id, t0);
        let id = table.begin(id, t0, make);
        let (wait, first, _) = table.start_wait(id, Some(2), t0).unwrap_or_default();
        assert_eq!(wait, Duration::from_secs(2));
        let (wait, second, _) = table.start_wait(id, None, t0).unwrap_or_default();
        assert_eq!(wait, Duration::from_secs(50));
        assert!(second > first);
        assert_eq!(table.get(id).map(|e| e.waiter), Some(second));
    }
}
