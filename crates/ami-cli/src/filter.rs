//! `--filter EXPR` for `ami events`: which events to print.
//!
//! | expression | holds when |
//! |---|---|
//! | `Name=Value` | a `Name` header equals `Value` (both compared without regard to case) |
//! | `Name=A\|B` | a `Name` header equals `A` or `B` |
//! | `Name~Text` | a `Name` header contains `Text` (without regard to case) |
//! | `Name` | the event has a `Name` header |
//! | `!EXPR` | `EXPR` does not hold |
//!
//! Header names are matched without regard to case; a repeated header matches when any of its
//! values does. Several `--filter` options must all hold.

use std::fmt;
use std::str::FromStr;

use ami_proto::Message;

/// One parsed `--filter` expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    negated: bool,
    name: String,
    test: Test,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Test {
    Present,
    /// Any of these, lowercased.
    Equals(Vec<String>),
    /// Lowercased.
    Contains(String),
}

/// Why an expression was refused; the message says what a valid one looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    expression: String,
    problem: &'static str,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid filter {:?}: {}; expected Name=Value, Name=A|B, Name~Text, Name, or any \
             of those after ! (e.g. Event=Hangup, Channel~SIP/, !Event=VarSet)",
            self.expression, self.problem
        )
    }
}

impl std::error::Error for FilterError {}

impl FromStr for Filter {
    type Err = FilterError;

    fn from_str(expression: &str) -> Result<Self, FilterError> {
        let error = |problem| FilterError {
            expression: expression.to_owned(),
            problem,
        };
        let (negated, body) = match expression.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, expression),
        };
        let (name, test) = match body.find(['=', '~']) {
            None => (body, Test::Present),
            Some(at) => {
                let value = &body[at + 1..];
                let test = if body.as_bytes()[at] == b'=' {
                    Test::Equals(value.split('|').map(str::to_lowercase).collect())
                } else if value.is_empty() {
                    return Err(error("nothing to look for after ~"));
                } else {
                    Test::Contains(value.to_lowercase())
                };
                (&body[..at], test)
            }
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(error("no header name"));
        }
        if name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ':' || c == '!')
        {
            return Err(error("a header name has no spaces, colons or '!'"));
        }
        Ok(Self {
            negated,
            name: name.to_owned(),
            test,
        })
    }
}

impl Filter {
    /// Whether `message` passes this expression.
    pub fn matches(&self, message: &Message) -> bool {
        let mut values = message
            .get_all(&self.name)
            .map(|bytes| String::from_utf8_lossy(bytes).to_lowercase());
        let holds = match &self.test {
            Test::Present => values.next().is_some(),
            Test::Equals(wanted) => values.any(|value| wanted.contains(&value)),
            Test::Contains(needle) => values.any(|value| value.contains(needle.as_str())),
        };
        holds != self.negated
    }
}

/// Whether `message` passes every filter (an empty list lets everything through).
pub fn matches_all(filters: &[Filter], message: &Message) -> bool {
    filters.iter().all(|filter| filter.matches(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hangup() -> Message {
        Message::builder()
            .header("Event", "Hangup")
            .header("Channel", "SIP/100-00000001")
            .header("ChanVariable", "a=1")
            .header("ChanVariable", "b=2")
            .build()
            .expect("valid message")
    }

    fn parse(expression: &str) -> Filter {
        expression.parse().expect("valid filter")
    }

    #[test]
    fn equals_ignores_case_and_accepts_alternatives() {
        assert!(parse("Event=Hangup").matches(&hangup()));
        assert!(parse("event=HANGUP").matches(&hangup()));
        assert!(parse("Event=Newchannel|Hangup").matches(&hangup()));
        assert!(!parse("Event=Newchannel").matches(&hangup()));
        assert!(!parse("Event=Hang").matches(&hangup()));
    }

    #[test]
    fn contains_presence_and_negation() {
        assert!(parse("Channel~sip/").matches(&hangup()));
        assert!(!parse("Channel~PJSIP/").matches(&hangup()));
        assert!(parse("Channel").matches(&hangup()));
        assert!(!parse("Uniqueid").matches(&hangup()));
        assert!(parse("!Uniqueid").matches(&hangup()));
        assert!(!parse("!Event=Hangup").matches(&hangup()));
        assert!(parse("!Event=VarSet").matches(&hangup()));
    }

    #[test]
    fn a_repeated_header_matches_on_any_value() {
        assert!(parse("ChanVariable=b=2").matches(&hangup()));
        assert!(!parse("ChanVariable=c=3").matches(&hangup()));
    }

    #[test]
    fn empty_value_matches_an_empty_header() {
        let message = Message::builder()
            .header("Event", "X")
            .header("Empty", "")
            .build()
            .expect("valid");
        assert!(parse("Empty=").matches(&message));
        assert!(!parse("Event=").matches(&message));
    }

    #[test]
    fn all_filters_must_hold() {
        let filters = [parse("Event=Hangup"), parse("Channel~SIP/")];
        assert!(matches_all(&filters, &hangup()));
        let filters = [parse("Event=Hangup"), parse("Channel~IAX2/")];
        assert!(!matches_all(&filters, &hangup()));
        assert!(matches_all(&[], &hangup()));
    }

    #[test]
    fn malformed_expressions_are_refused_with_examples() {
        for bad in ["", "!", "=Hangup", "~x", "Channel~", "Bad Name=x", "A:B=c"] {
            let error = bad.parse::<Filter>().expect_err(bad);
            assert!(error.to_string().contains("Event=Hangup"), "{error}");
        }
    }
}
