//! HTTP/2 held to HTTP/1.1's clocks: hyper closes neither an HTTP/2
//! connection without streams nor a stream whose body stalls, so rg asks the
//! first to close (GOAWAY) after `keepalive` and answers the second 408.

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http::{Request, Response, StatusCode, header};
use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use tokio::task::AbortHandle;
use tokio::time::{Instant, Sleep};

/// The HTTP/2 connection preface (RFC 9113 §3.4), which the HTTP/1 layers
/// let through (or, with `http = 1`, refuse).
pub(super) const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

use super::coarse;
use super::slots::Activity;

/// One HTTP/2 connection's streams in flight, and since when it has had none.
pub(super) struct Streams {
    open: AtomicUsize,
    /// [`coarse::millis`] when the last stream ended, or the connection began.
    quiet_since: AtomicU64,
    watcher: OnceLock<AbortHandle>,
}

impl Streams {
    pub(super) fn new() -> Arc<Streams> {
        Arc::new(Streams {
            open: AtomicUsize::new(0),
            quiet_since: AtomicU64::new(coarse::millis()),
            watcher: OnceLock::new(),
        })
    }

    /// The connection is HTTP/2: from now on it is asked to close through
    /// `activity` once it has gone `keepalive` without a stream.
    pub(super) fn watch(self: &Arc<Self>, activity: Arc<Activity>, keepalive: Duration) {
        let streams = Arc::downgrade(self);
        let watcher = tokio::spawn(async move {
            let mut wait = keepalive;
            loop {
                tokio::time::sleep(wait).await;
                let Some(streams) = streams.upgrade() else { return };
                let quiet = coarse::millis().saturating_sub(streams.quiet_since.load(Ordering::Acquire));
                let keepalive_ms = keepalive.as_millis() as u64;
                if streams.open.load(Ordering::Acquire) > 0 {
                    wait = keepalive;
                } else if quiet >= keepalive_ms {
                    activity.ask_to_close();
                    return;
                } else {
                    wait = Duration::from_millis(keepalive_ms - quiet);
                }
            }
        });
        if self.watcher.set(watcher.abort_handle()).is_err() {
            watcher.abort();
        }
    }

    /// Whether the connection is HTTP/2 (and so watched).
    pub(super) fn watched(&self) -> bool {
        self.watcher.get().is_some()
    }

    /// A stream begins: it is in flight until its response is sent, and its
    /// body must keep coming within `body_read_timeout`.
    pub(super) fn request(
        self: &Arc<Self>,
        request: Request<Incoming>,
        body_read_timeout: Option<Duration>,
    ) -> (Request<axum::body::Body>, Stream) {
        self.open.fetch_add(1, Ordering::AcqRel);
        let in_flight = InFlight(self.clone());
        let Some(timeout) = body_read_timeout else {
            let stream = Stream {
                in_flight,
                stalled: None,
            };
            return (request.map(axum::body::Body::new), stream);
        };
        let stalled = Arc::new(AtomicBool::new(false));
        let body = |body| axum::body::Body::new(Stalling::new(body, timeout, stalled.clone()));
        let request = request.map(body);
        let stream = Stream {
            in_flight,
            stalled: Some(stalled),
        };
        (request, stream)
    }
}

/// One HTTP/2 request's stream, from its HEADERS until its response is sent.
pub(super) struct Stream {
    in_flight: InFlight,
    stalled: Option<Arc<AtomicBool>>,
}

impl Stream {
    /// The application's response, or 408 if the body stalled; the stream
    /// is in flight until the response's body has been sent.
    pub(super) fn respond(self, response: Response<axum::body::Body>) -> Response<axum::body::Body> {
        let stalled = self
            .stalled
            .is_some_and(|stalled| stalled.load(Ordering::Acquire));
        let response = if stalled { request_timeout() } else { response };
        let in_flight = self.in_flight;
        response.map(|inner| {
            axum::body::Body::new(Counted {
                inner,
                _in_flight: in_flight,
            })
        })
    }
}

/// The answer to a request whose body stalled past `body_read_timeout`.
#[cold]
fn request_timeout() -> Response<axum::body::Body> {
    let mut response = Response::new(axum::body::Body::from("The request body timed out\n"));
    *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
    let text = http::HeaderValue::from_static("text/plain; charset=utf-8");
    response.headers_mut().insert(header::CONTENT_TYPE, text);
    response
}

impl Drop for Streams {
    fn drop(&mut self) {
        if let Some(watcher) = self.watcher.get() {
            watcher.abort();
        }
    }
}

/// A stream in flight: held by its response's body until that is sent.
struct InFlight(Arc<Streams>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.quiet_since.store(coarse::millis(), Ordering::Release);
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its stream counted in flight while it is sent.
struct Counted<B> {
    inner: B,
    _in_flight: InFlight,
}

impl<B: Body + Unpin> Body for Counted<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A request body the client must keep sending while the application waits
/// for it: `timeout` without a frame ends it with an error, and `expired`
/// tells the connection to answer 408 instead of what the application made
/// of that error.
struct Stalling<B> {
    inner: B,
    timeout: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    expired: Arc<AtomicBool>,
}

impl<B> Stalling<B> {
    fn new(inner: B, timeout: Duration, expired: Arc<AtomicBool>) -> Stalling<B> {
        Stalling {
            inner,
            timeout,
            sleep: None,
            expired,
        }
    }
}

impl<B> Body for Stalling<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.sleep = None;
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        let timeout = this.timeout;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(Instant::now() + timeout)));
        ready!(sleep.as_mut().poll(cx));
        this.expired.store(true, Ordering::Release);
        let secs = timeout.as_secs_f64();
        Poll::Ready(Some(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("the client sent no more of the request body for {secs} s"),
        )
        .into())))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
