//! `ami action NAME [Key=Value ...]`: any AMI action, its reply as one document.

use std::process::ExitCode;

use ami_client::{Action, Client};
use anyhow::bail;

use crate::output::{self, Document, Format};

/// Arguments of `ami action`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    ami action Ping\n  \
    ami action CoreShowChannels --output table\n  \
    ami action Getvar Variable=AMPMGRUSER\n  \
    ami action Originate Channel=Local/100@demo Exten=200 Context=demo Priority=1 \\\n      \
    Async=true Variable=a=1 Variable=b=2\n\n\
    Prints the response; for list actions (CoreShowChannels, SIPpeers, QueueStatus, ...)\n\
    {\"response\": ..., \"items\": [...], \"complete\": ...}. Exit status 1 with the server's\n\
    message when it answers Response: Error.\n\n\
    Through NATS, via the `ami bridge` serving the PBX (its [actions] rules apply):\n  \
    ami action --nats nats://127.0.0.1:4222 --server pbx1 CoreShowChannels\n\
    The same output and exit status; a refusal by the bridge also exits 1.")]
pub struct Args {
    #[command(flatten)]
    pub common: crate::connect::Common,
    #[command(flatten)]
    pub nats: super::nats::NatsArgs,
    /// The action's name (Ping, CoreShowChannels, Originate, Getvar, ...).
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Headers as Key=Value, in order; repeat a key to send it several times
    /// (Variable=a=1 Variable=b=2). The first `=` separates key and value.
    #[arg(value_name = "KEY=VALUE")]
    pub headers: Vec<String>,
}

/// Parses `Key=Value` arguments. Refused before anything is sent: a missing `=`, an empty key,
/// a key with spaces or a colon, a line break anywhere, and `Action` (it is NAME).
pub fn parse_headers(arguments: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    let mut headers = Vec::with_capacity(arguments.len());
    for argument in arguments {
        let Some((key, value)) = argument.split_once('=') else {
            bail!(
                "malformed argument {}: expected Key=Value\n\
                 fix: write it as Key=Value, e.g. Channel=PJSIP/100; quote values with spaces: \
                 'Data=hello world'",
                shown(argument)
            );
        };
        if key.is_empty() {
            bail!(
                "malformed argument {}: the key before '=' is empty\n\
                 fix: write it as Key=Value, e.g. Variable=name=value",
                shown(argument)
            );
        }
        if key
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ':')
        {
            bail!(
                "malformed argument {}: a key has no spaces, colons or control \
                 characters\nfix: write it as Key=Value, e.g. Exten=200",
                shown(argument)
            );
        }
        if value.contains(['\r', '\n']) {
            // Named but not echoed: the value could be a secret, and a line break in it would
            // start a new header on the wire.
            bail!(
                "the value of {key} contains a line break, which AMI cannot carry\n\
                 fix: remove the line break from the value"
            );
        }
        if key.eq_ignore_ascii_case("Action") {
            bail!(
                "malformed argument {}: the action's name is the first argument, \
                 not a header\nfix: ami action {} ...",
                shown(argument),
                shown(value)
            );
        }
        headers.push((key.to_owned(), value.to_owned()));
    }
    Ok(headers)
}

/// An argument as an error message shows it: quoted, and cut when long (a 100 KB argument
/// echoed whole buries the message; a long one may also be a pasted secret).
fn shown(text: &str) -> String {
    const MAX_CHARS: usize = 40;
    match text.char_indices().nth(MAX_CHARS) {
        None => format!("{text:?}"),
        Some((end, _)) => format!("{:?}… ({} bytes)", &text[..end], text.len()),
    }
}

/// Checks an action against the catalog of documented actions before anything is sent. A
/// missing required parameter is an error (the message, with its `fix:` line); what is only
/// suspicious — an unknown parameter of a known action (Asterisk ignores it silently, so a
/// misspelt `Chanel` on Originate does nothing), or an action the catalog does not have (a
/// module's own, or a typo) — comes back as warnings, and the action is still sent.
pub fn check_against_catalog(
    name: &str,
    headers: &[(String, String)],
) -> Result<Vec<String>, String> {
    let Some(known) = ami_catalog::action(name) else {
        let hint = ami_catalog::closest_action(name)
            .map(|close| format!("; did you mean {}?", close.name))
            .unwrap_or_default();
        return Ok(vec![format!(
            "{} is not a documented action of Asterisk 1.8 to 22{hint} (sent anyway)",
            shown(name)
        )]);
    };
    let given = |param: &str| {
        headers
            .iter()
            .any(|(key, _)| key.eq_ignore_ascii_case(param))
    };
    let missing: Vec<&str> = known
        .required_params()
        .map(|param| param.name)
        .filter(|param| !given(param))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "{} needs {} (required)\nfix: ami action {} {} ...   (see: ami explain {})",
            known.name,
            missing.join(", "),
            known.name,
            missing
                .iter()
                .map(|param| format!("{param}=..."))
                .collect::<Vec<_>>()
                .join(" "),
            known.name
        ));
    }
    let mut warnings = Vec::new();
    for (key, _) in headers {
        if known.param(key).is_some() || key.eq_ignore_ascii_case("ActionID") {
            continue;
        }
        let hint = known
            .closest_param(key)
            .map(|close| format!("; did you mean {}?", close.name))
            .unwrap_or_default();
        warnings.push(format!(
            "{} has no documented parameter {}{hint} (sent anyway; Asterisk ignores what it does not know)",
            known.name,
            shown(key)
        ));
    }
    Ok(warnings)
}

/// Builds the action from its name and parsed headers.
pub fn build_action(name: &str, headers: Vec<(String, String)>) -> anyhow::Result<Action> {
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ':' || c == '=')
    {
        bail!(
            "invalid action name {}\nfix: give the action's name first, e.g. \
             `ami action Ping` or `ami action Getvar Variable=X`",
            shown(name)
        );
    }
    let mut action = Action::new(name);
    for (key, value) in headers {
        action.push(key, value);
    }
    Ok(action)
}

/// Sends the action and prints the reply. A `Response: Error` prints the response too (a
/// script may want its headers) and exits 1 with the server's message on standard error.
pub async fn run(
    name: &str,
    action: Action,
    client: &Client,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match client.send(action).await {
        Ok(reply) => {
            output::write_document(&mut out, format, &output::reply_document(&reply))?;
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            let Some(response) = error.response() else {
                return Err(error.into());
            };
            output::write_document(
                &mut out,
                format,
                &Document::single(output::message_value(response)),
            )?;
            drop(out);
            eprintln!("ami: {name} failed: {error}");
            Ok(ExitCode::FAILURE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_refuses_missing_required_parameters_and_warns_of_unknown_ones() {
        let headers = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let error = check_against_catalog("originate", &headers(&[("Context", "demo")]))
            .expect_err("Channel is required");
        assert!(
            error.starts_with("Originate needs Channel (required)\nfix:"),
            "{error}"
        );
        let warnings = check_against_catalog(
            "Originate",
            &headers(&[
                ("Chanel", "x"),
                ("channel", "Local/1@demo"),
                ("ActionID", "1"),
            ]),
        )
        .expect("Channel given");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("did you mean Channel?"),
            "{warnings:?}"
        );
        assert!(check_against_catalog("Ping", &[]).expect("fine").is_empty());
        let unknown = check_against_catalog("Orignate", &[]).expect("sent anyway");
        assert!(
            unknown[0].contains("did you mean Originate?"),
            "{unknown:?}"
        );
    }

    #[test]
    fn long_arguments_are_cut_in_messages() {
        let big = format!("X{}", "A".repeat(100_000));
        let message = format!("{:#}", parse_headers(&[big]).expect_err("no ="));
        assert!(message.len() < 300, "{} bytes", message.len());
        assert!(message.contains("(100001 bytes)"), "{message}");
        let name = format!("Bad Name{}", "é".repeat(50_000));
        let message = format!("{:#}", build_action(&name, Vec::new()).expect_err("space"));
        assert!(message.len() < 300, "{} bytes", message.len());
        assert_eq!(shown("Ping"), "\"Ping\"");
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|item| (*item).to_owned()).collect()
    }

    #[test]
    fn splits_at_the_first_equals_and_keeps_repeats_in_order() {
        let headers = parse_headers(&strings(&[
            "Channel=Local/100@demo",
            "Variable=a=1",
            "Variable=b=2",
            "Data=",
        ]))
        .expect("valid");
        assert_eq!(
            headers,
            vec![
                ("Channel".into(), "Local/100@demo".into()),
                ("Variable".into(), "a=1".into()),
                ("Variable".into(), "b=2".into()),
                ("Data".into(), String::new()),
            ]
        );
        let action = build_action("Originate", headers).expect("valid");
        assert_eq!(action.headers().len(), 4);
        assert_eq!(action.name(), "Originate");
    }

    #[test]
    fn refuses_malformed_arguments_with_a_fix() {
        for bad in ["Channel", "=x", "Bad Key=x", "A:B=c", "Action=Ping"] {
            let error = parse_headers(&strings(&[bad])).expect_err(bad);
            let text = error.to_string();
            assert!(text.contains("fix:"), "{text}");
            assert!(
                text.contains(&format!("{bad:?}")),
                "names the argument: {text}"
            );
        }
    }

    #[test]
    fn a_line_break_is_refused_without_echoing_the_value() {
        let error = parse_headers(&strings(&["Secret=abc\r\nAction: Logoff"])).expect_err("CRLF");
        let text = error.to_string();
        assert!(text.contains("Secret"), "{text}");
        assert!(!text.contains("abc"), "{text}");
    }

    #[test]
    fn refuses_a_bad_action_name() {
        assert!(build_action("", Vec::new()).is_err());
        assert!(build_action("Ping=1", Vec::new()).is_err());
        assert!(build_action("Core Show", Vec::new()).is_err());
        assert!(build_action("CoreShowChannels", Vec::new()).is_ok());
    }
}
