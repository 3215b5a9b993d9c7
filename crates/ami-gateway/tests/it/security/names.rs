//! What names give away or use up: servers a token may not use look like servers that do not
//! exist, and junk action names cannot crowd real actions out of the metrics.

use crate::support::{ADMIN, Gateway, LIMITED, metric, sha};

#[tokio::test]
async fn a_server_the_token_may_not_use_looks_like_one_that_does_not_exist() {
    // A second server the limited token has no right to (never reachable: port 9).
    let extra = "[[servers]]\nname = \"hidden\"\nhost = \"127.0.0.1\"\nport = 9\n\
                 username = \"u\"\nsecret = \"s\"\n";
    let gateway = Gateway::start(extra).await;
    for path in ["/v1/servers/{}/actions/Ping", "/v1/servers/{}/command"] {
        let hidden = gateway
            .post(&path.replace("{}", "hidden"), Some(LIMITED), "{}")
            .await;
        let missing = gateway
            .post(&path.replace("{}", "nosuch"), Some(LIMITED), "{}")
            .await;
        assert_eq!((hidden.status, missing.status), (404, 404), "{path}");
        assert_eq!(hidden.code(), missing.code());
        assert_eq!(
            hidden.body.replace("hidden", "NAME"),
            missing.body.replace("nosuch", "NAME"),
            "{path}"
        );
    }
    for query in ["server=hidden", "server=nosuch"] {
        let stream = gateway
            .get(&format!("/v1/events?{query}"), Some(LIMITED))
            .await;
        assert_eq!(stream.status, 404, "{query}: {}", stream.body);
    }
    // The admin token sees it.
    let servers = gateway.get("/v1/servers", Some(ADMIN)).await.json();
    assert_eq!(servers["servers"].as_array().map(Vec::len), Some(2));
    gateway.stop().await;
}

#[tokio::test]
async fn junk_action_names_do_not_push_real_actions_out_of_the_metrics() {
    const TOKEN: &str = "junk-token";
    let junk: Vec<String> = (0..300).map(|i| format!("Junk{i}")).collect();
    let extra = format!(
        "[[tokens]]\nname = \"junk\"\nsha256 = \"{}\"\nservers = [\"*\"]\n\
         actions = {{ allow = [\"*\", {}] }}\nrate_per_second = 0\n",
        sha(TOKEN),
        junk.iter()
            .map(|name| format!("\"{name}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let gateway = Gateway::start(&extra).await;
    for name in &junk {
        let reply = gateway
            .post(&format!("/v1/servers/sim/actions/{name}"), Some(TOKEN), "")
            .await;
        // Forwarded (the token names it) and refused by the PBX.
        assert_eq!(reply.status, 422, "{name}: {}", reply.body);
    }
    for spelling in ["Ping", "ping", "PING"] {
        let reply = gateway
            .post(
                &format!("/v1/servers/sim/actions/{spelling}"),
                Some(TOKEN),
                "",
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let ping = "ami_gateway_actions_total{server=\"sim\",action=\"Ping\",result=\"success\"}";
    assert_eq!(metric(&gateway, ping).await, 3.0);
    let unknown = "ami_gateway_actions_total{server=\"sim\",action=\"_unknown\",result=\"error\"}";
    assert_eq!(metric(&gateway, unknown).await, 300.0);
    let text = gateway.get("/metrics", None).await.body;
    assert!(!text.contains("Junk"), "junk names never become labels");
    gateway.stop().await;
}
