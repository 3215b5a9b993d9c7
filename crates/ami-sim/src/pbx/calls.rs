//! How calls move: Local channel pairs, the dialplan interpreter, answer, Dial and bridges,
//! Originate, and hangups that propagate through the pairs a call dialled.

use super::dialplan::{self, StepKind};
use super::{ChanState, Channel, OriginateError, OriginateRequest, Pair, Parent, Pbx, Timer};
use crate::profile::Profile;

impl Pbx {
    pub(super) fn new_uniqueid(&mut self) -> String {
        let id = format!("{}.{}", self.boot_epoch, self.next_uniq);
        self.next_uniq += 1;
        id
    }

    pub(super) fn new_channel(
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

    /// Creates `Local/EXTEN@CONTEXT-NNNNNNNN;1` and `;2`.
    pub(super) fn new_local_pair(
        &mut self,
        exten: &str,
        context: &str,
        linkedid: Option<String>,
    ) -> (u64, u64) {
        let base = format!("Local/{exten}@{context}-{:08x}", self.next_local);
        self.next_local += 1;
        let one = self.new_channel(format!("{base};1"), ChanState::Down, exten, linkedid);
        let linked = self.channels.get(&one).map(|c| c.linkedid.clone());
        let two = self.new_channel(format!("{base};2"), ChanState::Ring, exten, linked);
        for (id, peer) in [(one, two), (two, one)] {
            if let Some(c) = self.channels.get_mut(&id) {
                c.peer = Some(peer);
                c.context = context.to_owned();
            }
        }
        self.ev_newchannel(one);
        self.ev_newchannel(two);
        if let Some(device) = self.channels.get(&one).map(|c| c.device().to_owned()) {
            self.refresh_device(&device);
        }
        (one, two)
    }

    pub(super) fn set_app(&mut self, id: u64, app: &str, data: &str) {
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
        let (one, two) = self.new_local_pair(exten, context, None);
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
            self.refresh_device(&format!("Local/{exten}@{context}"));
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

    pub(super) fn originate_failure(&mut self, request: &OriginateRequest) {
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

    pub(super) fn originate_target(
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
    pub(super) fn run_step(&mut self, id: u64) {
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
                self.audio_from(id);
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
            StepKind::AgentLogin(number) => {
                if self.agent_login(id, &number) {
                    // The channel stays in AgentLogin() until it is logged off.
                    return;
                }
                5
            }
            StepKind::Park => {
                if self.park(id, None, None).is_some() {
                    return;
                }
                5
            }
            StepKind::ParkedCall(space) => {
                if self.unpark(id, space) {
                    return;
                }
                5
            }
        };
        self.schedule(next_in, Timer::Step(id));
    }

    pub(super) fn set_state(&mut self, id: u64, state: ChanState) {
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
    pub(super) fn answer(&mut self, id: u64) {
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
                // A Local `;2` bridged on both sides: the pair can get out of the way.
                if self.profile.modern_events()
                    && self.pairs.get(&caller).is_some_and(|p| p.bridge.is_some())
                {
                    self.schedule(5, Timer::Optimize(caller));
                }
            }
            Parent::QueueMember {
                caller,
                queue,
                location,
            } => {
                self.queue_connect(id, caller, &queue, &location, pair.one);
            }
            Parent::Transfer {
                transferer,
                transferee,
                bridge,
            } => self.atxfer_answered(id, pair.one, transferer, transferee, bridge),
            Parent::Detached => {}
        }
    }

    /// Bridges `a` and `b` outside any Local pair's Dial (agents, parking retrieval); returns
    /// the bridge.
    pub(super) fn bridge_two(&mut self, a: u64, b: u64) -> String {
        let bridge = self.new_bridge_id();
        for id in [a, b] {
            if let Some(chan) = self.channels.get_mut(&id) {
                chan.bridge = Some(bridge.clone());
            }
        }
        self.ev_bridge_link(&bridge, a, b);
        bridge
    }

    /// Ends a bridge made by [`Pbx::bridge_two`].
    pub(super) fn unbridge_two(&mut self, bridge: &str, a: u64, b: u64) {
        self.ev_bridge_unlink(bridge, a, b);
        for id in [a, b] {
            if let Some(chan) = self.channels.get_mut(&id) {
                chan.bridge = None;
            }
        }
    }

    /// Bridges `a` and `b` outside a Dial until one of them hangs up.
    pub(super) fn join(&mut self, a: u64, b: u64) {
        let bridge = self.bridge_two(a, b);
        self.joined.push(super::Joined { bridge, a, b });
    }

    /// Bookkeeping before channel `id` hangs up: an agent logs off, an agent call ends, a
    /// parked call gives up, a bridge made outside a Dial ends (the other party goes on in
    /// its dialplan, or hangs up if it has none).
    pub(super) fn release_channel(&mut self, id: u64) {
        self.release_agent_channel(id);
        self.release_parked(id);
        while let Some(index) = self.joined.iter().position(|j| j.a == id || j.b == id) {
            let joined = self.joined.remove(index);
            self.unbridge_two(&joined.bridge, joined.a, joined.b);
            let other = if joined.a == id { joined.b } else { joined.a };
            if self.programs.contains_key(&other) {
                self.schedule(5, Timer::Step(other));
            } else {
                self.schedule(5, Timer::AppDone(other));
            }
        }
        self.release_transfer(id);
    }

    pub(super) fn link(&mut self, pair_two: u64, a: u64, b: u64) {
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

    pub(super) fn new_bridge_id(&mut self) -> String {
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
    pub(super) fn dial(&mut self, caller: u64, exten: &str, dialstring: &str) {
        let linkedid = self.channels.get(&caller).map(|c| c.linkedid.clone());
        // `Local/420@features,20` dials into `features`; a bare extension into `demo`.
        let context = dialstring
            .split(',')
            .next()
            .and_then(|target| target.split_once('@'))
            .map_or("demo", |(_, context)| context);
        let Some(steps) = dialplan::extension(context, exten) else {
            if let Some(chan) = self.channels.get_mut(&caller) {
                chan.set_var("DIALSTATUS", "CHANUNAVAIL");
            }
            self.ev_varset(caller, "DIALSTATUS", "CHANUNAVAIL");
            self.schedule(5, Timer::Step(caller));
            return;
        };
        let (one, two) = self.new_local_pair(exten, context, linkedid);
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
                self.release_channel(id);
                self.ev_hangup(id, cause, cause_text(cause));
                self.ev_cdr(id);
                let gone = self.channels.remove(&id);
                self.programs.remove(&id);
                if let Some(chan) = gone {
                    self.refresh_device(chan.device());
                }
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
                Parent::Originate(_) | Parent::Detached | Parent::Transfer { .. } => false,
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
        self.release_channel(pair.two);
        self.release_channel(pair.one);
        if let Some(bridge) = pair.bridge.clone() {
            let caller = match &pair.parent {
                Parent::Dial { caller } | Parent::QueueMember { caller, .. } => Some(*caller),
                Parent::Originate(_) | Parent::Detached | Parent::Transfer { .. } => None,
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
        if self.programs.contains_key(&pair.two) {
            // A channel running dialplan runs the `h` extension on its way out.
            if let Some(chan) = self.channels.get_mut(&pair.two) {
                chan.exten = "h".into();
                chan.priority = 1;
                chan.app = "NoOp".into();
                chan.app_data = format!("hangup {} cause {cause}", chan.name);
            }
            self.ev_newexten(pair.two);
        }
        self.ev_hangup(pair.two, cause, cause_text(cause));
        self.ev_cdr(pair.two);
        let device = self.channels.get(&pair.one).map(|c| c.device().to_owned());
        for id in [pair.one, pair.two] {
            self.channels.remove(&id);
            self.programs.remove(&id);
        }
        if let Some(device) = device {
            self.refresh_device(&device);
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
            Parent::Originate(_) | Parent::Detached | Parent::Transfer { .. } => {}
        }
    }

    /// The `;2` of the Local pair `id` belongs to.
    pub(super) fn pair_of(&self, id: u64) -> Option<u64> {
        if self.pairs.contains_key(&id) {
            return Some(id);
        }
        self.pairs.values().find(|p| p.one == id).map(|p| p.two)
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
