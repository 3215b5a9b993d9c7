//! The `[demo]` dialplan of the recordings, as steps the simulated channels run.

/// One dialplan priority: an application, its data and how the simulator plays it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Step {
    pub(crate) app: &'static str,
    pub(crate) data: String,
    pub(crate) kind: StepKind,
}

/// What a step does to the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StepKind {
    /// Answers the channel (and, on a Local `;2`, its `;1` originator).
    Answer,
    /// Signals ringing; the channel stays unanswered.
    Ringing,
    /// Sets a channel variable.
    Set(String, String),
    /// Sends a UserEvent with these `Name: value` headers.
    UserEvent(String, Vec<(String, String)>),
    /// Waits (or plays) for this long.
    Pause(u64),
    /// Plays a file: a pause that ends with PLAYBACKSTATUS.
    Playback(u64),
    /// Dials a Local channel `EXTEN@demo` and bridges on answer.
    Dial(String),
    /// Joins a queue.
    Queue(String),
    /// Logs the channel in as this agent (`AgentLogin()`); it stays there until logged off.
    AgentLogin(String),
    /// Parks the channel in the default lot (`Park()`).
    Park,
    /// Retrieves the call parked in this space (`ParkedCall(default,701)`).
    ParkedCall(u32),
    /// Nothing happens (NoOp).
    Nothing,
    /// Hangs up.
    Hangup,
}

fn step(app: &'static str, data: &str, kind: StepKind) -> Step {
    Step {
        app,
        data: data.to_owned(),
        kind,
    }
}

/// The extensions of `[demo]` in `dialplan show` order, with the extensions.conf line of their
/// first priority (as the recorded Asterisk 22 lists them).
const EXTENSIONS: [(&str, u32); 12] = [
    ("100", 11),
    ("110", 73),
    ("200", 20),
    ("300", 26),
    ("400", 33),
    ("500", 38),
    ("600", 45),
    ("700", 51),
    ("701", 57),
    ("800", 62),
    ("900", 68),
    ("h", 77),
];

/// The steps of `exten@demo` (or `exten@features`), or `None` for an extension that does not
/// exist.
pub(crate) fn extension(context: &str, exten: &str) -> Option<Vec<Step>> {
    if context == "features" {
        return features(exten);
    }
    if context != "demo" {
        return None;
    }
    use StepKind::*;
    let steps = match exten {
        "100" => vec![
            step("Answer", "", Answer),
            step("Set", "FOO=bar", Set("FOO".into(), "bar".into())),
            step("Set", "CHANNEL(language)=en", Nothing),
            step(
                "UserEvent",
                "DemoStart,Exten: ${EXTEN},Foo: ${FOO}",
                UserEvent(
                    "DemoStart".into(),
                    vec![("Exten".into(), "100".into()), ("Foo".into(), "bar".into())],
                ),
            ),
            step("Playback", "hello-world", Playback(1_500)),
            step("Wait", "2", Pause(2_000)),
            step("Hangup", "", Hangup),
        ],
        "110" => vec![
            step("Answer", "", Answer),
            step("Playback", "demo-congrats", Playback(5_000)),
            step("Hangup", "", Hangup),
        ],
        "200" => vec![
            step("Answer", "", Answer),
            step("Set", "TIMEOUT(absolute)=60", Nothing),
            step("Echo", "", Pause(60_000)),
            step("Hangup", "", Hangup),
        ],
        "300" => vec![
            step("Answer", "", Answer),
            step(
                "Set",
                "CALLTYPE=longcall",
                Set("CALLTYPE".into(), "longcall".into()),
            ),
            step("Playback", "tt-monkeys", Playback(5_000)),
            step("Wait", "60", Pause(60_000)),
            step("Hangup", "", Hangup),
        ],
        "400" => vec![
            step("NoOp", "Dialing Local/500", Nothing),
            step(
                "Set",
                "__INHERITED=yes",
                Set("__INHERITED".into(), "yes".into()),
            ),
            step("Dial", "Local/500@demo,20", Dial("500".into())),
            step("Hangup", "", Hangup),
        ],
        "500" => vec![
            step("Answer", "", Answer),
            step("Wait", "1", Pause(1_000)),
            step("Playback", "beep", Playback(500)),
            step("Wait", "3", Pause(3_000)),
            step("Hangup", "", Hangup),
        ],
        "600" => vec![
            step("Answer", "", Answer),
            step(
                "Set",
                "QUEUECALLER=yes",
                Set("QUEUECALLER".into(), "yes".into()),
            ),
            step("Queue", "support,,,,30", Queue("support".into())),
            step("Hangup", "", Hangup),
        ],
        "700" => vec![
            step("Ringing", "", Ringing),
            step("Wait", "2", Pause(2_000)),
            step("Answer", "", Answer),
            step("Wait", "20", Pause(20_000)),
            step("Hangup", "", Hangup),
        ],
        "701" => vec![
            step("Ringing", "", Ringing),
            step("Wait", "40", Pause(40_000)),
            step("Hangup", "", Hangup),
        ],
        "800" => vec![
            step("Answer", "", Answer),
            step("Set", "MYVAR=hello", Set("MYVAR".into(), "hello".into())),
            step("Wait", "120", Pause(120_000)),
            step("Hangup", "", Hangup),
        ],
        "900" => vec![
            step("Set", "BRIDGED=1", Set("BRIDGED".into(), "1".into())),
            step("Dial", "Local/800@demo,30", Dial("800".into())),
            step("Hangup", "", Hangup),
        ],
        "h" => vec![step(
            "NoOp",
            "hangup ${CHANNEL} cause ${HANGUPCAUSE}",
            Nothing,
        )],
        _ => return None,
    };
    Some(steps)
}

/// The `[features]` context: agents and parking, kept apart from `[demo]`
/// (whose listing is the recorded one).
///
/// - `_1XXX`: `AgentLogin(${EXTEN})`, the agent's channel stays logged in (a member of queue
///   `support`) until it hangs up or `AgentLogoff` logs it off;
/// - `410`: `Dial(Local/420@features)`, which dials `Local/800@demo`: the `420` Local pair
///   ends up bridged on both sides and optimises itself away (13+);
/// - `430`: `Dial(Local/400@demo)`: the `400` pair dials `Local/500@demo`, which plays a beep,
///   so on 1.8 and 11 the `400` pair optimises itself away (a masquerade) while its `;1` is
///   bridged with `430`'s `;2`;
/// - `700`: `Park()` in the default lot; `701`-`720`: `ParkedCall(default,${EXTEN})`.
fn features(exten: &str) -> Option<Vec<Step>> {
    use StepKind::*;
    let is_agent =
        exten.len() == 4 && exten.starts_with('1') && exten.bytes().all(|b| b.is_ascii_digit());
    let space = exten
        .parse::<u32>()
        .ok()
        .filter(|n| (701..=720).contains(n));
    let steps = if is_agent {
        vec![
            step("Answer", "", Answer),
            step("AgentLogin", exten, AgentLogin(exten.to_owned())),
            step("Hangup", "", Hangup),
        ]
    } else if exten == "410" {
        vec![
            step("Dial", "Local/420@features,30", Dial("420".into())),
            step("Hangup", "", Hangup),
        ]
    } else if exten == "420" {
        vec![
            step("Dial", "Local/800@demo,30", Dial("800".into())),
            step("Hangup", "", Hangup),
        ]
    } else if exten == "430" {
        vec![
            step("Dial", "Local/400@demo,30", Dial("400".into())),
            step("Hangup", "", Hangup),
        ]
    } else if exten == "700" {
        vec![
            step("Answer", "", Answer),
            step("Park", "default", Park),
            step("Hangup", "", Hangup),
        ]
    } else if let Some(space) = space {
        vec![
            step("Answer", "", Answer),
            step("ParkedCall", &format!("default,{space}"), ParkedCall(space)),
            step("Hangup", "", Hangup),
        ]
    } else {
        return None;
    };
    Some(steps)
}

/// `dialplan show demo` as the CLI prints it; `registrar` is `extensions.conf` (22, with line
/// numbers) or `pbx_config` (older versions).
pub(crate) fn show(context: &str, line_numbers: bool) -> Option<String> {
    if context != "demo" {
        return None;
    }
    let mut out = String::from("[ Context 'demo' created by 'pbx_config' ]\n");
    let mut priorities = 0;
    for (exten, first_line) in EXTENSIONS {
        let steps = extension("demo", exten).unwrap_or_default();
        for (index, step) in steps.iter().enumerate() {
            let label = if index == 0 {
                format!("'{exten}' =>")
            } else {
                String::new()
            };
            let app = format!("{}. {}({})", index + 1, step.app, step.data);
            let registrar = if line_numbers {
                format!("extensions.conf:{}", first_line + index as u32)
            } else {
                "pbx_config".to_owned()
            };
            out.push_str(&format!("  {label:<17} {app:<45} [{registrar}]\n"));
            priorities += 1;
        }
    }
    out.push_str(&format!(
        "\n-= {} extensions ({priorities} priorities) in 1 context. =-\n",
        EXTENSIONS.len()
    ));
    Some(out)
}

/// How long an application given to Originate (`Application:`/`Data:`) runs, in ms.
pub(crate) fn app_duration(app: &str, data: &str) -> u64 {
    let seconds = data
        .split(',')
        .next()
        .and_then(|first| first.trim().parse::<f64>().ok());
    match (app.to_ascii_lowercase().as_str(), seconds) {
        ("wait", Some(s)) => (s.max(0.0) * 1000.0) as u64,
        ("playback", _) => 2_000,
        ("echo" | "milliwatt", _) => 10_000,
        _ => 1_000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialplan_show_matches_the_recorded_listing() {
        let text = show("demo", true).unwrap();
        assert!(text.starts_with("[ Context 'demo' created by 'pbx_config' ]\n  '100' =>          1. Answer()                                   [extensions.conf:11]\n"), "{text}");
        assert!(text.contains("                    4. UserEvent(DemoStart,Exten: ${EXTEN},Foo: ${FOO}) [extensions.conf:14]\n"));
        assert!(
            text.ends_with("\n\n-= 12 extensions (48 priorities) in 1 context. =-\n"),
            "{text}"
        );
        assert!(show("demo", false).unwrap().contains("[pbx_config]"));
    }

    #[test]
    fn known_and_unknown_extensions() {
        assert!(extension("demo", "100").is_some());
        assert!(extension("demo", "999").is_none());
        assert!(extension("other", "100").is_none());
        assert_eq!(app_duration("Wait", "2"), 2_000);
    }
}
