//! The model against the simulator's PBX driven in memory (no socket, no clock, no
//! scheduling): the generator's calls (plain calls, Local chains, queue calls, parking,
//! transfers) at 20 a second, events applied in the PBX's order, resyncs whose lists are
//! taken while events keep coming, gaps (events lost, then a resync). At each checkpoint,
//! with nothing in flight, the model must equal the PBX's own lists exactly: whatever the
//! soak over TCP finds beyond this is timing, not the model or the simulator.

use ami_proto::{Decoder, Message, Packet};
use ami_sim::{Context, Output, Pbx, PeerInfo, Profile, Rng, ServerSession, User};
use ami_state::{ListKind, State};
use bytes::BytesMut;

/// A PBX, a logged-in session for the list actions, and a decoder for each stream.
struct Harness {
    pbx: Pbx,
    users: Vec<User>,
    session: ServerSession,
    replies: Decoder,
    reply_bytes: BytesMut,
    events: Decoder,
    now_ms: u64,
    next_action: u64,
}

impl Harness {
    fn new(profile: Profile) -> Self {
        let mut pbx = Pbx::new(profile, 1_795_408_000);
        pbx.preload_demo_calls();
        let mut harness = Harness {
            pbx,
            users: User::defaults(),
            session: ServerSession::new(1, profile, PeerInfo::default()),
            replies: Decoder::new(),
            reply_bytes: BytesMut::new(),
            events: Decoder::new(),
            now_ms: 0,
            next_action: 0,
        };
        harness.action("Login\r\nUsername: admin\r\nSecret: amp111");
        harness
    }

    /// The events the PBX has made since the last call, in order.
    fn events(&mut self) -> Vec<Message> {
        let mut out = Vec::new();
        while let Some(event) = self.pbx.poll_event() {
            let mut buf = BytesMut::from(&event.bytes[..]);
            while let Ok(Some(packet)) = self.events.decode(&mut buf) {
                if let Packet::Message(message) = packet {
                    out.push(message);
                }
            }
        }
        out
    }

    /// Sends one action and returns every message written back with its ActionID.
    fn action(&mut self, action: &str) -> Vec<Message> {
        self.next_action += 1;
        let id = format!("h{}", self.next_action);
        let text = format!("Action: {action}\r\nActionID: {id}\r\n\r\n");
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_795_408_100);
        let mut ctx = Context::new(&mut self.pbx, &self.users, now);
        self.session.handle_bytes(text.as_bytes(), &mut ctx);
        while let Some(output) = self.session.poll_output() {
            if let Output::Write(bytes) = output {
                self.reply_bytes.extend_from_slice(&bytes);
            }
        }
        let mut out = Vec::new();
        while let Ok(Some(packet)) = self.replies.decode(&mut self.reply_bytes) {
            if let Packet::Message(message) = packet
                && message.action_id().as_deref() == Some(id.as_str())
            {
                out.push(message);
            }
        }
        out
    }

    /// One list's items, or `None` when the PBX refuses the action.
    fn list(&mut self, kind: ListKind) -> Option<Vec<Message>> {
        let messages = self.action(kind.action());
        if messages
            .first()
            .is_some_and(|m| m.value_is("Response", "Error"))
        {
            return None;
        }
        Some(
            messages
                .into_iter()
                .filter(|m| {
                    m.event_name()
                        .is_some_and(|name| kind.item_events().contains(&name.as_ref()))
                })
                .collect(),
        )
    }

    /// Advances the PBX `ms` milliseconds in 10 ms steps, placing a generated call every
    /// 50 ms; the events made are handed to `state` unless `lose` says to drop them.
    fn run(&mut self, ms: u64, rng: &mut Rng, state: &mut State, lose: bool) {
        let end = self.now_ms + ms;
        while self.now_ms < end {
            self.now_ms += 10;
            if self.now_ms % 50 == 0 {
                let pick = rng.range(0, u64::from(u32::MAX));
                let seconds = rng.range(1, 8);
                self.pbx.place_generated_call(pick, seconds);
            }
            self.pbx.handle_timeout(self.now_ms);
            for event in self.events() {
                if !lose {
                    state.handle_event(&event);
                }
            }
        }
    }

    /// A resync whose lists are taken `spread` ms apart while events keep coming.
    fn resync(&mut self, state: &mut State, rng: &mut Rng, spread: u64) {
        state.begin_resync();
        for kind in state.resync_plan() {
            let between = rng.range(0, spread + 1);
            self.run(between, rng, state, false);
            match self.list(*kind) {
                Some(items) => state.handle_list(*kind, &items),
                None => state.handle_list_refused(*kind),
            }
        }
        assert!(!state.is_resyncing());
    }

    /// The differences between `state` and the PBX's lists now.
    fn verify(&mut self, state: &State) -> Vec<ami_state::Difference> {
        let lists: Vec<(ListKind, Vec<Message>)> = state
            .resync_plan()
            .iter()
            .filter_map(|kind| Some((*kind, self.list(*kind)?)))
            .collect();
        state.verify(&State::from_lists(&lists))
    }
}

/// `seconds` of generated calls on `profile` with `seed`: a checkpoint every second, each
/// preceded at random by nothing, a resync, or a gap and a resync.
fn soak(profile: Profile, seed: u64, seconds: u64) {
    let mut rng = Rng::new(seed);
    let mut harness = Harness::new(profile);
    let version = ami_state::version_from_ami(profile.ami_version()).expect("a known version");
    let mut state = State::for_version(version);
    harness.resync(&mut state, &mut rng, 0);
    for second in 0..seconds {
        harness.run(1_000, &mut rng, &mut state, false);
        match rng.range(0, 3) {
            0 => {}
            1 => harness.resync(&mut state, &mut rng, 300),
            _ => {
                let lost = rng.range(10, 300);
                harness.run(lost, &mut rng, &mut state, true);
                harness.resync(&mut state, &mut rng, 300);
            }
        }
        let differences = harness.verify(&state);
        assert!(
            differences.is_empty(),
            "{profile} seed {seed} second {second}: {differences:#?}"
        );
    }
}

#[test]
fn the_model_equals_the_lists_on_22() {
    for seed in 1..=3 {
        soak(Profile::V22, seed, 20);
    }
}

#[test]
fn the_model_equals_the_lists_on_1_8() {
    for seed in 1..=3 {
        soak(Profile::V18, seed, 20);
    }
}
