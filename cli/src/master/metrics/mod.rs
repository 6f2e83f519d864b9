//! The master's own port, `metrics_bind`: `/metrics` (Prometheus),
//! `/healthz`, `/readyz` and `/status` (what `rg status` prints).
//!
//! The port is served by a task beside the master's loop, but every answer
//! comes from the loop itself: the task asks it over a channel and waits at
//! most [`ANSWER_WITHIN`]. So `/healthz` answering 200 means the loop that
//! supervises the workers is turning, and the pages show one consistent
//! moment of it. Workers' counts reach the loop on the notify socket (see
//! `rg_contract::stats`); `ledger.rs` keeps them across recycling and
//! `render.rs` writes the pages.

pub mod ledger;
pub mod render;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rg_contract::Bind;
use rg_contract::listeners::{self, Listener};
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crate::process::sockets::explain;

/// How long a page waits for the master's loop before answering 503.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(2);

/// A page of the port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// `/metrics`.
    Metrics,
    /// `/healthz`.
    Health,
    /// `/readyz`.
    Ready,
    /// `/status`.
    Status,
}

/// The loop's answer to a page.
#[derive(Debug)]
pub struct Answer {
    /// 200, or 503 for readiness.
    pub status: StatusCode,
    /// The page.
    pub body: String,
    /// Its media type.
    pub content_type: &'static str,
}

impl Answer {
    /// A plain text answer.
    pub fn text(status: StatusCode, body: impl Into<String>) -> Answer {
        Answer {
            status,
            body: body.into(),
            content_type: "text/plain; charset=utf-8",
        }
    }
}

/// A question from the port to the loop.
pub type Ask = (Page, oneshot::Sender<Answer>);

/// The bound port, not yet served.
#[derive(Debug)]
pub struct Port {
    listener: Listener,
    file: Option<PathBuf>,
}

impl Port {
    /// Binds `bind`; the error says why it could not.
    pub fn bind(bind: &Bind) -> Result<Port> {
        let listener = listeners::bind(bind, 64).map_err(|e| explain(bind, e))?;
        let file = match bind {
            Bind::Unix(path) => Some(path.clone()),
            _ => None,
        };
        Ok(Port { listener, file })
    }

    /// Starts serving (inside the master's runtime); the loop answers what
    /// comes out of the returned channel.
    pub fn serve(self) -> Result<(mpsc::Receiver<Ask>, Served)> {
        let (ask, questions) = mpsc::channel::<Ask>(16);
        let app = Router::new()
            .route("/metrics", get(|s: State<_>| page(s, Page::Metrics)))
            .route("/healthz", get(|s: State<_>| page(s, Page::Health)))
            .route("/readyz", get(|s: State<_>| page(s, Page::Ready)))
            .route("/status", get(|s: State<_>| page(s, Page::Status)))
            .fallback(|| async {
                (
                    StatusCode::NOT_FOUND,
                    "Not found. This is rg's metrics port: /metrics, /healthz, /readyz, /status\n",
                )
            })
            .with_state(ask);
        let shown = self.listener.describe();
        match self.listener {
            Listener::Tcp(listener, _) => {
                let listener = tokio::net::TcpListener::from_std(listener)?;
                tokio::spawn(async move { report(axum::serve(listener, app).await) });
            }
            Listener::Unix(listener, _) => {
                let listener = tokio::net::UnixListener::from_std(listener)?;
                tokio::spawn(async move { report(axum::serve(listener, app).await) });
            }
        }
        let shown = if shown.starts_with("unix:") {
            shown
        } else {
            format!("http://{shown}")
        };
        info!("Metrics and health at: {shown} (/metrics, /healthz, /readyz, /status)");
        Ok((questions, Served { file: self.file }))
    }
}

/// The port while it is served: removes its socket file when dropped.
#[derive(Debug)]
pub struct Served {
    file: Option<PathBuf>,
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(path) = &self.file {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn report(served: std::io::Result<()>) {
    if let Err(e) = served {
        warn!("the metrics port stopped: {e}");
    }
}

async fn page(State(ask): State<mpsc::Sender<Ask>>, page: Page) -> Response {
    let (reply, answer) = oneshot::channel();
    let asked = ask.send((page, reply)).await.is_ok();
    match tokio::time::timeout(ANSWER_WITHIN, answer).await {
        Ok(Ok(answer)) if asked => (
            answer.status,
            [(header::CONTENT_TYPE, answer.content_type)],
            answer.body,
        )
            .into_response(),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the master's loop did not answer within {}s\n",
                ANSWER_WITHIN.as_secs()
            ),
        )
            .into_response(),
    }
}
