//! The real-traffic corpus (`tests/fixtures/corpus`) decodes cleanly. What each recording
//! decodes to, exactly, is checked by ami-json's golden files.

use ami_proto::{Limits, Packet};

use crate::support::{corpus_files, decode_whole};

/// What a reader of the goldens would check by eye, as assertions: each recording starts with
/// the banner, nothing is lost or truncated, no limit is hit, and every legacy `Follows` reply
/// carries its body.
#[test]
fn recordings_decode_cleanly() {
    for (version, scenario, path) in corpus_files() {
        let input = std::fs::read(&path).unwrap();
        let items = decode_whole(&input, Limits::default());
        let name = format!("{version}/{scenario}");
        assert!(
            matches!(items.first(), Some(Ok(Packet::Banner(_)))),
            "{name}: first packet is not the banner"
        );
        let mut consumed = 0;
        for item in &items {
            // Stray blank lines between packets are consumed without a packet.
            while let Some(blank) = [&b"\r\n"[..], b"\n"]
                .into_iter()
                .find(|blank| input[consumed..].starts_with(blank))
            {
                consumed += blank.len();
            }
            let packet = item
                .as_ref()
                .unwrap_or_else(|error| panic!("{name}: {error}"));
            match packet {
                Packet::Banner(banner) => {
                    assert_eq!(consumed, 0, "{name}: banner in the middle");
                    consumed += banner.line().len() + 2;
                    assert!(banner.version_numbers().len() >= 2, "{name}: {banner:?}");
                }
                Packet::Message(message) => {
                    assert!(
                        input[consumed..].starts_with(message.raw()),
                        "{name}: bytes lost before {message:?}"
                    );
                    consumed += message.raw().len();
                    assert!(!message.is_truncated(), "{name}: truncated {message:?}");
                    assert!(!message.is_empty(), "{name}: empty message");
                    let follows = message.value_is("Response", "Follows");
                    assert_eq!(
                        follows,
                        message.body().is_some(),
                        "{name}: Follows and body disagree in {message:?}"
                    );
                    if follows {
                        assert!(
                            message.fields().all(|field| !field.is_text_line()),
                            "{name}: text line in the headers of a Follows reply: {message:?}"
                        );
                    }
                }
            }
        }
        assert_eq!(consumed, input.len(), "{name}: bytes lost at the end");
    }
}
