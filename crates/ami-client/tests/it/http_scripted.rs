//! AMI over HTTP against a scripted `/rawman` server that keeps sessions by cookie as Asterisk
//! does (one request per connection, `Connection: close`, as 11 and 1.8 answer), for the
//! client's side of the exchange: the parameters it sends, the cookie, a new login when the
//! server forgets the session, events through WaitEvent.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ami_client::{Action, Client, Config, ConnectionState, EventItem, Events, Reply, Subscription};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One request as the server read it.
#[derive(Debug, Clone)]
struct Request {
    params: Vec<(String, String)>,
    cookie: Option<String>,
}

impl Request {
    fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Server {
    /// Session id -> logged in.
    sessions: Mutex<HashMap<String, bool>>,
    next: AtomicU32,
    /// Events waiting for the next WaitEvent, as written.
    events: Mutex<VecDeque<String>>,
    log: Mutex<Vec<Request>>,
    /// Forget every session before the next request (a timeout or a restart).
    forget: AtomicBool,
    /// Hold each Ping's answer this many milliseconds (so concurrent ones overlap).
    ping_delay_ms: AtomicU32,
    /// Connections open now, and the most at once.
    open: AtomicU32,
    peak_open: AtomicU32,
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("hex");
            out.push(u8::from_str_radix(hex, 16).expect("hex"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("utf-8")
}

impl Server {
    async fn start() -> (Arc<Self>, u16) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = Arc::new(Self::default());
        let serving = server.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let server = serving.clone();
                let now = server.open.fetch_add(1, Ordering::SeqCst) + 1;
                server.peak_open.fetch_max(now, Ordering::SeqCst);
                tokio::spawn(async move {
                    let _closed = Closed(server.clone());
                    let mut head = Vec::new();
                    while !head.ends_with(b"\r\n\r\n") {
                        let mut byte = [0u8; 1];
                        if stream.read(&mut byte).await.unwrap_or(0) == 0 {
                            return;
                        }
                        head.push(byte[0]);
                    }
                    let head = String::from_utf8(head).expect("head");
                    let (cookie, body) = server.answer(&head).await;
                    let response = format!(
                        "HTTP/1.1 200 OK\r\nServer: Asterisk/1.8.32.3\r\nConnection: close\r\n\
                         Content-Length: {}\r\nContent-type: text/plain\r\n\
                         Set-Cookie: mansession_id=\"{cookie}\"; Version=1; Max-Age=60\r\n\
                         Pragma: SuppressEvents\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                });
            }
        });
        (server, port)
    }

    async fn answer(&self, head: &str) -> (String, String) {
        let delay = self.ping_delay_ms.load(Ordering::SeqCst);
        if delay > 0 && head.to_ascii_lowercase().contains("action=ping") {
            tokio::time::sleep(Duration::from_millis(delay.into())).await;
        }
        let target = head.split(' ').nth(1).expect("target");
        let (path, query) = target.split_once('?').expect("a query");
        assert_eq!(path, "/rawman");
        let params: Vec<(String, String)> = query
            .split('&')
            .map(|pair| {
                let (name, value) = pair.split_once('=').expect("name=value");
                (decode(name), decode(value))
            })
            .collect();
        let cookie = head
            .lines()
            .filter_map(|line| line.split_once(':'))
            .find(|(name, _)| name.eq_ignore_ascii_case("Cookie"))
            .and_then(|(_, value)| value.trim().strip_prefix("mansession_id=\""))
            .map(|rest| rest.trim_end_matches('"').to_owned());
        let request = Request { params, cookie };
        self.log.lock().expect("log").push(request.clone());
        if self.forget.swap(false, Ordering::SeqCst) {
            self.sessions.lock().expect("sessions").clear();
        }
        let known = request
            .cookie
            .clone()
            .filter(|c| self.sessions.lock().expect("sessions").contains_key(c));
        let session = known.unwrap_or_else(|| {
            let id = format!("{:08x}", 0x1000 + self.next.fetch_add(1, Ordering::SeqCst));
            self.sessions
                .lock()
                .expect("sessions")
                .insert(id.clone(), false);
            id
        });
        let id = request
            .get("ActionID")
            .map(|id| format!("ActionID: {id}\r\n"))
            .unwrap_or_default();
        let action = request
            .get("action")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let logged_in = self.sessions.lock().expect("sessions")[&session];
        let body = match action.as_str() {
            "challenge" => format!("Response: Success\r\n{id}Challenge: 840198475\r\n\r\n"),
            "login" => {
                let md5_ok = request.get("Key") == Some(&md5_hex("840198475amp111"));
                if request.get("Username") == Some("admin")
                    && (request.get("Secret") == Some("amp111") || md5_ok)
                {
                    self.sessions
                        .lock()
                        .expect("sessions")
                        .insert(session.clone(), true);
                    format!("Response: Success\r\n{id}Message: Authentication accepted\r\n\r\n")
                } else {
                    format!("Response: Error\r\n{id}Message: Authentication failed\r\n\r\n")
                }
            }
            _ if !logged_in => format!("Response: Error\r\n{id}Message: Permission denied\r\n\r\n"),
            "ping" => format!("Response: Success\r\n{id}Ping: Pong\r\nTimestamp: 1.0\r\n\r\n"),
            "coresettings" => format!("Response: Success\r\n{id}AMIversion: 1.1\r\n\r\n"),
            "coreshowchannels" => format!(
                "Response: Success\r\n{id}EventList: start\r\nMessage: Channels will follow\r\n\r\n\
                 Event: CoreShowChannel\r\n{id}Channel: Local/300@demo-1;1\r\n\r\n\
                 Event: CoreShowChannel\r\n{id}Channel: Local/300@demo-1;2\r\n\r\n\
                 Event: CoreShowChannelsComplete\r\nEventList: Complete\r\nListItems: 2\r\n{id}\r\n"
            ),
            "command" => format!(
                "Response: Follows\r\nPrivilege: Command\r\n{id}System uptime: 4 minutes \n\
                 --END COMMAND--\r\n\r\n"
            ),
            "waitevent" => {
                let mut queued = String::new();
                for _ in 0..20 {
                    queued = self.events.lock().expect("events").drain(..).collect();
                    if !queued.is_empty() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                format!(
                    "Response: Success\r\n{id}Message: Waiting for Event completed.\r\n\r\n\
                     {queued}Event: WaitEventComplete\r\n{id}\r\n"
                )
            }
            "logoff" => format!("Response: Goodbye\r\n{id}Message: Thanks\r\n\r\n"),
            _ => format!("Response: Error\r\n{id}Message: Invalid/unknown command\r\n\r\n"),
        };
        (session, body)
    }

    fn requests(&self, action: &str) -> Vec<Request> {
        self.log
            .lock()
            .expect("log")
            .iter()
            .filter(|r| {
                r.get("action")
                    .is_some_and(|a| a.eq_ignore_ascii_case(action))
            })
            .cloned()
            .collect()
    }
}

/// Counts a connection closed when its task ends.
struct Closed(Arc<Server>);

impl Drop for Closed {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

fn md5_hex(text: &str) -> String {
    ami_proto::connection::md5_key(text, "")
}

fn config(port: u16) -> Config {
    Config::from_url(&format!("http://127.0.0.1:{port}"), "admin", "amp111")
        .expect("url")
        .keepalive(None)
        .action_id_prefix("t-")
}

async fn next_item(subscriber: &mut ami_client::Subscriber) -> EventItem {
    tokio::time::timeout(Duration::from_secs(5), subscriber.recv())
        .await
        .expect("an item within 5 s")
        .expect("subscriber open")
}

#[tokio::test]
async fn login_ping_list_command_and_parameters_over_http() {
    let (server, port) = Server::start().await;
    let client = Client::connect(config(port).events(Events::Off))
        .await
        .expect("connect");
    assert_eq!(client.ami_version(), "1.1", "from CoreSettings");
    let pong = client.ping().await.expect("ping");
    assert!(pong.value_is("Ping", "Pong"));
    let channels = client.core_show_channels().await.expect("list");
    assert_eq!(channels.items.len(), 2);
    let Reply::Command(output) = client
        .send(Action::new("Command").header("Command", "core show uptime"))
        .await
        .expect("command")
    else {
        panic!("not a Command reply")
    };
    assert_eq!(output.output.trim_end(), "System uptime: 4 minutes");
    // Repeated keys arrive as repeated parameters, in order, values intact.
    let _ = client
        .send(
            Action::new("UserEvent")
                .header("UserEvent", "x y+z")
                .header("Variable", "A=1")
                .header("Variable", "B=2&3"),
        )
        .await;
    let sent = server.requests("UserEvent");
    let variables: Vec<&str> = sent[0]
        .params
        .iter()
        .filter(|(n, _)| n == "Variable")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(variables, ["A=1", "B=2&3"]);
    assert_eq!(sent[0].get("UserEvent"), Some("x y+z"));
    // Every request after the login presents the login's session.
    let login = &server.requests("Login")[0];
    assert_eq!(login.get("Events"), Some("off"));
    let ping = &server.requests("Ping")[0];
    assert!(ping.cookie.is_some());
    client.close().await;
    assert_eq!(server.requests("Logoff").len(), 1, "close logs off");
}

#[tokio::test]
async fn md5_login_over_http_presents_the_challenge_session_and_never_the_secret() {
    let (server, port) = Server::start().await;
    let client = Client::connect(config(port).events(Events::Off).auth(ami_client::Auth::Md5))
        .await
        .expect("md5 login");
    client.ping().await.expect("ping");
    let challenge = &server.requests("Challenge")[0];
    let login = &server.requests("Login")[0];
    assert!(login.get("Secret").is_none());
    assert_eq!(login.get("AuthType"), Some("MD5"));
    assert!(challenge.cookie.is_none());
    assert!(
        login.cookie.is_some(),
        "the login goes on the challenge's session"
    );
    client.close().await;
}

#[tokio::test]
async fn a_refused_login_is_auth_failed() {
    let (_server, port) = Server::start().await;
    let config = Config::from_url(&format!("http://127.0.0.1:{port}/"), "admin", "nope")
        .expect("url")
        .keepalive(None);
    let error = Client::connect(config).await.expect_err("refused");
    assert!(error.is_auth_failed(), "{error}");
    assert_eq!(error.server_message(), Some("Authentication failed"));
}

#[tokio::test]
async fn a_forgotten_session_logs_in_again_and_the_action_still_answers() {
    let (server, port) = Server::start().await;
    let client = Client::connect(config(port).events(Events::Off))
        .await
        .expect("connect");
    let mut states = client.subscribe(Subscription::all());
    server.forget.store(true, Ordering::SeqCst);
    let pong = client.ping().await.expect("ping after a new login");
    assert!(pong.value_is("Ping", "Pong"));
    assert_eq!(server.requests("Login").len(), 2);
    assert!(matches!(
        next_item(&mut states).await,
        EventItem::Connection(ConnectionState::Disconnected { .. })
    ));
    assert!(matches!(
        next_item(&mut states).await,
        EventItem::Connection(ConnectionState::Connected { .. })
    ));
    assert_eq!(client.metrics().reconnects, 1);
    client.close().await;
}

#[tokio::test]
async fn events_arrive_through_waitevent_in_order() {
    let (server, port) = Server::start().await;
    let client = Client::connect(config(port)).await.expect("connect");
    let mut hangups = client.subscribe(Subscription::all().events(["Hangup"]));
    server.events.lock().expect("events").extend([
        "Event: Newchannel\r\nChannel: A\r\n\r\n".to_owned(),
        "Event: Hangup\r\nChannel: A\r\n\r\n".to_owned(),
        "Event: Hangup\r\nChannel: B\r\n\r\n".to_owned(),
    ]);
    let mut channels = Vec::new();
    while channels.len() < 2 {
        if let EventItem::Event(event) = next_item(&mut hangups).await {
            channels.push(event.message().get("Channel").map(|c| c.into_owned()));
        }
    }
    assert_eq!(channels, [Some("A".to_owned()), Some("B".to_owned())]);
    assert!(!server.requests("WaitEvent").is_empty());
    client.close().await;
}

#[tokio::test]
async fn concurrent_actions_open_no_more_connections_than_asterisks_listen_backlog() {
    // Asterisk's HTTP server listens with a backlog of 10: 100 Pings in flight, each on a new
    // connection, overflowed it on the live 22 (SYN retries, p99 4.3 s). The client keeps at
    // most 8 requests in progress; the others wait their turn and all are answered.
    let (server, port) = Server::start().await;
    let client = Client::connect(config(port).events(Events::Off))
        .await
        .expect("connect");
    server.ping_delay_ms.store(30, Ordering::SeqCst);
    server.peak_open.store(0, Ordering::SeqCst);
    let pings: Vec<_> = (0..40)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.ping().await })
        })
        .collect();
    for ping in pings {
        let pong = ping.await.expect("task").expect("ping");
        assert!(pong.value_is("Ping", "Pong"));
    }
    let peak = server.peak_open.load(Ordering::SeqCst);
    assert!((2..=8).contains(&peak), "{peak} connections open at once");
    client.close().await;
}
