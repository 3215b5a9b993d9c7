//! Actions by NATS request/reply: a request on `ami.<server>.action.<Action>` with a JSON
//! object of headers (arrays for repeated ones) is checked against the configuration's
//! `[actions]` rules, sent to the PBX, and answered with the JSON the gateway's action API
//! gives (list items collected, Command output), or with the gateway's error object.
//!
//! The rules are the gateway's token rules ([`ActionRules`]): nothing is allowed unless named,
//! `"*"` reaches only the actions whose write classes cannot run code, start calls or change
//! configuration (from the PBX's own `ListCommands` and the catalog), and the actions that
//! would change the bridge's shared AMI session (Logoff, Events, Filter ...) never run.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ami_client::{Action, Client};
use ami_gateway::AppError;
use ami_gateway::auth::{ActionDenial, ActionRules};
use ami_gateway::privilege::{ActionClasses, NotByWildcard};
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::Semaphore;
use tracing::{Instrument, debug, warn};

use crate::error::Error;
use crate::subject;

/// Requests of one PBX answered at once; further ones wait in NATS' buffers.
const CONCURRENT: usize = 64;
/// The queue group: several bridges serving one PBX answer each request once.
const QUEUE_GROUP: &str = "ami-bridge";

/// What a request gets before anything is sent: checks of the name, the rules and the body.
pub(crate) fn prepare(
    name: &str,
    body: &[u8],
    rules: &ActionRules,
    known: &ActionClasses,
) -> Result<Action, AppError> {
    if !ami_gateway::valid_action_name(name) {
        return Err(AppError::bad_request(
            "an action name is 1-64 letters, digits, '_', '-' or '.'",
        ));
    }
    match rules.check(name, known) {
        Ok(()) => {}
        Err(ActionDenial::Reserved) => {
            return Err(AppError::forbidden(format!(
                "{name} would change the bridge's shared AMI session"
            )));
        }
        Err(ActionDenial::NotAllowed) => {
            return Err(AppError::forbidden(format!(
                "the bridge's [actions] rules do not allow {name}"
            )));
        }
        // Before the PBX has listed its actions nothing can be judged.
        Err(ActionDenial::NotByWildcard(NotByWildcard::UnknownClass)) if known.is_empty() => {
            return Err(AppError::unavailable());
        }
        Err(ActionDenial::NotByWildcard(why)) => {
            return Err(AppError::forbidden(format!(
                "\"*\" does not grant {name} ({why}): name it in [actions] allow"
            )));
        }
    }
    ami_gateway::action_from_body(name, body)
}

/// The PBX's action classes, from `ListCommands`; empty if it did not answer usefully.
async fn learn_classes(client: &Client) -> ActionClasses {
    match client
        .send_with_timeout(Action::new("ListCommands"), Duration::from_secs(10))
        .await
    {
        Ok(reply) => reply
            .response()
            .map(ActionClasses::from_list_commands)
            .unwrap_or_default(),
        Err(error) => {
            warn!(%error, "ListCommands failed; actions under \"*\" are refused until it answers");
            ActionClasses::default()
        }
    }
}

/// Subscribes to `ami.<server>.action.*` and answers each request until the subscription
/// ends (the task is aborted when the bridge stops).
pub(crate) async fn serve(
    nats: async_nats::Client,
    server: String,
    client: Client,
    rules: ActionRules,
) -> Result<(), Error> {
    let mut requests = nats
        .queue_subscribe(subject::actions(&server), QUEUE_GROUP.to_owned())
        .await
        .map_err(|error| Error::Nats(format!("cannot subscribe to actions: {error}")))?;
    let known = Arc::new(Mutex::new(learn_classes(&client).await));
    let rules = Arc::new(rules);
    let places = Arc::new(Semaphore::new(CONCURRENT));
    while let Some(request) = requests.next().await {
        let Some(reply_to) = request.reply.clone() else {
            debug!(subject = %request.subject, "an action without a reply subject; ignored");
            continue;
        };
        let Ok(place) = places.clone().acquire_owned().await else {
            break;
        };
        let (nats, client, rules, known) =
            (nats.clone(), client.clone(), rules.clone(), known.clone());
        tokio::spawn(
            async move {
                let name = subject::action_name(&request.subject).unwrap_or_default();
                let answer = answer(name, &request.payload, &rules, &known, &client).await;
                let body = serde_json::to_vec(&answer).unwrap_or_default();
                if let Err(error) = nats.publish(reply_to, Bytes::from(body)).await {
                    debug!(%error, "could not send an action's reply");
                }
                drop(place);
            }
            .in_current_span(),
        );
    }
    Ok(())
}

async fn answer(
    name: &str,
    body: &[u8],
    rules: &ActionRules,
    known: &Mutex<ActionClasses>,
    client: &Client,
) -> Value {
    let snapshot = known.lock().map(|k| k.clone()).unwrap_or_default();
    // The PBX had not answered ListCommands (it was busy, or restarting): ask again once.
    let snapshot = if snapshot.is_empty() {
        let learnt = learn_classes(client).await;
        if let Ok(mut shared) = known.lock() {
            *shared = learnt.clone();
        }
        learnt
    } else {
        snapshot
    };
    let action = match prepare(name, body, rules, &snapshot) {
        Ok(action) => action,
        Err(error) => {
            debug!(action = %name, code = error.code, "action refused");
            return error.body();
        }
    };
    match client.send(action).await {
        Ok(reply) => ami_gateway::reply_json(&reply),
        Err(error) => AppError::from_client(&error).body(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> ActionClasses {
        let mut known = ActionClasses::default();
        known.insert("Ping", &[]);
        known.insert("CoreShowChannels", &["system", "reporting"]);
        known.insert("Originate", &["originate"]);
        known.insert("Command", &["command"]);
        known
    }

    fn rules(allow: &[&str]) -> ActionRules {
        ActionRules {
            allow: allow.iter().map(|s| (*s).to_owned()).collect(),
            deny: Vec::new(),
        }
    }

    #[test]
    fn nothing_is_allowed_by_default() {
        let error = prepare("Ping", b"", &ActionRules::default(), &known()).expect_err("denied");
        assert_eq!(error.code, "forbidden");
        assert_eq!(error.body()["error"]["code"], "forbidden");
    }

    #[test]
    fn the_wildcard_reaches_reads_but_never_originate_or_command() {
        let star = rules(&["*"]);
        assert!(prepare("Ping", b"", &star, &known()).is_ok());
        assert!(prepare("CoreShowChannels", b"{}", &star, &known()).is_ok());
        for sensitive in ["Originate", "Command"] {
            let error = prepare(sensitive, b"{}", &star, &known()).expect_err(sensitive);
            assert_eq!(error.code, "forbidden", "{sensitive}");
            assert!(
                error.message.contains("does not grant"),
                "{}",
                error.message
            );
        }
        assert!(prepare("Originate", b"{}", &rules(&["*", "Originate"]), &known()).is_ok());
        assert_eq!(
            prepare("Logoff", b"", &rules(&["Logoff"]), &known())
                .expect_err("reserved")
                .code,
            "forbidden"
        );
        // Before ListCommands answered, "*" cannot judge: unavailable, not forbidden.
        let error = prepare("Ping", b"", &star, &ActionClasses::default()).expect_err("unknown");
        assert_eq!(error.code, "upstream_unavailable");
    }

    #[test]
    fn bodies_become_headers_and_bad_ones_are_refused() {
        let allow = rules(&["QueueStatus", "Ping"]);
        let action = prepare(
            "QueueStatus",
            br#"{"Queue": "support", "X": ["a", "b"]}"#,
            &allow,
            &known(),
        )
        .expect("valid");
        assert_eq!(action.headers().len(), 3);
        for (body, code) in [
            (&br#"{"ActionID": "1"}"#[..], "bad_request"),
            (b"{nope", "bad_request"),
            (b"[1]", "bad_request"),
        ] {
            assert_eq!(
                prepare("Ping", body, &allow, &known())
                    .expect_err("bad")
                    .code,
                code
            );
        }
        assert_eq!(
            prepare("Ping x", b"", &allow, &known())
                .expect_err("name")
                .code,
            "bad_request"
        );
    }
}
