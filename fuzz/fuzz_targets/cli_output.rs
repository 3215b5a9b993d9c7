//! Arbitrary CLI output through `parse_cli_output`. Checks: no panic (the parsers slice text
//! at columns and numbers, and sum durations); the result has the shape its format promises.
//!
//! Input: the command on the first line, the CLI text after it (lossy UTF-8, as the client
//! reads a Command's output). Seeds (`fuzz/seed.sh`): the command outputs of the recordings.

#![no_main]

use ami_json::cli_output::{duration_seconds, parse_cli_output, strip_ansi, system_uptime_seconds};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    let (command, text) = input.split_once('\n').unwrap_or((&input, ""));
    let parsed = parse_cli_output(command, text);
    match parsed.format {
        "uptime" => assert!(parsed.value.is_object(), "{:?}", parsed.value),
        "lines" => {
            let Value::Array(lines) = &parsed.value else {
                panic!("lines: {:?}", parsed.value)
            };
            assert_eq!(lines.len(), strip_ansi(text).lines().count());
            assert!(lines.iter().all(Value::is_string));
        }
        "channels_concise" | "channels_verbose" | "channels" | "queues" | "table"
        | "pjsip_objects" => {
            let Value::Array(records) = &parsed.value else {
                panic!("{}: {:?}", parsed.format, parsed.value)
            };
            assert!(records.iter().all(Value::is_object), "{records:?}");
        }
        other => panic!("unknown format {other}"),
    }
    // Stripping only removes.
    assert!(strip_ansi(text).len() <= text.len());
    // The duration parser sums the server's numbers with checked arithmetic: any text gives a
    // figure or none, never a panic; the gateway's uptime reads through the same parser.
    let _ = duration_seconds(text);
    let _ = system_uptime_seconds(text);
});
