//! One connection: hyper serves it (HTTP/1.1 or HTTP/2), each request gets
//! its [`Origin`] and goes through the layered application, and a stop is
//! honoured without losing a request already on its way.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use rg_contract::notify::Notification;
use rg_contract::settings::{HttpVersions, ProxyProtocol};
use tokio::sync::{Notify, OwnedSemaphorePermit, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tower::{Service, ServiceExt as _};
use tracing::{debug, error};

use super::config::Shared;
use super::handshake::{handshake, read_proxy_header};
use super::http2::Streams;
use super::presized;
use super::slots::{Activity, CloseRequest, Listed, Place};
use super::stream::Io;
use super::stream::deadlines::{self, Deadlines};
use super::stream::gate::Gate;
use super::stream::refusal::{self, RefusalLog};
use super::stream::rewind::Rewind;
use super::stream::sniff::Sniff;
use super::stream::tracked::Tracked;
use super::stream::versions::{self, Checked};
use super::timer::HeadTimer;
use crate::environ::Origin;
use crate::panics::{Catching, Panicked};
use crate::stop::{Reason, Stop};

/// How long a draining keep-alive connection, idle, waits for its client's
/// next request before it closes: a busy client sends it at once.
const NEXT_REQUEST: Duration = Duration::from_secs(1);

/// hyper's default header array length: asking for this many costs nothing,
/// any other number makes hyper allocate the array per request.
const HYPER_DEFAULT_FIELDS: usize = 100;

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
struct Connection {
    /// The client (as a PROXY protocol header named it, else the peer),
    /// the address it reached, TLS and the certificate it showed.
    origin: Arc<Origin>,
    /// Requests begun; once `draining`, each notifies `arrived`.
    requests: AtomicU64,
    draining: AtomicBool,
    arrived: Notify,
    /// Its HTTP/2 streams in flight, once it turns out to be HTTP/2.
    streams: Arc<Streams>,
}

/// Serves one connection from `peer` until it closes, the worker stops,
/// or the accept loop needs its slot while it is idle (both told through
/// its slot). What `place` holds is held for as long as the socket lives.
pub(super) async fn serve<S, T>(
    stream: T,
    peer: Option<SocketAddr>,
    server_addr: Arc<str>,
    shared: Arc<Shared<S>>,
    tls: Option<Arc<ServerConfig>>,
    open: mpsc::Sender<()>,
    place: Place,
) where
    S: Stack,
    T: Io,
{
    let config = &shared.config;
    let Place {
        permit,
        activity,
        listed,
    } = place;
    let log = (config.access_log.is_some() || config.stats.is_some()).then(|| RefusalLog {
        format: config.access_log.as_ref().map(|log| log.format.clone()),
        client: peer,
        stats: config.stats.clone(),
    });
    // A PROXY protocol header from the proxies that send one (unix socket
    // peers included), none from anyone else.
    let proxy = match peer {
        Some(peer) if !config.proxy_allow_ips.trusts(peer.ip()) => ProxyProtocol::Off,
        _ => config.proxy_protocol,
    };
    let (stream, client) = if proxy == ProxyProtocol::Off {
        (Rewind::new(stream), peer)
    } else {
        match read_proxy_header(stream, proxy, config.keepalive, &listed, log.as_ref()).await {
            Some((stream, source)) => (stream, source.or(peer)),
            None => return,
        }
    };
    let log = log.map(|log| RefusalLog { client, ..log });
    let connection = |secure, client_cert_subject| {
        Arc::new(Connection {
            origin: Arc::new(Origin::new(
                client,
                server_addr,
                config.script_name.clone(),
                &config.forwarded_allow_ips,
                secure,
                client_cert_subject,
            )),
            requests: AtomicU64::new(0),
            draining: AtomicBool::new(false),
            arrived: Notify::new(),
            streams: Streams::new(),
        })
    };
    // An HTTP/2 connection is told to close after `keepalive` without a stream.
    let (keepalive, watched) = (config.keepalive, activity.clone());
    let http2 = move |connection: &Connection| connection.streams.watch(watched, keepalive);
    let holds = Holds {
        activity,
        open,
        permit,
        listed,
    };
    match tls {
        None if config.http != HttpVersions::Auto => {
            let check = versions::check(stream, config.http);
            match handshake(check, config.keepalive, &holds.listed, "version").await {
                Some(Checked::Served(stream)) => {
                    let connection = connection(false, None);
                    if config.http == HttpVersions::Two {
                        http2(&connection);
                    }
                    serve_http(stream, connection, log, shared, holds).await;
                }
                Some(Checked::Refused(stream, refusal)) => {
                    if let Some(log) = &log {
                        log.refused(b"", &refusal, 0, false);
                    }
                    refusal::linger(stream, refusal.response()).await;
                }
                Some(Checked::Closed) | None => debug!("closed a connection in an HTTP version not served"),
            }
        }
        None => {
            let connection = connection(false, None);
            let sniffed = connection.clone();
            let stream = Sniff::new(stream, move || http2(&sniffed));
            serve_http(stream, connection, log, shared, holds).await;
        }
        Some(tls) => {
            let accept = TlsAcceptor::from(tls).accept(stream);
            if let Some(stream) = handshake(accept, config.keepalive, &holds.listed, "TLS").await {
                let (_, session) = stream.get_ref();
                let subject = session
                    .peer_certificates()
                    .and_then(|chain| chain.first())
                    .and_then(|cert| rg_contract::tls::subject(cert))
                    .map(Arc::from);
                let connection = connection(true, subject);
                if session.alpn_protocol() == Some(b"h2") {
                    http2(&connection);
                }
                serve_http(stream, connection, log, shared, holds).await;
            }
        }
    }
}

/// What a connection holds while it is served: its slot, its place in the
/// drain and on the list of connections that may be asked to close.
struct Holds {
    activity: Arc<Activity>,
    open: mpsc::Sender<()>,
    permit: Option<OwnedSemaphorePermit>,
    listed: Listed,
}

/// Serves HTTP on `stream`, once its handshakes are done.
async fn serve_http<S: Stack, T: Io>(
    stream: T,
    connection: Arc<Connection>,
    log: Option<RefusalLog>,
    shared: Arc<Shared<S>>,
    holds: Holds,
) {
    let config = &shared.config;
    let Holds {
        activity,
        open,
        permit,
        listed,
    } = holds;
    let service = hyper::service::service_fn({
        let shared = shared.clone();
        let connection = connection.clone();
        move |request| handle(shared.clone(), connection.clone(), request)
    });
    // With the validator on, the deadlines layer keeps the header timeout
    // (it knows where heads end), and hyper need not.
    let head = config.strict.map(|_| config.keepalive);
    let deadlines = Deadlines::new(
        stream,
        deadlines::Limits {
            head,
            body: config.body_read_timeout,
            body_min_rate: config.body_min_rate,
            send: config.send_timeout,
        },
    );
    // The stream carries the connection's place in the drain and its slot:
    // a connection upgraded to a WebSocket leaves hyper with them, and they
    // are released only when the application drops the socket.
    let stream = Tracked {
        inner: Gate::new(deadlines, config.strict, log),
        activity,
        _open: open,
        _slot: permit,
        _counted: config.stats.as_ref().map(|stats| stats.open()),
    };
    let mut builder = match config.http {
        HttpVersions::Auto => Builder::new(TokioExecutor::new()),
        HttpVersions::One => Builder::new(TokioExecutor::new()).http1_only(),
        HttpVersions::Two => Builder::new(TokioExecutor::new()).http2_only(),
    };
    if head.is_some() {
        builder.http1().header_read_timeout(None);
    } else {
        builder
            .http1()
            .timer(HeadTimer::default())
            .header_read_timeout(config.keepalive);
    }
    builder
        .http2()
        .max_concurrent_streams(config.http2.max_concurrent_streams)
        .max_header_list_size(config.http2.max_header_list_size)
        .max_pending_accept_reset_streams(config.http2.max_reset_streams);
    if config.http2.websockets {
        builder.http2().enable_connect_protocol();
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
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(conn);
    // Biased: the connection first, as it is what wakes the task almost
    // every time (and no random branch order to draw on each wake).
    let result = tokio::select! {
        biased;
        result = conn.as_mut() => result,
        asked = listed.close_requested() => match asked {
            CloseRequest::Now => return,
            // Idle while new clients wait for a slot: hyper closes it now
            // if it is idle, or after the response it turns out to be
            // sending.
            CloseRequest::Idle => {
                conn.as_mut().graceful_shutdown();
                if !connection.streams.watched() {
                    conn.await
                } else {
                    // HTTP/2 closes once the client answers GOAWAY's PING:
                    // one that does not gets `keepalive` for it, no more.
                    match tokio::time::timeout(config.keepalive, conn.as_mut()).await {
                        Ok(result) => result,
                        Err(_) => return,
                    }
                }
            }
            CloseRequest::Graceful => {
                // hyper closes an idle HTTP/1 connection at once, failing a
                // request already on its way (the first of a connection just
                // accepted, the next of a kept-alive one): wait for it, and
                // close after its answer, which says `Connection: close`.
                let arrived = connection.arrived.notified();
                tokio::pin!(arrived);
                arrived.as_mut().enable();
                connection.draining.store(true, Ordering::SeqCst);
                let seen = connection.requests.load(Ordering::SeqCst);
                let patience = if seen == 0 { config.keepalive } else { NEXT_REQUEST };
                if !connection.streams.watched() {
                    tokio::select! {
                        result = conn.as_mut() => return log_result(result),
                        () = arrived => {}
                        () = tokio::time::sleep(patience) => {}
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

/// One request: its origin in, the layered application called, the count
/// towards max_requests kept.
async fn handle<S: Stack>(
    shared: Arc<Shared<S>>,
    connection: Arc<Connection>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    connection.requests.fetch_add(1, Ordering::SeqCst);
    if connection.draining.load(Ordering::SeqCst) {
        connection.arrived.notify_waiters();
    }
    let config = &shared.config;
    let origin = &connection.origin;
    let in_flight = config
        .stats
        .as_ref()
        .map(|stats| (stats.begin(), request.method().clone()));
    let kept =
        (config.access_log.as_ref()).map(|log| log.keep(&request, origin.client_addr(request.headers())));
    // HTTP/2: hyper times neither the stream nor its body.
    let (mut request, stream) = if request.version() == http::Version::HTTP_2 {
        let (request, stream) = connection.streams.request(request, config.body_read_timeout);
        (request, Some(stream))
    } else {
        (request.map(Body::new), None)
    };
    // hyper leaves the map empty unless the request asks for an upgrade.
    let extensions = request.extensions_mut();
    if extensions.is_empty() {
        *extensions = presized::extensions();
    }
    if let Some(peer) = origin.peer() {
        request.extensions_mut().insert(ConnectInfo(peer));
    }
    request.extensions_mut().insert(origin.clone());
    let mut response = match Catching::new(shared.service.clone().oneshot(request)).await {
        Ok(Ok(response)) => response,
        Err(panicked) => panicked_response(&panicked, config),
    };
    let http2 = stream.is_some();
    if let Some(stream) = stream {
        response = stream.respond(response);
    } else if connection.draining.load(Ordering::Relaxed)
        && response.status() != StatusCode::SWITCHING_PROTOCOLS
    {
        // Draining: the connection's last answer says so, or the client's
        // next request meets the close that follows it.
        (response.headers_mut()).insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if let (Some(log), Some(kept)) = (&config.access_log, &kept) {
        log.write(kept, &response);
    }
    if let Some((in_flight, method)) = in_flight {
        in_flight.answered(http2, &method, response.status().as_u16());
    }

    let served = shared.served.fetch_add(1, Ordering::Relaxed) + 1;
    if shared.config.recycle_after == Some(served) {
        if shared.config.supervised {
            // Under `rg serve`, keep serving until the master has a
            // replacement READY and sends SIGTERM, so capacity never dips.
            let recycle = Notification::recycle(served);
            let _ = shared.config.notifier.send(&recycle);
        } else {
            shared.stopping.begin(Stop::Graceful(Reason::MaxRequests));
        }
    }
    Ok(response)
}

/// The answer to a request whose handler panicked, the panic logged and
/// counted; in development the page says what and where, as Django's does.
#[cold]
fn panicked_response(panicked: &Panicked, config: &super::config::Config) -> Response<Body> {
    let Panicked { message, location } = panicked;
    error!("a handler panicked at {location}: {message}; its request was answered 500");
    if let Some(stats) = &config.stats {
        stats.panicked();
    }
    let body = if config.show_panics {
        format!("500 Internal Server Error\n\nThe handler panicked at {location}:\n{message}\n")
    } else {
        "500 Internal Server Error\n".to_string()
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
    let text = http::HeaderValue::from_static("text/plain; charset=utf-8");
    response.headers_mut().insert(http::header::CONTENT_TYPE, text);
    response
}
