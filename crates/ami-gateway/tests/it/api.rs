//! The JSON API: servers, actions, commands, health, access control, errors, reconnects.

use std::time::Duration;

use serde_json::json;

use crate::support::{ADMIN, Gateway, LIMITED, SLOW, metric, request};

#[tokio::test]
async fn health_ready_openapi_and_console_need_no_token() {
    let gateway = Gateway::start("").await;
    let health = gateway.get("/healthz", None).await;
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");
    let ready = gateway.get("/readyz", None).await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.json()["connected"], 1);
    let document = gateway.get("/v1/openapi.json", None).await;
    assert_eq!(document.status, 200);
    let document = document.json();
    assert_eq!(document["openapi"], "3.1.0");
    assert!(document["paths"]["/v1/servers/{name}/actions/{action}"]["post"].is_object());
    let console = gateway.get("/", None).await;
    assert_eq!(console.status, 200);
    assert!(console.body.contains("console.js"), "{}", console.body);
    let missing = gateway.get("/nope", None).await;
    assert_eq!(
        (missing.status, missing.code().as_str()),
        (404, "not_found")
    );
    let wrong_method = gateway.post("/healthz", None, "").await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.code(), "method_not_allowed");
    gateway.stop().await;
}

#[tokio::test]
async fn servers_list_state_version_and_uptime() {
    let gateway = Gateway::start("").await;
    let reply = gateway.get("/v1/servers", Some(ADMIN)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let servers = reply.json()["servers"].clone();
    assert_eq!(servers.as_array().map(Vec::len), Some(1));
    let sim = &servers[0];
    assert_eq!(sim["name"], "sim");
    assert_eq!(sim["state"], "connected");
    assert!(
        sim["ami_version"].as_str().is_some_and(|v| !v.is_empty()),
        "{sim}"
    );
    assert!(sim["uptime_seconds"].as_u64().is_some(), "{sim}");
    assert!(sim["connected_seconds"].as_u64().is_some(), "{sim}");
    gateway.stop().await;
}

#[tokio::test]
async fn actions_return_responses_and_collected_lists() {
    let gateway = Gateway::start("").await;
    let ping = gateway
        .post("/v1/servers/sim/actions/Ping", Some(ADMIN), "")
        .await;
    assert_eq!(ping.status, 200, "{}", ping.body);
    assert_eq!(ping.json()["response"]["Ping"], "Pong");

    let channels = gateway
        .post(
            "/v1/servers/sim/actions/CoreShowChannels",
            Some(LIMITED),
            "{}",
        )
        .await;
    assert_eq!(channels.status, 200, "{}", channels.body);
    let channels = channels.json();
    let items = channels["items"].as_array().expect("items");
    assert!(!items.is_empty(), "the demo calls are up: {channels}");
    assert!(items.iter().all(|i| i["Event"] == "CoreShowChannel"));
    assert_eq!(
        channels["complete"]["Event"], "CoreShowChannelsComplete",
        "{channels}"
    );

    // Repeated keys as arrays; the server's own error as 422 with its response.
    let setvar = gateway
        .post(
            "/v1/servers/sim/actions/UserEvent",
            Some(ADMIN),
            &json!({"UserEvent": "Test", "Extra": ["a", "b"], "Count": 3}).to_string(),
        )
        .await;
    assert_eq!(setvar.status, 200, "{}", setvar.body);
    let unknown = gateway
        .post("/v1/servers/sim/actions/Frobnicate", Some(ADMIN), "{}")
        .await;
    assert_eq!(unknown.status, 422, "{}", unknown.body);
    assert_eq!(unknown.code(), "action_failed");
    assert_eq!(unknown.json()["error"]["response"]["Response"], "Error");
    gateway.stop().await;
}

#[tokio::test]
async fn bad_requests_get_stable_400_bodies() {
    let gateway = Gateway::start("").await;
    let path = "/v1/servers/sim/actions/Ping";
    for (body, why) in [
        ("{nope", "bad JSON"),
        ("[1, 2]", "not an object"),
        (r#"{"Variable": null}"#, "null value"),
        (r#"{"ActionID": "mine"}"#, "ActionID"),
        (r#"{"Data": "a\r\nAction: Logoff"}"#, "line break"),
    ] {
        let reply = gateway.post(path, Some(ADMIN), body).await;
        assert_eq!(
            (reply.status, reply.code().as_str()),
            (400, "bad_request"),
            "{why}: {}",
            reply.body
        );
        assert!(
            !reply.body.contains("Logoff"),
            "never echoes values: {}",
            reply.body
        );
    }
    let bad_name = gateway
        .post("/v1/servers/sim/actions/Bad%20Name", Some(ADMIN), "")
        .await;
    assert_eq!(bad_name.status, 400, "{}", bad_name.body);
    let no_server = gateway
        .post("/v1/servers/nope/actions/Ping", Some(ADMIN), "")
        .await;
    assert_eq!(
        (no_server.status, no_server.code().as_str()),
        (404, "not_found")
    );
    gateway.stop().await;
}

#[tokio::test]
async fn command_returns_text_and_parsed_records() {
    let gateway = Gateway::start("").await;
    let reply = gateway
        .post(
            "/v1/servers/sim/command",
            Some(ADMIN),
            r#"{"command": "core show channels concise"}"#,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["format"], "channels_concise");
    let records = body["parsed"].as_array().expect("records");
    assert!(!records.is_empty(), "{body}");
    assert!(records[0]["channel"].as_str().is_some(), "{body}");
    assert!(body["output"].as_str().is_some_and(|o| o.contains('!')));

    let refused = gateway
        .post(
            "/v1/servers/sim/command",
            Some(ADMIN),
            r#"{"command": "frobnicate the widgets"}"#,
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    let empty = gateway
        .post(
            "/v1/servers/sim/command",
            Some(ADMIN),
            r#"{"command": " "}"#,
        )
        .await;
    assert_eq!(empty.status, 400);
    gateway.stop().await;
}

#[tokio::test]
async fn access_control_401_403_429_and_denials_are_counted() {
    let gateway = Gateway::start("").await;
    let path = "/v1/servers/sim/actions/Ping";
    let none = gateway.post(path, None, "").await;
    assert_eq!((none.status, none.code().as_str()), (401, "unauthorized"));
    assert_eq!(none.header("www-authenticate"), Some("Bearer"));
    let wrong = gateway.post(path, Some("not-a-token"), "").await;
    assert_eq!(wrong.status, 401);
    let basic = request(
        gateway.addr,
        "GET",
        "/v1/servers",
        None,
        None,
        &[("Authorization", "Basic YTpi")],
    )
    .await;
    assert_eq!(basic.status, 401);

    // First (the bucket counts every request of the token): a burst of 3, then 429 with Retry-After.
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(gateway.post(path, Some(SLOW), "").await);
    }
    assert!(
        statuses[..3].iter().all(|r| r.status == 200),
        "{statuses:?}"
    );
    let limited = &statuses[4];
    assert_eq!(
        (limited.status, limited.code().as_str()),
        (429, "rate_limited")
    );
    assert!(
        limited
            .header("retry-after")
            .is_some_and(|s| s.parse::<u64>().is_ok())
    );

    // Sensitive actions need naming; reserved ones are never forwarded.
    for (token, action) in [
        (LIMITED, "Hangup"),
        (LIMITED, "Command"),
        (LIMITED, "Originate"),
        (ADMIN, "Logoff"),
        (ADMIN, "Events"),
    ] {
        let reply = gateway
            .post(
                &format!("/v1/servers/sim/actions/{action}"),
                Some(token),
                "{}",
            )
            .await;
        assert_eq!(
            (reply.status, reply.code().as_str()),
            (403, "forbidden"),
            "{action}: {}",
            reply.body
        );
    }
    let command = gateway
        .post(
            "/v1/servers/sim/command",
            Some(LIMITED),
            r#"{"command":"core show uptime"}"#,
        )
        .await;
    assert_eq!(command.status, 403);

    assert!(
        metric(
            &gateway,
            "ami_gateway_denied_requests_total{reason=\"unauthorized\"}"
        )
        .await
            >= 3.0
    );
    assert!(
        metric(
            &gateway,
            "ami_gateway_denied_requests_total{reason=\"forbidden\"}"
        )
        .await
            >= 6.0
    );
    assert!(
        metric(
            &gateway,
            "ami_gateway_denied_requests_total{reason=\"rate_limited\"}"
        )
        .await
            >= 1.0
    );
    gateway.stop().await;
}

#[tokio::test]
async fn upstream_restart_is_survived_and_reported() {
    let gateway = Gateway::start("").await;
    let server = gateway.state.server("sim").expect("server");
    gateway.sim.restart();
    // The drop is seen, then the client reconnects by itself.
    let mut saw_down = false;
    for _ in 0..200 {
        if !server.is_connected() {
            saw_down = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    gateway.wait_connected().await;
    let ping = gateway
        .post("/v1/servers/sim/actions/Ping", Some(ADMIN), "")
        .await;
    assert_eq!(ping.status, 200, "{}", ping.body);
    let servers = gateway.get("/v1/servers", Some(ADMIN)).await.json();
    let reconnects = servers["servers"][0]["reconnects"]
        .as_u64()
        .expect("reconnects");
    assert!(
        saw_down || reconnects >= 1,
        "the restart went unnoticed: {servers}"
    );
    assert!(reconnects >= 1, "{servers}");
    assert!(metric(&gateway, "ami_gateway_upstream_reconnects_total").await >= 1.0);
    gateway.stop().await;
}

#[tokio::test]
async fn a_server_that_is_down_gives_503_and_readyz_says_not_ready() {
    // Bind a port and close it: nothing listens there.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let config = ami_gateway::Config::parse(&format!(
        "[[servers]]\nname = \"down\"\nhost = \"127.0.0.1\"\nport = {port}\nusername = \"u\"\nsecret = \"s\"\n\
         [[tokens]]\nname = \"a\"\nsha256 = \"{}\"\nservers = [\"*\"]\nactions = {{ allow = [\"*\"] }}\n",
        crate::support::sha(ADMIN)
    ))
    .expect("config");
    let state = ami_gateway::AppState::start(&config).expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(ami_gateway::serve(listener, None, state, async move {
        let _ = stopped.await;
    }));
    let ready = request(addr, "GET", "/readyz", None, None, &[]).await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.json()["status"], "not_ready");
    let ping = request(
        addr,
        "POST",
        "/v1/servers/down/actions/Ping",
        Some(ADMIN),
        Some(""),
        &[],
    )
    .await;
    assert_eq!(
        (ping.status, ping.code().as_str()),
        (503, "upstream_unavailable")
    );
    let servers = request(addr, "GET", "/v1/servers", Some(ADMIN), None, &[])
        .await
        .json();
    assert_ne!(servers["servers"][0]["state"], "connected");
    let _ = stop.send(());
    task.await.expect("join").expect("serve");
}

#[tokio::test]
async fn metrics_count_actions_events_and_pbx_gauges() {
    let gateway = Gateway::start("").await;
    for _ in 0..3 {
        gateway
            .post("/v1/servers/sim/actions/Ping", Some(ADMIN), "")
            .await;
    }
    gateway
        .post("/v1/servers/sim/actions/Frobnicate", Some(ADMIN), "")
        .await;
    gateway.sim.emit_events(200);
    let mut events = 0.0;
    for _ in 0..100 {
        events = metric(&gateway, "ami_gateway_events_total{server=\"sim\"").await;
        if events >= 200.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(events >= 200.0, "events counted: {events}");
    let text = gateway.get("/metrics", None).await.body;
    for expected in [
        "ami_gateway_upstream_connected{server=\"sim\"} 1",
        "ami_gateway_actions_total{server=\"sim\",action=\"Ping\",result=\"success\"} 3",
        "ami_gateway_actions_total{server=\"sim\",action=\"_unknown\",result=\"error\"} 1",
        "ami_gateway_action_duration_seconds_count{server=\"sim\",action=\"Ping\"} 3",
        "ami_gateway_events_total{server=\"sim\",event=\"Newchannel\"}",
        "# TYPE ami_gateway_action_duration_seconds histogram",
        "ami_gateway_stream_lagged_total{server=\"sim\"}",
        "ami_gateway_stream_disconnected_total{server=\"sim\"}",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    // The demo calls are up, so the channel gauge starts from the snapshot.
    assert!(
        metric(&gateway, "ami_gateway_pbx_active_channels{server=\"sim\"}").await >= 1.0,
        "{text}"
    );
    assert!(
        text.contains("ami_gateway_pbx_queue_calls_waiting{server=\"sim\",queue="),
        "{text}"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn cors_answers_preflight_for_configured_origins_only() {
    let gateway = Gateway::start("cors_origins = [\"https://ops.example\"]").await;
    let preflight = |origin: &'static str| {
        let addr = gateway.addr;
        async move {
            let headers = [
                ("Origin", origin),
                ("Access-Control-Request-Method", "GET"),
                ("Access-Control-Request-Headers", "authorization"),
            ];
            request(addr, "OPTIONS", "/v1/servers", None, None, &headers).await
        }
    };
    let allowed = preflight("https://ops.example").await;
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://ops.example"),
        "{allowed:?}"
    );
    let other = preflight("https://evil.example").await;
    assert_eq!(
        other.header("access-control-allow-origin"),
        None,
        "{other:?}"
    );
    gateway.stop().await;
}

/// A server named by `url = "http://..."` is reached through AMI over HTTP: actions, lists and
/// the event stream (WaitEvent underneath) work as over TCP, on a modern and a legacy profile.
#[tokio::test]
async fn a_server_reached_over_http_answers_actions_and_streams_events() {
    for profile in [ami_sim::Profile::V22, ami_sim::Profile::V18] {
        let gateway = Gateway::start_over_http(profile).await;
        let ping = gateway
            .post("/v1/servers/sim/actions/Ping", Some(ADMIN), "")
            .await;
        assert_eq!(ping.status, 200, "{profile}: {}", ping.body);
        assert_eq!(ping.json()["response"]["Ping"], "Pong");
        let channels = gateway
            .post(
                "/v1/servers/sim/actions/CoreShowChannels",
                Some(ADMIN),
                "{}",
            )
            .await;
        assert_eq!(channels.status, 200, "{profile}: {}", channels.body);
        let channels = channels.json();
        assert!(channels["complete"].is_object(), "{profile}: {channels}");
        let mut events = crate::support::websocket(gateway.addr, "event=UserEvent", ADMIN).await;
        let hello = crate::support::next_json(&mut events, Duration::from_secs(5))
            .await
            .expect("hello");
        assert_eq!(hello["type"], "hello");
        let sent = gateway
            .post(
                "/v1/servers/sim/actions/UserEvent",
                Some(ADMIN),
                r#"{"UserEvent": "overhttp"}"#,
            )
            .await;
        assert_eq!(sent.status, 200, "{profile}: {}", sent.body);
        let event = crate::support::wait_for(&mut events, "event", |_| true).await;
        assert!(event.to_string().contains("overhttp"), "{profile}: {event}");
        gateway.stop().await;
    }
}
