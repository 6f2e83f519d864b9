//! How long a connection's reads and writes may wait: for a request's head
//! (`keepalive`), for body bytes (`body_read_timeout`, `body_min_rate`),
//! for a client to take a response (`send_timeout`). This layer knows time,
//! not HTTP: the layer above says what each read waits for ([`Wait`]).

use std::error::Error;
use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};
use tracing::debug;

use crate::server::timer::poll_lazily;

/// What the next read waits for. The numbers tell one head (or body) from
/// the next: the count of heads the reader has seen end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Nothing timed: an upgraded connection, HTTP/2, a held request.
    Untimed,
    /// A request's head; its clock starts at the first read for it.
    Head(u32),
    /// Bytes of a request's body.
    Body(u32),
}

/// The limits, each off with `None`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Limits {
    /// From the first read for a head to its last byte, idle time included.
    pub(crate) head: Option<Duration>,
    /// Between two reads of a body.
    pub(crate) body: Option<Duration>,
    /// With `body`: the least average rate of a body, in bytes a second,
    /// after `body` of grace.
    pub(crate) body_min_rate: Option<u32>,
    /// How long a write may wait for a client that reads nothing.
    pub(crate) send: Option<Duration>,
}

/// Which deadline passed: the error of the read that waited past it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expired {
    Head,
    /// `slow`: the body came slower than `body_min_rate`, rather than
    /// stopping for `body_read_timeout`.
    Body {
        slow: bool,
    },
}

impl fmt::Display for Expired {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Expired::Head => "the client did not send a request head within the header timeout",
            Expired::Body { slow: true } => "the request body timed out: body_min_rate",
            Expired::Body { slow: false } => "the request body timed out: body_read_timeout",
        })
    }
}

impl Error for Expired {}

impl Expired {
    /// The deadline an error from [`Deadlines`] says passed, if any.
    pub(crate) fn of(error: &io::Error) -> Option<Expired> {
        error.get_ref()?.downcast_ref::<Expired>().copied()
    }
}

/// A stream told what its reads wait for: [`Deadlines`], to the layer above.
pub(crate) trait Expect {
    /// Says what the next reads wait for.
    fn expect(&mut self, wait: Wait);
}

impl<T> Expect for Deadlines<T> {
    fn expect(&mut self, wait: Wait) {
        Deadlines::expect(self, wait);
    }
}

/// A stream whose reads and writes wait no longer than its limits allow.
pub(crate) struct Deadlines<T> {
    inner: T,
    limits: Limits,
    wait: Wait,
    /// The head being waited for, and its deadline.
    head: u32,
    head_deadline: Option<Instant>,
    /// The deadline of the current wait for body bytes.
    body_deadline: Option<Instant>,
    /// `body_min_rate`'s account (boxed: most connections never wait for a body).
    body_rate: Option<Box<BodyRate>>,
    send_deadline: Option<Instant>,
    /// Its own sleep: a read may wait at the same time.
    send_timer: Option<Pin<Box<Sleep>>>,
    /// The one sleep the head and body deadlines use, made on first use and
    /// re-armed lazily: a keep-alive connection touches tokio's timer about
    /// once per timeout, not once per request.
    timer: Option<Pin<Box<Sleep>>>,
}

impl<T> Deadlines<T> {
    pub(crate) fn new(inner: T, limits: Limits) -> Deadlines<T> {
        let body_rate = limits
            .body_min_rate
            .filter(|rate| *rate > 0 && limits.body.is_some())
            .map(|rate| Box::new(BodyRate::new(rate)));
        Deadlines {
            inner,
            limits,
            wait: Wait::Untimed,
            head: 0,
            head_deadline: None,
            body_deadline: None,
            body_rate,
            send_deadline: None,
            send_timer: None,
            timer: None,
        }
    }

    /// Says what the next reads wait for. A new head starts its clock; the
    /// same head again does not restart it.
    pub(crate) fn expect(&mut self, wait: Wait) {
        self.wait = wait;
        if let (Wait::Head(head), Some(limit)) = (wait, self.limits.head)
            && (head != self.head || self.head_deadline.is_none())
        {
            self.head = head;
            self.head_deadline = Some(Instant::now() + limit);
        }
    }

    /// A read found nothing: which deadline, if any, has passed. Registers
    /// the timer's wake-up.
    fn expired(&mut self, cx: &mut Context<'_>) -> Option<Expired> {
        let (expired, deadline) = match self.wait {
            Wait::Untimed => return None,
            Wait::Head(_) => (Expired::Head, self.head_deadline?),
            Wait::Body(body) => {
                let limit = self.limits.body?;
                let deadline = match self.body_deadline {
                    Some(deadline) => deadline,
                    None => {
                        let now = Instant::now();
                        let mut wait = limit;
                        if let Some(rate) = &mut self.body_rate {
                            rate.start_waiting(body, now);
                            let left = rate.left(limit);
                            rate.binding = left < limit;
                            wait = wait.min(left);
                        }
                        *self.body_deadline.insert(now + wait)
                    }
                };
                let slow = self.body_rate.as_ref().is_some_and(|rate| rate.binding);
                (Expired::Body { slow }, deadline)
            }
        };
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        poll_lazily(timer, deadline, cx).is_ready().then_some(expired)
    }

    /// A write: `Pending` with the send clock running (started by the first
    /// write that waits, stopped by any that goes through), an error when
    /// it has run out.
    fn sent<R>(&mut self, cx: &mut Context<'_>, written: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        if written.is_ready() {
            self.send_deadline = None;
            return written;
        }
        let Some(limit) = self.limits.send else {
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
}

/// `body_min_rate`'s account of the body being read: how long the reader
/// has waited on the socket for it, and how much came.
#[derive(Debug)]
struct BodyRate {
    /// Bytes a second, at least, on average.
    rate: u32,
    /// The body this account is for.
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
    fn new(rate: u32) -> BodyRate {
        BodyRate {
            rate,
            body: 0,
            waited: Duration::ZERO,
            received: 0,
            waiting_since: None,
            binding: false,
        }
    }

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
    /// (`body_read_timeout`) and a second per `rate` bytes, less what was
    /// waited already.
    fn left(&self, grace: Duration) -> Duration {
        let earned = Duration::from_secs_f64(self.received as f64 / f64::from(self.rate));
        (grace + earned).saturating_sub(self.waited)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Deadlines<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        if Pin::new(&mut this.inner).poll_read(cx, buf)?.is_pending() {
            return match this.expired(cx) {
                Some(expired) => {
                    debug!("{expired}");
                    Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, expired)))
                }
                None => Poll::Pending,
            };
        }
        this.body_deadline = None;
        if let (Wait::Body(body), Some(rate)) = (this.wait, &mut this.body_rate) {
            rate.received(body, buf.filled().len() - before);
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Deadlines<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, bytes: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write(cx, bytes);
        this.sent(cx, written)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.sent(cx, written)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let flushed = Pin::new(&mut this.inner).poll_flush(cx);
        this.sent(cx, flushed)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[path = "deadlines_tests.rs"]
mod tests;
