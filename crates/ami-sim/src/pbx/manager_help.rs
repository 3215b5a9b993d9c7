//! `manager show command NAME ...`, `manager show commands`, `manager show events` and
//! `manager show event NAME`, answered from `ami-catalog` for the profile's version. The layout is Asterisk's; the prose (synopsis, description,
//! arguments) is Asterisk's GPL text, which the project does not carry: those sections say
//! `Not available`, as Asterisk itself does for an action without documentation.

use ami_catalog::Version;

use crate::profile::Profile;

/// The `(Priv: ...)` text of an action on `version`: its classes with `all`, or `<none>`.
fn privilege(action: &ami_catalog::Action, version: Version) -> String {
    let classes = action
        .classes(version)
        .or_else(|| Version::ALL.iter().rev().find_map(|v| action.classes(*v)));
    match classes {
        Some([]) | None => "<none>".to_owned(),
        Some(classes) => format!("{},all", classes.join(",")),
    }
}

/// `manager show command A B ...`: one block per name the version has, nothing for others.
pub(crate) fn show_command(profile: Profile, names: &[&str]) -> String {
    let version = profile.catalog_version();
    let mut out = String::new();
    for name in names {
        let Some(action) = ami_catalog::action(name).filter(|a| a.known_on(version)) else {
            continue;
        };
        let mut syntax = format!("Action: {}\n", action.name);
        for param in action
            .params
            .iter()
            .filter(|p| p.versions.contains(version))
        {
            if param.required.contains(version) {
                syntax.push_str(&format!("{}: <value>\n", param.name));
            } else {
                syntax.push_str(&format!("[{}:] <value>\n", param.name));
            }
        }
        let responses = match &action.list {
            Some(list) => list
                .items
                .iter()
                .map(|item| format!("Event: {item}\n"))
                .collect::<String>(),
            None => "None\n".to_owned(),
        };
        let final_response = action
            .list
            .as_ref()
            .map(|list| format!("Event: {}\n", list.complete))
            .unwrap_or_else(|| "None\n".to_owned());
        out.push_str(&format!(
            "\n  -= Info about Manager Command '{}' =- \n\n\
             [Synopsis]\nNot available\n\n[Provided By]\nNot available\n\n[Since]\nNot available\n\n\
             [Description]\nNot available\n\n[Syntax]\n{syntax}\n[Arguments]\nNot available\n\n\
             [Privilege]\n{}\n\n[See Also]\nNot available\n\n[List Responses]\n{responses}\
             [End List Responses]\n\n[Final Response]\n{final_response}[End Final Response]\n",
            action.name,
            privilege(action, version),
        ));
    }
    out
}

/// `manager show commands`: every action the version has, with its privilege.
pub(crate) fn show_commands(profile: Profile) -> String {
    let version = profile.catalog_version();
    let actions: Vec<&ami_catalog::Action> = ami_catalog::actions()
        .iter()
        .filter(|a| a.known_on(version))
        .collect();
    let width = actions
        .iter()
        .map(|a| a.name.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let mut out = format!(
        "  {:<width$}  {:<30}  Synopsis\n  {:<width$}  {:<30}  --------\n",
        "Action", "Privilege", "------", "---------"
    );
    for action in actions {
        out.push_str(&format!(
            "  {:<width$}  {:<30}  Not available\n",
            action.name,
            privilege(action, version)
        ));
    }
    out
}

/// `manager show events`: the events the version documents, sorted by byte value, three to a
/// line in 20-column cells, under a rule of three dashes. `None` where the version has no
/// event documentation to list (1.8: the CLI command does not exist there).
pub(crate) fn show_events(profile: Profile) -> Option<String> {
    let version = profile.catalog_version();
    let mut names: Vec<&str> = ami_catalog::events_documented_in(version)
        .map(|e| e.name)
        .collect();
    if names.is_empty() {
        return None;
    }
    names.sort_unstable();
    let mut out = String::from("Events:\n");
    out.push_str(&format!("{}\n", "  --------------------".repeat(3) + "  "));
    let mut row = String::new();
    for (index, name) in names.iter().enumerate() {
        let cell: String = name.chars().take(20).collect();
        row.push_str(&format!("  {cell:<20}"));
        if (index + 1) % 3 == 0 {
            out.push_str(&row);
            out.push('\n');
            row.clear();
        }
    }
    // Asterisk tests the count plus one here, so a list of 2, 5, 8 ... names ends without
    // flushing its last row, and a list of 3, 6 ... ends with an empty line.
    if (names.len() + 1) % 3 != 0 {
        out.push_str(&row);
        out.push('\n');
    }
    Some(out)
}

/// `manager show event NAME`: its syntax (the fields the version documents); the prose
/// sections Asterisk prints only when it has text for them, so they are left out. `None` where
/// the version has no event documentation (the CLI command does not exist there).
pub(crate) fn show_event(profile: Profile, name: &str) -> Option<String> {
    let version = profile.catalog_version();
    ami_catalog::events_documented_in(version).next()?;
    let Some(event) = ami_catalog::event(name).filter(|e| e.documented.contains(version)) else {
        return Some(format!("Could not find event '{name}'\n"));
    };
    let mut out = format!("Event: {name}\n[Syntax]\nEvent: {}\n", event.name);
    for field in event.fields.iter().filter(|f| f.versions.contains(version)) {
        out.push_str(&format!("{}: <value>\n", field.name));
    }
    out.push_str("\n\n");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_shows_its_syntax_and_privilege_for_the_version() {
        let text = show_command(Profile::V22, &["originate"]);
        assert!(
            text.contains("-= Info about Manager Command 'Originate' =-"),
            "{text}"
        );
        assert!(
            text.contains("[Syntax]\nAction: Originate\n[ActionID:] <value>\nChannel: <value>\n"),
            "{text}"
        );
        assert!(text.contains("[Privilege]\noriginate,all\n"), "{text}");
        assert!(text.contains("PreDialGoSub"), "22 has it");
        assert!(!show_command(Profile::V18, &["Originate"]).contains("PreDialGoSub"));
        assert!(
            show_command(Profile::V18, &["BlindTransfer"]).is_empty(),
            "12+ only"
        );
        let list = show_command(Profile::V13, &["CoreShowChannels"]);
        assert!(
            list.contains("[List Responses]\nEvent: CoreShowChannel\n"),
            "{list}"
        );
        assert!(
            list.contains("[Final Response]\nEvent: CoreShowChannelsComplete\n"),
            "{list}"
        );
    }

    #[test]
    fn the_command_list_has_every_action_of_the_version() {
        let text = show_commands(Profile::V18);
        assert!(
            text.lines()
                .any(|l| l.trim_start().starts_with("Originate "))
        );
        assert!(!text.contains("BlindTransfer"));
        assert_eq!(
            text.lines().count() - 2,
            ami_catalog::actions()
                .iter()
                .filter(|a| a.known_on(Version::V1_8))
                .count()
        );
    }

    #[test]
    fn the_event_list_is_sorted_three_to_a_line() {
        let text = show_events(Profile::V22).expect("22 documents events");
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("Events:"));
        assert!(
            lines
                .next()
                .is_some_and(|rule| rule.matches("----").count() == 15)
        );
        let names: Vec<&str> = text
            .lines()
            .skip(2)
            .flat_map(str::split_whitespace)
            .collect();
        let documented = ami_catalog::events_documented_in(Version::V22).count();
        assert_eq!(names.len(), documented);
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        assert!(names.contains(&"Hangup") && names.contains(&"DialBegin"));
        assert!(text.lines().skip(2).all(|l| l.len() <= 66), "{text}");
        assert!(
            show_events(Profile::V18).is_none(),
            "1.8 documents no events"
        );
    }

    #[test]
    fn an_event_shows_its_fields_for_the_version() {
        let text = show_event(Profile::V13, "hangup").expect("13 documents events");
        assert!(
            text.starts_with("Event: hangup\n[Syntax]\nEvent: Hangup\n"),
            "{text}"
        );
        assert!(text.contains("\nChannel: <value>\n") && text.contains("\nCause: <value>\n"));
        assert_eq!(
            show_event(Profile::V22, "NoSuchEvent").as_deref(),
            Some("Could not find event 'NoSuchEvent'\n")
        );
        assert!(show_event(Profile::V18, "Hangup").is_none());
    }
}
