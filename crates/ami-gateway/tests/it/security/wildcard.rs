//! `"*"` reaches only actions whose write classes, as the PBX lists them, are safe: nothing
//! that runs code, starts calls or changes configuration, on any Asterisk version.

use ami_sim::{Profile, SimConfig};
use serde_json::json;

use crate::support::{Gateway, sha};

const MONITOR: &str = "monitor-token";
const OPERATOR: &str = "operator-token";

/// A monitoring token with `"*"`, and an operator token that names what it needs.
fn tokens() -> String {
    format!(
        r#"
[[tokens]]
name = "monitor"
sha256 = "{monitor}"
servers = ["*"]
actions = {{ allow = ["*"] }}
events = ["*"]
rate_per_second = 0

[[tokens]]
name = "operator"
sha256 = "{operator}"
servers = ["*"]
actions = {{ allow = ["*", "DialplanExtensionAdd", "Redirect"] }}
events = ["*"]
rate_per_second = 0
"#,
        monitor = sha(MONITOR),
        operator = sha(OPERATOR),
    )
}

/// What the probe sent: each action with the body that makes it dangerous.
fn dangerous() -> Vec<(&'static str, serde_json::Value)> {
    vec![
        (
            "DialplanExtensionAdd",
            json!({"Context": "default", "Extension": "666", "Priority": 1,
                   "Application": "System", "ApplicationData": "touch /tmp/pwned"}),
        ),
        (
            "DialplanExtensionRemove",
            json!({"Context": "default", "Extension": "666"}),
        ),
        (
            "AGI",
            json!({"Channel": "SIP/x", "Command": "EXEC System touch /tmp/pwned"}),
        ),
        ("SorceryMemoryCacheExpire", json!({"Cache": "x"})),
        (
            "ConfbridgeStartRecord",
            json!({"Conference": "1", "RecordFile": "/etc/passwd"}),
        ),
        ("Command", json!({"Command": "core stop now"})),
        (
            "Originate",
            json!({"Channel": "Local/1@default", "Application": "System"}),
        ),
        (
            "UpdateConfig",
            json!({"SrcFilename": "manager.conf", "DstFilename": "manager.conf"}),
        ),
        ("GetConfig", json!({"Filename": "manager.conf"})),
        ("ModuleLoad", json!({"Module": "x", "LoadType": "load"})),
        (
            "Redirect",
            json!({"Channel": "SIP/x", "Context": "default", "Exten": "666", "Priority": 1}),
        ),
        (
            "BlindTransfer",
            json!({"Channel": "SIP/x", "Context": "default", "Exten": "666"}),
        ),
        (
            "Atxfer",
            json!({"Channel": "SIP/x", "Context": "default", "Exten": "666"}),
        ),
        ("Getvar", json!({"Variable": "SHELL(touch /tmp/pwned)"})),
        (
            "Setvar",
            json!({"Variable": "FILE(/etc/asterisk/extensions.conf)", "Value": "x"}),
        ),
        (
            "MixMonitor",
            json!({"Channel": "SIP/x", "File": "a.wav", "Command": "touch /tmp/pwned"}),
        ),
        ("Hangup", json!({"Channel": "SIP/x"})),
        ("DBPut", json!({"Family": "x", "Key": "y", "Val": "z"})),
        ("Frobnicate", json!({})),
    ]
}

#[tokio::test]
async fn a_wildcard_token_reaches_no_action_that_runs_code_or_changes_configuration() {
    for profile in [Profile::V22, Profile::V13, Profile::V11, Profile::V18] {
        let (gateway, proxy) = Gateway::start_proxied_with(
            SimConfig {
                profile,
                demo_calls: true,
                ..SimConfig::default()
            },
            &tokens(),
        )
        .await;
        // The gateway's own actions at login (ListCommands, a snapshot, the uptime Command).
        // They go out after it reports connected: wait for the last (the uptime Command), or a
        // loaded machine counts it among the test's and reads it as a Command let through.
        for _ in 0..400 {
            if proxy.actions().iter().any(|action| action == "Command") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        let own = proxy.actions().len();
        for (action, body) in dangerous() {
            // Names in any case are the same action to Asterisk.
            for spelling in [action.to_owned(), action.to_ascii_lowercase()] {
                let reply = gateway
                    .post(
                        &format!("/v1/servers/sim/actions/{spelling}"),
                        Some(MONITOR),
                        &body.to_string(),
                    )
                    .await;
                assert_eq!(reply.status, 403, "{profile:?} {spelling}: {}", reply.body);
                assert_eq!(reply.code(), "forbidden");
                assert!(
                    reply.body.contains("allow list"),
                    "{profile:?} {spelling}: the answer says how to grant it: {}",
                    reply.body
                );
            }
        }
        let command = gateway
            .post(
                "/v1/servers/sim/command",
                Some(MONITOR),
                r#"{"command": "core show uptime"}"#,
            )
            .await;
        assert_eq!(command.status, 403, "{profile:?}: {}", command.body);
        let probed = proxy.actions().split_off(own);
        for (action, _) in dangerous() {
            assert!(
                !probed.iter().any(|sent| sent.eq_ignore_ascii_case(action)),
                "{profile:?}: {action} reached the PBX:\n{}",
                proxy.upstream_text()
            );
        }
        assert!(!proxy.upstream_text().contains("pwned"));
        // What a monitoring token is for still works.
        for (action, body) in [
            ("Ping", json!({})),
            ("CoreShowChannels", json!({})),
            ("QueueStatus", json!({})),
            ("UserEvent", json!({"UserEvent": "Probe"})),
        ] {
            let reply = gateway
                .post(
                    &format!("/v1/servers/sim/actions/{action}"),
                    Some(MONITOR),
                    &body.to_string(),
                )
                .await;
            assert_eq!(reply.status, 200, "{profile:?} {action}: {}", reply.body);
            assert!(proxy.saw_action(action), "{profile:?} {action}");
        }
        gateway.stop().await;
    }
}

#[tokio::test]
async fn a_sensitive_action_reaches_the_pbx_only_when_the_token_names_it() {
    let (gateway, proxy) = Gateway::start_proxied(&tokens()).await;
    let add = json!({"Context": "default", "Extension": "700", "Priority": 1,
                     "Application": "Playback", "ApplicationData": "beep"});
    let monitor = gateway
        .post(
            "/v1/servers/sim/actions/DialplanExtensionAdd",
            Some(MONITOR),
            &add.to_string(),
        )
        .await;
    assert_eq!(monitor.status, 403, "{}", monitor.body);
    assert!(!proxy.saw_action("DialplanExtensionAdd"));
    let operator = gateway
        .post(
            "/v1/servers/sim/actions/DialplanExtensionAdd",
            Some(OPERATOR),
            &add.to_string(),
        )
        .await;
    // Forwarded: whatever the PBX answers, the gateway let it through.
    assert_ne!(operator.status, 403, "{}", operator.body);
    assert!(
        proxy.saw_action("DialplanExtensionAdd"),
        "{}",
        proxy.upstream_text()
    );
    // Named actions do not widen the wildcard: the operator still may not Originate.
    let originate = gateway
        .post(
            "/v1/servers/sim/actions/Originate",
            Some(OPERATOR),
            r#"{"Channel": "Local/1@default", "Exten": "1"}"#,
        )
        .await;
    assert_eq!(originate.status, 403, "{}", originate.body);
    assert!(!proxy.saw_action("Originate"));
    gateway.stop().await;
}
