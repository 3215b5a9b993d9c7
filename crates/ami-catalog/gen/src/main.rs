//! `cargo run -p ami-catalog-gen [-- --shared DIR] [--out FILE] [--check]`: regenerates
//! `crates/ami-catalog/src/generated.rs`, `actions.rs` and `events.rs` from `../shared` (or `$AMI_SHARED_DIR`), or checks that
//! it is up to date.

use std::path::PathBuf;

use anyhow::{Context, bail};

fn main() -> anyhow::Result<()> {
    let mut shared = ami_catalog_gen::default_shared_dir();
    let mut out = ami_catalog_gen::default_output_path();
    let mut check = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--shared" => {
                shared = PathBuf::from(args.next().context("--shared needs a directory")?)
            }
            "--out" => out = PathBuf::from(args.next().context("--out needs a file")?),
            "--check" => check = true,
            "-h" | "--help" => {
                println!("usage: ami-catalog-gen [--shared DIR] [--out FILE] [--check]");
                return Ok(());
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    let mut files = ami_catalog_gen::generate_files(&shared)
        .with_context(|| format!("generating from {}", shared.display()))?;
    // --out redirects the tables only; the typed modules always go next to them.
    if let Some(first) = files.first_mut() {
        first.0 = out;
    }
    for (path, source) in &files {
        if check {
            let current = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            if current != *source {
                bail!(
                    "{} is out of date: run `cargo run -p ami-catalog-gen`",
                    path.display()
                );
            }
            println!("{} is up to date", path.display());
        } else {
            std::fs::write(path, source).with_context(|| format!("writing {}", path.display()))?;
            println!("wrote {} ({} bytes)", path.display(), source.len());
        }
    }
    Ok(())
}
