//! A scripted AMI server for exact-quirk tests: one test, one script, bytes as written.

use ami_client::{Config, Message};
use ami_proto::{Decoder, Packet};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct Listener {
    pub listener: TcpListener,
    pub port: u16,
}

impl Listener {
    pub async fn bind() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        Self { listener, port }
    }

    pub fn config(&self) -> Config {
        Config::new("127.0.0.1", "admin", "amp111")
            .port(self.port)
            .keepalive(None)
            .action_id_prefix("t-")
    }

    pub async fn accept(&self) -> Peer {
        let (stream, _) = self.listener.accept().await.expect("accept");
        Peer {
            stream,
            decoder: Decoder::new(),
            buf: BytesMut::new(),
        }
    }
}

pub struct Peer {
    pub stream: TcpStream,
    decoder: Decoder,
    buf: BytesMut,
}

impl Peer {
    pub async fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.stream
            .write_all(bytes.as_ref())
            .await
            .expect("peer write");
    }

    /// The next action the client sent; `None` at EOF.
    pub async fn next(&mut self) -> Option<Message> {
        loop {
            if let Some(Packet::Message(message)) =
                self.decoder.decode(&mut self.buf).expect("decode")
            {
                return Some(message);
            }
            let read = self.stream.read_buf(&mut self.buf).await.ok()?;
            if read == 0 {
                return None;
            }
        }
    }

    /// The next action, which must be `name`.
    pub async fn expect(&mut self, name: &str) -> Message {
        let action = self.next().await.expect("an action");
        assert!(
            action.value_is("Action", name),
            "expected {name}, got {action:?}"
        );
        action
    }

    /// Banner, then a successful plaintext login.
    pub async fn greet(&mut self, banner: &str) -> Message {
        self.send(format!("Asterisk Call Manager/{banner}\r\n"))
            .await;
        let login = self.expect("Login").await;
        assert_eq!(login.get("Secret").as_deref(), Some("amp111"));
        let id = id(&login);
        self.send(format!(
            "Response: Success\r\nActionID: {id}\r\nMessage: Authentication accepted\r\n\r\n\
             Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n"
        ))
        .await;
        login
    }
}

pub fn id(message: &Message) -> String {
    message.action_id().expect("ActionID").into_owned()
}
