//! Seeded faults, transcript replay and TLS, end to end.

use std::time::Duration;

use ami_sim::{Faults, Profile, SimConfig, Stall};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::conn::Conn;
use crate::corpus::read_until_quiet;
use crate::shape::{Mode, compare, shapes};

const LOGIN: &[u8] = b"Action: Login\r\nActionID: l\r\nUsername: admin\r\nSecret: amp111\r\n\r\nAction: Ping\r\nActionID: p\r\n\r\nAction: CoreSettings\r\nActionID: c\r\n\r\n";

async fn session_bytes(faults: Faults) -> (Vec<u8>, bool) {
    let sim = ami_sim::spawn(SimConfig {
        profile: Profile::V13,
        faults,
        ..SimConfig::default()
    })
    .await
    .expect("spawn");
    let mut stream = TcpStream::connect(sim.addr()).await.expect("connect");
    stream.write_all(LOGIN).await.expect("write");
    let out = read_until_quiet(
        &mut stream,
        Duration::from_millis(400),
        Duration::from_secs(5),
    )
    .await;
    sim.shutdown().await;
    out
}

#[tokio::test]
async fn split_writes_and_delays_change_timing_not_content() {
    let (clean, _) = session_bytes(Faults::default()).await;
    let faults = Faults {
        seed: 42,
        split_writes: true,
        delay: Some(Duration::from_millis(5)),
        stall: Some(Stall {
            after_packets: 2,
            duration: Duration::from_millis(100),
        }),
        ..Faults::default()
    };
    let (split, closed) = session_bytes(faults).await;
    assert!(!closed);
    assert!(compare(&shapes(&clean), &shapes(&split), Mode::Exact).is_empty());
}

#[tokio::test]
async fn drop_mid_packet_cuts_the_stream_inside_a_packet() {
    let faults = Faults {
        seed: 3,
        drop_mid_packet_after: Some(2),
        ..Faults::default()
    };
    let (bytes, closed) = session_bytes(faults.clone()).await;
    assert!(closed, "connection dropped");
    assert!(
        !bytes.ends_with(b"\r\n\r\n"),
        "ends mid-packet: {:?}",
        String::from_utf8_lossy(&bytes)
    );
    // Same seed, same cut.
    let (again, _) = session_bytes(faults).await;
    assert_eq!(bytes.len(), again.len());
}

#[tokio::test]
async fn garbage_packets_are_injected_between_real_ones() {
    let faults = Faults {
        seed: 9,
        garbage_every: Some(2),
        ..Faults::default()
    };
    let (bytes, _) = session_bytes(faults).await;
    let shapes = shapes(&bytes);
    assert!(shapes.iter().any(|s| s.kind == "unknown"), "{shapes:?}");
    let responses: Vec<_> = shapes
        .iter()
        .filter(|s| s.kind == "response")
        .map(|s| s.action_id.clone())
        .collect();
    assert_eq!(
        responses,
        vec![Some("l".into()), Some("p".into()), Some("c".into())]
    );
}

#[tokio::test]
async fn replay_serves_a_recorded_transcript_byte_for_byte() {
    let recorded = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/13/command_concise.recv"
    ))
    .expect("fixture");
    for split_writes in [false, true] {
        let sim = ami_sim::spawn(SimConfig {
            replay: Some(recorded.clone().into()),
            faults: Faults {
                split_writes,
                ..Faults::default()
            },
            ..SimConfig::default()
        })
        .await
        .expect("spawn");
        let mut stream = TcpStream::connect(sim.addr()).await.expect("connect");
        let (bytes, closed) = read_until_quiet(
            &mut stream,
            Duration::from_millis(300),
            Duration::from_secs(5),
        )
        .await;
        assert!(!closed, "the replay waits for the client to leave");
        assert_eq!(bytes, recorded);
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn shutdown_sends_the_shutdown_event_then_closes() {
    let sim = ami_sim::spawn(SimConfig::default()).await.expect("spawn");
    let mut c = Conn::connect(sim.addr()).await;
    c.login("admin", "amp111").await;
    let addr = sim.addr();
    sim.shutdown().await;
    let (event, _) = c
        .until(Duration::from_secs(5), |m| {
            m.event_name().as_deref() == Some("Shutdown")
        })
        .await;
    assert_eq!(event.get("Shutdown").as_deref(), Some("Cleanly"));
    assert_eq!(event.get("Restart").as_deref(), Some("False"));
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}

#[cfg(feature = "tls")]
#[tokio::test]
async fn tls_login_matches_the_recorded_tls_session() {
    use std::sync::Arc;
    use tokio_rustls::rustls;

    let sim = ami_sim::spawn(SimConfig {
        tls: Some(ami_sim::TlsConfig::SelfSigned),
        ..SimConfig::default()
    })
    .await
    .expect("spawn");
    let pem = sim.tls_cert_pem().expect("certificate").to_owned();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_bytes()) {
        roots.add(cert.expect("pem")).expect("trusted");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = TcpStream::connect(sim.addr()).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let mut tls = connector.connect(name, tcp).await.expect("handshake");
    let sent = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/22/tls_login.sent"
    ))
    .expect("fixture");
    let recv = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/22/tls_login.recv"
    ))
    .expect("fixture");
    tls.write_all(&sent).await.expect("write");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(
        Duration::from_secs(3),
        tokio::io::AsyncReadExt::read_to_end(&mut tls, &mut out),
    )
    .await;
    let problems = compare(&shapes(&recv), &shapes(&out), Mode::Exact);
    // The recorded session says TLS in its addresses; the shapes ignore values, so also check it.
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(String::from_utf8_lossy(&out).contains("IPV4/TLS/127.0.0.1/"));
    sim.shutdown().await;
}
