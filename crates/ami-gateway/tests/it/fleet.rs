//! One gateway in front of two servers: each with its own connection, names in URLs and
//! events, and tokens limited to some of them.

use std::time::Duration;

use ami_gateway::{AppState, Config};
use serde_json::json;

use crate::support::{ADMIN, LIMITED, next_json, request, sha, wait_for, websocket};

#[tokio::test]
async fn two_servers_behind_one_gateway() {
    let east = ami_sim::spawn(ami_sim::SimConfig::default())
        .await
        .expect("sim");
    let west = ami_sim::spawn(ami_sim::SimConfig {
        profile: ami_sim::Profile::V13,
        ..ami_sim::SimConfig::default()
    })
    .await
    .expect("sim");
    let server = |name: &str, port: u16| {
        format!(
            "[[servers]]\nname = \"{name}\"\nhost = \"127.0.0.1\"\nport = {port}\nusername = \"admin\"\nsecret = \"amp111\"\n"
        )
    };
    let text = format!(
        "{}{}[[tokens]]\nname = \"admin\"\nsha256 = \"{}\"\nservers = [\"*\"]\nactions = {{ allow = [\"*\"] }}\nevents = [\"*\"]\nrate_per_second = 0\n\
         [[tokens]]\nname = \"east-only\"\nsha256 = \"{}\"\nservers = [\"east\"]\nactions = {{ allow = [\"*\"] }}\nevents = [\"*\"]\nrate_per_second = 0\n",
        server("east", east.addr().port()),
        server("west", west.addr().port()),
        sha(ADMIN),
        sha(LIMITED),
    );
    let config = Config::parse(&text).expect("config");
    let state = AppState::start(&config).expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(ami_gateway::serve(
        listener,
        None,
        state.clone(),
        async move {
            let _ = stopped.await;
        },
    ));
    for _ in 0..200 {
        if state.servers().all(|s| s.is_connected()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(state.servers().all(|s| s.is_connected()));

    // Each server answers as itself: different AMI versions.
    let all = request(addr, "GET", "/v1/servers", Some(ADMIN), None, &[])
        .await
        .json();
    let versions: Vec<(&str, &str)> = all["servers"]
        .as_array()
        .expect("servers")
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap_or(""),
                s["ami_version"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(versions.len(), 2, "{all}");
    assert_eq!(versions[0].0, "east");
    assert_eq!(versions[1].0, "west");
    assert_ne!(
        versions[0].1, versions[1].1,
        "two different PBX versions: {all}"
    );
    let limited = request(addr, "GET", "/v1/servers", Some(LIMITED), None, &[])
        .await
        .json();
    assert_eq!(limited["servers"].as_array().map(Vec::len), Some(1));
    let denied = request(
        addr,
        "POST",
        "/v1/servers/west/actions/Ping",
        Some(LIMITED),
        Some(""),
        &[],
    )
    .await;
    // The same answer as for a server that does not exist: names are not given away.
    assert_eq!(denied.status, 404);
    let denied_stream = request(
        addr,
        "GET",
        "/v1/events?server=west",
        Some(LIMITED),
        None,
        &[],
    )
    .await;
    assert_eq!(denied_stream.status, 404);

    // Events carry their server's name; a server filter narrows the stream.
    let mut both = websocket(addr, "event=UserEvent", ADMIN).await;
    assert_eq!(
        next_json(&mut both, Duration::from_secs(5))
            .await
            .expect("hello")["servers"],
        json!(["east", "west"])
    );
    let mut west_only = websocket(addr, "event=UserEvent&server=west", ADMIN).await;
    next_json(&mut west_only, Duration::from_secs(5))
        .await
        .expect("hello");
    for name in ["east", "west"] {
        let reply = request(
            addr,
            "POST",
            &format!("/v1/servers/{name}/actions/UserEvent"),
            Some(ADMIN),
            Some(&json!({"UserEvent": format!("from-{name}")}).to_string()),
            &[],
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let first = wait_for(&mut both, "event", |_| true).await;
    let second = wait_for(&mut both, "event", |_| true).await;
    let mut seen = vec![
        (first["server"].clone(), first["event"]["UserEvent"].clone()),
        (
            second["server"].clone(),
            second["event"]["UserEvent"].clone(),
        ),
    ];
    seen.sort_by_key(|(server, _)| server.to_string());
    assert_eq!(
        seen,
        [
            (json!("east"), json!("from-east")),
            (json!("west"), json!("from-west"))
        ]
    );
    let only = wait_for(&mut west_only, "event", |_| true).await;
    assert_eq!(only["server"], "west");
    assert_eq!(only["event"]["UserEvent"], "from-west");

    // One server going away leaves the other serving.
    east.shutdown().await;
    let ping = request(
        addr,
        "POST",
        "/v1/servers/west/actions/Ping",
        Some(ADMIN),
        Some(""),
        &[],
    )
    .await;
    assert_eq!(ping.status, 200, "{}", ping.body);
    let ready = request(addr, "GET", "/readyz", None, None, &[]).await;
    assert_eq!(
        ready.status, 200,
        "still ready with one server up: {}",
        ready.body
    );
    let _ = stop.send(());
    task.await.expect("join").expect("serve");
    west.shutdown().await;
}
