//! The access log as a layer: what a line needs is kept when the request
//! arrives (before the application takes the request), and the line is
//! written when the response is ready.
//!
//! Lines go out as `tracing` events with the target
//! [`rg_contract::logging::ACCESS_TARGET`], which the log setup routes to
//! the access log's sink (buffered, flushed off the request path). The
//! layer is only in the stack when the access log is on.

use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Instant, SystemTime};

use axum::body::Body;
use http::{HeaderName, HeaderValue, Method, Request, Response, Version};
use hyper::body::Body as _;
use rg_contract::access_log::{AccessFormat, AccessRecord};
use rg_contract::logging::ACCESS_TARGET;
use tower::{Layer, Service};

use crate::environ::Environ;

/// Writes one access log line per request.
#[derive(Debug, Clone)]
pub(crate) struct AccessLogLayer {
    format: Arc<AccessFormat>,
    /// The request headers the format prints, kept per request.
    headers: Arc<[HeaderName]>,
}

impl AccessLogLayer {
    pub(crate) fn new(format: AccessFormat) -> AccessLogLayer {
        AccessLogLayer {
            headers: format.request_headers().into(),
            format: Arc::new(format),
        }
    }
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
    started: Instant,
    time: SystemTime,
    remote: Option<IpAddr>,
    method: Method,
    path: String,
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
            started: Instant::now(),
            time: SystemTime::now(),
            remote: request.extensions().get::<Environ>().and_then(|e| e.client_addr),
            method: request.method().clone(),
            path: request
                .uri()
                .path_and_query()
                .map_or_else(|| "/".into(), |p| p.as_str().to_string()),
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
            let line = kept.format.render(&AccessRecord {
                remote: kept.remote,
                time: kept.time,
                method: &kept.method,
                path_and_query: &kept.path,
                version: kept.version,
                status: response.status(),
                bytes: response.body().size_hint().exact(),
                duration: kept.started.elapsed(),
                request_headers: &kept.headers,
                response_headers: response.headers(),
            });
            tracing::info!(target: ACCESS_TARGET, "{line}");
        }
        Poll::Ready(Ok(response))
    }
}
