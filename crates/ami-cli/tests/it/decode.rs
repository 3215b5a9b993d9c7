//! `ami decode`: every corpus recording gives its golden NDJSON, standard input works, a packet
//! over a limit becomes a JSON error line without stopping the decoding, and a closed pipe
//! (`| head -1`) is a normal exit.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// The shared fixtures: ami-proto's copy of the corpus.
fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ami-proto/tests/fixtures")
}

/// The golden files: ami-json's, since they are the corpus in its JSON mapping.
fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ami-json/tests/fixtures/golden")
}

fn ami() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ami"))
}

/// `(recording, golden file)` for every corpus recording.
fn recordings() -> Vec<(PathBuf, PathBuf)> {
    let mut pairs = Vec::new();
    for version in std::fs::read_dir(fixtures().join("corpus")).unwrap() {
        let version = version.unwrap().path();
        let name = version.file_name().unwrap().to_owned();
        for file in std::fs::read_dir(&version).unwrap() {
            let recv = file.unwrap().path();
            let scenario = recv.file_stem().unwrap().to_string_lossy().into_owned();
            let golden = golden().join(&name).join(format!("{scenario}.ndjson"));
            pairs.push((recv, golden));
        }
    }
    pairs.sort();
    assert!(
        pairs.len() >= 100,
        "corpus fixtures missing: {}",
        pairs.len()
    );
    pairs
}

/// Runs `ami decode` with `args`, feeding `stdin` from another thread.
fn run_decode(args: &[&std::ffi::OsStr], stdin: Vec<u8>) -> Output {
    let mut child = ami()
        .arg("decode")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        // The child may exit without reading everything; that is its business.
        let _ = input.write_all(&stdin);
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    output
}

/// Every line is one JSON object.
fn objects(stdout: &[u8]) -> Vec<serde_json::Map<String, Value>> {
    let text = std::str::from_utf8(stdout).expect("NDJSON is UTF-8");
    text.lines()
        .map(|line| match serde_json::from_str(line) {
            Ok(Value::Object(object)) => object,
            other => panic!("not a JSON object: {line:?} ({other:?})"),
        })
        .collect()
}

#[test]
fn every_recording_decodes_to_its_golden_file() {
    for (recv, golden) in recordings() {
        let output = run_decode(&[recv.as_os_str()], Vec::new());
        assert!(
            output.status.success(),
            "{}: {:?} {}",
            recv.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.stderr.is_empty(), "{}: stderr", recv.display());
        let expected = std::fs::read(&golden).unwrap();
        // One line per packet: each a JSON object, as many as the golden file has packets.
        assert_eq!(
            objects(&output.stdout).len(),
            expected.iter().filter(|&&b| b == b'\n').count(),
            "{}",
            recv.display()
        );
        assert!(
            output.stdout == expected,
            "{}: output differs from {}",
            recv.display(),
            golden.display()
        );
    }
}

#[test]
fn reads_standard_input_without_argument_and_with_dash() {
    let recv = fixtures().join("corpus/asterisk-13/command_verbose_long.recv");
    let golden = golden().join("asterisk-13/command_verbose_long.ndjson");
    let expected = std::fs::read(golden).unwrap();
    for args in [&[][..], &["-".as_ref()][..]] {
        let output = run_decode(args, std::fs::read(&recv).unwrap());
        assert!(output.status.success(), "{args:?}: {output:?}");
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&expected)
        );
    }
}

#[test]
fn a_packet_over_a_limit_is_an_error_line_and_decoding_goes_on() {
    // More lines than the default limit (1,048,576) in one packet, between two good ones.
    let mut input =
        b"Asterisk Call Manager/2.10.6\r\nResponse: Success\r\nActionID: before\r\n\r\n".to_vec();
    let huge_at = input.len();
    input.extend_from_slice(b"Event: Huge\r\n");
    for _ in 0..(1 << 20) {
        input.extend_from_slice(b"x\n");
    }
    input.extend_from_slice(b"\r\nResponse: Success\r\nActionID: after\r\n\r\n");
    let output = run_decode(&[], input);
    assert!(output.status.success(), "{output:?}");
    let lines = objects(&output.stdout);
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(lines[0]["_version"], "2.10.6");
    assert_eq!(lines[1]["ActionID"], "before");
    let error = lines[2]["_error"].as_object().expect("an _error object");
    assert_eq!(error["code"], "too_many_fields");
    assert_eq!(error["offset"], huge_at);
    assert!(error["message"].as_str().unwrap().contains("1048576"));
    assert_eq!(lines[3]["ActionID"], "after");
}

/// A large input: the biggest recording, 20 times, in a file of its own per test.
fn big_input(name: &str) -> PathBuf {
    let one = std::fs::read(fixtures().join("corpus/asterisk-22/mixed_action_during_events.recv"))
        .unwrap();
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("ami-decode-{name}.recv"));
    std::fs::write(&path, one.repeat(20)).unwrap();
    path
}

#[test]
fn a_closed_pipe_is_a_normal_exit() {
    let big = big_input("closed-pipe");
    let mut child = ami()
        .arg("decode")
        .arg(&big)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.starts_with(r#"{"_banner":"#), "{first}");
    drop(stdout);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?} {stderr}");
    assert_eq!(stderr, "");
}

#[test]
fn piped_into_head_exits_zero() {
    let big = big_input("head");
    let output = Command::new("bash")
        .arg("-c")
        .arg(r#""$0" decode "$1" | head -1; exit "${PIPESTATUS[0]}""#)
        .arg(env!("CARGO_BIN_EXE_ami"))
        .arg(&big)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(objects(&output.stdout).len(), 1);
    assert!(output.stderr.is_empty(), "{output:?}");
}

#[test]
fn a_missing_file_is_an_error() {
    let output = run_decode(&["/nonexistent/capture.recv".as_ref()], Vec::new());
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot open"));
}

/// The HTTP recordings: ami-sim's copy of the corpus.
fn http_fixture(version: &str, scenario: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ami-sim/tests/fixtures")
        .join(version)
        .join(format!("{scenario}.recv"))
}

#[test]
fn captured_mxml_answers_decode_with_or_without_their_http_head() {
    let whole = std::fs::read(http_fixture("22", "http_mxml_ping")).unwrap();
    let text = String::from_utf8_lossy(&whole).into_owned();
    let body = text.split_once("\r\n\r\n").unwrap().1.to_owned();
    for input in [whole, body.into_bytes()] {
        let output = run_decode(&[], input);
        assert!(output.status.success(), "{output:?}");
        let lines = objects(&output.stdout);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0]["Response"], "Success");
        assert_eq!(lines[0]["ActionID"], "h-3");
        assert_eq!(lines[0]["Ping"], "Pong");
        assert_eq!(lines[0]["Timestamp"], "1795408944.216560");
    }
}

#[test]
fn captured_rawman_answers_decode_past_their_http_head() {
    let path = http_fixture("13", "http_rawman_coreshowchannels");
    let output = run_decode(&[path.as_os_str()], Vec::new());
    assert!(output.status.success(), "{output:?}");
    let lines = objects(&output.stdout);
    let events: Vec<_> = lines.iter().map(|l| l.get("Event").cloned()).collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(lines[0]["Response"], "Success");
    assert_eq!(events[1], Some(Value::from("CoreShowChannel")));
    assert_eq!(events[3], Some(Value::from("CoreShowChannelsComplete")));
}
