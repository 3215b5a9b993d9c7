//! Scenario replay: a recorded server transcript (`*.recv`) cut into the packets it was made of,
//! so faults such as split writes apply per packet as they do for live sessions.

use bytes::Bytes;

/// Cuts a transcript after the banner line and after each blank line (`\r\n\r\n` or `\n\n`).
/// Legacy Command bodies contain no blank line before their marker, so they stay whole.
/// Concatenating the pieces gives the transcript back exactly.
pub fn split_packets(transcript: &Bytes) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut start = 0;
    let data = &transcript[..];
    if data.starts_with(b"Asterisk Call Manager") {
        if let Some(end) = data.iter().position(|&b| b == b'\n') {
            out.push(transcript.slice(..end + 1));
            start = end + 1;
        }
    }
    let mut i = start;
    while i < data.len() {
        if data[i] == b'\n' {
            let blank_crlf = data[i + 1..].starts_with(b"\r\n");
            let blank_lf = data[i + 1..].starts_with(b"\n");
            if blank_crlf || blank_lf {
                let end = i + 1 + if blank_crlf { 2 } else { 1 };
                out.push(transcript.slice(start..end));
                start = end;
                i = end;
                continue;
            }
        }
        i += 1;
    }
    if start < data.len() {
        out.push(transcript.slice(start..));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_concatenate_to_the_transcript() {
        let transcript = Bytes::from_static(
            b"Asterisk Call Manager/2.10.6\r\nResponse: Success\r\nMessage: x\r\n\r\nResponse: Follows\r\nPrivilege: Command\r\na\nb\n--END COMMAND--\r\n\r\ntail",
        );
        let pieces = split_packets(&transcript);
        assert_eq!(pieces.len(), 4, "{pieces:?}");
        let joined: Vec<u8> = pieces.iter().flat_map(|p| p.to_vec()).collect();
        assert_eq!(joined, transcript.to_vec());
    }
}
