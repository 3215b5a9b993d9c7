//! `ami command "core show channels concise"`: a CLI command through the `Command` action.

use std::io::Write;
use std::process::ExitCode;

use ami_client::{Action, Client, Reply};
use ami_json::cli_output::parse_cli_output;

use crate::output::{self, Format};

/// Arguments of `ami command`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    ami command \"core show uptime\"\n  \
    ami command --json \"core show channels concise\"\n  \
    ami command --output table \"sip show peers\"\n\n\
    --json parses the output of well-known commands into records: core show channels\n\
    [concise|verbose], queue show, core show uptime, sip/iax2 show peers|users|registry,\n\
    pjsip show endpoints|aors|contacts|...; any other command gives an array of lines.\n\
    Exit status 1 when the CLI refuses the command (No such command ...).")]
pub struct Args {
    #[command(flatten)]
    pub common: crate::connect::Common,
    /// The CLI command; several words are joined with spaces, so quoting is optional.
    #[arg(value_name = "COMMAND", required = true, num_args = 1..)]
    pub words: Vec<String>,
    /// Parse the output into JSON records (the same as --output json).
    #[arg(long)]
    pub json: bool,
}

impl Args {
    /// The command line as sent.
    pub fn command(&self) -> String {
        self.words.join(" ")
    }

    /// The `Command` action, checked as the encoder will check it, so that a command AMI
    /// cannot carry (a line break in it) is refused before connecting. The error is the
    /// message to print, with its `fix:` line.
    pub fn action(&self) -> Result<Action, String> {
        let action = Action::new("Command").header("Command", self.command());
        let mut probe = bytes::BytesMut::new();
        match ami_proto::encode_action(&action, &mut probe) {
            Ok(()) => Ok(action),
            Err(ami_proto::EncodeError::LineBreakInValue { .. }) => {
                Err("the command contains a line break, which AMI cannot carry
\
                 fix: give one CLI command on one line (run `ami command` once per command)"
                    .to_owned())
            }
            Err(error) => Err(format!(
                "the command cannot be sent: {error}\nfix: shorten the command"
            )),
        }
    }
}

/// What `ami command` prints for `text`, the output of `command`: the text itself, or, when a
/// format is asked for, the parsed records rendered in it.
pub fn render(
    out: &mut impl Write,
    command: &str,
    text: &str,
    format: Option<Format>,
) -> std::io::Result<()> {
    match format {
        None => {
            out.write_all(text.as_bytes())?;
            if !text.is_empty() && !text.ends_with('\n') {
                out.write_all(b"\n")?;
            }
            out.flush()
        }
        Some(format) => {
            let document = output::parsed_document(parse_cli_output(command, text));
            output::write_document(out, format, &document)
        }
    }
}

/// Runs `action` (from [`Args::action`]) and prints its output. `format` is `--output`, if
/// given.
pub async fn run(
    args: &Args,
    action: Action,
    client: &Client,
    format: Option<Format>,
) -> anyhow::Result<ExitCode> {
    let command = args.command();
    let format = if args.json {
        Some(format.unwrap_or(Format::Json))
    } else {
        format
    };
    match client.send(action).await {
        Ok(Reply::Command(reply)) => {
            render(
                &mut std::io::stdout().lock(),
                &command,
                &reply.output,
                format,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Ok(other) => {
            // A server that answers Command without CLI text (a proxy, an old version): show
            // whatever it sent rather than nothing.
            output::write_document(
                &mut std::io::stdout().lock(),
                format.unwrap_or(Format::Json),
                &output::reply_document(&other),
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            if let Some(text) = error.command_output() {
                eprintln!("ami: the CLI refused {command:?}: {}", text.trim_end());
                return Ok(ExitCode::FAILURE);
            }
            if let Some(message) = error.server_message() {
                eprintln!("ami: the server refused the Command action: {message}");
                if message.to_ascii_lowercase().contains("permission") {
                    eprintln!(
                        "fix: the AMI user needs the `command` class in `read`/`write` in \
                         manager.conf"
                    );
                }
                return Ok(ExitCode::FAILURE);
            }
            Err(error.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn rendered(command: &str, text: &str, format: Option<Format>) -> String {
        let mut out = Vec::new();
        render(&mut out, command, text, format).expect("Vec");
        String::from_utf8(out).expect("UTF-8")
    }

    const CONCISE: &str =
        "SIP/100-00000001!demo!200!1!Up!Dial!SIP/200,30!100!!!3!42!SIP/200-00000002!1700000000.1\n";

    #[test]
    fn without_a_format_the_text_is_printed_as_is() {
        assert_eq!(
            rendered("core show channels concise", CONCISE, None),
            CONCISE
        );
        assert_eq!(rendered("x", "no newline", None), "no newline\n");
        assert_eq!(rendered("x", "", None), "");
    }

    #[test]
    fn json_gives_records_for_well_known_commands() {
        let text = rendered("core show channels concise", CONCISE, Some(Format::Json));
        let value: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(value[0]["channel"], "SIP/100-00000001");
        assert_eq!(value[0]["data"], "SIP/200,30");
        assert_eq!(value[0]["uniqueid"], "1700000000.1");
    }

    #[test]
    fn other_commands_give_an_array_of_lines() {
        let text = rendered("dialplan show demo", "a\nb\n", Some(Format::Json));
        let value: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(value, serde_json::json!(["a", "b"]));
    }

    #[test]
    fn sip_peers_render_as_a_table_of_records() {
        let text = "Name/username             Host                                    Dyn \
                    Forcerport Comedia    ACL Port     Status      Description\n\
                    100/100                   (Unspecified)                            D  \
                    Auto (No)  No             0        UNKNOWN\n\
                    1 sip peers [Monitored: 0 online, 1 offline Unmonitored: 0 online, 0 \
                    offline]\n";
        let table = rendered("sip show peers", text, Some(Format::Table));
        let mut lines = table.lines();
        let header = lines.next().expect("a header");
        assert!(header.starts_with("name_username  host"), "{table}");
        let row = lines.next().expect("one peer");
        assert!(row.starts_with("100/100        (Unspecified)"), "{table}");
        assert!(row.ends_with("UNKNOWN"), "{table}");
        assert_eq!(
            lines.next(),
            None,
            "the summary line is not a peer: {table}"
        );
    }

    #[test]
    fn uptime_is_an_object_and_ndjson_prints_it_on_one_line() {
        let text = rendered(
            "core show uptime seconds",
            "System uptime: 3600\nLast reload: 60\n",
            Some(Format::Ndjson),
        );
        assert_eq!(text.lines().count(), 1, "{text}");
        let value: Value = serde_json::from_str(&text).expect("JSON");
        assert!(value.is_object(), "{value}");
    }
}
