//! The serving loop of rg's own error page. When the page gives way to the
//! application, it lets go of the socket at once, so new clients wait in
//! the backlog for the application, and lets each connection it holds
//! finish the request it is on. A connection accepted just before, whose
//! first request is still on the wire, waits for that request and answers
//! it: axum's graceful shutdown would close it, and its client would meet a
//! reset (the application's runtime drains the same way, in `connection.rs`).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::Service as _;

/// How long a TLS handshake, or a first request after the page stops, may
/// take: a browser sends either within milliseconds.
const PATIENCE: Duration = Duration::from_secs(2);

/// Serves `app` on `listener` (with TLS through `tls`) until `stopped`
/// turns true, then drains as above.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    stopped: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    let mut stop = stopped.clone();
    loop {
        tokio::select! {
            () = stopping(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(connection(stream, tls.clone(), app.clone(), stopped.clone()));
                }
                // Out of descriptors, say: a moment for some to close.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// One connection, after its TLS handshake if any.
async fn connection(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    app: Router,
    stopped: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    match tls {
        None => http(stream, app, stopped).await,
        Some(acceptor) => {
            if let Ok(Ok(stream)) = tokio::time::timeout(PATIENCE, acceptor.accept(stream)).await {
                http(stream, app, stopped).await;
            }
        }
    }
}

async fn http<T>(io: T, app: Router, mut stopped: watch::Receiver<bool>)
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let first = Arc::new((AtomicBool::new(false), Notify::new()));
    let service = {
        let first = first.clone();
        hyper::service::service_fn(move |request: http::Request<Incoming>| {
            if !first.0.swap(true, Ordering::AcqRel) {
                first.1.notify_one();
            }
            let mut app = app.clone();
            async move { Ok::<_, Infallible>(app.call(request).await.unwrap_or_else(|e| match e {})) }
        })
    };
    let builder = auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        () = stopping(&mut stopped) => {}
    }
    if !first.0.load(Ordering::Acquire) {
        tokio::select! {
            _ = conn.as_mut() => return,
            () = first.1.notified() => {}
            () = tokio::time::sleep(PATIENCE) => {}
        }
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

async fn stopping(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}
