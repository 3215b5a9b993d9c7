//! Who owns a PBX in a fleet of bridge instances (sans-IO): the policy of one lease in a
//! JetStream key-value bucket whose `max_age` is the lease's TTL.
//!
//! The key is the server's name, the value the owning instance's id. The owner rewrites the
//! value every TTL/3 with a revision-checked update; an instance that died stops rewriting
//! it, JetStream removes it TTL after its last write, and a waiting instance then creates it.
//! A write that finds another revision than the one the owner holds means someone else
//! wrote the key: the lease is lost at once.
//!
//! The owner never believes it owns past `sent + TTL - TTL/10`, where `sent` is when the
//! last successful write was sent: JetStream stores the write after it was sent and removes
//! it no sooner than TTL after storing it, so another instance can only create the key after
//! this instance has stopped believing it owns the PBX (the TTL/10 absorbs clock rate
//! differences and the delay of the loss reaching the publisher).
//!
//! Driving it: after any input, drain [`Lease::poll_request`] (perform each request and feed
//! its result to the matching `handle_*`, one request at a time) and [`Lease::poll_event`];
//! call [`Lease::handle_timeout`] at [`Lease::poll_timeout`]. Time is given, never read.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// What the lease asks its IO layer to do with the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Read the key's last entry; answer with [`Lease::handle_read`].
    Read,
    /// Write this instance's id if the key's last revision is `revision` (0: the key must
    /// not exist); answer with [`Lease::handle_written`].
    Write {
        /// The expected last revision of the key.
        revision: u64,
    },
    /// Delete the key if its last revision is `revision` (a graceful handover); answer with
    /// [`Lease::handle_deleted`].
    Delete {
        /// The expected last revision of the key.
        revision: u64,
    },
}

/// The key's last entry, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The owning instance's id (empty for a delete marker).
    pub value: String,
    /// The entry's revision.
    pub revision: u64,
    /// `false` for a delete or purge marker: nobody owns the PBX.
    pub live: bool,
}

/// How a write or a read failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The key's last revision was not the expected one: someone else wrote it.
    Conflict,
    /// No answer, or another error: the outcome is unknown.
    Failed,
}

/// Why a lease was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LostReason {
    /// Another instance wrote the key.
    Taken,
    /// No renewal succeeded in time: the key may be expiring.
    Expired,
}

/// What happened to the lease, for the IO layer to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseEvent {
    /// This instance owns the PBX from now on: connect to it and publish.
    Acquired {
        /// The instance that owned it last, if this one saw it.
        previous: Option<String>,
    },
    /// This instance no longer owns the PBX: stop publishing for it at once.
    Lost(LostReason),
    /// The lease was handed back (or there was none) after [`Lease::handle_stop`]: nothing
    /// more will be asked.
    Released,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Look at the key first.
    Read,
    /// Write at this revision (0: create).
    Write(u64),
}

#[derive(Debug)]
enum State {
    /// Not the owner; the next attempt at `at`.
    Waiting { at: Instant, step: Step },
    /// The owner of `revision` until `valid_until`; renews at `renew_at`.
    Owner {
        revision: u64,
        valid_until: Instant,
        renew_at: Instant,
    },
    /// Stopping: the key is deleted at `revision` (if owned), then done.
    Stopping { revision: Option<u64> },
    /// Done.
    Stopped,
}

/// One PBX's lease (see the module documentation).
#[derive(Debug)]
pub struct Lease {
    instance: String,
    ttl: Duration,
    state: State,
    /// The request handed out and not yet answered, with when it was handed out.
    pending: Option<(Request, Instant)>,
    events: VecDeque<LeaseEvent>,
    /// The last other owner seen.
    previous: Option<String>,
    /// The key was seen vacated while a read was out: its answer may be older than that.
    vacated: bool,
}

impl Lease {
    /// A lease for this `instance` with the bucket's `ttl`, trying to acquire at once.
    pub fn new(instance: impl Into<String>, ttl: Duration, now: Instant) -> Self {
        Self {
            instance: instance.into(),
            ttl,
            state: State::Waiting {
                at: now,
                step: Step::Read,
            },
            pending: None,
            events: VecDeque::new(),
            previous: None,
            vacated: false,
        }
    }

    /// How often the owner renews, and a waiting instance looks at the key.
    pub fn period(&self) -> Duration {
        self.ttl / 3
    }

    fn margin(&self) -> Duration {
        self.ttl / 10
    }

    /// Whether this instance owns the PBX now.
    pub fn is_owner(&self) -> bool {
        matches!(self.state, State::Owner { .. })
    }

    /// The next request to perform, if one is due and none is outstanding.
    pub fn poll_request(&mut self, now: Instant) -> Option<Request> {
        if self.pending.is_some() {
            return None;
        }
        let request = match self.state {
            State::Waiting { at, step } if now >= at => match step {
                Step::Read => Request::Read,
                Step::Write(revision) => Request::Write { revision },
            },
            State::Owner {
                revision, renew_at, ..
            } if now >= renew_at => Request::Write { revision },
            State::Stopping {
                revision: Some(revision),
            } => Request::Delete { revision },
            _ => return None,
        };
        self.pending = Some((request, now));
        Some(request)
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<LeaseEvent> {
        self.events.pop_front()
    }

    /// When [`Lease::handle_timeout`] must be called next (`None`: only after an input).
    pub fn poll_timeout(&self) -> Option<Instant> {
        // While a request is out only the end of the belief is a deadline (a renewal or a
        // read that is due already waits for the answer).
        if self.pending.is_some() {
            return match self.state {
                State::Owner { valid_until, .. } => Some(valid_until),
                _ => None,
            };
        }
        match self.state {
            State::Waiting { at, .. } => Some(at),
            State::Owner {
                valid_until,
                renew_at,
                ..
            } => Some(renew_at.min(valid_until)),
            State::Stopping { .. } | State::Stopped => None,
        }
    }

    /// Time passed: the owner whose renewals did not succeed in time loses the lease.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let State::Owner { valid_until, .. } = self.state
            && now >= valid_until
        {
            self.lose(LostReason::Expired, now);
        }
    }

    /// The answer to [`Request::Read`]: `Ok(None)` when the key does not exist.
    pub fn handle_read(&mut self, now: Instant, result: Result<Option<Entry>, Failure>) {
        if !matches!(self.pending.take(), Some((Request::Read, _))) {
            return;
        }
        let State::Waiting { .. } = self.state else {
            return;
        };
        let step = match result {
            Ok(None) => Some(Step::Write(0)),
            Ok(Some(entry)) if !entry.live => Some(Step::Write(entry.revision)),
            // Still this instance's (a renewal whose answer was lost): nobody else wrote
            // the key since, so taking it back at that revision is safe.
            Ok(Some(entry)) if entry.value == self.instance => Some(Step::Write(entry.revision)),
            Ok(Some(entry)) => {
                self.previous = Some(entry.value);
                None
            }
            Err(_) => None,
        };
        let again = if std::mem::take(&mut self.vacated) {
            now
        } else {
            now + self.period()
        };
        self.state = match step {
            Some(step) => State::Waiting { at: now, step },
            None => State::Waiting {
                at: again,
                step: Step::Read,
            },
        };
    }

    /// The key was deleted or purged (a watch saw the owner hand it back): a waiting
    /// instance looks at it now rather than at its next period.
    pub fn handle_vacated(&mut self, now: Instant) {
        if let State::Waiting { at, step } = &mut self.state {
            match self.pending {
                Some((Request::Read, _)) => self.vacated = true,
                Some(_) => {}
                None if *step == Step::Read => *at = now,
                None => {}
            }
        }
    }

    /// The answer to [`Request::Write`]: the key's new revision, or why it failed.
    pub fn handle_written(&mut self, now: Instant, result: Result<u64, Failure>) {
        let Some((Request::Write { .. }, sent)) = self.pending.take() else {
            return;
        };
        match (&self.state, result) {
            (State::Waiting { .. }, Ok(revision)) => {
                self.own(revision, sent);
                self.events.push_back(LeaseEvent::Acquired {
                    previous: self.previous.clone(),
                });
            }
            (State::Waiting { .. }, Err(_)) => {
                // Someone was quicker, or the outcome is unknown: read again later.
                self.state = State::Waiting {
                    at: now + self.period(),
                    step: Step::Read,
                };
            }
            (State::Owner { valid_until, .. }, Ok(revision)) => {
                let valid_until = *valid_until;
                if now >= valid_until {
                    self.lose(LostReason::Expired, now);
                } else {
                    self.own(revision, sent);
                }
            }
            (State::Owner { .. }, Err(Failure::Conflict)) => self.lose(LostReason::Taken, now),
            (
                State::Owner {
                    revision,
                    valid_until,
                    ..
                },
                Err(Failure::Failed),
            ) => {
                // Unknown: retry soon, until the belief runs out.
                let (revision, valid_until) = (*revision, *valid_until);
                if now >= valid_until {
                    self.lose(LostReason::Expired, now);
                } else {
                    self.state = State::Owner {
                        revision,
                        valid_until,
                        renew_at: (now + self.ttl / 10).min(valid_until),
                    };
                }
            }
            // A late answer after a stop or a loss: the key is left to expire or to be read.
            _ => {}
        }
    }

    /// The answer to [`Request::Delete`] (whatever it was: a failed delete leaves the key
    /// to expire).
    pub fn handle_deleted(&mut self, _now: Instant) {
        if matches!(self.pending.take(), Some((Request::Delete { .. }, _))) {
            self.state = State::Stopped;
            self.events.push_back(LeaseEvent::Released);
        }
    }

    /// Stop: the owner deletes the key so that another instance takes the PBX at once
    /// (call after it stopped publishing); a waiting instance is released at once.
    pub fn handle_stop(&mut self, _now: Instant) {
        match self.state {
            State::Owner { revision, .. } => {
                self.pending = None;
                self.state = State::Stopping {
                    revision: Some(revision),
                };
            }
            State::Waiting { .. } => {
                self.pending = None;
                self.state = State::Stopped;
                self.events.push_back(LeaseEvent::Released);
            }
            State::Stopping { .. } | State::Stopped => {}
        }
    }

    fn own(&mut self, revision: u64, sent: Instant) {
        self.state = State::Owner {
            revision,
            valid_until: sent + self.ttl - self.margin(),
            renew_at: sent + self.period(),
        };
    }

    fn lose(&mut self, reason: LostReason, now: Instant) {
        // An answer still out is ignored when it comes: the loss was announced, and if the
        // write did land, the next read finds this instance's value and takes it back.
        self.pending = None;
        self.state = State::Waiting {
            at: now + self.period(),
            step: Step::Read,
        };
        self.events.push_back(LeaseEvent::Lost(reason));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(6);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn live(value: &str, revision: u64) -> Option<Entry> {
        Some(Entry {
            value: value.into(),
            revision,
            live: true,
        })
    }

    /// A lease that acquired revision 1 at `t0`.
    fn owner(t0: Instant) -> Lease {
        let mut lease = Lease::new("me", TTL, t0);
        assert_eq!(lease.poll_request(t0), Some(Request::Read));
        lease.handle_read(t0, Ok(None));
        assert_eq!(lease.poll_request(t0), Some(Request::Write { revision: 0 }));
        lease.handle_written(t0 + ms(5), Ok(1));
        assert_eq!(
            lease.poll_event(),
            Some(LeaseEvent::Acquired { previous: None })
        );
        assert!(lease.is_owner());
        lease
    }

    #[test]
    fn a_free_key_is_created_and_renewed_every_third_of_the_ttl() {
        let t0 = Instant::now();
        let mut lease = owner(t0);
        // One request at a time, and nothing before the renewal is due.
        assert_eq!(lease.poll_timeout(), Some(t0 + ms(2_000)));
        assert_eq!(lease.poll_request(t0 + ms(1_999)), None);
        let t1 = t0 + ms(2_000);
        assert_eq!(lease.poll_request(t1), Some(Request::Write { revision: 1 }));
        assert_eq!(lease.poll_request(t1), None);
        lease.handle_written(t1 + ms(3), Ok(7));
        assert!(lease.is_owner());
        assert_eq!(lease.poll_event(), None);
        // The next renewal counts from when this one was sent, at the new revision.
        assert_eq!(lease.poll_timeout(), Some(t1 + ms(2_000)));
        assert_eq!(
            lease.poll_request(t1 + ms(2_000)),
            Some(Request::Write { revision: 7 })
        );
    }

    #[test]
    fn a_revision_conflict_loses_the_lease_at_once() {
        let t0 = Instant::now();
        let mut lease = owner(t0);
        let t1 = t0 + ms(2_000);
        lease.poll_request(t1);
        lease.handle_written(t1 + ms(2), Err(Failure::Conflict));
        assert!(!lease.is_owner());
        assert_eq!(
            lease.poll_event(),
            Some(LeaseEvent::Lost(LostReason::Taken))
        );
        // Then it waits like any other instance, and learns who owns the PBX now.
        assert_eq!(lease.poll_request(t1 + ms(1_000)), None);
        let t2 = t1 + ms(2_002);
        assert_eq!(lease.poll_request(t2), Some(Request::Read));
        lease.handle_read(t2, Ok(live("other", 9)));
        assert!(!lease.is_owner());
        assert_eq!(lease.poll_request(t2), None);
        assert_eq!(lease.poll_timeout(), Some(t2 + ms(2_000)));
    }

    #[test]
    fn renewals_that_never_succeed_end_the_belief_before_the_key_can_expire() {
        let t0 = Instant::now();
        let mut lease = owner(t0);
        let mut now = t0 + ms(2_000);
        // Every renewal fails (NATS unreachable): retried every TTL/10 ...
        while lease.is_owner() {
            if let Some(request) = lease.poll_request(now) {
                assert_eq!(request, Request::Write { revision: 1 });
                lease.handle_written(now + ms(100), Err(Failure::Failed));
            }
            lease.handle_timeout(now);
            now += ms(50);
        }
        // ... and the lease is given up before t0 + TTL, when JetStream could first drop
        // the key (it was written after t0).
        assert!(now <= t0 + TTL, "{:?}", now - t0);
        assert!(now >= t0 + TTL - TTL / 10 - ms(100));
        assert_eq!(
            lease.poll_event(),
            Some(LeaseEvent::Lost(LostReason::Expired))
        );
    }

    #[test]
    fn an_outstanding_renewal_does_not_extend_the_belief() {
        let t0 = Instant::now();
        let mut lease = owner(t0);
        let t1 = t0 + ms(2_000);
        assert!(lease.poll_request(t1).is_some());
        // No answer at all: the timer alone ends it.
        assert_eq!(lease.poll_timeout(), Some(t0 + ms(5_400)));
        lease.handle_timeout(t0 + ms(5_400));
        assert_eq!(
            lease.poll_event(),
            Some(LeaseEvent::Lost(LostReason::Expired))
        );
        // A success that arrives late is not taken as ownership.
        lease.handle_written(t0 + ms(5_500), Ok(2));
        assert!(!lease.is_owner());
        assert_eq!(lease.poll_event(), None);
    }

    #[test]
    fn a_waiting_instance_takes_the_key_once_it_expired_and_names_the_previous_owner() {
        let t0 = Instant::now();
        let mut lease = Lease::new("b", TTL, t0);
        assert_eq!(lease.poll_request(t0), Some(Request::Read));
        lease.handle_read(t0, Ok(live("a", 3)));
        assert!(!lease.is_owner());
        // It looks again every TTL/3 while the owner renews.
        let t1 = t0 + ms(2_000);
        assert_eq!(lease.poll_request(t1), Some(Request::Read));
        lease.handle_read(t1, Ok(live("a", 4)));
        // The owner died; JetStream removed the key.
        let t2 = t1 + ms(2_000);
        assert_eq!(lease.poll_request(t2), Some(Request::Read));
        lease.handle_read(t2, Ok(None));
        assert_eq!(lease.poll_request(t2), Some(Request::Write { revision: 0 }));
        lease.handle_written(t2 + ms(4), Ok(5));
        assert_eq!(
            lease.poll_event(),
            Some(LeaseEvent::Acquired {
                previous: Some("a".into())
            })
        );
        assert!(lease.is_owner());
    }

    #[test]
    fn two_instances_racing_for_a_free_key_cannot_both_win() {
        let t0 = Instant::now();
        let (mut a, mut b) = (Lease::new("a", TTL, t0), Lease::new("b", TTL, t0));
        for lease in [&mut a, &mut b] {
            lease.poll_request(t0);
            lease.handle_read(t0, Ok(None));
            assert_eq!(lease.poll_request(t0), Some(Request::Write { revision: 0 }));
        }
        // The key-value store accepts the first create and refuses the second.
        a.handle_written(t0, Ok(1));
        b.handle_written(t0, Err(Failure::Conflict));
        assert!(a.is_owner() && !b.is_owner());
        assert_eq!(b.poll_event(), None);
    }

    #[test]
    fn a_graceful_stop_deletes_the_key_and_a_waiter_takes_the_delete_marker() {
        let t0 = Instant::now();
        let mut a = owner(t0);
        let t1 = t0 + ms(500);
        a.handle_stop(t1);
        assert!(!a.is_owner());
        assert_eq!(a.poll_request(t1), Some(Request::Delete { revision: 1 }));
        a.handle_deleted(t1);
        assert_eq!(a.poll_event(), Some(LeaseEvent::Released));
        assert_eq!(a.poll_request(t1 + TTL), None);
        assert_eq!(a.poll_timeout(), None);

        // The next instance finds the delete marker and writes over its revision.
        let mut b = Lease::new("b", TTL, t1);
        b.poll_request(t1);
        b.handle_read(
            t1,
            Ok(Some(Entry {
                value: String::new(),
                revision: 2,
                live: false,
            })),
        );
        assert_eq!(b.poll_request(t1), Some(Request::Write { revision: 2 }));
        b.handle_written(t1, Ok(3));
        assert!(b.is_owner());
    }

    #[test]
    fn a_vacated_key_is_looked_at_now_rather_than_at_the_next_period() {
        let t0 = Instant::now();
        let mut lease = Lease::new("b", TTL, t0);
        lease.poll_request(t0);
        lease.handle_read(t0, Ok(live("a", 3)));
        assert_eq!(lease.poll_request(t0 + ms(100)), None);
        lease.handle_vacated(t0 + ms(100));
        assert_eq!(lease.poll_timeout(), Some(t0 + ms(100)));
        assert_eq!(lease.poll_request(t0 + ms(100)), Some(Request::Read));
        // Vacated again while that read is out: its (older) answer does not delay the next.
        lease.handle_vacated(t0 + ms(101));
        lease.handle_read(t0 + ms(102), Ok(live("a", 3)));
        assert_eq!(
            lease.poll_request(t0 + ms(102)),
            Some(Request::Read),
            "looked at again at once"
        );
        // The owner ignores it: its own renewals tell it what it needs.
        let mut owner = owner(t0);
        owner.handle_vacated(t0 + ms(10));
        assert!(owner.is_owner());
        assert_eq!(owner.poll_request(t0 + ms(10)), None);
    }

    #[test]
    fn an_instance_that_is_not_the_owner_stops_at_once() {
        let t0 = Instant::now();
        let mut lease = Lease::new("b", TTL, t0);
        lease.poll_request(t0);
        lease.handle_stop(t0);
        assert_eq!(lease.poll_event(), Some(LeaseEvent::Released));
        assert_eq!(lease.poll_request(t0 + TTL), None);
        // The answer to the read it had sent changes nothing.
        lease.handle_read(t0, Ok(None));
        assert_eq!(lease.poll_request(t0 + TTL), None);
    }

    #[test]
    fn its_own_key_left_from_a_lost_answer_is_taken_back_at_its_revision() {
        let t0 = Instant::now();
        let mut lease = Lease::new("me", TTL, t0);
        lease.poll_request(t0);
        lease.handle_read(t0, Ok(live("me", 8)));
        assert_eq!(lease.poll_request(t0), Some(Request::Write { revision: 8 }));
        lease.handle_written(t0, Ok(9));
        assert!(lease.is_owner());
    }
}
