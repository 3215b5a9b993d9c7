//! AMI over HTTP: every `http_*` recording's request replayed against the simulator running
//! the same version, and the answers compared byte by byte once the volatile values (dates,
//! cookies, timestamps, uptimes, addresses, channel details) are masked.

use std::path::PathBuf;
use std::time::Duration;

use ami_sim::{Profile, SimConfig, SimHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn fixture(version: &str, scenario: &str, ext: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(version)
        .join(format!("{scenario}.{ext}"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub async fn spawn_http(profile: Profile, timeout: Duration) -> SimHandle {
    ami_sim::spawn(SimConfig {
        profile,
        auth_fail_delay: Duration::from_millis(20),
        http_listen: Some(([127, 0, 0, 1], 0).into()),
        http_timeout: timeout,
        ..SimConfig::default()
    })
    .await
    .expect("spawn")
}

/// Writes one raw request and reads the answer until the server closes.
pub async fn exchange(sim: &SimHandle, request: &[u8]) -> Vec<u8> {
    let addr = sim.http_addr().expect("http address");
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("answer within 10 s")
        .expect("read");
    answer
}

/// `request` with its `mansession_id` cookie set to `cookie` (or the Cookie line removed).
fn with_cookie(request: &[u8], cookie: Option<&str>) -> Vec<u8> {
    let text = String::from_utf8_lossy(request);
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        if line.starts_with("Cookie: mansession_id=") {
            if let Some(cookie) = cookie {
                out.push_str(&format!("Cookie: mansession_id=\"{cookie}\"\r\n"));
            }
        } else {
            out.push_str(line);
        }
    }
    out.into_bytes()
}

/// The cookie an answer set.
pub fn cookie_of(answer: &[u8]) -> String {
    let text = String::from_utf8_lossy(answer);
    let start = text.find("mansession_id=\"").expect("Set-Cookie") + "mansession_id=\"".len();
    text[start..start + 8].to_owned()
}

/// Names whose values change from run to run.
const VOLATILE: &[&str] = &[
    "Timestamp",
    "System uptime",
    "Last reload",
    "EventTV",
    "SessionTV",
    "SessionID",
    "LocalAddress",
    "RemoteAddress",
];

/// Fields of list items whose values depend on the calls up (masked in CoreShowChannel).
fn mask_all_values(packet_event: &str) -> bool {
    packet_event == "CoreShowChannel"
}

/// Masks a value but keeps its trailing blanks (1.8 ends uptime lines with a space).
fn mask(value: &str) -> String {
    let kept = value.len() - value.trim_end().len();
    format!("*{}", &value[value.len() - kept..])
}

/// The answer with its volatile parts masked: the Date, the cookie, the Content-Length (after
/// checking it), and the values named in [`VOLATILE`] in AMI, XML and HTML bodies.
pub fn normalise(answer: &[u8]) -> String {
    let text = String::from_utf8_lossy(answer);
    let split = text.find("\r\n\r\n").expect("head") + 4;
    let (head, body) = text.split_at(split);
    let mut out = String::new();
    for line in head.split_inclusive("\r\n") {
        if line.starts_with("Date: ") {
            out.push_str("Date: *\r\n");
        } else if let Some(length) = line.strip_prefix("Content-Length: ") {
            assert_eq!(
                length.trim().parse::<usize>().ok(),
                Some(body.len()),
                "Content-Length"
            );
            out.push_str("Content-Length: *\r\n");
        } else if line.starts_with("Set-Cookie: mansession_id=\"") {
            out.push_str(&format!("Set-Cookie: mansession_id=\"*{}", &line[35..]));
        } else {
            out.push_str(line);
        }
    }
    let mut event = String::new();
    for line in body.split_inclusive('\n') {
        let content = line.trim_end_matches(['\r', '\n']);
        let ending = &line[content.len()..];
        if content.is_empty() {
            event.clear();
        }
        if let Some(name) = content.strip_prefix("Event: ") {
            event = name.to_owned();
        }
        let masked = if let Some((name, value)) = content.split_once(": ") {
            let all = mask_all_values(&event) && !["Event", "ActionID"].contains(&name);
            if all || VOLATILE.contains(&name) {
                format!("{name}: {}", mask(value))
            } else if let Some((inner, value)) = value
                .split_once(": ")
                .filter(|(inner, _)| name == "Output" && VOLATILE.contains(inner))
            {
                // Modern Command output: `Output: System uptime: ...`.
                format!("{name}: {inner}: {}", mask(value))
            } else {
                content.to_owned()
            }
        } else {
            content.to_owned()
        };
        out.push_str(&mask_markup(&masked));
        out.push_str(ending);
    }
    out
}

/// Volatile values inside `/manager` rows and `/mxml` attributes.
fn mask_markup(line: &str) -> String {
    let mut line = line.to_owned();
    for name in VOLATILE {
        let row = format!("<tr><td>{name}</td><td>");
        if let Some(start) = line.find(&row).map(|at| at + row.len()) {
            if let Some(end) = line[start..].find("</td>").map(|at| at + start) {
                line.replace_range(start..end, "*");
            }
        }
        let attr = format!(" {}='", name.to_ascii_lowercase());
        if let Some(start) = line.find(&attr).map(|at| at + attr.len()) {
            if let Some(end) = line[start..].find('\'').map(|at| at + start) {
                line.replace_range(start..end, "*");
            }
        }
    }
    line
}

/// Replays `scenario`'s request (with `cookie`) and compares the normalised answers.
async fn check(sim: &SimHandle, version: &str, scenario: &str, cookie: Option<&str>) -> Vec<u8> {
    let sent = with_cookie(&fixture(version, scenario, "sent"), cookie);
    let recorded = fixture(version, scenario, "recv");
    let ours = exchange(sim, &sent).await;
    let (want, got) = (normalise(&recorded), normalise(&ours));
    assert!(
        want == got,
        "{version}/{scenario} differs\n--- recorded:\n{want}\n--- simulator:\n{got}"
    );
    ours
}

async fn replay_all(version: &str) {
    let profile: Profile = version.parse().expect("profile");
    let sim = spawn_http(profile, Duration::from_secs(60)).await;
    let login = check(&sim, version, "http_rawman_login", None).await;
    let id = cookie_of(&login);
    let cookie = Some(id.as_str());
    // WaitEvent first: the recording's only held event is the login's own SuccessfulAuth (13
    // and newer; 11 and 1.8 have none and wait out the 2 s Timeout).
    check(&sim, version, "http_rawman_waitevent", cookie).await;
    check(&sim, version, "http_rawman_ping", cookie).await;
    check(&sim, version, "http_rawman_command", cookie).await;
    check(&sim, version, "http_mxml_ping", cookie).await;
    check(&sim, version, "http_manager_ping", cookie).await;
    check(&sim, version, "http_rawman_no_session", None).await;
    check(&sim, version, "http_rawman_bad_login", None).await;
    // The recorded list had one Local/300 call up: two channels.
    let originate = format!(
        "GET /rawman?action=originate&channel=Local/300@demo&application=Wait&data=60 HTTP/1.1\r\n\
         Connection: close\r\nCookie: mansession_id=\"{}\"\r\n\r\n",
        id
    );
    let answer = exchange(&sim, originate.as_bytes()).await;
    assert!(
        String::from_utf8_lossy(&answer).contains("Response: Success"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    check(&sim, version, "http_rawman_coreshowchannels", cookie).await;
    sim.shutdown().await;
}

#[tokio::test]
async fn recordings_22() {
    replay_all("22").await;
}

#[tokio::test]
async fn recordings_13() {
    replay_all("13").await;
}

#[tokio::test]
async fn recordings_11() {
    replay_all("11").await;
}

#[tokio::test]
async fn recordings_18() {
    replay_all("1.8").await;
}

/// One GET on its own connection: the answer's body and its cookie.
async fn get(sim: &SimHandle, target: &str, cookie: Option<&str>) -> (String, String) {
    let cookie = cookie
        .map(|c| format!("Cookie: mansession_id=\"{c}\"\r\n"))
        .unwrap_or_default();
    let request =
        format!("GET {target} HTTP/1.1\r\nHost: sim\r\nConnection: close\r\n{cookie}\r\n");
    let answer = exchange(sim, request.as_bytes()).await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (body, cookie_of(&answer))
}

async fn login(sim: &SimHandle, user: &str, secret: &str) -> String {
    let (body, cookie) = get(
        sim,
        &format!("/rawman?action=login&username={user}&secret={secret}"),
        None,
    )
    .await;
    assert!(body.contains("Authentication accepted"), "{body}");
    cookie
}

#[tokio::test]
async fn wait_event_blocks_until_a_call_makes_events() {
    let sim = spawn_http(Profile::V22, Duration::from_secs(60)).await;
    let cookie = login(&sim, "admin", "amp111").await;
    // The login's own SuccessfulAuth is waiting: this one answers at once.
    let (first, _) = get(&sim, "/rawman?action=waitevent&timeout=0", Some(&cookie)).await;
    assert!(first.contains("Event: SuccessfulAuth"), "{first}");
    let started = std::time::Instant::now();
    let waiting = {
        let addr_cookie = cookie.clone();
        let sim_ref = &sim;
        async move {
            get(
                sim_ref,
                "/rawman?action=waitevent&timeout=20&actionid=w2",
                Some(&addr_cookie),
            )
            .await
        }
    };
    let originate = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        get(
            &sim,
            "/rawman?action=originate&channel=Local/300@demo&application=Wait&data=5&async=true",
            Some(&cookie),
        )
        .await
    };
    let ((events, _), (originated, _)) = tokio::join!(waiting, originate);
    assert!(originated.contains("Response: Success"), "{originated}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "WaitEvent answered once events came, not at its timeout"
    );
    assert!(
        events.starts_with(
            "Response: Success\r\nActionID: w2\r\nMessage: Waiting for Event completed.\r\n\r\n"
        ),
        "{events}"
    );
    assert!(events.contains("Event: Newchannel\r\n"), "{events}");
    assert!(
        events.ends_with("Event: WaitEventComplete\r\nActionID: w2\r\n\r\n"),
        "{events}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn wait_event_with_nothing_to_say_waits_out_its_timeout() {
    let sim = spawn_http(Profile::V11, Duration::from_secs(60)).await;
    let cookie = login(&sim, "admin", "amp111").await;
    let started = std::time::Instant::now();
    let (body, _) = get(&sim, "/rawman?action=waitevent&timeout=1", Some(&cookie)).await;
    assert!(started.elapsed() >= Duration::from_millis(950));
    assert_eq!(
        body,
        "Response: Success\r\nMessage: Waiting for Event completed.\r\n\r\nEvent: WaitEventComplete\r\n\r\n"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_newer_wait_event_makes_the_older_give_up_empty() {
    let sim = spawn_http(Profile::V11, Duration::from_secs(60)).await;
    let cookie = login(&sim, "admin", "amp111").await;
    let started = std::time::Instant::now();
    let older = get(&sim, "/rawman?action=waitevent&timeout=30", Some(&cookie));
    let newer = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        get(&sim, "/rawman?action=waitevent&timeout=1", Some(&cookie)).await
    };
    let ((older, _), (newer, _)) = tokio::join!(older, newer);
    assert_eq!(older, "", "the abandoned WaitEvent answers nothing");
    assert!(
        newer.ends_with("Event: WaitEventComplete\r\n\r\n"),
        "{newer}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    sim.shutdown().await;
}

#[tokio::test]
async fn sessions_time_out_and_end_with_logoff() {
    let sim = spawn_http(Profile::V13, Duration::from_secs(1)).await;
    let cookie = login(&sim, "admin", "amp111").await;
    let (body, same) = get(&sim, "/rawman?action=ping", Some(&cookie)).await;
    assert!(body.contains("Ping: Pong"), "{body}");
    assert_eq!(same, cookie);
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let (body, fresh) = get(&sim, "/rawman?action=ping", Some(&cookie)).await;
    assert_eq!(
        body,
        "Response: Error\r\nMessage: Permission denied\r\n\r\n"
    );
    assert_ne!(
        fresh, cookie,
        "an expired session's cookie starts a new one"
    );

    let cookie = login(&sim, "admin", "amp111").await;
    let (body, _) = get(&sim, "/rawman?action=logoff", Some(&cookie)).await;
    assert_eq!(
        body,
        "Response: Goodbye\r\nMessage: Thanks for all the fish.\r\n\r\n"
    );
    let (body, _) = get(&sim, "/rawman?action=ping", Some(&cookie)).await;
    assert!(body.contains("Permission denied"), "{body}");
    sim.shutdown().await;
}

#[tokio::test]
async fn permissions_and_md5_login_are_the_tcp_sides() {
    let sim = spawn_http(Profile::V22, Duration::from_secs(60)).await;
    let cookie = login(&sim, "events", "events").await;
    let (body, _) = get(
        &sim,
        "/rawman?action=originate&channel=Local/300@demo&application=Wait",
        Some(&cookie),
    )
    .await;
    assert_eq!(
        body,
        "Response: Error\r\nMessage: Permission denied\r\n\r\n"
    );

    let (body, cookie) = get(&sim, "/rawman?action=challenge&authtype=md5", None).await;
    let challenge = body
        .lines()
        .find_map(|l| l.strip_prefix("Challenge: "))
        .expect("challenge")
        .to_owned();
    let key = ami_sim::md5_key(&challenge, "amp111");
    let (body, same) = get(
        &sim,
        &format!("/rawman?action=login&authtype=md5&username=admin&key={key}"),
        Some(&cookie),
    )
    .await;
    assert!(body.contains("Authentication accepted"), "{body}");
    assert_eq!(same, cookie);
    let (body, _) = get(&sim, "/rawman?action=nosuchaction", Some(&cookie)).await;
    assert!(
        body.contains("Invalid/unknown command: nosuchaction"),
        "{body}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn post_forms_and_keep_alive_as_each_version() {
    for (profile, kept) in [(Profile::V22, true), (Profile::V11, false)] {
        let sim = spawn_http(profile, Duration::from_secs(60)).await;
        let addr = sim.http_addr().expect("http");
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let form = "action=Login&username=admin&secret=amp111";
        let request = format!(
            "POST /rawman HTTP/1.1\r\nHost: sim\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\n\r\n{form}",
            form.len()
        );
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("answer")
            .expect("read");
        let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert!(answer.contains("Authentication accepted"), "{answer}");
        assert_eq!(
            answer.contains("Connection: close\r\n"),
            !kept,
            "{profile}: {answer}"
        );
        let cookie = cookie_of(answer.as_bytes());
        let again = format!(
            "GET /rawman?action=ping HTTP/1.1\r\nCookie: mansession_id=\"{cookie}\"\r\n\r\n"
        );
        let _ = stream.write_all(again.as_bytes()).await;
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut rest)).await;
        let rest = String::from_utf8_lossy(&rest);
        assert_eq!(rest.contains("Ping: Pong"), kept, "{profile}: {rest}");
        sim.shutdown().await;
    }
}
