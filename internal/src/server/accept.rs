//! The accept loop of one listener, TCP or unix.
//!
//! A connection is accepted only with a free slot (`worker_connections`,
//! see `slots.rs`): at the limit, new connections wait in the listen
//! queue, where a less busy worker of the same socket takes them. While
//! every slot is taken, the loop still watches the queue: when a client
//! waits there and one of the worker's connections is idle, that one is
//! closed to make room. Errors from `accept` (too many open files) are
//! said once, retried without spinning, and their end said: one bad moment
//! must not stop a worker.
//!
//! The loop waits on the listening socket itself (tokio's `AsyncFd`)
//! rather than on tokio's `TcpListener`, because it needs to know that a
//! client waits without accepting it: accepting at the limit would keep the
//! client from a worker with room.
//!
//! On a graceful stop the loop accepts, without waiting, every connection
//! already in the listen queue before it lets go of the listener: when the
//! last process holding a listening socket closes it, the kernel resets the
//! connections still queued, and a client (or a balancer) that had already
//! connected would see its request fail. Queued connections are served
//! like any other during the drain.

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use rg_contract::listeners::Listener;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest};
use tokio::sync::mpsc;
use tokio_rustls::rustls::ServerConfig;
use tracing::{info, warn};

use super::config::Shared;
use super::connection;
use super::slots::{QUIET_ENOUGH, Slots};
use super::stats::Stats;
use crate::stop::How;

/// What every accept loop of a worker shares.
pub(super) struct Loop<S> {
    pub(super) shared: Arc<Shared<S>>,
    pub(super) open: mpsc::Sender<()>,
    pub(super) slots: Arc<Slots>,
    /// TLS on this listener: `rg serve`'s identity, unless `insecure_bind`.
    pub(super) tls: Option<Arc<ServerConfig>>,
}

impl<S> Loop<S>
where
    S: connection::Stack,
{
    /// The loop for `listener`, to spawn; fails if tokio cannot take it.
    pub(super) fn run(self, listener: Listener) -> io::Result<impl Future<Output = ()> + Send + 'static> {
        let described: Arc<str> = Arc::from(listener.describe());
        let socket = match listener {
            Listener::Tcp(l, _) => Socket::Tcp(register(l)?),
            Listener::Unix(l, _) => Socket::Unix(register(l)?),
        };
        Ok(async move {
            match socket {
                Socket::Tcp(socket) => self.listen(socket, described).await,
                Socket::Unix(socket) => self.listen(socket, described).await,
            }
        })
    }

    /// Accepts until the worker stops, then takes in what is queued if
    /// the stop is graceful. The listener closes when this returns.
    async fn listen<L: Accept>(self, socket: AsyncFd<L>, described: Arc<str>) {
        let mut failing = Failing::default();
        loop {
            tokio::select! {
                biased;
                _ = self.shared.stopping.begun() => break,
                // Cancel-safe: a stop that comes first loses no connection.
                accepted = next(&self.slots, &socket, self.shared.config.stats.as_deref()) => match accepted {
                    Ok((fd, peer)) => {
                        failing.over(&described);
                        match L::stream(fd) {
                            Ok(stream) => self.serve(stream, peer, &described),
                            Err(e) => warn!("accept on {described} failed: {e}"),
                        }
                        // Let this worker's other tasks run before it accepts
                        // again. Without it, whichever worker wakes first drains
                        // a burst of connections from the shared queue (measured:
                        // 59 of wrk's 64 in one of two workers); with it, a busy
                        // worker comes back to accept later than an idle one.
                        tokio::task::yield_now().await;
                    }
                    Err(e) => {
                        let pause = failing.failed(&described, &e);
                        tokio::time::sleep(pause).await;
                    }
                }
            }
        }
        if self.graceful() {
            while let Ok((fd, peer)) = accept(socket.get_ref().as_raw_fd()) {
                if let Ok(stream) = L::stream(fd) {
                    self.serve(stream, peer, &described);
                }
            }
        }
    }

    /// Whether to take in what is queued: on a graceful stop, and not
    /// under `rg runserver`, which holds the socket itself and whose next
    /// build must get those connections, not the build that is leaving.
    fn graceful(&self) -> bool {
        self.shared.config.drain_queue && self.shared.stopping.how() == How::Graceful
    }

    /// Serves an accepted connection in a task of its own.
    fn serve<T>(&self, stream: T, peer: Option<SocketAddr>, server_addr: &Arc<str>)
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        tokio::spawn(connection::serve(
            stream,
            peer,
            server_addr.clone(),
            self.shared.clone(),
            self.tls.clone(),
            self.open.clone(),
            self.slots.take(),
        ));
    }
}

/// accept(2) failing, typically for want of descriptors (EMFILE): said
/// once when it starts and once when it ends, and retried with a growing
/// pause (10 to 100 ms) so that the loop never spins while it lasts.
#[derive(Default)]
struct Failing {
    attempts: u32,
}

impl Failing {
    /// One more failure; returns how long to wait before the next try.
    fn failed(&mut self, described: &str, e: &io::Error) -> Duration {
        if self.attempts == 0 {
            let hint = if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
                format!(
                    " (the open files limit is {}); new clients wait in the listen queue until descriptors free up",
                    open_files_limit()
                )
            } else {
                String::new()
            };
            warn!("accept on {described} failed: {e}{hint}");
        }
        self.attempts = self.attempts.saturating_add(1);
        Duration::from_millis((10 << self.attempts.min(4)).min(100))
    }

    /// A connection was accepted: says so if accepting had failed.
    fn over(&mut self, described: &str) {
        if self.attempts > 0 {
            info!(
                "accept on {described} works again, after {} failed attempts",
                self.attempts
            );
            self.attempts = 0;
        }
    }
}

/// This process's soft limit of open files.
fn open_files_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one valid rlimit.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    limit.rlim_cur
}

/// The listener, registered with tokio for readability.
fn register<L: Accept>(listener: L) -> io::Result<AsyncFd<L>> {
    // SAFETY: a std listener owns its descriptor, open until it is
    // dropped, and nothing here swaps it for another.
    Ok(unsafe { AsyncFd::register_with_interest(listener, Interest::READABLE) }?)
}

/// The next connection, once a slot is free.
async fn next<L: Accept>(
    slots: &Slots,
    socket: &AsyncFd<L>,
    stats: Option<&Stats>,
) -> io::Result<(OwnedFd, Option<SocketAddr>)> {
    loop {
        if slots.full() {
            room(slots, socket, stats).await?;
            continue;
        }
        let mut ready = socket.readable().await?;
        if let Ok(accepted) = ready.try_io(|socket| accept(socket.get_ref().as_raw_fd())) {
            return accepted;
        }
    }
}

/// Every slot is taken: waits for one to free and, when a client waits in
/// the queue meanwhile, makes room for it by closing an idle connection
/// (counted in `stats`).
async fn room<L: Accept>(slots: &Slots, socket: &AsyncFd<L>, stats: Option<&Stats>) -> io::Result<()> {
    tokio::select! {
        () = slots.freed() => Ok(()),
        ready = socket.readable() => {
            let mut ready = ready?;
            // tokio remembers readiness until an accept finds the queue
            // empty, and another worker may have emptied it since.
            if !waiting(socket.get_ref().as_raw_fd()) {
                ready.clear_ready();
                return Ok(());
            }
            drop(ready);
            if slots.make_room() {
                if let Some(stats) = stats {
                    stats.closed_idle();
                }
                slots.freed().await;
            } else {
                // Nothing idle: wait for a slot, and look again when a
                // connection may have turned idle.
                tokio::select! {
                    () = slots.freed() => {}
                    () = tokio::time::sleep(QUIET_ENOUGH) => {}
                }
            }
            Ok(())
        }
    }
}

/// Whether a client waits in the listen queue, asked without accepting it.
fn waiting(listener: RawFd) -> bool {
    let mut poll = libc::pollfd {
        fd: listener,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, and a zero timeout: poll(2) does not block.
    let ready = unsafe { libc::poll(&mut poll, 1, 0) };
    ready == 1 && poll.revents & libc::POLLIN != 0
}

/// accept(2)s one connection, non-blocking and close-on-exec in the same
/// call (std's accept needs a second one to make it non-blocking). A
/// connection its client gave up on is skipped.
fn accept(listener: RawFd) -> io::Result<(OwnedFd, Option<SocketAddr>)> {
    loop {
        // SAFETY: all-zero bytes are a valid sockaddr_storage.
        let mut peer: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: `peer` is writable for `len` bytes, which accept4 updates.
        let fd = unsafe {
            libc::accept4(
                listener,
                (&raw mut peer).cast(),
                &mut len,
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            )
        };
        if fd < 0 {
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted => continue,
                _ => return Err(e),
            }
        }
        // SAFETY: accept4 returned a new descriptor, ours alone.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        return Ok((fd, socket_addr(&peer)));
    }
}

/// The peer's address, for IPv4 and IPv6 (a unix peer has none worth
/// keeping).
fn socket_addr(peer: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match libc::c_int::from(peer.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let v4 = unsafe { &*(peer as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(v4.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let v6 = unsafe { &*(peer as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(v6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(v6.sin6_port),
                v6.sin6_flowinfo,
                v6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

enum Socket {
    Tcp(AsyncFd<std::net::TcpListener>),
    Unix(AsyncFd<std::os::unix::net::UnixListener>),
}

/// A listening socket, and the stream its connections become.
trait Accept: AsRawFd + Send + Sync + 'static {
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    fn stream(fd: OwnedFd) -> io::Result<Self::Stream>;
}

impl Accept for std::net::TcpListener {
    type Stream = tokio::net::TcpStream;
    fn stream(fd: OwnedFd) -> io::Result<Self::Stream> {
        tokio::net::TcpStream::from_std(fd.into())
    }
}

impl Accept for std::os::unix::net::UnixListener {
    type Stream = tokio::net::UnixStream;
    fn stream(fd: OwnedFd) -> io::Result<Self::Stream> {
        tokio::net::UnixStream::from_std(fd.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_with_the_peer_address_and_sees_a_waiting_client_without_accepting_it() {
        for bind in ["127.0.0.1:0", "[::1]:0"] {
            let Ok(listener) = std::net::TcpListener::bind(bind) else {
                continue; // no IPv6 loopback here
            };
            listener.set_nonblocking(true).unwrap();
            let fd = listener.as_raw_fd();
            assert!(!waiting(fd));
            assert_eq!(accept(fd).unwrap_err().kind(), io::ErrorKind::WouldBlock);
            let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            assert!(waiting(fd));
            assert!(waiting(fd), "looking took the client");
            let (_, peer) = accept(fd).unwrap();
            assert_eq!(peer, Some(client.local_addr().unwrap()));
            assert!(!waiting(fd));
        }
    }
}
