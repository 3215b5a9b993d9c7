//! `ami decode [FILE]`: raw AMI bytes to NDJSON; also what AMI over HTTP answered: a `/rawman`
//! body (AMI text) or a `/mxml` body (XML, told apart by its first byte), with or without the
//! HTTP response head before it.

mod mxml;

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use ami_proto::Decoder;
use anyhow::Context;
use bytes::BytesMut;
use serde_json::{Value, json};

/// Arguments of `ami decode`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// File holding the bytes a server sent (banner included), or a captured /rawman or /mxml
    /// answer; standard input when absent or `-`.
    file: Option<PathBuf>,
}

/// Reads the whole input in chunks, printing each packet as soon as it is complete.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut input: Box<dyn Read> = match args.file.as_deref() {
        None => Box::new(io::stdin().lock()),
        Some(path) if path.as_os_str() == "-" => Box::new(io::stdin().lock()),
        Some(path) => Box::new(
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
        ),
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    // Read until the kind of input shows: AMI text, or XML (after any HTTP head).
    let mut at_end = false;
    loop {
        match kind(&buf, at_end) {
            Kind::Undecided => {
                let read = input.read(&mut chunk).context("cannot read the input")?;
                at_end = read == 0;
                buf.extend_from_slice(&chunk[..read]);
            }
            Kind::HttpHead(length) => {
                let _ = buf.split_to(length);
            }
            Kind::Xml => {
                let mut all = buf.to_vec();
                input
                    .read_to_end(&mut all)
                    .context("cannot read the input")?;
                return write_xml(out, &String::from_utf8_lossy(&all));
            }
            Kind::Ami => break,
        }
    }
    loop {
        loop {
            let next = if at_end {
                decoder.decode_eof(&mut buf)
            } else {
                decoder.decode(&mut buf)
            };
            let line = match next {
                Ok(Some(packet)) => Value::Object(ami_json::packet_to_json(&packet)),
                Ok(None) => break,
                Err(error) => json!({"_error": {
                    "code": error.code(),
                    "offset": error.offset(),
                    "message": error.to_string(),
                }}),
            };
            if !write_line(&mut out, &line)? {
                return Ok(ExitCode::SUCCESS);
            }
        }
        if at_end {
            break;
        }
        let read = input.read(&mut chunk).context("cannot read the input")?;
        at_end = read == 0;
        buf.extend_from_slice(&chunk[..read]);
    }
    finish(out)
}

/// What the input turned out to be.
enum Kind {
    /// Not enough bytes yet.
    Undecided,
    /// An HTTP response head of this many bytes comes first (a captured HTTP answer).
    HttpHead(usize),
    Xml,
    Ami,
}

fn kind(buf: &[u8], at_end: bool) -> Kind {
    const HTTP: &[u8] = b"HTTP/1.";
    if buf.starts_with(HTTP) {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Kind::HttpHead(at + 4);
        }
        return if at_end { Kind::Ami } else { Kind::Undecided };
    }
    let blank = buf.iter().all(u8::is_ascii_whitespace);
    if !at_end && (blank || HTTP.starts_with(buf)) {
        return Kind::Undecided;
    }
    if mxml::looks_like_xml(buf) {
        Kind::Xml
    } else {
        Kind::Ami
    }
}

/// Prints each `/mxml` element as one message line (or an `_error` line).
fn write_xml(mut out: io::BufWriter<io::StdoutLock<'_>>, xml: &str) -> anyhow::Result<ExitCode> {
    for item in mxml::messages(xml) {
        let line = match item {
            Ok(message) => Value::Object(ami_json::message_to_json(&message)),
            Err(message) => json!({"_error": {"code": "bad_xml", "message": message}}),
        };
        if !write_line(&mut out, &line)? {
            return Ok(ExitCode::SUCCESS);
        }
    }
    finish(out)
}

fn finish(mut out: io::BufWriter<io::StdoutLock<'_>>) -> anyhow::Result<ExitCode> {
    match out.flush() {
        Err(error) if error.kind() != io::ErrorKind::BrokenPipe => Err(error.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// Writes one NDJSON line; false when the reader went away (`| head`), which is a normal end.
fn write_line(out: &mut impl Write, line: &Value) -> anyhow::Result<bool> {
    let result = serde_json::to_writer(&mut *out, line)
        .map_err(io::Error::from)
        .and_then(|()| out.write_all(b"\n"));
    match result {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(error) => Err(error.into()),
    }
}
