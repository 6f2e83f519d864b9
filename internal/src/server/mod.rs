//! The serving loop: accept on every listener, serve each connection with
//! hyper, and stop when `crate::stop::Stopping` says, in the shape of
//! mini-redis: `serve(app, listeners, config, stopping, shutdown)`.
//! Signals, the environment and logs are the caller's (`crate::run`).
//!
//! The drain is ours, not hyper-util's `GracefulShutdown`: that closes a
//! connection accepted just before the stop whose first request is still on
//! the wire; `connection.rs` waits for that request first.

mod accept;
pub(crate) mod access_log;
mod coarse;
mod config;
mod connection;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
mod handshake;
mod http1;
mod http2;
mod presized;
mod slots;
pub(crate) mod stats;
mod stream;
mod timer;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use axum::body::Body;
use http::{Request, Response};
use rg_contract::listeners::Listener;
use rg_contract::notify::Notification;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tower::Service;
use tracing::{debug, info, warn};

use crate::stop::{Phase, Stop, Stopping};
pub(crate) use config::Config;
use config::Shared;

/// How long connections still open at the graceful timeout get to close
/// themselves (a WebSocket's close frame) before the worker goes on
/// without them. `rg serve` kills a worker a second after its graceful
/// timeout; this stays well inside that.
pub(crate) const CLOSE_WINDOW: Duration = Duration::from_millis(500);

/// Serves `app` on `listeners` until `shutdown` completes (or max_requests
/// stops the worker), moving `stopping` on as it stops. Sends `READY=1`
/// once every listener is accepting and `STOPPING=1` when it stops;
/// returns how it stopped, and when.
pub(crate) async fn serve<S>(
    app: S,
    listeners: Vec<Listener>,
    config: Config,
    stopping: Stopping,
    shutdown: impl Future<Output = Stop>,
) -> std::io::Result<(Stop, Instant)>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
{
    let service = config.layers.around(app, stopping.clone());
    let shared = Arc::new(Shared {
        service,
        served: AtomicU64::new(0),
        stopping: stopping.clone(),
        config,
    });

    // Every connection task holds a clone of `open_tx`; when the last one
    // ends, `open_rx.recv()` returns None: all connections are closed.
    let (open_tx, mut open_rx) = mpsc::channel::<()>(1);
    // One slot per connection the worker may serve at once, for all its
    // listeners together.
    let slots = slots::Slots::new(shared.config.worker_connections, stopping.clone());
    let mut addresses = Vec::new();
    let mut accepting = tokio::task::JoinSet::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let plain = shared.config.plain_listeners.contains(&i);
        let tls = shared.config.tls.clone().filter(|_| !plain);
        addresses.push(match &listener {
            Listener::Tcp(..) if tls.is_some() => format!("https://{}", listener.describe()),
            Listener::Tcp(..) => format!("http://{}", listener.describe()),
            Listener::Unix(..) => listener.describe(),
        });
        let loop_ = accept::Loop {
            shared: shared.clone(),
            open: open_tx.clone(),
            slots: slots.clone(),
            tls,
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
    let _ = notifier.send(&Notification::serving(&addresses, pid));

    let stop = tokio::select! {
        stop = shutdown => stop,
        stop = stopping.begun() => stop,
    };
    // A stop that began meanwhile (max_requests) stands; this one is then
    // only the trigger.
    stopping.begin(stop);
    let stop = stopping.state().stop.unwrap_or(stop);
    let stopped_at = Instant::now();
    let _ = notifier.send(&Notification::stopping());
    slots.wake_all();
    // The accept loops return as soon as they see the stop; their listeners
    // close with them.
    while accepting.join_next().await.is_some() {}

    match stop {
        Stop::Immediate(reason) => info!("Stopping now ({reason})"),
        Stop::Graceful(reason) => {
            let timeout = shared.config.graceful_timeout;
            info!(
                "Stopping gracefully ({reason}), waiting up to {:.1}s for open requests",
                timeout.as_secs_f64()
            );
            if tokio::time::timeout(timeout, open_rx.recv()).await.is_err() {
                // Upgraded connections (WebSockets) are told to close, and
                // get a moment to send their close frames.
                stopping.advance(Phase::Closing);
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
