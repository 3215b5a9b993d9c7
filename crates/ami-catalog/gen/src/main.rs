//! `cargo run -p ami-catalog-gen [-- --shared DIR] [--out FILE] [--check]`: regenerates
//! `crates/ami-catalog/src/generated.rs` from `../shared` (or `$AMI_SHARED_DIR`), or checks that
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
    let source = ami_catalog_gen::generate(&shared)
        .with_context(|| format!("generating from {}", shared.display()))?;
    if check {
        let current =
            std::fs::read_to_string(&out).with_context(|| format!("reading {}", out.display()))?;
        if current != source {
            bail!(
                "{} is out of date: run `cargo run -p ami-catalog-gen`",
                out.display()
            );
        }
        println!("{} is up to date", out.display());
        return Ok(());
    }
    std::fs::write(&out, &source).with_context(|| format!("writing {}", out.display()))?;
    println!("wrote {} ({} bytes)", out.display(), source.len());
    Ok(())
}
