//! What a connection holds for as long as its socket lives, carried on its
//! stream so that a WebSocket leaving hyper takes it along; and small
//! vectored writes flattened into one `write(2)`.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use crate::server::slots::Activity;
use crate::server::stats::Open;

/// Vectored writes up to this many bytes are copied into one buffer and
/// written with `write(2)` (measured side by side on one core: 1-3% on a
/// hello world; hyper's own flattening, `writev(false)`, bought 9% there
/// but cost 4% at 16 KiB and 17% at 256 KiB, as it copies every body).
const COALESCE: usize = 4096;

thread_local! {
    /// The copy of a small vectored write, reused on each thread.
    static COALESCED: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::with_capacity(COALESCE));
}

pin_project_lite::pin_project! {
    /// A connection's stream with what it holds: its place in the drain
    /// (`open`), its slot of `worker_connections`, and its place in the
    /// metrics' count of open connections. It tells the slots when the
    /// connection reads and writes, so they know which ones are idle.
    pub(crate) struct Tracked<T> {
        #[pin]
        pub(crate) inner: T,
        pub(crate) activity: Arc<Activity>,
        pub(crate) _open: mpsc::Sender<()>,
        pub(crate) _slot: Option<OwnedSemaphorePermit>,
        pub(crate) _counted: Option<Open>,
    }
}

impl<T: AsyncRead> AsyncRead for Tracked<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let poll = this.inner.poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.read();
        }
        poll
    }
}

impl<T: AsyncWrite> AsyncWrite for Tracked<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.project();
        let poll = this.inner.poll_write(cx, buf);
        if let Poll::Ready(Ok(1..)) = poll {
            this.activity.wrote();
        }
        poll
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.project();
        let poll = if bufs.len() > 1 && bufs.iter().map(|b| b.len()).sum::<usize>() <= COALESCE {
            // A small response in pieces (hyper's head, then the body):
            // one plain write of a copy is cheaper for the kernel than a
            // writev of the pieces.
            COALESCED.with_borrow_mut(|flat| {
                flat.clear();
                for b in bufs {
                    flat.extend_from_slice(b);
                }
                this.inner.poll_write(cx, flat)
            })
        } else {
            this.inner.poll_write_vectored(cx, bufs)
        };
        if let Poll::Ready(Ok(1..)) = poll {
            this.activity.wrote();
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
