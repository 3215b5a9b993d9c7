//! The simulated PBX behind the AMI: channels, Local pairs, bridges, a queue with members, the
//! AstDB and globals, and calls that move through the dialplan producing the events Asterisk
//! would. Sans-IO: time comes in as milliseconds (`handle_timeout`), events go out through
//! `poll_event`.

mod channel;
pub(crate) mod cli;
mod dialplan;
mod events;
mod queue;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};

pub(crate) use channel::{ChanState, Channel};
use dialplan::{Step, StepKind};
pub(crate) use queue::Queue;

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
}

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
    pub(crate) db: BTreeMap<String, String>,
    pub(crate) globals: BTreeMap<String, String>,
    pub(crate) processed_calls: u64,
    timers: BinaryHeap<Reverse<(u64, u64, Timer)>>,
    timer_seq: u64,
    out: VecDeque<Event>,
}

impl Pbx {
    /// An idle PBX that booted at `boot_epoch` (seconds since the Unix epoch).
    pub fn new(profile: Profile, boot_epoch: u64) -> Self {
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
        }
    }

    /// Wall-clock text (`2026-11-23 04:40:01`) for a PBX time.
    pub(crate) fn wall_time(&self, ms: u64) -> String {
        crate::clock::format_datetime(self.boot_epoch + ms / 1000)
    }

    fn new_uniqueid(&mut self) -> String {
        let id = format!("{}.{}", self.boot_epoch, self.next_uniq);
        self.next_uniq += 1;
        id
    }

    fn new_channel(
        &mut self,
        name: String,
        state: ChanState,
        exten: &str,
        linkedid: Option<String>,
    ) -> u64 {
        let id = self.next_chan;
        self.next_chan += 1;
        let uniqueid = self.new_uniqueid();
        let linkedid = linkedid.unwrap_or_else(|| uniqueid.clone());
        self.channels.insert(
            id,
            Channel {
                id,
                name,
                uniqueid,
                linkedid,
                state,
                cid_num: String::new(),
                cid_name: String::new(),
                conn_num: String::new(),
                conn_name: String::new(),
                context: "demo".into(),
                exten: exten.into(),
                priority: 1,
                app: String::new(),
                app_data: String::new(),
                vars: Vec::new(),
                bridge: None,
                peer: None,
                created_ms: self.now_ms,
                answered_ms: None,
            },
        );
        id
    }

    /// Creates `Local/EXTEN@demo-NNNNNNNN;1` and `;2`.
    fn new_local_pair(&mut self, exten: &str, linkedid: Option<String>) -> (u64, u64) {
        let base = format!("Local/{exten}@demo-{:08x}", self.next_local);
        self.next_local += 1;
        let one = self.new_channel(format!("{base};1"), ChanState::Down, exten, linkedid);
        let linked = self.channels.get(&one).map(|c| c.linkedid.clone());
        let two = self.new_channel(format!("{base};2"), ChanState::Ring, exten, linked);
        if let Some(c) = self.channels.get_mut(&one) {
            c.peer = Some(two);
        }
        if let Some(c) = self.channels.get_mut(&two) {
            c.peer = Some(one);
        }
        self.ev_newchannel(one);
        self.ev_newchannel(two);
        (one, two)
    }

    fn set_app(&mut self, id: u64, app: &str, data: &str) {
        if let Some(chan) = self.channels.get_mut(&id) {
            chan.app = app.to_owned();
            chan.app_data = data.to_owned();
        }
    }

    /// Starts a call as the Originate action does.
    pub(crate) fn originate(&mut self, request: OriginateRequest) -> Result<(), OriginateError> {
        let Some(target) = request
            .channel
            .strip_prefix("Local/")
            .or_else(|| request.channel.strip_prefix("local/"))
        else {
            if request.is_async {
                self.originate_failure(&request);
                return Ok(());
            }
            return Err(OriginateError::Failed);
        };
        let target = target.split('/').next().unwrap_or(target);
        let (exten, context) = target.split_once('@').unwrap_or((target, "default"));
        let exists = dialplan::extension(context, exten);
        let (one, two) = self.new_local_pair(exten, None);
        self.processed_calls += 1;
        self.set_app(one, "AppDial2", "(Outgoing Line)");
        if self.profile.modern_events() {
            // 1.x Local channels do not report the originating side's pseudo-application.
            self.ev_newexten(one);
        }
        let Some(steps) = exists else {
            self.ev_hangup(two, "0", "Unknown");
            self.channels.remove(&two);
            if request.is_async {
                self.originate_failure(&request);
            }
            self.ev_hangup(one, "0", "Unknown");
            self.channels.remove(&one);
            self.ev_device_state(&format!("Local/{exten}@{context}"), "NOT_INUSE");
            return if request.is_async {
                Ok(())
            } else {
                Err(OriginateError::Failed)
            };
        };
        for (name, value) in request.variables.iter().rev() {
            if let Some(c) = self.channels.get_mut(&one) {
                c.set_var(name, value);
            }
            self.ev_varset(one, name, value);
        }
        if let Some((name, num)) = &request.caller_id {
            for id in [one, two] {
                if let Some(c) = self.channels.get_mut(&id) {
                    c.cid_name = name.clone();
                    c.cid_num = num.clone();
                }
                self.ev_newcallerid(id);
            }
        }
        if self.profile != Profile::V18 {
            self.ev_local_bridge(one, two);
        }
        self.ev_dial_begin(None, one, &format!("{exten}@{context}"));
        self.pairs.insert(
            two,
            Pair {
                one,
                two,
                parent: Parent::Originate(request),
                bridge: None,
            },
        );
        self.programs.insert(two, (steps, 0));
        self.schedule(5, Timer::Step(two));
        Ok(())
    }

    fn originate_failure(&mut self, request: &OriginateRequest) {
        let packet = crate::wire::Packet::event("OriginateResponse", crate::perm::Perms::CALL)
            .h_opt("ActionID", request.action_id.as_deref())
            .h("Response", "Failure")
            .h("Channel", &request.channel);
        let packet = self.originate_target(packet, request);
        let packet = packet
            .h("Reason", "0")
            .h("Uniqueid", "<unknown>")
            .h("CallerIDNum", "<unknown>")
            .h("CallerIDName", "<unknown>");
        self.emit(crate::perm::Perms::CALL, packet);
    }

    fn originate_target(
        &self,
        packet: crate::wire::Packet,
        request: &OriginateRequest,
    ) -> crate::wire::Packet {
        match (&request.application, self.profile) {
            (Some((app, data)), Profile::V22 | Profile::V13 | Profile::V11) => {
                packet.h("Application", app).h("Data", data)
            }
            (Some(_), Profile::V18) => packet.h("Context", "").h("Exten", ""),
            (None, _) => packet
                .h("Context", &request.context)
                .h("Exten", &request.exten),
        }
    }

    /// Runs the current step of `id`'s program and schedules the next.
    fn run_step(&mut self, id: u64) {
        let Some((steps, index)) = self.programs.get(&id).cloned() else {
            return;
        };
        if !self.channels.contains_key(&id) {
            self.programs.remove(&id);
            return;
        }
        let Some(step) = steps.get(index).cloned() else {
            self.hangup_call(id, "16");
            return;
        };
        if let Some(chan) = self.channels.get_mut(&id) {
            chan.priority = index as u32 + 1;
            chan.app = step.app.to_owned();
            chan.app_data = step.data.clone();
        }
        self.ev_newexten(id);
        if let Some(program) = self.programs.get_mut(&id) {
            program.1 += 1;
        }
        let next_in = match step.kind {
            StepKind::Answer => {
                self.answer(id);
                5
            }
            StepKind::Ringing => {
                self.set_state(id, ChanState::Ringing);
                5
            }
            StepKind::Set(name, value) => {
                if let Some(chan) = self.channels.get_mut(&id) {
                    chan.set_var(&name, &value);
                }
                self.ev_varset(id, &name, &value);
                5
            }
            StepKind::UserEvent(name, headers) => {
                self.ev_dialplan_userevent(id, &name, &headers);
                5
            }
            StepKind::Pause(ms) => ms,
            StepKind::Playback(ms) => {
                self.schedule(ms, Timer::Step(id));
                self.ev_varset(id, "PLAYBACKSTATUS", "SUCCESS");
                return;
            }
            StepKind::Nothing => 5,
            StepKind::Hangup => {
                self.hangup_call(id, "16");
                return;
            }
            StepKind::Dial(exten) => {
                self.dial(id, &exten, &step.data);
                return;
            }
            StepKind::Queue(name) => {
                self.queue_join(id, &name);
                return;
            }
        };
        self.schedule(next_in, Timer::Step(id));
    }

    fn set_state(&mut self, id: u64, state: ChanState) {
        let changed = match self.channels.get_mut(&id) {
            Some(chan) if chan.state != state => {
                chan.state = state;
                if state == ChanState::Up {
                    chan.answered_ms = Some(self.now_ms);
                }
                true
            }
            _ => false,
        };
        if changed {
            self.ev_newstate(id);
        }
    }

    /// `id` (a `;2`) answers: its `;1` goes up too and whoever waited is told.
    fn answer(&mut self, id: u64) {
        self.set_state(id, ChanState::Up);
        let Some(pair) = self.pairs.get(&id).cloned() else {
            return;
        };
        self.set_state(pair.one, ChanState::Up);
        match pair.parent {
            Parent::Originate(request) => {
                self.ev_dial_end(None, pair.one, "ANSWER");
                if request.is_async {
                    let uniqueid = self.channels.get(&pair.one).map(|c| {
                        (
                            c.name.clone(),
                            c.uniqueid.clone(),
                            c.cid_num.clone(),
                            c.cid_name.clone(),
                        )
                    });
                    if let Some((name, uniqueid, num, cid_name)) = uniqueid {
                        let or_unknown = |s: String| {
                            if s.is_empty() {
                                "<unknown>".to_owned()
                            } else {
                                s
                            }
                        };
                        let packet = crate::wire::Packet::event(
                            "OriginateResponse",
                            crate::perm::Perms::CALL,
                        )
                        .h_opt("ActionID", request.action_id.as_deref())
                        .h("Response", "Success")
                        .h("Channel", &name);
                        let packet = self
                            .originate_target(packet, &request)
                            .h("Reason", "4")
                            .h("Uniqueid", &uniqueid)
                            .h("CallerIDNum", &or_unknown(num))
                            .h("CallerIDName", &or_unknown(cid_name));
                        self.emit(crate::perm::Perms::CALL, packet);
                    }
                }
                match request.application {
                    Some((app, data)) => {
                        self.set_app(pair.one, &app, &data);
                        self.schedule(
                            dialplan::app_duration(&app, &data),
                            Timer::AppDone(pair.one),
                        );
                    }
                    None => {
                        if let Some(steps) = dialplan::extension(&request.context, &request.exten) {
                            if let Some(chan) = self.channels.get_mut(&pair.one) {
                                chan.context = request.context.clone();
                                chan.exten = request.exten.clone();
                            }
                            self.programs.insert(pair.one, (steps, 0));
                            self.schedule(5, Timer::Step(pair.one));
                        } else {
                            self.schedule(5, Timer::AppDone(pair.one));
                        }
                    }
                }
            }
            Parent::Dial { caller } => {
                self.ev_dial_end(Some(caller), pair.one, "ANSWER");
                // Bridging answers a caller that had not answered yet (a Local `;2` running
                // Dial), which in turn completes an Originate waiting on it.
                let caller_up = self.channels.get(&caller).map(|c| c.state == ChanState::Up);
                if caller_up == Some(false) {
                    self.answer(caller);
                }
                self.link(id, caller, pair.one);
            }
            Parent::QueueMember {
                caller,
                queue,
                location,
            } => {
                self.queue_connect(id, caller, &queue, &location, pair.one);
            }
        }
    }

    fn link(&mut self, pair_two: u64, a: u64, b: u64) {
        let bridge = self.new_bridge_id();
        for id in [a, b] {
            if let Some(chan) = self.channels.get_mut(&id) {
                chan.bridge = Some(bridge.clone());
            }
        }
        if let Some(pair) = self.pairs.get_mut(&pair_two) {
            pair.bridge = Some(bridge.clone());
        }
        self.ev_bridge_link(&bridge, a, b);
    }

    fn new_bridge_id(&mut self) -> String {
        let n = self.next_bridge;
        self.next_bridge += 1;
        let mix = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ self.boot_epoch;
        format!(
            "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
            (mix >> 32) as u32,
            (mix >> 16) as u16,
            (mix >> 4) as u16 & 0xfff,
            n as u16 & 0xfff,
            mix & 0xffff_ffff_ffff
        )
    }

    /// `Dial(Local/EXTEN@demo)` from `caller`.
    fn dial(&mut self, caller: u64, exten: &str, dialstring: &str) {
        let linkedid = self.channels.get(&caller).map(|c| c.linkedid.clone());
        let Some(steps) = dialplan::extension("demo", exten) else {
            if let Some(chan) = self.channels.get_mut(&caller) {
                chan.set_var("DIALSTATUS", "CHANUNAVAIL");
            }
            self.ev_varset(caller, "DIALSTATUS", "CHANUNAVAIL");
            self.schedule(5, Timer::Step(caller));
            return;
        };
        let (one, two) = self.new_local_pair(exten, linkedid);
        let caller_num = self
            .channels
            .get(&caller)
            .map(|c| c.cid_num.clone())
            .unwrap_or_default();
        if let Some(chan) = self.channels.get_mut(&one) {
            chan.cid_num = caller_num.clone();
        }
        if let Some(chan) = self.channels.get_mut(&two) {
            chan.conn_num = caller_num;
        }
        self.set_app(one, "AppDial", "(Outgoing Line)");
        self.ev_dial_begin(
            Some(caller),
            one,
            dialstring.split(',').next().unwrap_or(dialstring),
        );
        self.pairs.insert(
            two,
            Pair {
                one,
                two,
                parent: Parent::Dial { caller },
                bridge: None,
            },
        );
        self.programs.insert(two, (steps, 0));
        self.schedule(5, Timer::Step(two));
    }

    /// Hangs up the call `id` belongs to: its Local pair, the pairs it dialled, and resumes
    /// (or hangs up) whoever dialled it.
    pub(crate) fn hangup_call(&mut self, id: u64, cause: &str) {
        let Some(two) = self.pair_of(id) else {
            if self.channels.contains_key(&id) {
                self.ev_hangup_request(id, cause);
                self.ev_hangup(id, cause, cause_text(cause));
                self.ev_cdr(id);
                self.channels.remove(&id);
                self.programs.remove(&id);
            }
            return;
        };
        let Some(pair) = self.pairs.remove(&two) else {
            return;
        };
        // Children first: pairs whose parent is a channel of this pair.
        let children: Vec<u64> = self
            .pairs
            .values()
            .filter(|p| match p.parent {
                Parent::Dial { caller } | Parent::QueueMember { caller, .. } => {
                    caller == pair.one || caller == pair.two
                }
                Parent::Originate(_) => false,
            })
            .map(|p| p.two)
            .collect();
        for child in children {
            self.hangup_call(child, cause);
        }
        for queue in &mut self.queues {
            queue
                .callers
                .retain(|(caller, _)| *caller != pair.one && *caller != pair.two);
        }
        self.ev_hangup_request(pair.two, cause);
        if let Some(bridge) = pair.bridge.clone() {
            let caller = match &pair.parent {
                Parent::Dial { caller } | Parent::QueueMember { caller, .. } => Some(*caller),
                Parent::Originate(_) => None,
            };
            if let Some(caller) = caller {
                self.ev_bridge_unlink(&bridge, pair.one, caller);
                if let Some(chan) = self.channels.get_mut(&caller) {
                    chan.bridge = None;
                }
            }
        }
        self.ev_hangup(pair.one, cause, cause_text(cause));
        self.ev_cdr(pair.one);
        self.ev_hangup(pair.two, cause, cause_text(cause));
        self.ev_cdr(pair.two);
        let device = self.channels.get(&pair.one).map(|c| c.device().to_owned());
        for id in [pair.one, pair.two] {
            self.channels.remove(&id);
            self.programs.remove(&id);
        }
        if let Some(device) = device {
            self.ev_device_state(&device, "NOT_INUSE");
        }
        match pair.parent {
            Parent::Dial { caller } => {
                if self.channels.contains_key(&caller) {
                    if let Some(chan) = self.channels.get_mut(&caller) {
                        chan.set_var("DIALSTATUS", "ANSWER");
                    }
                    self.ev_varset(caller, "DIALSTATUS", "ANSWER");
                    self.schedule(5, Timer::Step(caller));
                }
            }
            Parent::QueueMember {
                caller,
                queue,
                location,
            } => {
                let connected = pair.bridge.is_some();
                if let Some(q) = self.queues.iter_mut().find(|q| q.name == queue) {
                    if let Some(member) = q.members.iter_mut().find(|m| m.location == location) {
                        member.in_call = false;
                        if connected {
                            member.calls_taken += 1;
                            member.last_call = self.boot_epoch + self.now_ms / 1000;
                        }
                    }
                    if connected {
                        q.completed += 1;
                    }
                }
                if connected && self.channels.contains_key(&caller) {
                    self.schedule(5, Timer::Step(caller));
                }
            }
            Parent::Originate(_) => {}
        }
    }

    /// The `;2` of the Local pair `id` belongs to.
    fn pair_of(&self, id: u64) -> Option<u64> {
        if self.pairs.contains_key(&id) {
            return Some(id);
        }
        self.pairs.values().find(|p| p.one == id).map(|p| p.two)
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

    /// The other channel in `id`'s bridge, if it is bridged.
    pub(crate) fn bridged_peer(&self, id: u64) -> Option<&Channel> {
        let bridge = self.channels.get(&id)?.bridge.as_ref()?;
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

    /// Number of calls up (Local pairs count once).
    pub(crate) fn active_calls(&self) -> usize {
        self.pairs.len()
    }
}

/// Asterisk's text for a hangup cause code.
fn cause_text(cause: &str) -> &'static str {
    match cause {
        "16" => "Normal Clearing",
        "17" => "User busy",
        "19" => "No user responding",
        _ => "Unknown",
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
