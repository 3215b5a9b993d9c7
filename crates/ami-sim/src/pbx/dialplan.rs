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

/// The steps of `exten@demo`, or `None` for an extension that does not exist.
pub(crate) fn extension(context: &str, exten: &str) -> Option<Vec<Step>> {
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
                "DemoStart,Exten: 100,Foo: bar",
                UserEvent(
                    "DemoStart".into(),
                    vec![("Exten".into(), "100".into()), ("Foo".into(), "bar".into())],
                ),
            ),
            step("Playback", "tt-weasels", Playback(2_000)),
            step("Wait", "1", Pause(1_000)),
            step("Hangup", "", Hangup),
        ],
        "300" => vec![
            step("Answer", "", Answer),
            step("NoOp", "monkeys", Nothing),
            step("Playback", "tt-monkeys", Playback(60_000)),
            step("Hangup", "", Hangup),
        ],
        "400" => vec![
            step("NoOp", "Dial test", Nothing),
            step(
                "Set",
                "__INHERITED=yes",
                Set("__INHERITED".into(), "yes".into()),
            ),
            step("Dial", "Local/500@demo,30", Dial("500".into())),
            step("Hangup", "", Hangup),
        ],
        "500" => vec![
            step("Answer", "", Answer),
            step("Wait", "1", Pause(1_000)),
            step("Playback", "tt-monkeys", Playback(1_000)),
            step("Wait", "1", Pause(1_000)),
            step("Hangup", "", Hangup),
        ],
        "600" => vec![
            step("Answer", "", Answer),
            step("NoOp", "queue caller", Nothing),
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
            step("Answer", "", Answer),
            step("Dial", "Local/800@demo,30", Dial("800".into())),
            step("Hangup", "", Hangup),
        ],
        _ => return None,
    };
    Some(steps)
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
    fn known_and_unknown_extensions() {
        assert!(extension("demo", "100").is_some());
        assert!(extension("demo", "999").is_none());
        assert!(extension("other", "100").is_none());
        assert_eq!(app_duration("Wait", "2"), 2_000);
    }
}
