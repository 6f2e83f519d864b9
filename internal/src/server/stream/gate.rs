//! The strict HTTP/1 validator at the door: each request is judged on its
//! bytes on their way to hyper, and one RFC 9112/9110 says to reject, or
//! that a front proxy could read differently, never reaches hyper.
//!
//! On a refusal hyper reads the end of the stream after the complete
//! requests before the bad one, answers those, and the refusal is written
//! last (`refusal.rs`), so responses stay in order. A refusal found in a
//! body, once the application may have been called, yields to the
//! application's answer if it writes one: never two answers to a request.
//! A request that asks to switch protocols holds reading until its
//! response's status line: a 101 (a 2xx to CONNECT) lets the rest through
//! unread, anything else resumes validation.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker, ready};

use rg_contract::settings::Limits;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tracing::debug;

use super::Io;
use super::deadlines::{Expect, Expired, Wait};
use super::refusal::{RefusalLog, linger_later};
use crate::server::http1::{Refusal, Validator, Verdict};

/// A connection's stream, validated on its way to hyper.
pub(crate) struct Gate<T: Io> {
    /// The stream; taken by the refusal's writer when the gate is dropped.
    inner: Option<T>,
    validator: Validator,
    switch: Switch,
    /// Set once a request is refused: hyper reads the end of the stream.
    refused: Option<Box<Refused>>,
    log: Option<RefusalLog>,
}

/// A request that asked to switch protocols: the bytes read past it, kept
/// until its response's status line says what they are, and that line.
#[derive(Default)]
struct Switch {
    bytes: Vec<u8>,
    from: usize,
    status: [u8; 12],
    status_len: usize,
    /// hyper's read, waiting for the status.
    reader: Option<Waker>,
}

/// What follows a refusal.
struct Refused {
    /// The refusal's response, until it is written or gives way.
    response: Option<Vec<u8>>,
    /// Refused in a body, after the application may have been called: its
    /// answer, if it writes one, stands instead.
    yields_to_app: bool,
    /// Refused at a body timeout: what hyper writes (the application's
    /// answer to a request it never got whole) is dropped; the 408 goes.
    drops_app: bool,
}

impl<T: Io> Drop for Gate<T> {
    fn drop(&mut self) {
        let response = self.refused.as_mut().and_then(|refused| refused.response.take());
        if let (Some(response), Some(inner)) = (response, self.inner.take()) {
            linger_later(inner, response);
        }
    }
}

impl<T: Io + Expect> Gate<T> {
    /// Validates `inner` with `limits`; with `None`, passes it untouched.
    pub(crate) fn new(inner: T, limits: Option<Limits>, log: Option<RefusalLog>) -> Gate<T> {
        Gate {
            inner: Some(inner),
            validator: limits.map_or_else(Validator::off, Validator::new),
            switch: Switch::default(),
            refused: None,
            log,
        }
    }

    /// What the next read from the socket waits for, as the validator knows.
    fn wait(&self) -> Wait {
        let heads = self.validator.heads();
        if self.validator.is_through() {
            Wait::Untimed
        } else if self.validator.in_body() {
            Wait::Body(heads)
        } else {
            Wait::Head(heads)
        }
    }

    /// Judges the bytes `buf.filled()[from..]`, just added, and keeps in
    /// `buf` those that may go on; returns how many that is. Bytes after a
    /// request that may switch protocols are kept aside when they came
    /// from the socket (`from_socket`), not from what was kept aside.
    fn validate(&mut self, buf: &mut ReadBuf<'_>, from: usize, from_socket: bool) -> usize {
        let added = buf.filled().len() - from;
        match self.validator.feed(&buf.filled()[from..]) {
            Verdict::Pass => added,
            Verdict::Hold(n) => {
                if from_socket {
                    self.switch.bytes.extend_from_slice(&buf.filled()[from + n..]);
                }
                buf.set_filled(from + n);
                n
            }
            Verdict::Refuse {
                start,
                refusal,
                head_went_on,
            } => {
                buf.set_filled(from + start);
                self.refuse(&refusal, head_went_on, false);
                start
            }
        }
    }

    /// Refuses the request being read with `refusal`.
    fn refuse(&mut self, refusal: &Refusal, yields_to_app: bool, drops_app: bool) {
        let response = refusal.response();
        debug!(
            "refused a request from {}: {} {}",
            self.log
                .as_ref()
                .and_then(|l| l.client)
                .map_or_else(|| "-".to_string(), |p| p.to_string()),
            refusal.status,
            refusal.reason
        );
        if let Some(log) = &self.log {
            let size = if drops_app { 0 } else { response.len() };
            log.refused(self.validator.method(), refusal, size, yields_to_app || drops_app);
        }
        self.refused = Some(Box::new(Refused {
            response: Some(response),
            yields_to_app,
            drops_app,
        }));
    }

    /// Passes on bytes kept aside after a request that asked to switch
    /// protocols and was answered otherwise; how many went into `buf`.
    fn replay(&mut self, buf: &mut ReadBuf<'_>) -> usize {
        let from = buf.filled().len();
        let switch = &mut self.switch;
        let n = (switch.bytes.len() - switch.from).min(buf.remaining());
        buf.put_slice(&switch.bytes[switch.from..switch.from + n]);
        let kept = if self.validator.is_through() {
            n
        } else {
            self.validate(buf, from, false)
        };
        let switch = &mut self.switch;
        switch.from += kept;
        if switch.from == switch.bytes.len() || self.refused.is_some() {
            switch.bytes = Vec::new();
            switch.from = 0;
        }
        kept
    }

    /// Watches the status line of the response to a held request.
    fn probe(&mut self, written: &[u8]) {
        if !self.validator.is_held() {
            return;
        }
        let switch = &mut self.switch;
        let n = (switch.status.len() - switch.status_len).min(written.len());
        switch.status[switch.status_len..switch.status_len + n].copy_from_slice(&written[..n]);
        switch.status_len += n;
        if switch.status_len < switch.status.len() {
            return;
        }
        // "HTTP/1.1 101"
        let status = std::str::from_utf8(&switch.status[9..12])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        switch.status_len = 0;
        self.validator.switched(status);
        if let Some(reader) = self.switch.reader.take() {
            reader.wake();
        }
    }

    /// After `n` bytes written by hyper: a refusal in a body gives way to
    /// the application's response.
    fn written(&mut self, n: usize) {
        if let Some(refused) = self.refused.as_mut().filter(|r| n > 0 && r.yields_to_app)
            && refused.response.take().is_some()
        {
            debug!("the application answered a request whose body was refused");
        }
    }

    /// Whether hyper's writes are dropped (after a body timeout).
    fn drops_writes(&self) -> bool {
        self.refused.as_ref().is_some_and(|refused| refused.drops_app)
    }
}

/// The stream, while the gate has it.
fn io<T>(inner: &mut Option<T>) -> io::Result<&mut T> {
    inner.as_mut().ok_or_else(|| io::ErrorKind::NotConnected.into())
}

impl<T: Io + Expect> AsyncRead for Gate<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.refused.is_some() {
                return Poll::Ready(Ok(()));
            }
            if this.validator.is_held() {
                this.switch.reader = Some(cx.waker().clone());
                return Poll::Pending;
            }
            let wait = this.wait();
            io(&mut this.inner)?.expect(wait);
            if this.switch.from < this.switch.bytes.len() {
                if this.replay(buf) > 0 {
                    return Poll::Ready(Ok(()));
                }
                continue;
            }
            let from = buf.filled().len();
            if let Err(e) = ready!(Pin::new(io(&mut this.inner)?).poll_read(cx, buf)) {
                if let Some(Expired::Body { .. }) = Expired::of(&e) {
                    // The request is incomplete: hyper gets the error, the
                    // application a body error, and the 408 is written last.
                    let refusal = Refusal {
                        status: 408,
                        reason: "The request body timed out".to_string(),
                    };
                    this.refuse(&refusal, false, true);
                }
                return Poll::Ready(Err(e));
            }
            if buf.filled().len() == from || this.validator.is_through() {
                return Poll::Ready(Ok(()));
            }
            if this.validate(buf, from, true) > 0 {
                return Poll::Ready(Ok(()));
            }
        }
    }
}

impl<T: Io + Expect> AsyncWrite for Gate<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, bytes: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.drops_writes() {
            return Poll::Ready(Ok(bytes.len()));
        }
        let n = ready!(Pin::new(io(&mut this.inner)?).poll_write(cx, bytes))?;
        this.probe(&bytes[..n]);
        this.written(n);
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.drops_writes() {
            return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
        }
        let n = ready!(Pin::new(io(&mut this.inner)?).poll_write_vectored(cx, bufs))?;
        this.written(n);
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
        if this.drops_writes() {
            return Poll::Ready(Ok(()));
        }
        Pin::new(io(&mut this.inner)?).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this
            .refused
            .as_ref()
            .is_some_and(|refused| refused.response.is_some())
        {
            // hyper has written all it will; the refusal goes last, with a
            // lingering close, when the gate is dropped.
            return Poll::Ready(Ok(()));
        }
        Pin::new(io(&mut this.inner)?).poll_shutdown(cx)
    }
}
