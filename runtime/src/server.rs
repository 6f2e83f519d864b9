//! The serving loop: accept on every listener, serve each connection with
//! hyper, count requests, log them, and stop the way the contract says.
//!
//! Stopping is a value, [`Stop`], published on a watch channel: the accept
//! loops see it and close their listeners; each open connection sees it and
//! finishes its in-flight request before closing; `serve` waits for the
//! last connection or the graceful timeout, whichever comes first.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{HeaderName, HeaderValue, Request, Response};
use hyper::body::Body as _;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tower::ServiceExt as _;
use tracing::{debug, info, warn};

use crate::access_log::{AccessFormat, AccessRecord};
use crate::environ::Environ;
use crate::listeners::Listener;
use crate::logging::{ACCESS_TARGET, Logs};
use crate::notify::Notifier;
use crate::settings::Settings;

/// Why and how the worker stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Stop accepting, let in-flight requests finish within the graceful
    /// timeout, exit 0.
    Graceful(Reason),
    /// Exit now.
    Immediate(Reason),
}

/// What asked the worker to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A signal, by name.
    Signal(&'static str),
    /// The worker served its `max_requests`.
    MaxRequests,
    /// The `rg serve` master that started the worker is gone.
    Orphaned,
}

/// Everything a request handler needs, shared by all connections.
struct Shared {
    app: Router,
    settings: Settings,
    access: Option<(AccessFormat, Vec<HeaderName>)>,
    script_name: Arc<str>,
    served: AtomicU64,
    recycle_after: Option<u64>,
    stop: watch::Sender<Option<Stop>>,
    notifier: Arc<Notifier>,
    /// Identifies this process to live reload (dev mode).
    build_id: String,
}

/// The facts about one connection every request on it shares.
struct Connection {
    peer: Option<SocketAddr>,
    server_addr: Arc<str>,
    /// Set, and `first_request` notified, when the first request arrives.
    started: std::sync::atomic::AtomicBool,
    first_request: tokio::sync::Notify,
}

/// Serves `listeners` until a signal or `max_requests` stops the worker.
/// Sends `READY=1` once every listener is accepting and `STOPPING=1` when
/// it stops.
pub(crate) async fn serve(
    app: Router,
    listeners: Vec<Listener>,
    settings: Settings,
    notifier: Arc<Notifier>,
    logs: Logs,
) -> std::io::Result<Stop> {
    let (stop_tx, stop_rx) = watch::channel(None);
    let access = logs.access.is_on().then(|| {
        let headers = settings.access_log_format.request_headers();
        (settings.access_log_format.clone(), headers)
    });
    let shared = Arc::new(Shared {
        app,
        script_name: Arc::from(settings.script_name.as_str()),
        recycle_after: settings.recycle_after(),
        settings,
        access,
        served: AtomicU64::new(0),
        stop: stop_tx,
        notifier: notifier.clone(),
        build_id: std::env::var("RG_INTERNAL_BUILD_ID")
            .unwrap_or_else(|_| format!("pid-{}", std::process::id())),
    });

    // Every connection task holds a clone of `open_tx`; when the last one
    // ends, `open_rx.recv()` returns None: all connections are closed.
    let (open_tx, mut open_rx) = mpsc::channel::<()>(1);
    let mut addresses = Vec::new();
    let mut accepting = tokio::task::JoinSet::new();
    // One slot per connection the worker may serve at once, for all its
    // listeners together.
    let slots = Arc::new(Semaphore::new(shared.settings.worker_connections));
    for listener in listeners {
        let described: Arc<str> = Arc::from(listener.describe());
        addresses.push(match &listener {
            Listener::Tcp(..) => format!("http://{described}"),
            Listener::Unix(..) => described.to_string(),
        });
        let shared = shared.clone();
        let open = open_tx.clone();
        let stop = stop_rx.clone();
        let slots = slots.clone();
        match listener {
            Listener::Tcp(l, _) => {
                let l = tokio::net::TcpListener::from_std(l)?;
                accepting.spawn(async move {
                    accept_loop(
                        stop,
                        || async { l.accept().await.map(|(s, p)| (s, Some(p))) },
                        shared,
                        described,
                        open,
                        slots,
                    )
                    .await
                });
            }
            Listener::Unix(l, _) => {
                let l = tokio::net::UnixListener::from_std(l)?;
                accepting.spawn(async move {
                    accept_loop(
                        stop,
                        || async { l.accept().await.map(|(s, _)| (s, None)) },
                        shared,
                        described,
                        open,
                        slots,
                    )
                    .await
                });
            }
        }
    }
    drop(open_tx);

    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut quit = signal(SignalKind::quit())?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let pid = std::process::id();
    for addr in &addresses {
        if shared.settings.master_pid.is_some() {
            // The master has said it once for all its workers.
            debug!("Listening at: {addr} ({pid})");
        } else {
            info!("Listening at: {addr} ({pid})");
        }
    }
    let _ = notifier.notify(&format!(
        "READY=1\nSTATUS=Serving on {}\nMAINPID={pid}",
        addresses.join(", ")
    ));
    if let Some(interval) = crate::notify::watchdog_interval(
        std::env::var("WATCHDOG_USEC").ok().as_deref(),
        std::env::var("WATCHDOG_PID").ok().as_deref(),
        pid,
    ) {
        let notifier = notifier.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            loop {
                tick.tick().await;
                let _ = notifier.notify("WATCHDOG=1");
            }
        });
    }

    if let Some(master) = shared.settings.master_pid {
        // The master sets a parent-death signal too; this also covers a
        // master that died before the worker could arm it.
        let stop = shared.stop.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_millis(250));
            loop {
                tick.tick().await;
                // SAFETY: getppid(2) has no preconditions.
                if unsafe { libc::getppid() } as u32 != master {
                    stop.send_if_modified(|s| {
                        s.is_none() && s.replace(Stop::Graceful(Reason::Orphaned)).is_none()
                    });
                    return;
                }
            }
        });
    }

    {
        let access = logs.access.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_millis(200));
            loop {
                tick.tick().await;
                access.flush();
            }
        });
    }

    let mut stop_watch = stop_rx.clone();
    let stop = loop {
        tokio::select! {
            _ = term.recv() => break Stop::Graceful(Reason::Signal("SIGTERM")),
            _ = int.recv() => break Stop::Immediate(Reason::Signal("SIGINT")),
            _ = quit.recv() => break Stop::Immediate(Reason::Signal("SIGQUIT")),
            _ = usr1.recv() => {
                match logs.reopen() {
                    Ok(()) => info!("Reopened the log files"),
                    Err(e) => warn!("{e}"),
                }
            }
            changed = stop_watch.changed() => {
                if changed.is_ok() && let Some(stop) = *stop_watch.borrow() {
                    break stop;
                }
            }
        }
    };
    let _ = notifier.notify("STOPPING=1");
    shared.stop.send_replace(Some(stop));
    // The accept loops return as soon as they see the stop; their listeners
    // close with them.
    while accepting.join_next().await.is_some() {}

    match stop {
        Stop::Immediate(reason) => {
            info!("Stopping now ({})", describe(reason));
        }
        Stop::Graceful(reason) => {
            let timeout = shared.settings.graceful_timeout;
            info!(
                "Stopping gracefully ({}), waiting up to {:.1}s for open requests",
                describe(reason),
                timeout.as_secs_f64()
            );
            if tokio::time::timeout(timeout, open_rx.recv()).await.is_err() {
                warn!(
                    "Graceful timeout of {:.1}s passed with requests still open; closing them",
                    timeout.as_secs_f64()
                );
            }
        }
    }
    logs.access.flush();
    Ok(stop)
}

fn describe(reason: Reason) -> String {
    match reason {
        Reason::Signal(name) => name.to_string(),
        Reason::MaxRequests => "served max_requests".to_string(),
        Reason::Orphaned => "the master process is gone".to_string(),
    }
}

/// Accepts connections until the worker stops. Errors from `accept` (a
/// client that gave up, too many open files) are logged and the loop goes on:
/// one bad moment must not stop a worker.
///
/// A connection is accepted only with a free slot (`worker_connections`):
/// at the limit, new connections wait in the listen queue, where a less
/// busy worker of the same socket takes them.
async fn accept_loop<S, F, Fut>(
    mut stop: watch::Receiver<Option<Stop>>,
    accept: F,
    shared: Arc<Shared>,
    server_addr: Arc<str>,
    open: mpsc::Sender<()>,
    slots: Arc<Semaphore>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = std::io::Result<(S, Option<SocketAddr>)>>,
{
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => return,
            accepted = async {
                // Wait for a free slot, but do not hold it while accept
                // waits: with several listeners, an idle one holding the
                // last slot would starve the others. (Accept is
                // cancel-safe: a stop that comes first loses nothing.)
                drop(slots.acquire().await);
                accept().await
            } => match accepted {
                Ok((stream, peer)) => {
                    // Another listener may have taken the last slot since:
                    // the worker then goes over by at most one connection per
                    // listener, and that one holds no slot.
                    let slot = slots.clone().try_acquire_owned().ok();
                    let connection = Arc::new(Connection {
                        peer,
                        server_addr: server_addr.clone(),
                        started: std::sync::atomic::AtomicBool::new(false),
                        first_request: tokio::sync::Notify::new(),
                    });
                    tokio::spawn(serve_connection(stream, connection, shared.clone(), stop.clone(), open.clone(), slot));
                    // Let this worker's other tasks run before it accepts
                    // again. Without it, whichever worker wakes first drains
                    // a burst of connections from the shared queue (measured:
                    // 59 of wrk's 64 in one of two workers); with it, a busy
                    // worker comes back to accept later than an idle one.
                    tokio::task::yield_now().await;
                }
                Err(e) => {
                    warn!("accept on {server_addr} failed: {e}");
                    // Typically EMFILE: give other tasks a moment to close files.
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            }
        }
    }
}

async fn serve_connection<S>(
    stream: S,
    connection: Arc<Connection>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<Option<Stop>>,
    _open: mpsc::Sender<()>,
    _slot: Option<OwnedSemaphorePermit>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = shared.settings.limits;
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(shared.settings.keepalive);
    if limits.request_fields != crate::limits::HYPER_DEFAULT_FIELDS {
        builder.http1().max_headers(limits.request_fields);
    }
    let service = hyper::service::service_fn({
        let shared = shared.clone();
        let connection = connection.clone();
        move |request| handle(shared.clone(), connection.clone(), request)
    });
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        stopping = async { stop.wait_for(Option::is_some).await.ok().and_then(|s| *s) } => {
            if matches!(stopping, Some(Stop::Immediate(_))) {
                return;
            }
            // A connection accepted just before the stop has a request on
            // its way: hyper would close it as idle, failing that request.
            // Wait for it (bounded by the header timeout) before closing.
            if !connection.started.load(Ordering::Acquire) {
                tokio::select! {
                    result = conn.as_mut() => return log_result(result),
                    _ = connection.first_request.notified() => {}
                    _ = tokio::time::sleep(shared.settings.keepalive) => {}
                }
            }
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    log_result(result);
}

fn log_result<E: std::fmt::Display>(result: Result<(), E>) {
    if let Err(e) = result {
        debug!("connection closed with an error: {e}");
    }
}

async fn handle(
    shared: Arc<Shared>,
    connection: Arc<Connection>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    // The clock is read only when an access log line will need it.
    let started = shared.access.is_some().then(Instant::now);
    if !connection.started.swap(true, Ordering::AcqRel) {
        connection.first_request.notify_one();
    }
    let environ = Environ::new(
        connection.peer,
        connection.server_addr.clone(),
        shared.script_name.clone(),
        request.headers(),
        &shared.settings.forwarded_allow_ips,
    );
    let logged = shared.access.as_ref().map(|(_, names)| {
        let kept: Vec<(HeaderName, Option<HeaderValue>)> = names
            .iter()
            .map(|n| (n.clone(), request.headers().get(n).cloned()))
            .collect();
        let path = request
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        (
            SystemTime::now(),
            request.method().clone(),
            path,
            request.version(),
            kept,
        )
    });
    let client = environ.client_addr;
    let mut request = request.map(Body::new);
    if let Some(peer) = connection.peer {
        request.extensions_mut().insert(ConnectInfo(peer));
    }
    request.extensions_mut().insert(environ);

    let dev = shared.settings.dev;
    let response = if let Some(refused) = shared.settings.limits.check(&request) {
        refused
    } else if dev && request.uri().path() == crate::dev::RELOAD_PATH {
        crate::dev::reload_events(
            &shared.build_id,
            crate::dev::until_stopping(shared.stop.subscribe()),
        )
    } else {
        let response = match shared.app.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        if dev {
            crate::dev::inject(response).await
        } else {
            response
        }
    };

    if let (Some((format, _)), Some((time, method, path, version, kept))) = (&shared.access, logged) {
        let line = format.render(&AccessRecord {
            remote: client,
            time,
            method: &method,
            path_and_query: &path,
            version,
            status: response.status(),
            bytes: response.body().size_hint().exact(),
            duration: started.map(|t| t.elapsed()).unwrap_or_default(),
            request_headers: &kept,
            response_headers: response.headers(),
        });
        tracing::info!(target: ACCESS_TARGET, "{line}");
    }

    let served = shared.served.fetch_add(1, Ordering::Relaxed) + 1;
    if shared.recycle_after == Some(served) && shared.settings.master_pid.is_some() {
        // Under `rg serve`, keep serving until the master has a replacement
        // READY and sends SIGTERM, so capacity never dips.
        let _ = shared.notifier.notify(&format!(
            "X_RG_RECYCLE=1\nSTATUS=Served {served} requests (max_requests), waiting for a replacement"
        ));
    } else if shared.recycle_after == Some(served) {
        shared.stop.send_if_modified(|stop| {
            let first = stop.is_none();
            if first {
                *stop = Some(Stop::Graceful(Reason::MaxRequests));
            }
            first
        });
    }
    Ok(response)
}
