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

/// Runs the tour. `format` renders the results (default: tables, easiest to read). With
/// tables the narration goes to stdout with them; with a machine format (`-o json` …) it goes
/// to stderr, so stdout holds only the documents.
pub async fn run(args: Args, format: Option<Format>) -> anyhow::Result<ExitCode> {
    let format = format.unwrap_or(Format::Table);
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    let mut out = Tour {
        out: &mut stdout,
        narration: (format != Format::Table).then_some(&mut stderr as &mut dyn Write),
    };
    let out = &mut out;
    let sim = ami_sim::spawn(SimConfig {
        profile: args.asterisk,
        // A few calls already up, so the list action has something to list.
        demo_calls: true,
        ..SimConfig::default()
    })
    .await
    .map_err(|error| anyhow::anyhow!("cannot start the embedded simulator: {error}"))?;
    let addr = sim.addr();
    // The commands shown work as printed against a simulator kept running in another
    // terminal (`ami sim` listens on 127.0.0.1:5038); this tour's own simulator is on a
    // random port and gone when it ends.
    out.step(
        &format!(
            "Started an embedded simulator (Asterisk {}) on {addr} for this tour. To run the \
             commands shown below yourself, keep one running in another terminal:",
            args.asterisk.asterisk_version()
        ),
        &format!("ami sim --asterisk {}", args.asterisk),
    )?;
    out.step(
        &format!(
            "Logging in as {USERNAME:?}. The environment tells every ami command where to \
             connect (or use --host, --port, --username and a profile; see ami --help):"
        ),
        &format!(
            "export AMI_HOST=127.0.0.1 AMI_PORT=5038 AMI_USERNAME={USERNAME} AMI_SECRET={SECRET}; \
             ami action Ping"
        ),
    )?;
    let config = Config::new(addr.ip().to_string(), USERNAME, SECRET)
        .port(addr.port())
        .reconnect(None);
    let client = crate::connect::connect(config, USERNAME, false).await?;
    out.say(&format!(
        "Logged in; the banner says AMI {}.",
        client.ami_version()
    ))?;
    let result = tour(&client, out, format, Duration::from_secs(args.wait)).await;
    client.close().await;
    sim.shutdown().await;
    result?;
    out.step(
        "Done. Next: with `ami sim` running, try `ami shell`, or any command above.",
        "ami --help",
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Where the tour writes: results to `out`, narration (steps and remarks) to `narration`,
/// or to `out` too when there is none.
struct Tour<'a> {
    out: &'a mut dyn Write,
    narration: Option<&'a mut dyn Write>,
}

impl Tour<'_> {
    /// A remark between results.
    fn say(&mut self, line: &str) -> std::io::Result<()> {
        let to: &mut dyn Write = match &mut self.narration {
            Some(narration) => &mut **narration,
            None => &mut *self.out,
        };
        writeln!(to, "{line}")?;
        to.flush()
    }

    /// A step: what happens, and the command that does the same.
    fn step(&mut self, what: &str, equivalent: &str) -> std::io::Result<()> {
        self.say("")?;
        self.say(&format!("==> {what}"))?;
        self.say(&format!("    $ {equivalent}"))
    }
}

async fn tour(
    client: &Client,
    out: &mut Tour<'_>,
    format: Format,
    wait: Duration,
) -> anyhow::Result<()> {
    out.step(
        "A list action: CoreShowChannels. The items arrive as events and are gathered into one \
         result.",
        "ami action CoreShowChannels",
    )?;
    let reply = client.send(Action::new("CoreShowChannels")).await?;
    output::write_document(&mut out.out, format, &output::reply_document(&reply))?;
    if let Reply::List(list) = &reply {
        out.say(&format!("({} channels up)", list.items.len()))?;
    }

    out.step(
        "A CLI command through the Command action.",
        "ami command \"core show uptime\"",
    )?;
    let command = "core show uptime";
    match client
        .send(Action::new("Command").header("Command", command))
        .await?
    {
        // The CLI's own text in a table tour; parsed records in a machine format.
        Reply::Command(reply) => crate::cmd::command::render(
            &mut out.out,
            command,
            &reply.output,
            (format != Format::Table).then_some(format),
        )?,
        other => output::write_document(&mut out.out, format, &output::reply_document(&other))?,
    }

    // Subscribe before the Originate so the first events of the call are not missed.
    let mut events = client.subscribe(Subscription::all());
    out.step(
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
    output::write_document(&mut out.out, format, &output::reply_document(&reply))?;

    out.step(
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
                out.say(&format!("(stopped waiting after {}s)", wait.as_secs()))?;
                break;
            }
        };
        let Some(item) = item else {
            anyhow::bail!("the simulator closed the connection");
        };
        let EventItem::Event(event) = &item else {
            output::write_stream_item(
                &mut out.out,
                Format::Ndjson,
                &crate::cmd::events::item_value(&item),
            )?;
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
            writeln!(
                out.out,
                "{}",
                output::story_line(&output::message_value(event.message()))
            )?;
        } else {
            output::write_stream_item(
                &mut out.out,
                format,
                &output::message_value(event.message()),
            )?;
        }
        if seen_channel && open.is_empty() {
            out.say("(every channel of the call has hung up)")?;
            break;
        }
    }
    Ok(())
}

/// The prefix of the originated call's channel names.
const OUR_CHANNEL: &str = "Local/100@demo-";
