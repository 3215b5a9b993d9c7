//! The test server itself: JetStream is up on the port it reports.

use crate::nats::NatsServer;

#[tokio::test]
async fn the_test_server_runs_jetstream_on_a_free_loopback_port() {
    let server = NatsServer::start();
    let other = NatsServer::start();
    assert_ne!(server.url(), other.url());
    let js = async_nats::jetstream::new(server.client().await);
    let info = js.query_account().await.expect("JetStream answers");
    assert_eq!(info.streams, 0);
}
