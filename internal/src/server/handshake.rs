//! The handshakes before HTTP (PROXY header, version check, TLS), each
//! bounded by the header timeout and given up when the connection is told
//! to close.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use rg_contract::settings::ProxyProtocol;
use tracing::debug;

use super::slots::{CloseRequest, Listed};
use super::stream::Io;
use super::stream::proxy::{self, Handshake};
use super::stream::refusal::{self, RefusalLog};
use super::stream::rewind::Rewind;

/// Runs a handshake (`what`) within the header timeout; `None` when the
/// connection is done: it failed, timed out, or was told to close.
pub(super) async fn handshake<F, T, E>(
    handshake: F,
    timeout: Duration,
    listed: &Listed,
    what: &str,
) -> Option<T>
where
    F: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let handshake = tokio::time::timeout(timeout, handshake);
    tokio::pin!(handshake);
    let outcome = tokio::select! {
        biased;
        outcome = &mut handshake => outcome,
        asked = listed.close_requested() => match asked {
            // A stop lets the handshake finish: a request may follow it.
            CloseRequest::Graceful => handshake.await,
            CloseRequest::Now | CloseRequest::Idle => return None,
        },
    };
    match outcome {
        Ok(Ok(done)) => Some(done),
        Ok(Err(e)) => {
            debug!("{what} handshake failed: {e}");
            None
        }
        Err(_) => {
            debug!("the client did not finish the {what} handshake within the header timeout");
            None
        }
    }
}

/// Reads the PROXY protocol header, within the header timeout: the stream
/// after it and the client it names. `None` when the connection is done:
/// closed, timed out, told to close, or refused (answered here).
pub(super) async fn read_proxy_header<T: Io>(
    stream: T,
    mode: ProxyProtocol,
    timeout: Duration,
    listed: &Listed,
    log: Option<&RefusalLog>,
) -> Option<(Rewind<T>, Option<SocketAddr>)> {
    let read = async { Ok::<_, Infallible>(proxy::handshake(stream, mode).await) };
    match handshake(read, timeout, listed, "PROXY").await? {
        Handshake::Done(stream, source) => Some((stream, source)),
        Handshake::Refused(stream, refusal) => {
            debug!("refused a connection: {}", refusal.reason);
            if let Some(log) = log {
                log.refused(b"", &refusal, 0, false);
            }
            refusal::linger(stream, refusal.response()).await;
            None
        }
        Handshake::Closed(e) => {
            debug!("a connection closed before its PROXY header ended: {e}");
            None
        }
    }
}
