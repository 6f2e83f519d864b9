//! sd_notify: telling the supervisor (systemd, or `rg` itself) what the
//! worker is doing.
//!
//! The protocol is a datagram of `KEY=VALUE` lines sent to the unix socket
//! named by `NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace).
//! Without that variable every call is a no-op, so the application behaves
//! the same by hand, under systemd and under `rg`.

mod notification;

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

pub use notification::Notification;

/// A connection to the supervisor's notification socket, if there is one.
#[derive(Debug, Default)]
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET` from the environment.
    pub fn from_env() -> io::Result<Notifier> {
        match std::env::var_os("NOTIFY_SOCKET") {
            None => Ok(Notifier::default()),
            Some(path) => Notifier::connect(&path.to_string_lossy()),
        }
    }

    /// Prepares to send to `path` (`@name` is an abstract socket).
    pub fn connect(path: &str) -> io::Result<Notifier> {
        let addr = if let Some(name) = path.strip_prefix('@') {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name.as_bytes())?
        } else {
            SocketAddr::from_pathname(path)?
        };
        let socket = UnixDatagram::unbound()?;
        socket.set_nonblocking(true)?;
        Ok(Notifier {
            target: Some((socket, addr)),
        })
    }

    /// Whether anyone is listening.
    pub fn is_enabled(&self) -> bool {
        self.target.is_some()
    }

    /// Sends one message, e.g. `"READY=1"`. Failures are reported, not fatal:
    /// a supervisor that went away must not take the worker down with it.
    pub fn notify(&self, message: &str) -> io::Result<()> {
        match &self.target {
            None => Ok(()),
            Some((socket, addr)) => socket.send_to_addr(message.as_bytes(), addr).map(drop),
        }
    }

    /// Sends `notification`, as [`Notifier::notify`] does.
    pub fn send(&self, notification: &Notification) -> io::Result<()> {
        self.notify(&notification.to_string())
    }
}

/// How often to send `WATCHDOG=1`, from systemd's `WATCHDOG_USEC` (half the
/// timeout, as sd_watchdog_enabled(3) advises) when it is meant for this
/// process (`WATCHDOG_PID` unset or ours).
pub fn watchdog_interval(usec: Option<&str>, watchdog_pid: Option<&str>, pid: u32) -> Option<Duration> {
    if let Some(p) = watchdog_pid
        && p.trim().parse::<u32>().ok() != Some(pid)
    {
        return None;
    }
    let usec: u64 = usec?.trim().parse().ok().filter(|u| *u > 0)?;
    Some(Duration::from_micros(usec / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_datagrams_to_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let receiver = UnixDatagram::bind(&path).unwrap();
        let notifier = Notifier::connect(path.to_str().unwrap()).unwrap();
        assert!(notifier.is_enabled());
        notifier.notify("READY=1\nSTATUS=serving").unwrap();
        let mut buf = [0u8; 64];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=serving");
        assert!(Notifier::default().notify("READY=1").is_ok());
    }

    #[test]
    fn watchdog_interval_is_half_the_timeout_and_ours_only() {
        assert_eq!(
            watchdog_interval(Some("2000000"), None, 5),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            watchdog_interval(Some("2000000"), Some("5"), 5),
            Some(Duration::from_secs(1))
        );
        assert_eq!(watchdog_interval(Some("2000000"), Some("6"), 5), None);
        assert_eq!(watchdog_interval(None, None, 5), None);
        assert_eq!(watchdog_interval(Some("0"), None, 5), None);
    }
}
