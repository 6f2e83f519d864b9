//! Recycling: a worker is replaced, its replacement READY first, when it
//! served `max_requests` (it says so), lived `max_worker_lifetime` (plus a
//! jitter spread over the workers, so they do not all go at once), or held
//! more than `max_worker_rss` in memory for several samples in a row (so a
//! spike does not recycle it). Each is logged with its reason.

use std::time::Duration;
use std::time::Instant;

use tracing::{error, info};

use super::{Policy, Restart, Worker};

/// Samples in a row over `max_worker_rss` before a worker is recycled
/// (the driver samples once a second).
pub const RSS_SAMPLES: u32 = 3;

/// Why a worker is recycled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recycle {
    /// It served `max_requests`.
    MaxRequests,
    /// It lived `max_worker_lifetime`.
    Lifetime,
    /// It held more than `max_worker_rss`.
    Rss,
}

impl Recycle {
    /// In words, for the log.
    fn describe(self) -> &'static str {
        match self {
            Recycle::MaxRequests => "served max_requests",
            Recycle::Lifetime => "reached max_worker_lifetime",
            Recycle::Rss => "grew past max_worker_rss",
        }
    }
}

impl Policy {
    /// Marks `worker` for replacement, once, unless it is leaving anyway;
    /// true when it was marked now (the caller counts the restart).
    pub(super) fn ask_recycle(id: u64, worker: &mut Worker, why: Recycle) -> bool {
        if worker.recycle.is_some() || worker.retiring.is_some() {
            return false;
        }
        worker.recycle = Some(why);
        let pid = worker.pid.unwrap_or_default();
        info!(
            "Worker {id} (pid {pid}) {}; starting its replacement",
            why.describe()
        );
        true
    }

    /// Workers ready for longer than their lifetime are recycled.
    pub(super) fn check_lifetimes(&mut self, now: Instant) {
        let max = self.config.max_lifetime;
        if max.is_zero() {
            return;
        }
        let jitter = self.config.lifetime_jitter;
        for (&id, worker) in self.workers.iter_mut() {
            if worker.ready
                && now.duration_since(worker.born) >= max + spread(id, jitter)
                && Policy::ask_recycle(id, worker, Recycle::Lifetime)
            {
                self.restarts.count(Restart::Lifetime);
            }
        }
    }

    /// A memory sample: several in a row over the limit recycle the
    /// worker, so a spike does not. A worker over the limit at its first
    /// sample after READY means the limit is below what the application
    /// needs to start: say so, and stop recycling by memory rather than
    /// replace every worker forever.
    pub(super) fn on_rss(&mut self, pid: u32, bytes: u64) {
        let max = self.config.max_rss;
        if max == 0 {
            return;
        }
        let Some((&id, worker)) = self.workers.iter_mut().find(|(_, w)| w.pid == Some(pid)) else {
            return;
        };
        if !worker.ready {
            return;
        }
        worker.rss_samples += 1;
        if bytes <= max {
            worker.rss_over = 0;
            return;
        }
        if worker.rss_samples == 1 {
            error!(
                "max_worker_rss ({} MB) is below what a new worker holds ({} MB): recycling by memory is off until a reload sets a larger limit",
                max / MB,
                bytes.div_ceil(MB)
            );
            self.config.max_rss = 0;
            return;
        }
        worker.rss_over += 1;
        if worker.rss_over >= RSS_SAMPLES && Policy::ask_recycle(id, worker, Recycle::Rss) {
            self.restarts.count(Restart::Rss);
        }
    }
}

const MB: u64 = 1024 * 1024;

/// A share of `jitter` for worker `id`, spread evenly and the same every
/// time (no randomness in the policy, so tests can predict it).
fn spread(id: u64, jitter: Duration) -> Duration {
    if jitter.is_zero() {
        return Duration::ZERO;
    }
    let share = (id.wrapping_mul(2_654_435_761) % 1000) as u32;
    jitter * share / 1000
}
