//! Which actions a token's `"*"` reaches. A hand-kept list of dangerous actions fails open:
//! every action it forgets (DialplanExtensionAdd, AGI, the Sorcery cache actions …) becomes
//! reachable. So `"*"` is decided the other way round, from what the PBX itself says of each
//! action: its write classes, as `ListCommands` reports them on every Asterisk version. An
//! action is granted by `"*"` only when its classes cannot run code, start calls or change
//! configuration; every other action must be named in the token's `allow` list, and an action
//! whose classes are not known (the PBX did not list it, or has not been asked yet) is
//! treated as sensitive. The classes `ami-catalog` recorded for the action on every Asterisk
//! version must be safe too, so a PBX that under-reports an action's classes cannot widen `"*"`.

use std::collections::HashMap;

use ami_proto::Message;

/// Write classes whose actions a `"*"` may reach: call control and queue/agent work on calls
/// that already exist, reading state, and user events. `system`, `config`, `command`,
/// `originate`, `agi`, `message`, `aoc` and any class not named here are sensitive.
pub const SAFE_CLASSES: &[&str] = &["call", "reporting", "user", "agent", "dtmf"];

/// Actions whose classes look safe but that `"*"` never grants, each with why. They are
/// `call` or `reporting` actions that reach further than their class says.
pub const ALWAYS_NAMED: &[(&str, &str)] = &[
    (
        "Redirect",
        "it sends a live call into any dialplan extension",
    ),
    (
        "BlindTransfer",
        "it sends a live call into any dialplan extension",
    ),
    ("Atxfer", "it sends a live call into any dialplan extension"),
    ("Bridge", "it joins any two live channels"),
    (
        "Getvar",
        "it evaluates dialplan functions (SHELL, FILE …) with the gateway's AMI rights",
    ),
    (
        "Setvar",
        "it writes dialplan functions (FILE, DB …) and global variables",
    ),
    (
        "Status",
        "its Variables header evaluates dialplan functions with the gateway's AMI rights",
    ),
    (
        "Monitor",
        "it records to any file path and may run the configured mix command",
    ),
    ("ChangeMonitor", "it moves a recording to any file path"),
    ("SendText", "it sends arbitrary text to a caller's device"),
    (
        "DataGet",
        "it reads the whole internal data tree, configuration included",
    ),
];

/// Each action's write classes on one PBX, from its `ListCommands` answer. Names compare
/// case-insensitively, as Asterisk does.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ActionClasses {
    /// Lowercase action name → (name as the PBX spells it, classes without `all`).
    by_name: HashMap<String, (String, Vec<String>)>,
}

impl ActionClasses {
    /// Reads a `ListCommands` response: one header per action, `Name: synopsis  (Priv: a,b,all)`,
    /// where `<none>` means no class (any logged-in user may run it). Headers without a
    /// `(Priv: …)` suffix (Response, ActionID, Message) are not actions and are skipped.
    pub fn from_list_commands(response: &Message) -> Self {
        let mut by_name = HashMap::new();
        for field in response.fields() {
            if field.is_text_line() {
                continue;
            }
            let value = field.value_str();
            let Some((_, privilege)) = value.trim_end().rsplit_once("(Priv:") else {
                continue;
            };
            let Some(privilege) = privilege.trim().strip_suffix(')') else {
                continue;
            };
            let classes: Vec<String> = privilege
                .split(',')
                .map(str::trim)
                .filter(|class| {
                    !class.is_empty() && *class != "<none>" && !class.eq_ignore_ascii_case("all")
                })
                .map(str::to_ascii_lowercase)
                .collect();
            let name = field.name_str().into_owned();
            by_name.insert(name.to_ascii_lowercase(), (name, classes));
        }
        Self { by_name }
    }

    /// Adds (or replaces) one action and its classes (without `all`), as another source of
    /// facts than `ListCommands` would.
    pub fn insert(&mut self, name: &str, classes: &[&str]) {
        let classes = classes.iter().map(|c| c.to_ascii_lowercase()).collect();
        self.by_name
            .insert(name.to_ascii_lowercase(), (name.to_owned(), classes));
    }

    /// The classes of `action` (empty: none needed), or `None` when the PBX did not list it.
    pub fn classes(&self, action: &str) -> Option<&[String]> {
        self.by_name
            .get(&action.to_ascii_lowercase())
            .map(|(_, classes)| classes.as_slice())
    }

    /// The action's name as the PBX spells it, when the PBX knows it.
    pub fn canonical_name(&self, action: &str) -> Option<&str> {
        self.by_name
            .get(&action.to_ascii_lowercase())
            .map(|(name, _)| name.as_str())
    }

    /// How many actions the PBX listed.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether the PBX listed none (not asked yet, or the answer failed).
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

/// Why `"*"` does not reach an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotByWildcard {
    /// The PBX did not list the action (unknown, not loaded, or not asked yet).
    UnknownClass,
    /// The action has a class outside [`SAFE_CLASSES`].
    SensitiveClass(String),
    /// The action is in [`ALWAYS_NAMED`], for this reason.
    AlwaysNamed(&'static str),
}

impl std::fmt::Display for NotByWildcard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnknownClass => f.write_str("the server does not list its write class"),
            Self::SensitiveClass(class) => write!(f, "its write class includes `{class}`"),
            Self::AlwaysNamed(reason) => f.write_str(reason),
        }
    }
}

/// Whether a `"*"` grants `action` on a PBX whose classes are `known`.
///
/// Granted when every class is in [`SAFE_CLASSES`] (or it has none), and also when the
/// classes are `reporting` plus `system`: Asterisk lets a user holding only `reporting` run
/// those (it checks that the user has *any* of an action's classes), and they only read
/// (CoreShowChannels, CoreStatus, DBGet …). [`ALWAYS_NAMED`] actions are never granted.
pub fn wildcard_grants(action: &str, known: &ActionClasses) -> Result<(), NotByWildcard> {
    if let Some((_, reason)) = ALWAYS_NAMED
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(action))
    {
        return Err(NotByWildcard::AlwaysNamed(reason));
    }
    let classes = known.classes(action).ok_or(NotByWildcard::UnknownClass)?;
    first_unsafe(classes.iter().map(String::as_str))?;
    // A second opinion that a PBX (or a proxy in front of it) cannot change: the classes the
    // catalog recorded for the action on any Asterisk version.
    if let Some(catalogued) = ami_catalog::action(action) {
        for version in ami_catalog::Version::ALL {
            if let Some(classes) = catalogued.classes(version) {
                first_unsafe(classes.iter().copied())?;
            }
        }
    }
    Ok(())
}

/// The first class of an action's set that `"*"` may not reach, as an error.
fn first_unsafe<'a>(classes: impl Iterator<Item = &'a str> + Clone) -> Result<(), NotByWildcard> {
    let reads = classes.clone().any(|class| class == "reporting");
    let safe = |class: &str| SAFE_CLASSES.contains(&class) || (reads && class == "system");
    match classes.into_iter().find(|class| !safe(class)) {
        Some(class) => Err(NotByWildcard::SensitiveClass(class.to_owned())),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes one recorded `ListCommands` answer.
    fn classes_of(recv: &[u8]) -> ActionClasses {
        let mut decoder = ami_proto::Decoder::new();
        let mut buf = bytes::BytesMut::from(recv);
        while let Some(packet) = decoder.decode(&mut buf).expect("decodes") {
            if let ami_proto::Packet::Message(message) = packet
                && message.value_is("ActionID", "lc-1")
            {
                return ActionClasses::from_list_commands(&message);
            }
        }
        panic!("no ListCommands answer");
    }

    const V22: &[u8] = b"Response: Success\r\nActionID: lc-1\r\n\
        AbsoluteTimeout: Set absolute timeout.  (Priv: system,call,all)\r\n\
        AGI: Add an AGI command to execute by Async AGI.  (Priv: agi,all)\r\n\
        BridgeList: Get a list of bridges in the system.  (Priv: <none>)\r\n\
        CoreShowChannels: List currently active channels.  (Priv: system,reporting,all)\r\n\
        DialplanExtensionAdd: Add an extension to the dialplan  (Priv: system,all)\r\n\
        Getvar: Gets a channel variable or function value.  (Priv: call,reporting,all)\r\n\
        Originate: Originate a call.  (Priv: originate,all)\r\n\
        QueuePause: Makes a queue member temporarily unavailable.  (Priv: agent,all)\r\n\
        Redirect: Redirect (transfer) a call.  (Priv: call,all)\r\n\
        GetConfig: Retrieve configuration.  (Priv: system,config,all)\r\n\
        ShowDialPlan: Show dialplan contexts and extensions  (Priv: config,reporting,all)\r\n\
        SorceryMemoryCacheExpire: Expire (remove) ALL objects from a sorcery memory cache.  (Priv: system,all)\r\n\
        UserEvent: Send an arbitrary event.  (Priv: user,all)\r\n\r\n";

    #[test]
    fn a_pbx_that_under_reports_classes_does_not_widen_the_wildcard() {
        let mut lying = ActionClasses::default();
        lying.insert("DialplanExtensionAdd", &["reporting"]);
        lying.insert("Ping", &[]);
        assert_eq!(
            wildcard_grants("DialplanExtensionAdd", &lying),
            Err(NotByWildcard::SensitiveClass("system".into()))
        );
        assert_eq!(wildcard_grants("Ping", &lying), Ok(()));
    }

    #[test]
    fn list_commands_is_read_into_classes() {
        let known = classes_of(V22);
        assert_eq!(known.len(), 13);
        assert_eq!(
            known.classes("coreshowchannels"),
            Some(&["system".to_owned(), "reporting".to_owned()][..])
        );
        assert_eq!(known.classes("BridgeList"), Some(&[][..]));
        assert_eq!(known.canonical_name("agi"), Some("AGI"));
        assert_eq!(known.classes("Frobnicate"), None);
        // The response's own headers are not actions.
        assert_eq!(known.classes("Response"), None);
        assert_eq!(known.classes("ActionID"), None);
    }

    #[test]
    fn the_wildcard_reaches_only_safe_classes() {
        let known = classes_of(V22);
        for granted in ["BridgeList", "CoreShowChannels", "QueuePause", "UserEvent"] {
            assert_eq!(wildcard_grants(granted, &known), Ok(()), "{granted}");
        }
        for (denied, class) in [
            ("DialplanExtensionAdd", "system"),
            ("AGI", "agi"),
            ("Originate", "originate"),
            ("AbsoluteTimeout", "system"),
            ("GetConfig", "system"),
            ("ShowDialPlan", "config"),
            ("SorceryMemoryCacheExpire", "system"),
        ] {
            assert_eq!(
                wildcard_grants(denied, &known),
                Err(NotByWildcard::SensitiveClass(class.into())),
                "{denied}"
            );
        }
        assert!(matches!(
            wildcard_grants("redirect", &known),
            Err(NotByWildcard::AlwaysNamed(_))
        ));
        assert!(matches!(
            wildcard_grants("Getvar", &known),
            Err(NotByWildcard::AlwaysNamed(_))
        ));
        assert_eq!(
            wildcard_grants("Frobnicate", &known),
            Err(NotByWildcard::UnknownClass)
        );
        assert_eq!(
            wildcard_grants("Ping", &ActionClasses::default()),
            Err(NotByWildcard::UnknownClass)
        );
    }

    /// Every action of every recorded Asterisk that `"*"` grants has safe classes only (or
    /// reads with `system`), and none of the actions that run code or change configuration
    /// is among them.
    #[test]
    fn recorded_servers_grant_nothing_that_runs_code_or_changes_configuration() {
        let corpus =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
        if !corpus.is_dir() {
            return;
        }
        for version in ["22", "13", "11", "1.8"] {
            let recv = std::fs::read(corpus.join(format!("asterisk-{version}/list_commands.recv")))
                .expect("recording");
            let known = classes_of(&recv);
            assert!(known.len() > 60, "{version}: {}", known.len());
            for sensitive in [
                "Command",
                "Originate",
                "UpdateConfig",
                "GetConfig",
                "CreateConfig",
                "ModuleLoad",
                "Reload",
                "DBPut",
                "DBDel",
                "DBDelTree",
                "AGI",
                "DialplanExtensionAdd",
                "DialplanExtensionRemove",
                "MixMonitor",
                "Monitor",
                "Redirect",
                "BlindTransfer",
                "Atxfer",
                "Getvar",
                "Setvar",
                "Hangup",
            ] {
                assert!(
                    wildcard_grants(sensitive, &known).is_err(),
                    "{version}: {sensitive}"
                );
            }
            for read in ["CoreShowChannels", "CoreStatus", "QueueStatus", "Ping"] {
                assert_eq!(wildcard_grants(read, &known), Ok(()), "{version}: {read}");
            }
        }
    }
}
