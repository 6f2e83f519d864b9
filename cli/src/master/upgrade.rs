//! USR2: the master upgrades itself in place. The new `rg` on disk is run
//! first (`--version`, and `serve --check-config` with this master's own
//! arguments, which also names the handover format it reads); then the
//! master execs it, keeping its pid, its listening sockets, its workers and
//! their notification socket. What crosses the exec is a JSON document in
//! a memfd. A new master that cannot take over execs the previous binary
//! again (kept open as a descriptor), which takes the same document back.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Seek};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use serde_json::{Value, json};

use crate::master::policy::{Handed, HandedWorker, Restart, Restarts};

/// The version of the document; a new rg says which it reads.
pub const FORMAT: u64 = 1;
/// Set for `rg serve --check-config` when an upgrade asks.
pub const CHECK: &str = "RG_INTERNAL_UPGRADE";
const HANDOVER: &str = "RG_INTERNAL_HANDOVER";
const ROLLBACK: &str = "RG_INTERNAL_HANDOVER_ROLLBACK";
const FAILED: &str = "RG_INTERNAL_HANDOVER_FAILED";
/// How long the new rg may take to answer the checks.
const CHECK_WITHIN: Duration = Duration::from_secs(30);

/// What a master hands to the one it execs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handover {
    /// The rg that wrote it.
    pub from_version: String,
    /// The path rg was started as, which USR2 runs again.
    pub exe: PathBuf,
    /// The application's binary.
    pub program: PathBuf,
    /// How long the master has been up.
    pub uptime: Duration,
    /// The listening sockets, in order.
    pub sockets: Vec<RawFd>,
    /// The socket files to remove at exit.
    pub created: Vec<PathBuf>,
    /// Whether the master bound each socket itself (an older rg says nothing).
    pub bound: Vec<bool>,
    /// The workers' notification socket, and its path.
    pub receiver: (RawFd, PathBuf),
    /// The workers and counts.
    pub policy: Handed,
    /// Why the new rg could not take over, when this is the way back.
    pub failed: Option<String>,
}

impl Handover {
    fn to_json(&self) -> Value {
        let restarts: serde_json::Map<String, Value> = Restart::ALL
            .iter()
            .map(|&why| (why.label().to_string(), json!(self.policy.restarts.get(why))))
            .collect();
        json!({
            "format": FORMAT,
            "from_version": self.from_version,
            "exe": self.exe,
            "program": self.program,
            "uptime_ms": self.uptime.as_millis() as u64,
            "sockets": self.sockets,
            "created": self.created,
            "bound": self.bound,
            "receiver": { "fd": self.receiver.0, "path": self.receiver.1 },
            "workers": self.policy.workers.iter().map(|w| json!({
                "id": w.id, "pid": w.pid, "ready": w.ready, "age_ms": w.age.as_millis() as u64,
            })).collect::<Vec<_>>(),
            "next_id": self.policy.next_id,
            "restarts": restarts,
            "reload_failures": self.policy.reload_failures,
        })
    }

    fn from_json(v: &Value) -> Result<Handover, String> {
        let format = v["format"].as_u64().ok_or("no format")?;
        if format != FORMAT {
            return Err(format!("handover format {format}, and this rg reads {FORMAT}"));
        }
        let text = |v: &Value, what: &str| v.as_str().map(str::to_string).ok_or(format!("no {what}"));
        let number = |v: &Value, what: &str| v.as_u64().ok_or(format!("no {what}"));
        let fd =
            |v: &Value| number(v, "descriptor").and_then(|n| RawFd::try_from(n).map_err(|e| e.to_string()));
        let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
        let mut restarts = Restarts::default();
        for why in Restart::ALL {
            restarts.set(why, v["restarts"][why.label()].as_u64().unwrap_or(0));
        }
        Ok(Handover {
            from_version: text(&v["from_version"], "from_version")?,
            exe: text(&v["exe"], "exe")?.into(),
            program: text(&v["program"], "program")?.into(),
            uptime: Duration::from_millis(number(&v["uptime_ms"], "uptime")?),
            sockets: list(&v["sockets"]).iter().map(fd).collect::<Result<_, _>>()?,
            created: (list(&v["created"]).iter())
                .map(|p| text(p, "socket file").map(PathBuf::from))
                .collect::<Result<_, _>>()?,
            bound: (list(&v["bound"]).iter())
                .map(|b| b.as_bool() == Some(true))
                .collect(),
            receiver: (
                fd(&v["receiver"]["fd"])?,
                text(&v["receiver"]["path"], "receiver path")?.into(),
            ),
            policy: Handed {
                workers: (list(&v["workers"]).iter())
                    .map(|w| {
                        Ok(HandedWorker {
                            id: number(&w["id"], "worker id")?,
                            pid: u32::try_from(number(&w["pid"], "worker pid")?)
                                .map_err(|e| e.to_string())?,
                            ready: w["ready"].as_bool().unwrap_or(false),
                            age: Duration::from_millis(number(&w["age_ms"], "worker age")?),
                        })
                    })
                    .collect::<Result<_, String>>()?,
                next_id: number(&v["next_id"], "next_id")?,
                restarts,
                reload_failures: v["reload_failures"].as_u64().unwrap_or(0),
            },
            failed: None,
        })
    }
}

/// Runs the new rg at `exe` as the upgrade will: its version, and whether
/// it accepts this master's arguments and reads this handover. Its words
/// are the error when it does not.
pub async fn check(exe: &Path, args: &[OsString]) -> Result<String, String> {
    let run = |command: &mut tokio::process::Command| {
        let output = command
            .kill_on_drop(true)
            .stdin(std::process::Stdio::null())
            .output();
        async move {
            match tokio::time::timeout(CHECK_WITHIN, output).await {
                Ok(Ok(out)) => Ok(out),
                Ok(Err(e)) => Err(format!("could not run `{}`: {e}", exe.display())),
                Err(_) => Err(format!(
                    "`{}` did not answer within {}s",
                    exe.display(),
                    CHECK_WITHIN.as_secs()
                )),
            }
        }
    };
    let said = |out: &std::process::Output| {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        text.trim().lines().last().unwrap_or("nothing").to_string()
    };
    let out = run(tokio::process::Command::new(exe).arg("--version")).await?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let version = match stdout.trim().strip_prefix("rg ") {
        Some(version) if out.status.success() => version.to_string(),
        _ => {
            return Err(format!(
                "`{} --version` is not rg's ({}: {})",
                exe.display(),
                out.status,
                said(&out)
            ));
        }
    };
    let out = run(tokio::process::Command::new(exe)
        .args(args.iter().skip(1))
        .arg("--check-config")
        .env(CHECK, "check"))
    .await?;
    if !out.status.success() {
        return Err(format!(
            "rg {version} refuses this configuration ({}): {}",
            out.status,
            said(&out)
        ));
    }
    if !String::from_utf8_lossy(&out.stdout).contains(&format!("handover format {FORMAT}")) {
        return Err(format!(
            "rg {version} cannot take over from this rg (handover format {FORMAT})"
        ));
    }
    Ok(version)
}

/// Execs `handover.exe` with `args`, handing it `handover`; returns only if
/// that failed, every descriptor as it was.
pub fn exec(args: &[OsString], handover: &Handover) -> io::Error {
    let document = handover.to_json().to_string();
    let memfd = match memfd(&document) {
        Ok(fd) => fd,
        Err(e) => return e,
    };
    // The running binary, for the way back; the file at `exe` is the new one.
    // SAFETY: a path and flags; the result is checked.
    let previous = unsafe { libc::open(c"/proc/self/exe".as_ptr(), libc::O_RDONLY) };
    let mut kept: Vec<RawFd> = handover.sockets.clone();
    kept.push(handover.receiver.0);
    for &fd in &kept {
        set_cloexec(fd, false);
    }
    let mut command = Command::new(&handover.exe);
    command
        .args(args.iter().skip(1))
        .env(HANDOVER, memfd.to_string())
        .env_remove(FAILED);
    if previous >= 0 {
        command.env(ROLLBACK, previous.to_string());
    }
    let error = command.exec();
    for &fd in &kept {
        set_cloexec(fd, true);
    }
    // SAFETY: both were opened above and are ours.
    unsafe {
        libc::close(memfd);
        if previous >= 0 {
            libc::close(previous);
        }
    }
    error
}

/// The handover this process was exec'd with, if it was.
pub fn take() -> Option<Result<Handover>> {
    let fd: RawFd = std::env::var(HANDOVER).ok()?.parse().ok()?;
    Some(read(fd).map(|mut handover| {
        handover.failed = std::env::var(FAILED).ok();
        handover
    }))
}

fn read(fd: RawFd) -> Result<Handover> {
    // SAFETY: dup(2) of the descriptor the previous master left open; the
    // copy is ours to close, the original stays for a way back.
    let copy = unsafe { libc::dup(fd) };
    if copy < 0 {
        return Err(io::Error::last_os_error()).context("the handover document");
    }
    // SAFETY: `copy` was just made and nothing else owns it.
    let mut file = unsafe { File::from_raw_fd(copy) };
    let mut text = String::new();
    file.rewind()
        .and_then(|_| file.read_to_string(&mut text))
        .context("the handover document")?;
    let value: Value = serde_json::from_str(&text).context("the handover document")?;
    Handover::from_json(&value).map_err(|e| anyhow!("the handover document: {e}"))
}

/// The new master has taken over: the document and the way back are
/// closed, and the sockets it keeps are closed on exec again, so workers
/// get only the copies meant for them.
pub fn done(handover: &Handover) {
    for var in [HANDOVER, ROLLBACK] {
        if let Some(fd) = std::env::var(var).ok().and_then(|v| v.parse::<RawFd>().ok()) {
            // SAFETY: descriptors the previous master opened for this one.
            unsafe { libc::close(fd) };
        }
    }
    for fd in handover.sockets.iter().chain([&handover.receiver.0]) {
        set_cloexec(*fd, true);
    }
    for var in [HANDOVER, ROLLBACK, FAILED] {
        // SAFETY: the master's single thread; nothing reads the environment
        // concurrently (tokio's runtime does not).
        unsafe { std::env::remove_var(var) };
    }
}

/// The new master could not take over: exec the previous rg again with
/// the same document and the reason. Returns only if there is none, or
/// that failed too.
pub fn roll_back(why: &str) -> anyhow::Error {
    let Some(fd) = std::env::var(ROLLBACK).ok() else {
        return anyhow!("{why}");
    };
    let error = Command::new(format!("/proc/self/fd/{fd}"))
        .args(std::env::args_os().skip(1))
        .env(FAILED, why)
        .env_remove(ROLLBACK)
        .exec();
    anyhow!("{why}; and going back to the previous rg failed: {error}")
}

fn memfd(text: &str) -> io::Result<RawFd> {
    // SAFETY: a name and no flags: the descriptor survives exec.
    let fd = unsafe { libc::memfd_create(c"rg-handover".as_ptr(), 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just made; `file` borrows it for the write only.
    let file = std::mem::ManuallyDrop::new(unsafe { File::from_raw_fd(fd) });
    std::io::Write::write_all(&mut &*file, text.as_bytes())?;
    Ok(fd)
}

fn set_cloexec(fd: RawFd, on: bool) {
    // SAFETY: fcntl on a descriptor this process holds; errors leave it as is.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFD);
        if flags >= 0 {
            let flags = if on {
                flags | libc::FD_CLOEXEC
            } else {
                flags & !libc::FD_CLOEXEC
            };
            libc::fcntl(fd, libc::F_SETFD, flags);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_reads_back_as_written_and_refuses_another_format() {
        let mut restarts = Restarts::default();
        restarts.set(Restart::Reload, 4);
        let handover = Handover {
            from_version: "0.1.0".into(),
            exe: "/usr/local/bin/rg".into(),
            program: "/srv/site/target/release/site".into(),
            uptime: Duration::from_millis(90_500),
            sockets: vec![5, 6],
            created: vec!["/run/site.sock".into()],
            bound: vec![true, false],
            receiver: (7, "/tmp/rg-master-x/notify.sock".into()),
            policy: Handed {
                workers: vec![HandedWorker {
                    id: 3,
                    pid: 4242,
                    ready: true,
                    age: Duration::from_secs(60),
                }],
                next_id: 4,
                restarts,
                reload_failures: 1,
            },
            failed: None,
        };
        let fd = memfd(&handover.to_json().to_string()).unwrap();
        assert_eq!(read(fd).unwrap(), handover);
        assert_eq!(read(fd).unwrap(), handover, "read again on the way back");
        // An rg from before `bound` bound nothing it would say.
        let mut older = handover.to_json();
        older.as_object_mut().unwrap().remove("bound");
        assert_eq!(Handover::from_json(&older).unwrap().bound, Vec::<bool>::new());
        let mut other = handover.to_json();
        other["format"] = json!(FORMAT + 1);
        let err = Handover::from_json(&other).unwrap_err();
        assert!(err.contains(&format!("handover format {}", FORMAT + 1)), "{err}");
        // SAFETY: made above.
        unsafe { libc::close(fd) };
    }
}
