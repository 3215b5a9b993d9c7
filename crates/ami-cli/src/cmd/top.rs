//! `ami top`: a full-screen view of a PBX, like htop: calls with their parties, queues with
//! waiting callers and members, agents and parked calls, kept live by `ami_client::live::LiveState`; keys to move,
//! filter, sort, and act on the selected row (hang up, redirect, pause) after a confirmation.
//! `--once` prints one snapshot instead, for scripts.
//!
//! The screen is drawn from a [`View`] (what is selected, typed, asked) and a snapshot: both
//! plain data, so that drawing and keys are tested without a terminal.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ami_client::live::LiveState;
use ami_client::{Client, EventItem, Subscription};
use ami_state::Snapshot;
use anyhow::Context as _;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState};
use ratatui::{DefaultTerminal, Frame};
use tokio::sync::mpsc;

use crate::output::{self, Format};

/// Arguments of `ami top`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Keys:\n  \
    Tab          switch between calls and queue members\n  \
    Up/Down j/k  select a row\n  \
    h            hang up the selected call (asks first)\n  \
    r            redirect the selected call to EXTEN@CONTEXT (asks for it)\n  \
    p            pause or unpause the selected queue member (asks first)\n  \
    /            filter rows by text (Enter to keep, Esc to clear)\n  \
    s            sort calls by time, channel or state\n  \
    q            quit\n\n\
    Examples:\n  \
    ami top\n  \
    ami top --once -o json | jq '.queues.support.callers'")]
pub struct Args {
    #[command(flatten)]
    pub common: crate::connect::Common,
    /// Print one snapshot (as `ami state`) and exit, for scripts.
    #[arg(long)]
    pub once: bool,
}

/// Which list has the selection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Panel {
    Calls,
    Members,
}

/// How calls are ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sort {
    Time,
    Channel,
    State,
}

impl Sort {
    fn next(self) -> Sort {
        match self {
            Sort::Time => Sort::Channel,
            Sort::Channel => Sort::State,
            Sort::State => Sort::Time,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Sort::Time => "time",
            Sort::Channel => "channel",
            Sort::State => "state",
        }
    }
}

/// A question on the bottom line, waiting for its answer.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Prompt {
    Hangup {
        uniqueid: String,
        name: String,
    },
    Redirect {
        uniqueid: String,
        name: String,
        input: String,
    },
    Pause {
        queue: String,
        interface: String,
        name: String,
        paused: bool,
    },
    Filter {
        input: String,
    },
}

/// What a key asks the PBX to do.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Command {
    Quit,
    Hangup(String),
    Redirect {
        uniqueid: String,
        exten: String,
        context: String,
    },
    Pause {
        queue: String,
        interface: String,
        paused: bool,
    },
}

/// One call row.
#[derive(Clone, Debug)]
struct CallRow {
    /// The channel an action on the call acts on (the first one, which placed it).
    uniqueid: String,
    channel: String,
    parties: String,
    state: String,
    caller: String,
    application: String,
    seconds: u64,
}

/// One queue member row.
#[derive(Clone, Debug)]
struct MemberRow {
    queue: String,
    interface: String,
    name: String,
    status: &'static str,
    paused: bool,
    calls: u64,
}

/// Everything the screen shows besides the snapshot.
#[derive(Debug)]
struct View {
    panel: Panel,
    selected_call: usize,
    selected_member: usize,
    sort: Sort,
    filter: String,
    prompt: Option<Prompt>,
    message: String,
    server: String,
    version: String,
    connected: bool,
    events_per_second: u64,
}

impl View {
    fn new(server: String, version: String) -> View {
        View {
            panel: Panel::Calls,
            selected_call: 0,
            selected_member: 0,
            sort: Sort::Time,
            filter: String::new(),
            prompt: None,
            message: String::new(),
            server,
            version,
            connected: true,
            events_per_second: 0,
        }
    }
}

/// Asterisk's device states as QueueMember `Status` numbers give them.
fn member_status(status: u8) -> &'static str {
    match status {
        1 => "free",
        2 => "in use",
        3 => "busy",
        4 => "invalid",
        5 => "unavailable",
        6 => "ringing",
        7 => "ring+inuse",
        8 => "on hold",
        _ => "unknown",
    }
}

fn call_rows(snapshot: &Snapshot, seen: &HashMap<String, Instant>, view: &View) -> Vec<CallRow> {
    let now = Instant::now();
    let filter = view.filter.to_lowercase();
    let mut rows: Vec<CallRow> = snapshot
        .calls
        .iter()
        .filter_map(|call| {
            let channels: Vec<&ami_state::Channel> = call
                .channels
                .iter()
                .filter_map(|id| snapshot.channels.get(id))
                .collect();
            let first = channels.first()?;
            let caller = if first.caller_id_name.is_empty() || first.caller_id_name == "<unknown>" {
                first.caller_id_num.clone()
            } else {
                format!("{} <{}>", first.caller_id_name, first.caller_id_num)
            };
            let seconds = channels
                .iter()
                .filter_map(|c| seen.get(&c.uniqueid))
                .map(|at| now.duration_since(*at).as_secs())
                .max()
                .unwrap_or(0);
            Some(CallRow {
                uniqueid: first.uniqueid.clone(),
                channel: first.name.clone(),
                parties: channels
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(" + "),
                state: first.state_desc.clone(),
                caller,
                application: channels
                    .iter()
                    .map(|c| c.application.as_str())
                    .find(|a| !a.is_empty())
                    .unwrap_or("")
                    .to_owned(),
                seconds,
            })
        })
        .filter(|row| {
            filter.is_empty()
                || format!("{} {} {}", row.parties, row.caller, row.application)
                    .to_lowercase()
                    .contains(&filter)
        })
        .collect();
    match view.sort {
        Sort::Time => rows.sort_by_key(|row| std::cmp::Reverse(row.seconds)),
        Sort::Channel => rows.sort_by(|a, b| a.parties.cmp(&b.parties)),
        Sort::State => rows.sort_by(|a, b| a.state.cmp(&b.state)),
    }
    rows
}

fn member_rows(snapshot: &Snapshot, view: &View) -> Vec<MemberRow> {
    let filter = view.filter.to_lowercase();
    snapshot
        .queues
        .values()
        .flat_map(|queue| {
            queue.members.values().map(|member| MemberRow {
                queue: queue.name.clone(),
                interface: member.interface.clone(),
                name: member.name.clone(),
                status: if member.in_call {
                    "in call"
                } else {
                    member_status(member.status)
                },
                paused: member.paused,
                calls: member.calls_taken,
            })
        })
        .filter(|row| {
            filter.is_empty()
                || format!("{} {} {}", row.queue, row.name, row.interface)
                    .to_lowercase()
                    .contains(&filter)
        })
        .collect()
}

/// One agent row.
#[derive(Clone, Debug)]
struct AgentRow {
    id: String,
    name: String,
    status: &'static str,
    channel: String,
    talking_to: String,
}

/// Asterisk's agent statuses, in words.
fn agent_status(status: &str) -> &'static str {
    match status {
        "AGENT_IDLE" => "idle",
        "AGENT_ONCALL" => "on call",
        "AGENT_LOGGEDOFF" => "logged off",
        _ => "unknown",
    }
}

fn agent_rows(snapshot: &Snapshot, view: &View) -> Vec<AgentRow> {
    let filter = view.filter.to_lowercase();
    snapshot
        .agents
        .values()
        .map(|agent| AgentRow {
            id: agent.id.clone(),
            name: agent.name.clone(),
            status: agent_status(&agent.status),
            channel: agent.channel.clone().unwrap_or_default(),
            talking_to: agent.talking_to.clone().unwrap_or_default(),
        })
        .filter(|row| {
            filter.is_empty()
                || format!("{} {} {}", row.id, row.name, row.channel)
                    .to_lowercase()
                    .contains(&filter)
        })
        .collect()
}

/// The agents table; its title also lists the parked calls (`space channel`), which need no
/// panel of their own on an 80x24 screen.
fn draw_agents(frame: &mut Frame<'_>, area: Rect, snapshot: &Snapshot, rows: &[AgentRow]) {
    let parked: Vec<String> = snapshot
        .parked
        .values()
        .map(|p| format!("{} {}", p.space, p.channel))
        .collect();
    let logged_in = rows.iter().filter(|r| r.status != "logged off").count();
    let title = if parked.is_empty() {
        format!(" Agents ({} logged in of {}) ", logged_in, rows.len())
    } else {
        format!(
            " Agents ({} logged in of {}) - parked: {} ",
            logged_in,
            rows.len(),
            parked.join(", ")
        )
    };
    let table = Table::new(
        rows.iter().map(|row| {
            Row::new(vec![
                Cell::from(row.id.clone()),
                Cell::from(row.name.clone()),
                Cell::from(row.status),
                Cell::from(row.channel.clone()),
                Cell::from(row.talking_to.clone()),
            ])
        }),
        [
            Constraint::Length(8),
            Constraint::Length(14),
            Constraint::Length(10),
            Constraint::Min(12),
            Constraint::Min(12),
        ],
    )
    .header(
        Row::new(vec!["Agent", "Name", "Status", "Channel", "Talking to"])
            .style(Style::default().add_modifier(Modifier::BOLD)),
    )
    .block(Block::default().borders(Borders::ALL).title(title));
    frame.render_widget(table, area);
}

fn clock(seconds: u64) -> String {
    format!(
        "{}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// Draws the whole screen.
fn draw(frame: &mut Frame<'_>, view: &View, snapshot: &Snapshot, seen: &HashMap<String, Instant>) {
    let area = frame.area();
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(4),
        Constraint::Length(1),
    ])
    .areas(area);
    let waiting: usize = snapshot.queues.values().map(|q| q.callers.len()).sum();
    let connection = if view.connected {
        "connected"
    } else {
        "reconnecting..."
    };
    frame.render_widget(
        Paragraph::new(vec![
            Line::from(format!(
                "ami top - {} - AMI {} - {} - {} events/s",
                view.server, view.version, connection, view.events_per_second
            )),
            Line::from(format!(
                "{} calls, {} channels, {} queues, {} waiting   sort: {}{}",
                snapshot.calls.len(),
                snapshot.channels.len(),
                snapshot.queues.len(),
                waiting,
                view.sort.label(),
                if view.filter.is_empty() {
                    String::new()
                } else {
                    format!("   filter: {}", view.filter)
                }
            )),
        ]),
        header,
    );
    // Side by side when wide, stacked when narrow (80 columns).
    let direction = if area.width >= 140 {
        Direction::Horizontal
    } else {
        Direction::Vertical
    };
    let members = member_rows(snapshot, view);
    let agents = agent_rows(snapshot, view);
    // The agents panel only when there are agents or parked calls; narrow screens give the
    // queues and agents just the rows they need and the calls the rest.
    let show_agents = !agents.is_empty() || !snapshot.parked.is_empty();
    let agents_height = if show_agents {
        (agents.len().max(1) + 3).min(8) as u16
    } else {
        0
    };
    let (calls_area, queues_area, agents_area) = if direction == Direction::Horizontal {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)])
                .areas(body);
        let [queues_area, agents_area] =
            Layout::vertical([Constraint::Min(5), Constraint::Length(agents_height)]).areas(right);
        (left, queues_area, agents_area)
    } else {
        let queues_height = (members.len() + 3).clamp(5, 9) as u16;
        let [calls_area, queues_area, agents_area] = Layout::vertical([
            Constraint::Min(5),
            Constraint::Length(queues_height),
            Constraint::Length(agents_height),
        ])
        .areas(body);
        (calls_area, queues_area, agents_area)
    };
    draw_calls(frame, calls_area, view, &call_rows(snapshot, seen, view));
    draw_queues(frame, queues_area, view, snapshot, &members);
    if show_agents {
        draw_agents(frame, agents_area, snapshot, &agents);
    }
    let bottom = match &view.prompt {
        Some(Prompt::Hangup { name, .. }) => format!("Hang up {name}? (y/n)"),
        Some(Prompt::Redirect { name, input, .. }) => {
            format!("Redirect {name} to EXTEN@CONTEXT: {input}_")
        }
        Some(Prompt::Pause {
            name,
            queue,
            paused,
            ..
        }) => format!(
            "{} {name} in {queue}? (y/n)",
            if *paused { "Unpause" } else { "Pause" }
        ),
        Some(Prompt::Filter { input }) => format!("Filter: {input}_"),
        None if !view.message.is_empty() => view.message.clone(),
        None => "q quit  Tab switch  h hang up  r redirect  p pause  / filter  s sort".to_owned(),
    };
    frame.render_widget(
        Paragraph::new(bottom).style(Style::default().add_modifier(Modifier::REVERSED)),
        footer,
    );
}

fn focused_block(title: String, focused: bool) -> Block<'static> {
    let block = Block::default().borders(Borders::ALL).title(title);
    if focused {
        block.border_style(Style::default().add_modifier(Modifier::BOLD))
    } else {
        block
    }
}

fn draw_calls(frame: &mut Frame<'_>, area: Rect, view: &View, rows: &[CallRow]) {
    let table = Table::new(
        rows.iter().map(|row| {
            Row::new(vec![
                Cell::from(clock(row.seconds)),
                Cell::from(row.state.clone()),
                Cell::from(row.parties.clone()),
                Cell::from(row.caller.clone()),
                Cell::from(row.application.clone()),
            ])
        }),
        [
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Min(20),
            Constraint::Length(14),
            Constraint::Length(10),
        ],
    )
    .header(
        Row::new(vec!["Time", "State", "Channels", "Caller", "App"])
            .style(Style::default().add_modifier(Modifier::BOLD)),
    )
    .block(focused_block(
        format!(" Calls ({}) ", rows.len()),
        view.panel == Panel::Calls,
    ))
    .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED));
    let mut state = TableState::default();
    if view.panel == Panel::Calls && !rows.is_empty() {
        state.select(Some(view.selected_call.min(rows.len() - 1)));
    }
    frame.render_stateful_widget(table, area, &mut state);
}

fn draw_queues(
    frame: &mut Frame<'_>,
    area: Rect,
    view: &View,
    snapshot: &Snapshot,
    rows: &[MemberRow],
) {
    let summary: Vec<String> = snapshot
        .queues
        .values()
        .map(|q| {
            let paused = q.members.values().filter(|m| m.paused).count();
            format!(
                "{}: {} waiting, {} members ({} paused)",
                q.name,
                q.callers.len(),
                q.members.len(),
                paused
            )
        })
        .collect();
    let table = Table::new(
        rows.iter().map(|row| {
            Row::new(vec![
                Cell::from(row.queue.clone()),
                Cell::from(row.name.clone()),
                Cell::from(row.status),
                Cell::from(if row.paused { "paused" } else { "" }),
                Cell::from(row.calls.to_string()),
                Cell::from(row.interface.clone()),
            ])
        }),
        [
            Constraint::Length(10),
            Constraint::Length(12),
            Constraint::Length(11),
            Constraint::Length(6),
            Constraint::Length(5),
            Constraint::Min(10),
        ],
    )
    .header(
        Row::new(vec![
            "Queue",
            "Member",
            "Status",
            "Paused",
            "Calls",
            "Interface",
        ])
        .style(Style::default().add_modifier(Modifier::BOLD)),
    )
    .block(focused_block(
        format!(" Queues - {} ", summary.join("; ")),
        view.panel == Panel::Members,
    ))
    .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED));
    let mut state = TableState::default();
    if view.panel == Panel::Members && !rows.is_empty() {
        state.select(Some(view.selected_member.min(rows.len() - 1)));
    }
    frame.render_stateful_widget(table, area, &mut state);
}

/// Applies a key to the view; returns what it asks of the PBX, if anything.
fn handle_key(
    view: &mut View,
    key: KeyEvent,
    snapshot: &Snapshot,
    seen: &HashMap<String, Instant>,
) -> Option<Command> {
    if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
        return Some(Command::Quit);
    }
    if let Some(prompt) = view.prompt.take() {
        return answer(view, prompt, key);
    }
    view.message.clear();
    let calls = call_rows(snapshot, seen, view);
    let members = member_rows(snapshot, view);
    let (selected, count) = match view.panel {
        Panel::Calls => (&mut view.selected_call, calls.len()),
        Panel::Members => (&mut view.selected_member, members.len()),
    };
    match key.code {
        KeyCode::Char('q') | KeyCode::Esc => return Some(Command::Quit),
        KeyCode::Tab | KeyCode::BackTab => {
            view.panel = match view.panel {
                Panel::Calls => Panel::Members,
                Panel::Members => Panel::Calls,
            };
        }
        KeyCode::Down | KeyCode::Char('j') => {
            *selected = (*selected + 1).min(count.saturating_sub(1))
        }
        KeyCode::Up | KeyCode::Char('k') => *selected = selected.saturating_sub(1),
        KeyCode::Char('s') => view.sort = view.sort.next(),
        KeyCode::Char('/') => {
            view.prompt = Some(Prompt::Filter {
                input: view.filter.clone(),
            })
        }
        KeyCode::Char('h') if view.panel == Panel::Calls => {
            if let Some(row) = calls.get(view.selected_call.min(count.saturating_sub(1))) {
                view.prompt = Some(Prompt::Hangup {
                    uniqueid: row.uniqueid.clone(),
                    name: row.channel.clone(),
                });
            }
        }
        KeyCode::Char('r') if view.panel == Panel::Calls => {
            if let Some(row) = calls.get(view.selected_call.min(count.saturating_sub(1))) {
                view.prompt = Some(Prompt::Redirect {
                    uniqueid: row.uniqueid.clone(),
                    name: row.channel.clone(),
                    input: String::new(),
                });
            }
        }
        KeyCode::Char('p') if view.panel == Panel::Members => {
            if let Some(row) = members.get(view.selected_member.min(count.saturating_sub(1))) {
                view.prompt = Some(Prompt::Pause {
                    queue: row.queue.clone(),
                    interface: row.interface.clone(),
                    name: row.name.clone(),
                    paused: row.paused,
                });
            }
        }
        KeyCode::Char('h' | 'r') => view.message = "select a call first (Tab)".to_owned(),
        KeyCode::Char('p') => view.message = "select a queue member first (Tab)".to_owned(),
        _ => {}
    }
    None
}

/// The answer to a prompt: y/n for confirmations, text for the others.
fn answer(view: &mut View, prompt: Prompt, key: KeyEvent) -> Option<Command> {
    match prompt {
        Prompt::Hangup { uniqueid, .. } if key.code == KeyCode::Char('y') => {
            Some(Command::Hangup(uniqueid))
        }
        Prompt::Pause {
            queue,
            interface,
            paused,
            ..
        } if key.code == KeyCode::Char('y') => Some(Command::Pause {
            queue,
            interface,
            paused: !paused,
        }),
        Prompt::Hangup { .. } | Prompt::Pause { .. } => {
            view.message = "cancelled".to_owned();
            None
        }
        Prompt::Redirect {
            uniqueid,
            name,
            mut input,
        } => match key.code {
            KeyCode::Enter => match input.split_once('@') {
                Some((exten, context)) if !exten.is_empty() && !context.is_empty() => {
                    Some(Command::Redirect {
                        uniqueid,
                        exten: exten.to_owned(),
                        context: context.to_owned(),
                    })
                }
                _ => {
                    view.message = "write it as EXTEN@CONTEXT, e.g. 500@demo".to_owned();
                    None
                }
            },
            KeyCode::Esc => {
                view.message = "cancelled".to_owned();
                None
            }
            code => {
                edit(&mut input, code);
                view.prompt = Some(Prompt::Redirect {
                    uniqueid,
                    name,
                    input,
                });
                None
            }
        },
        Prompt::Filter { mut input } => {
            match key.code {
                KeyCode::Enter => view.filter = input,
                KeyCode::Esc => view.filter.clear(),
                code => {
                    edit(&mut input, code);
                    view.filter = input.clone();
                    view.prompt = Some(Prompt::Filter { input });
                }
            }
            None
        }
    }
}

fn edit(input: &mut String, code: KeyCode) {
    match code {
        KeyCode::Backspace => {
            input.pop();
        }
        KeyCode::Char(c) if !c.is_control() && input.len() < 200 => input.push(c),
        _ => {}
    }
}

/// Restores the terminal however `run` ends (error, panic unwinding through it).
struct Screen(DefaultTerminal);

impl Drop for Screen {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// Runs the full-screen view until `q`.
pub async fn run(
    args: Args,
    client: &Client,
    server: String,
    format: Option<Format>,
) -> anyhow::Result<ExitCode> {
    let live = LiveState::attach(client)
        .await
        .context("building the state (CoreShowChannels, QueueStatus, Agents ...)")?;
    if args.once {
        let document = live.with(super::state::document);
        output::write_document(
            &mut std::io::stdout().lock(),
            format.unwrap_or(Format::Json),
            &document,
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let events = Arc::new(AtomicU64::new(0));
    let counter = tokio::spawn({
        let mut subscriber = client.subscribe(Subscription::all());
        let events = Arc::clone(&events);
        async move {
            while let Some(item) = subscriber.recv().await {
                if matches!(item, EventItem::Event(_)) {
                    events.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    });
    // Keys are read on a thread of their own: crossterm's reads block.
    let (keys_tx, mut keys) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        loop {
            match event::read() {
                Ok(Event::Key(key)) if key.kind != KeyEventKind::Release => {
                    if keys_tx.send(Some(key)).is_err() {
                        return;
                    }
                }
                Ok(Event::Resize(..)) => {
                    if keys_tx.send(None).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
    let mut screen =
        Screen(ratatui::try_init().context("the terminal cannot be put in full-screen mode")?);
    let mut view = View::new(server, client.ami_version().to_owned());
    let mut generation = live.generation();
    let mut seen: HashMap<String, Instant> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last_count = 0u64;
    loop {
        let snapshot = live.snapshot();
        let now = Instant::now();
        seen.retain(|id, _| snapshot.channels.contains_key(id));
        for id in snapshot.channels.keys() {
            seen.entry(id.clone()).or_insert(now);
        }
        view.connected = live.is_connected();
        screen
            .0
            .draw(|frame| draw(frame, &view, &snapshot, &seen))?;
        tokio::select! {
            key = keys.recv() => {
                let Some(key) = key else { break };
                let Some(key) = key else { continue };
                match handle_key(&mut view, key, &snapshot, &seen) {
                    Some(Command::Quit) => break,
                    Some(command) => view.message = act(&live, command).await,
                    None => {}
                }
            }
            changed = generation.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            _ = tick.tick() => {
                let count = events.load(Ordering::Relaxed);
                view.events_per_second = count - last_count;
                last_count = count;
            }
        }
    }
    counter.abort();
    drop(screen);
    Ok(ExitCode::SUCCESS)
}

/// Sends what a confirmed key asked for; the bottom line says how it went.
async fn act(live: &LiveState, command: Command) -> String {
    let result = match &command {
        Command::Hangup(uniqueid) => live.hangup(uniqueid).await.map(|up| {
            if up {
                "hung up".to_owned()
            } else {
                "that call has already ended".to_owned()
            }
        }),
        Command::Redirect {
            uniqueid,
            exten,
            context,
        } => live
            .redirect(uniqueid, context, exten, "1")
            .await
            .map(|up| {
                if up {
                    format!("redirected to {exten}@{context}")
                } else {
                    "that call has already ended".to_owned()
                }
            }),
        Command::Pause {
            queue,
            interface,
            paused,
        } => live
            .pause_member(queue, interface, *paused)
            .await
            .map(|()| {
                format!(
                    "{} {interface} in {queue}",
                    if *paused { "paused" } else { "unpaused" }
                )
            }),
        Command::Quit => Ok(String::new()),
    };
    result.unwrap_or_else(|error| format!("failed: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ami_state::{Agent, Call, Channel, ParkedCall, Queue, QueueMember};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    fn snapshot() -> Snapshot {
        let mut snapshot = Snapshot::default();
        for (id, name, app) in [
            ("1.1", "PJSIP/100-00000001", "Dial"),
            ("1.2", "PJSIP/200-00000002", ""),
        ] {
            snapshot.channels.insert(
                id.to_owned(),
                Channel {
                    name: name.to_owned(),
                    uniqueid: id.to_owned(),
                    state_desc: "Up".to_owned(),
                    caller_id_num: "100".to_owned(),
                    caller_id_name: "Alice".to_owned(),
                    application: app.to_owned(),
                    ..Channel::default()
                },
            );
        }
        snapshot.calls.push(Call {
            id: "1.1".to_owned(),
            channels: vec!["1.1".to_owned(), "1.2".to_owned()],
        });
        let mut queue = Queue {
            name: "support".to_owned(),
            ..Queue::default()
        };
        queue.members.insert(
            "PJSIP/300".to_owned(),
            QueueMember {
                interface: "PJSIP/300".to_owned(),
                name: "Bob".to_owned(),
                status: 1,
                ..QueueMember::default()
            },
        );
        snapshot.queues.insert("support".to_owned(), queue);
        snapshot.agents.insert(
            "1001".to_owned(),
            Agent {
                id: "1001".to_owned(),
                name: "Agent One".to_owned(),
                status: "AGENT_ONCALL".to_owned(),
                channel: Some("PJSIP/1001-00000003".to_owned()),
                talking_to: Some("PJSIP/100-00000001".to_owned()),
                ..Agent::default()
            },
        );
        snapshot.parked.insert(
            "default:701".to_owned(),
            ParkedCall {
                lot: "default".to_owned(),
                space: "701".to_owned(),
                channel: "PJSIP/400-00000004".to_owned(),
                ..ParkedCall::default()
            },
        );
        snapshot
    }

    fn screen(width: u16, height: u16, view: &View) -> String {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("a test terminal");
        let snapshot = snapshot();
        terminal
            .draw(|frame| draw(frame, view, &snapshot, &HashMap::new()))
            .expect("drawn");
        let buffer = terminal.backend().buffer().clone();
        (0..height)
            .map(|y| {
                (0..width)
                    .map(|x| buffer[(x, y)].symbol().to_owned())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn draws_calls_and_queues_at_80x24_and_200x50() {
        let view = View::new("pbx:5038".to_owned(), "11.0.0".to_owned());
        for (width, height) in [(80, 24), (200, 50)] {
            let text = screen(width, height, &view);
            assert!(
                text.contains("ami top - pbx:5038 - AMI 11.0.0 - connected"),
                "{text}"
            );
            assert!(
                text.contains("1 calls, 2 channels, 1 queues, 0 waiting"),
                "{text}"
            );
            assert!(text.contains("PJSIP/100-00000001 + PJSIP/200"), "{text}");
            assert!(text.contains("Alice <100>"), "{text}");
            assert!(
                text.contains("support") && text.contains("Bob") && text.contains("free"),
                "{text}"
            );
            assert!(text.contains("q quit"), "{text}");
            assert!(
                text.contains("Agent One") && text.contains("on call"),
                "{text}"
            );
            assert!(text.contains("parked: 701 PJSIP/400"), "{text}");
            assert!(
                text.lines()
                    .any(|l| l.contains("Bob") && l.contains("free")),
                "the queue members still show: {text}"
            );
        }
    }

    #[test]
    fn actions_ask_first_and_need_the_right_panel() {
        let snapshot = snapshot();
        let seen = HashMap::new();
        let mut view = View::new(String::new(), String::new());
        assert_eq!(
            handle_key(&mut view, key(KeyCode::Char('p')), &snapshot, &seen),
            None
        );
        assert!(view.message.contains("queue member"));
        assert_eq!(
            handle_key(&mut view, key(KeyCode::Char('h')), &snapshot, &seen),
            None
        );
        assert!(matches!(view.prompt, Some(Prompt::Hangup { .. })));
        assert_eq!(
            handle_key(&mut view, key(KeyCode::Char('n')), &snapshot, &seen),
            None
        );
        assert_eq!(view.message, "cancelled");
        handle_key(&mut view, key(KeyCode::Char('h')), &snapshot, &seen);
        assert_eq!(
            handle_key(&mut view, key(KeyCode::Char('y')), &snapshot, &seen),
            Some(Command::Hangup("1.1".to_owned()))
        );
        handle_key(&mut view, key(KeyCode::Tab), &snapshot, &seen);
        handle_key(&mut view, key(KeyCode::Char('p')), &snapshot, &seen);
        assert_eq!(
            handle_key(&mut view, key(KeyCode::Char('y')), &snapshot, &seen),
            Some(Command::Pause {
                queue: "support".to_owned(),
                interface: "PJSIP/300".to_owned(),
                paused: true
            })
        );
        handle_key(&mut view, key(KeyCode::Tab), &snapshot, &seen);
        handle_key(&mut view, key(KeyCode::Char('r')), &snapshot, &seen);
        for c in "500@demo".chars() {
            handle_key(&mut view, key(KeyCode::Char(c)), &snapshot, &seen);
        }
        assert_eq!(
            handle_key(&mut view, key(KeyCode::Enter), &snapshot, &seen),
            Some(Command::Redirect {
                uniqueid: "1.1".to_owned(),
                exten: "500".to_owned(),
                context: "demo".to_owned()
            })
        );
        assert_eq!(
            handle_key(&mut view, key(KeyCode::Char('q')), &snapshot, &seen),
            Some(Command::Quit)
        );
    }

    #[test]
    fn the_filter_narrows_rows() {
        let snapshot = snapshot();
        let seen = HashMap::new();
        let mut view = View::new(String::new(), String::new());
        handle_key(&mut view, key(KeyCode::Char('/')), &snapshot, &seen);
        for c in "nobody".chars() {
            handle_key(&mut view, key(KeyCode::Char(c)), &snapshot, &seen);
        }
        handle_key(&mut view, key(KeyCode::Enter), &snapshot, &seen);
        assert_eq!(view.filter, "nobody");
        assert!(call_rows(&snapshot, &seen, &view).is_empty());
        assert!(member_rows(&snapshot, &view).is_empty());
        handle_key(&mut view, key(KeyCode::Char('/')), &snapshot, &seen);
        handle_key(&mut view, key(KeyCode::Esc), &snapshot, &seen);
        assert_eq!(call_rows(&snapshot, &seen, &view).len(), 1);
    }
}
