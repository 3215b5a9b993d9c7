//! `ami actions`: the AMI actions Asterisk documents, from the catalog, no server needed.

use std::process::ExitCode;

use ami_catalog::Version;
use serde_json::{Value, json};

use crate::output::{self, Document, Format};

/// Arguments of `ami actions`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    ami actions                       # every action of Asterisk 1.8 to 22\n  \
    ami actions --asterisk 1.8        # what 1.8 documents\n  \
    ami actions --search queue -o json\n\n\
    Then: ami explain NAME")]
pub struct Args {
    /// Only the actions this version documents: 22, 13, 11 or 1.8.
    #[arg(long, value_name = "VERSION", value_parser = parse_version)]
    pub asterisk: Option<Version>,
    /// Only actions whose name or a parameter's name contains WORD (any case).
    #[arg(long, value_name = "WORD")]
    pub search: Option<String>,
    /// How the list is printed [default: table].
    #[arg(long, short = 'o', value_enum, value_name = "FORMAT")]
    pub output: Option<Format>,
}

/// `--asterisk` for the catalog's versions.
pub fn parse_version(text: &str) -> Result<Version, String> {
    Version::from_label(text).ok_or_else(|| "expected 22, 13, 11 or 1.8".to_owned())
}

/// The versions of a set as `1.8 11 13 22`.
pub fn versions_text(versions: impl Iterator<Item = Version>) -> String {
    versions.map(Version::label).collect::<Vec<_>>().join(" ")
}

/// Prints the list.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let word = args.search.as_deref().map(str::to_ascii_lowercase);
    let records: Vec<Value> = ami_catalog::actions()
        .iter()
        .filter(|action| args.asterisk.is_none_or(|v| action.documented.contains(v)))
        .filter(|action| {
            word.as_deref().is_none_or(|word| {
                action.name.to_ascii_lowercase().contains(word)
                    || action
                        .params
                        .iter()
                        .any(|p| p.name.to_ascii_lowercase().contains(word))
            })
        })
        .map(|action| {
            json!({
                "Action": action.name,
                "Asterisk": versions_text(action.documented.iter()),
                "Required": action.required_params().map(|p| p.name).collect::<Vec<_>>().join(", "),
                "List": action.list.as_ref().map(|list| format!("{} -> {}", list.items.join("|"), list.complete)).unwrap_or_default(),
            })
        })
        .collect();
    let document = Document {
        value: Value::Array(records.clone()),
        records: Some(records),
    };
    output::write_document(
        &mut std::io::stdout().lock(),
        args.output.unwrap_or(Format::Table),
        &document,
    )?;
    Ok(ExitCode::SUCCESS)
}
