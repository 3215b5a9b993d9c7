//! `ami gateway`: the real binary with `--sim`, its token handling, and the browser console in
//! headless Chromium.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running `ami gateway --sim` on 127.0.0.1:0.
struct Running {
    child: Child,
    addr: String,
    token: String,
    /// The token was generated and printed (not taken from the environment).
    printed: bool,
    stderr: PathBuf,
}

impl Running {
    fn start(env_token: Option<&str>) -> Self {
        Self::start_with(&[], &[], env_token, None)
    }

    /// `extra` arguments and `envs` added; `config_token` is the token of a config file (the
    /// gateway then prints none).
    fn start_with(
        extra: &[&str],
        envs: &[(&str, &str)],
        env_token: Option<&str>,
        config_token: Option<&str>,
    ) -> Self {
        // One log file per gateway: tests run in parallel.
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let stderr = std::env::temp_dir().join(format!(
            "ami-gateway-it-{}-{}.log",
            std::process::id(),
            STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let mut command = Command::new(env!("CARGO_BIN_EXE_ami"));
        command
            .args(["gateway", "--sim", "--listen", "127.0.0.1:0"])
            .args(extra)
            .envs(envs.iter().copied())
            .env_remove("AMI_GATEWAY_TOKEN")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("log file"));
        if let Some(token) = env_token {
            command.env("AMI_GATEWAY_TOKEN", token);
        }
        let mut child = command.spawn().expect("ami gateway starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut addr = None;
        let mut printed_token = None;
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let Some(Ok(line)) = lines.next() else { break };
            if let Some(rest) = line.strip_prefix("ami gateway listening on http://") {
                addr = Some(rest.trim_end_matches('/').to_owned());
                if env_token.is_some() || config_token.is_some() {
                    break;
                }
            }
            if let Some(token) = line.strip_prefix("admin token (shown once): ") {
                printed_token = Some(token.to_owned());
                break;
            }
        }
        let addr = addr.expect("the gateway printed its address");
        let printed = printed_token.is_some();
        let token = printed_token
            .or_else(|| env_token.map(str::to_owned))
            .or_else(|| config_token.map(str::to_owned))
            .expect("a token");
        let running = Self {
            child,
            addr,
            token,
            printed,
            stderr,
        };
        running.wait_connected();
        running
    }

    fn request(&self, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
        http(&self.addr, method, path, token, body)
    }

    fn wait_connected(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let (status, body) = self.request("GET", "/v1/servers", Some(&self.token), "");
            let sim_connected = |v: Value| {
                v["servers"].as_array().is_some_and(|servers| {
                    servers
                        .iter()
                        .any(|s| s["name"] == "sim" && s["state"] == "connected")
                })
            };
            if status == 200 && serde_json::from_str::<Value>(&body).is_ok_and(sim_connected) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the gateway never connected to its simulator");
    }

    /// SIGTERM, then the exit status within 15 s.
    fn stop(mut self) -> (std::process::ExitStatus, String) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                let log = std::fs::read_to_string(&self.stderr).unwrap_or_default();
                let _ = std::fs::remove_file(&self.stderr);
                return (status, log);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the gateway did not stop on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request with `Connection: close`; the status and body.
fn http(addr: &str, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").expect("response");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, body.to_owned())
}

#[test]
fn sim_without_config_generates_a_token_prints_it_once_and_stops_on_sigterm() {
    let gateway = Running::start(None);
    assert!(gateway.printed);
    assert_eq!(gateway.token.len(), 64, "{}", gateway.token);
    let (status, body) = gateway.request(
        "POST",
        "/v1/servers/sim/actions/Ping",
        Some(&gateway.token),
        "{}",
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Pong"), "{body}");
    let (status, _) = gateway.request("GET", "/v1/servers", None, "");
    assert_eq!(status, 401);
    let (status, _) = gateway.request("GET", "/v1/servers", Some("wrong-token-xyz123"), "");
    assert_eq!(status, 401);
    let token = gateway.token.clone();
    let (exit, log) = gateway.stop();
    assert!(exit.success(), "{exit:?}\n{log}");
    assert!(log.contains("request denied"), "denials are logged: {log}");
    assert!(!log.contains(&token), "the token never reaches the log");
    assert!(
        !log.contains("wrong-token-xyz123"),
        "a presented token never reaches the log"
    );
}

#[test]
fn sim_takes_the_token_from_the_environment() {
    let gateway = Running::start(Some("env-token-for-tests"));
    assert!(
        !gateway.printed,
        "a token from the environment is not printed"
    );
    let (status, body) = gateway.request("GET", "/v1/servers", Some("env-token-for-tests"), "");
    assert_eq!(status, 200, "{body}");
}

/// A config file plus --sim: the file's tokens and servers, the simulator added as `sim`, no
/// token printed; a server whose secret_env is unset stops the start with a clear message.
#[test]
fn config_file_with_sim_added() {
    let dir = std::env::temp_dir().join(format!("ami-gateway-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "[[servers]]\nname = \"offline\"\nhost = \"127.0.0.1\"\nport = {closed_port}\n\
             username = \"u\"\nsecret_env = \"OFFLINE_SECRET\"\n\
             [[tokens]]\nname = \"ops\"\n\
             sha256 = \"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"\n\
             servers = [\"*\"]\nactions = {{ allow = [\"*\"] }}\n"
        ),
    )
    .expect("config");
    let config_arg = config.to_str().expect("path");

    let missing = Command::new(env!("CARGO_BIN_EXE_ami"))
        .args([
            "gateway",
            "--sim",
            "--listen",
            "127.0.0.1:0",
            "--config",
            config_arg,
        ])
        .env_remove("OFFLINE_SECRET")
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert_eq!(
        missing.status.code(),
        Some(2),
        "a configuration problem exits 2"
    );
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("OFFLINE_SECRET"), "{stderr}");

    // "test" is the token whose sha256 is in the file.
    let gateway = Running::start_with(
        &["--config", config_arg],
        &[("OFFLINE_SECRET", "s3cr3t-value")],
        None,
        Some("test"),
    );
    assert!(!gateway.printed);
    let (status, body) = gateway.request("GET", "/v1/servers", Some("test"), "");
    assert_eq!(status, 200, "{body}");
    let servers: Value = serde_json::from_str(&body).expect("JSON");
    let names: Vec<&str> = servers["servers"]
        .as_array()
        .expect("servers")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, ["offline", "sim"]);
    assert_ne!(servers["servers"][0]["state"], "connected");
    let (status, _) = gateway.request("POST", "/v1/servers/offline/actions/Ping", Some("test"), "");
    assert_eq!(status, 503);
    let (exit, log) = gateway.stop();
    assert!(exit.success());
    assert!(
        !log.contains("s3cr3t-value"),
        "the AMI secret never reaches the log"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn hash_token_prints_the_sha256_for_the_config() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ami"))
        .args(["gateway", "--hash-token"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"test\n")
        .expect("write");
    let output = child.wait_with_output().expect("wait");
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    );
}

fn find_chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join(name))
                    .find(|path| path.is_file())
            })
        })
}

/// Runs headless Chromium with `args` on `url`, killed after 90 s; returns its stdout.
fn chromium(binary: &Path, profile: &Path, args: &[&str], url: &str) -> String {
    let mut child = Command::new(binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    reader.join().expect("reader")
}

/// Chromium, or `None` (the test then skips with a loud note) when it is not installed and
/// `CI` is not set; under `CI` a missing Chromium fails the test.
fn chromium_or_skip(test: &str) -> Option<PathBuf> {
    let binary = find_chromium();
    if binary.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but chromium is not installed (.ci/run installs it)"
        );
        eprintln!(
            "\n!!! SKIPPED {test}: chromium is not installed \
             (apt-get install chromium; CI installs it and fails without it) !!!\n"
        );
    }
    binary
}

/// The text of an HTML fragment: tags dropped, the entities the DOM serializer writes decoded.
fn html_text(html: &str) -> String {
    let mut text = String::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        text.push_str(&rest[..start]);
        rest = rest[start..].split_once('>').map_or("", |(_, after)| after);
    }
    text.push_str(rest);
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// Every element of `dom` that starts with `open` (e.g. `<tr data-channel=`), up to the first
/// `close` after it (the elements searched for do not nest).
fn elements<'a>(dom: &'a str, open: &str, close: &str) -> Vec<&'a str> {
    let mut found = Vec::new();
    let mut rest = dom;
    while let Some(start) = rest.find(open) {
        let element = &rest[start..];
        let end = element
            .find(close)
            .map_or(element.len(), |e| e + close.len());
        found.push(&element[..end]);
        rest = &element[end..];
    }
    found
}

/// The text of the first `<td class="{class}"` cell of a table row.
fn cell(row: &str, class: &str) -> String {
    elements(row, &format!("<td class=\"{class}\""), "</td>")
        .first()
        .map_or_else(String::new, |td| html_text(td))
}

/// `H:MM:SS` (a channel's duration).
fn is_duration(text: &str) -> bool {
    let parts: Vec<&str> = text.split(':').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && parts[1].len() == 2
        && parts[2].len() == 2
}

/// `HH:MM:SS.mmm` (a log entry's time).
fn is_clock(text: &str) -> bool {
    text.len() == 12
        && text.bytes().enumerate().all(|(i, b)| match i {
            2 | 5 => b == b':',
            8 => b == b'.',
            _ => b.is_ascii_digit(),
        })
}

/// A PNG's width and height, from its IHDR chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    assert_eq!(&png[12..16], b"IHDR");
    let width = u32::from_be_bytes(png[16..20].try_into().expect("width"));
    let height = u32::from_be_bytes(png[20..24].try_into().expect("height"));
    (width, height)
}

/// The screenshot in the README, relative to the workspace root.
const SCREENSHOT: &str = "docs/img/console.png";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("workspace root")
        .to_path_buf()
}

/// The console, loaded in headless Chromium from the real `ami gateway --sim`: after its
/// JavaScript ran, the DOM shows the server connected; the channel table with live durations,
/// applications and caller names ("Alice <100>", from a call the test originates); and the
/// event log, each entry with its arrival time, a one-line summary and the full JSON behind a
/// <details>, with Pause and Clear buttons. The 1280x800 screenshot is a real, non-blank PNG;
/// `AMIKIT_BLESS=1` writes it to docs/img/console.png for the README.
#[test]
fn console_in_headless_chromium() {
    let Some(binary) = chromium_or_skip("console_in_headless_chromium") else {
        return;
    };
    let gateway = Running::start(Some("console-test-token"));
    let originate = |addr: &str, body: &str| {
        let (status, reply) = http(
            addr,
            "POST",
            "/v1/servers/sim/actions/Originate",
            Some("console-test-token"),
            body,
        );
        assert_eq!(status, 200, "{reply}");
    };
    // A long call with a caller name for the channel table (Local/900 dials Local/800, whose
    // second half then has Alice's number as its connected line).
    originate(
        &gateway.addr,
        r#"{"Channel": "Local/900@demo", "Application": "Wait", "Data": "120",
            "CallerID": "Alice <100>", "Async": "true"}"#,
    );
    // Events the page must show. Under --virtual-time-budget the page's clock runs far ahead
    // of the wall clock, so live arrival after load is a matter of luck; the console asks for
    // the recent backlog when it subscribes, so probes (and short calls from Bob) sent shortly
    // before and while it loads are in its log for certain.
    let stop = Arc::new(AtomicBool::new(false));
    let probes_sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let pumper = {
        let (addr, stop, sent) = (gateway.addr.clone(), stop.clone(), probes_sent.clone());
        std::thread::spawn(move || {
            let mut round = 0;
            while !stop.load(Ordering::Relaxed) {
                let (status, body) = http(
                    &addr,
                    "POST",
                    "/v1/servers/sim/actions/UserEvent",
                    Some("console-test-token"),
                    r#"{"UserEvent": "ConsoleProbe"}"#,
                );
                assert_eq!(status, 200, "{body}");
                sent.fetch_add(1, Ordering::Relaxed);
                if round % 10 == 0 {
                    // A short call: its first half hangs up after 1 s, the pair with it.
                    originate(
                        &addr,
                        r#"{"Channel": "Local/500@demo", "Application": "Wait", "Data": "1",
                            "CallerID": "Bob <200>", "Async": "true"}"#,
                    );
                }
                round += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    // Enough probes for the log's 20 entries are in the gateway's backlog before the page
    // loads. Accepted is not enough: on a loaded machine the gateway's fan-out ran behind and
    // the backlog held 14 events and no probe. Its event counter is updated once the batch
    // holding them is in the backlog.
    let user_events = |metrics: &str| {
        metrics
            .lines()
            .find_map(|line| {
                line.strip_prefix("ami_gateway_events_total{server=\"sim\",event=\"UserEvent\"} ")
            })
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (_, metrics) = http(&gateway.addr, "GET", "/metrics", None, "");
        let seen = user_events(&metrics);
        if seen >= 25 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the gateway saw only {seen} probes in 60 s ({} accepted)",
            probes_sent.load(Ordering::Relaxed)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let dir = std::env::temp_dir().join(format!("ami-gateway-chromium-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let url = format!("http://{}/#token=console-test-token", gateway.addr);
    let dom = chromium(
        &binary,
        &dir.join("profile-dom"),
        &["--virtual-time-budget=10000", "--dump-dom"],
        &url,
    );
    let screenshot = dir.join("console.png");
    chromium(
        &binary,
        &dir.join("profile-shot"),
        &[
            "--virtual-time-budget=10000",
            "--window-size=1280,800",
            "--hide-scrollbars",
            &format!("--screenshot={}", screenshot.display()),
        ],
        &url,
    );
    stop.store(true, Ordering::Relaxed);
    pumper.join().expect("the probes were accepted");

    assert!(
        dom.contains("class=\"status connected\""),
        "status not connected:\n{dom}"
    );
    assert!(dom.contains("id=\"action-form\""), "{dom}");
    assert!(
        !dom.contains("console-test-token"),
        "the token is not left in the page"
    );

    // The channel table.
    let head = elements(&dom, "<thead>", "</thead>");
    let columns: Vec<String> = elements(head.first().expect("a table head"), "<th", "</th>")
        .into_iter()
        .map(html_text)
        .collect();
    for column in [
        "Channel",
        "State",
        "Duration",
        "Caller",
        "Connected",
        "Application",
    ] {
        assert!(
            columns.iter().any(|c| c == column),
            "column {column} in {columns:?}"
        );
    }
    let rows = elements(&dom, "<tr data-channel=\"", "</tr>");
    assert!(
        rows.len() >= 2,
        "the demo calls' channels are listed ({} rows):\n{dom}",
        rows.len()
    );
    for row in &rows {
        let duration = cell(row, "duration");
        assert!(is_duration(&duration), "duration {duration:?} in {row}");
    }
    let alice: Vec<&&str> = rows
        .iter()
        .filter(|row| cell(row, "caller") == "Alice <100>")
        .collect();
    assert!(
        !alice.is_empty(),
        "the caller's name and number are shown:\n{rows:#?}"
    );
    for row in &alice {
        let application = cell(row, "application");
        assert!(
            application.len() > 2 && application.ends_with(')') && application.contains('('),
            "Application(data) {application:?} in {row}"
        );
        assert!(cell(row, "channel").starts_with("Local/900@demo-"), "{row}");
        assert_eq!(cell(row, "state"), "Up", "{row}");
    }
    assert!(
        rows.iter().any(|row| cell(row, "connected") == "100"),
        "the dialled half of Alice's call shows her number as its connected line:\n{rows:#?}"
    );

    // Calls grouped by bridge: Alice's call is bridged (Local/900 dials Local/800).
    let groups: Vec<String> = elements(&dom, "<tr class=\"group", "</tr>")
        .into_iter()
        .map(html_text)
        .collect();
    assert!(
        groups.iter().any(|g| g.starts_with("bridge ")),
        "a bridge group: {groups:?}"
    );
    // The queue panel, from the state: the demo queue with its two members.
    let queues = elements(
        &dom,
        "<div class=\"queue\" data-queue=\"support\"",
        "</table></div>",
    );
    let queue = queues
        .first()
        .unwrap_or_else(|| panic!("the support queue:\n{dom}"));
    assert_eq!(
        elements(queue, "<tr data-member=", "</tr>").len(),
        2,
        "its members: {queue}"
    );

    // The event log.
    let entries = elements(&dom, "<li class=\"event\"", "</li>");
    assert!(entries.len() >= 20, "events reached the log:\n{dom}");
    let mut summaries = Vec::new();
    for entry in &entries {
        let summary = elements(entry, "<summary>", "</summary>");
        let summary = html_text(
            summary
                .first()
                .unwrap_or_else(|| panic!("summary in {entry}")),
        );
        let (time, _) = summary.split_once(' ').expect("time, then the summary");
        assert!(is_clock(time), "HH:MM:SS.mmm, not {time:?}, in {entry}");
        let json = elements(entry, "<pre class=\"json\">", "</pre>");
        let json = html_text(json.first().unwrap_or_else(|| panic!("JSON in {entry}")));
        let event: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
        let name = event["Event"].as_str().expect("Event");
        assert!(
            summary[time.len()..].trim_start().starts_with(name),
            "the summary starts with the event name: {summary}"
        );
        assert!(
            entry.contains("<details>"),
            "the JSON is behind <details>: {entry}"
        );
        summaries.push(summary);
    }
    let has = |needles: &[&str]| {
        summaries
            .iter()
            .any(|summary| needles.iter().all(|needle| summary.contains(needle)))
    };
    assert!(
        has(&["UserEvent ConsoleProbe"]),
        "a probe summarized:\n{summaries:#?}"
    );
    assert!(
        has(&["Local/500@demo-", "caller Bob <200>"]),
        "a channel and caller in a summary:\n{summaries:#?}"
    );
    assert!(
        has(&["Newexten Local/", "app "]),
        "a dialplan step with its application:\n{summaries:#?}"
    );
    assert!(
        has(&["Hangup Local/", "cause Normal Clearing"]),
        "a hangup with its cause:\n{summaries:#?}"
    );
    assert!(
        dom.contains("subscribed to sim"),
        "the stream said hello:\n{dom}"
    );
    for (id, label) in [("log-pause", "Pause"), ("log-clear", "Clear")] {
        let button = elements(&dom, &format!("<button id=\"{id}\""), "</button>");
        assert_eq!(
            button.first().map(|b| html_text(b)).as_deref(),
            Some(label),
            "the {label} button"
        );
    }

    let png = std::fs::read(&screenshot).expect("screenshot written");
    assert_eq!(png_size(&png), (1280, 800));
    // A blank 1280x800 page compresses to a few KB; the console with its tables is far more.
    assert!(
        png.len() > 20_000,
        "the screenshot looks blank ({} bytes)",
        png.len()
    );
    let committed = workspace_root().join(SCREENSHOT);
    if std::env::var_os("AMIKIT_BLESS").is_some_and(|value| value == "1") {
        std::fs::create_dir_all(committed.parent().expect("docs/img")).expect("docs/img");
        std::fs::write(&committed, &png).expect("write the README's screenshot");
    }
    let _ = std::fs::remove_dir_all(&dir);
    let (exit, _) = gateway.stop();
    assert!(exit.success());
}

/// The README's screenshot of the console is there, a 1280x800 PNG (`AMIKIT_BLESS=1 cargo test
/// -p ami-cli --test it console_in_headless_chromium` retakes it).
#[test]
fn gateway_console_screenshot_is_committed() {
    let png = std::fs::read(workspace_root().join(SCREENSHOT)).expect(SCREENSHOT);
    assert_eq!(png_size(&png), (1280, 800));
    assert!(png.len() > 20_000, "{SCREENSHOT} looks blank");
}

/// The console's log and table logic, driven with fixed events: its index.html, console.js and
/// console.css copied to a directory with tests/it/console_harness.js added after console.js,
/// opened from the file in headless Chromium (no gateway: without a token the page does not
/// connect). The harness writes what the page showed as JSON into the DOM.
#[test]
fn console_log_and_table_logic_in_headless_chromium() {
    let Some(binary) = chromium_or_skip("console_log_and_table_logic_in_headless_chromium") else {
        return;
    };
    let source = workspace_root().join("crates/ami-gateway/src/console");
    let dir = std::env::temp_dir().join(format!("ami-console-harness-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    for file in ["console.js", "console.css"] {
        std::fs::copy(source.join(file), dir.join(file)).expect(file);
    }
    let index = std::fs::read_to_string(source.join("index.html")).expect("index.html");
    let script = "<script src=\"console.js\"></script>";
    assert!(index.contains(script), "{index}");
    let index = index.replace(
        script,
        &format!("{script}\n<script src=\"console_harness.js\"></script>"),
    );
    std::fs::write(dir.join("index.html"), index).expect("index.html");
    std::fs::write(
        dir.join("console_harness.js"),
        include_str!("console_harness.js"),
    )
    .expect("harness");
    let dom = chromium(
        &binary,
        &dir.join("profile"),
        &[
            "--virtual-time-budget=10000",
            "--allow-file-access-from-files",
            "--dump-dom",
        ],
        &format!("file://{}", dir.join("index.html").display()),
    );
    let _ = std::fs::remove_dir_all(&dir);
    let results = elements(&dom, "<pre id=\"harness-results\">", "</pre>");
    let results = html_text(
        results
            .first()
            .unwrap_or_else(|| panic!("no results:\n{dom}")),
    );
    let r: Value = serde_json::from_str(&results).unwrap_or_else(|e| panic!("{e}: {results}"));
    assert_eq!(
        r["error"],
        Value::Null,
        "the harness failed: {}",
        r["error"]
    );
    assert_eq!(r["done"], true, "the harness finished: {r}");

    // Summaries: time, event name, the headers that tell the story; "<unknown>" left out.
    let summaries: Vec<String> = r["summaries"]
        .as_array()
        .expect("summaries")
        .iter()
        .map(|s| {
            let s = s.as_str().expect("text");
            let (time, rest) = s.split_once(' ').expect("time first");
            assert!(is_clock(time), "{s}");
            rest.to_owned()
        })
        .collect();
    assert_eq!(
        summaries,
        [
            "Newchannel PJSIP/alice-00000001 Down caller Alice <100> exten 200@internal",
            "Newexten PJSIP/alice-00000001 Ring caller Alice <100> exten 200@internal \
             app Dial(PJSIP/bob,30)",
            "DialEnd PJSIP/alice-00000001 → PJSIP/bob-00000002 status ANSWER",
            "NewConnectedLine PJSIP/alice-00000001 connected Bob <200>",
            "Hangup PJSIP/bob-00000002 cause Normal Clearing",
            "QueueCallerJoin PJSIP/carol-00000003 caller 300 queue support",
            "OriginateResponse Local/300@demo app Wait(5) response Failure",
        ]
    );
    // The time is the local wall clock; the entry opens to the event's full JSON.
    let first = &r["first"];
    let time = first["time"].as_str().expect("time");
    assert!(
        time.starts_with(first["local"].as_str().expect("local")),
        "{first}"
    );
    assert_eq!(first["json"]["Event"], "Newchannel");
    assert_eq!(first["json"]["ConnectedLineName"], "<unknown>");
    assert_eq!(first["json"].as_object().map(|o| o.len()), Some(10));
    assert_eq!(first["open"], false, "closed until clicked");

    // The channel table, from the live state's messages: Duration from the model's time (or
    // when first seen), names with numbers, the connected line, Application(data); it follows
    // the updates.
    assert_eq!(
        r["columns"],
        serde_json::json!([
            "Channel",
            "State",
            "Duration",
            "Caller",
            "Connected",
            "Exten",
            "Application"
        ])
    );
    assert_eq!(
        r["rows"]["PJSIP/dave-00000004"],
        serde_json::json!([
            "PJSIP/dave-00000004",
            "Up",
            "0:01:05",
            "Dave <400>",
            "500",
            "500",
            "Queue(support,,,,30)"
        ])
    );
    assert_eq!(
        r["rows"]["PJSIP/alice-00000001"],
        serde_json::json!([
            "PJSIP/alice-00000001",
            "Ring",
            "0:00:00",
            "Alice <100>",
            "Bob <200>",
            "200",
            "Dial(PJSIP/bob,30)"
        ])
    );
    assert!(
        r["rows"]["PJSIP/bob-00000002"].is_null(),
        "a channel never seen created is not added by its hangup"
    );
    // Calls grouped by bridge, newest first: Alice's call, in no bridge yet, then Dave's
    // bridge.
    assert_eq!(
        r["groups"],
        serde_json::json!(["call 1.1, not bridged", "bridge b-1 (basic)"]),
        "{r}"
    );
    // The queue panel: callers with their wait, members with status, pause and calls.
    assert_eq!(
        r["queues"],
        serde_json::json!([{
            "title": "support ringall · 1 waiting · 2 members · 1 paused",
            "callers": [["1", "Carol <300>", "PJSIP/carol-00000003", "0:00:00"]],
            "members": [
                ["Erin", "PJSIP/erin", "not in use", "paused (lunch)", "3", ""],
                ["Fred", "PJSIP/fred", "in use", "", "5", "yes"]
            ]
        }]),
        "{r}"
    );
    // No agents in the state: the panel says so rather than inventing any.
    assert_eq!(r["agents"], "the gateway's state model keeps no agents");
    // 2.5 s later (more on a loaded machine: timers run late, never early) the durations have
    // ticked, both by the same amount (the ticker runs every second, from one clock).
    let seconds = |row: &str| {
        let text = r["later"][row][2].as_str().expect("later");
        let parts: Vec<u64> = text
            .split(':')
            .map(|part| part.parse().expect("h:mm:ss"))
            .collect();
        assert_eq!(parts.len(), 3, "{text}");
        parts[0] * 3600 + parts[1] * 60 + parts[2]
    };
    let (dave, alice) = (
        seconds("PJSIP/dave-00000004"),
        seconds("PJSIP/alice-00000001"),
    );
    assert!(dave >= 66, "ticked from 0:01:05 to {dave} s");
    assert!(alice >= 1, "ticked from 0:00:00 to {alice} s");
    assert!(
        (dave - 65).abs_diff(alice) <= 1,
        "both tick from one clock: {dave} s and {alice} s"
    );

    // Pause counts what arrives without showing it; resume shows it; the filter; clear.
    assert_eq!(
        r["paused"],
        serde_json::json!({
            "button": "Resume (2 new)",
            "pressed": "true",
            "entries": 7,
            "shown": "7",
            "shownBefore": "7"
        })
    );
    assert_eq!(r["resumed"]["button"], "Pause");
    assert_eq!(r["resumed"]["entries"], 9);
    assert!(
        r["resumed"]["newest"]
            .as_str()
            .is_some_and(|s| s.ends_with(" UserEvent WhilePaused2")),
        "{}",
        r["resumed"]
    );
    assert_eq!(
        r["filtered"],
        serde_json::json!({"shown": "2", "visible": 2})
    );
    assert_eq!(
        r["cleared"],
        serde_json::json!({"entries": 0, "shown": "0"})
    );
    // The bound: of 1200 events the newest 1000 stay.
    assert_eq!(r["bounded"]["entries"], 1000);
    assert!(
        r["bounded"]["newest"]
            .as_str()
            .is_some_and(|s| s.ends_with(" UserEvent Flood1199")),
        "{}",
        r["bounded"]
    );
    assert!(
        r["bounded"]["oldest"]
            .as_str()
            .is_some_and(|s| s.ends_with(" UserEvent Flood200")),
        "{}",
        r["bounded"]
    );
}

/// `--sim --config FILE`: the file needs no [[servers]] of its own, and its tokens may name
/// the simulator `sim`.
#[test]
fn config_file_whose_tokens_name_the_sim() {
    let dir = std::env::temp_dir().join(format!("ami-gateway-simonly-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        "[[tokens]]\nname = \"ops\"\n\
         sha256 = \"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"\n\
         servers = [\"sim\"]\nactions = { allow = [\"*\"] }\n",
    )
    .expect("config");
    let gateway = Running::start_with(
        &["--config", config.to_str().expect("path")],
        &[],
        None,
        Some("test"),
    );
    let (status, body) = gateway.request("GET", "/v1/servers", Some("test"), "");
    assert_eq!(status, 200, "{body}");
    let servers: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(servers["servers"][0]["name"], "sim", "{body}");
    let (exit, _) = gateway.stop();
    assert!(exit.success());
    let _ = std::fs::remove_dir_all(dir);
}

/// A flood of bad tokens is counted one by one but logged a line at a time per interval, not
/// a line per request.
#[test]
fn a_flood_of_bad_tokens_is_counted_but_logged_in_aggregate() {
    let gateway = Running::start(Some("flood-test-token"));
    for i in 0..300 {
        let (status, _) = gateway.request("GET", "/v1/servers", Some(&format!("wrong-{i}")), "");
        assert_eq!(status, 401);
    }
    let (_, metrics) = gateway.request("GET", "/metrics", None, "");
    assert!(
        metrics.contains("ami_gateway_denied_requests_total{reason=\"unauthorized\"} 300"),
        "{metrics}"
    );
    let (exit, log) = gateway.stop();
    assert!(exit.success());
    let lines = log.matches("request denied (401)").count();
    assert!(
        (1..=3).contains(&lines),
        "{lines} lines for 300 denials:\n{log}"
    );
    assert!(
        !log.contains("wrong-"),
        "presented tokens never reach the log"
    );
}
