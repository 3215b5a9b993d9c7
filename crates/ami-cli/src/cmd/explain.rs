//! `ami explain NAME`: an action's or event's facts from the catalog (parameters, required
//! ones, defaults, enumerated values, versions, classes) and, when a server is given, the
//! server's own description of it.

use std::io::Write;
use std::process::ExitCode;

use ami_catalog::Version;
use ami_client::{Action, Client, Reply};
use serde_json::{Value, json};

use crate::cmd::actions::versions_text;
use crate::connect::{Common, UsageError, connect, resolve};
use crate::output::{self, Format};

/// Arguments of `ami explain`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    ami explain Originate\n  \
    ami explain QueueMemberStatus -o json\n  \
    AMI_HOST=pbx AMI_SECRET=... ami explain Originate   # adds the server's own description\n\n\
    Exit status 1 for a name the catalog does not know (the closest one is suggested).")]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
    /// An action (Originate) or an event (Hangup); any letter case.
    #[arg(value_name = "NAME")]
    pub name: String,
}

/// Prints what the catalog (and the server, when one is given) says of the name.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    // A name can be both (Hangup, Status ...): explain each.
    let mut found: Vec<Value> = ami_catalog::action(&args.name)
        .map(action_facts)
        .into_iter()
        .chain(ami_catalog::event(&args.name).map(event_facts))
        .collect();
    if found.is_empty() {
        let close = ami_catalog::closest_action(&args.name)
            .map(|a| a.name)
            .or_else(|| ami_catalog::closest_event(&args.name).map(|e| e.name));
        let hint = close
            .map(|c| format!("; did you mean {c}?"))
            .unwrap_or_default();
        anyhow::bail!(
            "{:?} is no action or event of Asterisk 1.8 to 22 that the catalog knows{hint}\n\
             fix: ami actions --search WORD lists the actions",
            args.name
        );
    }
    // With a server (flags, environment or a profile), its own description too.
    if args.common.conn.host.is_some() || args.common.profile.is_some() {
        for facts in &mut found {
            let kind = if facts["kind"] == "action" {
                "command"
            } else {
                "event"
            };
            let name = facts["name"].as_str().unwrap_or(&args.name).to_owned();
            facts["server"] = Value::String(server_description(&args.common, kind, &name)?);
        }
    }
    let mut out = std::io::stdout().lock();
    match args.common.output {
        None | Some(Format::Table) | Some(Format::Summary) => {
            for (index, facts) in found.iter().enumerate() {
                if index > 0 {
                    writeln!(out)?;
                }
                write_text(&mut out, facts)?;
            }
        }
        Some(format) => {
            let value = if found.len() == 1 {
                found.remove(0)
            } else {
                Value::Array(found)
            };
            output::write_document(&mut out, format, &output::Document::single(value))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn action_facts(action: &'static ami_catalog::Action) -> Value {
    let classes: Vec<Value> = Version::ALL
        .iter()
        .rev()
        .filter_map(|v| {
            action
                .classes(*v)
                .map(|c| json!({"asterisk": v.label(), "classes": c}))
        })
        .collect();
    json!({
        "kind": "action",
        "name": action.name,
        "asterisk": versions_text(action.documented.iter()),
        "write_classes": classes,
        "parameters": action.params.iter().map(|p| json!({
            "name": p.name,
            "required": p.is_required(),
            "repeatable": p.repeatable,
            "default": p.default,
            "values": p.values,
            "asterisk": versions_text(p.versions.iter()),
        })).collect::<Vec<_>>(),
        "list": action.list.as_ref().map(|list| json!({"items": list.items, "complete": list.complete})),
    })
}

fn event_facts(event: &'static ami_catalog::Event) -> Value {
    json!({
        "kind": "event",
        "name": event.name,
        "asterisk": versions_text(event.documented.iter().chain(event.recorded.iter()).collect::<std::collections::BTreeSet<_>>().into_iter()),
        "classes": event.classes,
        "fields": event.fields.iter().map(|f| json!({
            "name": f.name,
            "values": f.values,
            "asterisk": versions_text(f.versions.iter()),
        })).collect::<Vec<_>>(),
        "replaced_by": event.legacy.as_ref().map(|legacy| legacy.replaced_by.iter().map(|r| r.event).collect::<Vec<_>>()),
    })
}

/// The facts as a person reads them.
fn write_text(out: &mut impl Write, facts: &Value) -> std::io::Result<()> {
    let text = |key: &str| facts[key].as_str().unwrap_or_default().to_owned();
    writeln!(
        out,
        "{} ({}), Asterisk {}",
        text("name"),
        text("kind"),
        text("asterisk")
    )?;
    if let Some(classes) = facts["write_classes"].as_array().filter(|c| !c.is_empty()) {
        let shown: Vec<String> = classes
            .iter()
            .map(|c| {
                let list: Vec<&str> = c["classes"]
                    .as_array()
                    .map(|l| l.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let list = if list.is_empty() {
                    "none".to_owned()
                } else {
                    list.join(",")
                };
                format!("{}: {list}", c["asterisk"].as_str().unwrap_or_default())
            })
            .collect();
        writeln!(out, "write classes: {}", shown.join("; "))?;
    }
    if let Some(classes) = facts["classes"].as_array().filter(|c| !c.is_empty()) {
        let list: Vec<&str> = classes.iter().filter_map(Value::as_str).collect();
        writeln!(out, "classes: {}", list.join(", "))?;
    }
    for (key, title) in [("parameters", "parameters"), ("fields", "fields")] {
        let Some(items) = facts[key].as_array().filter(|i| !i.is_empty()) else {
            continue;
        };
        writeln!(out, "{title}:")?;
        let width = items
            .iter()
            .filter_map(|i| i["name"].as_str())
            .map(str::len)
            .max()
            .unwrap_or(0);
        for item in items {
            let mut notes = Vec::new();
            if item["required"] == true {
                notes.push("required".to_owned());
            }
            if item["repeatable"] == true {
                notes.push("repeatable".to_owned());
            }
            if let Some(default) = item["default"].as_str() {
                notes.push(format!("default {default}"));
            }
            if let Some(values) = item["values"].as_array().filter(|v| !v.is_empty()) {
                let list: Vec<&str> = values.iter().filter_map(Value::as_str).collect();
                notes.push(format!("one of {}", list.join("|")));
            }
            notes.push(format!(
                "Asterisk {}",
                item["asterisk"].as_str().unwrap_or_default()
            ));
            let name = item["name"].as_str().unwrap_or_default();
            writeln!(out, "  {name:<width$}  {}", notes.join("; "))?;
        }
    }
    if let Some(list) = facts["list"].as_object() {
        let items: Vec<&str> = list["items"]
            .as_array()
            .map(|i| i.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        writeln!(
            out,
            "list: items {} then {}",
            items.join(", "),
            list["complete"].as_str().unwrap_or_default()
        )?;
    }
    if let Some(replaced) = facts["replaced_by"].as_array().filter(|r| !r.is_empty()) {
        let list: Vec<&str> = replaced.iter().filter_map(Value::as_str).collect();
        writeln!(out, "replaced on newer Asterisk by: {}", list.join(", "))?;
    }
    if let Some(server) = facts["server"].as_str() {
        writeln!(out, "\nfrom the server:\n{}", server.trim_end())?;
    }
    out.flush()
}

/// `manager show command NAME` (or `manager show event NAME`) on the server, as its text.
fn server_description(common: &Common, kind: &str, name: &str) -> anyhow::Result<String> {
    let resolved = resolve(
        &common.conn,
        common.config.as_deref(),
        common.profile.as_deref(),
    )?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let config = resolved.config.events(ami_client::Events::Off);
        let client: Client = connect(config, &resolved.username, resolved.tls).await?;
        let reply = client
            .send(Action::new("Command").header("Command", format!("manager show {kind} {name}")))
            .await;
        client.close().await;
        match reply {
            Ok(Reply::Command(output)) => Ok(output.output),
            Ok(Reply::Text(text)) => Ok(text),
            Ok(_) => Ok(String::new()),
            Err(error) => Err(UsageError(format!(
                "the server did not describe {name}: {error}\nfix: the AMI user needs the command \
                 write class for `manager show {kind}`"
            ))
            .into()),
        }
    })
}
