//! The accept loop of one listener, TCP or unix.
//!
//! A connection is accepted only with a free slot (`worker_connections`):
//! at the limit, new connections wait in the listen queue, where a less
//! busy worker of the same socket takes them. Errors from `accept` (a
//! client that gave up, too many open files) are logged and the loop goes
//! on: one bad moment must not stop a worker.
//!
//! On a graceful stop the loop accepts, without waiting, every connection
//! already in the listen queue before it lets go of the listener: when the
//! last process holding a listening socket closes it, the kernel resets the
//! connections still queued, and a client (or a balancer) that had already
//! connected would see its request fail. Queued connections are served
//! like any other during the drain.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use rg_contract::listeners::Listener;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Semaphore, mpsc, watch};
use tracing::warn;

use super::connection::{self, Connection};
use super::{Shared, Stop};

/// What every accept loop of a worker shares.
pub(super) struct Loop<S> {
    pub(super) stop: watch::Receiver<Option<Stop>>,
    pub(super) shared: Arc<Shared<S>>,
    pub(super) open: mpsc::Sender<()>,
    pub(super) slots: Arc<Semaphore>,
}

impl<S> Loop<S>
where
    S: connection::Stack,
{
    /// The loop for `listener`, to spawn; fails if tokio cannot take it.
    pub(super) fn run(
        mut self,
        listener: Listener,
    ) -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
        let described: Arc<str> = Arc::from(listener.describe());
        let tokio_listener = match listener {
            Listener::Tcp(l, _) => Either::Tcp(tokio::net::TcpListener::from_std(l)?),
            Listener::Unix(l, _) => Either::Unix(tokio::net::UnixListener::from_std(l)?),
        };
        Ok(async move {
            match tokio_listener {
                Either::Tcp(l) => {
                    self.accept(&described, || async {
                        l.accept().await.map(|(s, p)| (s, Some(p)))
                    })
                    .await;
                    if self.graceful()
                        && let Ok(l) = l.into_std()
                    {
                        while let Ok((stream, peer)) = l.accept() {
                            let stream = stream
                                .set_nonblocking(true)
                                .and_then(|()| tokio::net::TcpStream::from_std(stream));
                            if let Ok(stream) = stream {
                                self.serve(stream, Some(peer), &described);
                            }
                        }
                    }
                }
                Either::Unix(l) => {
                    self.accept(&described, || async { l.accept().await.map(|(s, _)| (s, None)) })
                        .await;
                    if self.graceful()
                        && let Ok(l) = l.into_std()
                    {
                        while let Ok((stream, _)) = l.accept() {
                            let stream = stream
                                .set_nonblocking(true)
                                .and_then(|()| tokio::net::UnixStream::from_std(stream));
                            if let Ok(stream) = stream {
                                self.serve(stream, None, &described);
                            }
                        }
                    }
                }
            }
        })
    }

    /// Whether to take in what is queued: on a graceful stop, and not
    /// under `rg runserver`, which holds the socket itself and whose next
    /// build must get those connections, not the build that is leaving.
    fn graceful(&self) -> bool {
        self.shared.config.drain_queue && matches!(*self.stop.borrow(), Some(Stop::Graceful(_)))
    }

    /// Serves an accepted connection in a task of its own.
    fn serve<T>(&self, stream: T, peer: Option<SocketAddr>, server_addr: &Arc<str>)
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        // Another listener may have taken the last slot since: the worker
        // then goes over by at most one connection per listener, and that
        // one holds no slot.
        let slot = self.slots.clone().try_acquire_owned().ok();
        let connection = Arc::new(Connection::new(peer, server_addr.clone()));
        tokio::spawn(connection::serve(
            stream,
            connection,
            self.shared.clone(),
            self.stop.clone(),
            self.open.clone(),
            slot,
        ));
    }

    /// Accepts until the worker stops.
    async fn accept<T, F, Fut>(&mut self, server_addr: &Arc<str>, accept: F)
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        F: Fn() -> Fut,
        Fut: Future<Output = std::io::Result<(T, Option<SocketAddr>)>>,
    {
        loop {
            tokio::select! {
                biased;
                _ = self.stop.changed() => return,
                accepted = async {
                    // Wait for a free slot, but do not hold it while accept
                    // waits: with several listeners, an idle one holding the
                    // last slot would starve the others. (Accept is
                    // cancel-safe: a stop that comes first loses nothing.)
                    drop(self.slots.acquire().await);
                    accept().await
                } => match accepted {
                    Ok((stream, peer)) => {
                        self.serve(stream, peer, server_addr);
                        // Let this worker's other tasks run before it accepts
                        // again. Without it, whichever worker wakes first drains
                        // a burst of connections from the shared queue (measured:
                        // 59 of wrk's 64 in one of two workers); with it, a busy
                        // worker comes back to accept later than an idle one.
                        tokio::task::yield_now().await;
                    }
                    Err(e) => {
                        warn!("accept on {server_addr} failed: {e}");
                        // Typically EMFILE: give other tasks a moment to close files.
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    }
                }
            }
        }
    }
}

enum Either {
    Tcp(tokio::net::TcpListener),
    Unix(tokio::net::UnixListener),
}
