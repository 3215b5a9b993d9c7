//! Denied requests never reach the PBX.

use crate::support::{Gateway, LIMITED};

#[tokio::test]
async fn an_action_the_token_may_not_run_never_reaches_the_pbx() {
    let (gateway, proxy) = Gateway::start_proxied("").await;
    let reply = gateway
        .post(
            "/v1/servers/sim/actions/Hangup",
            Some(LIMITED),
            r#"{"Channel": "x"}"#,
        )
        .await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    let allowed = gateway
        .post("/v1/servers/sim/actions/Ping", Some(LIMITED), "")
        .await;
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    assert!(proxy.saw_action("Ping"), "{}", proxy.upstream_text());
    assert!(!proxy.saw_action("Hangup"), "{}", proxy.upstream_text());
    gateway.stop().await;
}
