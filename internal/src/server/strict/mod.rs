//! Strict HTTP/1.1 at the door: a wrapper over a connection's byte stream
//! that validates each request, as its bytes pass from the socket to
//! hyper, and refuses one that RFC 9112/9110 says to reject or that a
//! front proxy could read differently (request smuggling), before hyper
//! and the application see it.
//!
//! [`Validator`] is the state machine; [`Strict`] is the stream. Bytes that
//! pass go on to hyper in the same read. On a violation the stream gives
//! hyper only the complete requests that came before the bad one, then the
//! end of the stream: hyper answers those and closes (or gives up on the
//! bad request's first bytes, if it had them), and when it drops the
//! stream the refusal (400, 414, 431, 501 or 505, `connection: close`, one
//! line of text) is written after all hyper wrote, so responses stay in
//! order. The socket is then closed the way nginx does it, lingering: the
//! sending side first, then what the client still sends is read and
//! dropped for up to 2 s, as a close with unread bytes would reset the
//! connection and could destroy the refusal before the client reads it.

//! A violation in a request's head means the application is never called
//! for it. One in a body (chunk framing, trailers) is found after hyper
//! has handed the request to the application with a streaming body: that
//! body then ends in an error, never as a complete body, and the
//! connection is closed; if the application answers anyway (hyper writes
//! after the refusal), its answer stands and the refusal is not sent, so a
//! client never gets two answers to one request. (A request that arrives
//! whole in one read, as an attack usually does, is judged before hyper
//! sees any of it.) hyper does the same for a chunked body cut short
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

#[cfg(test)]
mod clock_tests;
mod proxy;

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
use tokio::time::Instant;
use tracing::debug;

use super::http1::{Refusal, Validator, Verdict};
use proxy::{Proxied, ProxyHeader};
use rg_contract::settings::ProxyProtocol;

use super::connection::Connection;
use super::stats::Stats;
use super::timer::poll_lazily;

/// Where a refusal is told: the access log (its format, when it is on)
/// and the metrics' counts (when the master asked for them).
#[derive(Debug, Clone)]
pub(crate) struct RefusalLog {
    pub(crate) format: Option<Arc<AccessFormat>>,
    pub(crate) peer: Option<SocketAddr>,
    pub(crate) stats: Option<Arc<Stats>>,
}

/// A connection's stream, validated on its way to hyper.
pub(crate) struct Strict<T: Io> {
    /// The socket; taken by the lingering close after a refusal.
    inner: Option<T>,
    validator: Validator,
    /// Bytes read past a request that asked to switch protocols, kept
    /// until its response says what they are (allocated only then).
    held: Vec<u8>,
    held_from: usize,
    /// The refusal not yet written, and how much of it was.
    refusal: Option<Vec<u8>>,
    /// A request was refused: hyper reads the end of the stream.
    refused: bool,
    /// The refusal came in a body, after the application may have been
    /// called: if hyper writes anything after it (the application's
    /// answer), that is the answer, and the refusal is not sent.
    in_body: bool,
    /// The start of the response to a held request: its status line.
    probe: [u8; 12],
    probe_len: usize,
    /// hyper's read, waiting on a held request's response.
    reader: Option<Waker>,
    log: Option<RefusalLog>,
    /// `body_read_timeout`: how long hyper may wait for body bytes that
    /// do not come; the deadline, while it waits.
    body_timeout: Option<Duration>,
    body_deadline: Option<Instant>,
    /// `body_min_rate`, and what a body has used of it (boxed: most
    /// connections never wait for a body).
    body_rate: Option<Box<BodyRate>>,
    /// The header timeout (`keepalive`): how long a client has, from the
    /// moment hyper waits for a request's head, to send all of it; the
    /// deadline, while hyper waits, and the count of heads the validator
    /// had seen when it was set.
    head_timeout: Option<Duration>,
    head_deadline: Option<Instant>,
    heads: u32,
    /// `send_timeout`: how long a write may wait for a client that reads
    /// nothing; the deadline, while a write waits, and its own sleep (a
    /// read may wait at the same time), made the first time one does.
    send_timeout: Option<Duration>,
    send_deadline: Option<Instant>,
    send_timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// The one sleep both deadlines use, made on first use. It is re-armed
    /// lazily: it may be set for an earlier deadline than the one in force,
    /// and is moved on when it fires, so a keep-alive connection touches
    /// tokio's timer about once per timeout, not once per request.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// The PROXY protocol header still to read (boxed: rare), and the
    /// connection whose client address it gives.
    proxy: Option<(Box<ProxyHeader>, Arc<Connection>)>,
    /// After a body timeout: what hyper writes (the application's answer
    /// to a request it never got whole) is dropped, the 408 goes instead.
    swallow: bool,
}

/// What the stream must be: a socket the connection's task owns.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// How long, and how many bytes, a refused client may still send before
/// its connection is closed: closing a socket with unread bytes resets
/// it, and a reset can destroy the refusal before the client reads it
/// (nginx's lingering close, in small).
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 256 * 1024;

impl<T: Io> Drop for Strict<T> {
    fn drop(&mut self) {
        // A refusal still to send (hyper closed, or gave up on the refused
        // request without closing): sent last, after all hyper wrote.
        if let (Some(refusal), Some(inner)) = (self.refusal.take(), self.inner.take())
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(linger(inner, refusal));
        }
    }
}

/// Writes the refusal, closes the sending side, and reads what the client
/// still sends for a while, so the refusal reaches it before the close.
async fn linger<T: Io>(mut inner: T, refusal: Vec<u8>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let close = async {
        inner.write_all(&refusal).await?;
        inner.shutdown().await?;
        let mut sink = [0u8; 4096];
        let mut read = 0;
        while read < LINGER_BYTES {
            match inner.read(&mut sink).await? {
                0 => break,
                n => read += n,
            }
        }
        Ok::<_, io::Error>(())
    };
    if let Ok(Err(e)) = tokio::time::timeout(LINGER, close).await {
        debug!("could not send a refusal: {e}");
    }
}

impl<T: Io> Strict<T> {
    /// Validates `inner` with `limits`; with `None`, passes it untouched.
    pub(crate) fn new(inner: T, limits: Option<Limits>, log: Option<RefusalLog>) -> Strict<T> {
        Strict {
            inner: Some(inner),
            validator: limits.map_or_else(Validator::off, Validator::new),
            held: Vec::new(),
            held_from: 0,
            refusal: None,
            refused: false,
            in_body: false,
            probe: [0; 12],
            probe_len: 0,
            reader: None,
            log,
            body_timeout: None,
            body_deadline: None,
            body_rate: None,
            send_timeout: None,
            send_deadline: None,
            send_timer: None,
            head_timeout: None,
            head_deadline: None,
            heads: 0,
            timer: None,
            swallow: false,
            proxy: None,
        }
    }

    /// Reads a PROXY protocol header (`mode`) first; its client address
    /// goes to `connection`.
    pub(crate) fn with_proxy(mut self, mode: ProxyProtocol, connection: Arc<Connection>) -> Strict<T> {
        if mode != ProxyProtocol::Off {
            self.proxy = Some((Box::new(ProxyHeader::new(mode)), connection));
        }
        self
    }

    /// Refuses with 408 a client that leaves more than `timeout` between
    /// two reads of a body hyper waits for, or whose body comes slower
    /// than `min_rate` bytes a second on average after that timeout's
    /// grace (so only with a timeout): in all, hyper may wait for a body
    /// the timeout plus a second for every `min_rate` bytes received.
    /// Only the time hyper waits on the socket counts, not the
    /// application's between reads.
    pub(crate) fn with_body_limits(mut self, timeout: Option<Duration>, min_rate: Option<u32>) -> Strict<T> {
        self.body_timeout = timeout;
        self.body_rate = min_rate
            .filter(|rate| *rate > 0 && timeout.is_some())
            .map(|rate| {
                Box::new(BodyRate {
                    rate,
                    body: 0,
                    waited: Duration::ZERO,
                    received: 0,
                    waiting_since: None,
                    binding: false,
                })
            });
        self
    }

    /// Closes a connection whose client takes none of what is written for
    /// `timeout` (a response, or a WebSocket's messages, it does not read):
    /// the write fails, and hyper, or the application, gives up on it.
    pub(crate) fn with_send_timeout(mut self, timeout: Option<Duration>) -> Strict<T> {
        self.send_timeout = timeout;
        self
    }

    /// A write to the client: `Pending` with the send timeout's clock
    /// running (started by the first write that waits, stopped by any
    /// that goes through), an error when it has run out.
    fn sent<R>(&mut self, cx: &mut Context<'_>, written: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        if written.is_ready() {
            self.send_deadline = None;
            return written;
        }
        let Some(limit) = self.send_timeout else {
            return Poll::Pending;
        };
        let deadline = *self.send_deadline.get_or_insert_with(|| Instant::now() + limit);
        let timer = self
            .send_timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if poll_lazily(timer, deadline, cx).is_pending() {
            return Poll::Pending;
        }
        debug!("the client read nothing of the response within send_timeout");
        Poll::Ready(Err(io::ErrorKind::TimedOut.into()))
    }

    /// Closes a connection whose client has not sent a request's whole
    /// head within `timeout` of hyper starting to wait for it, idle time
    /// included (hyper's header read timeout, which it then need not keep:
    /// hyper makes and drops a timer for every request). Only with the
    /// validator on, which knows where heads end.
    pub(crate) fn with_head_timeout(mut self, timeout: Duration) -> Strict<T> {
        if !self.validator.is_through() {
            self.head_timeout = Some(timeout);
        }
        self
    }

    /// Whether the stream keeps the header timeout, so hyper need not.
    pub(crate) fn keeps_head_timeout(&self) -> bool {
        self.head_timeout.is_some()
    }

    /// hyper asks for bytes: starts the header timeout's clock if this is
    /// the first read of a new head.
    ///
    /// hyper reads only when it wants a head or body bytes (with
    /// `half_close`, it does not read while the application works), and
    /// the validator is ahead of it: so a read outside a body is a wait for
    /// a head, and the first one since the validator saw the previous head
    /// end starts that head's clock. Bytes arriving do not restart it.
    fn start_head_clock(&mut self) {
        if self.head_timeout.is_none()
            || self.validator.in_body()
            || self.validator.is_through()
            || self.validator.is_held()
        {
            return;
        }
        let heads = self.validator.heads();
        if heads != self.heads || self.head_deadline.is_none() {
            self.heads = heads;
            self.head_deadline = self.head_timeout.map(|limit| Instant::now() + limit);
        }
    }

    /// hyper waits on the socket, which has nothing: which timeout, if
    /// any, has passed. Registers the timer's wake-up.
    fn timed_out(&mut self, cx: &mut Context<'_>) -> Option<Clock> {
        let (clock, deadline) = if self.validator.in_body() {
            let limit = self.body_timeout?;
            let deadline = match self.body_deadline {
                Some(deadline) => deadline,
                None => {
                    let now = Instant::now();
                    let mut wait = limit;
                    if let Some(rate) = &mut self.body_rate {
                        rate.start_waiting(self.validator.heads(), now);
                        let left = rate.left(limit);
                        rate.binding = left < limit;
                        wait = wait.min(left);
                    }
                    *self.body_deadline.insert(now + wait)
                }
            };
            (Clock::Body, deadline)
        } else if self.validator.is_through() || self.validator.is_held() {
            return None;
        } else {
            (Clock::Head, self.head_deadline?)
        };
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        poll_lazily(timer, deadline, cx).is_ready().then_some(clock)
    }
}

/// `body_min_rate`'s account of the body being read: how long hyper has
/// waited on the socket for it, and how much came.
#[derive(Debug)]
struct BodyRate {
    /// Bytes a second, at least, on average.
    rate: u32,
    /// The body this account is for: the validator's count of heads.
    body: u32,
    waited: Duration,
    received: u64,
    /// When the current wait began; taken when bytes come.
    waiting_since: Option<Instant>,
    /// Whether the current wait ends at the budget, before
    /// `body_read_timeout` would (for the log line of a 408).
    binding: bool,
}

impl BodyRate {
    /// The account of body `body`, opened afresh if it is a new one.
    fn of(&mut self, body: u32) -> &mut BodyRate {
        if self.body != body {
            self.body = body;
            self.waited = Duration::ZERO;
            self.received = 0;
            self.waiting_since = None;
        }
        self
    }

    /// hyper starts waiting for body `body` at `now`.
    fn start_waiting(&mut self, body: u32, now: Instant) {
        self.of(body).waiting_since = Some(now);
    }

    /// `n` bytes of body `body` came: the wait, if any, is over.
    fn received(&mut self, body: u32, n: usize) {
        let account = self.of(body);
        if let Some(since) = account.waiting_since.take() {
            account.waited += since.elapsed();
        }
        account.received += n as u64;
    }

    /// What is left of the time the body may be waited for: `grace`
    /// (`body_read_timeout`) and a second per `rate` bytes, less what
    /// was waited already.
    fn left(&self, grace: Duration) -> Duration {
        let earned = Duration::from_secs_f64(self.received as f64 / f64::from(self.rate));
        (grace + earned).saturating_sub(self.waited)
    }
}

/// Which of a connection's clocks ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clock {
    Head,
    Body,
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
    in_body: &mut bool,
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
            *in_body = validator.in_body();
            debug!(
                "refused a request from {}: {} {}",
                log.and_then(|l| l.peer)
                    .map_or_else(|| "-".to_string(), |p| p.to_string()),
                refused.status,
                refused.reason
            );
            let response = refused.response();
            if let Some(log) = log {
                log_refusal(log, validator.method(), &refused, response.len(), *in_body);
            }
            *refusal = Some(response);
            start
        }
    }
}

/// Logs a refusal, and counts it unless the application was called (a
/// refusal in a body: the application's own answer was counted).
fn log_refusal(log: &RefusalLog, method: &[u8], refused: &Refusal, size: usize, in_body: bool) {
    if let Some(stats) = log.stats.as_ref().filter(|_| !in_body) {
        stats.refused(method, refused.status);
    }
    let Some(format) = &log.format else {
        return;
    };
    let method = Method::from_bytes(method).unwrap_or_else(|_| Method::from_bytes(b"-").unwrap_or_default());
    let status = StatusCode::from_u16(refused.status).unwrap_or(StatusCode::BAD_REQUEST);
    let line = format.render(&AccessRecord {
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

impl<T: Io> AsyncRead for Strict<T> {
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
            this.start_head_clock();
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
                        &mut this.in_body,
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
            if Pin::new(io(&mut this.inner)?).poll_read(cx, buf)?.is_pending() {
                let clock = this.timed_out(cx);
                if clock == Some(Clock::Head) {
                    // As hyper does at its header timeout: closed, no answer.
                    debug!("the client did not send a request head within the header timeout");
                    return Poll::Ready(Err(io::ErrorKind::TimedOut.into()));
                }
                if clock == Some(Clock::Body) {
                    // The request is incomplete: hyper gets an error (and
                    // the application a body error); whatever it answers
                    // is dropped, and the 408 is written when the stream
                    // is dropped. Earlier responses were flushed long ago.
                    let refused = Refusal {
                        status: 408,
                        reason: "The request body timed out".to_string(),
                    };
                    let slow = this.body_rate.as_ref().is_some_and(|rate| rate.binding);
                    let which = if slow {
                        "body_min_rate"
                    } else {
                        "body_read_timeout"
                    };
                    debug!("{}: {which}", refused.reason);
                    if let Some(log) = &this.log {
                        log_refusal(log, this.validator.method(), &refused, 0, true);
                    }
                    this.refusal = Some(refused.response());
                    this.refused = true;
                    this.swallow = true;
                    return Poll::Ready(Err(io::ErrorKind::TimedOut.into()));
                }
                return Poll::Pending;
            }
            this.body_deadline = None;
            if let Some(rate) = &mut this.body_rate
                && this.validator.in_body()
            {
                rate.received(this.validator.heads(), buf.filled().len() - from);
            }
            if buf.filled().len() == from {
                return Poll::Ready(Ok(()));
            }
            if let Some((header, connection)) = &mut this.proxy {
                match header.feed(&buf.filled()[from..]) {
                    Ok(Proxied::More) => {
                        buf.set_filled(from);
                        continue;
                    }
                    Ok(Proxied::Done { used, source }) => {
                        if let Some(source) = source {
                            let _ = connection.proxied.set(source);
                            if let Some(log) = &mut this.log {
                                log.peer = Some(source);
                            }
                        }
                        this.proxy = None;
                        // The header is not HTTP: hyper never sees it.
                        let end = buf.filled().len();
                        buf.filled_mut().copy_within(from + used..end, from);
                        buf.set_filled(end - used);
                        if buf.filled().len() == from {
                            continue;
                        }
                    }
                    Err(refused) => {
                        buf.set_filled(from);
                        debug!("refused a connection: {}", refused.reason);
                        if let Some(log) = &this.log {
                            log_refusal(log, b"", &refused, 0, false);
                        }
                        this.refusal = Some(refused.response());
                        this.refused = true;
                        return Poll::Ready(Ok(()));
                    }
                }
            }
            if this.validator.is_through() {
                return Poll::Ready(Ok(()));
            }
            let kept = judge(
                &mut this.validator,
                &mut this.refusal,
                this.log.as_ref(),
                Some(&mut this.held),
                &mut this.in_body,
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

impl<T: Io> Strict<T> {
    /// After `n` bytes written by hyper: a refusal in a body gives way to
    /// the application's response.
    fn supersede(&mut self, n: usize) {
        if n > 0 && self.in_body && self.refusal.is_some() {
            debug!("the application answered a request whose body was refused");
            self.refusal = None;
        }
    }

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

/// The socket, while the stream has it.
fn io<T>(inner: &mut Option<T>) -> io::Result<&mut T> {
    inner.as_mut().ok_or_else(|| io::ErrorKind::NotConnected.into())
}

impl<T: Io> AsyncWrite for Strict<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, bytes: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.swallow {
            return Poll::Ready(Ok(bytes.len()));
        }
        let written = Pin::new(io(&mut this.inner)?).poll_write(cx, bytes);
        let n = ready!(this.sent(cx, written))?;
        this.probe(&bytes[..n]);
        this.supersede(n);
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.swallow {
            return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
        }
        let written = Pin::new(io(&mut this.inner)?).poll_write_vectored(cx, bufs);
        let n = ready!(this.sent(cx, written))?;
        this.supersede(n);
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
        self.inner.as_ref().is_some_and(T::is_write_vectored)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.swallow {
            return Poll::Ready(Ok(()));
        }
        let flushed = Pin::new(io(&mut this.inner)?).poll_flush(cx);
        this.sent(cx, flushed)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.refusal.is_some() {
            // hyper has written all it will; the refusal goes last, with a
            // lingering close, when the stream is dropped.
            return Poll::Ready(Ok(()));
        }
        Pin::new(io(&mut this.inner)?).poll_shutdown(cx)
    }
}
