//! Builds `ami-catalog`'s `src/generated.rs` from Asterisk's documentation XML
//! (`<shared>/asterisk-docs/<version>/core-en_US.xml`), the recorded sessions
//! (`<shared>/corpus/asterisk-<version>/`) and the hand-written `rules` module.
//!
//! Run by hand with `cargo run -p ami-catalog-gen`; `ami-catalog`'s drift test calls [`generate`]
//! and compares the result with the committed file byte for byte.
//!
//! ```no_run
//! // `shared` holds asterisk-docs/ and corpus/ (the project's ../shared).
//! let source = ami_catalog_gen::generate("../shared".as_ref())?;
//! std::fs::write("crates/ami-catalog/src/generated.rs", source)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod corpus;
mod docs;
mod emit;
mod rules;
mod typed;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use corpus::Recorded;
use docs::{DocSet, FieldSpec, push_unique};

/// Versions, newest first: where versions disagree, the newest one's facts are kept.
const VERSIONS: [(&str, u8); 4] = [("22", 8), ("13", 4), ("11", 2), ("1.8", 1)];

/// Why the catalog could not be generated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GenError {
    /// A documentation file or recording could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A documentation file is not well-formed XML.
    #[error("{file}: {source}")]
    Xml {
        /// The documentation file.
        file: String,
        /// The parser's error, with its position.
        source: roxmltree::Error,
    },
    /// An `xi:include` uses a pointer form the generator does not evaluate.
    #[error("{file}: unsupported xi:include pointer {pointer:?}")]
    XPointer {
        /// The documentation file.
        file: String,
        /// The `xpointer` attribute.
        pointer: String,
    },
    /// An element lacks an attribute the generator needs (e.g. a `<parameter>` without `name`).
    #[error("{file}:{line}: <{element}> without the {attribute:?} attribute")]
    MissingAttribute {
        /// The documentation file.
        file: String,
        /// The element's tag name.
        element: String,
        /// The missing attribute.
        attribute: String,
        /// The element's line.
        line: u32,
    },
    /// The snapshot placeholders cannot be expanded: `Newchannel` or `BridgeCreate` is no
    /// longer documented as one bare snapshot, or the recordings lack it.
    #[error("asterisk {version}: cannot tell the {kind} snapshot fields: {why}")]
    Snapshot {
        /// The version whose documentation uses the placeholders.
        version: &'static str,
        /// `channel` or `bridge`.
        kind: &'static str,
        /// What is missing.
        why: String,
    },
    /// A recording shows a variant of a 1.x event that the legacy rules do not map.
    #[error("asterisk {version}: {event} with {header}: {value} is not covered by rules::LEGACY")]
    UnmappedVariant {
        /// The recorded version.
        version: &'static str,
        /// The legacy event.
        event: String,
        /// The discriminating header.
        header: String,
        /// The value no rule maps.
        value: String,
    },
    /// rustfmt could not be run or rejected the generated source.
    #[error("running rustfmt on the generated source: {0}")]
    Rustfmt(String),
}

impl GenError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        GenError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// `$AMI_SHARED_DIR` if set, else `<workspace>/../shared`, where the reference material lives
/// next to the work trees.
pub fn default_shared_dir() -> PathBuf {
    match std::env::var_os("AMI_SHARED_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../../shared"),
    }
}

/// `crates/ami-catalog/src/generated.rs` of this workspace.
pub fn default_output_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../src/generated.rs")
}

/// The catalog source, formatted by `rustfmt`.
pub fn generate(shared: &Path) -> Result<String, GenError> {
    let catalog = read_catalog(shared)?;
    emit::format(&emit::render(&catalog))
}

/// Every generated file of `ami-catalog`: `src/generated.rs` (the tables), `src/actions.rs` (a
/// builder per action) and `src/events.rs` (a view per event), each formatted by `rustfmt`.
pub fn generate_files(shared: &Path) -> Result<Vec<(PathBuf, String)>, GenError> {
    let catalog = read_catalog(shared)?;
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../src");
    Ok(vec![
        (
            default_output_path(),
            emit::format(&emit::render(&catalog))?,
        ),
        (
            src.join("actions.rs"),
            emit::format(&typed::render_actions(&catalog))?,
        ),
        (
            src.join("events.rs"),
            emit::format(&typed::render_events(&catalog))?,
        ),
    ])
}

fn read_catalog(shared: &Path) -> Result<Catalog, GenError> {
    let mut docs = Vec::new();
    let mut recorded = Vec::new();
    for (version, bit) in VERSIONS {
        let path = shared
            .join("asterisk-docs")
            .join(version)
            .join("core-en_US.xml");
        let text = std::fs::read_to_string(&path).map_err(|e| GenError::io(&path, e))?;
        docs.push((bit, docs::parse(&text, &path.display().to_string())?));
        let dir = shared.join("corpus").join(format!("asterisk-{version}"));
        recorded.push((bit, corpus::read(&dir)?));
    }
    build(&docs, &recorded)
}

/// The merged catalog, in the shape `emit` writes out.
pub(crate) struct Catalog {
    pub actions: Vec<Action>,
    pub events: Vec<Event>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    Documented,
    Recorded,
    Rule,
}

pub(crate) struct Param {
    pub name: String,
    pub versions: u8,
    /// Versions whose documentation marks the parameter required (a few changed over time).
    pub required: u8,
    pub repeatable: bool,
    pub default: Option<String>,
    pub values: Vec<String>,
}

pub(crate) struct ListReply {
    pub items: Vec<String>,
    pub complete: String,
    pub source: Source,
    pub recorded: u8,
    pub eventlist: u8,
    pub note: String,
}

pub(crate) struct Action {
    pub name: String,
    pub documented: u8,
    pub params: Vec<Param>,
    pub list: Option<ListReply>,
    /// (version bit, classes), newest first.
    pub privileges: Vec<(u8, Vec<String>)>,
}

pub(crate) struct Field {
    pub name: String,
    pub versions: u8,
    pub values: Vec<String>,
}

pub(crate) struct Legacy {
    pub replaced_by: Vec<(Option<(String, String)>, String)>,
    pub note: String,
}

pub(crate) struct Event {
    pub name: String,
    pub source: Source,
    pub documented: u8,
    pub recorded: u8,
    pub classes: Vec<String>,
    pub fields: Vec<Field>,
    /// (version bit, header names), newest first.
    pub observed: Vec<(u8, Vec<String>)>,
    pub legacy: Option<Legacy>,
}

fn build(docs: &[(u8, DocSet)], recorded: &[(u8, Recorded)]) -> Result<Catalog, GenError> {
    let actions = build_actions(docs, recorded);
    let events = build_events(docs, recorded, &actions)?;
    Ok(Catalog { actions, events })
}

fn build_actions(docs: &[(u8, DocSet)], recorded: &[(u8, Recorded)]) -> Vec<Action> {
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for (_, set) in docs {
        for (key, action) in &set.actions {
            names
                .entry(key.clone())
                .or_insert_with(|| action.name.clone());
        }
    }
    for (_, rec) in recorded {
        for (key, (name, _)) in &rec.privileges {
            names.entry(key.clone()).or_insert_with(|| name.clone());
        }
    }
    names
        .into_iter()
        .map(|(key, name)| {
            let mut action = Action {
                name,
                documented: 0,
                params: Vec::new(),
                list: None,
                privileges: Vec::new(),
            };
            let mut doc_items = Vec::new();
            let mut doc_complete = Vec::new();
            for (bit, set) in docs {
                let Some(doc) = set.actions.get(&key) else {
                    continue;
                };
                action.documented |= bit;
                for param in &doc.params {
                    let required = if param.required { *bit } else { 0 };
                    match action
                        .params
                        .iter_mut()
                        .find(|p| p.name.eq_ignore_ascii_case(&param.name))
                    {
                        Some(known) => {
                            known.versions |= bit;
                            known.required |= required;
                        }
                        None => action.params.push(Param {
                            name: param.name.clone(),
                            versions: *bit,
                            required,
                            repeatable: param.multiple
                                || (rules::REPEATED_PARAMS.contains(&param.name.as_str())
                                    && !rules::SINGLE_VARIABLE_ACTIONS
                                        .iter()
                                        .any(|a| a.eq_ignore_ascii_case(&key))),
                            default: param.default.clone(),
                            values: param.values.clone(),
                        }),
                    }
                }
                for item in &doc.list_items {
                    push_unique(&mut doc_items, item.clone());
                }
                for complete in &doc.list_complete {
                    push_unique(&mut doc_complete, complete.clone());
                }
            }
            let (mut rec_items, mut rec_complete, mut rec_bits, mut eventlist) =
                (Vec::new(), None, 0u8, 0u8);
            for (bit, rec) in recorded {
                if let Some(list) = rec.lists.get(&key) {
                    rec_bits |= bit;
                    if list.eventlist {
                        eventlist |= bit;
                    }
                    for item in &list.items {
                        push_unique(&mut rec_items, item.clone());
                    }
                    if rec_complete.is_none() {
                        rec_complete.clone_from(&list.complete);
                    }
                }
                if let Some((_, classes)) = rec.privileges.get(&key) {
                    action.privileges.push((*bit, classes.clone()));
                }
            }
            let rule = rules::LIST_RULES
                .iter()
                .find(|r| r.action.eq_ignore_ascii_case(&key));
            action.list = if let Some(complete) = doc_complete.first() {
                // The documentation names the events; recordings only confirm them.
                Some(ListReply {
                    items: doc_items,
                    complete: complete.clone(),
                    source: Source::Documented,
                    recorded: rec_bits,
                    eventlist,
                    note: String::new(),
                })
            } else if let Some(complete) = rec_complete {
                Some(ListReply {
                    items: rec_items,
                    complete,
                    source: Source::Recorded,
                    recorded: rec_bits,
                    eventlist,
                    note: String::new(),
                })
            } else {
                rule.map(|rule| ListReply {
                    items: rule.items.iter().map(|s| (*s).to_owned()).collect(),
                    complete: rule.complete.to_owned(),
                    source: Source::Rule,
                    recorded: 0,
                    eventlist: 0,
                    note: rule.note.to_owned(),
                })
            };
            action
        })
        .collect()
}

/// Channel and bridge snapshot fields per version. The documentation encodes them as
/// `<channel_snapshot prefix=".."/>` / `<bridge_snapshot/>` placeholders that Asterisk's build
/// expands with a stylesheet the XML does not carry. `Newchannel` is documented as exactly one
/// bare channel snapshot and `BridgeCreate` as one bare bridge snapshot, so the headers a real
/// server of that version sent in those events are the snapshot fields.
fn snapshot(
    version: &'static str,
    kind: &'static str,
    event: &str,
    expected: FieldSpec,
    docs: &DocSet,
    recorded: &Recorded,
) -> Result<Vec<String>, GenError> {
    let why = |why: String| GenError::Snapshot { version, kind, why };
    let doc = docs
        .events
        .get(event)
        .ok_or_else(|| why(format!("{event} is not documented")))?;
    if doc.fields != [expected] {
        return Err(why(format!(
            "{event} is not documented as one bare snapshot"
        )));
    }
    let rec = recorded
        .events
        .get(event)
        .ok_or_else(|| why(format!("no {event} in the recordings")))?;
    Ok(rec
        .fields
        .iter()
        .filter(|f| !f.eq_ignore_ascii_case("ActionID"))
        .cloned()
        .collect())
}

fn build_events(
    docs: &[(u8, DocSet)],
    recorded: &[(u8, Recorded)],
    actions: &[Action],
) -> Result<Vec<Event>, GenError> {
    // Snapshot field lists for the versions whose documentation uses snapshot placeholders.
    let mut snapshots: BTreeMap<u8, (Vec<String>, Vec<String>)> = BTreeMap::new();
    for ((bit, set), (_, rec)) in docs.iter().zip(recorded) {
        let uses = set
            .events
            .values()
            .flat_map(|e| &e.fields)
            .any(|f| matches!(f, FieldSpec::Channel(_) | FieldSpec::Bridge(_)));
        if uses {
            let version = VERSIONS.iter().find(|(_, b)| b == bit).map_or("?", |v| v.0);
            let channel = snapshot(
                version,
                "channel",
                "newchannel",
                FieldSpec::Channel(String::new()),
                set,
                rec,
            )?;
            let bridge = snapshot(
                version,
                "bridge",
                "bridgecreate",
                FieldSpec::Bridge(String::new()),
                set,
                rec,
            )?;
            snapshots.insert(*bit, (channel, bridge));
        }
    }

    let mut names: BTreeMap<String, (String, Source)> = BTreeMap::new();
    for (_, set) in docs {
        for (key, event) in &set.events {
            names
                .entry(key.clone())
                .or_insert_with(|| (event.name.clone(), Source::Documented));
        }
    }
    for (_, rec) in recorded {
        for (key, event) in &rec.events {
            names
                .entry(key.clone())
                .or_insert_with(|| (event.name.clone(), Source::Recorded));
        }
    }
    let rule_names = actions
        .iter()
        .filter_map(|a| a.list.as_ref())
        .flat_map(|l| l.items.iter().chain(std::iter::once(&l.complete)))
        .map(String::as_str)
        .chain(rules::LEGACY.iter().map(|l| l.event))
        .chain(
            rules::LEGACY
                .iter()
                .flat_map(|l| l.replaced_by.iter().map(|r| r.1)),
        );
    for name in rule_names {
        names
            .entry(name.to_ascii_lowercase())
            .or_insert_with(|| (name.to_owned(), Source::Rule));
    }

    let mut events = Vec::new();
    for (key, (name, source)) in names {
        let mut event = Event {
            name,
            source,
            documented: 0,
            recorded: 0,
            classes: Vec::new(),
            fields: Vec::new(),
            observed: Vec::new(),
            legacy: None,
        };
        for (bit, set) in docs {
            let Some(doc) = set.events.get(&key) else {
                continue;
            };
            event.documented |= bit;
            for class in &doc.classes {
                push_unique(&mut event.classes, class.clone());
            }
            for spec in &doc.fields {
                let expanded: Vec<(String, &[String])> = match spec {
                    FieldSpec::Param { name, values } => vec![(name.clone(), values.as_slice())],
                    FieldSpec::Channel(prefix) => snapshots[bit]
                        .0
                        .iter()
                        .map(|f| (format!("{prefix}{f}"), &[][..]))
                        .collect(),
                    FieldSpec::Bridge(prefix) => snapshots[bit]
                        .1
                        .iter()
                        .map(|f| (format!("{prefix}{f}"), &[][..]))
                        .collect(),
                };
                for (name, values) in expanded {
                    add_field(&mut event.fields, &name, *bit, values);
                }
            }
        }
        for (bit, rec) in recorded {
            let Some(seen) = rec.events.get(&key) else {
                continue;
            };
            event.recorded |= bit;
            event.observed.push((*bit, seen.fields.clone()));
            if event.documented == 0 {
                for class in &seen.classes {
                    push_unique(&mut event.classes, class.clone());
                }
                for field in &seen.fields {
                    add_field(&mut event.fields, field, *bit, &[]);
                }
            }
        }
        if event.source == Source::Rule {
            if let Some((_, fields)) = rules::RULE_FIELDS
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(&key))
            {
                for field in *fields {
                    add_field(&mut event.fields, field, 0, &[]);
                }
            }
        }
        if let Some(rule) = rules::LEGACY
            .iter()
            .find(|l| l.event.eq_ignore_ascii_case(&key))
        {
            check_variants(rule, &key, recorded)?;
            event.legacy = Some(Legacy {
                replaced_by: rule
                    .replaced_by
                    .iter()
                    .map(|(when, modern)| {
                        (
                            when.map(|(h, v)| (h.to_owned(), v.to_owned())),
                            (*modern).to_owned(),
                        )
                    })
                    .collect(),
                note: rule.note.to_owned(),
            });
        }
        events.push(event);
    }
    Ok(events)
}

/// Every recorded value of a header that selects the modern event must be one a rule maps, so
/// that a variant the rules never heard of fails the generation instead of mapping to nothing.
fn check_variants(
    rule: &rules::LegacyRule,
    key: &str,
    recorded: &[(u8, Recorded)],
) -> Result<(), GenError> {
    for (bit, rec) in recorded {
        let Some(seen) = rec.events.get(key) else {
            continue;
        };
        for (when, _) in rule.replaced_by {
            let Some((header, _)) = when else { continue };
            let Some(values) = seen
                .values
                .iter()
                .find(|(h, _)| h.eq_ignore_ascii_case(header))
                .map(|(_, v)| v)
            else {
                continue;
            };
            for value in values {
                let mapped = rule.replaced_by.iter().any(|(w, _)| {
                    w.is_some_and(|(h, v)| {
                        h.eq_ignore_ascii_case(header) && v.eq_ignore_ascii_case(value)
                    })
                });
                if !mapped {
                    let version = VERSIONS.iter().find(|(_, b)| b == bit).map_or("?", |v| v.0);
                    return Err(GenError::UnmappedVariant {
                        version,
                        event: rule.event.to_owned(),
                        header: (*header).to_owned(),
                        value: value.clone(),
                    });
                }
            }
        }
    }
    Ok(())
}

fn add_field(fields: &mut Vec<Field>, name: &str, bit: u8, values: &[String]) {
    match fields
        .iter_mut()
        .find(|f| f.name.eq_ignore_ascii_case(name))
    {
        Some(field) => {
            field.versions |= bit;
            for value in values {
                push_unique(&mut field.values, value.clone());
            }
        }
        None => fields.push(Field {
            name: name.to_owned(),
            versions: bit,
            values: values.to_vec(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use corpus::RecEvent;

    fn recorded_dial(sub_events: &[&str]) -> Vec<(u8, Recorded)> {
        let mut rec = Recorded::default();
        rec.events.insert(
            "dial".into(),
            RecEvent {
                name: "Dial".into(),
                values: BTreeMap::from([(
                    "SubEvent".into(),
                    sub_events.iter().map(|s| (*s).to_owned()).collect(),
                )]),
                ..RecEvent::default()
            },
        );
        vec![(1, rec)]
    }

    #[test]
    fn recorded_variants_must_be_mapped() {
        let rule = rules::LEGACY.iter().find(|r| r.event == "Dial").unwrap();
        assert!(check_variants(rule, "dial", &recorded_dial(&["Begin", "end"])).is_ok());
        let err = check_variants(rule, "dial", &recorded_dial(&["Begin", "Middle"])).unwrap_err();
        assert!(
            matches!(&err, GenError::UnmappedVariant { version: "1.8", value, .. } if value == "Middle"),
            "{err}"
        );
    }
}
