use std::collections::BTreeSet;
use std::path::Path;

use ami_catalog::{Version, action, event};

use crate::shared;

/// Event names seen in the recordings that the catalog leaves out on purpose, with the reason.
/// Empty today: every recorded event is catalogued.
const UNCATALOGUED: &[(&str, &str)] = &[];

fn recv_files(corpus: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for version in std::fs::read_dir(corpus).unwrap() {
        let dir = version.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&dir).unwrap() {
            let path = file.unwrap().path();
            if path.extension().is_some_and(|e| e == "recv") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_recorded_event_is_catalogued() {
    let Some(shared) = shared() else { return };
    let mut names = BTreeSet::new();
    for path in recv_files(&shared.join("corpus")) {
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        for line in text.lines() {
            if let Some(name) = line.strip_prefix("Event:") {
                names.insert(name.trim().to_owned());
            }
        }
    }
    // Guards against a scan that silently finds nothing.
    assert!(names.len() >= 40, "only {} event names found", names.len());
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| event(n).is_none() && !UNCATALOGUED.iter().any(|(u, _)| u == n))
        .collect();
    assert!(missing.is_empty(), "not in the catalog: {missing:?}");
    for (name, reason) in UNCATALOGUED {
        assert!(!reason.is_empty(), "{name} needs a reason");
        assert!(event(name).is_none(), "{name} is catalogued after all");
    }
}

/// Re-reads every `ListCommands` answer independently of the generator and compares the classes.
#[test]
fn privileges_match_list_commands() {
    let Some(shared) = shared() else { return };
    for version in Version::ALL {
        let path = shared
            .join("corpus")
            .join(format!("asterisk-{}", version.label()))
            .join("list_commands.recv");
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        let mut listed = 0;
        for line in text.lines() {
            let Some((name, rest)) = line.split_once(": ") else {
                continue;
            };
            let Some(privs) = rest
                .rsplit_once("(Priv: ")
                .and_then(|(_, p)| p.strip_suffix(')'))
            else {
                continue;
            };
            listed += 1;
            let expected: Vec<&str> = privs
                .split(',')
                .filter(|c| *c != "all" && *c != "<none>")
                .collect();
            let found = action(name).unwrap_or_else(|| panic!("{version}: {name} not catalogued"));
            assert_eq!(
                found.classes(version),
                Some(expected.as_slice()),
                "{version}: {name}"
            );
        }
        let known = ami_catalog::actions()
            .iter()
            .filter(|a| a.classes(version).is_some())
            .count();
        assert_eq!(known, listed, "{version}: actions with classes");
    }
}

/// The list shapes the corpus READMEs describe for the pre-13 servers.
#[test]
fn legacy_lists_end_without_eventlist() {
    let Some(_) = shared() else { return };
    for name in ["Status", "QueueStatus", "QueueSummary", "DBGet"] {
        let list = action(name).unwrap().list.as_ref().unwrap();
        assert!(list.recorded.contains(Version::V11), "{name}");
        assert!(!list.eventlist.contains(Version::V11), "{name}");
        assert!(list.eventlist.contains(Version::V22), "{name}");
    }
    let channels = action("CoreShowChannels").unwrap().list.as_ref().unwrap();
    assert!(channels.eventlist.contains(Version::V1_8));
}
