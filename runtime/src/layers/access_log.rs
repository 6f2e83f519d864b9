//! The access log as a layer: what a line needs is kept when the request
//! arrives (before the application takes the request), and the line is
//! written when the response is ready.
//!
//! Lines are rendered into a buffer each thread reuses and written straight
//! to the access log's sink (buffered in production, flushed every 200 ms
//! off the request path): no allocation for the line and no `tracing`
//! dispatch per request. Only when the application installed a `tracing`
//! subscriber of its own before rg's do lines go out as events with the
//! target [`rg_contract::logging::ACCESS_TARGET`], for it to route. The
//! layer is only in the stack when the access log is on.

use std::cell::RefCell;
use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Instant, SystemTime};

use axum::body::Body;
use http::{HeaderName, HeaderValue, Method, Request, Response, Uri, Version};
use hyper::body::Body as _;
use rg_contract::access_log::{AccessFormat, AccessRecord};
use rg_contract::logging::{ACCESS_TARGET, Sink};
use tower::{Layer, Service};

use crate::environ::Environ;

/// Writes one access log line per request.
#[derive(Debug, Clone)]
pub(crate) struct AccessLogLayer {
    format: Arc<AccessFormat>,
    /// The request headers the format prints, kept per request.
    headers: Arc<[HeaderName]>,
    /// Where lines go; `None`: as `tracing` events.
    sink: Option<Arc<Sink>>,
}

impl AccessLogLayer {
    pub(crate) fn new(format: AccessFormat, sink: Option<Arc<Sink>>) -> AccessLogLayer {
        AccessLogLayer {
            headers: format.request_headers().into(),
            format: Arc::new(format),
            sink,
        }
    }
}

thread_local! {
    /// The line being written, reused for every request on this thread.
    static LINE: RefCell<String> = RefCell::new(String::with_capacity(256));
}

impl<S> Layer<S> for AccessLogLayer {
    type Service = AccessLog<S>;
    fn layer(&self, inner: S) -> AccessLog<S> {
        AccessLog {
            layer: self.clone(),
            inner,
        }
    }
}

/// The service [`AccessLogLayer`] makes.
#[derive(Debug, Clone)]
pub(crate) struct AccessLog<S> {
    layer: AccessLogLayer,
    inner: S,
}

/// What a line needs from the request.
struct Kept {
    format: Arc<AccessFormat>,
    sink: Option<Arc<Sink>>,
    started: Instant,
    time: SystemTime,
    remote: Option<IpAddr>,
    method: Method,
    /// The request's URI (a clone shares its bytes: no copy of the path).
    uri: Uri,
    version: Version,
    headers: Vec<(HeaderName, Option<HeaderValue>)>,
}

impl<S> Service<Request<Body>> for AccessLog<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Logged<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Logged<S::Future> {
        let kept = Kept {
            format: self.layer.format.clone(),
            sink: self.layer.sink.clone(),
            started: Instant::now(),
            time: SystemTime::now(),
            remote: request.extensions().get::<Environ>().and_then(|e| e.client_addr),
            method: request.method().clone(),
            uri: request.uri().clone(),
            version: request.version(),
            headers: self
                .layer
                .headers
                .iter()
                .map(|n| (n.clone(), request.headers().get(n).cloned()))
                .collect(),
        };
        Logged {
            inner: self.inner.call(request),
            kept: Some(kept),
        }
    }
}

pin_project_lite::pin_project! {
    /// The inner service's future, logging its response.
    pub(crate) struct Logged<F> {
        #[pin]
        inner: F,
        kept: Option<Kept>,
    }
}

impl<F> Future for Logged<F>
where
    F: Future<Output = Result<Response<Body>, Infallible>>,
{
    type Output = Result<Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(response) = ready!(this.inner.poll(cx));
        if let Some(kept) = this.kept.take() {
            let record = AccessRecord {
                remote: kept.remote,
                time: kept.time,
                method: &kept.method,
                path_and_query: kept.uri.path_and_query().map_or("/", |p| p.as_str()),
                version: kept.version,
                status: response.status(),
                bytes: response.body().size_hint().exact(),
                duration: kept.started.elapsed(),
                request_headers: &kept.headers,
                response_headers: response.headers(),
            };
            match &kept.sink {
                Some(sink) => LINE.with_borrow_mut(|line| {
                    line.clear();
                    kept.format.render_into(line, &record);
                    line.push('\n');
                    sink.write_all(line.as_bytes());
                }),
                None => {
                    let line = kept.format.render(&record);
                    tracing::info!(target: ACCESS_TARGET, "{line}");
                }
            }
        }
        Poll::Ready(Ok(response))
    }
}
