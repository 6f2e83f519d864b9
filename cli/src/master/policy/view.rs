//! What the policy shows of itself to the metrics port and `rg status`: the
//! workers as it sees them, whether rg is ready for traffic, and how many
//! workers it replaced or removed, by reason. The counts are the policy's
//! because only it knows the reason at the moment it decides.

use std::time::{Duration, Instant};

use super::{Policy, Recycle};

/// Why a worker was replaced or removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// It exited when it was not asked to.
    Crash,
    /// Its heartbeat stopped for longer than `timeout`.
    Timeout,
    /// It served `max_requests`.
    MaxRequests,
    /// It lived `max_worker_lifetime`.
    Lifetime,
    /// It held more than `max_worker_rss`.
    Rss,
    /// HUP rolled it onto the new configuration.
    Reload,
    /// TTOU removed it.
    Ttou,
}

impl Restart {
    /// Every reason, in the order the metrics list them.
    pub const ALL: [Restart; 7] = [
        Restart::Crash,
        Restart::Timeout,
        Restart::MaxRequests,
        Restart::Lifetime,
        Restart::Rss,
        Restart::Reload,
        Restart::Ttou,
    ];

    /// The `reason` label.
    pub fn label(self) -> &'static str {
        match self {
            Restart::Crash => "crash",
            Restart::Timeout => "timeout",
            Restart::MaxRequests => "max_requests",
            Restart::Lifetime => "lifetime",
            Restart::Rss => "rss",
            Restart::Reload => "reload",
            Restart::Ttou => "ttou",
        }
    }
}

impl From<Recycle> for Restart {
    fn from(why: Recycle) -> Restart {
        match why {
            Recycle::MaxRequests => Restart::MaxRequests,
            Recycle::Lifetime => Restart::Lifetime,
            Recycle::Rss => Restart::Rss,
        }
    }
}

/// Restarts so far, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Restarts([u64; Restart::ALL.len()]);

impl Restarts {
    pub(super) fn count(&mut self, why: Restart) {
        self.0[why as usize] += 1;
    }

    /// How many for `why`.
    pub fn get(&self, why: Restart) -> u64 {
        self.0[why as usize]
    }

    /// `why` set to `n`, for a handover.
    pub fn set(&mut self, why: Restart, n: u64) {
        self.0[why as usize] = n;
    }
}

/// One worker, for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerView {
    /// Its number, as the log says it.
    pub id: u64,
    /// None while it is being spawned.
    pub pid: Option<u32>,
    /// Time since it was asked for.
    pub age: Duration,
    /// Time since its last heartbeat or message.
    pub heartbeat_age: Duration,
    /// booting, ready or leaving.
    pub state: &'static str,
}

impl Policy {
    /// The workers, oldest first.
    pub fn workers(&self, now: Instant) -> Vec<WorkerView> {
        let stopping = self.phase.is_stopping();
        self.workers
            .iter()
            .map(|(&id, w)| WorkerView {
                id,
                pid: w.pid,
                age: now.saturating_duration_since(w.born),
                heartbeat_age: now.saturating_duration_since(w.last_seen),
                state: if w.retiring.is_some() || stopping {
                    "leaving"
                } else if w.ready {
                    "ready"
                } else {
                    "booting"
                },
            })
            .collect()
    }

    /// Workers that are ready and not leaving.
    pub fn ready_workers(&self) -> usize {
        self.workers
            .values()
            .filter(|w| w.ready && w.retiring.is_none())
            .count()
    }

    /// Whether a balancer should send traffic: a worker is ready and rg
    /// is not stopping, nor about to.
    pub fn is_ready(&self) -> bool {
        !self.phase.is_leaving() && self.ready_workers() > 0
    }

    /// Workers replaced or removed so far, by reason.
    pub fn restarts(&self) -> Restarts {
        self.restarts
    }

    /// Reloads that stopped at a new worker that did not become ready.
    pub fn reload_failures(&self) -> u64 {
        self.reload_failures
    }

    /// Why no worker is started until the next HUP, if that is so.
    pub fn held(&self) -> Option<&str> {
        self.held.as_deref()
    }

    /// How many workers the master keeps.
    pub fn target(&self) -> usize {
        self.target
    }
}
