//! The documentation's shell examples, run as a user pastes them: every `$ ` line of a `sh` block
//! in README.md and docs/*.md runs in bash against a simulator with demo calls, with the built
//! `ami` first on PATH, and its output is checked against what the page shows under it.
//!
//! What is checked, so that the pages cannot drift from the binary while the volatile parts of an
//! output (ActionIDs, timestamps, channel numbers) may differ: the exit status (0, or the
//! `exit N` the example echoes, or failure when the page shows an `ami:` error), every `ami:` and
//! `fix:` line shown (`...` stands for anything), and the start of the first output line up to
//! its first digit. Blocks marked `text` are shown, not run (servers that run until Ctrl-C).
//! The simulator runs as the pages ask: `ami sim --demo-calls --calls-per-second 1`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ami_sim::SimConfig;

use crate::connected::{Sim, empty_home, run};

/// One `$ ` line (with its `\` continuations) and the lines the page shows under it.
#[derive(Debug)]
struct Example {
    place: String,
    command: String,
    shown: Vec<String>,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn documentation_pages() -> Vec<PathBuf> {
    let root = workspace_root();
    let mut pages = vec![root.join("README.md")];
    let mut guide: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ exists")
        .map(|entry| entry.expect("a readable docs/ entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    guide.sort();
    pages.extend(guide);
    pages
}

/// The examples of one page, in order.
fn examples(page: &Path, text: &str) -> Vec<Example> {
    let name = page.file_name().unwrap_or_default().to_string_lossy();
    let mut examples: Vec<Example> = Vec::new();
    let mut fence: Option<String> = None;
    let mut continued = false;
    for (number, line) in text.lines().enumerate() {
        if let Some(info) = line.trim_start().strip_prefix("```") {
            fence = match fence {
                Some(_) => None,
                None => Some(info.trim().to_owned()),
            };
            continued = false;
            continue;
        }
        if fence.as_deref() != Some("sh") {
            continue;
        }
        if continued {
            let example = examples.last_mut().expect("a continued command");
            example.command.push('\n');
            example.command.push_str(line);
            continued = line.ends_with('\\');
        } else if let Some(command) = line.strip_prefix("$ ") {
            examples.push(Example {
                place: format!("{name}:{}", number + 1),
                command: command.to_owned(),
                shown: Vec::new(),
            });
            continued = command.ends_with('\\');
        } else if let Some(example) = examples.last_mut() {
            example.shown.push(line.to_owned());
        }
    }
    examples
}

/// Whether `actual` matches `shown`, where `...` in `shown` stands for any text.
fn matches(shown: &str, actual: &str) -> bool {
    let mut rest = actual;
    let parts: Vec<&str> = shown.split("...").collect();
    for (index, part) in parts.iter().enumerate() {
        if index == 0 {
            match rest.strip_prefix(part) {
                Some(after) => rest = after,
                None => return false,
            }
        } else if index == parts.len() - 1 && !part.is_empty() {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    parts.len() > 1 || rest.is_empty()
}

/// The start of a line up to its first digit: the part of an output that does not vary.
fn stable_start(line: &str) -> &str {
    let end = line
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(line.len());
    line[..end.min(40)].trim_end()
}

fn check(example: &Example, sim_port: &str, exports: &str, bin: &Path) -> Result<(), String> {
    let script = format!(
        "set -o pipefail\n{exports}\n{{\n{}\n}} 2>&1",
        example.command
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = Command::new("timeout");
    command
        .args(["60", "bash", "-c", &script])
        .current_dir(workspace_root())
        .env("PATH", path)
        .env("HOME", empty_home())
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_STATE_HOME")
        .env("NO_COLOR", "1")
        .env("AMI_HOST", "127.0.0.1")
        .env("AMI_PORT", sim_port)
        .env("AMI_USERNAME", "admin")
        .env("AMI_SECRET", "amp111")
        .stdin(Stdio::null());
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("AMI_")
            && !["AMI_HOST", "AMI_PORT", "AMI_USERNAME", "AMI_SECRET"].contains(&name.as_str())
        {
            command.env_remove(name);
        }
    }
    let output = run(&mut command);
    // The pages show the simulator's usual port; this one runs elsewhere.
    let text = String::from_utf8_lossy(&output.stdout).replace(&format!(":{sim_port}"), ":5038");
    let lines: Vec<&str> = text.lines().collect();
    let fail = |why: String| {
        Err(format!(
            "{}: `{}`: {why}\n--- output (exit {:?}):\n{text}",
            example.place,
            example.command,
            output.status.code()
        ))
    };

    let echoed_exit = example.shown.iter().find(|line| line.starts_with("exit "));
    let shows_error = example.shown.iter().any(|line| line.starts_with("ami: "));
    match (echoed_exit, shows_error, output.status.code()) {
        (Some(exit), _, Some(0)) if lines.contains(&exit.as_str()) => {}
        (Some(exit), _, _) => return fail(format!("expected the line {exit:?} and status 0")),
        (None, true, Some(code)) if code != 0 && code != 124 => {}
        (None, true, _) => return fail("expected a failure, as the page shows an error".into()),
        (None, false, Some(0)) => {}
        (None, false, _) => return fail("expected status 0".into()),
    }
    for shown in &example.shown {
        if (shown.starts_with("ami: ") || shown.starts_with("fix: "))
            && !lines.iter().any(|line| matches(shown.trim_end(), line))
        {
            return fail(format!("no output line matches {shown:?}"));
        }
    }
    if let Some(first) = example.shown.first().filter(|first| {
        !first.is_empty()
            && !["ami: ", "fix: ", "exit ", "..."]
                .iter()
                .any(|prefix| first.starts_with(prefix))
    }) {
        let actual = lines.first().copied().unwrap_or_default();
        let start = stable_start(first);
        let ok = if start.is_empty() {
            actual.starts_with(|c: char| c.is_ascii_digit())
        } else {
            actual.starts_with(start)
        };
        if !ok {
            return fail(format!("the first line should start with {start:?}"));
        }
    }
    Ok(())
}

#[test]
fn matching_of_shown_lines() {
    assert!(matches("ami: x ... y", "ami: x 12 y"));
    assert!(matches("ami: exact", "ami: exact"));
    assert!(!matches("ami: exact", "ami: exact and more"));
    assert!(matches("ami: starts...", "ami: starts with this"));
    assert!(!matches("ami: a ... b", "ami: a c"));
    assert_eq!(stable_start("System uptime: 6 seconds"), "System uptime:");
    assert_eq!(stable_start("16"), "");
}

#[test]
fn documentation_examples_run_as_shown() {
    // As the pages ask: `ami sim --demo-calls --calls-per-second 1`.
    let sim = Sim::with(SimConfig {
        demo_calls: true,
        calls_per_second: Some(1.0),
        ..SimConfig::default()
    });
    let port = sim.port();
    let bin = Path::new(env!("CARGO_BIN_EXE_ami"))
        .parent()
        .expect("the binary's directory")
        .to_owned();
    let shared = workspace_root().join("../shared").exists();
    let mut failures = Vec::new();
    let mut ran = 0;
    for page in documentation_pages() {
        let text = std::fs::read_to_string(&page).expect("a readable page");
        let mut exports = String::new();
        for example in examples(&page, &text) {
            if example.command.contains("../shared") && !shared {
                eprintln!("{}: skipped, ../shared is absent", example.place);
                continue;
            }
            if example.command.starts_with("export ") {
                // The pages export the simulator's usual port; this one runs elsewhere.
                exports.push_str(
                    &example
                        .command
                        .replace("AMI_PORT=5038", &format!("AMI_PORT={port}")),
                );
                exports.push('\n');
            }
            ran += 1;
            if let Err(failure) = check(&example, &port, &exports, &bin) {
                failures.push(failure);
            }
        }
    }
    assert!(ran >= 20, "only {ran} examples found");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
