//! Development mode (`RG_DEV=1`, set by `rg runserver`): live reload.
//!
//! Every HTML page gets a small script that listens on [`RELOAD_PATH`], an
//! event stream that sends this process's build id once and then stays
//! open until the process stops. When `rg runserver` replaces the process,
//! the stream ends, the browser reconnects (to the new process, or to
//! rg's error page while the build is broken), sees a different build id,
//! and reloads. Non-HTML responses are never touched.

use std::future::Future;
use std::pin::Pin;

use axum::body::{Body, Bytes};
use http::header::{CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Response, StatusCode};
use http_body_util::BodyExt as _;
use tokio::sync::watch;

use crate::server::Stop;

/// The live-reload event stream's path.
pub const RELOAD_PATH: &str = "/__rg/reload";

/// The script injected into HTML pages (and rg's own error page): reload
/// once the server's build id changes.
pub const SCRIPT: &str = r#"<script data-rg-live-reload>(function(){var seen=null;function connect(){var s=new EventSource("/__rg/reload");s.onmessage=function(e){if(seen===null){seen=e.data}else if(e.data!==seen){s.close();location.reload()}};}connect();})();</script>"#;

/// The event stream: `retry` short, so the browser reconnects within
/// 100 ms of a restart; the build id; then nothing until `until` completes,
/// which ends the stream (and lets a graceful stop finish).
pub fn reload_events(build_id: &str, until: impl Future<Output = ()> + Send + 'static) -> Response<Body> {
    let first = Bytes::from(format!("retry: 100\ndata: {build_id}\n\n"));
    let until: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(until);
    let stream = futures_util::stream::unfold((Some(first), until), |(first, mut until)| async move {
        match first {
            Some(first) => Some((Ok::<_, std::convert::Infallible>(first), (None, until))),
            None => {
                until.as_mut().await;
                None
            }
        }
    });
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The stream's end for a runtime process: when it starts to stop.
pub(crate) async fn until_stopping(mut stop: watch::Receiver<Option<Stop>>) {
    let _ = stop.wait_for(Option::is_some).await;
}

/// Adds [`SCRIPT`] to an uncompressed HTML response, before `</body>` or at
/// the end; anything else is returned as it was.
pub async fn inject(response: Response<Body>) -> Response<Body> {
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
    Response::from_parts(parts, Body::from(with_script(&bytes)))
}

/// `html` with the script inserted before the last `</body>`, or appended.
pub fn with_script(html: &[u8]) -> Vec<u8> {
    let lower = html.to_ascii_lowercase();
    let at = lower
        .windows(7)
        .rposition(|w| w == b"</body>")
        .unwrap_or(html.len());
    let mut out = Vec::with_capacity(html.len() + SCRIPT.len());
    out.extend_from_slice(&html[..at]);
    out.extend_from_slice(SCRIPT.as_bytes());
    out.extend_from_slice(&html[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_goes_before_the_closing_body_tag() {
        let out = String::from_utf8(with_script(b"<html><BODY>hi</BODY></html>")).unwrap();
        assert!(
            out.starts_with("<html><BODY>hi<script data-rg-live-reload>"),
            "{out}"
        );
        assert!(out.ends_with("</script></BODY></html>"), "{out}");
        let out = String::from_utf8(with_script(b"<p>fragment")).unwrap();
        assert!(out.ends_with("</script>"));
    }

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
