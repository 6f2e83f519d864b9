//! One connection: hyper serves it (HTTP/1.1 or HTTP/2), each request gets
//! its [`Environ`] and goes through the layered application, and a stop is
//! honoured without losing a request already on its way.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{Extensions, Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Notify, OwnedSemaphorePermit, mpsc};
use tower::{Service, ServiceExt as _};
use tracing::debug;

use rg_contract::settings::ProxyProtocol;

use super::slots::{Activity, Taken, Told};
use super::stats::Open;
use super::strict::{RefusalLog, Strict};
use super::timer::HeadTimer;
use super::{Reason, Shared, Stop};
use crate::environ::Environ;
use crate::layers::limits::HYPER_DEFAULT_FIELDS;

/// The layered application, as the connections call it.
pub(super) trait Stack:
    Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send + 'static>
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<S> Stack for S where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send + 'static>
        + Clone
        + Send
        + Sync
        + 'static
{
}

/// The facts about one connection every request on it shares.
pub(super) struct Connection {
    peer: Option<SocketAddr>,
    /// The client's address from a PROXY protocol header, when there is one.
    pub(super) proxied: OnceLock<SocketAddr>,
    server_addr: Arc<str>,
    /// Set, and `first_request` notified, when the first request arrives.
    started: AtomicBool,
    first_request: Notify,
}

impl Connection {
    pub(super) fn new(peer: Option<SocketAddr>, server_addr: Arc<str>) -> Connection {
        Connection {
            peer,
            proxied: OnceLock::new(),
            server_addr,
            started: AtomicBool::new(false),
            first_request: Notify::new(),
        }
    }
}

/// Serves one connection until it closes, the worker stops, or the accept
/// loop needs its slot while it is idle (both told through its slot).
/// `open` and the slot are held for as long as the connection's socket
/// lives.
pub(super) async fn serve<S, T>(
    stream: T,
    connection: Arc<Connection>,
    shared: Arc<Shared<S>>,
    open: mpsc::Sender<()>,
    taken: Taken,
) where
    S: Stack,
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let config = &shared.config;
    let service = hyper::service::service_fn({
        let shared = shared.clone();
        let connection = connection.clone();
        move |request| handle(shared.clone(), connection.clone(), request)
    });
    // A PROXY protocol header from the proxies that send one (unix socket
    // peers included), none from anyone else.
    let proxy = match connection.peer {
        Some(peer) if !config.proxy_allow_ips.trusts(peer.ip()) => ProxyProtocol::Off,
        _ => config.proxy_protocol,
    };
    let log = (config.access_log.is_some() || config.stats.is_some()).then(|| RefusalLog {
        format: config.access_log.as_ref().map(|log| log.format.clone()),
        peer: connection.peer,
        stats: config.stats.clone(),
    });
    // The stream carries the connection's place in the drain and its slot:
    // a connection upgraded to a WebSocket leaves hyper with them, and they
    // are released only when the application drops the socket.
    let Taken {
        permit,
        activity,
        listed,
    } = taken;
    let strict = Strict::new(stream, config.strict, log)
        .with_body_limits(config.body_read_timeout, config.body_min_rate)
        .with_send_timeout(config.send_timeout)
        .with_head_timeout(config.keepalive)
        .with_proxy(proxy, connection.clone());
    let mut builder = Builder::new(TokioExecutor::new());
    if strict.keeps_head_timeout() {
        builder.http1().header_read_timeout(None);
    } else {
        builder
            .http1()
            .timer(HeadTimer::default())
            .header_read_timeout(config.keepalive);
    }
    builder
        .http1()
        // A client that sends its request and then shuts down its side
        // (`nc -N`, some health checkers) still gets its response: without
        // this, hyper takes the end of the stream mid-request as the
        // client gone and drops the response.
        .half_close(true);
    if config.request_fields != HYPER_DEFAULT_FIELDS {
        builder.http1().max_headers(config.request_fields);
    }
    let stream = Held {
        inner: strict,
        activity,
        _open: open,
        _slot: permit,
        _counted: config.stats.as_ref().map(|stats| stats.open()),
    };
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(conn);
    // Biased: the connection first, as it is what wakes the task almost
    // every time (and no random branch order to draw on each wake).
    let result = tokio::select! {
        biased;
        result = conn.as_mut() => result,
        told = listed.told() => match told {
            Told::StopNow => return,
            // Idle while new clients wait for a slot: hyper closes it now
            // if it is idle, or after the response it turns out to be
            // sending.
            Told::MakeRoom => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
            Told::Stop => {
                // A connection accepted just before the stop has a request
                // on its way: hyper would close it as idle, failing that
                // request. Wait for it (bounded by the header timeout)
                // before closing.
                if !connection.started.load(Ordering::Acquire) {
                    tokio::select! {
                        result = conn.as_mut() => return log_result(result),
                        _ = connection.first_request.notified() => {}
                        _ = tokio::time::sleep(config.keepalive) => {}
                    }
                }
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        },
    };
    log_result(result);
}

fn log_result<E: std::fmt::Display>(result: Result<(), E>) {
    if let Err(e) = result {
        debug!("connection closed with an error: {e}");
    }
}

/// One request: the environ in, the layered application called, the count
/// towards max_requests kept.
async fn handle<S: Stack>(
    shared: Arc<Shared<S>>,
    connection: Arc<Connection>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    if !connection.started.swap(true, Ordering::AcqRel) {
        connection.first_request.notify_one();
    }
    let config = &shared.config;
    // The client: as a PROXY protocol header named it, else the peer.
    let peer = connection.proxied.get().copied().or(connection.peer);
    let in_flight = config
        .stats
        .as_ref()
        .map(|stats| (stats.begin(), request.method().clone()));
    let environ = Environ::new(
        peer,
        connection.server_addr.clone(),
        config.script_name.clone(),
        request.headers(),
        &config.forwarded_allow_ips,
    );
    let kept = config
        .access_log
        .as_ref()
        .map(|log| log.keep(&request, environ.client_addr));
    let mut request = request.map(Body::new);
    // hyper leaves the map empty unless the request asks for an upgrade.
    let extensions = request.extensions_mut();
    if extensions.is_empty() {
        *extensions = ROOMY.with(Extensions::clone);
    }
    if let Some(peer) = peer {
        request.extensions_mut().insert(ConnectInfo(peer));
    }
    request.extensions_mut().insert(environ);
    let Ok(response) = shared.service.clone().oneshot(request).await;
    if let (Some(log), Some(kept)) = (&config.access_log, &kept) {
        log.write(kept, &response);
    }
    if let Some((in_flight, method)) = in_flight {
        in_flight.answered(&method, response.status().as_u16());
    }

    let served = shared.served.fetch_add(1, Ordering::Relaxed) + 1;
    if shared.config.recycle_after == Some(served) {
        if shared.config.supervised {
            // Under `rg serve`, keep serving until the master has a
            // replacement READY and sends SIGTERM, so capacity never dips.
            let recycle = rg_contract::notify::Notification::recycle(served);
            let _ = shared.config.notifier.send(&recycle);
        } else {
            shared.stop.send_if_modified(|stop| {
                let first = stop.is_none();
                if first {
                    *stop = Some(Stop::Graceful(Reason::MaxRequests));
                }
                first
            });
        }
    }
    Ok(response)
}

thread_local! {
    /// An empty extension map with room for seven: a request's starts as a
    /// clone of it. Grown from nothing, the map would be allocated for
    /// three, then regrown and rehashed when axum's router adds its three
    /// (`OriginalUri`, `MatchedPath`, the path parameters) to the runtime's
    /// two. A clone of the empty map is allocated at its final size at
    /// once. (A clone of a map holding the runtime's two values cost more
    /// than the regrowth: each value is boxed again.)
    static ROOMY: Extensions = roomy();
}

fn roomy() -> Extensions {
    #[derive(Clone)]
    struct Room<const N: usize>;
    let mut extensions = Extensions::new();
    extensions.insert(Room::<0>);
    extensions.insert(Room::<1>);
    extensions.insert(Room::<2>);
    extensions.insert(Room::<3>);
    extensions.insert(Room::<4>);
    extensions.insert(Room::<5>);
    extensions.insert(Room::<6>);
    // Clearing keeps the room.
    extensions.clear();
    extensions
}

/// Vectored writes up to this many bytes are copied into one buffer and
/// written with `write(2)` (measured side by side on one core: 1-3% on a
/// hello world; hyper's own flattening, `writev(false)`, bought 9% there
/// but cost 4% at 16 KiB and 17% at 256 KiB, as it copies every body).
const COALESCE: usize = 4096;

thread_local! {
    /// The copy of a small vectored write, reused on each thread.
    static COALESCED: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::with_capacity(COALESCE));
}

pin_project_lite::pin_project! {
    /// A connection's stream with what it holds: its place in the drain
    /// (`open`), its slot of `worker_connections`, and its place in the
    /// metrics' count of open connections. It tells the slots when the
    /// connection reads and writes, so they know which ones are idle.
    struct Held<T> {
        #[pin]
        inner: T,
        activity: Arc<Activity>,
        _open: mpsc::Sender<()>,
        _slot: Option<OwnedSemaphorePermit>,
        _counted: Option<Open>,
    }
}

impl<T: AsyncRead> AsyncRead for Held<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let poll = this.inner.poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.read();
        }
        poll
    }
}

impl<T: AsyncWrite> AsyncWrite for Held<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.project();
        let poll = this.inner.poll_write(cx, buf);
        if let Poll::Ready(Ok(1..)) = poll {
            this.activity.wrote();
        }
        poll
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.project();
        let poll = if bufs.len() > 1 && bufs.iter().map(|b| b.len()).sum::<usize>() <= COALESCE {
            // A small response in pieces (hyper's head, then the body):
            // one plain write of a copy is cheaper for the kernel than a
            // writev of the pieces.
            COALESCED.with_borrow_mut(|flat| {
                flat.clear();
                for b in bufs {
                    flat.extend_from_slice(b);
                }
                this.inner.poll_write(cx, flat)
            })
        } else {
            this.inner.poll_write_vectored(cx, bufs)
        };
        if let Poll::Ready(Ok(1..)) = poll {
            this.activity.wrote();
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
