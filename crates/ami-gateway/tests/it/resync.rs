//! The PBX snapshot behind the gauges: taken beside the fan-out (a slow PBX holds up neither
//! registrations, events nor shutdown), merged with the events that arrive meanwhile, and
//! taken again after the gateway's own subscription lost events.
//!
//! The upstream here is a scripted AMI server rather than the simulator: the test decides
//! when `CoreShowChannels` is answered and what it lists, while events keep flowing.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::support::{ADMIN, Gateway, metric, next_json, websocket};

/// What the scripted server shares with the test.
#[derive(Default)]
struct Script {
    /// Every action received, in order.
    actions: Vec<String>,
    /// The Uniqueids `CoreShowChannels` lists.
    channels: Vec<String>,
    /// Writes to the current connection.
    out: Option<mpsc::UnboundedSender<Bytes>>,
}

/// An AMI server (Asterisk 22's wire format) that answers what the gateway asks at login,
/// holds `CoreShowChannels` answers while told to, and sends the events a test gives it.
struct ScriptedPbx {
    addr: SocketAddr,
    script: Arc<Mutex<Script>>,
    hold: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl ScriptedPbx {
    async fn start(channels: &[&str], hold: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let script = Arc::new(Mutex::new(Script {
            channels: channels.iter().map(|c| (*c).to_owned()).collect(),
            ..Script::default()
        }));
        let (hold, held) = watch::channel(hold);
        let task = tokio::spawn({
            let script = script.clone();
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(serve(stream, script.clone(), held.clone()));
                }
            }
        });
        Self {
            addr,
            script,
            hold,
            task,
        }
    }

    fn script(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script.lock().expect("script")
    }

    fn count(&self, action: &str) -> usize {
        self.script()
            .actions
            .iter()
            .filter(|a| a.eq_ignore_ascii_case(action))
            .count()
    }

    async fn wait_for_action(&self, action: &str, times: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.count(action) < times {
            assert!(Instant::now() < deadline, "no {action} #{times}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Writes `bytes` (whole packets) to the gateway's connection.
    fn send(&self, bytes: impl Into<Bytes>) {
        let script = self.script();
        let out = script.out.as_ref().expect("a connection");
        out.send(bytes.into()).expect("connection open");
    }

    fn release(&self) {
        self.hold.send_replace(false);
    }
}

impl Drop for ScriptedPbx {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn event(name: &str, headers: &[(&str, &str)]) -> String {
    let mut text = format!("Event: {name}\r\nPrivilege: call,all\r\n");
    for (key, value) in headers {
        text.push_str(&format!("{key}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text
}

async fn serve(
    stream: tokio::net::TcpStream,
    script: Arc<Mutex<Script>>,
    held: watch::Receiver<bool>,
) {
    let (mut reader, mut writer) = stream.into_split();
    let (out, mut outgoing) = mpsc::unbounded_channel::<Bytes>();
    script.lock().expect("script").out = Some(out.clone());
    tokio::spawn(async move {
        while let Some(bytes) = outgoing.recv().await {
            if writer.write_all(&bytes).await.is_err() {
                return;
            }
        }
    });
    let _ = out.send(Bytes::from_static(b"Asterisk Call Manager/11.0.0\r\n"));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let packet = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.drain(..end + 4);
            let header = |name: &str| {
                packet.lines().find_map(|line| {
                    let (key, value) = line.split_once(':')?;
                    key.trim()
                        .eq_ignore_ascii_case(name)
                        .then(|| value.trim().to_owned())
                })
            };
            let action = header("Action").unwrap_or_default();
            let id = header("ActionID").unwrap_or_default();
            script.lock().expect("script").actions.push(action.clone());
            let ok = |extra: &str| format!("Response: Success\r\nActionID: {id}\r\n{extra}\r\n");
            let reply = match action.to_ascii_lowercase().as_str() {
                "login" => ok("Message: Authentication accepted\r\n"),
                "ping" => ok("Ping: Pong\r\n"),
                "command" => ok("Message: Command output follows\r\nOutput: System uptime: 42\r\n"),
                "queuestatus" => format!(
                    "{}Event: QueueStatusComplete\r\nActionID: {id}\r\nEventList: Complete\r\nListItems: 0\r\n\r\n",
                    ok("EventList: start\r\nMessage: Queue status will follow\r\n")
                ),
                "logoff" => {
                    let _ = out.send(Bytes::from(format!(
                        "Response: Goodbye\r\nActionID: {id}\r\nMessage: Thanks for all the fish.\r\n\r\n"
                    )));
                    return;
                }
                "coreshowchannels" => {
                    // Answered later, from the list as it is then; events go on meanwhile.
                    let (script, out, mut held) = (script.clone(), out.clone(), held.clone());
                    tokio::spawn(async move {
                        let _ = held.wait_for(|hold| !*hold).await;
                        let channels = script.lock().expect("script").channels.clone();
                        let mut text = format!(
                            "Response: Success\r\nActionID: {id}\r\nEventList: start\r\nMessage: Channels will follow\r\n\r\n"
                        );
                        for channel in &channels {
                            text.push_str(&format!(
                                "Event: CoreShowChannel\r\nActionID: {id}\r\nChannel: Local/{channel}@demo-1;1\r\nUniqueid: {channel}\r\n\r\n"
                            ));
                        }
                        text.push_str(&format!(
                            "Event: CoreShowChannelsComplete\r\nActionID: {id}\r\nEventList: Complete\r\nListItems: {}\r\n\r\n",
                            channels.len()
                        ));
                        let _ = out.send(Bytes::from(text));
                    });
                    continue;
                }
                _ => ok(""),
            };
            let _ = out.send(Bytes::from(reply));
        }
    }
}

async fn wait_metric(gateway: &Gateway, name: &str, wanted: f64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let value = metric(gateway, name).await;
        if value == wanted {
            return;
        }
        assert!(Instant::now() < deadline, "{name} is {value}, not {wanted}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const CHANNELS: &str = "ami_gateway_pbx_active_channels{server=\"sim\"}";

/// While the login snapshot is unanswered, a stream client still registers and gets events;
/// the snapshot, once in, is merged with the channel events that arrived meanwhile.
#[tokio::test]
async fn a_pending_snapshot_holds_up_neither_registrations_nor_events() {
    let pbx = ScriptedPbx::start(&["snap-1", "snap-2", "gone"], true).await;
    let gateway = Gateway::start_at(pbx.addr, "").await;
    pbx.wait_for_action("CoreShowChannels", 1).await;

    let mut ws = websocket(gateway.addr, "server=sim&event=UserEvent", ADMIN).await;
    let hello = next_json(&mut ws, Duration::from_secs(3))
        .await
        .expect("stream open");
    assert_eq!(hello["type"], "hello", "{hello}");
    pbx.send(event("UserEvent", &[("UserEvent", "WhilePending")]));
    let delivered = next_json(&mut ws, Duration::from_secs(3))
        .await
        .expect("stream open");
    assert_eq!(
        delivered["event"]["UserEvent"], "WhilePending",
        "{delivered}"
    );

    // Channel changes the snapshot may or may not have seen: replayed over it.
    pbx.send(event("Hangup", &[("Uniqueid", "gone")]));
    pbx.send(event("Newchannel", &[("Uniqueid", "live-3")]));
    pbx.send(event("Newchannel", &[("Uniqueid", "brief")]));
    pbx.send(event("Hangup", &[("Uniqueid", "brief")]));
    pbx.send(event("UserEvent", &[("UserEvent", "AfterChannels")]));
    let marker = next_json(&mut ws, Duration::from_secs(3))
        .await
        .expect("stream open");
    assert_eq!(marker["event"]["UserEvent"], "AfterChannels", "{marker}");
    assert_eq!(pbx.count("CoreShowChannels"), 1, "still the one pending");

    pbx.release();
    // snap-1, snap-2 from the snapshot, live-3 from the events; gone and brief hung up.
    wait_metric(&gateway, CHANNELS, 3.0).await;
    gateway.stop().await;
}

/// A gateway stops promptly while its PBX sits on the snapshot.
#[tokio::test]
async fn a_pending_snapshot_does_not_hold_up_shutdown() {
    let pbx = ScriptedPbx::start(&[], true).await;
    let gateway = Gateway::start_at(pbx.addr, "").await;
    pbx.wait_for_action("CoreShowChannels", 1).await;
    let took = gateway.stop().await;
    assert!(took < Duration::from_secs(5), "stopping took {took:?}");
    assert_eq!(pbx.count("Logoff"), 1, "logged off");
}

/// Events lost by the gateway's own subscription (a tiny buffer and a burst) make it take
/// the snapshot again, which corrects the channel gauge.
#[tokio::test]
async fn lost_events_make_the_gateway_resync_its_gauges() {
    let pbx = ScriptedPbx::start(&["first"], false).await;
    let gateway = Gateway::start_at(pbx.addr, "[streams]\nupstream_buffer = 4\n").await;
    wait_metric(&gateway, CHANNELS, 1.0).await;
    assert_eq!(pbx.count("CoreShowChannels"), 1);

    // The PBX now has other channels, whose events the gateway will have missed.
    pbx.script().channels = (1..=5).map(|i| format!("t{i}")).collect();
    let burst: String = (0..2_000)
        .map(|i| event("UserEvent", &[("UserEvent", &format!("Burst{i}"))]))
        .collect();
    let lagged = "ami_gateway_upstream_events_lagged_total{server=\"sim\"}";
    for _ in 0..20 {
        pbx.send(burst.clone());
        tokio::time::sleep(Duration::from_millis(50)).await;
        if metric(&gateway, lagged).await > 0.0 {
            break;
        }
    }
    assert!(
        metric(&gateway, lagged).await > 0.0,
        "the subscription lost events"
    );
    pbx.wait_for_action("CoreShowChannels", 2).await;
    wait_metric(&gateway, CHANNELS, 5.0).await;
    gateway.stop().await;
}
