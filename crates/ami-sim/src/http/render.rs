//! What Asterisk's HTTP server writes: the status line and headers in each version's order,
//! the manager's `Content-type` / `Set-Cookie` / `Pragma` block, its error pages, and the XML
//! (`/mxml`) and HTML (`/manager`) translations of AMI text.

use std::time::SystemTime;

use crate::profile::Profile;

/// The three renderings of one AMI answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// `/rawman`: the AMI text itself.
    Raw,
    /// `/mxml`: `<ajax-response>` with one `<generic>` element per packet.
    Xml,
    /// `/manager`: an HTML test form and a table.
    Html,
}

impl Format {
    /// The format served at `path`, if it is one of the manager's.
    pub(crate) fn for_path(path: &str) -> Option<Format> {
        match path {
            "/rawman" => Some(Format::Raw),
            "/mxml" => Some(Format::Xml),
            "/manager" => Some(Format::Html),
            _ => None,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Raw => "plain",
            Format::Xml => "xml",
            Format::Html => "html",
        }
    }
}

/// True for the versions whose HTTP server closes every connection after one answer (11 and
/// older); 13 and newer keep it open unless the client says `Connection: close`.
pub(crate) fn always_closes(profile: Profile) -> bool {
    matches!(profile, Profile::V11 | Profile::V18)
}

/// The manager's own headers: content type, the session cookie, `Pragma: SuppressEvents`
/// (11 and older also repeat a `Cache-Control`).
pub(crate) fn manager_headers(
    profile: Profile,
    format: Format,
    manager_id: u32,
    max_age: u64,
) -> String {
    let legacy = if always_closes(profile) {
        "Cache-Control: no-cache;\r\n"
    } else {
        ""
    };
    format!(
        "Content-type: text/{}\r\n{legacy}Set-Cookie: mansession_id=\"{manager_id:08x}\"; Version=1; Max-Age={max_age}\r\nPragma: SuppressEvents\r\n",
        format.content_type()
    )
}

/// One whole HTTP answer. `send_body` is false for HEAD (the length still counts the body).
pub(crate) fn response(
    profile: Profile,
    status: (u16, &str),
    extra_headers: &str,
    body: &[u8],
    close: bool,
    send_body: bool,
    now: SystemTime,
) -> Vec<u8> {
    let epoch = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let date = crate::clock::http_date(epoch);
    let version = profile.asterisk_version();
    let (code, title) = status;
    let head = if always_closes(profile) {
        // 11 and 1.8 write the length before the caller's headers, and always close.
        format!(
            "HTTP/1.1 {code} {title}\r\nServer: Asterisk/{version}\r\nDate: {date}\r\nConnection: close\r\n\
             Cache-Control: no-cache, no-store\r\nContent-Length: {}\r\n{extra_headers}\r\n",
            body.len()
        )
    } else {
        format!(
            "HTTP/1.1 {code} {title}\r\nServer: Asterisk/{version}\r\nDate: {date}\r\n{}\
             Cache-Control: no-cache, no-store\r\n{extra_headers}Content-Length: {}\r\n\r\n",
            if close { "Connection: close\r\n" } else { "" },
            body.len()
        )
    };
    let mut out = head.into_bytes();
    if send_body || code >= 400 {
        out.extend_from_slice(body);
    }
    out
}

/// Asterisk's error page (`ast_http_error`): its headers and body.
pub(crate) fn error_page(
    profile: Profile,
    code: u16,
    title: &str,
    text: &str,
) -> (String, Vec<u8>) {
    let address = if always_closes(profile) {
        "Asterisk Server".to_owned()
    } else {
        format!("Asterisk/{}", profile.asterisk_version())
    };
    let body = format!(
        "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\r\n<html><head>\r\n<title>{code} {title}</title>\r\n\
         </head><body>\r\n<h1>{title}</h1>\r\n<p>{text}</p>\r\n<hr />\r\n<address>{address}</address>\r\n</body></html>\r\n"
    );
    ("Content-type: text/html\r\n".to_owned(), body.into_bytes())
}

/// The test form `/manager` puts above every answer.
const HTML_FORM: &str = "<form action=\"manager\" method=\"post\">\n\
\tAction: <select name=\"action\">\n\
\t\t<option value=\"\">-----&gt;</option>\n\
\t\t<option value=\"login\">login</option>\n\
\t\t<option value=\"command\">Command</option>\n\
\t\t<option value=\"waitevent\">waitevent</option>\n\
\t\t<option value=\"listcommands\">listcommands</option>\n\
\t</select>\n\
\tor <input name=\"action\"><br/>\n\
\tCLI Command <input name=\"command\"><br>\n\
\tuser <input name=\"username\"> pass <input type=\"password\" name=\"secret\"><br>\n\
\t<input type=\"submit\">\n</form>\n";

/// The body of a manager answer: `ami` (the AMI text the action wrote) as `format` wants it.
/// `params` are the request's parameters (`ajaxdest` and `ajaxobjtype` name the XML elements).
pub(crate) fn manager_body(format: Format, ami: &[u8], params: &[(String, String)]) -> Vec<u8> {
    match format {
        Format::Raw => ami.to_vec(),
        Format::Xml => {
            let mut out = b"<ajax-response>\n".to_vec();
            translate(&mut out, ami, params, true);
            out.extend_from_slice(b"</ajax-response>\n");
            out
        }
        Format::Html => {
            let mut out = Vec::new();
            out.extend_from_slice(b"<title>Asterisk&trade; Manager Interface</title>");
            out.extend_from_slice(
                b"<body bgcolor=\"#ffffff\"><table align=center bgcolor=\"#f1f1f1\" width=\"500\">\r\n",
            );
            for cell in ["<h1>Manager Tester</h1>", HTML_FORM] {
                out.extend_from_slice(b"<tr><td colspan=\"2\" bgcolor=\"#f1f1ff\">");
                out.extend_from_slice(cell.as_bytes());
                out.extend_from_slice(b"</td></tr>\r\n");
            }
            translate(&mut out, ami, params, false);
            out.extend_from_slice(b"</table></body>\r\n");
            out
        }
    }
}

/// Escaping as Asterisk's XML copy does: `<>"'&` as entities; for attribute names
/// (`name_mode`) also lowercase, every other non-alphanumeric byte as `_`, and a leading digit
/// behind an `_`.
fn escape(out: &mut Vec<u8>, text: &[u8], name_mode: bool) {
    for (at, &byte) in text.iter().enumerate() {
        if name_mode {
            if at == 0 && byte.is_ascii_digit() {
                out.push(b'_');
                out.push(byte);
                continue;
            }
            if !byte.is_ascii_alphanumeric() {
                out.push(b'_');
                continue;
            }
            out.push(byte.to_ascii_lowercase());
            continue;
        }
        match byte {
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b'"' => out.extend_from_slice(b"&quot;"),
            b'\'' => out.extend_from_slice(b"&apos;"),
            b'&' => out.extend_from_slice(b"&amp;"),
            other => out.push(other),
        }
    }
}

/// Trailing bytes below 33 (blanks and controls) removed, as `ast_trim_blanks`.
fn trim_end(text: &[u8]) -> &[u8] {
    let end = text.iter().rposition(|&b| b >= 33).map_or(0, |at| at + 1);
    &text[..end]
}

/// Leading bytes below 33 skipped, as `ast_skip_blanks`.
fn trim_start(text: &[u8]) -> &[u8] {
    let start = text.iter().position(|&b| b >= 33).unwrap_or(text.len());
    &text[start..]
}

/// AMI text to XML elements or HTML rows, packet by packet (a blank line ends a packet).
/// A line without a colon (legacy Command output) starts an `Opaque-data` value that runs to
/// the end of the packet. A repeated name gets `-2`, `-3` ... after it.
fn translate(out: &mut Vec<u8>, ami: &[u8], params: &[(String, String)], xml: bool) {
    let param = |name: &str| {
        params
            .iter()
            .find(|(n, v)| n.eq_ignore_ascii_case(name) && !v.is_empty())
            .map(|(_, v)| v.as_str())
    };
    let dest = param("ajaxdest").unwrap_or("unknown");
    let objtype = param("ajaxobjtype").unwrap_or("generic");
    let mut in_data = false;
    let mut in_object = false;
    let mut seen: Vec<(Vec<u8>, usize)> = Vec::new();
    let mut rest = ami;
    while !rest.is_empty() {
        // A line ends at the first CR or LF; an LF right after it belongs to the same end.
        let end = rest
            .iter()
            .position(|&b| b == b'\r' || b == b'\n')
            .unwrap_or(rest.len());
        let raw = &rest[..end];
        rest = &rest[(end + 1).min(rest.len())..];
        if rest.first() == Some(&b'\n') {
            rest = &rest[1..];
        }
        let line = trim_end(raw);
        if line.is_empty() {
            if in_data {
                out.extend_from_slice(if xml { b"'" } else { b"</td></tr>\n" });
                in_data = false;
            }
            if in_object {
                close_object(out, xml);
                in_object = false;
                seen.clear();
            }
            continue;
        }
        if !in_object {
            if xml {
                out.extend_from_slice(
                    format!("<response type='object' id='{dest}'><{objtype}").as_bytes(),
                );
            }
            in_object = true;
        }
        if in_data {
            out.extend_from_slice(if xml { b"\n" } else { b"<br>\n" });
            escape(out, line, false);
            continue;
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => (trim_end(&line[..colon]), trim_start(&line[colon + 1..])),
            None => {
                in_data = true;
                (&b"Opaque-data"[..], line)
            }
        };
        out.extend_from_slice(if xml { b" " } else { b"<tr><td>" });
        let count = match seen.iter_mut().find(|(n, _)| n == name) {
            Some((_, count)) => {
                *count += 1;
                *count
            }
            None => {
                seen.push((name.to_vec(), 1));
                1
            }
        };
        escape(out, name, xml);
        if count > 1 {
            out.extend_from_slice(format!("-{count}").as_bytes());
        }
        out.extend_from_slice(if xml { b"='" } else { b"</td><td>" });
        escape(out, value, false);
        if !in_data || rest.is_empty() {
            out.extend_from_slice(if xml { b"'" } else { b"</td></tr>\n" });
        }
    }
    if in_object {
        close_object(out, xml);
    }
}

fn close_object(out: &mut Vec<u8>, xml: bool) {
    out.extend_from_slice(if xml {
        b" /></response>\n"
    } else {
        b"<tr><td colspan=\"2\"><hr></td></tr>\r\n"
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const PING: &[u8] =
        b"Response: Success\r\nActionID: h-3\r\nPing: Pong\r\nTimestamp: 1795408944.216560\r\n\r\n";

    #[test]
    fn xml_ping_as_recorded() {
        let body = manager_body(Format::Xml, PING, &[]);
        assert_eq!(
            String::from_utf8_lossy(&body),
            "<ajax-response>\n<response type='object' id='unknown'><generic response='Success' actionid='h-3' ping='Pong' timestamp='1795408944.216560' /></response>\n</ajax-response>\n"
        );
    }

    #[test]
    fn html_ping_is_the_recorded_length() {
        // The recorded /manager Ping body is 952 bytes with a timestamp of the same width.
        assert_eq!(manager_body(Format::Html, PING, &[]).len(), 952);
    }

    #[test]
    fn names_are_made_attribute_safe_values_escaped_repeats_numbered() {
        let ami =
            b"Event: X\r\nVar-Name: a<b>&'\"\r\n1st: one\r\nVariable: a\r\nVariable: b\r\n\r\n";
        let body = manager_body(Format::Xml, ami, &[("ajaxdest".into(), "d".into())]);
        assert_eq!(
            String::from_utf8_lossy(&body),
            "<ajax-response>\n<response type='object' id='d'><generic event='X' var_name='a&lt;b&gt;&amp;&apos;&quot;' _1st='one' variable='a' variable-2='b' /></response>\n</ajax-response>\n"
        );
    }

    #[test]
    fn legacy_command_text_becomes_opaque_data() {
        let ami = b"Response: Follows\r\nPrivilege: Command\r\nSystem uptime: 3 minutes\nplain text\n--END COMMAND--\r\n\r\n";
        let body = String::from_utf8_lossy(&manager_body(Format::Xml, ami, &[])).into_owned();
        assert!(
            body.contains(
                " system_uptime='3 minutes' opaque_data='plain text\n--END COMMAND--' /></response>"
            ),
            "{body}"
        );
    }

    #[test]
    fn heads_in_each_versions_order() {
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_795_408_944);
        let extra = manager_headers(Profile::V22, Format::Raw, 0x78e8_cd23, 60);
        let head = response(Profile::V22, (200, "OK"), &extra, b"x", true, true, at);
        assert_eq!(
            String::from_utf8_lossy(&head),
            "HTTP/1.1 200 OK\r\nServer: Asterisk/22.10.1\r\nDate: Mon, 23 Nov 2026 04:42:24 GMT\r\nConnection: close\r\n\
             Cache-Control: no-cache, no-store\r\nContent-type: text/plain\r\nSet-Cookie: mansession_id=\"78e8cd23\"; Version=1; Max-Age=60\r\n\
             Pragma: SuppressEvents\r\nContent-Length: 1\r\n\r\nx"
        );
        let extra = manager_headers(Profile::V11, Format::Xml, 0xab, 60);
        let head = response(Profile::V11, (200, "OK"), &extra, b"x", false, false, at);
        assert_eq!(
            String::from_utf8_lossy(&head),
            "HTTP/1.1 200 OK\r\nServer: Asterisk/11.25.3\r\nDate: Mon, 23 Nov 2026 04:42:24 GMT\r\nConnection: close\r\n\
             Cache-Control: no-cache, no-store\r\nContent-Length: 1\r\nContent-type: text/xml\r\nCache-Control: no-cache;\r\n\
             Set-Cookie: mansession_id=\"000000ab\"; Version=1; Max-Age=60\r\nPragma: SuppressEvents\r\n\r\n"
        );
    }
}
