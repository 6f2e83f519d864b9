//! The listening sockets a worker serves: inherited or bound by itself.
//!
//! Under `rg serve`, `rg runserver` or systemd the sockets arrive as file
//! descriptors from 3 on, announced by `LISTEN_FDS` (socket activation).
//! Run by hand, the worker binds `RG_BIND` itself. Either way the rest of the
//! runtime sees the same [`Listener`] values.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::{Path, PathBuf};

use socket2::{Domain, SockAddr, SockFilter, Socket, Type};

use crate::{Bind, Error};

/// The first inherited descriptor, as systemd defines it (`SD_LISTEN_FDS_START`).
pub const LISTEN_FDS_START: RawFd = 3;

/// A listening socket, ready to hand to tokio.
#[derive(Debug)]
pub enum Listener {
    /// A TCP socket and the address it listens on.
    Tcp(std::net::TcpListener, SocketAddr),
    /// A unix socket and its path (if it has one).
    Unix(std::os::unix::net::UnixListener, Option<PathBuf>),
}

impl Listener {
    /// The address in the form users write, for logs and banners.
    pub fn describe(&self) -> String {
        match self {
            Listener::Tcp(_, addr) => addr.to_string(),
            Listener::Unix(_, Some(path)) => format!("unix:{}", path.display()),
            Listener::Unix(_, None) => "unix:(unnamed)".into(),
        }
    }

    /// Wraps an already-listening descriptor, checking that it is one and
    /// making it non-blocking (tokio refuses blocking sockets).
    ///
    /// # Safety
    ///
    /// `fd` must be an open descriptor that nothing else in this process owns.
    pub unsafe fn from_fd(fd: RawFd) -> Result<Listener, Error> {
        let bad = |reason: String| Error::InheritedFd { fd, reason };
        // SAFETY: the caller hands over ownership of an open descriptor.
        let socket = unsafe { Socket::from_raw_fd(fd) };
        let local = match socket.local_addr() {
            Ok(addr) => addr,
            Err(e) => {
                // Not a socket at all: give the descriptor back untouched.
                let _ = socket.into_raw_fd();
                return Err(bad(format!("not a socket ({e})")));
            }
        };
        match socket.r#type() {
            Ok(Type::STREAM) => {}
            _ => return Err(bad("not a stream socket".into())),
        }
        if !socket.is_listener().unwrap_or(false) {
            return Err(bad(
                "not a listening socket (listen() was never called on it)".into()
            ));
        }
        socket
            .set_nonblocking(true)
            .map_err(|e| bad(format!("cannot make it non-blocking: {e}")))?;
        socket
            .set_cloexec(true)
            .map_err(|e| bad(format!("cannot set close-on-exec: {e}")))?;
        let owned = OwnedFd::from(socket);
        if let Some(addr) = local.as_socket() {
            Ok(Listener::Tcp(std::net::TcpListener::from(owned), addr))
        } else if local.is_unix() {
            let path = local.as_pathname().map(Path::to_path_buf);
            Ok(Listener::Unix(
                std::os::unix::net::UnixListener::from(owned),
                path,
            ))
        } else {
            Err(bad("neither a TCP nor a unix socket".into()))
        }
    }

    /// Has the kernel drop new connection attempts on a TCP socket (a
    /// segment with SYN and not ACK) while the queued ones, and handshakes
    /// it already answered, still reach `accept`; false for a unix socket.
    /// The client sends its SYN again a second later and finds the port
    /// closed, which balancers retry, where a connection queued after the
    /// last accept would be reset with its request sent.
    pub fn refuse_new_connections(&self) -> io::Result<bool> {
        let Listener::Tcp(listener, _) = self else {
            return Ok(false);
        };
        // Classic BPF over the TCP header, where a socket filter starts:
        // byte 13 holds the flags. A packet's verdict is the bytes it keeps.
        let op = |code: u32| code as u16;
        let program = [
            SockFilter::new(op(libc::BPF_LD | libc::BPF_B | libc::BPF_ABS), 0, 0, 13),
            SockFilter::new(op(libc::BPF_ALU | libc::BPF_AND | libc::BPF_K), 0, 0, SYN | ACK),
            SockFilter::new(op(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K), 0, 1, SYN),
            SockFilter::new(op(libc::BPF_RET | libc::BPF_K), 0, 0, 0),
            SockFilter::new(op(libc::BPF_RET | libc::BPF_K), 0, 0, u32::MAX),
        ];
        socket2::SockRef::from(listener).attach_filter(&program)?;
        Ok(true)
    }
}

/// TCP's SYN and ACK flags, in the header's byte 13.
const SYN: u32 = 0x02;
const ACK: u32 = 0x10;

/// Binds one address with `backlog`, the way every mode of rg binds:
/// `SO_REUSEADDR` on TCP so a restart does not wait for `TIME_WAIT`, a stale
/// unix socket file replaced (a live one is reported as in use), and the
/// socket non-blocking.
pub fn bind(bind: &Bind, backlog: i32) -> Result<Listener, Error> {
    let fail = |source: io::Error| Error::Bind {
        addr: bind.to_string(),
        source,
    };
    match bind {
        Bind::Tcp(addr) => {
            let socket = Socket::new(Domain::for_address(*addr), Type::STREAM, None).map_err(fail)?;
            socket.set_reuse_address(true).map_err(fail)?;
            socket.bind(&SockAddr::from(*addr)).map_err(fail)?;
            socket.listen(backlog).map_err(fail)?;
            socket.set_nonblocking(true).map_err(fail)?;
            let listener = std::net::TcpListener::from(socket);
            let local = listener.local_addr().map_err(fail)?;
            Ok(Listener::Tcp(listener, local))
        }
        Bind::Unix(path) => {
            remove_stale_socket(path).map_err(fail)?;
            let socket = Socket::new(Domain::UNIX, Type::STREAM, None).map_err(fail)?;
            socket.bind(&SockAddr::unix(path).map_err(fail)?).map_err(fail)?;
            socket.listen(backlog).map_err(fail)?;
            socket.set_nonblocking(true).map_err(fail)?;
            Ok(Listener::Unix(socket.into(), Some(path.clone())))
        }
        Bind::Fd(fd) => {
            // SAFETY: `fd://N` is the user telling us N is an open listening
            // socket handed to this process; `from_fd` verifies it is one.
            unsafe { Listener::from_fd(*fd) }
        }
    }
}

/// Removes a unix socket file that no server is listening on any more.
/// A socket someone still accepts on is left alone and reported as in use;
/// a path that is not a socket is never removed.
fn remove_stale_socket(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "a file that is not a socket is in the way",
        ));
    }
    match StdUnixStream::connect(path) {
        Ok(_) => Err(io::Error::from(io::ErrorKind::AddrInUse)),
        Err(_) => std::fs::remove_file(path),
    }
}

/// Systemd's socket-activation variables, as read from the environment.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Activation {
    /// `LISTEN_FDS`: how many descriptors, from 3.
    pub fds: usize,
    /// `LISTEN_FDNAMES`: their names, if any.
    pub names: Vec<String>,
}

impl Activation {
    /// Reads `LISTEN_FDS`, `LISTEN_FDNAMES` and `LISTEN_PID` through `var`.
    /// Returns `None` when no sockets were passed to this process (unset, or
    /// `LISTEN_PID` names another process, as sd_listen_fds(3) specifies).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>, pid: u32) -> Result<Option<Activation>, Error> {
        let Some(fds) = var("LISTEN_FDS") else {
            return Ok(None);
        };
        if let Some(listen_pid) = var("LISTEN_PID") {
            match listen_pid.trim().parse::<u32>() {
                Ok(p) if p == pid => {}
                Ok(_) => return Ok(None),
                Err(_) => {
                    return Err(Error::Setting {
                        var: "LISTEN_PID".into(),
                        value: listen_pid,
                        reason: "not a process id".into(),
                    });
                }
            }
        }
        let count = fds.trim().parse::<usize>().map_err(|_| Error::Setting {
            var: "LISTEN_FDS".into(),
            value: fds.clone(),
            reason: "not a number of file descriptors".into(),
        })?;
        let names = var("LISTEN_FDNAMES")
            .map(|n| n.split(':').map(str::to_string).collect())
            .unwrap_or_default();
        Ok(Some(Activation { fds: count, names }))
    }

    /// Takes ownership of the announced descriptors.
    ///
    /// # Safety
    ///
    /// The descriptors 3..3+fds must have been handed to this process and
    /// not be owned by anything else in it.
    pub unsafe fn take(&self) -> Result<Vec<Listener>, Error> {
        (0..self.fds)
            .map(|i| {
                let fd = LISTEN_FDS_START + i as RawFd;
                // SAFETY: forwarded from this function's contract.
                unsafe { Listener::from_fd(fd) }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn refusing_new_connections_keeps_the_queued_ones_and_then_refuses() {
        use std::io::{Read, Write};
        use std::net::TcpStream;
        use std::time::Duration;
        let listener = bind(&"127.0.0.1:0".parse().unwrap(), 16).unwrap();
        let Listener::Tcp(socket, addr) = &listener else {
            unreachable!()
        };
        let addr = *addr;
        let mut queued = TcpStream::connect(addr).unwrap();
        assert!(listener.refuse_new_connections().unwrap());
        // A new client's SYN goes unanswered...
        let late = TcpStream::connect_timeout(&addr, Duration::from_millis(300));
        assert_eq!(late.unwrap_err().kind(), io::ErrorKind::TimedOut);
        // ...while the one queued before is accepted and served.
        let (mut served, _) = socket.accept().unwrap();
        queued.write_all(b"ping").unwrap();
        let mut got = [0; 4];
        served.set_nonblocking(false).unwrap();
        served.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ping");
        // Once the socket is closed, a client is refused.
        drop(listener);
        let refused = TcpStream::connect_timeout(&addr, Duration::from_millis(300));
        assert_eq!(refused.unwrap_err().kind(), io::ErrorKind::ConnectionRefused);
    }

    #[test]
    fn activation_honours_listen_pid() {
        assert_eq!(Activation::from_lookup(lookup(&[]), 7).unwrap(), None);
        let mine = Activation::from_lookup(
            lookup(&[
                ("LISTEN_FDS", "2"),
                ("LISTEN_PID", "7"),
                ("LISTEN_FDNAMES", "http:admin"),
            ]),
            7,
        )
        .unwrap()
        .unwrap();
        assert_eq!(mine.fds, 2);
        assert_eq!(mine.names, ["http", "admin"]);
        let theirs = Activation::from_lookup(lookup(&[("LISTEN_FDS", "2"), ("LISTEN_PID", "8")]), 7).unwrap();
        assert_eq!(theirs, None);
        let bad = Activation::from_lookup(lookup(&[("LISTEN_FDS", "two")]), 7).unwrap_err();
        assert!(bad.to_string().contains("LISTEN_FDS"));
    }

    #[test]
    fn binds_tcp_and_replaces_stale_unix_sockets() {
        let tcp = bind(&"127.0.0.1:0".parse().unwrap(), 16).unwrap();
        let Listener::Tcp(_, addr) = &tcp else {
            panic!("not tcp")
        };
        assert_ne!(addr.port(), 0);
        let in_use = bind(&Bind::Tcp(*addr), 16).unwrap_err().to_string();
        assert!(in_use.contains("address already in use"), "{in_use}");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.sock");
        let live = bind(&Bind::Unix(path.clone()), 16).unwrap();
        let err = bind(&Bind::Unix(path.clone()), 16).unwrap_err().to_string();
        assert!(err.contains("in use"), "{err}");
        drop(live); // the file stays behind, as after a crash
        assert!(path.exists());
        bind(&Bind::Unix(path.clone()), 16).unwrap();
    }

    #[test]
    fn refuses_a_descriptor_that_is_not_a_listening_socket() {
        let file = tempfile::tempfile().unwrap();
        let fd = file.into_raw_fd();
        // SAFETY: we own `fd`; from_fd gives it back (as an error) untouched.
        let err = unsafe { Listener::from_fd(fd) }.unwrap_err().to_string();
        assert!(err.contains("not a socket"), "{err}");
        // SAFETY: still ours; close it.
        drop(unsafe { OwnedFd::from_raw_fd(fd) });

        let (a, _b) = StdUnixStream::pair().unwrap();
        let err = unsafe { Listener::from_fd(a.into_raw_fd()) }
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a listening socket"), "{err}");
    }
}
