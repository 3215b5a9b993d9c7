//! `ami demo`: a guided tour against the embedded simulator, no PBX needed. Each step says
//! what it does and which `ami` command does the same, then shows the result.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use ami_client::{Action, Client, Config, EventItem, Reply, Subscription};
use ami_sim::{Profile, SimConfig};

use crate::output::{self, Format};

/// Arguments of `ami demo`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  ami demo\n  ami demo --asterisk 13 --output json")]
pub struct Args {
    /// Which Asterisk the simulator imitates: 22, 13, 11 or 1.8.
    #[arg(long, value_name = "VERSION", default_value = "22")]
    pub asterisk: Profile,
    /// How results are printed [default: table].
    #[arg(long, short = 'o', value_enum, value_name = "FORMAT")]
    pub output: Option<Format>,
    /// Stop following the call's events after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 15)]
    pub wait: u64,
}

/// The simulator's default account.
const USERNAME: &str = "admin";
const SECRET: &str = "amp111";

/// Runs the tour on its own runtime.
pub fn main(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let format = args.output;
    let result = runtime.block_on(run(args, format));
    // Whatever the simulator still has running must not hold up the exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    result
}

/// Runs the tour. `format` renders the results (default: tables, easiest to read).
pub async fn run(args: Args, format: Option<Format>) -> anyhow::Result<ExitCode> {
    let format = format.unwrap_or(Format::Table);
    let mut out = std::io::stdout().lock();
    let sim = ami_sim::spawn(SimConfig {
        profile: args.asterisk,
        // A few calls already up, so the list action has something to list.
        demo_calls: true,
        ..SimConfig::default()
    })
    .await
    .map_err(|error| anyhow::anyhow!("cannot start the embedded simulator: {error}"))?;
    let addr = sim.addr();
    step(
        &mut out,
        &format!(
            "Started the embedded simulator (Asterisk {}) on {addr}.",
            args.asterisk.asterisk_version()
        ),
        &format!("ami sim --profile {}", args.asterisk),
    )?;

    step(
        &mut out,
        &format!("Logging in as {USERNAME:?}."),
        &format!(
            "AMI_SECRET={SECRET} ami --host {} --port {} --username {USERNAME} action Ping",
            addr.ip(),
            addr.port()
        ),
    )?;
    let config = Config::new(addr.ip().to_string(), USERNAME, SECRET)
        .port(addr.port())
        .reconnect(None);
    let client = crate::connect::connect(config, USERNAME, false).await?;
    writeln!(
        out,
        "Logged in; the banner says AMI {}.",
        client.ami_version()
    )?;
    let result = tour(&client, &mut out, format, Duration::from_secs(args.wait)).await;
    client.close().await;
    sim.shutdown().await;
    result?;
    step(
        &mut out,
        "Done. Next: run `ami sim` in one terminal and `ami shell` (or any command above) in \
         another.",
        "ami --help",
    )?;
    Ok(ExitCode::SUCCESS)
}

async fn tour(
    client: &Client,
    out: &mut impl Write,
    format: Format,
    wait: Duration,
) -> anyhow::Result<()> {
    step(
        out,
        "A list action: CoreShowChannels. The items arrive as events and are gathered into one \
         result.",
        "ami action CoreShowChannels",
    )?;
    let reply = client.send(Action::new("CoreShowChannels")).await?;
    output::write_document(out, format, &output::reply_document(&reply))?;
    if let Reply::List(list) = &reply {
        writeln!(out, "({} channels up)", list.items.len())?;
    }

    step(
        out,
        "A CLI command through the Command action.",
        "ami command \"core show uptime\"",
    )?;
    let command = "core show uptime";
    match client
        .send(Action::new("Command").header("Command", command))
        .await?
    {
        Reply::Command(reply) => crate::cmd::command::render(out, command, &reply.output, None)?,
        other => output::write_document(out, format, &output::reply_document(&other))?,
    }

    // Subscribe before the Originate so the first events of the call are not missed.
    let mut events = client.subscribe(Subscription::all());
    step(
        out,
        "Originate: a call from Local/100@demo (answers, plays a file, hangs up) to extension \
         500 in context demo.",
        "ami action Originate Channel=Local/100@demo Context=demo Exten=500 Priority=1 \
         CallerID='Demo <100>' Async=true",
    )?;
    let originate = Action::new("Originate")
        .header("Channel", "Local/100@demo")
        .header("Context", "demo")
        .header("Exten", "500")
        .header("Priority", "1")
        .header("CallerID", "Demo <100>")
        .header("Async", "true");
    let reply = client.send(originate).await?;
    output::write_document(out, format, &output::reply_document(&reply))?;

    step(
        out,
        "The call's events as they arrive, until every channel has hung up.",
        "ami events --filter 'Channel~Local/100@demo-'",
    )?;
    let deadline = tokio::time::Instant::now() + wait;
    let mut open: BTreeSet<String> = BTreeSet::new();
    let mut seen_channel = false;
    loop {
        let item = tokio::select! {
            item = events.recv() => item,
            () = tokio::time::sleep_until(deadline) => {
                writeln!(out, "(stopped waiting after {}s)", wait.as_secs())?;
                break;
            }
        };
        let Some(item) = item else {
            anyhow::bail!("the simulator closed the connection");
        };
        let EventItem::Event(event) = &item else {
            output::write_stream_item(out, Format::Ndjson, &crate::cmd::events::item_value(&item))?;
            continue;
        };
        // The calls that were already up have their own events: show only this call's.
        if !event
            .fields()
            .any(|field| field.value_str().starts_with(OUR_CHANNEL))
        {
            continue;
        }
        let channel = event.get("Channel").map(|c| c.into_owned());
        match (event.name().as_ref(), channel) {
            ("Newchannel", Some(channel)) => {
                seen_channel = true;
                open.insert(channel);
            }
            ("Hangup", Some(channel)) => {
                open.remove(&channel);
            }
            _ => {}
        }
        if format == Format::Table {
            writeln!(out, "{}", summary(event.message()))?;
        } else {
            output::write_stream_item(out, format, &output::message_value(event.message()))?;
        }
        if seen_channel && open.is_empty() {
            writeln!(out, "(every channel of the call has hung up)")?;
            break;
        }
    }
    Ok(())
}

/// The prefix of the originated call's channel names.
const OUR_CHANNEL: &str = "Local/100@demo-";

/// The headers worth reading in a tour, in this order; the rest are left out of the summary.
const SUMMARY_HEADERS: [&str; 12] = [
    "Channel",
    "DestChannel",
    "ChannelStateDesc",
    "Exten",
    "Application",
    "AppData",
    "Variable",
    "Value",
    "UserEvent",
    "Response",
    "DialStatus",
    "Cause-txt",
];

/// `Event  Name=value ...` with the few headers that tell the story of a call.
fn summary(message: &ami_client::Message) -> String {
    let mut line = format!("{:<18}", message.event_name().unwrap_or_default());
    for name in SUMMARY_HEADERS {
        if let Some(value) = message.get(name) {
            line.push_str(&format!(" {name}={value}"));
        }
    }
    line
}

fn step(out: &mut impl Write, what: &str, equivalent: &str) -> std::io::Result<()> {
    writeln!(out)?;
    writeln!(out, "==> {what}")?;
    writeln!(out, "    $ {equivalent}")?;
    out.flush()
}
