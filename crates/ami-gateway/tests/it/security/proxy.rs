//! A recording TCP proxy between the gateway and the simulator: every byte the gateway sends
//! upstream is kept, so a test can prove what reached the PBX (and what did not).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Forwards every connection to `upstream`, recording what flows towards it.
pub struct RecordingProxy {
    addr: SocketAddr,
    sent: Arc<Mutex<Vec<u8>>>,
    /// While true, nothing more is forwarded towards the PBX (actions wait on it).
    held: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl RecordingProxy {
    /// Listens on a loopback port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let sent = Arc::new(Mutex::new(Vec::new()));
        let recorded = sent.clone();
        let (held, hold) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                tokio::spawn(relay(client, server, recorded.clone(), hold.clone()));
            }
        });
        Self {
            addr,
            sent,
            held,
            task,
        }
    }

    /// Stops (true) or resumes (false) forwarding towards the PBX: while held, actions the
    /// gateway sends wait as they would on a PBX that does not answer.
    pub fn hold(&self, held: bool) {
        self.held.send_replace(held);
    }

    /// Where the gateway should connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Everything sent upstream so far, lossily as text.
    pub fn upstream_text(&self) -> String {
        String::from_utf8_lossy(&self.sent.lock().expect("recording")).into_owned()
    }

    /// The `Action:` names sent upstream so far, in order.
    pub fn actions(&self) -> Vec<String> {
        self.upstream_text()
            .lines()
            .filter_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.trim()
                    .eq_ignore_ascii_case("Action")
                    .then(|| value.trim().to_owned())
            })
            .collect()
    }

    /// Whether an action named `name` (case-insensitive) was sent upstream.
    pub fn saw_action(&self, name: &str) -> bool {
        self.actions().iter().any(|a| a.eq_ignore_ascii_case(name))
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(
    client: TcpStream,
    server: TcpStream,
    sent: Arc<Mutex<Vec<u8>>>,
    mut hold: tokio::sync::watch::Receiver<bool>,
) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upward = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if hold.wait_for(|held| !held).await.is_err() {
                break;
            }
            sent.lock().expect("recording").extend_from_slice(&buf[..n]);
            if server_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = server_write.shutdown().await;
    };
    let downward = async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    tokio::join!(upward, downward);
}
