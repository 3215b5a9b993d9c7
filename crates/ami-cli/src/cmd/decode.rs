//! `ami decode [FILE]`: raw AMI bytes to NDJSON.

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
    /// File holding the bytes a server sent (banner included); standard input when absent or `-`.
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
    loop {
        let read = input.read(&mut chunk).context("cannot read the input")?;
        let at_end = read == 0;
        buf.extend_from_slice(&chunk[..read]);
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
    }
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
