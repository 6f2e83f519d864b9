//! The accept loop of one listener, TCP or unix.
//!
//! A connection is accepted only with a free slot (`worker_connections`):
//! at the limit, new connections wait in the listen queue, where a less
//! busy worker of the same socket takes them. Errors from `accept` (a
//! client that gave up, too many open files) are logged and the loop goes
//! on: one bad moment must not stop a worker.

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
        self,
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
                    self.accept(described, || async {
                        l.accept().await.map(|(s, p)| (s, Some(p)))
                    })
                    .await
                }
                Either::Unix(l) => {
                    self.accept(described, || async { l.accept().await.map(|(s, _)| (s, None)) })
                        .await
                }
            }
        })
    }

    async fn accept<T, F, Fut>(mut self, server_addr: Arc<str>, accept: F)
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
                        // Another listener may have taken the last slot since:
                        // the worker then goes over by at most one connection per
                        // listener, and that one holds no slot.
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
