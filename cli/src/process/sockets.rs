//! The master's listening sockets: bound once at start and kept for the
//! master's whole life, so workers come and go without the address ever
//! refusing a connection.
//!
//! Binding itself is the contract's (`rg_contract::listeners::bind`, which
//! workers use too), so an address means the same to `rg serve` and to a
//! worker run by hand. This
//! module adds what only a long-lived master needs: socket files with a
//! mode and removed on exit, sockets handed to `rg serve` by systemd, and
//! a bind error that names who holds the port.

use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, anyhow};
use rg_contract::listeners::{self, Activation, Listener};
use rg_contract::{Bind, describe_io};
use tracing::warn;

use crate::process::owner::Owner;

/// The master's sockets.
#[derive(Debug)]
pub struct Sockets {
    /// The listeners, in bind order; their descriptors are what workers get.
    pub listeners: Vec<Listener>,
    /// Whether each listener is one of `insecure_bind`'s: plain HTTP beside TLS.
    plain: Vec<bool>,
    /// Socket files rg created, to remove on exit.
    created: Vec<PathBuf>,
    /// Whether rg bound each listener itself (systemd's and `fd://`'s
    /// outlive it, and are never told to refuse connections).
    bound: Vec<bool>,
}

/// How long a graceful close waits, with new connections refused, for the
/// handshakes the kernel already answered to complete: a round trip.
const HANDSHAKES_LAND: Duration = Duration::from_millis(10);

impl Sockets {
    /// Takes sockets passed by systemd if there are any, else binds `binds`
    /// and then `insecure` (plain HTTP beside TLS). Unix socket files get
    /// `unix_mode`, and `owner` if given.
    pub fn open(
        binds: &[Bind],
        insecure: &[Bind],
        backlog: i32,
        unix_mode: u32,
        owner: Option<&Owner>,
    ) -> Result<Sockets> {
        let activation = Activation::from_lookup(|k| std::env::var(k).ok(), std::process::id())?;
        if let Some(activation) = activation.filter(|a| a.fds > 0) {
            // SAFETY: LISTEN_PID names this process, so the descriptors were
            // passed to it, and nothing has claimed them yet.
            let listeners = unsafe { activation.take() }?;
            let bound = vec![false; listeners.len()];
            return Ok(Sockets::of(listeners, insecure, Vec::new(), bound));
        }
        let mut sockets = Sockets {
            listeners: Vec::new(),
            plain: Vec::new(),
            created: Vec::new(),
            bound: Vec::new(),
        };
        let all = binds
            .iter()
            .map(|b| (b, false))
            .chain(insecure.iter().map(|b| (b, true)));
        for (bind, plain) in all {
            let listener = listeners::bind(bind, backlog).map_err(|e| explain(bind, e))?;
            if let Bind::Unix(path) = bind {
                sockets.created.push(path.clone());
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(unix_mode))
                    .map_err(|e| anyhow!("could not set mode {unix_mode:o} on {}: {e}", path.display()))?;
                if let Some(owner) = owner {
                    std::os::unix::fs::chown(path, Some(owner.uid), Some(owner.gid)).map_err(|e| {
                        anyhow!(
                            "could not give {} to uid {} gid {}: {e}",
                            path.display(),
                            owner.uid,
                            owner.gid
                        )
                    })?;
                }
            }
            sockets.listeners.push(listener);
            sockets.plain.push(plain);
            sockets.bound.push(!matches!(bind, Bind::Fd(_)));
        }
        Ok(sockets)
    }

    /// Sockets bound elsewhere (systemd, the previous master): those whose
    /// address is one of `insecure` serve plain HTTP.
    fn of(listeners: Vec<Listener>, insecure: &[Bind], created: Vec<PathBuf>, bound: Vec<bool>) -> Sockets {
        let plain = listeners
            .iter()
            .map(|listener| insecure.iter().any(|bind| is_at(listener, bind)))
            .collect();
        Sockets {
            listeners,
            plain,
            created,
            bound,
        }
    }

    /// The sockets an upgraded master's predecessor had, handed over as
    /// `fds`, with the socket files it created (removed at exit) and which
    /// it bound itself.
    ///
    /// # Safety
    ///
    /// Each of `fds` must be an open listening socket owned by nothing else
    /// in this process.
    pub unsafe fn adopt(
        fds: &[RawFd],
        insecure: &[Bind],
        created: Vec<PathBuf>,
        mut bound: Vec<bool>,
    ) -> Result<Sockets> {
        let listeners = fds
            .iter()
            // SAFETY: as the caller promises.
            .map(|&fd| unsafe { Listener::from_fd(fd) })
            .collect::<Result<Vec<_>, _>>()?;
        bound.resize(listeners.len(), false);
        Ok(Sockets::of(listeners, insecure, created, bound))
    }

    /// The positions of the listeners that serve plain HTTP beside TLS.
    pub fn plain(&self) -> Vec<usize> {
        (0..self.plain.len()).filter(|&i| self.plain[i]).collect()
    }

    /// Each socket's address as a URL (a unix socket as its name), when
    /// the others serve TLS.
    pub fn urls(&self, tls: bool) -> Vec<String> {
        self.listeners
            .iter()
            .zip(&self.plain)
            .map(|(listener, plain)| match listener {
                Listener::Unix(..) => listener.describe(),
                _ if tls && !plain => format!("https://{}", listener.describe()),
                _ => format!("http://{}", listener.describe()),
            })
            .collect()
    }

    /// The socket files this master removes at exit.
    pub fn created(&self) -> &[PathBuf] {
        &self.created
    }

    /// Whether rg bound each listener itself.
    pub fn bound(&self) -> &[bool] {
        &self.bound
    }

    /// The descriptors, in order, for `LISTEN_FDS`.
    pub fn fds(&self) -> Vec<RawFd> {
        self.listeners
            .iter()
            .map(|l| match l {
                Listener::Tcp(l, _) => l.as_raw_fd(),
                Listener::Unix(l, _) => l.as_raw_fd(),
            })
            .collect()
    }

    /// What each socket is, for logs and `LISTEN_FDNAMES`.
    pub fn names(&self) -> Vec<String> {
        self.listeners.iter().map(Listener::describe).collect()
    }

    /// For each TCP listener: its address, the connections waiting in its
    /// accept queue, and the queue's length (Linux's `TCP_INFO` says both
    /// for a listening socket). Unix sockets have no such counter.
    pub fn queues(&self) -> Vec<(String, u32, u32)> {
        self.listeners
            .iter()
            .filter_map(|l| match l {
                Listener::Tcp(socket, _) => {
                    let (waiting, max) = accept_queue(socket.as_raw_fd())?;
                    Some((l.describe(), waiting, max))
                }
                Listener::Unix(..) => None,
            })
            .collect()
    }

    /// Closes the listening sockets (new connections are refused from now
    /// on) and removes the socket files. A graceful close first has the
    /// kernel refuse new connections on the TCP sockets rg bound and lets
    /// the handshakes under way land in the queue the workers drain: closed
    /// at once, the last worker would reset what lands after its last accept.
    pub fn close(&mut self, graceful: bool) {
        if graceful && self.refuse_new() {
            std::thread::sleep(HANDSHAKES_LAND);
        }
        self.listeners.clear();
        self.remove_files();
    }

    /// Has the kernel refuse new connections on the TCP sockets rg bound;
    /// true if it did on any.
    fn refuse_new(&self) -> bool {
        let mut refused = false;
        for (listener, _) in self
            .listeners
            .iter()
            .zip(&self.bound)
            .filter(|(_, bound)| **bound)
        {
            match listener.refuse_new_connections() {
                Ok(tcp) => refused |= tcp,
                Err(e) => warn!("could not refuse new connections on {}: {e}", listener.describe()),
            }
        }
        refused
    }

    /// Removes the socket files this master created.
    pub fn remove_files(&mut self) {
        for path in self.created.drain(..) {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Drop for Sockets {
    fn drop(&mut self) {
        self.remove_files();
    }
}

/// A listening TCP socket's accept queue: (waiting, length).
fn accept_queue(fd: RawFd) -> Option<(u32, u32)> {
    // SAFETY: tcp_info is plain data; getsockopt writes at most `len` bytes
    // into it and says how many.
    unsafe {
        let mut info: libc::tcp_info = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        let rc = libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast(),
            &mut len,
        );
        // For a listener, the kernel reports the queue in these two fields.
        (rc == 0).then_some((info.tcpi_unacked, info.tcpi_sacked))
    }
}

/// Turns a bind error into one sentence, naming the process that holds
/// the port when /proc lets us see it.
pub(crate) fn explain(bind: &Bind, error: rg_contract::Error) -> anyhow::Error {
    if let (rg_contract::Error::Bind { source, .. }, Bind::Tcp(addr)) = (&error, bind)
        && source.kind() == std::io::ErrorKind::AddrInUse
    {
        let holder = holder_of_port(addr.port())
            .map(|(pid, name)| format!(" by {name} (pid {pid})"))
            .unwrap_or_default();
        return anyhow!("could not bind {bind}: address already in use{holder}");
    }
    if let rg_contract::Error::Bind { source, .. } = &error {
        return anyhow!("could not bind {bind}: {}", describe_io(source));
    }
    anyhow!("{error}")
}

/// The process listening on TCP `port`, from /proc/net/tcp{,6} and the
/// processes' descriptor tables.
pub fn holder_of_port(port: u16) -> Option<(u32, String)> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) = (fields.get(1), fields.get(3), fields.get(9))
            else {
                continue;
            };
            let local_port = local
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            if *state == "0A" && local_port == Some(port) {
                inodes.push(format!("socket:[{inode}]"));
            }
        }
    }
    if inodes.is_empty() {
        return None;
    }
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path())
                && inodes.iter().any(|i| target.as_os_str() == i.as_str())
            {
                let name = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
                return Some((pid, name.trim().to_string()));
            }
        }
    }
    None
}

/// Whether `listener` listens where `bind` says.
fn is_at(listener: &Listener, bind: &Bind) -> bool {
    match (listener, bind) {
        (Listener::Tcp(_, addr), Bind::Tcp(at)) => addr == at,
        (Listener::Unix(_, Some(path)), Bind::Unix(at)) => path == at,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_process_holding_a_port() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let (pid, _) = holder_of_port(port).expect("our own listener is visible");
        assert_eq!(pid, std::process::id());
        let err = Sockets::open(&[Bind::Tcp(taken.local_addr().unwrap())], &[], 16, 0o666, None).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("address already in use by"), "{text}");
        assert!(text.contains(&format!("(pid {})", std::process::id())), "{text}");
    }

    #[test]
    fn unix_sockets_get_their_mode_and_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let sockets = Sockets::open(&[], &[Bind::Unix(path.clone())], 16, 0o660, None).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);
        assert_eq!(sockets.names(), [format!("unix:{}", path.display())]);
        drop(sockets);
        assert!(!path.exists());
    }

    #[test]
    fn insecure_binds_are_marked_plain_however_the_sockets_came() {
        let dir = tempfile::tempdir().unwrap();
        let plain = Bind::Unix(dir.path().join("plain.sock"));
        let tcp = Bind::Tcp("127.0.0.1:0".parse().unwrap());
        let sockets = Sockets::open(&[tcp], std::slice::from_ref(&plain), 16, 0o660, None).unwrap();
        assert_eq!(sockets.plain(), [1]);
        let urls = sockets.urls(true);
        assert!(urls[0].starts_with("https://127.0.0.1:"), "{urls:?}");
        assert_eq!(urls[1], plain.to_string());
        assert!(sockets.urls(false)[0].starts_with("http://"));
        // As the next master adopts them (USR2), by address.
        let adopted = Sockets::of(
            sockets.fds().iter().map(|&fd| dup(fd)).collect(),
            &[plain],
            Vec::new(),
            sockets.bound().to_vec(),
        );
        assert_eq!(adopted.plain(), [1]);
        // Bound by rg, unlike a socket handed to it as fd://N.
        assert_eq!(adopted.bound(), [true, true]);
        // SAFETY: a fresh duplicate, which the listener below takes.
        let handed = Bind::Fd(unsafe { libc::dup(sockets.fds()[0]) });
        let handed = Sockets::open(&[handed], &[], 16, 0o660, None).unwrap();
        assert_eq!(handed.bound(), [false]);
    }

    fn dup(fd: RawFd) -> Listener {
        // SAFETY: a fresh duplicate of a listening socket this test owns.
        unsafe { Listener::from_fd(libc::dup(fd)) }.unwrap()
    }
}
