//! HTTP/1.1 requests, sans-IO: the request line, the headers and a `Content-Length` body out of
//! a byte buffer, and the form and cookie decoding Asterisk's HTTP server applies.
//!
//! Only what AMI over HTTP needs: no chunked bodies, no pipelining beyond reading one request
//! after the other on a kept-alive connection.

/// The largest request head (request line and headers) accepted.
pub(crate) const MAX_HEAD: usize = 16 * 1024;
/// The largest form body accepted (Asterisk refuses bigger ones with 413).
pub(crate) const MAX_BODY: usize = 64 * 1024;

/// The request methods Asterisk's HTTP server tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Head,
    Post,
    /// PUT, DELETE, OPTIONS and anything else: the manager answers 501.
    Other,
}

/// One parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpRequest {
    pub(crate) method: Method,
    /// The path, without the query string (not decoded).
    pub(crate) path: String,
    /// The query string after `?`, if any (not decoded).
    pub(crate) query: Option<String>,
    /// HTTP/1.0 (no keep-alive unless asked; Asterisk closes those).
    pub(crate) http10: bool,
    /// Header names and values as sent, in order.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

/// What [`parse`] found at the front of the buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// More bytes are needed.
    Incomplete,
    /// A whole request, and how many bytes of the buffer it used.
    Request(HttpRequest, usize),
    /// A request that cannot be served: answer this status and close.
    Refused(u16, &'static str),
}

impl HttpRequest {
    /// The first value of header `name` (any case).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// True when the client asked for the connection to close after this answer
    /// (`Connection: close`, or HTTP/1.0 without `Connection: keep-alive`).
    pub(crate) fn wants_close(&self) -> bool {
        match self.header("Connection") {
            Some(value) if value.eq_ignore_ascii_case("close") => true,
            Some(value) if value.eq_ignore_ascii_case("keep-alive") => false,
            _ => self.http10,
        }
    }

    /// The `mansession_id` cookie as Asterisk reads it (`%x`: leading hex digits; 0 when
    /// absent or unreadable, which is never a session's id).
    pub(crate) fn manager_id(&self) -> u32 {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("Cookie"))
            .flat_map(|(_, v)| v.split(';'))
            .filter_map(|pair| pair.split_once('='))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("mansession_id"))
            .map(|(_, value)| {
                let value = value.trim().trim_matches('"');
                let digits: String = value
                    .chars()
                    .take_while(char::is_ascii_hexdigit)
                    .take(8)
                    .collect();
                u32::from_str_radix(&digits, 16).unwrap_or(0)
            })
            .unwrap_or(0)
    }

    /// The AMI parameters: the query string's for GET and HEAD; for POST only the form body's
    /// (`application/x-www-form-urlencoded`), as Asterisk reads them.
    pub(crate) fn params(&self) -> Vec<(String, String)> {
        match self.method {
            Method::Post => {
                let form = self.header("Content-Type").is_some_and(|t| {
                    t.split(';').next().is_some_and(|t| {
                        t.trim()
                            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
                    })
                });
                if form {
                    form_pairs(&String::from_utf8_lossy(&self.body))
                } else {
                    Vec::new()
                }
            }
            _ => self.query.as_deref().map(form_pairs).unwrap_or_default(),
        }
    }
}

/// `a=1&b=two%20words+more` into pairs, `%XX` and `+` decoded; a name without `=` has an
/// empty value; empty pieces are skipped.
pub(crate) fn form_pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| match piece.split_once('=') {
            Some((name, value)) => (decode(name), decode(value)),
            None => (decode(piece), String::new()),
        })
        .collect()
}

/// Percent-decoding with `+` as a space (Asterisk's legacy URI decoding); a `%` not followed
/// by two hex digits stays as it is.
pub(crate) fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                bytes.get(i + 1).and_then(|&b| hex(b)),
                bytes.get(i + 2).and_then(|&b| hex(b)),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|d| d as u8)
}

/// Reads one request from the front of `buf`.
pub(crate) fn parse(buf: &[u8]) -> Parsed {
    let Some(head_end) = find(buf, b"\r\n\r\n")
        .map(|at| at + 4)
        .or_else(|| find(buf, b"\n\n").map(|at| at + 2))
    else {
        if buf.len() > MAX_HEAD {
            return Parsed::Refused(431, "Request Header Fields Too Large");
        }
        return Parsed::Incomplete;
    };
    if head_end > MAX_HEAD {
        return Parsed::Refused(431, "Request Header Fields Too Large");
    }
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let mut lines = head.lines();
    let Some(request_line) = lines.next() else {
        return Parsed::Refused(400, "Bad Request");
    };
    let mut words = request_line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (words.next(), words.next(), words.next())
    else {
        return Parsed::Refused(400, "Bad Request");
    };
    if !version.starts_with("HTTP/1.") {
        return Parsed::Refused(400, "Bad Request");
    }
    let method = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        _ => Method::Other,
    };
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
        None => (target.to_owned(), None),
    };
    let mut headers = Vec::new();
    for line in lines {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Parsed::Refused(400, "Bad Request");
        };
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let mut request = HttpRequest {
        method,
        path,
        query,
        http10: version == "HTTP/1.0",
        headers,
        body: Vec::new(),
    };
    if request
        .header("Transfer-Encoding")
        .is_some_and(|te| !te.eq_ignore_ascii_case("identity"))
    {
        return Parsed::Refused(501, "Not Implemented");
    }
    let length = match request.header("Content-Length").map(str::parse::<usize>) {
        None => 0,
        Some(Ok(length)) => length,
        Some(Err(_)) => return Parsed::Refused(400, "Bad Request"),
    };
    if length > MAX_BODY {
        return Parsed::Refused(413, "Request Entity Too Large");
    }
    let Some(body) = buf.get(head_end..head_end + length) else {
        return Parsed::Incomplete;
    };
    request.body = body.to_vec();
    Parsed::Request(request, head_end + length)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(text: &str) -> HttpRequest {
        match parse(text.as_bytes()) {
            Parsed::Request(request, used) => {
                assert_eq!(used, text.len());
                request
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_recorded_get_with_its_cookie() {
        let r = request(
            "GET /rawman?action=command&command=core%20show%20uptime HTTP/1.1\r\nHost: 127.0.0.1:8088\r\n\
             Connection: close\r\nCookie: mansession_id=\"78e8cd23\"\r\n\r\n",
        );
        assert_eq!(r.method, Method::Get);
        assert_eq!(r.path, "/rawman");
        assert_eq!(r.manager_id(), 0x78e8_cd23);
        assert!(r.wants_close());
        assert_eq!(
            r.params(),
            vec![
                ("action".to_owned(), "command".to_owned()),
                ("command".to_owned(), "core show uptime".to_owned())
            ]
        );
    }

    #[test]
    fn post_takes_the_form_body_only() {
        let text = "POST /rawman?action=ping HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                    Content-Length: 28\r\nCookie: a=b; mansession_id=00ff\r\n\r\naction=Login&username=a+b%3D";
        let r = request(text);
        assert_eq!(r.manager_id(), 0xff);
        assert!(!r.wants_close());
        assert_eq!(
            r.params(),
            vec![
                ("action".to_owned(), "Login".to_owned()),
                ("username".to_owned(), "a b=".to_owned())
            ]
        );
    }

    #[test]
    fn partial_requests_wait_and_bad_ones_are_refused() {
        assert_eq!(
            parse(b"GET /rawman HTTP/1.1\r\nHost: x\r\n"),
            Parsed::Incomplete
        );
        assert_eq!(
            parse(b"POST /rawman HTTP/1.1\r\nContent-Length: 5\r\n\r\nab"),
            Parsed::Incomplete
        );
        assert!(matches!(
            parse(b"NONSENSE\r\n\r\n"),
            Parsed::Refused(400, _)
        ));
        assert!(matches!(
            parse(
                format!(
                    "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
                    MAX_BODY + 1
                )
                .as_bytes()
            ),
            Parsed::Refused(413, _)
        ));
        assert!(matches!(
            parse(&vec![b'a'; MAX_HEAD + 1]),
            Parsed::Refused(431, _)
        ));
    }

    #[test]
    fn decoding_keeps_what_is_not_an_escape() {
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%4"), "%4");
        assert_eq!(decode("%41%42+c"), "AB c");
        assert_eq!(
            form_pairs("a&&b=1"),
            vec![("a".into(), "".into()), ("b".into(), "1".into())]
        );
    }
}
