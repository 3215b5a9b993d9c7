//! The thin IO under AMI over HTTP: GET requests to `/rawman` over hyper's HTTP/1 client, on
//! plain TCP or rustls (the same trust settings as a TLS manager session), with a few idle
//! connections kept for servers that allow keep-alive (Asterisk 13 and later; 11 and 1.8
//! close after every answer).

use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONNECTION, COOKIE, HOST, SET_COOKIE, USER_AGENT};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tracing::debug;

use super::wire::SessionCookie;
use crate::config::Config;
use crate::error::{Error, Kind, Result};
use crate::transport;

/// Idle connections kept for reuse.
const MAX_IDLE: usize = 8;

/// Requests in progress at once; the rest wait their turn. Asterisk's HTTP server listens with
/// a backlog of 10 (every version): a burst of more new connections than that overflows it, and
/// the refused ones wait for the kernel's SYN retry (1 s, then 3 s). Measured against the live
/// 22 with 100 Pings in flight: p99 4.3 s, 688 Pings/s, against 2,148/s with 8 in flight. The
/// WaitEvent long poll holds one of these.
const MAX_REQUESTS: usize = 8;

/// One `/rawman` answer.
#[derive(Debug)]
pub(crate) struct Answer {
    /// The session cookie it set (Asterisk sets it on every answer).
    pub(crate) cookie: Option<SessionCookie>,
    pub(crate) body: Bytes,
}

/// Where and how requests go.
pub(crate) struct Link {
    host: String,
    port: u16,
    tls: Option<(
        tokio_rustls::TlsConnector,
        rustls::pki_types::ServerName<'static>,
    )>,
    /// The `Host` header.
    authority: String,
    /// `prefix/rawman`.
    path: String,
    connect_timeout: Duration,
    max_body: usize,
    idle: Mutex<Vec<SendRequest<Empty<Bytes>>>>,
    /// One permit per request in progress (see [`MAX_REQUESTS`]).
    requests: tokio::sync::Semaphore,
}

impl Link {
    /// The link `config` describes (TLS settings are built, or taken from its cache, here).
    pub(crate) async fn new(config: &Config) -> Result<Self> {
        let tls = match &config.tls {
            None => None,
            Some(tls) => {
                let settings = transport::tls_settings(config, tls).await?;
                let name = tls
                    .server_name
                    .clone()
                    .unwrap_or_else(|| config.host.clone());
                let name = rustls::pki_types::ServerName::try_from(name)
                    .map_err(|e| Error::tls("invalid server name", Some(Box::new(e))))?;
                Some((tokio_rustls::TlsConnector::from(settings), name))
            }
        };
        let authority = if config.host.contains(':') {
            format!("[{}]:{}", config.host, config.port)
        } else {
            format!("{}:{}", config.host, config.port)
        };
        let prefix = config.http.clone().unwrap_or_default();
        Ok(Self {
            host: config.host.clone(),
            port: config.port,
            tls,
            authority,
            path: format!("{prefix}/rawman"),
            connect_timeout: config.connect_timeout,
            // A body holds one reply (a whole list) or one WaitEvent's events: allow as many
            // packets' worth as the decoder allows for one packet, sixteen times over.
            max_body: config
                .decode_limits
                .max_packet_bytes
                .saturating_mul(16)
                .max(1 << 20),
            idle: Mutex::new(Vec::new()),
            requests: tokio::sync::Semaphore::new(MAX_REQUESTS),
        })
    }

    /// `GET prefix/rawman?query`, presenting `cookie`. A request that an idle kept-alive
    /// connection could not take (the server closed it meanwhile) goes on a new one; once
    /// written, a request is never sent twice.
    pub(crate) async fn get(&self, query: &str, cookie: Option<&str>) -> Result<Answer> {
        let mut request = Some(self.request(query, cookie)?);
        // Held until the answer's body is read; the semaphore is never closed.
        let _turn = self
            .requests
            .acquire()
            .await
            .map_err(|_| Error::new(Kind::ConnectionLost))?;
        loop {
            let (mut sender, fresh) = match self.take_idle() {
                Some(sender) => (sender, false),
                None => (self.connect().await?, true),
            };
            if sender.ready().await.is_err() {
                if fresh {
                    return Err(Error::new(Kind::ConnectionLost));
                }
                continue;
            }
            let Some(outgoing) = request.take() else {
                return Err(Error::new(Kind::ConnectionLost));
            };
            match sender.try_send_request(outgoing).await {
                Ok(response) => return self.read(sender, response).await,
                Err(mut error) => {
                    debug!(error = %error.error(), fresh, "HTTP request failed");
                    match error.take_message() {
                        Some(unsent) if !fresh => request = Some(unsent),
                        _ => return Err(Error::new(Kind::ConnectionLost)),
                    }
                }
            }
        }
    }

    fn request(&self, query: &str, cookie: Option<&str>) -> Result<hyper::Request<Empty<Bytes>>> {
        let mut builder = hyper::Request::get(format!("{}?{query}", self.path))
            .header(HOST, &self.authority)
            .header(USER_AGENT, concat!("amikit/", env!("CARGO_PKG_VERSION")));
        if let Some(cookie) = cookie {
            builder = builder.header(COOKIE, cookie);
        }
        builder
            .body(Empty::new())
            .map_err(|e| Error::config("unusable HTTP request", Some(Box::new(e))))
    }

    async fn read(
        &self,
        sender: SendRequest<Empty<Bytes>>,
        response: hyper::Response<hyper::body::Incoming>,
    ) -> Result<Answer> {
        let status = response.status();
        let cookie = response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find_map(SessionCookie::parse);
        let closing = response
            .headers()
            .get(CONNECTION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
            || response.version() < hyper::Version::HTTP_11;
        let body = Limited::new(response.into_body(), self.max_body)
            .collect()
            .await
            .map_err(|error| {
                if error.is::<http_body_util::LengthLimitError>() {
                    Error::new(Kind::Protocol(format!(
                        "HTTP body over {} bytes",
                        self.max_body
                    )))
                } else {
                    Error::new(Kind::ConnectionLost)
                }
            })?
            .to_bytes();
        if !status.is_success() {
            // Asterisk answers 200 to every AMI-level error: anything else means the URL is
            // not a manager (webenabled off, a wrong prefix) or the server failed.
            return Err(Error::new(Kind::Protocol(format!(
                "HTTP {status} from {}{}",
                self.authority, self.path
            ))));
        }
        if !closing && !sender.is_closed() {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < MAX_IDLE {
                idle.push(sender);
            }
        }
        Ok(Answer { cookie, body })
    }

    fn take_idle(&self) -> Option<SendRequest<Empty<Bytes>>> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(sender) = idle.pop() {
            if !sender.is_closed() {
                return Some(sender);
            }
        }
        None
    }

    /// A new connection (TCP, then TLS when configured), within the connect timeout.
    async fn connect(&self) -> Result<SendRequest<Empty<Bytes>>> {
        let connecting = async {
            let tcp = TcpStream::connect((self.host.as_str(), self.port)).await?;
            tcp.set_nodelay(true)?;
            match &self.tls {
                None => handshake(tcp).await,
                Some((connector, name)) => {
                    let stream = connector.connect(name.clone(), tcp).await?;
                    handshake(stream).await
                }
            }
        };
        tokio::time::timeout(self.connect_timeout, connecting)
            .await
            .map_err(|_| Error::new(Kind::ConnectTimeout(self.connect_timeout)))?
    }
}

async fn handshake<S>(stream: S) -> Result<SendRequest<Empty<Bytes>>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| Error::new(Kind::Io(std::io::Error::other(e))))?;
    // The connection's own IO runs beside the requests; it ends when the server closes or
    // the last sender is dropped.
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            debug!(%error, "HTTP connection ended");
        }
    });
    Ok(sender)
}
