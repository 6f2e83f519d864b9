//! What the serving loop is given ([`Config`], decided by `crate::run`) and
//! what every connection of the worker shares with it ([`Shared`]).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use rg_contract::notify::Notifier;
use rg_contract::settings::{ForwardedAllow, Limits, ProxyProtocol};

use super::access_log::AccessLog;
use super::stats::Stats;
use crate::layers::Layers;
use crate::stop::Stopping;

/// How the loop serves, decided by its caller.
#[derive(Debug)]
pub(crate) struct Config {
    /// The layers around the application.
    pub(crate) layers: Layers,
    /// Connections served at once, for all listeners together.
    pub(crate) worker_connections: usize,
    /// Time a connection gets to send a request's head, idle time included.
    pub(crate) keepalive: Duration,
    /// Most header fields in a request (hyper enforces it).
    pub(crate) request_fields: usize,
    /// With `strict_http`: validate each HTTP/1 request on the bytes, with
    /// these limits, before hyper (`strict/`).
    pub(crate) strict: Option<Limits>,
    /// With `strict`: time a client may leave between two reads of a body
    /// the application waits for.
    pub(crate) body_read_timeout: Option<Duration>,
    /// With `body_read_timeout`: the least average rate of a body, in
    /// bytes a second, after that timeout of grace.
    pub(crate) body_min_rate: Option<u32>,
    /// How long a write may wait for a client that reads nothing (with
    /// `strict` on or off: the stream watches writes either way).
    pub(crate) send_timeout: Option<Duration>,
    /// The PROXY protocol header connections from `proxy_allow_ips` start
    /// with.
    pub(crate) proxy_protocol: ProxyProtocol,
    /// The proxies that send it.
    pub(crate) proxy_allow_ips: ForwardedAllow,
    /// The access log, when it is on.
    pub(crate) access_log: Option<AccessLog>,
    /// Time open requests get after a graceful stop.
    pub(crate) graceful_timeout: Duration,
    /// Requests after which the worker recycles, if any.
    pub(crate) recycle_after: Option<u64>,
    /// Under `rg serve`: ask the master for a replacement at max_requests
    /// instead of stopping.
    pub(crate) supervised: bool,
    /// Where to say READY, STOPPING and X_RG_RECYCLE.
    pub(crate) notifier: Arc<Notifier>,
    /// The mount prefix, for each request's environ.
    pub(crate) script_name: Arc<str>,
    /// Proxies whose X-Forwarded-* headers the environ believes.
    pub(crate) forwarded_allow_ips: ForwardedAllow,
    /// Whether to log the addresses (the master says them once for all).
    pub(crate) announce: bool,
    /// On a graceful stop, accept what is queued before letting the
    /// listener go (not in dev mode: the next build takes it).
    pub(crate) drain_queue: bool,
    /// The counts for the master's metrics port, when it asked for them.
    pub(crate) stats: Option<Arc<Stats>>,
    /// The HTTP versions served.
    pub(crate) http: rg_contract::settings::HttpVersions,
    /// HTTP/2's own limits.
    pub(crate) http2: rg_contract::settings::Http2Limits,
    /// TLS on every listener, with the identity `rg serve` handed over...
    pub(crate) tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    /// ...but these (positions in the listeners' list): `insecure_bind`.
    pub(crate) plain_listeners: Vec<usize>,
    /// A panicking handler's message and location on its 500 page
    /// (development only: they may tell a visitor too much).
    pub(crate) show_panics: bool,
}

/// What every connection of the worker shares.
pub(super) struct Shared<S> {
    pub(super) service: S,
    pub(super) config: Config,
    /// Requests answered, towards `max_requests`.
    pub(super) served: AtomicU64,
    pub(super) stopping: Stopping,
}
