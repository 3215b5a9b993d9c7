use super::*;

fn list(action_name: &str) -> &'static ListReply {
    action(action_name)
        .and_then(|a| a.list.as_ref())
        .unwrap_or_else(|| panic!("{action_name} has no list reply"))
}

#[test]
fn documented_counts_match_the_documentation() {
    // ../shared/asterisk-docs/README.md: distinct <manager> and <managerEvent> names per version.
    let expected = [
        (Version::V22, 154, 181),
        (Version::V13, 154, 151),
        (Version::V11, 111, 3),
        (Version::V1_8, 89, 0),
    ];
    for (version, actions, events) in expected {
        assert_eq!(
            actions_documented_in(version).count(),
            actions,
            "actions {version}"
        );
        assert_eq!(
            events_documented_in(version).count(),
            events,
            "events {version}"
        );
    }
}

/// The totals the README states.
#[test]
fn catalog_totals() {
    assert_eq!(actions().len(), 172);
    assert_eq!(events().len(), 236);
    let lists = |source| {
        actions()
            .iter()
            .filter(|a| a.list.as_ref().is_some_and(|l| l.source == source))
            .count()
    };
    assert_eq!(
        [
            lists(Source::Documented),
            lists(Source::Recorded),
            lists(Source::Rule)
        ],
        [11, 4, 29]
    );
    let events_from = |source| events().iter().filter(|e| e.source == source).count();
    assert_eq!(
        [
            events_from(Source::Documented),
            events_from(Source::Recorded),
            events_from(Source::Rule)
        ],
        [185, 15, 36]
    );
    let with_classes: Vec<usize> = [Version::V22, Version::V13, Version::V11, Version::V1_8]
        .into_iter()
        .map(|v| actions().iter().filter(|a| a.classes(v).is_some()).count())
        .collect();
    assert_eq!(with_classes, [110, 103, 72, 65]);
}

#[test]
fn tables_are_sorted_and_unique_for_binary_search() {
    for pair in actions().windows(2) {
        assert_eq!(
            cmp_ignore_case(pair[0].name, pair[1].name),
            Ordering::Less,
            "{} / {}",
            pair[0].name,
            pair[1].name
        );
    }
    for pair in events().windows(2) {
        assert_eq!(
            cmp_ignore_case(pair[0].name, pair[1].name),
            Ordering::Less,
            "{} / {}",
            pair[0].name,
            pair[1].name
        );
    }
    for a in actions() {
        assert!(std::ptr::eq(action(a.name).unwrap(), a), "{}", a.name);
    }
    for e in events() {
        assert!(std::ptr::eq(event(e.name).unwrap(), e), "{}", e.name);
    }
}

#[test]
fn known_on_counts_recordings_too() {
    let mute = action("MuteAudio").unwrap();
    assert!(!mute.documented.contains(Version::V1_8) && mute.known_on(Version::V1_8));
    assert!(!action("Filter").unwrap().known_on(Version::V1_8));
    let dial = event("Dial").unwrap();
    assert!(dial.known_on(Version::V11) && !dial.known_on(Version::V22));
    assert!(event("DialBegin").unwrap().known_on(Version::V13));
}

#[test]
fn lookup_ignores_case() {
    assert_eq!(action("ORIGINATE").unwrap().name, "Originate");
    assert_eq!(action("coreshowchannels").unwrap().name, "CoreShowChannels");
    assert_eq!(event("newcallerid").unwrap().name, "NewCallerid");
    assert!(action("NoSuchThing").is_none());
    assert!(event("").is_none());
}

#[test]
fn getvar_and_setvar_name_one_variable() {
    for name in ["Getvar", "Setvar"] {
        let variable = action(name).unwrap().param("Variable").unwrap();
        assert!(variable.is_required() && !variable.repeatable, "{name}");
    }
    // Every other action's Variable is read with astman_get_variables: repeatable.
    assert!(
        action("MessageSend")
            .unwrap()
            .param("Variable")
            .unwrap()
            .repeatable
    );
}

#[test]
fn originate_requires_channel_and_repeats_variable() {
    let originate = action("Originate").unwrap();
    let channel = originate.param("Channel").unwrap();
    assert!(channel.is_required() && !channel.repeatable);
    assert_eq!(channel.required, Versions(0b1111));
    let variable = originate.param("Variable").unwrap();
    assert!(variable.repeatable && !variable.is_required());
    assert_eq!(originate.param("Timeout").unwrap().default, Some("30000"));
    assert!(!originate.param("Exten").unwrap().is_required());
    assert!(originate.param("ActionID").is_some(), "xi:include resolved");
    assert_eq!(originate.documented, Versions(0b1111));
    assert!(originate.list.is_none());
}

#[test]
fn required_flags_are_kept_per_version() {
    let channel = action("AOCMessage").unwrap().param("Channel").unwrap();
    assert!(channel.required.contains(Version::V13) && !channel.required.contains(Version::V22));
    assert!(!channel.is_required());
    let to = action("MessageSend").unwrap().param("To").unwrap();
    assert_eq!(to.required, Versions(0b0110));
}

#[test]
fn enumerated_values_are_kept() {
    let events_action = action("Events").unwrap();
    let mask = events_action.param("EventMask").unwrap();
    assert!(
        mask.values.contains(&"on") && mask.values.contains(&"off"),
        "{mask:?}"
    );
}

#[test]
fn core_show_channels_lists_core_show_channel() {
    let reply = list("CoreShowChannels");
    assert_eq!(reply.items, ["CoreShowChannel"]);
    assert_eq!(reply.complete, "CoreShowChannelsComplete");
    assert_eq!(reply.source, Source::Documented);
    // 1.8 and 11 already marked this list with EventList.
    assert_eq!(reply.eventlist, Versions(0b1111));
}

#[test]
fn queue_status_items_come_from_the_recordings() {
    let reply = list("QueueStatus");
    for item in ["QueueParams", "QueueMember", "QueueEntry"] {
        assert!(reply.items.contains(&item), "{item} in {:?}", reply.items);
    }
    assert_eq!(reply.complete, "QueueStatusComplete");
    assert_eq!(reply.source, Source::Recorded);
    // 1.8 and 11 answer without EventList: the list ends only with QueueStatusComplete.
    assert!(reply.eventlist.contains(Version::V13) && !reply.eventlist.contains(Version::V11));
    let member = event("QueueMember").unwrap();
    assert_eq!(member.source, Source::Recorded);
    assert!(member.documented.is_empty());
    assert!(member.seen_on(Version::V11).unwrap().contains(&"IsInCall"));
    assert!(member.field("Queue").is_some());
}

#[test]
fn rule_lists_say_where_they_come_from() {
    let reply = list("BridgeList");
    assert_eq!(reply.items, ["BridgeListItem"]);
    assert_eq!(reply.source, Source::Rule);
    assert!(!reply.note.is_empty());
    assert_eq!(event("BridgeListItem").unwrap().source, Source::Rule);
}

#[test]
fn dial_of_1_8_maps_to_dial_begin_and_end() {
    let dial = event("Dial").unwrap();
    assert!(dial.recorded.contains(Version::V1_8));
    assert!(dial.documented.is_empty());
    let legacy = dial.legacy.as_ref().unwrap();
    let begin = legacy.modern(|h| (h == "SubEvent").then_some("Begin"));
    let end = legacy.modern(|h| (h == "SubEvent").then_some("End"));
    assert_eq!((begin, end), (Some("DialBegin"), Some("DialEnd")));
    assert_eq!(legacy.modern(|_| None), None);
    assert!(dial.seen_on(Version::V1_8).unwrap().contains(&"SubEvent"));
    for modern in ["DialBegin", "DialEnd"] {
        assert!(event(modern).unwrap().documented.contains(Version::V22));
    }
}

#[test]
fn other_legacy_families_map() {
    let bridge = event("Bridge").unwrap().legacy.as_ref().unwrap();
    assert_eq!(
        bridge.modern(|h| (h == "Bridgestate").then_some("Unlink")),
        Some("BridgeLeave")
    );
    let unlink = event("Unlink").unwrap();
    assert!(unlink.recorded.contains(Version::V1_8) && !unlink.recorded.contains(Version::V11));
    assert_eq!(
        unlink.legacy.as_ref().unwrap().modern(|_| None),
        Some("BridgeLeave")
    );
    let leave = event("Leave").unwrap().legacy.as_ref().unwrap();
    assert_eq!(leave.modern(|_| None), Some("QueueCallerLeave"));
    let link = event("Link").unwrap();
    assert_eq!(link.source, Source::Rule);
    assert_eq!(
        link.legacy.as_ref().unwrap().modern(|_| None),
        Some("BridgeEnter")
    );
    let join = event("Join").unwrap();
    assert_eq!(
        join.legacy.as_ref().unwrap().modern(|_| None),
        Some("QueueCallerJoin")
    );
    assert!(
        event("Masquerade")
            .unwrap()
            .legacy
            .as_ref()
            .unwrap()
            .replaced_by
            .is_empty()
    );
    // Same name before and after 12: not a legacy family, but recorded on 1.8 with its old fields.
    let callerid = event("NewCallerid").unwrap();
    assert!(callerid.legacy.is_none());
    assert!(
        callerid.documented.contains(Version::V22) && callerid.recorded.contains(Version::V1_8)
    );
}

#[test]
fn snapshot_placeholders_are_expanded_with_prefixes() {
    let begin = event("DialBegin").unwrap();
    for field in [
        "Channel",
        "Uniqueid",
        "Linkedid",
        "DestChannel",
        "DestUniqueid",
        "DestCallerIDNum",
        "DialString",
    ] {
        assert!(begin.field(field).is_some(), "DialBegin.{field}");
    }
    assert_eq!(begin.classes, ["call"]);
    let enter = event("BridgeEnter").unwrap();
    assert!(enter.field("BridgeUniqueid").is_some() && enter.field("Channel").is_some());
    let hangup = event("Hangup").unwrap();
    assert!(hangup.field("Cause").is_some());
}

#[test]
fn privilege_classes_per_version() {
    let add = action("DialplanExtensionAdd").unwrap();
    assert_eq!(add.classes(Version::V22), Some(&["system"][..]));
    assert_eq!(add.classes(Version::V1_8), None, "not on the 1.8 server");
    let ping = action("Ping").unwrap();
    assert_eq!(ping.classes(Version::V11), Some(&[][..]), "(Priv: <none>)");
    // Loaded nowhere in the recordings: unknown, not "no class needed".
    let sip = action("SIPpeers").unwrap();
    assert!(Version::ALL.iter().all(|v| sip.classes(*v).is_none()));
}

#[test]
fn closest_names_for_misspellings() {
    assert_eq!(closest_action("Orignate").unwrap().name, "Originate");
    assert_eq!(
        closest_action("coreshowchanels").unwrap().name,
        "CoreShowChannels"
    );
    assert_eq!(closest_action("Originate").unwrap().name, "Originate");
    assert!(closest_action("Xyzzy").is_none());
    assert_eq!(closest_event("DailBegin").unwrap().name, "DialBegin");
    let originate = action("Originate").unwrap();
    assert_eq!(originate.closest_param("Chanel").unwrap().name, "Channel");
    assert!(originate.closest_param("Frobnicate").is_none());
    let required: Vec<&str> = originate.required_params().map(|p| p.name).collect();
    assert_eq!(required, ["Channel"]);
}

#[test]
fn edit_distance_counts_edits() {
    assert_eq!(edit_distance("kitten", "sitting"), 3);
    assert_eq!(edit_distance("", "abc"), 3);
    assert_eq!(edit_distance("Ping", "ping"), 0);
}

#[test]
fn versions_set() {
    let set = Versions(0b1010);
    assert_eq!(set.iter().collect::<Vec<_>>(), [Version::V11, Version::V22]);
    assert_eq!(format!("{set:?}"), r#"{"11", "22"}"#);
    assert!(Versions::NONE.is_empty());
    assert_eq!(Version::from_label("1.8"), Some(Version::V1_8));
    assert_eq!(Version::from_label("12"), None);
}

/// The documented fields (snapshot placeholders expanded) cover every header the 13 and 22
/// servers were recorded sending, apart from list framing and a few documentation holes.
#[test]
fn documented_fields_cover_recorded_headers() {
    const FRAMING: &[&str] = &["ActionID", "EventList", "ListItems"];
    // (event, header): headers real servers send that the documentation does not list.
    const HOLES: &[(&str, &str)] = &[
        ("QueueParams", "Queue"),
        ("QueueParams", "ServiceLevel"),
        ("QueueParams", "Weight"),
        // Status with `Variables:` repeats `Variable: NAME=value`.
        ("Status", "Variable"),
    ];
    let mut checked = 0;
    for e in events() {
        // UserEvent carries whatever headers the sender chose.
        if e.name == "UserEvent" {
            continue;
        }
        for version in [Version::V13, Version::V22] {
            let Some(seen) = e
                .seen_on(version)
                .filter(|_| e.documented.contains(version))
            else {
                continue;
            };
            for header in seen {
                let documented = e
                    .fields
                    .iter()
                    .any(|f| f.versions.contains(version) && f.name.eq_ignore_ascii_case(header));
                let excused = FRAMING.contains(header) || HOLES.contains(&(e.name, *header));
                assert!(documented || excused, "{version} {}: {header}", e.name);
                checked += 1;
            }
        }
    }
    // Newchannel, DialBegin, BridgeEnter ... on two versions: hundreds of headers.
    assert!(checked > 300, "only {checked} headers checked");
}

#[test]
fn action_lookup_ignores_case_and_bounds_the_name() {
    assert!(
        crate::actions()
            .iter()
            .all(|a| a.name.len() < super::MAX_ACTION_NAME)
    );
    for action in crate::actions() {
        let upper = action.name.to_ascii_uppercase();
        assert_eq!(crate::action(&upper).map(|a| a.name), Some(action.name));
    }
    assert!(crate::action(&"x".repeat(super::MAX_ACTION_NAME + 1)).is_none());
    assert!(crate::action("").is_none());
    assert!(crate::action("NoSuchAction").is_none());
}
