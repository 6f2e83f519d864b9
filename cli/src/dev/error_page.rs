//! The page `rg runserver` serves itself while the application cannot run:
//! the compiler's errors while the build is broken, or how the application
//! exited. Every request gets it with status 500, so whatever the browser
//! asked for, the developer sees why; the page reloads itself (through the
//! same live-reload stream as the application's pages) once the application
//! is back.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::TcpListener;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::response::{Html, IntoResponse};
use futures_util::StreamExt as _;
use http::StatusCode;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use rg_contract::live_reload;
use tokio::sync::watch;

use crate::build::cargo::Diagnostic;

/// A running error page; [`ErrorPage::stop`] ends it.
#[derive(Debug)]
pub struct ErrorPage {
    stop: watch::Sender<bool>,
}

impl ErrorPage {
    /// Serves `html` on (a duplicate of) `listener`, over TLS with `tls`,
    /// until stopped.
    pub fn start(
        listener: &TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        html: String,
        build_id: String,
    ) -> Result<ErrorPage> {
        let listener = listener.try_clone().context("duplicating the listening socket")?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let (stop, stopped) = watch::channel(false);
        let html = Arc::new(html);
        let events = {
            let stopped = stopped.clone();
            move || {
                let stopped = stopped.clone();
                let id = build_id.clone();
                async move { reload_events(&id, stopped) }
            }
        };
        let app = Router::new()
            .route(live_reload::PATH, axum::routing::get(events))
            .fallback(move || {
                let html = html.clone();
                async move { (StatusCode::INTERNAL_SERVER_ERROR, Html(html.as_str().to_string())) }
            });
        let tls = tls.map(tokio_rustls::TlsAcceptor::from);
        tokio::spawn(super::page_server::serve(listener, tls, app, stopped));
        Ok(ErrorPage { stop })
    }

    /// Lets go of the socket at once and ends the live-reload streams; the
    /// connections it holds finish in the background (`page_server.rs`),
    /// while the application, or the next page, takes new ones.
    pub fn stop(self) {
        let _ = self.stop.send(true);
    }
}

/// The live-reload stream, as the application serves it: the build id,
/// then nothing until the page stops, which ends the stream and sends the
/// browser to whatever serves next.
fn reload_events(build_id: &str, mut stopped: watch::Receiver<bool>) -> impl IntoResponse + use<> {
    let first = Bytes::from(live_reload::event(build_id));
    let end = futures_util::stream::once(async move {
        let _ = stopped.wait_for(|s| *s).await;
    })
    .filter_map(|()| std::future::ready(None));
    let stream = futures_util::stream::once(std::future::ready(Ok::<_, Infallible>(first))).chain(end);
    (
        [(CONTENT_TYPE, "text/event-stream"), (CACHE_CONTROL, "no-store")],
        Body::from_stream(stream),
    )
}

/// The page for a failed build.
pub fn build_failed(project: &str, diagnostics: &[Diagnostic]) -> String {
    let errors: Vec<&Diagnostic> = diagnostics.iter().filter(|d| d.level == "error").collect();
    let mut body = String::new();
    for d in &errors {
        let _ = write!(
            body,
            "<section><h2>{}: {}</h2>{}<pre>{}</pre></section>",
            escape(&d.level),
            escape(&d.message),
            d.location
                .as_ref()
                .map(|l| format!("<p class=\"loc\">{}</p>", escape(l)))
                .unwrap_or_default(),
            escape(&d.rendered)
        );
    }
    page(
        &format!(
            "Build failed: {} in {}",
            crate::build::cargo::error_summary(diagnostics),
            escape(project)
        ),
        "The last save does not compile. Fix it and save: this page reloads itself when the build succeeds.",
        &body,
    )
}

/// The page for an application that exited on its own.
pub fn app_exited(project: &str, how: &str) -> String {
    page(
        &format!("{} is not running", escape(project)),
        &format!(
            "The application {}. Its output is in the terminal. Save a file to build and start it again; this page reloads itself then.",
            escape(how)
        ),
        "",
    )
}

/// The page for an application that could not start and said why (its
/// setup failed: a database it cannot open, say).
pub fn app_failed(project: &str, error: &str) -> String {
    page(
        &format!("{} could not start", escape(project)),
        "The application built, but its setup failed. Fix the cause and save a file: rg starts it again, and this page reloads itself.",
        &format!("<pre>{}</pre>", escape(error)),
    )
}

fn page(title: &str, explanation: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title><style>\
body{{font:15px/1.5 system-ui,sans-serif;margin:0;color:#222}}\
header{{background:#b3261e;color:#fff;padding:1.2em 2em}}header h1{{margin:0;font-size:1.4em}}\
main{{padding:1em 2em}}h2{{font-size:1.05em;margin:1.5em 0 .2em}}.loc{{margin:0;color:#555;font-family:monospace}}\
pre{{background:#f6f6f6;border:1px solid #ddd;padding:1em;overflow:auto;font-size:13px}}\
</style></head><body><header><h1>{title}</h1><p>{explanation}</p></header><main>{body}</main>{script}</body></html>",
        script = live_reload::SCRIPT
    )
}

/// HTML-escapes text.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_build_page_escapes_and_locates_errors() {
        let html = build_failed(
            "site",
            &[Diagnostic {
                level: "error".into(),
                message: "expected `;`, found `<x>`".into(),
                location: Some("src/application.rs:3:5".into()),
                rendered: "error: expected `;`\n --> src/application.rs:3:5\n  | let x = <x>".into(),
            }],
        );
        assert!(html.contains("Build failed: 1 error in site"));
        assert!(html.contains("<p class=\"loc\">src/application.rs:3:5</p>"));
        assert!(html.contains("found `&lt;x&gt;`"));
        assert!(!html.contains("<x>"));
        assert!(html.contains("data-rg-live-reload"));
    }
}
