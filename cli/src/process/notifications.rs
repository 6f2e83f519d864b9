//! The receiving end of sd_notify: where workers report READY, WATCHDOG,
//! STOPPING, STATUS and X_RG_RECYCLE to the master.
//!
//! One datagram socket for all workers, as systemd does it: with
//! `SO_PASSCRED` the kernel attaches the sender's pid to each datagram, so
//! a message cannot be mistaken for another worker's, and a worker cannot
//! claim to be someone else.

use std::io::{self, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::sys::socket::{ControlMessageOwned, MsgFlags, UnixAddr, recvmsg, setsockopt, sockopt};
use rg_contract::notify::Notification;
use tokio::io::Interest;
use tokio::net::UnixDatagram;

/// One datagram: the sender's pid and its `KEY=VALUE` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The sending process.
    pub pid: u32,
    /// The pairs, in order.
    pub fields: Vec<(String, String)>,
}

impl Message {
    /// The value of `key`, if the message has it: the raw pair, which
    /// tests read; rg reads [`Message::notification`].
    #[cfg(test)]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// What the message says, in the contract's words.
    pub fn notification(&self) -> Notification {
        Notification::from_fields(self.fields.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }
}

/// The master's notification socket, in a directory of its own.
///
/// Like systemd's own notify socket, it is writable by anyone who can
/// reach it (workers may run as another user, `user = ...`): the guard is
/// the sender's pid, which the kernel vouches for and the master checks
/// against its workers. The directory lets others through but not list it.
/// Its directory goes with it.
#[derive(Debug)]
pub struct Receiver {
    socket: UnixDatagram,
    path: PathBuf,
}

impl Receiver {
    /// Binds a fresh socket (must be called inside a tokio runtime).
    pub fn bind() -> io::Result<Receiver> {
        let dir = tempfile::Builder::new().prefix("rg-master-").tempdir()?;
        let path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path)?;
        setsockopt(&socket, sockopt::PassCred, &true).map_err(io::Error::from)?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666))?;
        let _ = dir.keep();
        Ok(Receiver { socket, path })
    }

    /// The socket an upgraded master's predecessor bound at `path`, handed
    /// over as descriptor `fd`: the workers keep sending there.
    ///
    /// # Safety
    ///
    /// `fd` must be that open socket, owned by nothing else in this process.
    pub unsafe fn adopt(fd: RawFd, path: PathBuf) -> io::Result<Receiver> {
        // SAFETY: the caller hands over ownership of the descriptor.
        let socket = unsafe { std::os::unix::net::UnixDatagram::from_raw_fd(fd) };
        socket.set_nonblocking(true)?;
        Ok(Receiver {
            socket: UnixDatagram::from_std(socket)?,
            path,
        })
    }

    /// The socket's descriptor, for an upgrade's handover.
    pub fn fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    /// The path workers get as `NOTIFY_SOCKET`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next message. Datagrams without credentials are skipped.
    pub async fn recv(&self) -> io::Result<Message> {
        loop {
            let received = self
                .socket
                .async_io(Interest::READABLE, || self.receive_one())
                .await?;
            if let Some(message) = received {
                return Ok(message);
            }
        }
    }

    /// Every message already in the socket, without waiting for more. The
    /// driver calls it after it reaps exited workers, so a worker's last
    /// words (its final counts) are read before its exit. It asks the
    /// kernel, not tokio's readiness, which lags until the loop next polls.
    pub fn drain(&self) -> Vec<Message> {
        let mut messages = Vec::new();
        loop {
            match self.receive_one() {
                Ok(Some(message)) => messages.push(message),
                Ok(None) => continue,
                Err(_) => return messages,
            }
        }
    }

    /// One datagram, non-blocking; `None` for one without credentials.
    fn receive_one(&self) -> io::Result<Option<Message>> {
        let mut buf = [0u8; 4096];
        let mut cmsg = nix::cmsg_space!(nix::sys::socket::UnixCredentials);
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<UnixAddr>(
            self.socket.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_DONTWAIT,
        )
        .map_err(io::Error::from)?;
        let pid = msg.cmsgs().ok().and_then(|mut cmsgs| {
            cmsgs.find_map(|c| match c {
                ControlMessageOwned::ScmCredentials(cred) => Some(cred.pid() as u32),
                _ => None,
            })
        });
        let len = msg.bytes;
        Ok(pid.map(|pid| Message {
            pid,
            fields: parse(&String::from_utf8_lossy(&buf[..len])),
        }))
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Parses `KEY=VALUE` lines; lines without `=` are ignored, as systemd does.
pub fn parse(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pairs() {
        assert_eq!(
            parse("READY=1\nSTATUS=a=b\nnoise"),
            [
                ("READY".to_string(), "1".to_string()),
                ("STATUS".to_string(), "a=b".to_string())
            ]
        );
    }

    #[tokio::test]
    async fn receives_with_the_senders_pid() {
        let receiver = Receiver::bind().unwrap();
        let notifier = rg_contract::notify::Notifier::connect(receiver.path().to_str().unwrap()).unwrap();
        notifier.notify("READY=1\nSTATUS=up").unwrap();
        let message = receiver.recv().await.unwrap();
        assert_eq!(message.pid, std::process::id());
        assert_eq!(message.get("READY"), Some("1"));
        assert_eq!(message.get("STATUS"), Some("up"));

        notifier.notify("X=1").unwrap();
        notifier.notify("X=2").unwrap();
        let waiting: Vec<_> = receiver
            .drain()
            .iter()
            .map(|m| m.get("X").unwrap().to_string())
            .collect();
        assert_eq!(waiting, ["1", "2"]);
        assert_eq!(receiver.drain(), []);

        // Sent after the socket was last seen empty, with no poll since:
        // still drained (a recycled worker's final counts, CI, stop 35).
        notifier.notify("X=3").unwrap();
        assert_eq!(receiver.drain().len(), 1);
    }
}
