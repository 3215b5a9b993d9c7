//! Replays each recorded `.sent` against the simulator running the same version's profile and
//! compares the shape of the answer with the recorded `.recv`, scenario by scenario.

use std::path::PathBuf;
use std::time::Duration;

use ami_sim::{Profile, SimConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::shape::{Mode, compare, shapes};

fn fixture(version: &str, scenario: &str, ext: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(version)
        .join(format!("{scenario}.{ext}"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The challenge the recording got, so its MD5 Key is accepted.
fn recorded_challenge(recv: &[u8]) -> Option<String> {
    String::from_utf8_lossy(recv).lines().find_map(|line| {
        line.strip_prefix("Challenge: ")
            .map(|c| c.trim().to_owned())
    })
}

/// Reads until the peer closes, or nothing came for `idle`, or `limit` passed.
pub async fn read_until_quiet(
    stream: &mut TcpStream,
    idle: Duration,
    limit: Duration,
) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let wait = idle.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
        match tokio::time::timeout(wait, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (out, true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (out, false),
        }
        if tokio::time::Instant::now() >= deadline {
            return (out, false);
        }
    }
}

/// Scenarios where Asterisk closed the connection itself.
const CLOSED_BY_PEER: &[&str] = &["login_bad_secret", "login_bad_user", "logoff", "tls_login"];

/// Scenarios recorded with calls up.
const WITH_CALLS: &[&str] = &[
    "status",
    "getvar_setvar",
    "queue_status",
    "queue_summary",
    "core_show_channels",
    "command_core_show_channels",
    "command_concise",
];

/// Events a simulated call must produce whenever the recorded call did.
const KEY_EVENTS: &[&str] = &[
    "Newchannel",
    "Newstate",
    "Newexten",
    "VarSet",
    "Hangup",
    "OriginateResponse",
    "DialBegin",
    "DialEnd",
    "BridgeCreate",
    "BridgeEnter",
    "BridgeLeave",
    "Dial",
    "Bridge",
    "UserEvent",
    // 1.8 and 11: Local channel optimisation is a masquerade.
    "Masquerade",
    "Rename",
];

fn event_names(shapes: &[crate::shape::Shape]) -> std::collections::BTreeSet<String> {
    shapes
        .iter()
        .filter(|s| s.kind == "event")
        .map(|s| s.name.clone())
        .collect()
}

/// Scenarios that start calls and record their events.
fn has_calls(scenario: &str) -> bool {
    scenario.starts_with("originate") || scenario == "mixed_action_during_events"
}

pub async fn run(version: &str, scenario: &str, mode: Mode) {
    let sent = fixture(version, scenario, "sent");
    let recv = fixture(version, scenario, "recv");
    let profile: Profile = version.parse().expect("profile");
    let config = SimConfig {
        profile,
        demo_calls: WITH_CALLS.contains(&scenario),
        auth_fail_delay: Duration::from_millis(20),
        fixed_challenge: recorded_challenge(&recv),
        // Recorded calls last seconds; run them faster so the whole call fits the read window.
        time_scale: if has_calls(scenario) { 8.0 } else { 1.0 },
        ..SimConfig::default()
    };
    let sim = ami_sim::spawn(config).await.expect("spawn");
    let mut stream = TcpStream::connect(sim.addr()).await.expect("connect");
    stream.write_all(&sent).await.expect("write");
    let calls = has_calls(scenario);
    let idle = match mode {
        Mode::Exact => 300,
        // Calls go through Wait()/Playback() pauses of about a second.
        Mode::Lenient if calls => 700,
        Mode::Lenient => 600,
    };
    let (ours, closed) = read_until_quiet(
        &mut stream,
        Duration::from_millis(idle),
        Duration::from_secs(8),
    )
    .await;
    sim.shutdown().await;
    if let Some(dir) = std::env::var_os("AMI_SIM_DUMP") {
        // Debugging aid: keep what the simulator sent, next to nothing else.
        let path = PathBuf::from(dir).join(format!("{version}_{scenario}.recv"));
        let _ = std::fs::write(path, &ours);
    }
    let problems = compare(&shapes(&recv), &shapes(&ours), mode);
    assert!(
        problems.is_empty(),
        "{version}/{scenario}: {} difference(s):\n{}\n--- simulator sent:\n{}",
        problems.len(),
        problems.join("\n"),
        String::from_utf8_lossy(&ours[..ours.len().min(6000)])
    );
    if calls {
        let recorded = event_names(&shapes(&recv));
        let simulated = event_names(&shapes(&ours));
        let missing: Vec<&&str> = KEY_EVENTS
            .iter()
            .filter(|name| recorded.contains(**name) && !simulated.contains(**name))
            .collect();
        assert!(
            missing.is_empty(),
            "{version}/{scenario}: the recording has {missing:?}, the simulated call did not send them; sent {simulated:?}"
        );
    }
    let should_close = CLOSED_BY_PEER.contains(&scenario);
    assert_eq!(
        closed, should_close,
        "{version}/{scenario}: connection closed by the simulator: {closed}"
    );
}

macro_rules! profile_tests {
    ($module:ident, $version:literal, [$($extra:ident),*]) => {
        mod $module {
            use crate::shape::Mode;

            macro_rules! scenario {
                ($name:ident, $mode:ident) => {
                    #[tokio::test]
                    async fn $name() {
                        crate::corpus::run($version, stringify!($name), Mode::$mode).await;
                    }
                };
            }

            scenario!(login_ok, Exact);
            scenario!(login_bad_secret, Exact);
            scenario!(login_bad_user, Exact);
            scenario!(login_md5_challenge, Exact);
            scenario!(action_before_login, Exact);
            scenario!(login_events_off, Exact);
            scenario!(ping, Exact);
            scenario!(core_settings, Exact);
            scenario!(core_status, Exact);
            scenario!(list_commands, Exact);
            scenario!(command_unknown, Exact);
            scenario!(unknown_action, Exact);
            scenario!(missing_action_header, Exact);
            scenario!(pipelined, Exact);
            scenario!(lf_only_input, Exact);
            scenario!(huge_header, Exact);
            scenario!(userevent, Exact);
            scenario!(dbput_dbget, Exact);
            scenario!(events_off, Exact);
            scenario!(events_user_permissions, Exact);
            scenario!(core_show_channels_empty, Exact);
            scenario!(logoff, Exact);
            scenario!(filter, Lenient);
            scenario!(status, Lenient);
            scenario!(getvar_setvar, Lenient);
            scenario!(queue_status, Lenient);
            scenario!(queue_summary, Lenient);
            scenario!(core_show_channels, Lenient);
            scenario!(command_core_show_channels, Lenient);
            scenario!(command_concise, Lenient);
            scenario!(originate_async, Lenient);
            scenario!(originate_exten, Lenient);
            scenario!(originate_sync_ok, Lenient);
            scenario!(originate_sync_fail, Lenient);
            scenario!(mixed_action_during_events, Lenient);
            scenario!(command_verbose_long, Lenient);
            $(scenario!($extra, Lenient);)*
        }
    };
}

profile_tests!(v22, "22", [tls_login]);
profile_tests!(v13, "13", []);
profile_tests!(v11, "11", []);
profile_tests!(v18, "1.8", []);
