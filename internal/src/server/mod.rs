//! The serving loop: accept on every listener, serve each connection with
//! hyper, and stop when told to, in the shape of mini-redis and axum's
//! graceful-shutdown example: `serve(app, listeners, config, shutdown)`.
//! Signals, the environment and logs are the caller's (`crate::run`).
//!
//! Stopping is a value, [`Stop`], published on a watch channel: the accept
//! loops see it and close their listeners; each open connection sees it and
//! finishes its in-flight request before closing; `serve` waits for the
//! last connection or the graceful timeout, whichever comes first.
//! Connections upgraded to WebSockets are counted too (their socket carries
//! the count with it, see `connection.rs`): they may stay until the graceful
//! timeout, when `rg::shutdown().deadline()` tells them to close.
//!
//! hyper-util's `GracefulShutdown` would count the connections for us, but
//! it tells each one to shut down the moment the stop comes: a connection
//! accepted just before, whose first request is still on the wire, would be
//! closed as idle and that request lost. `connection.rs` waits for it
//! (bounded by the header timeout) first, so the drain is ours.

mod accept;
pub(crate) mod access_log;
mod coarse;
mod connection;
mod slots;
pub(crate) mod stats;
mod strict;
mod timer;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use axum::body::Body;
use http::{Request, Response};
use rg_contract::listeners::Listener;
use rg_contract::notify::Notifier;
use rg_contract::settings::ForwardedAllow;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tower::Service;
use tracing::{debug, info, warn};

use crate::layers::Layers;
use crate::shutdown::{self, Phase};

/// How long connections still open at the graceful timeout get to close
/// themselves (a WebSocket's close frame) before the worker goes on
/// without them. `rg serve` kills a worker a second after its graceful
/// timeout; this stays well inside that.
pub(crate) const CLOSE_WINDOW: Duration = Duration::from_millis(500);

/// Why and how the worker stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Stop accepting, let in-flight requests finish within the graceful
    /// timeout, exit 0.
    Graceful(Reason),
    /// Exit now.
    Immediate(Reason),
}

/// What asked the worker to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// A signal, by name.
    Signal(&'static str),
    /// The worker served its `max_requests`.
    MaxRequests,
    /// The `rg serve` master that started the worker is gone.
    Orphaned,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Signal(name) => write!(f, "{name}"),
            Reason::MaxRequests => write!(f, "served max_requests"),
            Reason::Orphaned => write!(f, "the master process is gone"),
        }
    }
}

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
    pub(crate) strict: Option<rg_contract::settings::Limits>,
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
    pub(crate) proxy_protocol: rg_contract::settings::ProxyProtocol,
    /// The proxies that send it.
    pub(crate) proxy_allow_ips: ForwardedAllow,
    /// The access log, when it is on.
    pub(crate) access_log: Option<access_log::AccessLog>,
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
    pub(crate) stats: Option<Arc<stats::Stats>>,
}

/// What every connection of the worker shares.
struct Shared<S> {
    service: S,
    config: Config,
    served: AtomicU64,
    stop: watch::Sender<Option<Stop>>,
}

/// Serves `app` on `listeners` until `shutdown` completes (or max_requests
/// stops the worker). Sends `READY=1` once every listener is accepting and
/// `STOPPING=1` when it stops; returns how it stopped, and when.
pub(crate) async fn serve<S>(
    app: S,
    listeners: Vec<Listener>,
    config: Config,
    shutdown: impl Future<Output = Stop>,
) -> std::io::Result<(Stop, Instant)>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
{
    let (stop_tx, stop_rx) = watch::channel(None);
    let service = config.layers.around(app, stop_rx.clone());
    let shared = Arc::new(Shared {
        service,
        served: AtomicU64::new(0),
        stop: stop_tx,
        config,
    });

    // Every connection task holds a clone of `open_tx`; when the last one
    // ends, `open_rx.recv()` returns None: all connections are closed.
    let (open_tx, mut open_rx) = mpsc::channel::<()>(1);
    // One slot per connection the worker may serve at once, for all its
    // listeners together.
    let slots = slots::Slots::new(shared.config.worker_connections);
    let mut addresses = Vec::new();
    let mut accepting = tokio::task::JoinSet::new();
    for listener in listeners {
        addresses.push(match &listener {
            Listener::Tcp(..) => format!("http://{}", listener.describe()),
            Listener::Unix(..) => listener.describe(),
        });
        let loop_ = accept::Loop {
            stop: stop_rx.clone(),
            shared: shared.clone(),
            open: open_tx.clone(),
            slots: slots.clone(),
        };
        accepting.spawn(loop_.run(listener)?);
    }
    drop(open_tx);

    let pid = std::process::id();
    for addr in &addresses {
        if shared.config.announce {
            info!("Listening at: {addr} ({pid})");
        } else {
            debug!("Listening at: {addr} ({pid})");
        }
    }
    let notifier = shared.config.notifier.clone();
    let _ = notifier.send(&rg_contract::notify::Notification::serving(&addresses, pid));

    let mut stop_watch = stop_rx.clone();
    let stop = tokio::select! {
        stop = shutdown => stop,
        Ok(stop) = async { stop_watch.wait_for(Option::is_some).await.map(|s| *s) } => {
            stop.unwrap_or(Stop::Graceful(Reason::MaxRequests))
        }
    };
    let stopped_at = Instant::now();
    let _ = notifier.send(&rg_contract::notify::Notification::stopping());
    shutdown::advance(Phase::Draining);
    shared.stop.send_replace(Some(stop));
    slots.stop(matches!(stop, Stop::Immediate(_)));
    // The accept loops return as soon as they see the stop; their listeners
    // close with them.
    while accepting.join_next().await.is_some() {}

    match stop {
        Stop::Immediate(reason) => {
            info!("Stopping now ({reason})");
            shutdown::advance(Phase::Closing);
        }
        Stop::Graceful(reason) => {
            let timeout = shared.config.graceful_timeout;
            info!(
                "Stopping gracefully ({reason}), waiting up to {:.1}s for open requests",
                timeout.as_secs_f64()
            );
            if tokio::time::timeout(timeout, open_rx.recv()).await.is_err() {
                // Upgraded connections (WebSockets) are told to close, and
                // get a moment to send their close frames.
                shutdown::advance(Phase::Closing);
                if tokio::time::timeout(CLOSE_WINDOW, open_rx.recv()).await.is_err() {
                    warn!(
                        "Graceful timeout of {:.1}s passed with connections still open; closing them",
                        timeout.as_secs_f64()
                    );
                }
            }
        }
    }
    Ok((stop, stopped_at))
}
