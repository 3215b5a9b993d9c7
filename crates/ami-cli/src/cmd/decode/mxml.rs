//! Asterisk's `/mxml` answers back to AMI messages: each `<response>` element's child
//! (`<generic .../>`, or the `ajaxobjtype` a client asked for) is one message, its attributes
//! the headers.
//!
//! Asterisk wrote the names lowercased, with `_` for other characters and `-2`, `-3` ... on
//! repeats; the framing names (`Response`, `Event`, `ActionID` ...) get their AMI spelling
//! back, repeats become repeated headers again, and `opaque_data` (text lines without a
//! colon: legacy Command output) becomes the message's Command body.

use ami_proto::Message;

/// Names given back their AMI spelling (the rest stay as Asterisk's XML has them).
const CANONICAL: &[&str] = &[
    "Response",
    "Event",
    "ActionID",
    "Message",
    "EventList",
    "ListItems",
    "Privilege",
    "Output",
    "Ping",
    "Timestamp",
    "Challenge",
    "Uniqueid",
    "Channel",
];

/// One message, or why an element could not be one.
pub(crate) type Item = Result<Message, String>;

/// True when `bytes` (after leading blanks) is XML rather than AMI text.
pub(crate) fn looks_like_xml(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<')
}

/// Every message of an `<ajax-response>` document, in order.
pub(crate) fn messages(xml: &str) -> Vec<Item> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(at) = rest.find("<response") {
        rest = &rest[at + "<response".len()..];
        // The element inside <response ...>: skip the response tag's own attributes.
        let Some(open) = rest.find('>') else { break };
        rest = &rest[open + 1..];
        let Some(child) = rest.find('<') else { break };
        rest = &rest[child + 1..];
        let (item, used) = element(rest);
        out.push(item);
        rest = &rest[used..];
    }
    out
}

/// Parses `name attr='v' ... />` (after its `<`): the message and the bytes used.
fn element(text: &str) -> (Item, usize) {
    let bytes = text.as_bytes();
    let mut at = bytes
        .iter()
        .position(|b| b.is_ascii_whitespace() || *b == b'/' || *b == b'>')
        .unwrap_or(bytes.len());
    let mut fields: Vec<(String, String)> = Vec::new();
    loop {
        while at < bytes.len() && bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        match bytes.get(at) {
            None => return (Err("unterminated element".into()), at),
            Some(b'/') | Some(b'>') => {
                let end = text[at..].find('>').map_or(bytes.len(), |e| at + e + 1);
                return (build(&fields), end);
            }
            Some(_) => {}
        }
        let Some(eq) = text[at..].find('=').map(|e| at + e) else {
            return (Err("attribute without a value".into()), bytes.len());
        };
        let name = text[at..eq].trim().to_owned();
        let Some(&quote) = bytes.get(eq + 1).filter(|q| **q == b'\'' || **q == b'"') else {
            return (Err(format!("attribute {name} is not quoted")), bytes.len());
        };
        let start = eq + 2;
        let Some(end) = text[start..].find(quote as char).map(|e| start + e) else {
            return (Err(format!("attribute {name} is not closed")), bytes.len());
        };
        fields.push((name, unescape(&text[start..end])));
        at = end + 1;
    }
}

/// `&lt;` `&gt;` `&quot;` `&apos;` `&amp;` and numeric references; anything else as is.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';').filter(|e| *e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "amp" => Some('&'),
            _ => entity
                .strip_prefix("#x")
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|dec| dec.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The AMI name for an XML attribute name: a repeat (`variable-2` after `variable`) is the
/// first name again; framing names get their AMI spelling.
fn ami_name<'a>(name: &'a str, seen: &[String]) -> &'a str {
    let base = match name.rsplit_once('-') {
        Some((base, n))
            if n.parse::<u32>().is_ok_and(|n| n > 1) && seen.iter().any(|s| s == base) =>
        {
            base
        }
        _ => name,
    };
    CANONICAL
        .iter()
        .find(|c| c.eq_ignore_ascii_case(base))
        .copied()
        .unwrap_or(base)
}

fn build(fields: &[(String, String)]) -> Item {
    let mut builder = Message::builder();
    let mut seen: Vec<String> = Vec::new();
    for (name, value) in fields {
        if name == "opaque_data" {
            let text = value.strip_suffix("--END COMMAND--").unwrap_or(value);
            builder = builder.legacy_body(text.as_bytes().to_vec());
            continue;
        }
        let ami = ami_name(name, &seen).to_owned();
        if !seen.contains(name) {
            seen.push(name.clone());
        }
        builder.push(&ami, value.as_bytes());
    }
    builder.build().map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorded_ping() {
        let xml = "<ajax-response>\n<response type='object' id='unknown'><generic response='Success' actionid='h-3' ping='Pong' timestamp='1795408944.216560' /></response>\n</ajax-response>\n";
        assert!(looks_like_xml(xml.as_bytes()));
        let items = messages(xml);
        assert_eq!(items.len(), 1);
        let message = items[0].as_ref().expect("message");
        assert_eq!(message.response().as_deref(), Some("Success"));
        assert_eq!(message.action_id().as_deref(), Some("h-3"));
        assert_eq!(message.get("Ping").as_deref(), Some("Pong"));
        assert_eq!(
            message.fields().next().map(|f| f.name_str().into_owned()),
            Some("Response".to_owned())
        );
    }

    #[test]
    fn repeats_entities_and_opaque_data() {
        let xml = "<ajax-response>\n<response type='object' id='x'><generic event='VarSet' variable='a&amp;b' variable-2='&lt;c&gt;' /></response>\n\
                   <response type='object' id='x'><generic response='Follows' privilege='Command' opaque_data='line one\nline two\n--END COMMAND--' /></response>\n</ajax-response>\n";
        let items = messages(xml);
        assert_eq!(items.len(), 2);
        let first = items[0].as_ref().expect("first");
        let values: Vec<_> = first.get_all("variable").collect();
        assert_eq!(values, vec![&b"a&b"[..], &b"<c>"[..]]);
        let second = items[1].as_ref().expect("second");
        assert_eq!(second.body(), Some(&b"line one\nline two\n"[..]));
        assert!(!looks_like_xml(b"Asterisk Call Manager/1.1\r\n"));
    }

    #[test]
    fn a_broken_element_is_an_error_not_a_stop() {
        let items =
            messages("<response><generic a='1 /></response><response><generic b='2' /></response>");
        assert!(items[0].is_err());
    }
}
