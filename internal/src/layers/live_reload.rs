//! Development mode (`RG_DEV=1`, set by `rg runserver`): live reload, as a
//! layer around the application.
//!
//! HTML responses (uncompressed `text/html`) get the script of
//! [`rg_contract::live_reload`] before `</body>`; the reload path is served
//! here as an event stream that sends this process's build id, a new id
//! each time `rg runserver` asks for a reload (a saved template: see
//! [`reload_browsers`]), and ends when the process starts to stop.
//! Non-HTML responses are never touched. The layer is only in the stack in
//! dev mode, so production pays nothing.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use http::header::{CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use rg_contract::live_reload;
use tokio::sync::watch;
use tower::{Layer, Service};

use crate::stop::Stopping;

/// Adds live reload to the application.
#[derive(Debug, Clone)]
pub(crate) struct LiveReloadLayer {
    /// Identifies this process to the browser.
    pub(crate) build_id: Arc<str>,
    /// The worker's stop, which ends the event streams.
    pub(crate) stop: Stopping,
}

impl<S> Layer<S> for LiveReloadLayer {
    type Service = LiveReload<S>;
    fn layer(&self, inner: S) -> LiveReload<S> {
        LiveReload {
            layer: self.clone(),
            inner,
        }
    }
}

/// The service [`LiveReloadLayer`] makes.
#[derive(Debug, Clone)]
pub(crate) struct LiveReload<S> {
    layer: LiveReloadLayer,
    inner: S,
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

impl<S> Service<Request<Body>> for LiveReload<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> BoxFuture {
        if request.uri().path() == live_reload::PATH {
            let stop = self.layer.stop.clone();
            let until = async move {
                stop.begun().await;
            };
            let response = events(&self.layer.build_id, until);
            return Box::pin(async move { Ok(response) });
        }
        let response = self.inner.call(request);
        Box::pin(async move {
            let Ok(response) = response.await;
            Ok(inject(response).await)
        })
    }
}

fn reloads() -> &'static watch::Sender<u64> {
    static RELOADS: OnceLock<watch::Sender<u64>> = OnceLock::new();
    RELOADS.get_or_init(|| watch::channel(0).0)
}

/// Tells every open page to reload (`rg runserver` asks with
/// `live_reload::RELOAD_SIGNAL` when a file the binary reads at run time
/// was saved).
pub(crate) fn reload_browsers() {
    reloads().send_modify(|n| *n += 1);
}

/// The event stream: the current id, a new one at each reload, until
/// `until` completes, which ends the stream (and lets a graceful stop
/// finish).
fn events(build_id: &str, until: impl Future<Output = ()> + Send + 'static) -> Response<Body> {
    let build_id: Arc<str> = build_id.into();
    let mut generation = reloads().subscribe();
    let first = current(&build_id, &mut generation);
    let until: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(until);
    let state = (Some(first), until, generation, build_id);
    let stream = futures_util::stream::unfold(state, |(next, mut until, mut generation, id)| async move {
        if let Some(event) = next {
            return Some((Ok::<_, Infallible>(event), (None, until, generation, id)));
        }
        tokio::select! {
            () = until.as_mut() => None,
            changed = generation.changed() => {
                if changed.is_err() {
                    return None;
                }
                let event = current(&id, &mut generation);
                Some((Ok(event), (None, until, generation, id)))
            }
        }
    });
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The event for the build and reload count seen now.
fn current(build_id: &str, generation: &mut watch::Receiver<u64>) -> Bytes {
    let n = *generation.borrow_and_update();
    Bytes::from(live_reload::event(&format!("{build_id}.{n}")))
}

/// Adds the script to an uncompressed HTML response; anything else is
/// returned as it was.
async fn inject(response: Response<Body>) -> Response<Body> {
    let is_html = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/html"));
    if !is_html || response.headers().contains_key(CONTENT_ENCODING) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            tracing::error!("reading an HTML response to add the live-reload script: {e}");
            parts.status = StatusCode::INTERNAL_SERVER_ERROR;
            return Response::from_parts(parts, Body::empty());
        }
    };
    parts.headers.remove(CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(live_reload::with_script(&bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_html_is_touched() {
        let json = Response::builder()
            .header(CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .unwrap();
        let out = inject(json).await.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&out[..], b"{}");
        let html = Response::builder()
            .header(CONTENT_TYPE, "text/html; charset=utf-8")
            .header(CONTENT_LENGTH, "4")
            .body(Body::from("<p/>"))
            .unwrap();
        let out = inject(html).await;
        assert!(out.headers().get(CONTENT_LENGTH).is_none());
        let body = out.into_body().collect().await.unwrap().to_bytes();
        assert!(String::from_utf8_lossy(&body).contains("data-rg-live-reload"));
    }
}
