//! Starting one worker process: the application's binary, exec'd with the
//! listening sockets as fds 3.., its settings in `RG_*` variables, and
//! `NOTIFY_SOCKET` pointing at the master.
//!
//! The only work between fork and exec is async-signal-safe: moving
//! descriptors into place and arming the parent-death signal, so a worker
//! never outlives a master that was SIGKILLed.

use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::process::owner::Owner;

/// What every worker of this master gets.
#[derive(Debug, Clone)]
pub struct WorkerSpec<'a> {
    /// The application's executable.
    pub program: &'a Path,
    /// The listening sockets, in order.
    pub fds: &'a [RawFd],
    /// Their names, for `LISTEN_FDNAMES`.
    pub names: &'a [String],
    /// `RG_*` settings.
    pub env: &'a [(String, String)],
    /// The master's notification socket.
    pub notify_socket: &'a Path,
    /// Heartbeat timeout in microseconds, for `WATCHDOG_USEC` (0: none).
    pub watchdog_usec: u64,
    /// Whom the worker runs as, when not as the master's user.
    pub owner: Option<&'a Owner>,
    /// The TLS identity's memory file, passed after the sockets.
    pub tls: Option<RawFd>,
}

/// Starts a worker and returns its pid. The child is reaped by the master's
/// `waitpid` loop, not through `std::process::Child`.
pub fn spawn(spec: &WorkerSpec<'_>, worker_id: u64) -> std::io::Result<u32> {
    let child = command(spec, worker_id).spawn()?;
    Ok(child.id())
}

/// The command that starts a worker, for callers that want to add to it.
pub fn command(spec: &WorkerSpec<'_>, worker_id: u64) -> Command {
    let mut cmd = Command::new(spec.program);
    // A worker gets exactly the RG_* variables of `spec.env`: the master has
    // read the ones in its own environment already, and an inherited one
    // the worker's runtime does not know would stop it at start.
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(|k| k.starts_with("RG_")) {
            cmd.env_remove(key);
        }
    }
    cmd.stdin(Stdio::null())
        .env_remove("LISTEN_PID")
        .env_remove("WATCHDOG_PID")
        .env("LISTEN_FDS", spec.fds.len().to_string())
        .env("LISTEN_FDNAMES", spec.names.join(":"))
        .env("NOTIFY_SOCKET", spec.notify_socket)
        .env("RG_INTERNAL_MASTER_PID", std::process::id().to_string())
        .env("RG_INTERNAL_WORKER_ID", worker_id.to_string());
    if spec.watchdog_usec > 0 {
        cmd.env("WATCHDOG_USEC", spec.watchdog_usec.to_string());
    } else {
        cmd.env_remove("WATCHDOG_USEC");
    }
    for (k, v) in spec.env {
        cmd.env(k, v);
    }
    if let Some(owner) = spec.owner {
        // std switches group, drops supplementary groups, then switches
        // user, all before the pre_exec closure below: the parent-death
        // signal, which a change of credentials clears, is armed after.
        cmd.gid(owner.gid).uid(owner.uid);
    }
    let mut fds = spec.fds.to_vec();
    if let Some(tls) = spec.tls {
        cmd.env(rg_contract::tls::TLS_FD, (3 + fds.len()).to_string());
        fds.push(tls);
    } else {
        cmd.env_remove(rg_contract::tls::TLS_FD);
    }
    let master = std::process::id() as libc::pid_t;
    // SAFETY: the closure makes only async-signal-safe calls (fcntl, dup2,
    // prctl, getppid) and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            let first_free = 3 + fds.len() as RawFd;
            // Move every socket out of the way first, so placing one at
            // 3+i can never overwrite another that still has to be moved.
            // Above the places only: a low open-files limit refuses more.
            let mut moved = [0 as RawFd; 64];
            if fds.len() > moved.len() {
                return Err(std::io::Error::other("too many sockets"));
            }
            for (i, fd) in fds.iter().enumerate() {
                let high = libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, first_free);
                if high < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                moved[i] = high;
            }
            for (i, high) in moved[..fds.len()].iter().enumerate() {
                // dup2 clears close-on-exec on the new descriptor.
                if libc::dup2(*high, 3 + i as RawFd) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The master may have died before prctl took effect.
            if libc::getppid() != master {
                return Err(std::io::Error::other("master exited"));
            }
            Ok(())
        });
    }
    cmd
}
