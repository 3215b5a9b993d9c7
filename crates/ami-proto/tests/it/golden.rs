//! Golden files: every corpus recording decoded to the NDJSON `ami decode` prints.
//!
//! `tests/fixtures/golden/<version>/<scenario>.ndjson` holds the expected output of
//! `tests/fixtures/corpus/<version>/<scenario>.recv`. After an intended change of the output,
//! regenerate them with `AMIKIT_BLESS=1 cargo test -p ami-proto --test it golden` and review the
//! diff before committing.

use std::collections::BTreeSet;
use std::path::PathBuf;

use ami_proto::{Limits, Packet};

use crate::support::{corpus_files, decode_whole, fixtures, to_ndjson};

fn golden_path(version: &str, scenario: &str) -> PathBuf {
    fixtures()
        .join("golden")
        .join(version)
        .join(format!("{scenario}.ndjson"))
}

fn bless() -> bool {
    std::env::var_os("AMIKIT_BLESS").is_some_and(|value| value == "1")
}

#[test]
fn every_recording_decodes_to_its_golden_file() {
    let mut mismatches = Vec::new();
    for (version, scenario, path) in corpus_files() {
        let input = std::fs::read(&path).unwrap();
        let actual = to_ndjson(&decode_whole(&input, Limits::default()));
        let golden = golden_path(&version, &scenario);
        if bless() {
            std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
            std::fs::write(&golden, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&golden)
            .unwrap_or_else(|error| panic!("{}: {error}", golden.display()));
        if actual != expected {
            let line = actual
                .lines()
                .zip(expected.lines())
                .position(|(a, e)| a != e)
                .unwrap_or_else(|| actual.lines().count().min(expected.lines().count()));
            mismatches.push(format!(
                "{version}/{scenario} (first difference at line {})",
                line + 1
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "output differs from the golden files (AMIKIT_BLESS=1 to regenerate):\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn no_golden_file_without_its_recording() {
    let recordings: BTreeSet<PathBuf> = corpus_files()
        .into_iter()
        .map(|(version, scenario, _)| golden_path(&version, &scenario))
        .collect();
    let root = fixtures().join("golden");
    for version in std::fs::read_dir(&root).unwrap() {
        for file in std::fs::read_dir(version.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            assert!(
                recordings.contains(&path),
                "{} has no recording in tests/fixtures/corpus",
                path.display()
            );
        }
    }
}

/// What a reader of the goldens would check by eye, as assertions: each recording starts with
/// the banner, nothing is lost or truncated, no limit is hit, and every legacy `Follows` reply
/// carries its body.
#[test]
fn recordings_decode_cleanly() {
    for (version, scenario, path) in corpus_files() {
        let input = std::fs::read(&path).unwrap();
        let items = decode_whole(&input, Limits::default());
        let name = format!("{version}/{scenario}");
        assert!(
            matches!(items.first(), Some(Ok(Packet::Banner(_)))),
            "{name}: first packet is not the banner"
        );
        let mut consumed = 0;
        for item in &items {
            // Stray blank lines between packets are consumed without a packet.
            while let Some(blank) = [&b"\r\n"[..], b"\n"]
                .into_iter()
                .find(|blank| input[consumed..].starts_with(blank))
            {
                consumed += blank.len();
            }
            let packet = item
                .as_ref()
                .unwrap_or_else(|error| panic!("{name}: {error}"));
            match packet {
                Packet::Banner(banner) => {
                    assert_eq!(consumed, 0, "{name}: banner in the middle");
                    consumed += banner.line().len() + 2;
                    assert!(banner.version_numbers().len() >= 2, "{name}: {banner:?}");
                }
                Packet::Message(message) => {
                    assert!(
                        input[consumed..].starts_with(message.raw()),
                        "{name}: bytes lost before {message:?}"
                    );
                    consumed += message.raw().len();
                    assert!(!message.is_truncated(), "{name}: truncated {message:?}");
                    assert!(!message.is_empty(), "{name}: empty message");
                    let follows = message.value_is("Response", "Follows");
                    assert_eq!(
                        follows,
                        message.body().is_some(),
                        "{name}: Follows and body disagree in {message:?}"
                    );
                    if follows {
                        assert!(
                            message.fields().all(|field| !field.is_text_line()),
                            "{name}: text line in the headers of a Follows reply: {message:?}"
                        );
                    }
                }
            }
        }
        assert_eq!(consumed, input.len(), "{name}: bytes lost at the end");
    }
}
