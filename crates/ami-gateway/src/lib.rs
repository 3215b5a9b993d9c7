//! An HTTP/JSON, Server-Sent Events and WebSocket gateway in front of a fleet of Asterisk
//! servers, speaking AMI to each through one reconnecting `ami-client` connection.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ami_gateway::Config::load("gateway.toml".as_ref())?;
//! let state = ami_gateway::AppState::start(&config)?;
//! let listener = tokio::net::TcpListener::bind(config.listen).await?;
//! ami_gateway::serve(listener, None, state, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await?;
//! # Ok(())
//! # }
//! ```
//!
//! [`app`] builds the whole [`axum::Router`] from an [`AppState`], so tests drive it with or
//! without a socket; every error is an [`AppError`] with a stable JSON body.
//!
//! Its modules, and the ones each imports (no circles; the crate root, [`app`] and [`serve`],
//! puts them together):
//!
//! - `routes` (the route table, which builds the router) → `api`, `live`, `streams`,
//!   `console`, `state`; [`openapi`] (the document generated from it) → `routes`, `error`.
//! - `api` (actions, commands, servers, health, the token middleware) → [`auth`], `state`,
//!   `upstream`, `exposition`, `error`, [`privilege`]; `streams` (SSE, WebSocket) → `api`,
//!   `live`, [`auth`], `conn`, `queue`, `state`, `upstream`, `error`; `live` (the live-state
//!   endpoints and who may read the state) → `api`, [`auth`], `state`, `upstream`, `error`.
//! - `state` (what every handler shares) → `upstream`, `peer`, [`auth`], [`config`].
//! - `upstream` (one AMI server: `link` keeps the connection up and shows its status,
//!   `fanout` delivers its events to stream clients and feeds the PBX's live state, an
//!   `ami_state::State`, `snapshot` resyncs that state from list actions; `remote` is the
//!   seam a server served from elsewhere plugs into, [`Remote`])
//!   → `metrics`, `queue`, `item`, `error`, [`privilege`], [`auth`], [`config`].
//! - `exposition` (what `/metrics` shows) → `metrics` (counters in `registry`, the text format
//!   in `render`), `state`, `upstream`, [`auth`].
//! - `conn` (accept loop, hyper, graceful shutdown) → `peer` (per-address places), [`stall`],
//!   [`tls`], `state`; [`stall`] → `peer` → [`config`] → [`auth`] → [`privilege`];
//!   `queue` → `item` (one rendered stream message).
//! - Leaves: `error`, `item`, `metrics`, [`privilege`], `console`, [`tls`].

mod api;
pub mod auth;
pub mod config;
mod conn;
mod console;
mod envelope;
mod error;
mod exposition;
mod item;
mod live;
mod metrics;
pub mod openapi;
mod openapi_actions;
mod peer;
pub mod privilege;
mod routes;
pub mod stall;
mod state;
mod streams;
pub mod tls;
mod upstream;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tracing::warn;

pub use api::{action_from_body, reply_json, valid_action_name};
pub use config::{
    Config, ConfigError, ConnectionLimits, ServerConfig, StreamLimits, check_servers,
};
pub use error::AppError;
pub use state::AppState;
pub use upstream::{
    LinkState, Remote, RemoteActions, RemoteError, RemoteFuture, RemoteItem, Upstream,
};

/// Largest request body accepted: what the largest action Asterisk reads can take as JSON.
///
/// An action has at most 127 lines, `Action:` and the gateway's `ActionID:` among them, so 125
/// headers of at most 1,022 bytes each (`ami_proto::MAX_ACTION_LINES`, `MAX_LINE_BYTES`):
/// 127,750 bytes of header text. As JSON each gains quotes, a colon and a comma, and escapes or
/// indentation add more; twice the text, rounded up, leaves room for that. A larger body cannot
/// be a valid action and is refused (413) before it is read whole.
pub(crate) const MAX_BODY: usize = 256 * 1024;

/// The whole HTTP application for `state`.
pub fn app(state: AppState) -> Router {
    let mut public = Router::new();
    let mut secured = Router::new();
    for route in routes::ROUTES {
        if route.secured {
            secured = secured.route(route.path, (route.handler)());
        } else {
            public = public.route(route.path, (route.handler)());
        }
    }
    // Only the public routes need it (the document is one of them).
    let public = public.layer(axum::Extension(api::OpenApiDocument(
        openapi::document_json(),
    )));
    let secured = secured.route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        api::require_token,
    ));
    let mut router = public
        .merge(secured)
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY));
    let origins: Vec<HeaderValue> = state
        .cors_origins()
        .iter()
        .filter_map(|origin| match HeaderValue::from_str(origin) {
            Ok(value) => Some(value),
            Err(_) => {
                warn!(%origin, "ignoring a CORS origin that is not a valid header value");
                None
            }
        })
        .collect();
    if !origins.is_empty() {
        router = router.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([Method::GET, Method::POST])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
                .max_age(Duration::from_secs(600)),
        );
    }
    router.with_state(state)
}

/// Serves `state` on `listener` (over TLS when `tls` is given) until `shutdown` completes.
///
/// Each connection is served by hyper's HTTP/1.1 server: one whose socket takes no data for
/// the streams' `write_timeout_ms` is dropped; one that sends no complete request head within
/// `connections.header_timeout_ms` (after it is accepted, or after its last response) is
/// closed; an address with `connections.max_per_ip` open has further connections closed at
/// accept. Then it shuts down gracefully: event streams say `closing` and end, requests in
/// flight finish (for at most 10 s), and every AMI connection logs off.
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    conn::serve(listener, tls, state, shutdown).await
}
