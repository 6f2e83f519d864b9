//! The policy's vocabulary: what can happen to the master ([`Event`],
//! [`Request`]) and what it can decide to do ([`Action`]).

use nix::sys::signal::Signal;

use super::Config;
use crate::process::exit::Exit;
use crate::process::notifications::Message;

/// What the operator asked for with a signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Stop gracefully: TERM, or the signals `graceful_signals` names.
    Term,
    /// Stop now: INT and QUIT, or whichever `graceful_signals` leaves out.
    Quit,
    /// HUP, and the configuration was re-read: roll the workers onto it.
    Reloaded(Config),
    /// HUP, but the configuration is broken (the reason): change nothing.
    ReloadFailed(String),
    /// TTIN: one more worker.
    Ttin,
    /// TTOU: one fewer worker, never fewer than one.
    Ttou,
    /// USR1: reopen the log files.
    Usr1,
}

/// Something that happened, for [`Policy::on`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Time passed (the driver ticks every 100 ms; its first event).
    Tick,
    /// A signal to the master.
    Signal(Request),
    /// A worker's sd_notify message.
    Notified(Message),
    /// A child process ended.
    Exited {
        /// Its pid.
        pid: u32,
        /// How.
        how: Exit,
    },
    /// The answer to [`Action::Spawn`]: the worker runs as `pid`.
    Spawned {
        /// The `id` of the Spawn action.
        id: u64,
        /// The new process.
        pid: u32,
    },
    /// A sample of a worker's resident memory, in bytes.
    Rss {
        /// The worker.
        pid: u32,
        /// Its resident set size.
        bytes: u64,
    },
    /// The answer to [`Action::Spawn`]: the worker could not be started.
    SpawnFailed {
        /// The `id` of the Spawn action.
        id: u64,
        /// Why, in words.
        error: String,
    },
}

/// Something for the driver to do, in the order returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start worker `id` (taking over from `replaces` once READY). The
    /// driver must answer with [`Event::Spawned`] or [`Event::SpawnFailed`]
    /// before it delivers any other event.
    Spawn {
        /// The worker's number, counting from 1 for the master's life.
        id: u64,
        /// The pid of the worker it replaces, if any.
        replaces: Option<u32>,
    },
    /// Send `signal` to `pid`.
    Signal {
        /// A worker.
        pid: u32,
        /// The signal.
        signal: Signal,
    },
    /// Send this message to systemd's notify socket.
    NotifySystemd(String),
    /// A reload began, rolling this many workers: say so in the log and to
    /// systemd (RELOADING=1 with MONOTONIC_USEC, a clock only the driver reads).
    AnnounceReload {
        /// Workers running when it began.
        workers: usize,
    },
    /// Close the listening sockets, so new connections are refused; on a
    /// graceful stop, after the connections already on their way are in.
    CloseSockets {
        /// The stop is graceful.
        graceful: bool,
    },
    /// Reopen the master's log files.
    ReopenLogs,
    /// The master is done: exit with this code.
    Exit(u8),
}

impl Action {
    /// `Action::Signal` to `pid`.
    pub fn signal(pid: u32, signal: Signal) -> Action {
        Action::Signal { pid, signal }
    }
}
