//! Checks against `../shared`: the committed tables match a fresh generation, and every event and
//! privilege the recorded servers showed is in the catalog. Each test prints a note and passes
//! when `../shared` is absent (a checkout without the reference material).

mod corpus;
mod drift;
mod typed;

use std::path::PathBuf;

/// `../shared` next to the workspace, if present.
fn shared() -> Option<PathBuf> {
    let dir = ami_catalog_gen::default_shared_dir();
    if dir.join("asterisk-docs").is_dir() && dir.join("corpus").is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "note: {} is absent; skipping the checks against the reference material",
            dir.display()
        );
        None
    }
}
