//! `ami completions SHELL`: a completion script for bash, zsh, fish, elvish or PowerShell.

use std::io::{self, Write};
use std::process::ExitCode;

use clap_complete::Shell;

/// Arguments of `ami completions`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    ami completions bash > ~/.local/share/bash-completion/completions/ami\n  \
    ami completions zsh > ~/.zfunc/_ami      # with fpath+=(~/.zfunc) in ~/.zshrc\n  \
    ami completions fish > ~/.config/fish/completions/ami.fish")]
pub struct Args {
    /// The shell to write the script for.
    shell: Shell,
}

/// Writes the script for `command` (the whole `ami` command tree) to standard output.
pub fn run(args: Args, mut command: clap::Command) -> anyhow::Result<ExitCode> {
    // Generated into memory first: clap_complete panics on a failed write, and a broken pipe
    // (`| head`) must end quietly instead.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "ami", &mut script);
    let mut out = io::stdout().lock();
    out.write_all(&script)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
