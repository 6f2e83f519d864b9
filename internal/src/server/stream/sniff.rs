//! Tells, from the bytes hyper reads anyway, whether a cleartext connection
//! is HTTP/2 (its first bytes are the preface): no read of its own.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

use crate::server::http2::PREFACE;

/// `inner`, calling `http2` once if the connection starts with the preface.
pub(crate) struct Sniff<T, F> {
    inner: T,
    /// How much of the preface the first bytes matched; `None` once decided.
    matched: Option<usize>,
    http2: Option<F>,
}

impl<T, F: FnOnce()> Sniff<T, F> {
    pub(crate) fn new(inner: T, http2: F) -> Sniff<T, F> {
        Sniff {
            inner,
            matched: Some(0),
            http2: Some(http2),
        }
    }

    fn saw(&mut self, bytes: &[u8]) {
        let Some(matched) = self.matched else { return };
        let want = &PREFACE[matched..];
        let n = want.len().min(bytes.len());
        if bytes.is_empty() || bytes[..n] != want[..n] {
            self.matched = None;
        } else if n == want.len() {
            self.matched = None;
            if let Some(http2) = self.http2.take() {
                http2();
            }
        } else {
            self.matched = Some(matched + n);
        }
    }
}

impl<T: AsyncRead + Unpin, F: FnOnce() + Unpin> AsyncRead for Sniff<T, F> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = Pin::new(&mut this.inner).poll_read(cx, buf);
        if this.matched.is_some() && matches!(read, Poll::Ready(Ok(()))) {
            this.saw(&buf.filled()[before..]);
        }
        read
    }
}

writes_through!(Sniff<T, F>);

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    fn sniffed(reads: &[&[u8]]) -> bool {
        let seen = Cell::new(false);
        let mut sniff = Sniff::new((), || seen.set(true));
        for read in reads {
            sniff.saw(read);
        }
        seen.get()
    }

    #[test]
    fn the_preface_in_any_split_and_nothing_else() {
        assert!(sniffed(&[PREFACE]));
        assert!(sniffed(&[b"PRI * HT", b"TP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04"]));
        assert!(!sniffed(&[b"GET / HTTP/1.1\r\n\r\n"]));
        assert!(!sniffed(&[b"PRI * HTTP/1.1\r\n"]));
        assert!(!sniffed(&[b"PRI * HT", b"", b"TP/2.0\r\n\r\nSM\r\n\r\n"]));
    }
}
