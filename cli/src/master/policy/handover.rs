//! The policy's part of an in-place upgrade (USR2): what a master hands to
//! the one it execs, and how that one takes the workers over as they were.

use std::time::{Duration, Instant};

use super::{Config, Phase, Policy, Restarts, Worker};

/// The policy's part of an in-place upgrade's handover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handed {
    /// The workers, oldest first.
    pub workers: Vec<HandedWorker>,
    /// The next worker's number.
    pub next_id: u64,
    /// Restarts so far.
    pub restarts: Restarts,
    /// Failed reloads so far.
    pub reload_failures: u64,
}

/// One worker in a [`Handed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandedWorker {
    /// Its number.
    pub id: u64,
    /// Its process.
    pub pid: u32,
    /// Whether it was serving.
    pub ready: bool,
    /// How long ago it was asked for.
    pub age: Duration,
}

impl Policy {
    /// A master that took over from its predecessor (USR2) with the same
    /// pid: its workers as they were, counted from `now` on, and its
    /// counts. A reload should follow, to roll them onto the new master.
    pub fn adopt(config: Config, handed: &Handed, now: Instant) -> Policy {
        let mut policy = Policy::new(config);
        for worker in &handed.workers {
            let born = now.checked_sub(worker.age).unwrap_or(now);
            policy.workers.insert(
                worker.id,
                Worker {
                    pid: Some(worker.pid),
                    generation: 0,
                    ready: worker.ready,
                    last_seen: now,
                    status: None,
                    replaces: None,
                    retiring: None,
                    recycle: None,
                    born,
                    rss_samples: 0,
                    rss_over: 0,
                    aborted: None,
                },
            );
        }
        policy.next_id = handed.next_id;
        policy.restarts = handed.restarts;
        policy.reload_failures = handed.reload_failures;
        policy.phase = Phase::Running;
        policy
    }

    /// What [`Policy::adopt`] takes over.
    pub fn handed(&self, now: Instant) -> Handed {
        Handed {
            workers: (self.workers.iter())
                .filter_map(|(&id, w)| {
                    Some(HandedWorker {
                        id,
                        pid: w.pid?,
                        ready: w.ready,
                        age: now.saturating_duration_since(w.born),
                    })
                })
                .collect(),
            next_id: self.next_id,
            restarts: self.restarts,
            reload_failures: self.reload_failures,
        }
    }
}
