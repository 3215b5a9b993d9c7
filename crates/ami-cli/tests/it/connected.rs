//! `ami action`, `command`, `events`, `shell`, `demo`, `completions` and the error messages:
//! the real binary against the simulator (every Asterisk profile), its JSON output decoded.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ami_sim::{Profile, SimConfig, SimHandle};
use serde_json::Value;

/// A simulator running on its own runtime for the length of a test.
pub(crate) struct Sim {
    handle: SimHandle,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Sim {
    pub(crate) fn start(profile: Profile) -> Self {
        Self::with(SimConfig {
            profile,
            demo_calls: true,
            ..SimConfig::default()
        })
    }

    pub(crate) fn with(config: SimConfig) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let handle = runtime.block_on(ami_sim::spawn(config)).unwrap();
        Self {
            handle,
            runtime: Some(runtime),
        }
    }

    pub(crate) fn handle(&self) -> &SimHandle {
        &self.handle
    }

    /// Waits until a client is connected, and a moment more for its login to finish.
    fn wait_for_login(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.handle().open_connections() == 0 {
            assert!(
                Instant::now() < deadline,
                "nobody connected to the simulator"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(300));
    }

    pub(crate) fn port(&self) -> String {
        self.handle().addr().port().to_string()
    }

    /// `ami` with this simulator's address and the admin account in the environment.
    fn ami(&self) -> Command {
        let mut command = ami();
        command
            .env("AMI_HOST", "127.0.0.1")
            .env("AMI_PORT", self.port())
            .env("AMI_USERNAME", "admin")
            .env("AMI_SECRET", "amp111");
        command
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        // Dropping the runtime ends the simulator's tasks and closes its sockets, without
        // waiting for connections the binary under test may have left open.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The binary with a clean environment: no inherited AMI settings, an empty HOME (no config).
fn ami() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ami"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AMI_") {
            command.env_remove(&name);
        }
    }
    command
        .env("HOME", empty_home())
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_STATE_HOME")
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null());
    command
}

pub(crate) fn empty_home() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ami-cli-it-home-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub(crate) fn run(command: &mut Command) -> Output {
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "no panic, no backtrace: {stderr}"
    );
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "exit {:?}: {}",
        output.status,
        stderr(output)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("not one JSON document ({error}): {}", stdout(output)))
}

#[test]
fn action_ping_on_every_profile() {
    for profile in Profile::ALL {
        let sim = Sim::start(profile);
        let value = json(&run(sim.ami().args(["action", "Ping"])));
        assert_eq!(value["Response"], "Success", "{profile}: {value}");
        assert!(
            value.get("Ping").is_some() || value.get("Message").is_some(),
            "{value}"
        );
    }
}

#[test]
fn list_action_gives_items_and_completion_on_every_profile() {
    for profile in Profile::ALL {
        let sim = Sim::start(profile);
        let value = json(&run(sim.ami().args(["action", "CoreShowChannels"])));
        let items = value["items"].as_array().unwrap();
        assert!(!items.is_empty(), "{profile}: demo calls are up: {value}");
        assert!(items.iter().all(|item| item["Event"] == "CoreShowChannel"));
        assert_eq!(value["response"]["Response"], "Success", "{profile}");
        assert_eq!(value["complete"]["Event"], "CoreShowChannelsComplete");
        assert_eq!(
            value["complete"]["ListItems"],
            items.len().to_string(),
            "{profile}: {value}"
        );
    }
}

#[test]
fn list_action_as_table_ndjson_and_yaml() {
    let sim = Sim::start(Profile::V22);
    let table = stdout(&run(sim.ami().args([
        "action",
        "CoreShowChannels",
        "-o",
        "table",
    ])));
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("Channel "), "{table}");
    assert!(!header.contains("ActionID"), "{table}");
    let first = lines.next().unwrap();
    let column = header.find("Context").unwrap();
    assert_eq!(
        &first[column..column + 4],
        "demo",
        "aligned columns: {table}"
    );

    let ndjson = stdout(&run(sim.ami().args([
        "action",
        "CoreShowChannels",
        "--output",
        "ndjson",
    ])));
    for line in ndjson.lines() {
        let item: Value = serde_json::from_str(line).unwrap();
        assert_eq!(item["Event"], "CoreShowChannel");
    }
    let yaml = stdout(&run(sim.ami().args([
        "action",
        "CoreShowChannels",
        "-o",
        "yaml",
    ])));
    assert!(
        yaml.starts_with("response:\n  Response: Success\n"),
        "{yaml}"
    );
    assert!(
        yaml.contains("\nitems:\n- Event: CoreShowChannel\n"),
        "{yaml}"
    );
}

#[test]
fn server_error_exits_one_with_its_message() {
    let sim = Sim::start(Profile::V22);
    let output = run(sim.ami().args(["action", "Frobnicate"]));
    assert_eq!(output.status.code(), Some(1));
    let value: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["Response"], "Error");
    let message = value["Message"].as_str().unwrap();
    assert!(stderr(&output).contains(message), "{}", stderr(&output));
}

#[test]
fn an_action_over_asterisks_limits_fails_at_once_naming_the_limit() {
    let sim = Sim::start(Profile::V22);
    // With Action: and the ActionID the client adds, 127 headers make 129 lines; Asterisk
    // reads 127 and would answer without the ActionID, so the reply would never be paired.
    let headers: Vec<String> = (0..127).map(|i| format!("X{i}=v")).collect();
    let started = Instant::now();
    let output = run(sim.ami().arg("action").arg("Ping").args(&headers));
    let error = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}: {error}",
        started.elapsed()
    );
    assert!(
        error.contains("too many lines") && error.contains("at most 127"),
        "{error}"
    );
    assert!(!error.contains("no reply"), "{error}");
    assert_eq!(
        error.matches("too many lines").count(),
        1,
        "said once: {error}"
    );
}

#[test]
fn repeated_keys_are_all_sent() {
    let sim = Sim::start(Profile::V22);
    // Each Variable header becomes a VarSet event on the new channel: both must show up.
    let mut events = sim
        .ami()
        .args([
            "events",
            "--filter",
            "Event=VarSet",
            "--filter",
            "Variable=FIRST|SECOND",
        ])
        .args(["--count", "2", "--duration", "15s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut originate = sim.ami();
    originate.args([
        "action",
        "Originate",
        "Channel=Local/300@demo",
        "Context=demo",
        "Exten=300",
        "Priority=1",
        "Variable=FIRST=one",
        "Variable=SECOND=two",
    ]);
    // Until the events subscription is up, originated calls go unseen: keep calling.
    let pump = Pump::start(originate, Duration::from_millis(300));
    let values = read_lines(&mut events, 2);
    let _ = events.kill();
    let _ = events.wait();
    assert_eq!(
        pump.stop(),
        Vec::<String>::new(),
        "every Originate succeeded"
    );
    let names: Vec<&str> = values
        .iter()
        .filter_map(|v| v["Variable"].as_str())
        .collect();
    assert!(
        names.contains(&"FIRST") && names.contains(&"SECOND"),
        "{values:?}"
    );
    let value_of = |name: &str| {
        values
            .iter()
            .find(|v| v["Variable"] == name)
            .map(|v| v["Value"].clone())
    };
    assert_eq!(value_of("FIRST"), Some(Value::from("one")));
    assert_eq!(value_of("SECOND"), Some(Value::from("two")));
}

#[test]
fn command_prints_text_and_parses_with_json_on_every_profile() {
    for profile in Profile::ALL {
        let sim = Sim::start(profile);
        let text = stdout(&run(sim
            .ami()
            .args(["command", "core show channels concise"])));
        assert!(text.contains('!'), "{profile}: {text}");
        let records = json(&run(sim.ami().args([
            "command",
            "--json",
            "core show channels concise",
        ])));
        let records = records.as_array().unwrap();
        assert!(!records.is_empty(), "{profile}");
        assert!(
            records
                .iter()
                .all(|r| r["channel"].is_string() && r["uniqueid"].is_string())
        );

        let verbose = json(&run(sim
            .ami()
            .args(["command", "--json", "core", "show", "channels", "verbose"])));
        assert!(
            verbose.as_array().is_some_and(|rows| !rows.is_empty()),
            "{profile}: {verbose}"
        );

        let uptime = json(&run(sim.ami().args([
            "command",
            "--json",
            "core show uptime",
        ])));
        assert!(uptime.is_object(), "{profile}: {uptime}");
        assert!(uptime["system_uptime"].is_string(), "{profile}: {uptime}");

        let queues = json(&run(sim.ami().args(["command", "--json", "queue show"])));
        assert!(queues.is_array(), "{profile}: {queues}");

        let lines = json(&run(sim.ami().args([
            "command",
            "--json",
            "core show version",
        ])));
        assert!(
            lines
                .as_array()
                .is_some_and(|l| l.iter().all(Value::is_string)),
            "{lines}"
        );
    }
}

#[test]
fn command_refused_by_the_cli_exits_one() {
    for profile in [Profile::V22, Profile::V13] {
        let sim = Sim::start(profile);
        let output = run(sim.ami().args(["command", "frobnicate the widgets"]));
        assert_eq!(output.status.code(), Some(1), "{profile}");
        assert!(
            stderr(&output).contains("No such command"),
            "{}",
            stderr(&output)
        );
    }
}

/// Runs a command again and again (at most 50 times) on another thread until stopped.
struct Pump {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Vec<String>>,
}

impl Pump {
    fn start(mut command: Command, every: Duration) -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut failures = Vec::new();
            for _ in 0..50 {
                if stopped.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let output = command.output().unwrap();
                if !output.status.success() {
                    failures.push(stderr(&output));
                }
                std::thread::sleep(every);
            }
            failures
        });
        Self { stop, thread }
    }

    /// Stops, waits for the last run, and returns the standard error of the runs that failed.
    fn stop(self) -> Vec<String> {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

/// Reads NDJSON lines from a running `ami events` until `want` events or the time limit.
fn read_lines(child: &mut Child, want: usize) -> Vec<Value> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut values = Vec::new();
    while values.len() < want {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => values.push(serde_json::from_str(&line).unwrap()),
            Err(_) => break,
        }
    }
    values
}

#[test]
fn events_count_and_filter() {
    let sim = Sim::start(Profile::V22);
    let mut child = sim
        .ami()
        .args(["events", "--count", "5", "--filter", "Event=UserEvent"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Keep user events coming until the stream has its five.
    let mut user_event = sim.ami();
    user_event.args(["action", "UserEvent", "UserEvent=CliTest", "Seq=1"]);
    let pump = Pump::start(user_event, Duration::from_millis(100));
    let values = read_lines(&mut child, 6);
    assert_eq!(
        pump.stop(),
        Vec::<String>::new(),
        "every UserEvent succeeded"
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(values.len(), 5, "exactly --count events: {values:?}");
    assert!(
        values
            .iter()
            .all(|v| v["Event"] == "UserEvent" && v["UserEvent"] == "CliTest")
    );
}

#[test]
fn events_in_the_one_line_summary_view() {
    let sim = Sim::start(Profile::V22);
    let child = sim
        .ami()
        .args([
            "events",
            "--count",
            "2",
            "-o",
            "summary",
            "--filter",
            "Event=UserEvent",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut user_event = sim.ami();
    user_event.args([
        "action",
        "UserEvent",
        "UserEvent=CliTest",
        "Channel=Local/1@demo",
    ]);
    let pump = Pump::start(user_event, Duration::from_millis(100));
    let output = child.wait_with_output().unwrap();
    pump.stop();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    for line in lines {
        assert!(line.starts_with("UserEvent "), "{line}");
        assert!(line.contains(" UserEvent=CliTest"), "{line}");
        assert!(line.contains(" Channel=Local/1@demo"), "{line}");
        assert!(
            !line.contains("Privilege="),
            "only the story's headers: {line}"
        );
    }
}

#[test]
fn events_duration_ends_the_stream() {
    let sim = Sim::start(Profile::V13);
    let started = Instant::now();
    let output =
        run(sim
            .ami()
            .args(["events", "--duration", "700ms", "--filter", "Event=Nothing"]));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(output.stdout.is_empty());
}

#[test]
fn events_mark_disconnect_and_reconnect() {
    let sim = Sim::start(Profile::V22);
    let mut child = sim
        .ami()
        .args([
            "events",
            "--filter",
            "Event=NoSuchEvent",
            "--duration",
            "20s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    sim.wait_for_login();
    sim.handle().restart();
    let values = read_lines(&mut child, 2);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(values.len(), 2, "{values:?}");
    assert_eq!(values[0]["_connection"], "disconnected", "{values:?}");
    assert_eq!(values[1]["_connection"], "reconnected", "{values:?}");
}

#[test]
fn events_into_a_closed_pipe_exit_quietly() {
    let sim = Sim::start(Profile::V22);
    let mut child = sim
        .ami()
        .arg("events")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        tx.send(first).unwrap();
        // Dropping the reader closes the pipe.
    });
    // Events emitted before ami has logged in reach nobody: emit until the first line is out.
    let deadline = Instant::now() + Duration::from_secs(10);
    let first = loop {
        assert!(Instant::now() < deadline, "ami events printed nothing");
        sim.handle().emit_events(2_000);
        if let Ok(first) = rx.recv_timeout(Duration::from_millis(200)) {
            break first;
        }
    };
    reader.join().unwrap();
    assert!(serde_json::from_str::<Value>(&first).is_ok(), "{first}");
    sim.handle().emit_events(2_000);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "ami events did not stop on a closed pipe"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut error = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut error).unwrap();
    assert!(status.success(), "{status:?} {error}");
    assert!(error.is_empty(), "quiet: {error}");
}

#[test]
fn shell_reads_a_script_from_standard_input() {
    let sim = Sim::start(Profile::V11);
    let mut child = sim
        .ami()
        .args(["shell", "--quiet-events"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b":output ndjson\nPing\nGetvar Variable=\"NO SUCH\"\n!core show uptime\nquit\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let text = stdout(&output);
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["Response"], "Success", "{text}");
    assert!(text.contains("uptime"), "{text}");
}

#[test]
fn demo_walks_through_without_a_pbx() {
    for asterisk in ["22", "1.8"] {
        let output = run(ami().args(["demo", "--wait", "10", "--asterisk", asterisk]));
        let text = stdout(&output);
        assert!(output.status.success(), "{}\n{text}", stderr(&output));
        check_demo(&text);
    }
}

/// Every command the demo shows works as printed, against `ami sim` kept running (here a
/// simulator on a free port stands in for 127.0.0.1:5038).
#[test]
fn demo_commands_work_when_pasted() {
    let output = run(ami().args(["demo", "--wait", "5"]));
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let shown: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("    $ "))
        .collect();
    assert!(shown.len() >= 5, "{text}");
    let export = shown
        .iter()
        .find_map(|line| line.split_once("; ").map(|(export, _)| export))
        .filter(|export| export.starts_with("export AMI_HOST=127.0.0.1 AMI_PORT=5038"))
        .unwrap_or_else(|| panic!("the login step exports the connection: {text}"));
    let sim = Sim::start(Profile::V22);
    let export = export.replace("AMI_PORT=5038", &format!("AMI_PORT={}", sim.port()));
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_ami"))
        .parent()
        .unwrap()
        .to_owned();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for command in shown {
        let command = command.split_once("; ").map_or(command, |(_, rest)| rest);
        if command.starts_with("ami sim") || command == "ami --help" {
            continue;
        }
        // `ami events` follows until Ctrl-C: 3 s of it is enough to show that it runs.
        let script = format!("{export}; timeout 3 {command}");
        let output = run(Command::new("bash")
            .args(["-c", &script])
            .env("PATH", &path)
            .env("HOME", empty_home())
            .stdin(Stdio::null()));
        let code = output.status.code();
        let events = command.starts_with("ami events");
        assert!(
            code == Some(0) || (events && code == Some(124)),
            "{command:?} as shown exits {code:?}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn demo_as_json_keeps_narration_off_stdout() {
    let output = run(ami().args(["demo", "--wait", "5", "-o", "json"]));
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let documents: Vec<Value> = serde_json::Deserializer::from_str(&text)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|error| panic!("stdout is JSON only ({error}):\n{text}"));
    assert!(documents.len() >= 3, "{text}");
    assert!(stderr(&output).contains("==> "), "{}", stderr(&output));
}

fn check_demo(text: &str) {
    for expected in [
        "Logged in",
        "CoreShowChannels",
        "core show uptime",
        "Originate successfully queued",
        "Newchannel",
        "Hangup",
        "every channel of the call has hung up",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn unreachable_host_names_the_problem_and_the_fix() {
    // A port just freed: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let output = run(ami()
        .args([
            "action",
            "Ping",
            "--host",
            "127.0.0.1",
            "--username",
            "admin",
        ])
        .args(["--port", &port.to_string()])
        .env("AMI_SECRET", "amp111"));
    assert_eq!(output.status.code(), Some(1));
    let error = stderr(&output);
    assert!(
        error.contains("connection refused") && error.contains("fix:"),
        "{error}"
    );
}

#[test]
fn wrong_secret_names_the_problem_and_never_the_secret() {
    let sim = Sim::with(SimConfig {
        auth_fail_delay: Duration::from_millis(10),
        ..SimConfig::default()
    });
    let output = run(sim
        .ami()
        .env("AMI_SECRET", "wrong-s3cret")
        .args(["action", "Ping"]));
    assert_eq!(output.status.code(), Some(1));
    let error = stderr(&output);
    assert!(
        error.contains("refused the login") && error.contains("fix:"),
        "{error}"
    );
    assert!(!error.contains("wrong-s3cret") && !stdout(&output).contains("wrong-s3cret"));
}

#[test]
fn tls_to_a_plain_port_names_tls() {
    let sim = Sim::start(Profile::V22);
    let output = run(sim
        .ami()
        .args(["action", "Ping", "--tls", "--connect-timeout", "3"]));
    assert_eq!(output.status.code(), Some(1));
    let error = stderr(&output);
    assert!(error.contains("TLS") && error.contains("fix:"), "{error}");
}

#[test]
fn malformed_key_value_is_a_usage_error_before_connecting() {
    // No server at all: the argument is refused first.
    let output = run(ami().args(["action", "Originate", "Channel"]));
    assert_eq!(output.status.code(), Some(2));
    let error = stderr(&output);
    assert!(
        error.contains("Key=Value") && error.contains("fix:"),
        "{error}"
    );
}

#[test]
fn configuration_problems_exit_two() {
    let dir = empty_home().join("config-problems");
    std::fs::create_dir_all(&dir).unwrap();
    let typo = dir.join("typo.toml");
    std::fs::write(&typo, "[profiles.lab]\nhots = \"127.0.0.1\"\n").unwrap();
    let typo = typo.to_str().unwrap();
    for args in [
        // No host anywhere.
        vec!["action", "Ping"],
        // A typo in the config file.
        vec!["action", "Ping", "--config", typo, "--profile", "lab"],
        // A profile the file does not have.
        vec![
            "command",
            "core show uptime",
            "--config",
            typo,
            "--profile",
            "nope",
        ],
    ] {
        let output = run(ami().env("AMI_SECRET", "x").args(&args));
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains("fix:") || stderr(&output).contains("unknown"),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn sim_on_a_port_in_use_says_how_to_choose_another() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    // A bare port is accepted (loopback), and the busy port is explained.
    let output = run(ami().args(["sim", "--listen", &port]));
    assert_eq!(output.status.code(), Some(1));
    let error = stderr(&output);
    assert!(
        error.contains("in use") && error.contains("fix: choose another port"),
        "{error}"
    );
    let bad = run(ami().args(["sim", "--listen", "localhost"]));
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("PORT or ADDRESS:PORT"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn the_catalog_explains_lists_and_checks_actions_without_a_server() {
    let explain = run(ami().args(["explain", "originate"]));
    assert!(explain.status.success(), "{}", stderr(&explain));
    let text = stdout(&explain);
    assert!(
        text.lines()
            .any(|line| line.trim_start().starts_with("Channel") && line.contains("required")),
        "{text}"
    );
    assert!(
        text.contains("Variable") && text.contains("repeatable"),
        "{text}"
    );

    let unknown = run(ami().args(["explain", "Orignate"]));
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown).contains("did you mean Originate?"),
        "{}",
        stderr(&unknown)
    );

    // No server anywhere: the missing parameter is found before any connection is tried.
    let missing = run(ami().args(["action", "Originate", "Context=demo"]));
    assert_eq!(missing.status.code(), Some(2));
    let error = stderr(&missing);
    assert!(
        error.contains("Originate needs Channel") && error.contains("fix:"),
        "{error}"
    );

    let old = json(&run(ami().args([
        "actions",
        "--asterisk",
        "1.8",
        "-o",
        "json",
    ])));
    let names: Vec<&str> = old
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["Action"].as_str())
        .collect();
    assert_eq!(names.len(), 89, "1.8 documents 89 actions");
    assert!(
        names.contains(&"Ping") && !names.contains(&"BlindTransfer"),
        "{names:?}"
    );
    let all = json(&run(ami().args(["actions", "-o", "json"])));
    assert!(all.as_array().unwrap().len() > 154, "{all}");
}

#[test]
fn a_misspelt_parameter_is_sent_with_a_warning() {
    let sim = Sim::start(Profile::V22);
    let output = run(sim.ami().args(["action", "Ping", "Chanel=x"]));
    assert!(output.status.success(), "{}", stderr(&output));
    let error = stderr(&output);
    assert!(
        error.contains("Ping has no documented parameter \"Chanel\""),
        "{error}"
    );
}

/// A misspelt parameter of a known action is still sent (Asterisk ignores it), with a warning
/// naming the closest documented parameter.
#[test]
fn a_misspelt_originate_parameter_suggests_the_closest_name() {
    let sim = Sim::start(Profile::V22);
    let output = run(sim.ami().args([
        "action",
        "Originate",
        "Channel=Local/100@demo",
        "Aplication=Wait",
        "Data=1",
    ]));
    let error = stderr(&output);
    assert!(
        error.contains(
            "Originate has no documented parameter \"Aplication\"; did you mean Application?"
        ),
        "{error}"
    );
    // Sent anyway: the server answered (without an application, Originate fails there).
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("Response"),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

#[test]
fn explain_adds_the_servers_own_description_when_a_server_is_given() {
    let sim = Sim::start(Profile::V22);
    let output = run(sim.ami().args(["explain", "Ping", "-o", "json"]));
    assert!(output.status.success(), "{}", stderr(&output));
    let value = json(&output);
    assert_eq!(value["name"], "Ping");
    let server = value["server"].as_str().unwrap_or_default();
    assert!(server.contains("[Syntax]\nAction: Ping"), "{value}");
}

#[test]
fn man_pages_are_written_for_every_subcommand() {
    let dir = empty_home().join("man1");
    let output = run(ami().arg("man").arg(&dir));
    assert!(output.status.success(), "{}", stderr(&output));
    for page in [
        "ami",
        "ami-action",
        "ami-events",
        "ami-gateway",
        "ami-sim",
        "ami-completions",
    ] {
        let text = std::fs::read_to_string(dir.join(format!("{page}.1")))
            .unwrap_or_else(|error| panic!("{page}.1: {error}"));
        assert!(text.contains(&format!(".TH {page} 1")), "{page}: {text}");
    }
    let action = std::fs::read_to_string(dir.join("ami-action.1")).unwrap();
    assert!(
        action.contains("tls\\-pin"),
        "options come from the clap definitions"
    );
    let written = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(
        stdout(&output).lines().count(),
        written,
        "each page written is listed"
    );
}

#[test]
fn a_command_with_a_line_break_is_a_usage_error_before_connecting() {
    // No server at all: the command is refused first, once, with a fix.
    let output = run(ami().args(["command", "core show channels\nmodule unload chan_sip.so"]));
    assert_eq!(output.status.code(), Some(2));
    let error = stderr(&output);
    assert_eq!(error.matches("line break").count(), 1, "{error}");
    assert!(error.contains("fix:"), "{error}");
    assert!(
        !error.contains("connect"),
        "no connection was tried: {error}"
    );
}

#[test]
fn profiles_from_the_config_file() {
    let sim = Sim::start(Profile::V18);
    let dir = empty_home().join("profiles");
    std::fs::create_dir_all(&dir).unwrap();
    let secret = dir.join("lab.secret");
    std::fs::write(&secret, "amp111\n").unwrap();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[profiles.lab]\nhost = \"127.0.0.1\"\nport = {}\nusername = \"admin\"\nsecret_file = \"{}\"\n",
            sim.port(),
            secret.display()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let value = json(&run(ami().args([
        "action",
        "Ping",
        "--config",
        config,
        "--profile",
        "lab",
    ])));
    assert_eq!(value["Response"], "Success");

    // A configuration problem, like a bad argument, exits 2.
    let output = run(ami().args(["action", "--config", config, "--profile", "staging", "Ping"]));
    assert_eq!(output.status.code(), Some(2));
    let error = stderr(&output);
    assert!(
        error.contains("unknown profile \"staging\"") && error.contains("lab"),
        "{error}"
    );
    assert!(error.contains("fix:"), "{error}");
}

#[test]
fn help_is_complete_and_completions_generate() {
    let help = stdout(&run(ami().arg("--help")));
    for subcommand in [
        "action",
        "command",
        "events",
        "shell",
        "demo",
        "decode",
        "completions",
    ] {
        assert!(help.contains(subcommand), "{subcommand} in --help:\n{help}");
        let sub = run(ami().args([subcommand, "--help"]));
        assert!(sub.status.success());
        let text = stdout(&sub);
        assert!(text.contains("Usage: ami"), "{subcommand}: {text}");
    }
    for shell in ["bash", "zsh", "fish"] {
        let script = stdout(&run(ami().args(["completions", shell])));
        assert!(
            script.contains("action") && script.contains("events"),
            "{shell}"
        );
    }
}

/// A tmux server of this test's own (its own socket), stopped on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn command(&self) -> Command {
        let mut command = Command::new("tmux");
        command.args(["-L", &self.socket]);
        command
    }

    fn send(&self, keys: &[&str]) {
        let status = self
            .command()
            .args(["send-keys", "-t", "ami"])
            .args(keys)
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn screen(&self) -> String {
        let output = self
            .command()
            .args(["capture-pane", "-p", "-t", "ami"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Waits until `check` holds for the screen; panics with the screen after 30 s.
    fn wait_for(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen();
            if check(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "waiting for {what}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.command().arg("kill-server").status();
    }
}

fn last_line(screen: &str) -> &str {
    screen
        .lines()
        .rfind(|line| !line.trim().is_empty())
        .unwrap_or("")
}

#[test]
fn shell_on_a_terminal_completes_keeps_history_and_prints_events_above_the_prompt() {
    if Command::new("tmux").arg("-V").output().is_err() {
        // The terminal test needs tmux (Debian package `tmux`); the rest of the shell is
        // covered by shell_reads_a_script_from_standard_input.
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install tmux (.ci/run does) so the terminal tests run"
        );
        eprintln!("SKIPPED: tmux is not installed");
        return;
    }
    let sim = Sim::start(Profile::V22);
    let state = empty_home().join(format!("state-{}", sim.port()));
    let tmux = Tmux {
        socket: format!("ami-it-{}-{}", std::process::id(), sim.port()),
    };
    let shell = format!(
        "env -u AMI_PROFILE -u AMI_CONFIG AMI_HOST=127.0.0.1 AMI_PORT={} AMI_USERNAME=admin \
         AMI_SECRET=amp111 HOME={} XDG_STATE_HOME={} {} shell",
        sim.port(),
        empty_home().display(),
        state.display(),
        env!("CARGO_BIN_EXE_ami")
    );
    let status = tmux
        .command()
        .args([
            "new-session",
            "-d",
            "-s",
            "ami",
            "-x",
            "200",
            "-y",
            "50",
            &shell,
        ])
        .status()
        .unwrap();
    assert!(status.success());
    tmux.wait_for("the prompt", |screen| last_line(screen).starts_with("ami>"));

    // Tab completes action names from the server's ListCommands.
    tmux.send(&["CoreSho", "Tab"]);
    tmux.wait_for("completion", |screen| {
        last_line(screen).starts_with("ami> CoreShowChannel")
    });
    // Then the action's parameter names and enumerated values, from the catalog.
    tmux.send(&["C-u", "Events EventM", "Tab"]);
    tmux.wait_for("a parameter name", |screen| {
        last_line(screen) == "ami> Events EventMask="
    });
    tmux.send(&["of", "Tab"]);
    tmux.wait_for("an enumerated value", |screen| {
        last_line(screen) == "ami> Events EventMask=off"
    });
    tmux.send(&["C-u", ":filter UserEvent=FromTmux", "Enter"]);
    // Keys typed before the next prompt may be dropped when the terminal goes back to raw
    // mode, as in most line editors: wait for it.
    tmux.wait_for("the next prompt", |screen| {
        screen.contains(":filter UserEvent=FromTmux") && last_line(screen) == "ami>"
    });

    // An event arriving while a line is being typed goes above the prompt; the line stays.
    tmux.send(&["Getvar Variable=TYPED"]);
    tmux.wait_for("the typed line", |screen| {
        last_line(screen) == "ami> Getvar Variable=TYPED"
    });
    let output = run(sim
        .ami()
        .args(["action", "UserEvent", "UserEvent=FromTmux"]));
    assert!(output.status.success());
    let screen = tmux.wait_for("the event", |screen| screen.contains("UserEvent=FromTmux"));
    assert_eq!(last_line(&screen), "ami> Getvar Variable=TYPED", "{screen}");

    tmux.send(&["Enter"]);
    tmux.wait_for("the reply and the next prompt", |screen| {
        screen.contains("Variable  TYPED") && last_line(screen) == "ami>"
    });
    tmux.send(&["quit", "Enter"]);
    let history = state.join("amikit").join("history");
    // Written when the shell ends: wait for it (and for the whole of it).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let saved = std::fs::read_to_string(&history).unwrap_or_default();
        if saved.contains("Getvar Variable=TYPED") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "history at {} lacks the line: {saved:?}",
            history.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn events_mark_the_gap_when_the_output_falls_behind() {
    let sim = Sim::start(Profile::V22);
    let child = sim
        .ami()
        .args(["events", "--duration", "4s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Nobody reads standard output for a while: the pipe fills, ami blocks on it, and the
    // client drops what its subscriber queue cannot hold, counting it.
    // More than the default subscription holds (8 MiB of events) whatever their size.
    sim.wait_for_login();
    sim.handle().emit_events(150_000);
    std::thread::sleep(Duration::from_millis(1500));
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let lines: Vec<Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let lagged: u64 = lines.iter().filter_map(|v| v["_lagged"].as_u64()).sum();
    let events = lines.iter().filter(|v| v.get("Event").is_some()).count() as u64;
    assert!(lagged > 0, "a gap is marked ({events} events)");
    assert!(events + lagged <= 150_000 + 100, "{events} + {lagged}");
}

#[test]
fn secret_is_asked_for_on_a_terminal_without_echo() {
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install tmux (.ci/run does) so the terminal tests run"
        );
        eprintln!("SKIPPED: tmux is not installed");
        return;
    }
    let sim = Sim::start(Profile::V13);
    let tmux = Tmux {
        socket: format!("ami-it-secret-{}-{}", std::process::id(), sim.port()),
    };
    let command = format!(
        "env -u AMI_SECRET -u AMI_PROFILE -u AMI_CONFIG HOME={} {} action Ping --host 127.0.0.1 \
         --port {} --username admin -o ndjson; sleep 30",
        empty_home().display(),
        env!("CARGO_BIN_EXE_ami"),
        sim.port()
    );
    let status = tmux
        .command()
        .args([
            "new-session",
            "-d",
            "-s",
            "ami",
            "-x",
            "200",
            "-y",
            "20",
            &command,
        ])
        .status()
        .unwrap();
    assert!(status.success());
    tmux.wait_for("the prompt", |screen| {
        screen.contains("AMI secret for admin@127.0.0.1:")
    });
    tmux.send(&["amp111", "Enter"]);
    let screen = tmux.wait_for("the reply", |screen| screen.contains("\"Pong\""));
    assert!(
        !screen.contains("amp111"),
        "the secret was echoed:\n{screen}"
    );
}

#[test]
fn tls_pin_trusts_exactly_one_certificate() {
    use sha2::Digest;
    let sim = Sim::with(SimConfig {
        tls: Some(ami_sim::TlsConfig::SelfSigned),
        ..SimConfig::default()
    });
    let pem = sim.handle().tls_cert_pem().unwrap().to_owned();
    let der = rustls_pemfile::certs(&mut pem.as_bytes())
        .next()
        .unwrap()
        .unwrap();
    let pin: Vec<String> = sha2::Sha256::digest(der.as_ref())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    let pin = pin.join(":");
    let value = json(&run(sim.ami().args(["action", "Ping", "--tls-pin", &pin])));
    assert_eq!(value["Response"], "Success");

    // From a profile too.
    let dir = empty_home().join(format!("pin-{}", sim.port()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[profiles.pinned]\nhost = \"127.0.0.1\"\nport = {}\nusername = \"admin\"\n\
             secret_env = \"LAB_SECRET\"\ntls_pin = \"{}\"\n",
            sim.port(),
            pin.to_lowercase().replace(':', "")
        ),
    )
    .unwrap();
    let value = json(&run(ami()
        .args([
            "action",
            "Ping",
            "--config",
            config.to_str().unwrap(),
            "--profile",
            "pinned",
        ])
        .env("LAB_SECRET", "amp111")));
    assert_eq!(value["Response"], "Success");

    // Another certificate's pin is a TLS failure; a malformed pin an argument error.
    let wrong = run(sim
        .ami()
        .args(["action", "Ping", "--tls-pin", &"00".repeat(32)]));
    assert_eq!(wrong.status.code(), Some(1));
    assert!(stderr(&wrong).contains("TLS"), "{}", stderr(&wrong));
    let malformed = run(sim.ami().args(["action", "Ping", "--tls-pin", "abc"]));
    assert_eq!(malformed.status.code(), Some(2), "{}", stderr(&malformed));
}

#[test]
fn tls_profile_with_a_private_ca_and_server_name() {
    let sim = Sim::with(SimConfig {
        tls: Some(ami_sim::TlsConfig::SelfSigned),
        ..SimConfig::default()
    });
    let dir = empty_home().join(format!("tls-{}", sim.port()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, sim.handle().tls_cert_pem().unwrap()).unwrap();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[profiles.tls]\nhost = \"127.0.0.1\"\nport = {}\nusername = \"admin\"\n\
             secret_env = \"LAB_SECRET\"\ntls = true\ntls_ca = \"{}\"\n\
             tls_server_name = \"localhost\"\n\n\
             [profiles.impostor]\nhost = \"127.0.0.1\"\nport = {}\nusername = \"admin\"\n\
             secret_env = \"LAB_SECRET\"\ntls_ca = \"{}\"\n\
             tls_server_name = \"impostor.example\"\n",
            sim.port(),
            ca.display(),
            sim.port(),
            ca.display()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let value = json(&run(ami()
        .args(["action", "Ping", "--config", config, "--profile", "tls"])
        .env("LAB_SECRET", "amp111")));
    assert_eq!(value["Response"], "Success");

    // The profile's server name is the one checked: a name the certificate lacks fails.
    let output = run(ami()
        .args([
            "action",
            "Ping",
            "--config",
            config,
            "--profile",
            "impostor",
        ])
        .env("LAB_SECRET", "amp111"));
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("TLS"), "{}", stderr(&output));

    // Without the CA the system roots do not know the certificate: a TLS error with its fix.
    let output = run(sim.ami().args(["action", "Ping", "--tls"]));
    assert_eq!(output.status.code(), Some(1));
    let error = stderr(&output);
    assert!(
        error.contains("TLS") && error.contains("--tls-ca"),
        "{error}"
    );
}

#[test]
fn state_lists_channels_and_calls_on_every_era() {
    for profile in [Profile::V22, Profile::V13, Profile::V11, Profile::V18] {
        let sim = Sim::start(profile);
        let output = run(sim.ami().args(["state", "-o", "json"]));
        assert!(output.status.success(), "{profile:?}: {}", stderr(&output));
        let state = json(&output);
        let channels = state["channels"].as_object().expect("channels");
        assert!(
            channels.len() >= 4,
            "{profile:?}: the demo calls are up: {state}"
        );
        assert!(!state["calls"].as_array().expect("calls").is_empty());
        let support = &state["queues"]["support"];
        assert_eq!(
            support["members"].as_object().map(|m| m.len()),
            Some(2),
            "{state}"
        );
    }
}

#[test]
fn state_shows_agents_in_json_and_as_a_table_section() {
    for profile in [Profile::V22, Profile::V18] {
        let sim = Sim::start(profile);
        let output = run(sim.ami().args(["state", "-o", "json"]));
        assert!(output.status.success(), "{profile:?}: {}", stderr(&output));
        let state = json(&output);
        assert_eq!(state["agents"]["1001"]["name"], "Agent One", "{state}");
        assert_eq!(state["agents"]["1001"]["status"], "AGENT_LOGGEDOFF");
        assert!(state["parked"].is_object() && state["devices"].is_object());
        let output = run(sim.ami().args(["state", "-o", "table"]));
        let text = stdout(&output);
        let section = text.split("\nAgents:\n").nth(1).unwrap_or_default();
        assert!(
            section.contains("1001") && section.contains("AGENT_LOGGEDOFF"),
            "{profile:?}: {text}"
        );
    }
}

#[test]
fn state_verify_finds_no_difference_while_calls_come_and_go() {
    for profile in [Profile::V22, Profile::V18] {
        let sim = Sim::with(SimConfig {
            profile,
            demo_calls: true,
            calls_per_second: Some(4.0),
            ..SimConfig::default()
        });
        let output = run(sim
            .ami()
            .args(["state", "--verify", "--watch", "3s", "-o", "json"]));
        assert!(
            output.status.success(),
            "{profile:?}: {}\n{}",
            stdout(&output),
            stderr(&output)
        );
        assert_eq!(json(&output)["differences"], serde_json::json!([]));
        assert!(stderr(&output).contains("matches the PBX's lists"));
    }
}

/// `ami top` as a user runs it, in tmux at 80x24 and 200x50: the calls and queues appear,
/// pausing a member and hanging up a call each ask first and then happen on the PBX, and `q`
/// ends it with the terminal restored.
#[test]
fn top_in_a_terminal_shows_calls_and_queues_and_acts_after_asking() {
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install tmux (.ci/run does) so the terminal tests run"
        );
        eprintln!("SKIPPED: tmux is not installed");
        return;
    }
    for (width, height) in ["80x24", "200x50"].map(|size| size.split_once('x').unwrap()) {
        let sim = Sim::start(Profile::V22);
        let tmux = Tmux {
            socket: format!("ami-top-{}-{}", std::process::id(), sim.port()),
        };
        // The pane outlives ami top so that its last screen can be read.
        let shell = format!(
            "env -u AMI_PROFILE -u AMI_CONFIG AMI_HOST=127.0.0.1 AMI_PORT={} AMI_USERNAME=admin \
             AMI_SECRET=amp111 HOME={} {} top; echo top-exited-$?; sleep 30",
            sim.port(),
            empty_home().display(),
            env!("CARGO_BIN_EXE_ami")
        );
        let status = tmux
            .command()
            .args([
                "new-session",
                "-d",
                "-s",
                "ami",
                "-x",
                width,
                "-y",
                height,
                &shell,
            ])
            .status()
            .unwrap();
        assert!(status.success());
        let screen = tmux.wait_for("the calls and queues", |screen| {
            screen.contains("ami top - 127.0.0.1:")
                && screen.contains("Local/300@demo-")
                && screen.contains("Agent Two")
        });
        assert!(screen.contains("AMI 11.0.0 - connected"), "{screen}");
        assert!(
            screen
                .lines()
                .all(|line| line.chars().count() <= width.parse().unwrap()),
            "{screen}"
        );
        if width == "80" && std::env::var_os("AMIKIT_BLESS").is_some() {
            // The guide's picture of `ami top` (docs/img/top.txt), retaken from this run.
            let path =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/img/top.txt");
            std::fs::write(path, &screen).unwrap();
        }

        // Pause Agent Two: Tab to the members, down to the second, p, then y.
        tmux.send(&["Tab", "j", "p"]);
        tmux.wait_for("the pause question", |screen| {
            last_line(screen).contains("Pause Agent Two in support? (y/n)")
        });
        tmux.send(&["y"]);
        tmux.wait_for("the member paused", |screen| {
            screen.contains("paused Local/701@demo/n in support")
                && screen
                    .lines()
                    .any(|l| l.contains("Agent Two") && l.contains("paused"))
        });
        let output = run(sim.ami().args(["action", "QueueStatus", "Queue=support"]));
        let status = json(&output);
        let paused = status["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|item| item["Name"] == "Agent Two")
            .map(|item| item["Paused"].clone());
        assert_eq!(paused, Some(serde_json::json!("1")), "{status}");

        // Hang up the first call: Tab back, h, n cancels; h, y hangs it up.
        tmux.send(&["Tab", "h"]);
        let screen = tmux.wait_for("the hang-up question", |screen| {
            last_line(screen).starts_with("Hang up ")
        });
        let channel = last_line(&screen)
            .trim_start_matches("Hang up ")
            .split('?')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        tmux.send(&["n"]);
        tmux.wait_for("the cancellation", |screen| {
            last_line(screen) == "cancelled"
        });
        tmux.send(&["h"]);
        tmux.wait_for("the question again", |screen| {
            last_line(screen).starts_with("Hang up ")
        });
        tmux.send(&["y"]);
        tmux.wait_for("the hang-up", |screen| {
            last_line(screen).contains("hung up")
        });
        let output = run(sim.ami().args(["state", "-o", "json"]));
        let state = json(&output);
        assert!(
            !state["channels"]
                .as_object()
                .expect("channels")
                .values()
                .any(|c| c["name"] == channel.as_str()),
            "{channel} is gone: {state}"
        );

        tmux.send(&["q"]);
        tmux.wait_for("the exit", |screen| screen.contains("top-exited-0"));
    }
}

#[test]
fn top_once_prints_a_snapshot_for_scripts() {
    let sim = Sim::start(Profile::V18);
    let output = run(sim.ami().args(["top", "--once", "-o", "json"]));
    assert!(output.status.success(), "{}", stderr(&output));
    let state = json(&output);
    assert!(
        state["channels"].as_object().is_some_and(|c| c.len() >= 4),
        "{state}"
    );
    assert!(state["queues"]["support"]["callers"].is_array(), "{state}");
}

/// AMI over HTTP: `--url`, `AMI_URL` and a profile's `url` reach the simulator's /rawman, for
/// an action, a Command and a list, on a modern and a legacy profile; a URL on the command
/// line wins over a profile's host.
#[test]
fn url_flag_environment_and_profile_reach_ami_over_http() {
    for profile in [Profile::V22, Profile::V18] {
        let sim = Sim::with(SimConfig {
            profile,
            demo_calls: true,
            http_listen: Some(([127, 0, 0, 1], 0).into()),
            ..SimConfig::default()
        });
        let url = format!("http://{}", sim.handle().http_addr().unwrap());
        let admin = |command: &mut Command| {
            command
                .env("AMI_USERNAME", "admin")
                .env("AMI_SECRET", "amp111");
        };
        let mut by_flag = ami();
        admin(&mut by_flag);
        let value = json(&run(by_flag.args(["action", "Ping", "--url", &url])));
        assert_eq!(value["Response"], "Success", "{profile}: {value}");

        let mut by_env = ami();
        admin(&mut by_env);
        let output = run(by_env
            .env("AMI_URL", &url)
            .args(["command", "core show uptime"]));
        assert!(output.status.success(), "{profile}: {}", stderr(&output));
        assert!(
            stdout(&output).contains("System uptime"),
            "{}",
            stdout(&output)
        );

        let dir = empty_home().join(format!("url-profile-{profile}"));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("config.toml");
        std::fs::write(
            &config,
            format!("[profiles.web]\nurl = \"{url}\"\nusername = \"admin\"\n"),
        )
        .unwrap();
        let mut by_profile = ami();
        let value = json(&run(by_profile.env("AMI_SECRET", "amp111").args([
            "action",
            "CoreShowChannels",
            "--config",
            config.to_str().unwrap(),
            "--profile",
            "web",
        ])));
        assert!(
            value.to_string().contains("CoreShowChannelsComplete"),
            "{profile}: {value}"
        );
    }
}
