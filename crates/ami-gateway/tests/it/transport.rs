//! TLS on the gateway's listener and graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use ami_sim::SimConfig;
use rustls::pki_types::ServerName;

use crate::support::{ADMIN, Gateway, next_json, request_on, wait_for, websocket};

#[tokio::test]
async fn serves_https_with_the_configured_certificate() {
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    let dir = std::env::temp_dir().join(format!("ami-gateway-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, generated.cert.pem()).expect("cert");
    std::fs::write(&key, generated.key_pair.serialize_pem()).expect("key");
    let tls = ami_gateway::tls::server_config(&cert, &key).expect("TLS config");
    let gateway = Gateway::start_with(SimConfig::default(), "", Some(tls)).await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(generated.cert.der().clone()).expect("root");
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let connect = || async {
        let tcp = tokio::net::TcpStream::connect(gateway.addr)
            .await
            .expect("tcp");
        connector
            .connect(ServerName::try_from("localhost").expect("name"), tcp)
            .await
            .expect("handshake")
    };
    let reply = request_on(
        connect().await,
        "GET",
        "/v1/servers",
        Some(ADMIN),
        None,
        &[],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["servers"][0]["state"], "connected");
    let ping = request_on(
        connect().await,
        "POST",
        "/v1/servers/sim/actions/Ping",
        Some(ADMIN),
        Some("{}"),
        &[],
    )
    .await;
    assert_eq!(ping.json()["response"]["Ping"], "Pong");

    // Plain HTTP to the TLS port gets no HTTP answer, and does not disturb the listener.
    let plain = tokio::net::TcpStream::connect(gateway.addr)
        .await
        .expect("tcp");
    let refused = tokio::time::timeout(Duration::from_secs(15), request_on_raw(plain))
        .await
        .expect("closed in time");
    assert!(!refused.starts_with(b"HTTP/1.1 200"));
    let again = request_on(connect().await, "GET", "/healthz", None, None, &[]).await;
    assert_eq!(again.status, 200);
    gateway.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

async fn request_on_raw(mut stream: tokio::net::TcpStream) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out).await;
    out
}

#[tokio::test]
async fn graceful_shutdown_closes_streams_and_logs_off() {
    let gateway = Gateway::start("").await;
    let mut ws = websocket(gateway.addr, "", ADMIN).await;
    next_json(&mut ws, Duration::from_secs(5))
        .await
        .expect("hello");
    let sim_connections = gateway.sim.open_connections();
    assert!(sim_connections >= 1);
    let addr = gateway.addr;
    let reader = tokio::spawn(async move {
        let closing = wait_for(&mut ws, "closing", |_| true).await;
        (closing, next_json(&mut ws, Duration::from_secs(5)).await)
    });
    let state = gateway.state.clone();
    let elapsed = gateway.stop().await;
    assert!(
        elapsed < Duration::from_secs(5),
        "shutdown took {elapsed:?}"
    );
    let (closing, after) = reader.await.expect("reader");
    assert_eq!(closing["reason"], "shutdown");
    assert!(after.is_none(), "the stream ended after closing");
    assert!(state.server("sim").is_some_and(|s| s.client().is_none()));
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}
