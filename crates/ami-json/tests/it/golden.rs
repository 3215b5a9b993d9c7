//! Golden files: every corpus recording decoded to the NDJSON `ami decode` prints.
//!
//! `tests/fixtures/golden/<version>/<scenario>.ndjson` holds the expected output of
//! ami-proto's `tests/fixtures/corpus/<version>/<scenario>.recv`. After an intended change of the output,
//! regenerate them with `AMIKIT_BLESS=1 cargo test -p ami-json --test it golden` and review the
//! diff before committing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ami_proto::Limits;

use crate::ndjson::to_ndjson;
use crate::support::{corpus_files, decode_whole};

/// `tests/fixtures/golden` of this crate.
fn golden_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden")
}

fn golden_path(version: &str, scenario: &str) -> PathBuf {
    golden_root()
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
    let root = golden_root();
    for version in std::fs::read_dir(&root).unwrap() {
        for file in std::fs::read_dir(version.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            assert!(
                recordings.contains(&path),
                "{} has no recording in ami-proto's tests/fixtures/corpus",
                path.display()
            );
        }
    }
}
