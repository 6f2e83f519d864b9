//! The policy's step: after each event, one move towards the desired state.
//! While running: abort silent workers, start replacements for recycled
//! and stale ones (one stale worker at a time), and keep `target` workers;
//! while stopping: exit once the workers are gone, kill them at the deadline.
//! Also the moves that the step and the event handlers share: spawning,
//! retiring and signalling workers, telling systemd how many are ready.

use std::time::Instant;

use nix::sys::signal::Signal;
use rg_contract::notify::Notification;
use tracing::{error, info, warn};

use super::{Action, Phase, Policy, Restart, SECOND, Worker};

impl Policy {
    /// One move towards the desired state.
    pub(super) fn step(&mut self, now: Instant) {
        if let Phase::Leaving { drain_at } = self.phase
            && now >= drain_at
        {
            self.stop(true, 0, now);
        }
        if let Phase::Stopping { deadline, code } = self.phase {
            self.step_stopping(now, deadline, code);
            return;
        }
        self.check_heartbeats(now);
        self.check_lifetimes(now);
        if self.held.is_some() && self.ready_workers() == 0 {
            // Nothing left to protect: try again, and halt if that fails.
            self.held = None;
        }
        if self.held.is_some() {
            // Workers cannot be started: keep those serving, start none
            // (no replacement, no roll) until the operator sends HUP.
            return;
        }
        self.recycle(now);
        self.roll(now);
        let counted = self.counted();
        self.scale(&counted, now);
        self.finish_boot();
    }

    /// Exit once no worker is left; SIGKILL what is left at the deadline
    /// (and again every 5 s).
    fn step_stopping(&mut self, now: Instant, deadline: Instant, code: u8) {
        if self.workers.is_empty() {
            info!("Shutting down: master");
            self.actions.push(Action::Exit(code));
            return;
        }
        if now >= deadline {
            for (id, worker) in &self.workers {
                if let Some(pid) = worker.pid {
                    warn!("Worker {id} (pid {pid}) did not stop in time; sending SIGKILL");
                    self.actions.push(Action::signal(pid, Signal::SIGKILL));
                }
            }
            self.phase = Phase::Stopping {
                deadline: now + 5 * SECOND,
                code,
            };
        }
    }

    /// Kills workers whose heartbeat stopped: SIGABRT first, SIGKILL a
    /// second later; retiring workers that outstay the graceful timeout get
    /// SIGKILL.
    fn check_heartbeats(&mut self, now: Instant) {
        let timeout = self.config.timeout;
        let grace = self.config.graceful_timeout + SECOND;
        let actions = &mut self.actions;
        for (id, worker) in self.workers.iter_mut() {
            let Some(pid) = worker.pid else { continue };
            let kill = Action::signal(pid, Signal::SIGKILL);
            if let Some(since) = worker.retiring {
                if now.duration_since(since) > grace {
                    warn!(
                        "Worker {id} (pid {pid}) is still draining after the graceful timeout; sending SIGKILL"
                    );
                    actions.push(kill);
                    worker.retiring = Some(now);
                }
                continue;
            }
            if timeout.is_zero() {
                continue;
            }
            if let Some(at) = worker.aborted {
                if now.duration_since(at) > SECOND {
                    actions.push(kill);
                }
                continue;
            }
            let silent = now.duration_since(worker.last_seen);
            if silent > timeout {
                let doing = worker.status.as_deref().unwrap_or("no status reported");
                error!(
                    "Worker {id} (pid {pid}) timed out: silent for {:.1}s (timeout {:.1}s, {}); last status: {doing}; sending SIGABRT",
                    silent.as_secs_f64(),
                    timeout.as_secs_f64(),
                    if worker.ready {
                        "no heartbeat"
                    } else {
                        "never became ready"
                    },
                );
                actions.push(Action::signal(pid, Signal::SIGABRT));
                worker.aborted = Some(now);
                self.restarts.count(Restart::Timeout);
            }
        }
    }

    /// Replaces workers that are to be recycled (max_requests, lifetime,
    /// memory), each as soon as asked, the replacement READY first.
    fn recycle(&mut self, now: Instant) {
        let replaced = self.replaced();
        let recycle: Vec<u32> = self
            .workers
            .values()
            .filter(|w| w.recycle.is_some() && w.retiring.is_none())
            .filter_map(|w| w.pid)
            .filter(|pid| !replaced.contains(pid))
            .collect();
        for pid in recycle {
            self.spawn(Some(pid), now);
        }
    }

    /// Reload: one stale worker at a time, its replacement READY first;
    /// done when no stale worker is left and no replacement is pending.
    fn roll(&mut self, now: Instant) {
        let replaced = self.replaced();
        // (pid, ready), oldest first.
        let stale: Vec<(u32, bool)> = self
            .workers
            .values()
            .filter(|w| w.generation < self.generation && w.retiring.is_none())
            .filter_map(|w| w.pid.map(|pid| (pid, w.ready)))
            .collect();
        let rolling = stale.iter().any(|(pid, _)| replaced.contains(pid));
        match stale.first() {
            Some(&(oldest, true)) if !rolling => {
                self.restarts.count(Restart::Reload);
                self.spawn(Some(oldest), now);
            }
            // Not up yet: nothing to hand over, just retire it.
            Some(&(oldest, false)) if !rolling => {
                self.restarts.count(Restart::Reload);
                self.retire(oldest, now);
            }
            _ => {}
        }
        if self.phase == Phase::Reloading && stale.is_empty() && replaced.is_empty() {
            info!(
                "Reload complete: {} workers on the new configuration",
                self.target
            );
            self.phase = Phase::Running;
            self.tell_systemd(Notification::ready());
            self.tell_systemd_status();
        }
    }

    /// The right number of workers, given `counted`: the workers (oldest
    /// first) that are neither leaving nor a replacement still booting.
    fn scale(&mut self, counted: &[Option<u32>], now: Instant) {
        if counted.len() < self.target {
            for _ in counted.len()..self.target {
                self.spawn(None, now);
            }
        } else {
            let excess = counted.len() - self.target;
            for pid in counted.iter().flatten().take(excess) {
                self.retire(*pid, now);
            }
        }
    }

    /// Booting ends when all `target` workers are READY: tell systemd.
    fn finish_boot(&mut self) {
        if self.phase == Phase::Booting
            && self.workers.len() == self.target
            && self.workers.values().all(|w| w.ready)
        {
            match self.target {
                1 => info!("Booted 1 worker"),
                n => info!("Booted {n} workers"),
            }
            self.phase = Phase::Running;
            let ready = Notification::ready()
                .with_main_pid(std::process::id())
                .with_status(format!("{} workers ready", self.target));
            self.tell_systemd(ready);
        }
    }

    /// Asks the driver for a worker on the current generation; it counts
    /// from now, before its pid is known.
    pub(super) fn spawn(&mut self, replaces: Option<u32>, now: Instant) {
        let id = self.next_id;
        self.next_id += 1;
        self.workers.insert(
            id,
            Worker {
                pid: None,
                generation: self.generation,
                ready: false,
                last_seen: now,
                status: None,
                replaces,
                retiring: None,
                recycle: None,
                born: now,
                rss_samples: 0,
                rss_over: 0,
                aborted: None,
            },
        );
        self.actions.push(Action::Spawn { id, replaces });
    }

    /// Sends SIGTERM: the worker stops accepting and drains.
    pub(super) fn retire(&mut self, pid: u32, now: Instant) {
        let found = self.workers.iter_mut().find(|(_, w)| w.pid == Some(pid));
        if let Some((id, worker)) = found
            && worker.retiring.is_none()
        {
            worker.retiring = Some(now);
            info!("Retiring worker {id} (pid {pid})");
            self.actions.push(Action::signal(pid, Signal::SIGTERM));
        }
    }

    /// The pids that a booting replacement will take over from.
    fn replaced(&self) -> Vec<u32> {
        self.workers.values().filter_map(|w| w.replaces).collect()
    }

    /// The pids (None: still spawning) of the workers that count towards
    /// the target: neither leaving nor a replacement still booting.
    fn counted(&self) -> Vec<Option<u32>> {
        self.workers
            .values()
            .filter(|w| w.retiring.is_none() && w.replaces.is_none())
            .map(|w| w.pid)
            .collect()
    }

    /// `signal` to every worker that has a pid.
    pub(super) fn signal_all(&mut self, signal: Signal) {
        let pids = self.workers.values().filter_map(|w| w.pid);
        self.actions
            .extend(pids.map(|pid| Action::Signal { pid, signal }));
    }

    /// "STATUS=N of M workers ready", counting the ready and not leaving.
    pub(super) fn tell_systemd_status(&mut self) {
        let ready = self
            .workers
            .values()
            .filter(|w| w.ready && w.retiring.is_none())
            .count();
        self.tell_systemd(Notification::status(format!(
            "{ready} of {} workers ready",
            self.target
        )));
    }

    /// Has the driver send `notification` to systemd.
    pub(super) fn tell_systemd(&mut self, notification: Notification) {
        self.actions.push(Action::NotifySystemd(notification.to_string()));
    }

    /// The id of the worker running as `pid`.
    pub(super) fn id_of(&self, pid: u32) -> Option<u64> {
        self.workers
            .iter()
            .find(|(_, w)| w.pid == Some(pid))
            .map(|(id, _)| *id)
    }
}
