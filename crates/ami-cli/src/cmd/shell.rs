//! `ami shell`: an interactive AMI session. Lines are actions (`Getvar Variable=X`), `!` runs
//! a CLI command; events are printed above the prompt as they arrive without garbling what is
//! being typed (rustyline's external printer). History is kept between sessions and action
//! names complete with Tab (the server's own list, from ListCommands), then the action's
//! parameter names and enumerated values (from the catalog).
//!
//! When standard input is not a terminal the same commands are read line by line, so a script
//! can be piped in (`printf 'Ping\n' | ami shell`).

use std::borrow::Cow;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use ami_client::{Action, Client, EventItem, Reply, Subscription};
use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{CompletionType, Editor, ExternalPrinter};

use crate::filter::{self, Filter};
use crate::output::{self, Format};

/// Arguments of `ami shell`.
#[derive(Debug, clap::Args)]
#[command(after_help = "In the shell:\n  \
    ACTION [Key=Value ...]   send an action (Tab completes action names), e.g. Getvar Variable=X\n  \
    !CLI COMMAND             run a CLI command, e.g. !core show channels\n  \
    :events on|off           show or hide events (shown by default)\n  \
    :filter [EXPR ...]       show only matching events (as ami events --filter); none clears\n  \
    :output FORMAT           json, ndjson, table, yaml or summary\n  \
    help, quit (or Ctrl-D)\n\n\
    Quote values with spaces: Originate Channel=Local/100@demo CallerID=\"Demo <100>\"\n\
    History is kept in $XDG_STATE_HOME/amikit/history (~/.local/state/amikit/history);\n\
    lines that mention a secret are not saved.\n\n\
    Example:\n  ami shell\n  printf 'Ping\\n!core show uptime\\n' | ami shell")]
pub struct Args {
    #[command(flatten)]
    pub common: crate::connect::Common,
    /// Start with events hidden (`:events on` shows them).
    #[arg(long)]
    pub quiet_events: bool,
}

const BUILTINS: [&str; 7] = ["help", "quit", "exit", ":events", ":filter", ":output", "!"];

/// What the event printer task reads; changed by `:events` and `:filter`.
#[derive(Debug, Default)]
struct EventView {
    hidden: bool,
    filters: Vec<Filter>,
    format: Option<Format>,
}

/// Runs the shell on `runtime`, which must be multi-threaded: the event printer runs on it
/// while this thread waits for the user's next line.
pub fn run(
    args: Args,
    runtime: &tokio::runtime::Runtime,
    client: Client,
    format: Option<Format>,
) -> anyhow::Result<ExitCode> {
    let mut format = format.unwrap_or(Format::Table);
    let view = Arc::new(Mutex::new(EventView {
        hidden: args.quiet_events,
        filters: Vec::new(),
        format: Some(format),
    }));
    let names = runtime.block_on(action_names(&client));
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let mut subscriber = client.subscribe(Subscription::all());
    let mut lines = LineSource::new(interactive, names)?;
    let printer = lines.printer()?;
    let printer_view = view.clone();
    let printer_task = runtime.spawn(async move {
        let mut printer = printer;
        while let Some(item) = subscriber.recv().await {
            let text = {
                let view = lock(&printer_view);
                if view.hidden {
                    continue;
                }
                if let EventItem::Event(event) = &item
                    && !filter::matches_all(&view.filters, event.message())
                {
                    continue;
                }
                event_line(&item, view.format.unwrap_or(Format::Table))
            };
            if printer.print(text).is_err() {
                break;
            }
        }
    });
    let mut status = ExitCode::SUCCESS;
    loop {
        let line = match lines.next_line()? {
            Some(line) => line,
            None => break,
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        lines.remember(line);
        match line {
            "quit" | "exit" => break,
            "help" => {
                let mut out = std::io::stdout().lock();
                writeln!(out, "{}", HELP)?;
                continue;
            }
            _ => {}
        }
        let result = if let Some(command) = line.strip_prefix('!') {
            runtime.block_on(run_cli(&client, command.trim(), format))
        } else if let Some(rest) = line.strip_prefix(':') {
            builtin(rest, &view, &mut format)
        } else {
            runtime.block_on(run_action(&client, line, format))
        };
        if let Err(error) = result {
            if output::is_broken_pipe(&error) {
                break;
            }
            eprintln!("ami: {error:#}");
            status = ExitCode::FAILURE;
        }
    }
    lines.save_history();
    printer_task.abort();
    // In a script, a failed line makes the exit status non-zero; interactively, the user saw it.
    Ok(if interactive {
        ExitCode::SUCCESS
    } else {
        status
    })
}

const HELP: &str = "ACTION [Key=Value ...]   send an action, e.g. Getvar Variable=X (Tab completes)\n\
!CLI COMMAND             run a CLI command, e.g. !core show channels\n\
:events on|off           show or hide events\n\
:filter [EXPR ...]       show only matching events (Event=Hangup, Channel~PJSIP/, !Event=VarSet)\n\
:output FORMAT           json, ndjson, table, yaml or summary\n\
quit                     leave (or Ctrl-D)";

fn lock(view: &Mutex<EventView>) -> std::sync::MutexGuard<'_, EventView> {
    view.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One line (or block) for an event above the prompt.
fn event_line(item: &EventItem, format: Format) -> String {
    let value = crate::cmd::events::item_value(item);
    let mut out = Vec::new();
    let format = match format {
        // A pretty-printed event would push the prompt far down; keep events compact.
        Format::Json => Format::Ndjson,
        other => other,
    };
    if output::write_stream_item(&mut out, format, &value).is_err() {
        return value.to_string();
    }
    String::from_utf8_lossy(&out).trim_end().to_owned()
}

/// `:events on|off`, `:filter ...`, `:output FORMAT`.
fn builtin(text: &str, view: &Mutex<EventView>, format: &mut Format) -> anyhow::Result<()> {
    let words = split_words(text)?;
    let Some((command, rest)) = words.split_first() else {
        anyhow::bail!("expected :events, :filter or :output (type help)");
    };
    match command.as_str() {
        "events" => match rest {
            [on] if on == "on" => lock(view).hidden = false,
            [off] if off == "off" => lock(view).hidden = true,
            _ => anyhow::bail!("usage: :events on|off"),
        },
        "filter" => {
            let filters = rest
                .iter()
                .map(|expression| expression.parse::<Filter>())
                .collect::<Result<Vec<_>, _>>()?;
            lock(view).filters = filters;
        }
        "output" => {
            let [name] = rest else {
                anyhow::bail!("usage: :output json|ndjson|table|yaml|summary");
            };
            *format = <Format as clap::ValueEnum>::from_str(name, true).map_err(|_| {
                anyhow::anyhow!("unknown format {name:?}: use json, ndjson, table, yaml or summary")
            })?;
            lock(view).format = Some(*format);
        }
        other => anyhow::bail!("unknown shell command :{other} (type help)"),
    }
    Ok(())
}

async fn run_action(client: &Client, line: &str, format: Format) -> anyhow::Result<()> {
    let words = split_words(line)?;
    let Some((name, headers)) = words.split_first() else {
        return Ok(());
    };
    let action = super::action::build_action(name, super::action::parse_headers(headers)?)?;
    let document = match client.send(action).await {
        Ok(reply) => output::reply_document(&reply),
        Err(error) => match error.response() {
            Some(response) => {
                print_document(
                    format,
                    &output::Document::single(output::message_value(response)),
                )?;
                anyhow::bail!("{name} failed: {error}");
            }
            None => return Err(error.into()),
        },
    };
    print_document(format, &document)
}

async fn run_cli(client: &Client, command: &str, format: Format) -> anyhow::Result<()> {
    if command.is_empty() {
        anyhow::bail!("usage: !CLI COMMAND, e.g. !core show channels");
    }
    match client
        .send(Action::new("Command").header("Command", command))
        .await
    {
        Ok(Reply::Command(reply)) => {
            // Tables are what people read in a shell; other formats parse as `ami command --json`.
            let format = (format != Format::Table).then_some(format);
            super::command::render(
                &mut std::io::stdout().lock(),
                command,
                &reply.output,
                format,
            )?;
            Ok(())
        }
        Ok(other) => print_document(format, &output::reply_document(&other)),
        Err(error) => match error.command_output() {
            Some(text) => anyhow::bail!("{}", text.trim_end()),
            None => Err(error.into()),
        },
    }
}

fn print_document(format: Format, document: &output::Document) -> anyhow::Result<()> {
    output::write_document(&mut std::io::stdout().lock(), format, document)?;
    Ok(())
}

/// Action names from `ListCommands` (its header names), sorted; empty if it fails, since
/// completion is a convenience and the shell works without it.
async fn action_names(client: &Client) -> Vec<String> {
    let Ok(reply) = client.send(Action::new("ListCommands")).await else {
        return Vec::new();
    };
    let Some(response) = reply.response() else {
        return Vec::new();
    };
    let mut names: Vec<String> = response
        .fields()
        .filter(|field| !field.is_text_line())
        .map(|field| field.name_str().into_owned())
        .filter(|name| {
            !["Response", "ActionID", "Message"]
                .iter()
                .any(|skip| name.eq_ignore_ascii_case(skip))
        })
        .collect();
    names.sort_unstable_by_key(|name| name.to_ascii_lowercase());
    names.dedup();
    names
}

/// Splits a line into words: blanks separate, `"..."` and `'...'` group, `\` escapes.
pub fn split_words(line: &str) -> anyhow::Result<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(open), c) if c == open => quote = None,
            (Some('"') | None, '\\') => {
                if let Some(next) = chars.next() {
                    word.push(next);
                    in_word = true;
                }
            }
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if let Some(open) = quote {
        anyhow::bail!("unclosed {open} quote: close it, e.g. CallerID=\"Demo <100>\"");
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Whether a line may be saved in the history file.
fn is_safe_for_history(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    !(lower.contains("secret") || lower.contains("key=") || lower.starts_with("login"))
}

fn history_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|value| !value.is_empty())
                .map(|home| PathBuf::from(home).join(".local").join("state"))
        })?;
    Some(base.join("amikit").join("history"))
}

/// Tab completion: action names (and the shell's own commands) for the first word; then the
/// action's parameter names (`Channel=`) and enumerated values (`EventMask=on`) from the catalog.
struct ShellHelper {
    names: Vec<String>,
}

impl Completer for ShellHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        Ok(complete(&self.names, &line[..pos]))
    }
}

/// Where the word being typed starts, and its candidates.
fn complete(names: &[String], before_cursor: &str) -> (usize, Vec<String>) {
    let start = before_cursor
        .rfind(char::is_whitespace)
        .map_or(0, |at| at + 1);
    if start == 0 {
        return (0, complete_first_word(names, before_cursor));
    }
    (start, complete_parameter(before_cursor))
}

/// Candidates for a `Key=Value` word after a catalogued action: parameter names the line does
/// not have yet (repeatable ones always), as `Name=`; after the `=`, the enumerated values.
fn complete_parameter(before_cursor: &str) -> Vec<String> {
    let words: Vec<&str> = before_cursor.split_whitespace().collect();
    let typing_new_word = before_cursor.ends_with(char::is_whitespace);
    let (Some(action_name), typed) = (
        words.first(),
        if typing_new_word {
            ""
        } else {
            words.last().copied().unwrap_or("")
        },
    ) else {
        return Vec::new();
    };
    // Quotes are for values; a word still inside one is left alone.
    if action_name.starts_with(['!', ':']) || typed.contains(['"', '\'']) {
        return Vec::new();
    }
    let Some(action) = ami_catalog::action(action_name) else {
        return Vec::new();
    };
    if let Some((key, value)) = typed.split_once('=') {
        let Some(param) = action.param(key) else {
            return Vec::new();
        };
        let value = value.to_ascii_lowercase();
        return param
            .values
            .iter()
            .filter(|candidate| candidate.to_ascii_lowercase().starts_with(&value))
            .map(|candidate| format!("{}={candidate}", param.name))
            .collect();
    }
    let earlier = &words[1..words.len() - usize::from(!typing_new_word)];
    let given = |name: &str| {
        earlier.iter().any(|word| {
            word.split_once('=')
                .is_some_and(|(key, _)| key.eq_ignore_ascii_case(name))
        })
    };
    let typed = typed.to_ascii_lowercase();
    action
        .params
        .iter()
        .filter(|param| !param.name.eq_ignore_ascii_case("ActionID"))
        .filter(|param| param.repeatable || !given(param.name))
        .filter(|param| param.name.to_ascii_lowercase().starts_with(&typed))
        .map(|param| format!("{}=", param.name))
        .collect()
}

/// Candidates for the word being typed when it is the first one; none afterwards.
fn complete_first_word(names: &[String], before_cursor: &str) -> Vec<String> {
    if before_cursor.contains(char::is_whitespace) || before_cursor.starts_with('!') {
        return Vec::new();
    }
    let typed = before_cursor.to_ascii_lowercase();
    names
        .iter()
        .map(String::as_str)
        .chain(BUILTINS.iter().copied().filter(|name| *name != "!"))
        .filter(|name| name.to_ascii_lowercase().starts_with(&typed))
        .map(str::to_owned)
        .collect()
}

impl Hinter for ShellHelper {
    type Hint = String;
}
impl Highlighter for ShellHelper {
    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        _default: bool,
    ) -> Cow<'b, str> {
        Cow::Borrowed(prompt)
    }
}
impl Validator for ShellHelper {}
impl rustyline::Helper for ShellHelper {}

/// Where lines come from: the line editor on a terminal, plain standard input otherwise.
enum LineSource {
    Editor {
        editor: Box<Editor<ShellHelper, DefaultHistory>>,
        history: Option<PathBuf>,
    },
    Plain {
        stdin: std::io::StdinLock<'static>,
    },
}

/// Prints events: above the prompt through the editor, or straight to standard output.
enum Printer {
    Editor(Box<dyn ExternalPrinter + Send>),
    Plain,
}

impl Printer {
    fn print(&mut self, text: String) -> anyhow::Result<()> {
        match self {
            Self::Editor(printer) => printer.print(text)?,
            Self::Plain => {
                let mut out = std::io::stdout().lock();
                writeln!(out, "{text}")?;
                out.flush()?;
            }
        }
        Ok(())
    }
}

impl LineSource {
    fn new(interactive: bool, names: Vec<String>) -> anyhow::Result<Self> {
        if !interactive {
            return Ok(Self::Plain {
                stdin: std::io::stdin().lock(),
            });
        }
        let config = rustyline::Config::builder()
            .completion_type(CompletionType::List)
            .auto_add_history(false)
            .max_history_size(5000)?
            .build();
        let mut editor: Editor<ShellHelper, DefaultHistory> = Editor::with_config(config)?;
        editor.set_helper(Some(ShellHelper { names }));
        let history = history_path();
        if let Some(path) = &history {
            // A missing history file is the normal first run.
            let _ = editor.load_history(path);
        }
        Ok(Self::Editor {
            editor: Box::new(editor),
            history,
        })
    }

    fn printer(&mut self) -> anyhow::Result<Printer> {
        Ok(match self {
            Self::Editor { editor, .. } => {
                Printer::Editor(Box::new(editor.create_external_printer()?))
            }
            Self::Plain { .. } => Printer::Plain,
        })
    }

    /// The next line; `None` at the end (Ctrl-D, end of input). Ctrl-C clears the line.
    fn next_line(&mut self) -> anyhow::Result<Option<String>> {
        match self {
            Self::Editor { editor, .. } => loop {
                match editor.readline("ami> ") {
                    Ok(line) => return Ok(Some(line)),
                    Err(ReadlineError::Interrupted) => continue,
                    Err(ReadlineError::Eof) => return Ok(None),
                    Err(error) => return Err(error.into()),
                }
            },
            Self::Plain { stdin } => {
                let mut line = String::new();
                let read = std::io::BufRead::read_line(stdin, &mut line)?;
                Ok((read > 0).then_some(line))
            }
        }
    }

    fn remember(&mut self, line: &str) {
        if let Self::Editor { editor, .. } = self
            && is_safe_for_history(line)
        {
            let _ = editor.add_history_entry(line);
        }
    }

    fn save_history(&mut self) {
        if let Self::Editor {
            editor,
            history: Some(path),
        } = self
        {
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            // Losing the history is not worth failing the session for.
            let _ = editor.save_history(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_honour_quotes_and_escapes() {
        assert_eq!(
            split_words(
                r#"Originate Channel=Local/100@demo CallerID="Demo <100>" Data='a b' x\ y"#
            )
            .expect("valid"),
            vec![
                "Originate",
                "Channel=Local/100@demo",
                "CallerID=Demo <100>",
                "Data=a b",
                "x y"
            ]
        );
        assert_eq!(split_words(r#"Empty="""#).expect("valid"), vec!["Empty="]);
        assert_eq!(split_words("  ").expect("valid"), Vec::<String>::new());
        assert!(split_words("Data=\"open").is_err());
    }

    #[test]
    fn completes_the_first_word_only() {
        let names = vec![
            "CoreShowChannels".to_owned(),
            "CoreStatus".to_owned(),
            "Ping".to_owned(),
        ];
        assert_eq!(
            complete_first_word(&names, "core"),
            vec!["CoreShowChannels", "CoreStatus"]
        );
        assert_eq!(complete_first_word(&names, "pi"), vec!["Ping"]);
        assert_eq!(complete_first_word(&names, ":e"), vec![":events"]);
        assert!(complete_first_word(&names, "Ping Act").is_empty());
        assert!(complete_first_word(&names, "!core").is_empty());
    }

    #[test]
    fn completes_parameter_names_and_enumerated_values() {
        let names = vec!["Originate".to_owned(), "Events".to_owned()];
        let (start, candidates) = complete(&names, "Originate Chan");
        assert_eq!(start, 10);
        assert_eq!(
            candidates,
            vec!["Channel=".to_owned(), "ChannelId=".to_owned()]
        );
        let (_, all) = complete(&names, "Originate ");
        assert!(all.contains(&"Context=".to_owned()) && !all.contains(&"ActionID=".to_owned()));
        // Given once, a parameter is not offered again, unless it may repeat.
        let (_, rest) = complete(&names, "originate Channel=Local/100@demo ");
        assert!(!rest.contains(&"Channel=".to_owned()));
        assert!(rest.contains(&"Variable=".to_owned()), "{rest:?}");
        let (start, values) = complete(&names, "Events EventMask=o");
        assert_eq!(
            (start, values),
            (
                7,
                vec!["EventMask=on".to_owned(), "EventMask=off".to_owned()]
            )
        );
        assert!(complete(&names, "Events Nope=").1.is_empty());
        assert!(complete(&names, "Frobnicate Chan").1.is_empty());
        assert!(complete(&names, "Originate Data=\"a b").1.is_empty());
        assert!(complete(&names, "!core show chan").1.is_empty());
    }

    #[test]
    fn secrets_stay_out_of_the_history() {
        assert!(is_safe_for_history("CoreShowChannels"));
        assert!(!is_safe_for_history("Login Username=admin Secret=x"));
        assert!(!is_safe_for_history("Setvar Variable=SECRET Value=1"));
    }

    #[test]
    fn builtins_change_the_view_and_format() {
        let view = Mutex::new(EventView::default());
        let mut format = Format::Table;
        builtin("events off", &view, &mut format).expect("valid");
        assert!(lock(&view).hidden);
        builtin("filter Event=Hangup !Channel~Local/", &view, &mut format).expect("valid");
        assert_eq!(lock(&view).filters.len(), 2);
        builtin("filter", &view, &mut format).expect("valid");
        assert!(lock(&view).filters.is_empty());
        builtin("output yaml", &view, &mut format).expect("valid");
        assert_eq!(format, Format::Yaml);
        assert!(builtin("output xml", &view, &mut format).is_err());
        assert!(builtin("filter =x", &view, &mut format).is_err());
        assert!(builtin("frobnicate", &view, &mut format).is_err());
    }
}
