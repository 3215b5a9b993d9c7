//! `ami man DIR`: manual pages generated from the command-line definitions, so they cannot
//! drift from the binary.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

/// Arguments of `ami man`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    ami man ~/.local/share/man/man1          # then: man ami, man ami-action ...\n  \
    sudo ami man /usr/local/share/man/man1")]
pub struct Args {
    /// Directory to write `ami.1` and one `ami-SUBCOMMAND.1` per subcommand into (created if
    /// missing).
    dir: PathBuf,
}

/// Writes the pages for `command` (the whole `ami` command tree) and lists them.
pub fn run(args: Args, command: clap::Command) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    let command = command.name("ami");
    let mut pages = vec![("ami".to_owned(), command.clone())];
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        let name = format!("ami-{}", sub.get_name());
        // Each page's title and usage name the full command (`ami action`).
        let page = sub
            .clone()
            .name(name.clone())
            .bin_name(format!("ami {}", sub.get_name()));
        pages.push((name, page));
    }
    for (name, page) in pages {
        let mut text = Vec::new();
        clap_mangen::Man::new(page)
            .render(&mut text)
            .with_context(|| format!("cannot render the {name} page"))?;
        let path = args.dir.join(format!("{name}.1"));
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        println!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
