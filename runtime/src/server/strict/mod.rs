//! Strict HTTP/1.1 at the door: a wrapper over a connection's byte stream
//! that validates each request, as its bytes pass from the socket to
//! hyper, and refuses one that RFC 9112/9110 says to reject or that a
//! front proxy could read differently (request smuggling), before hyper
//! and the application see it.
//!
//! [`Validator`] is the state machine; [`Strict`] is the stream. Bytes that
//! pass go on to hyper in the same read. On a violation the stream gives
//! hyper only the complete requests that came before the bad one, then the
//! end of the stream; hyper answers those, then closes its side, and the
//! refusal (400, 414, 431, 501 or 505, `connection: close`, one line of
//! text) is written after them, so responses stay in order. When hyper
//! gives up on a request it had half read, without closing, the refusal
//! is written as the stream is dropped (a non-blocking write of a few
//! dozen bytes to a socket with nothing left to send).
//!
//! A violation in a request's head means the application is never called
//! for it. One in a body (chunk framing, trailers) is found after hyper
//! has handed the request to the application with a streaming body: that
//! body then ends in an error, never as a complete body, and the
//! connection is closed. hyper does the same for a chunked body cut short
//! by the end of the connection.
//!
//! What is not HTTP/1 passes untouched: a connection that starts with the
//! HTTP/2 preface, and the bytes after a switch of protocols. A request
//! with `Upgrade` and `Connection: upgrade` (or `CONNECT`) holds reading
//! until its response's status line is written: a 101 (or a 2xx to
//! CONNECT) switches validation off for good, anything else resumes it, so
//! an upgrade the application declines cannot carry a request past it.
//! The status read is that of the first response written after the
//! request: a client that pipelines an upgrade behind another request
//! (which no WebSocket client does: it must wait for the 101 before its
//! first frame) has its upgrade judged by the earlier response.

mod validator;

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker, ready};
use std::time::{Duration, SystemTime};

use http::{HeaderMap, Method, StatusCode, Version};
use rg_contract::access_log::{AccessFormat, AccessRecord};
use rg_contract::logging::ACCESS_TARGET;
use rg_contract::settings::Limits;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tracing::debug;

pub(crate) use validator::{Refusal, Validator, Verdict};

/// A stream that can write without waiting, for a refusal written as it
/// is dropped.
pub(crate) trait TryWrite {
    /// Writes what it can now, as `write(2)` on a non-blocking socket.
    fn try_write_now(&self, bytes: &[u8]) -> io::Result<usize>;
}

impl TryWrite for tokio::net::TcpStream {
    fn try_write_now(&self, bytes: &[u8]) -> io::Result<usize> {
        self.try_write(bytes)
    }
}

impl TryWrite for tokio::net::UnixStream {
    fn try_write_now(&self, bytes: &[u8]) -> io::Result<usize> {
        self.try_write(bytes)
    }
}

/// What a refusal's access log line needs.
#[derive(Debug, Clone)]
pub(crate) struct RefusalLog {
    pub(crate) format: Arc<AccessFormat>,
    pub(crate) peer: Option<SocketAddr>,
}

/// A connection's stream, validated on its way to hyper.
pub(crate) struct Strict<T: TryWrite> {
    inner: T,
    validator: Validator,
    /// Bytes read past a request that asked to switch protocols, kept
    /// until its response says what they are (allocated only then).
    held: Vec<u8>,
    held_from: usize,
    /// The refusal not yet written, and how much of it was.
    refusal: Option<Vec<u8>>,
    refusal_sent: usize,
    /// A request was refused: hyper reads the end of the stream.
    refused: bool,
    /// The start of the response to a held request: its status line.
    probe: [u8; 12],
    probe_len: usize,
    /// hyper's read, waiting on a held request's response.
    reader: Option<Waker>,
    log: Option<RefusalLog>,
}

impl<T: TryWrite> Drop for Strict<T> {
    fn drop(&mut self) {
        if let Some(refusal) = self.refusal.take() {
            let _ = self.inner.try_write_now(&refusal[self.refusal_sent..]);
        }
    }
}

impl<T: TryWrite> Strict<T> {
    /// Validates `inner` with `limits`; with `None`, passes it untouched.
    pub(crate) fn new(inner: T, limits: Option<Limits>, log: Option<RefusalLog>) -> Strict<T> {
        Strict {
            inner,
            validator: limits.map_or_else(Validator::off, Validator::new),
            held: Vec::new(),
            held_from: 0,
            refusal: None,
            refusal_sent: 0,
            refused: false,
            probe: [0; 12],
            probe_len: 0,
            reader: None,
            log,
        }
    }
}

/// Judges the bytes `buf.filled()[from..]`, just added, and keeps in
/// `buf` those that may go on; returns how many that is. Bytes after a
/// request that may switch protocols are appended to `held` when
/// `hold_rest` (they came from the socket, not from `held`).
fn judge(
    validator: &mut Validator,
    refusal: &mut Option<Vec<u8>>,
    log: Option<&RefusalLog>,
    held: Option<&mut Vec<u8>>,
    buf: &mut ReadBuf<'_>,
    from: usize,
) -> usize {
    let added = buf.filled().len() - from;
    match validator.feed(&buf.filled()[from..]) {
        Verdict::Pass => added,
        Verdict::Hold(n) => {
            if let Some(held) = held {
                held.extend_from_slice(&buf.filled()[from + n..]);
            }
            buf.set_filled(from + n);
            n
        }
        Verdict::Refuse {
            start,
            refusal: refused,
        } => {
            buf.set_filled(from + start);
            debug!(
                "refused a request from {}: {} {}",
                log.and_then(|l| l.peer)
                    .map_or_else(|| "-".to_string(), |p| p.to_string()),
                refused.status,
                refused.reason
            );
            let response = refused.response();
            if let Some(log) = log {
                log_refusal(log, validator.method(), &refused, response.len());
            }
            *refusal = Some(response);
            start
        }
    }
}

fn log_refusal(log: &RefusalLog, method: &[u8], refused: &Refusal, size: usize) {
    let method = Method::from_bytes(method).unwrap_or_else(|_| Method::from_bytes(b"-").unwrap_or_default());
    let status = StatusCode::from_u16(refused.status).unwrap_or(StatusCode::BAD_REQUEST);
    let line = log.format.render(&AccessRecord {
        remote: log.peer.map(|p| p.ip()),
        time: SystemTime::now(),
        method: &method,
        path_and_query: "-",
        version: Version::HTTP_11,
        status,
        bytes: Some(u64::try_from(size).unwrap_or(0)),
        duration: Duration::ZERO,
        request_headers: &[],
        response_headers: &HeaderMap::new(),
    });
    tracing::info!(target: ACCESS_TARGET, "{line}");
}

impl<T: AsyncRead + TryWrite + Unpin> AsyncRead for Strict<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.refused {
                // The end of the stream, for hyper: it finishes what it has
                // and closes, and the refusal follows.
                return Poll::Ready(Ok(()));
            }
            if this.validator.is_held() {
                this.reader = Some(cx.waker().clone());
                return Poll::Pending;
            }
            let from = buf.filled().len();
            if this.held_from < this.held.len() {
                let n = (this.held.len() - this.held_from).min(buf.remaining());
                buf.put_slice(&this.held[this.held_from..this.held_from + n]);
                let kept = if this.validator.is_through() {
                    n
                } else {
                    judge(
                        &mut this.validator,
                        &mut this.refusal,
                        this.log.as_ref(),
                        None,
                        buf,
                        from,
                    )
                };
                this.refused = this.refusal.is_some();
                this.held_from += kept;
                if this.held_from == this.held.len() || this.refused {
                    this.held = Vec::new();
                    this.held_from = 0;
                }
                if kept > 0 {
                    return Poll::Ready(Ok(()));
                }
                continue;
            }
            ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
            if buf.filled().len() == from || this.validator.is_through() {
                return Poll::Ready(Ok(()));
            }
            let kept = judge(
                &mut this.validator,
                &mut this.refusal,
                this.log.as_ref(),
                Some(&mut this.held),
                buf,
                from,
            );
            this.refused = this.refusal.is_some();
            if kept > 0 {
                return Poll::Ready(Ok(()));
            }
        }
    }
}

impl<T: TryWrite> Strict<T> {
    /// Watches the status line of the response to a held request.
    fn probe(&mut self, written: &[u8]) {
        if !self.validator.is_held() {
            return;
        }
        let n = (self.probe.len() - self.probe_len).min(written.len());
        self.probe[self.probe_len..self.probe_len + n].copy_from_slice(&written[..n]);
        self.probe_len += n;
        if self.probe_len < self.probe.len() {
            return;
        }
        // "HTTP/1.1 101"
        let status = std::str::from_utf8(&self.probe[9..12])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        self.validator.switched(status);
        self.probe_len = 0;
        if let Some(reader) = self.reader.take() {
            reader.wake();
        }
    }
}

impl<T: AsyncWrite + TryWrite + Unpin> AsyncWrite for Strict<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, bytes: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let n = ready!(Pin::new(&mut this.inner).poll_write(cx, bytes))?;
        this.probe(&bytes[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let n = ready!(Pin::new(&mut this.inner).poll_write_vectored(cx, bufs))?;
        if this.validator.is_held() {
            let mut left = n;
            for b in bufs {
                let take = left.min(b.len());
                this.probe(&b[..take]);
                left -= take;
                if left == 0 {
                    break;
                }
            }
        }
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(refusal) = this.refusal.as_ref() {
            // hyper has written all it will: the refusal goes last.
            while this.refusal_sent < refusal.len() {
                let n = ready!(Pin::new(&mut this.inner).poll_write(cx, &refusal[this.refusal_sent..]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                this.refusal_sent += n;
            }
            ready!(Pin::new(&mut this.inner).poll_flush(cx))?;
            this.refusal = None;
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}
