//! Reading event fields the way every era spells them: the leaf every object module uses.

use std::borrow::Cow;

use ami_proto::Message;

/// The field's value, or empty.
pub(crate) fn text(event: &Message, name: &str) -> String {
    event.get(name).map(Cow::into_owned).unwrap_or_default()
}

/// The first of `names` the event carries (servers of different eras spell fields differently).
pub(crate) fn first(event: &Message, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|name| event.get(name).map(Cow::into_owned))
}

/// The field as a number, or the type's default when absent or not a number.
pub(crate) fn number<T: std::str::FromStr + Default>(event: &Message, name: &str) -> T {
    event
        .get(name)
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_default()
}

/// The field as a yes/no flag (Asterisk writes `1`, `true` or `yes` in various cases).
pub(crate) fn flag(event: &Message, name: &str) -> bool {
    event
        .get(name)
        .is_some_and(|value| matches!(value.trim(), "1" | "true" | "yes" | "Yes" | "True"))
}

/// The field, unless absent, empty or one of Asterisk's "nothing" spellings (`n/a`, `<none>`).
pub(crate) fn present(event: &Message, name: &str) -> Option<String> {
    event
        .get(name)
        .map(Cow::into_owned)
        .filter(|value| !matches!(value.trim(), "" | "n/a" | "<none>" | "<unknown>"))
}

/// The event's `Timestamp` header (sent with `timestampevents = yes`): the only clock a
/// sans-IO model has.
pub(crate) fn timestamp(event: &Message) -> Option<f64> {
    event
        .get("Timestamp")
        .and_then(|value| value.trim().parse().ok())
}

/// The channel state number of a `ChannelStateDesc`-style text (1.x `Masquerade` gives only
/// the text).
pub(crate) fn state_number(desc: &str) -> Option<u8> {
    Some(match desc {
        "Down" => 0,
        "Rsrvd" => 1,
        "OffHook" => 2,
        "Dialing" => 3,
        "Ring" => 4,
        "Ringing" => 5,
        "Up" => 6,
        "Busy" => 7,
        "Dialing Offhook" => 8,
        "Pre-ring" => 9,
        _ => return None,
    })
}
