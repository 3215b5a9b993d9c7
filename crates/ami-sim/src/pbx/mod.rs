//! The simulated PBX behind the AMI: channels, Local pairs, bridges, a queue with members, the
//! AstDB and globals, and calls that move through the dialplan producing the events Asterisk
//! would. Sans-IO: time comes in as milliseconds (`handle_timeout`), events go out through
//! `poll_event`.

mod agents;
mod calls;
mod channel;
pub(crate) mod cli;
mod dialplan;
mod events;
mod generator;
mod manager_help;
mod optimize;
pub(crate) mod parking;
mod queue;
pub(crate) mod states;
mod transfer;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};

pub(crate) use agents::{Agent, agents_item};
pub(crate) use channel::{ChanState, Channel};
use dialplan::Step;
pub(crate) use queue::Queue;
pub(crate) use transfer::TransferError;

use crate::event::Event;
use crate::profile::Profile;

/// Why an Originate failed immediately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OriginateError {
    /// Unknown technology or extension: `Originate failed`.
    Failed,
}

/// What Originate was asked to do.
#[derive(Debug, Clone, Default)]
pub(crate) struct OriginateRequest {
    pub(crate) channel: String,
    pub(crate) application: Option<(String, String)>,
    pub(crate) context: String,
    pub(crate) exten: String,
    pub(crate) caller_id: Option<(String, String)>,
    pub(crate) variables: Vec<(String, String)>,
    pub(crate) action_id: Option<String>,
    pub(crate) is_async: bool,
}

/// Who is waiting for a Local pair's `;2` to answer.
#[derive(Debug, Clone)]
enum Parent {
    Originate(OriginateRequest),
    Dial {
        caller: u64,
    },
    QueueMember {
        caller: u64,
        queue: String,
        location: String,
    },
    /// An attended transfer's target: `transferer` consults it, then `transferee` is bridged
    /// with it in `bridge`.
    Transfer {
        transferer: u64,
        transferee: u64,
        bridge: String,
    },
    /// Nobody any more: the Dial that made the pair ended early (its channel was parked or
    /// transferred away).
    Detached,
}

/// Two channels bridged outside a Dial, until one of them hangs up.
#[derive(Debug, Clone)]
struct Joined {
    bridge: String,
    a: u64,
    b: u64,
}

#[derive(Debug, Clone)]
struct Pair {
    one: u64,
    two: u64,
    parent: Parent,
    /// Bridge joining the parent's caller and `;1`, once answered.
    bridge: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// Run the current dialplan step of a channel.
    Step(u64),
    /// The application an Originate gave to `;1` has finished.
    AppDone(u64),
    /// A queue caller waited long enough.
    QueueTimeout(u64),
    /// The demo calls have ended: place them again.
    DemoRefresh,
    /// A logged-in agent rung for a queue caller picks up.
    AgentAnswer { caller: u64, agent: usize },
    /// The demo's agents log in, take a queue call, and log off again later.
    DemoAgents,
    /// The demo parks two calls.
    DemoPark,
    /// The demo retrieves the first parked call (the other one times out).
    DemoRetrieve,
    /// The demo places two calls to transfer.
    DemoTransferCalls,
    /// The demo transfers them: blind (13+) and attended.
    DemoTransfer,
    /// A Local pair (its `;2`) optimises itself away: bridged on both sides (13+), or its
    /// `;2` bridged and passing audio (1.8, 11).
    Optimize(u64),
    /// An attended transfer's consultation is over (the target's `;2`).
    AtxferComplete(u64),
    /// The load generator transfers one of its bridged calls (blind on 13+, or attended).
    GeneratedTransfer { blind: bool },
    /// A parked call has waited its parking time.
    ParkTimeout { space: u32, channel: u64 },
}

/// The demo calls last about 90 s (`Wait 90`); they are placed again a few seconds before they
/// end, so a demo PBX never runs out of calls to show (for a moment both sets are up).
const DEMO_REFRESH_MS: u64 = 85_000;

/// The demo's agents first log in this long after boot (after the recorded scenarios, which
/// see the recorded servers' state: every agent logged off, and after the first minute of a
/// console, whose event log stays readable), then every [`DEMO_REFRESH_MS`].
const DEMO_AGENTS_MS: u64 = 60_000;

/// The demo's parked calls, likewise.
const DEMO_PARK_MS: u64 = 65_000;

/// The demo's transfers, likewise.
const DEMO_TRANSFER_MS: u64 = 70_000;

/// The whole simulated PBX.
#[derive(Debug)]
pub struct Pbx {
    pub(crate) profile: Profile,
    /// Wall-clock seconds since the epoch at simulated boot (Uniqueid prefix, CoreStatus).
    pub(crate) boot_epoch: u64,
    pub(crate) now_ms: u64,
    offset_ms: u64,
    pub(crate) channels: BTreeMap<u64, Channel>,
    next_chan: u64,
    next_local: u32,
    next_uniq: u64,
    next_bridge: u64,
    pairs: HashMap<u64, Pair>,
    programs: HashMap<u64, (Vec<Step>, usize)>,
    pub(crate) queues: Vec<Queue>,
    pub(crate) agents: Vec<Agent>,
    /// Parked calls by space.
    pub(crate) parked: BTreeMap<u32, parking::Parked>,
    /// The parking lot's holding bridge (13+), while calls are parked.
    pub(crate) parking_bridge: Option<String>,
    /// Bridges made outside a Dial (parking retrieval, attended transfers).
    joined: Vec<Joined>,
    /// Local optimisations so far (their `Id:`).
    optimizations: u64,
    /// Calls to transfer the load generator placed so far (every other one goes blind).
    generated_transfers: u64,
    /// Attended transfers between their target's answer and their completion.
    transfers: Vec<transfer::Atxfer>,
    /// The last state sent for each device (DeviceStateChange is sent on changes only).
    pub(crate) device_states: BTreeMap<String, &'static str>,
    pub(crate) db: BTreeMap<String, String>,
    pub(crate) globals: BTreeMap<String, String>,
    pub(crate) processed_calls: u64,
    timers: BinaryHeap<Reverse<(u64, u64, Timer)>>,
    timer_seq: u64,
    out: VecDeque<Event>,
}

impl Pbx {
    /// An idle PBX that booted at `boot_epoch` (seconds since the Unix epoch), with the
    /// default agents ([`Pbx::with_agents`] changes them).
    pub fn new(profile: Profile, boot_epoch: u64) -> Self {
        Self::bare(profile, boot_epoch).with_agents(&crate::config::AgentSpec::defaults())
    }

    fn bare(profile: Profile, boot_epoch: u64) -> Self {
        let mut globals = BTreeMap::new();
        globals.insert("DEMOGLOBAL".to_owned(), "1".to_owned());
        Self {
            profile,
            boot_epoch,
            now_ms: 0,
            offset_ms: 0,
            channels: BTreeMap::new(),
            next_chan: 1,
            next_local: 1,
            next_uniq: 0,
            next_bridge: 1,
            pairs: HashMap::new(),
            programs: HashMap::new(),
            queues: vec![Queue::support(boot_epoch)],
            agents: Vec::new(),
            parked: BTreeMap::new(),
            parking_bridge: None,
            joined: Vec::new(),
            transfers: Vec::new(),
            generated_transfers: 0,
            optimizations: 0,
            device_states: BTreeMap::new(),
            db: BTreeMap::new(),
            globals,
            processed_calls: 0,
            timers: BinaryHeap::new(),
            timer_seq: 0,
            out: VecDeque::new(),
        }
    }

    /// The version profile.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// Queues an event for every session (the IO layer drains them with `poll_event`).
    pub fn publish(&mut self, event: Event) {
        self.out.push_back(event);
    }

    /// The next event to deliver.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.out.pop_front()
    }

    /// Milliseconds since boot, on the clock the PBX runs on.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// When the next timer is due, in the caller's milliseconds since boot.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.timers
            .peek()
            .map(|Reverse((due, _, _))| due.saturating_sub(self.offset_ms))
    }

    /// Advances the clock to `elapsed_ms` (milliseconds since boot) and runs what is due.
    pub fn handle_timeout(&mut self, elapsed_ms: u64) {
        let now = elapsed_ms + self.offset_ms;
        self.now_ms = self.now_ms.max(now);
        while let Some(Reverse((due, _, timer))) = self.timers.peek().copied() {
            if due > self.now_ms {
                break;
            }
            self.timers.pop();
            self.run_timer(timer);
        }
    }

    /// Runs the next `ms` of simulated time at once (for preloaded state), dropping the events.
    pub fn fast_forward(&mut self, ms: u64) {
        let target = self.now_ms + ms;
        while let Some(Reverse((due, _, timer))) = self.timers.peek().copied() {
            if due > target {
                break;
            }
            self.timers.pop();
            self.now_ms = self.now_ms.max(due);
            self.run_timer(timer);
        }
        self.offset_ms += ms;
        self.now_ms = target;
        self.out.clear();
    }

    /// Sets up the calls the recordings had up (`Local/800@demo-00000004;2` with
    /// `MYVAR=hello`, two callers in queue `support`, one agent busy): the state the
    /// getvar/status/queue scenarios were recorded in.
    ///
    /// They last 90 to 120 s and are placed again (under new channel names) every 85 s,
    /// shortly before they end, for as long as the PBX runs: there is always a call up.
    pub fn preload_demo_calls(&mut self) {
        let app = |seconds: &str| Some(("Wait".to_owned(), seconds.to_owned()));
        for exten in ["300", "300"] {
            let _ = self.originate(OriginateRequest {
                channel: format!("Local/{exten}@demo"),
                application: app("90"),
                ..Default::default()
            });
        }
        // The recorded servers had made different numbers of calls before: keep their names.
        self.next_local = match self.profile {
            Profile::V22 | Profile::V18 => 3,
            Profile::V13 => 4,
            Profile::V11 => 0x7b,
        };
        let _ = self.originate(OriginateRequest {
            channel: "Local/900@demo".into(),
            application: app("90"),
            ..Default::default()
        });
        self.fast_forward(100);
        let _ = self.originate(OriginateRequest {
            channel: "Local/600@demo".into(),
            application: app("90"),
            ..Default::default()
        });
        self.fast_forward(2_500);
        let _ = self.originate(OriginateRequest {
            channel: "Local/600@demo".into(),
            application: app("90"),
            ..Default::default()
        });
        self.fast_forward(500);
        self.schedule(DEMO_REFRESH_MS, Timer::DemoRefresh);
        self.schedule(DEMO_AGENTS_MS, Timer::DemoAgents);
        self.schedule(DEMO_PARK_MS, Timer::DemoPark);
        self.schedule(DEMO_TRANSFER_MS, Timer::DemoTransferCalls);
    }

    /// The newest two bridged `900@demo` callers transfer their callee: the first blind to
    /// `100@demo` (13+; 1.8 and 11 have no BlindTransfer), the second attended to `500@demo`.
    fn demo_transfer(&mut self) {
        let mut callers: Vec<u64> = self
            .channels
            .values()
            .filter(|c| {
                c.name.starts_with("Local/900@demo-")
                    && c.name.ends_with(";2")
                    && self.bridged_peer(c.id).is_some()
            })
            .map(|c| c.id)
            .collect();
        callers.reverse();
        if let Some(&second) = callers.first() {
            let _ = self.attended_transfer(second, "demo", "500");
        }
        if let (Some(&first), true) = (callers.get(1), self.profile.modern_events()) {
            let _ = self.blind_transfer(first, "demo", "100");
        }
    }

    /// Two calls park themselves (`Park()` at `700@features`); ten seconds later the first is
    /// retrieved from space 701 and talks for 20 s, the second times out after 45 s.
    fn demo_park(&mut self) {
        for _ in 0..2 {
            let _ = self.originate(OriginateRequest {
                channel: "Local/700@features".into(),
                application: Some(("Wait".into(), "60".into())),
                ..Default::default()
            });
        }
        self.schedule(10_000, Timer::DemoRetrieve);
        self.schedule(DEMO_REFRESH_MS, Timer::DemoPark);
    }

    /// Two agents log in (for 80 and 40 s), and a caller rings the queue they joined: `ami top`
    /// shows agents logging in, taking a call and logging off.
    fn demo_agents(&mut self) {
        let wait = |seconds: &str| Some(("Wait".to_owned(), seconds.to_owned()));
        for (skip, seconds) in [(0, "80"), (1, "40")] {
            if let Some(number) = self.logged_off_agent(skip) {
                let _ = self.originate(OriginateRequest {
                    channel: format!("Local/{number}@features"),
                    application: wait(seconds),
                    ..Default::default()
                });
            }
        }
        let _ = self.originate(OriginateRequest {
            channel: "Local/600@demo".into(),
            application: wait("30"),
            ..Default::default()
        });
        self.schedule(DEMO_REFRESH_MS, Timer::DemoAgents);
    }

    /// The demo calls again, live (their events go out), and the next refresh.
    fn refresh_demo_calls(&mut self) {
        let app = |seconds: &str| Some(("Wait".to_owned(), seconds.to_owned()));
        for exten in ["300", "300", "900", "600", "600"] {
            let _ = self.originate(OriginateRequest {
                channel: format!("Local/{exten}@demo"),
                application: app("90"),
                ..Default::default()
            });
        }
        self.schedule(DEMO_REFRESH_MS, Timer::DemoRefresh);
    }

    fn schedule(&mut self, after_ms: u64, timer: Timer) {
        self.timer_seq += 1;
        self.timers
            .push(Reverse((self.now_ms + after_ms, self.timer_seq, timer)));
    }

    fn run_timer(&mut self, timer: Timer) {
        match timer {
            Timer::Step(id) => self.run_step(id),
            Timer::AppDone(id) => {
                if self.channels.contains_key(&id) {
                    self.hangup_call(id, "16");
                }
            }
            Timer::QueueTimeout(caller) => self.queue_timeout(caller),
            Timer::DemoRefresh => self.refresh_demo_calls(),
            Timer::AgentAnswer { caller, agent } => self.agent_answer(caller, agent),
            Timer::DemoAgents => self.demo_agents(),
            Timer::DemoPark => self.demo_park(),
            Timer::DemoRetrieve => {
                let _ = self.originate(OriginateRequest {
                    channel: "Local/701@features".into(),
                    application: Some(("Wait".into(), "20".into())),
                    ..Default::default()
                });
            }
            Timer::ParkTimeout { space, channel } => self.park_timeout(space, channel),
            Timer::AtxferComplete(two) => self.atxfer_complete(two),
            Timer::Optimize(two) if self.profile.modern_events() => self.optimize_local(two),
            Timer::Optimize(two) => self.optimize_local_legacy(two),
            Timer::DemoTransferCalls => {
                for _ in 0..2 {
                    let _ = self.originate(OriginateRequest {
                        channel: "Local/900@demo".into(),
                        application: Some(("Wait".into(), "60".into())),
                        ..Default::default()
                    });
                }
                self.schedule(5_000, Timer::DemoTransfer);
                self.schedule(DEMO_REFRESH_MS, Timer::DemoTransferCalls);
            }
            Timer::DemoTransfer => self.demo_transfer(),
            Timer::GeneratedTransfer { blind } => self.generated_transfer(blind),
        }
    }

    /// Wall-clock text (`2026-11-23 04:40:01`) for a PBX time.
    pub(crate) fn wall_time(&self, ms: u64) -> String {
        crate::clock::format_datetime(self.boot_epoch + ms / 1000)
    }

    /// A channel by exact name.
    pub(crate) fn channel_by_name(&self, name: &str) -> Option<&Channel> {
        self.channels.values().find(|c| c.name == name)
    }

    /// Sets a channel variable and sends VarSet.
    pub(crate) fn set_channel_var(&mut self, id: u64, name: &str, value: &str) {
        if let Some(chan) = self.channels.get_mut(&id) {
            chan.set_var(name, value);
        }
        self.ev_varset(id, name, value);
    }

    /// Sets a global variable and sends the global VarSet.
    pub(crate) fn set_global(&mut self, name: &str, value: &str) {
        self.globals.insert(name.to_owned(), value.to_owned());
        self.ev_global_varset(name, value);
    }

    /// Moves a channel to `context,exten,1` (Redirect): its program restarts there.
    pub(crate) fn redirect(&mut self, id: u64, context: &str, exten: &str) -> bool {
        let Some(steps) = dialplan::extension(context, exten) else {
            return false;
        };
        if let Some(chan) = self.channels.get_mut(&id) {
            chan.context = context.to_owned();
            chan.exten = exten.to_owned();
        }
        self.programs.insert(id, (steps, 0));
        self.schedule(5, Timer::Step(id));
        true
    }

    /// The other channel in `id`'s bridge, if it is bridged (parked calls share the lot's
    /// holding bridge but are not bridged with each other).
    pub(crate) fn bridged_peer(&self, id: u64) -> Option<&Channel> {
        let bridge = self.channels.get(&id)?.bridge.as_ref()?;
        if self.parking_bridge.as_ref() == Some(bridge) {
            return None;
        }
        self.channels
            .values()
            .find(|c| c.id != id && c.bridge.as_ref() == Some(bridge))
    }

    /// True when `id` runs dialplan (rather than only an originated application): it has a
    /// program, or it is the `;1` of an Originate to an extension, which will run one.
    pub(crate) fn runs_dialplan(&self, id: u64) -> bool {
        self.programs.contains_key(&id)
            || self.pairs.values().any(|pair| {
                pair.one == id
                    && matches!(&pair.parent, Parent::Originate(request) if request.application.is_none())
            })
    }

    /// The BridgeList items (13+) of the live bridges, in the order of their ids; a non-empty
    /// `kind` keeps the bridges of that BridgeType.
    pub(crate) fn bridge_list(&self, kind: &str, action_id: Option<&str>) -> Vec<bytes::Bytes> {
        let mut bridges: BTreeMap<&str, usize> = BTreeMap::new();
        for chan in self.channels.values() {
            if let Some(bridge) = &chan.bridge {
                *bridges.entry(bridge.as_str()).or_default() += 1;
            }
        }
        bridges
            .into_iter()
            .filter_map(|(bridge, count)| {
                let item = crate::wire::Packet::list_item("BridgeListItem");
                let parking = self.parking_bridge.as_deref() == Some(bridge);
                let item = if parking {
                    self.parking_bridge_fields(bridge, count, item)
                } else {
                    self.bridge_fields(bridge, count, item)
                };
                let bridge_type = if parking { "parking" } else { "basic" };
                (kind.is_empty() || kind.eq_ignore_ascii_case(bridge_type))
                    .then(|| item.h_opt("ActionID", action_id).finish())
            })
            .collect()
    }

    /// Number of calls up (Local pairs count once).
    pub(crate) fn active_calls(&self) -> usize {
        self.pairs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(pbx: &mut Pbx) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(event) = pbx.poll_event() {
            let text = String::from_utf8_lossy(&event.bytes).into_owned();
            let first = text
                .lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("Event: ")
                .to_owned();
            out.push(first);
        }
        out
    }

    fn run_until(pbx: &mut Pbx, ms: u64) {
        let mut t = pbx.now_ms;
        while t < ms {
            t += 10;
            pbx.handle_timeout(t);
        }
    }

    #[test]
    fn originate_application_runs_a_whole_call_and_ends_clean() {
        let mut pbx = Pbx::new(Profile::V22, 1_795_408_000);
        pbx.originate(OriginateRequest {
            channel: "Local/100@demo".into(),
            application: Some(("Playback".into(), "tt-weasels".into())),
            is_async: true,
            action_id: Some("x".into()),
            ..Default::default()
        })
        .unwrap();
        run_until(&mut pbx, 20_000);
        let names = names(&mut pbx);
        for expected in [
            "Newchannel",
            "Newexten",
            "LocalBridge",
            "DialBegin",
            "Newstate",
            "DialEnd",
            "OriginateResponse",
            "UserEvent",
            "HangupRequest",
            "Hangup",
            "Cdr",
        ] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} missing from {names:?}"
            );
        }
        assert!(pbx.channels.is_empty(), "{:?}", pbx.channels);
        assert_eq!(pbx.active_calls(), 0);
    }

    #[test]
    fn dial_bridges_and_unlinks_in_each_vocabulary() {
        for (profile, link, unlink) in [
            (Profile::V22, "BridgeEnter", "BridgeDestroy"),
            (Profile::V11, "Bridge", "Bridge"),
            (Profile::V18, "Bridge", "Unlink"),
        ] {
            let mut pbx = Pbx::new(profile, 1);
            pbx.originate(OriginateRequest {
                channel: "Local/400@demo".into(),
                context: "demo".into(),
                exten: "100".into(),
                ..Default::default()
            })
            .unwrap();
            run_until(&mut pbx, 30_000);
            let names = names(&mut pbx);
            assert!(names.iter().any(|n| n == link), "{profile}: {names:?}");
            assert!(names.iter().any(|n| n == unlink), "{profile}: {names:?}");
            assert!(pbx.channels.is_empty(), "{profile}");
        }
    }

    #[test]
    fn unknown_extension_fails_sync_and_reports_async() {
        let mut pbx = Pbx::new(Profile::V22, 1);
        let request = OriginateRequest {
            channel: "Local/999@demo".into(),
            application: Some(("Wait".into(), "1".into())),
            ..Default::default()
        };
        assert_eq!(pbx.originate(request.clone()), Err(OriginateError::Failed));
        let async_request = OriginateRequest {
            is_async: true,
            ..request
        };
        assert_eq!(pbx.originate(async_request), Ok(()));
        assert!(names(&mut pbx).iter().any(|n| n == "OriginateResponse"));
        assert!(pbx.channels.is_empty());
    }

    #[test]
    fn demo_calls_are_placed_again_after_they_end() {
        let mut pbx = Pbx::new(Profile::V22, 1);
        pbx.preload_demo_calls();
        let mut placed_again = false;
        // The clock ticks as the server's does, so that the calls' own steps run in turn.
        for ms in (500..3 * DEMO_REFRESH_MS + 30_000).step_by(500) {
            pbx.handle_timeout(ms);
            assert!(!pbx.channels.is_empty(), "a call is up at {ms} ms");
            placed_again |= ms > DEMO_REFRESH_MS
                && pbx.channels.values().any(|c| {
                    c.name.starts_with("Local/800@demo-") && !c.name.ends_with("00000004;2")
                });
        }
        assert!(placed_again, "placed again, the 900 -> 800 call included");
    }

    #[test]
    fn demo_agents_log_in_take_a_call_and_log_off() {
        let mut pbx = Pbx::new(Profile::V22, 1);
        pbx.preload_demo_calls();
        assert!(
            pbx.agents.iter().all(|a| a.login.is_none()),
            "logged off at first"
        );
        run_until(&mut pbx, DEMO_AGENTS_MS + 5_000);
        assert!(pbx.agents[0].login.is_some() && pbx.agents[1].login.is_some());
        let on_call = pbx.agents[..2]
            .iter()
            .filter(|a| a.login.as_ref().is_some_and(|l| l.call.is_some()))
            .count();
        assert_eq!(on_call, 1, "one of them took the queue call");
        let first = names(&mut pbx);
        for expected in [
            "AgentLogin",
            "AgentCalled",
            "AgentConnect",
            "QueueMemberStatus",
        ] {
            assert!(first.iter().any(|n| n == expected), "{expected}");
        }
        run_until(&mut pbx, DEMO_AGENTS_MS + 82_000);
        assert!(
            pbx.agents.iter().all(|a| a.login.is_none()),
            "logged off again"
        );
        let names = names(&mut pbx);
        for expected in ["AgentComplete", "AgentLogoff"] {
            assert!(names.iter().any(|n| n == expected), "{expected}");
        }
    }

    #[test]
    fn demo_parks_retrieves_and_times_out() {
        let mut pbx = Pbx::new(Profile::V13, 1);
        pbx.preload_demo_calls();
        run_until(&mut pbx, DEMO_PARK_MS + 1_000);
        assert_eq!(pbx.parked.keys().copied().collect::<Vec<_>>(), [701, 702]);
        assert!(pbx.parking_bridge.is_some());
        run_until(&mut pbx, DEMO_PARK_MS + 11_000);
        assert_eq!(pbx.parked.keys().copied().collect::<Vec<_>>(), [702]);
        let first = names(&mut pbx);
        assert!(first.iter().any(|n| n == "UnParkedCall"));
        run_until(&mut pbx, DEMO_PARK_MS + 47_000);
        assert!(pbx.parked.is_empty() && pbx.parking_bridge.is_none());
        let later = names(&mut pbx);
        assert!(later.iter().any(|n| n == "ParkedCallTimeOut"), "{later:?}");
    }

    #[test]
    fn demo_transfers_in_each_era() {
        for (profile, expected) in [
            (Profile::V22, &["BlindTransfer", "AttendedTransfer"][..]),
            (Profile::V11, &["Masquerade", "Rename"][..]),
        ] {
            let mut pbx = Pbx::new(profile, 1);
            pbx.preload_demo_calls();
            run_until(&mut pbx, DEMO_TRANSFER_MS - 100);
            let _ = names(&mut pbx);
            run_until(&mut pbx, DEMO_TRANSFER_MS + 15_000);
            let names = names(&mut pbx);
            for name in expected {
                assert!(
                    names.iter().any(|n| n == name),
                    "{profile}: {name} {names:?}"
                );
            }
            assert!(pbx.transfers.is_empty(), "{profile}: transfers completed");
        }
    }

    /// Every event as `(name, headers)`.
    fn events(pbx: &mut Pbx) -> Vec<(String, Vec<(String, String)>)> {
        let mut out = Vec::new();
        while let Some(event) = pbx.poll_event() {
            let text = String::from_utf8_lossy(&event.bytes).into_owned();
            let headers: Vec<(String, String)> = text
                .lines()
                .filter_map(|l| l.split_once(": "))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            let name = headers
                .iter()
                .find(|(k, _)| k == "Event")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            out.push((name, headers));
        }
        out
    }

    fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    #[test]
    fn local_optimisation_on_1x_is_a_masquerade() {
        for (profile, unlink) in [(Profile::V18, "Unlink"), (Profile::V11, "Bridge")] {
            let mut pbx = Pbx::new(profile, 1);
            // `430` dials `Local/400`, which dials `Local/500`; 500 plays a beep.
            pbx.originate(OriginateRequest {
                channel: "Local/430@features".into(),
                application: Some(("Wait".into(), "20".into())),
                ..Default::default()
            })
            .unwrap();
            run_until(&mut pbx, 800);
            let one = pbx
                .channel_by_name("Local/400@demo-00000002;1")
                .cloned()
                .expect("the 400 pair's ;1");
            let callee = pbx
                .channel_by_name("Local/500@demo-00000003;1")
                .cloned()
                .expect("the callee");
            let _ = events(&mut pbx);
            run_until(&mut pbx, 3_000);
            let events = events(&mut pbx);
            let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
            assert!(!names.contains(&"LocalOptimizationBegin"), "{profile}");
            let at = names
                .iter()
                .position(|n| *n == "Masquerade")
                .unwrap_or_else(|| panic!("{profile}: no Masquerade in {names:?}"));
            let masq = &events[at].1;
            assert_eq!(header(masq, "Clone"), callee.name);
            assert_eq!(header(masq, "Original"), one.name);
            assert_eq!(header(masq, "CloneState"), "Up");
            let renames: Vec<(&str, &str, &str)> = events[at + 1..at + 4]
                .iter()
                .map(|(n, h)| {
                    assert_eq!(n, "Rename", "{profile}");
                    (
                        header(h, "Channel"),
                        header(h, "Newname"),
                        header(h, "Uniqueid"),
                    )
                })
                .collect();
            let masq_name = format!("{}<MASQ>", callee.name);
            let zombie = format!("{}<ZOMBIE>", one.name);
            assert_eq!(
                renames,
                [
                    (
                        callee.name.as_str(),
                        masq_name.as_str(),
                        callee.uniqueid.as_str()
                    ),
                    (
                        one.name.as_str(),
                        callee.name.as_str(),
                        one.uniqueid.as_str()
                    ),
                    (
                        masq_name.as_str(),
                        zombie.as_str(),
                        callee.uniqueid.as_str()
                    ),
                ],
                "{profile}"
            );
            let rest = &events[at + 4..];
            let unlinked = rest
                .iter()
                .position(|(n, h)| n == unlink && header(h, "Channel2") == zombie)
                .unwrap_or_else(|| panic!("{profile}: no {unlink} of the zombie"));
            let zombie_gone = rest
                .iter()
                .position(|(n, h)| n == "Hangup" && header(h, "Channel") == zombie)
                .unwrap_or_else(|| panic!("{profile}: the zombie hangs up"));
            assert!(unlinked < zombie_gone, "{profile}");
            // The survivor: `;1`'s Uniqueid under the callee's name, still bridged with 430's
            // `;2`; the 400 pair's `;2` and the callee's old identity are gone.
            let survivor = pbx.channel_by_name(&callee.name).expect("survivor");
            assert_eq!(survivor.uniqueid, one.uniqueid, "{profile}");
            let peer = pbx.bridged_peer(survivor.id).expect("still bridged");
            assert!(peer.name.starts_with("Local/430@features-"), "{profile}");
            assert!(pbx.channel_by_name("Local/400@demo-00000002;2").is_none());
            assert!(pbx.channels.values().all(|c| c.uniqueid != callee.uniqueid));
            // The call still ends clean.
            run_until(&mut pbx, 40_000);
            assert!(pbx.channels.is_empty(), "{profile}: {:?}", pbx.channels);
            assert_eq!(pbx.active_calls(), 0, "{profile}");
        }
    }

    #[test]
    fn without_audio_a_1x_local_pair_stays() {
        // The recorded 1.8 demo call `900` -> `800` plays nothing and is still two pairs.
        let mut pbx = Pbx::new(Profile::V18, 1);
        pbx.originate(OriginateRequest {
            channel: "Local/900@demo".into(),
            application: Some(("Wait".into(), "20".into())),
            ..Default::default()
        })
        .unwrap();
        run_until(&mut pbx, 5_000);
        assert!(!names(&mut pbx).iter().any(|n| n == "Masquerade"));
        assert_eq!(pbx.channels.len(), 4);
    }

    #[test]
    fn preload_has_the_recorded_channel_and_a_waiting_caller() {
        let mut pbx = Pbx::new(Profile::V22, 1);
        pbx.preload_demo_calls();
        let chan = pbx
            .channel_by_name("Local/800@demo-00000004;2")
            .expect("800 call");
        assert_eq!(chan.var("MYVAR"), Some("hello"));
        let mut v11 = Pbx::new(Profile::V11, 1);
        v11.preload_demo_calls();
        assert!(v11.channel_by_name("Local/800@demo-0000007c;2").is_some());
        assert_eq!(pbx.queues[0].callers.len(), 1, "{:?}", pbx.queues[0]);
        assert!(pbx.queues[0].members.iter().any(|m| m.in_call));
    }
}
