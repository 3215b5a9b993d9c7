//! Opening a connection: the socket within the connect timeout, then the banner, login and
//! restore of event settings as the sans-IO connection asks for them.

use std::sync::Arc;

use ami_proto::connection::{Connection, ConnectionConfig, End, LoginError, Lost};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::{Conn, MIN_READ, Shared, max_read};
use crate::config::{Config, Events};
use crate::error::{Error, Kind, Result};
use crate::transport;

/// How long a closing connection waits for its `Logoff` reply.
const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

impl Conn {
    /// Connects, reads the banner, logs in, restores settings.
    pub(crate) async fn establish(
        config: &Config,
        events: &Events,
        prefix: &str,
        shared: Arc<Shared>,
    ) -> Result<Self> {
        let (reader, writer) =
            tokio::time::timeout(config.connect_timeout, transport::open(config))
                .await
                .map_err(|_| Error::new(Kind::ConnectTimeout(config.connect_timeout)))??;
        let settings = shared
            .settings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut connection_config = ConnectionConfig::new(&config.username, &config.secret);
        connection_config.auth = config.auth;
        connection_config.login_events =
            (*events != Events::On).then(|| events.header_value().to_owned());
        connection_config.restore_events = settings.events;
        connection_config.restore_filters = settings.filters;
        // The banner gets a connect timeout of its own, as the socket did.
        connection_config.banner_timeout = config.connect_timeout;
        connection_config.login_timeout = config.login_timeout;
        connection_config.keepalive = config.keepalive;
        connection_config.close_grace = CLOSE_GRACE;
        connection_config.max_output = config.max_output;
        connection_config.decode_limits = config.decode_limits;
        connection_config.session_limits = config.session_limits;
        connection_config.action_id_prefix = format!("{prefix}k");
        let mut conn = Self {
            reader,
            writer,
            connection: Connection::new(connection_config, Instant::now().into_std()),
            inbuf: BytesMut::with_capacity(MIN_READ),
            read_size: MIN_READ,
            max_read: max_read(),
            batch: Vec::new(),
            holding: true,
            unmatched_reported: 0,
            more_input: false,
            close_ack: None,
            shared,
        };
        conn.log_in(config).await?;
        Ok(conn)
    }

    /// Drives the connection until it is logged in (settings restored) or has failed.
    async fn log_in(&mut self, config: &Config) -> Result<()> {
        loop {
            // Nothing but notices can be ready: no caller has an action on this connection yet.
            self.deliver();
            if self.connection.is_established() {
                return Ok(());
            }
            if let Some(end) = self.connection.end() {
                return Err(login_error(end, config));
            }
            // The login exchange is a few small actions: written whole before reading on.
            while let Some(bytes) = self.connection.poll_transmit() {
                let written = self.writer.write(bytes).await?;
                if written == 0 {
                    return Err(Error::new(Kind::ConnectionLost));
                }
                self.connection.handle_written(written);
            }
            self.writer.flush().await?;
            let timer = self.connection.poll_timeout();
            let deadline = timer.map(Instant::from_std);
            tokio::select! {
                read = self.fill() => {
                    if read? == 0 {
                        self.connection.handle_lost(Lost::ClosedByPeer);
                    } else {
                        self.connection.handle_input(&mut self.inbuf, Instant::now().into_std());
                    }
                }
                () = sleep_until(deadline), if deadline.is_some() => {
                    self.connection.handle_timeout(Instant::now().into_std());
                }
            }
        }
    }

    /// One read into the input buffer, sized to the traffic: reads that fill the buffer double
    /// it (an event flood needs few, large reads), and an idle connection keeps only 4 KiB.
    pub(super) async fn fill(&mut self) -> std::io::Result<usize> {
        if self.inbuf.capacity() - self.inbuf.len() < self.read_size / 2 {
            self.inbuf.reserve(self.read_size);
        }
        let read = self.reader.read_buf(&mut self.inbuf).await?;
        if read >= self.read_size && self.read_size < self.max_read {
            self.read_size *= 2;
        } else if read < self.read_size / 8 && self.read_size > MIN_READ {
            self.read_size /= 2;
        }
        Ok(read)
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(deadline) = deadline {
        tokio::time::sleep_until(deadline).await;
    }
}

fn login_error(end: &End, config: &Config) -> Error {
    let error = match end {
        End::LoginFailed(error) => error,
        // Closed or lost before the login finished: the login never happened.
        End::Closed | End::Lost(_) => return Error::new(Kind::ConnectionLost),
        other => return Error::new(Kind::Protocol(format!("{other:?}"))),
    };
    Error::new(match error {
        LoginError::ClosedBeforeBanner | LoginError::Banner(_) | LoginError::NoChallenge => {
            Kind::Protocol(error.to_string())
        }
        LoginError::Encode(error) => Kind::Protocol(error.to_string()),
        LoginError::BannerTimeout(_) => Kind::ConnectTimeout(config.connect_timeout),
        LoginError::Timeout(_) => Kind::LoginTimeout(config.login_timeout),
        LoginError::AuthFailed(message) => Kind::AuthFailed(message.clone()),
        LoginError::ConnectionLost => Kind::ConnectionLost,
        other => Kind::Protocol(other.to_string()),
    })
}
