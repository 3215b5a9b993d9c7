//! The handful of CLI commands `Action: Command` understands, with Asterisk's output text.

use super::Pbx;
use crate::clock;
use crate::profile::Profile;

/// The result of a CLI command: its text (lines ended by `\n`) and whether the CLI called it
/// a failure (unknown command, usage error), which modern AMI reports as `Response: Error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CliOutput {
    pub(crate) text: String,
    pub(crate) failed: bool,
}

fn ok(text: String) -> CliOutput {
    CliOutput {
        text,
        failed: false,
    }
}

/// The CLI's answer to a command it does not have.
fn no_such_command(words: &[&str]) -> CliOutput {
    let hint = &words[..words.len().saturating_sub(1)];
    CliOutput {
        text: format!(
            "No such command '{}' (type 'core show help {}' for other possible commands)\n",
            words.join(" "),
            hint.join(" ")
        ),
        failed: true,
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl Pbx {
    /// Runs a CLI command line.
    pub(crate) fn cli(&self, line: &str) -> CliOutput {
        let words: Vec<&str> = line.split_whitespace().collect();
        let lower: Vec<String> = words.iter().map(|w| w.to_ascii_lowercase()).collect();
        let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
        match lower.as_slice() {
            ["core", "show", "version"] => ok(format!(
                "Asterisk {} built by sim @ amikit on a x86_64 running Linux on 2026-11-23 00:00:00 UTC\n",
                self.profile.asterisk_version()
            )),
            // Asterisk prints plain seconds when asked, which is what scripts parse.
            ["core", "show", "uptime", "seconds"] => {
                let up = self.now_ms / 1000;
                ok(format!("System uptime: {up}\nLast reload: {up}\n"))
            }
            ["core", "show", "uptime"] => {
                let up = self.now_ms / 1000;
                let tail = if self.profile == Profile::V18 {
                    " "
                } else {
                    ""
                };
                ok(format!(
                    "System uptime: {}{tail}\nLast reload: {}{tail}\n",
                    clock::cli_duration(up),
                    clock::cli_duration(up)
                ))
            }
            ["core", "show", "help"] => ok(self.profile.core_show_help().replace("\r\n", "\n")),
            ["core", "show", "channels"] => ok(self.show_channels(Format::Basic)),
            ["core", "show", "channels", "concise"] => ok(self.show_channels(Format::Concise)),
            ["core", "show", "channels", "verbose"] => ok(self.show_channels(Format::Verbose)),
            ["core", "show", "channels", "count"] => ok(self.channel_counts()),
            ["core", "show", "channels", ..] => CliOutput {
                text: self.channels_usage(),
                failed: true,
            },
            ["dialplan", "show", context] => {
                match super::dialplan::show(context, self.profile == Profile::V22) {
                    Some(text) => ok(text),
                    None => CliOutput {
                        text: format!("There is no existence of '{}' context\n", words[2]),
                        failed: true,
                    },
                }
            }
            ["manager", "show", "commands"] => ok(super::manager_help::show_commands(self.profile)),
            ["manager", "show", "command", _, ..] => {
                ok(super::manager_help::show_command(self.profile, &words[3..]))
            }
            // Versions without event documentation (1.8) have no such command.
            ["manager", "show", "events"] => super::manager_help::show_events(self.profile)
                .map_or_else(|| no_such_command(&words), ok),
            ["manager", "show", "event", _] => {
                super::manager_help::show_event(self.profile, words[3])
                    .map_or_else(|| no_such_command(&words), ok)
            }
            ["queue", "show"] => ok(self.queue_show(None)),
            ["queue", "show", _] => ok(self.queue_show(Some(words[2]))),
            _ => no_such_command(&words),
        }
    }

    fn channels_usage(&self) -> String {
        let mut text = String::from(
            "Usage: core show channels [concise|verbose|count]\n       Lists currently defined channels and some information about them. If\n       'concise' is specified, the format is abridged and in a more easily\n       machine parsable format. If 'verbose' is specified, the output includes\n       more and longer fields. If 'count' is specified only the channel and call\n       count is output.\n",
        );
        if self.profile != Profile::V22 {
            text.push_str("\tThe 'concise' option is deprecated and will be removed from future versions\n\tof Asterisk.\n");
        }
        text
    }

    fn channel_counts(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            plural(self.channels.len(), "active channel", "active channels"),
            plural(self.active_calls(), "active call", "active calls"),
            plural(
                self.processed_calls as usize,
                "call processed",
                "calls processed"
            ),
        )
    }

    fn show_channels(&self, format: Format) -> String {
        let modern = self.profile == Profile::V22;
        let mut out = String::new();
        match format {
            Format::Basic if modern => out.push_str(&format!(
                "{:<64} {:<32} {:<7} {:<30}\n",
                "Channel", "Location", "State", "Application(Data)"
            )),
            Format::Basic => out.push_str(&format!(
                "{:<20} {:<20} {:<7} {:<30}\n",
                "Channel", "Location", "State", "Application(Data)"
            )),
            Format::Verbose => out.push_str(&format!(
                "{:<w$} {:<24} {:<x$} {:>4} {:<7} {:<12} {:<25} {:<15} {:>8} {:<11} {:<11} {:<b$}\n",
                "Channel",
                "Context",
                "Extension",
                "Prio",
                "State",
                "Application",
                "Data",
                "CallerID",
                "Duration",
                "Accountcode",
                "PeerAccount",
                if modern { "BridgeID" } else { "BridgedTo" },
                w = if modern { 80 } else { 20 },
                x = if modern { 24 } else { 16 },
                b = if modern { 9 } else { 20 },
            )),
            Format::Concise => {}
        }
        for chan in self.channels.values() {
            let location = if chan.exten.is_empty() {
                "(None)".to_owned()
            } else {
                format!("{}@{}:{}", chan.exten, chan.context, chan.priority)
            };
            let app = format!("{}({})", chan.app, chan.app_data);
            let secs = chan.duration_secs(self.now_ms);
            let bridge = chan.bridge.clone().unwrap_or_default();
            let line = match format {
                Format::Basic => {
                    // 14+ widened the channel and location columns.
                    let (channel_width, location_width) = if modern { (64, 32) } else { (20, 20) };
                    format!(
                        "{:<cw$.cw$} {:<lw$.lw$} {:<7.7} {:<30.30}",
                        chan.name,
                        location,
                        chan.state.desc(),
                        app,
                        cw = channel_width,
                        lw = location_width,
                    )
                }
                Format::Concise => format!(
                    "{}!{}!{}!{}!{}!{}!{}!{}!!!3!{}!{}!{}",
                    chan.name,
                    chan.context,
                    chan.exten,
                    chan.priority,
                    chan.state.desc(),
                    chan.app,
                    chan.app_data,
                    chan.cid_num,
                    secs,
                    if modern || !bridge.is_empty() {
                        bridge.as_str()
                    } else {
                        "(None)"
                    },
                    chan.uniqueid
                ),
                Format::Verbose => format!(
                    "{:<w$.w$} {:<24.24} {:<x$.x$} {:>4} {:<7.7} {:<12.12} {:<25.25} {:<15.15} {:>8.8} {:<11.11} {:<11.11} {:<b$.b$}",
                    chan.name,
                    chan.context,
                    chan.exten,
                    chan.priority,
                    chan.state.desc(),
                    chan.app,
                    chan.app_data,
                    chan.cid_num,
                    clock::hms(secs),
                    "",
                    "",
                    bridge,
                    w = if modern { 80 } else { 20 },
                    x = if modern { 24 } else { 16 },
                    b = if modern { 10 } else { 20 },
                ),
            };
            out.push_str(&line);
            out.push('\n');
        }
        if format != Format::Concise {
            out.push_str(&self.channel_counts());
        }
        out
    }

    fn queue_show(&self, name: Option<&str>) -> String {
        let mut out = String::new();
        let now_secs = self.boot_epoch + self.now_ms / 1000;
        for queue in self
            .queues
            .iter()
            .filter(|q| name.is_none_or(|n| n == q.name))
        {
            out.push_str(&format!(
                "{} has {} calls (max unlimited) in 'ringall' strategy (0s holdtime, 0s talktime), W:0, C:{}, A:{}, SL:0.0% within 0s\n",
                queue.name,
                queue.callers.len(),
                queue.completed,
                queue.abandoned
            ));
            if queue.members.is_empty() {
                out.push_str("   No Members\n");
            } else {
                out.push_str("   Members: \n");
                for m in &queue.members {
                    let calls = if m.calls_taken == 0 {
                        "has taken no calls yet".to_owned()
                    } else {
                        format!(
                            "has taken {} calls (last was {} secs ago)",
                            m.calls_taken,
                            now_secs.saturating_sub(m.last_call)
                        )
                    };
                    out.push_str(&format!(
                        "      {} ({} from {}) (ringinuse disabled){}{} ({}) {}\n",
                        m.name,
                        m.location,
                        m.state_interface,
                        if m.membership == "dynamic" {
                            " (dynamic)"
                        } else {
                            ""
                        },
                        if m.in_call { " (in call)" } else { "" },
                        if m.paused {
                            "paused"
                        } else if m.in_call {
                            "In use"
                        } else {
                            "Not in use"
                        },
                        calls
                    ));
                }
            }
            if queue.callers.is_empty() {
                out.push_str("   No Callers\n");
            } else {
                out.push_str("   Callers: \n");
                for (position, (id, joined)) in queue.callers.iter().enumerate() {
                    let wait = self.now_ms.saturating_sub(*joined) / 1000;
                    let name = self.channels.get(id).map_or("", |c| c.name.as_str());
                    out.push_str(&format!(
                        "      {}. {} (wait: {}:{:02}, prio: 0)\n",
                        position + 1,
                        name,
                        wait / 60,
                        wait % 60
                    ));
                }
            }
            out.push('\n');
        }
        if out.is_empty() {
            match name {
                Some(name) => out.push_str(&format!("No such queue: {name}.\n")),
                None => out.push_str("No queues.\n"),
            }
        }
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Basic,
    Concise,
    Verbose,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_command_text_matches_asterisk() {
        let pbx = Pbx::new(Profile::V22, 1);
        let out = pbx.cli("frobnicate the widgets");
        assert!(out.failed);
        assert_eq!(
            out.text,
            "No such command 'frobnicate the widgets' (type 'core show help frobnicate the' for other possible commands)\n"
        );
    }

    #[test]
    fn channels_table_lists_live_channels_and_counts() {
        let mut pbx = Pbx::new(Profile::V22, 1);
        pbx.preload_demo_calls();
        let out = pbx.cli("core show channels");
        assert!(!out.failed);
        assert!(
            out.text.contains("Local/800@demo-00000004;2"),
            "{}",
            out.text
        );
        assert!(out.text.contains("active channels\n"), "{}", out.text);
        let concise = pbx.cli("core show channels concise").text;
        assert_eq!(concise.lines().count(), pbx.channels.len());
        assert!(pbx.cli("core show channels like x").failed);
        assert!(
            pbx.cli("queue show")
                .text
                .starts_with("support has 1 calls")
        );
    }
}
