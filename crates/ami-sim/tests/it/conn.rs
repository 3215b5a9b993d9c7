//! A tiny raw-TCP AMI peer for the tests: writes action text, reads decoded packets.

use std::time::Duration;

use ami_proto::{Decoder, Message, Packet};
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub struct Conn<S> {
    stream: S,
    buf: BytesMut,
    decoder: Decoder,
    pub banner: Option<String>,
    pub closed: bool,
}

impl Conn<tokio::net::TcpStream> {
    pub async fn connect(addr: std::net::SocketAddr) -> Self {
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        Conn::new(stream)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    pub fn new(stream: S) -> Self {
        Self {
            stream,
            buf: BytesMut::new(),
            decoder: Decoder::new(),
            banner: None,
            closed: false,
        }
    }

    /// Writes `Key: value` lines (given with `\n`) as one CRLF packet.
    pub async fn send(&mut self, lines: &str) {
        let mut text = lines.trim().replace('\n', "\r\n");
        text.push_str("\r\n\r\n");
        self.stream.write_all(text.as_bytes()).await.expect("write");
    }

    /// The next message, or `None` when the server closed or `wait` passed in silence.
    pub async fn next(&mut self, wait: Duration) -> Option<Message> {
        loop {
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(Packet::Banner(banner))) => {
                    self.banner = Some(String::from_utf8_lossy(banner.line()).into_owned());
                    continue;
                }
                Ok(Some(Packet::Message(message))) => return Some(message),
                Ok(None) => {}
                Err(_) => continue,
            }
            if self.closed {
                return None;
            }
            let mut chunk = [0u8; 16 * 1024];
            match tokio::time::timeout(wait, self.stream.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) => {
                    self.closed = true;
                    if let Ok(Some(Packet::Message(message))) =
                        self.decoder.decode_eof(&mut self.buf)
                    {
                        return Some(message);
                    }
                    return None;
                }
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
                Err(_) => return None,
            }
        }
    }

    /// Reads until a message satisfies `pred`; panics after `wait` of silence.
    pub async fn until(
        &mut self,
        wait: Duration,
        pred: impl Fn(&Message) -> bool,
    ) -> (Message, Vec<Message>) {
        let mut seen = Vec::new();
        loop {
            match self.next(wait).await {
                Some(message) if pred(&message) => return (message, seen),
                Some(message) => seen.push(message),
                None => panic!(
                    "no matching message; saw {:?}",
                    seen.iter()
                        .map(|m| format!("{:?}/{:?}", m.response(), m.event_name()))
                        .collect::<Vec<_>>()
                ),
            }
        }
    }

    /// The response to ActionID `id` (events before it are returned too).
    pub async fn response(&mut self, id: &str) -> (Message, Vec<Message>) {
        self.until(Duration::from_secs(5), |m| {
            m.is_response() && m.action_id().as_deref() == Some(id)
        })
        .await
    }

    pub async fn login(&mut self, user: &str, secret: &str) {
        self.send(&format!(
            "Action: Login\nActionID: login\nUsername: {user}\nSecret: {secret}"
        ))
        .await;
        let (reply, _) = self.response("login").await;
        assert_eq!(
            reply.get("Message").as_deref(),
            Some("Authentication accepted")
        );
    }
}

pub const WAIT: Duration = Duration::from_secs(5);
