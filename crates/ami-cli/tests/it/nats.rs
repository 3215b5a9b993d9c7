//! `ami events --nats` and `ami action --nats`: the real binary reading what a real
//! `ami bridge` publishes from a simulator into a real nats-server.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ami_sim::SimConfig;
use async_nats::jetstream;
use serde_json::Value;

use crate::connected::{Sim, empty_home, run};
use crate::nats_server::NatsServer;

/// `ami bridge` serving one simulator as `pbx.1`; killed on drop.
struct Bridge {
    child: Child,
    _config: tempfile_path::Path,
}

mod tempfile_path {
    /// A file removed on drop.
    pub struct Path(pub std::path::PathBuf);
    impl Drop for Path {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

impl Bridge {
    fn start(nats: &NatsServer, sim: &Sim, extra: &str) -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "ami-cli-it-bridge-{}-{}.toml",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(
            &path,
            format!(
                "{extra}\n[[servers]]\nname = \"pbx.1\"\nhost = \"127.0.0.1\"\nport = {}\nusername = \"admin\"\nsecret = \"amp111\"\n",
                sim.port()
            ),
        )
        .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_ami"))
            .args(["bridge", "--nats", &nats.url(), "--config"])
            .arg(&path)
            .env("HOME", empty_home())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Self {
            child,
            _config: tempfile_path::Path(path),
        }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ami` with a clean environment.
fn ami(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ami"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AMI_") {
            command.env_remove(&name);
        }
    }
    command
        .args(args)
        .env("HOME", empty_home())
        .stdin(Stdio::null());
    command
}

fn lines(output: &std::process::Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect()
}

/// The stored messages' (kind, body), in stream order, once `done` holds for them.
fn stored_when(
    runtime: &tokio::runtime::Runtime,
    nats: &NatsServer,
    what: &str,
    done: impl Fn(&[(String, Value)]) -> bool,
) -> Vec<(String, Value)> {
    runtime.block_on(async {
        let js = jetstream::new(nats.client().await);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut all = Vec::new();
            if let Ok(mut stream) = js.get_stream("AMI").await {
                let last = stream.info().await.unwrap().state.last_sequence;
                for seq in 1..=last {
                    let message = stream.get_raw_message(seq).await.unwrap();
                    let kind = message
                        .headers
                        .get("Ami-Kind")
                        .map(|v| v.to_string())
                        .unwrap_or_default();
                    all.push((kind, serde_json::from_slice(&message.payload).unwrap()));
                }
            }
            if done(&all) {
                return all;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

fn events(all: &[(String, Value)]) -> Vec<Value> {
    all.iter()
        .filter(|(kind, _)| kind == "event")
        .map(|(_, body)| body.clone())
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_durable_consumer_resumes_where_it_stopped_with_nothing_missed_or_repeated() {
    let runtime = runtime();
    let nats = NatsServer::start();
    let sim = Sim::with(SimConfig::default());
    let _bridge = Bridge::start(&nats, &sim, "");
    stored_when(&runtime, &nats, "the login marker", |all| !all.is_empty());
    sim.handle().emit_events(20);
    // The login's own two (FullyBooted, SuccessfulAuth), then the 20.
    stored_when(&runtime, &nats, "22 events", |all| events(all).len() >= 22);

    let url = nats.url();
    let first = run(&mut ami(&[
        "events",
        "--nats",
        &url,
        "--server",
        "pbx.1",
        "--durable",
        "crm",
        "--count",
        "8",
        "--duration",
        "20s",
    ]));
    assert!(first.status.success(), "{first:?}");
    let first = lines(&first);
    // The bridge's login, shown as `ami events` shows a reconnect (its lease newly taken),
    // the PBX's state it publishes then, and the first 8 events.
    assert_eq!(first[0]["_connection"], "reconnected", "{first:?}");
    assert_eq!(first[0]["takeover"], true, "{first:?}");
    let state = first
        .iter()
        .position(|line| line.get("_state").is_some())
        .expect("the state line");
    assert!(first[state]["_state"]["queues"].is_object(), "{first:?}");
    let first: Vec<Value> = first
        .into_iter()
        .filter(|line| line.get("_state").is_none())
        .collect();
    assert_eq!(first.len(), 9, "{first:?}");

    // More events while the consumer is away.
    sim.handle().emit_events(10);
    let all = stored_when(&runtime, &nats, "32 events", |all| events(all).len() >= 32);
    let all = events(&all);
    assert_eq!(all.len(), 32);
    assert_eq!(&first[1..], &all[..8]);

    // Started again: exactly the rest, in order, and nothing after it.
    let second = run(&mut ami(&[
        "events",
        "--nats",
        &url,
        "--server",
        "pbx.1",
        "--durable",
        "crm",
        "--duration",
        "3s",
    ]));
    assert!(second.status.success(), "{second:?}");
    assert_eq!(lines(&second), &all[8..]);

    // Another durable name starts from the oldest message; --filter applies as over AMI.
    let name = "Newchannel";
    let expected: Vec<&Value> = all.iter().filter(|e| e["Event"] == name).take(2).collect();
    assert_eq!(expected.len(), 2);
    let filtered = run(&mut ami(&[
        "events",
        "--nats",
        &url,
        "--durable",
        "billing",
        "--filter",
        &format!("Event={name}"),
        "--count",
        "2",
        "--duration",
        "20s",
    ]));
    assert!(filtered.status.success(), "{filtered:?}");
    let filtered = lines(&filtered);
    // Without --server every line names its server; the marker comes first, then the state
    // (markers are never filtered out).
    assert_eq!(filtered[0]["_connection"], "reconnected", "{filtered:?}");
    assert!(filtered[1].get("_state").is_some(), "{filtered:?}");
    let filtered: Vec<Value> = filtered
        .into_iter()
        .filter(|line| line.get("_state").is_none())
        .collect();
    assert_eq!(filtered.len(), 3, "{filtered:?}");
    for line in &filtered {
        assert_eq!(line["_server"], "pbx.1", "{line}");
    }
    for (line, event) in filtered[1..].iter().zip(expected) {
        let mut line = line.clone();
        line.as_object_mut().unwrap().remove("_server");
        assert_eq!(&line, event);
    }

    // The same durable name for another server is refused rather than reused.
    let other = run(&mut ami(&[
        "events",
        "--nats",
        &url,
        "--server",
        "pbx.2",
        "--durable",
        "crm",
        "--count",
        "1",
        "--duration",
        "20s",
    ]));
    assert_eq!(other.status.code(), Some(1), "{other:?}");
    assert!(
        String::from_utf8_lossy(&other.stderr).contains("choose another --durable name"),
        "{other:?}"
    );
}

#[test]
fn actions_go_through_the_bridge_and_its_rules() {
    let nats = NatsServer::start();
    let sim = Sim::with(SimConfig {
        demo_calls: true,
        ..SimConfig::default()
    });
    let _bridge = Bridge::start(
        &nats,
        &sim,
        "[actions]\nallow = [\"Ping\", \"CoreShowChannels\", \"Hangup\"]\n",
    );
    let url = nats.url();
    let action = |args: &[&str]| {
        let mut all = vec!["action", "--nats", &url, "--server", "pbx.1"];
        all.extend_from_slice(args);
        run(&mut ami(&all))
    };
    // The bridge answers once it has logged in and subscribed.
    let deadline = Instant::now() + Duration::from_secs(10);
    let pong = loop {
        let output = action(&["Ping"]);
        if output.status.success() {
            break output;
        }
        assert!(Instant::now() < deadline, "no Pong: {output:?}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let pong: Value = serde_json::from_slice(&pong.stdout).unwrap();
    assert_eq!(pong["Ping"], "Pong", "{pong}");

    // A list action: the items as records, as `ami action` prints them.
    let channels = action(&["CoreShowChannels", "--output", "ndjson"]);
    assert!(channels.status.success(), "{channels:?}");
    let channels = lines(&channels);
    assert!(!channels.is_empty());
    assert!(
        channels
            .iter()
            .all(|item| item["Event"] == "CoreShowChannel")
    );

    // The PBX's own error: its response printed, exit 1, as over AMI.
    let hangup = action(&["Hangup", "Channel=PJSIP/nobody-0000"]);
    assert_eq!(hangup.status.code(), Some(1), "{hangup:?}");
    let response: Value = serde_json::from_slice(&hangup.stdout).unwrap();
    assert_eq!(response["Response"], "Error", "{response}");
    assert!(String::from_utf8_lossy(&hangup.stderr).contains("Hangup failed"));

    // Refused by the bridge's rules: the same exit status, the bridge's reason.
    let refused = action(&["Originate", "Channel=Local/1@demo", "Application=Wait"]);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("refused by the bridge") && stderr.contains("forbidden"),
        "{stderr}"
    );

    // No bridge serves that server: said plainly.
    let nobody = run(&mut ami(&[
        "action", "--nats", &url, "--server", "pbx.9", "Ping",
    ]));
    assert_eq!(nobody.status.code(), Some(1), "{nobody:?}");
    assert!(
        String::from_utf8_lossy(&nobody.stderr)
            .contains("no bridge answers actions for server \"pbx.9\""),
        "{nobody:?}"
    );

    // --server is required, and --server needs --nats: usage errors.
    let missing = run(&mut ami(&["action", "--nats", &url, "Ping"]));
    assert_eq!(missing.status.code(), Some(2), "{missing:?}");
    let stray = run(&mut ami(&["action", "--server", "pbx.1", "Ping"]));
    assert_eq!(stray.status.code(), Some(2), "{stray:?}");
}
