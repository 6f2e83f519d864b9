//! What the master decides, without doing any of it: given an [`Event`]
//! (a tick, a signal, a worker's notification or exit, a spawn's result)
//! and the time, [`Policy::on`] updates its view of the workers and returns
//! the [`Action`]s to carry out. No processes, sockets or clocks: the driver
//! (`driver.rs`) does the I/O, and tests drive the policy with a fake clock.
//! After every event it takes one step towards the desired state: the right
//! number of ready workers, each on the current configuration, none silent
//! for longer than `timeout`; or, once stopping, no workers.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use rg_contract::notify::Notification;
use tracing::{debug, error, info, warn};

use crate::process::exit::Exit;
use crate::process::notifications::Message;

mod events;
mod handover;
mod recycle;
mod step;
mod view;

pub use events::{Action, Event, Request};
pub use handover::{Handed, HandedWorker};
pub use recycle::Recycle;
pub use view::{Restart, Restarts, WorkerView};
#[cfg(test)]
mod tests;

/// Consecutive workers that may die before READY before the master gives up.
pub const MAX_BOOT_FAILURES: u32 = 5;

const SECOND: Duration = Duration::from_secs(1);

/// The settings the decisions depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// How many workers to keep.
    pub workers: usize,
    /// Silence after which a worker is aborted; zero: never.
    pub timeout: Duration,
    /// How long a leaving worker may drain; SIGKILL follows a second later.
    pub graceful_timeout: Duration,
    /// Age after which a worker is replaced; zero: never.
    pub max_lifetime: Duration,
    /// Up to this much more, spread over the workers.
    pub lifetime_jitter: Duration,
    /// Resident memory, in bytes, over which a worker is replaced once
    /// several samples in a row say so; zero: never.
    pub max_rss: u64,
    /// How long a graceful stop keeps serving, not ready, before it drains.
    pub shutdown_delay: Duration,
}

/// What the master is doing, as logged and as told to systemd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Starting the first workers.
    Booting,
    /// Every worker is up.
    Running,
    /// Rolling workers onto a new configuration or binary (HUP).
    Reloading,
    /// A graceful stop was asked for: serving on, but not ready, so a
    /// balancer takes the host out; the drain starts at `drain_at`.
    Leaving {
        /// When the stop proper begins.
        drain_at: Instant,
    },
    /// Shutting down; exit with `code` once the workers are gone, killing
    /// what is left at `deadline`.
    Stopping {
        /// When remaining workers get SIGKILL.
        deadline: Instant,
        /// The master's exit code.
        code: u8,
    },
}

impl Phase {
    /// True once a stop has begun; nothing but a faster stop changes that.
    pub fn is_stopping(self) -> bool {
        matches!(self, Phase::Stopping { .. })
    }

    /// True from a graceful stop signal on, its delay included.
    pub fn is_leaving(self) -> bool {
        matches!(self, Phase::Leaving { .. } | Phase::Stopping { .. })
    }
}

/// One worker, as the master sees it.
#[derive(Debug)]
struct Worker {
    /// None between [`Action::Spawn`] and its answer.
    pid: Option<u32>,
    generation: u64,
    ready: bool,
    last_seen: Instant,
    status: Option<String>,
    /// The pid of the worker this one takes over from once READY.
    replaces: Option<u32>,
    /// When SIGTERM was sent to retire it.
    retiring: Option<Instant>,
    /// Why it is to be replaced once its replacement is READY.
    recycle: Option<Recycle>,
    /// When it was asked for (its age).
    born: Instant,
    /// RSS samples taken since READY.
    rss_samples: u32,
    /// RSS samples in a row over `max_rss`.
    rss_over: u32,
    /// When it was sent SIGABRT for silence.
    aborted: Option<Instant>,
}

/// The master's decisions and the state they need.
#[derive(Debug)]
pub struct Policy {
    config: Config,
    target: usize,
    /// By id: oldest first.
    workers: BTreeMap<u64, Worker>,
    next_id: u64,
    generation: u64,
    phase: Phase,
    boot_failures: u32,
    last_error: Option<String>,
    /// Why no worker is started until the next HUP: workers cannot start,
    /// and others still serve, which stopping would only take down.
    held: Option<String>,
    reload_failures: u64,
    restarts: Restarts,
    actions: Vec<Action>,
}

impl Policy {
    /// A master with no workers yet, booting; its first event (a tick)
    /// asks for `config.workers` spawns.
    pub fn new(config: Config) -> Policy {
        Policy {
            config,
            target: config.workers,
            workers: BTreeMap::new(),
            next_id: 1,
            generation: 0,
            phase: Phase::Booting,
            boot_failures: 0,
            last_error: None,
            held: None,
            reload_failures: 0,
            restarts: Restarts::default(),
            actions: Vec::new(),
        }
    }

    /// What the master is doing.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The pids of the workers, for the driver's memory samples.
    pub fn pids(&self) -> Vec<u32> {
        self.workers.values().filter_map(|w| w.pid).collect()
    }

    /// Takes in `event` at `now`, then one step towards the desired state;
    /// returns what to do. `now` must not go backwards between calls.
    pub fn on(&mut self, event: Event, now: Instant) -> Vec<Action> {
        match event {
            Event::Tick => {}
            Event::Signal(request) => self.on_request(request, now),
            Event::Notified(message) => self.on_message(&message, now),
            Event::Exited { pid, how } => self.on_exit(pid, how, now),
            Event::Spawned { id, pid } => self.on_spawned(id, pid, now),
            Event::SpawnFailed { id, error } => self.on_spawn_failed(id, error, now),
            Event::Rss { pid, bytes } => self.on_rss(pid, bytes),
        }
        self.step(now);
        std::mem::take(&mut self.actions)
    }

    fn on_request(&mut self, request: Request, now: Instant) {
        match request {
            Request::Term => self.leave(now),
            Request::Quit => self.stop(false, 0, now),
            Request::Reloaded(config) => self.reload(config),
            Request::ReloadFailed(why) => {
                if !self.phase.is_stopping() {
                    error!("Reload failed, keeping the current configuration: {why}");
                }
            }
            Request::Ttin | Request::Ttou if self.phase.is_leaving() => {}
            Request::Ttin => self.resize(1),
            Request::Ttou => self.resize(-1),
            Request::Usr1 => {
                self.actions.push(Action::ReopenLogs);
                self.signal_all(Signal::SIGUSR1);
            }
        }
    }

    fn on_spawned(&mut self, id: u64, pid: u32, now: Instant) {
        let Some(worker) = self.workers.get_mut(&id).filter(|w| w.pid.is_none()) else {
            debug!("spawn result for unknown worker {id} (pid {pid})");
            return;
        };
        worker.pid = Some(pid);
        worker.last_seen = now;
        match worker.replaces {
            Some(old) => info!("Booting worker {id} with pid: {pid} (to replace pid {old})"),
            None => info!("Booting worker {id} with pid: {pid}"),
        }
    }

    /// A worker that could not even be exec'd (a binary deleted or not
    /// executable): a boot failure like any other.
    fn on_spawn_failed(&mut self, id: u64, error: String, now: Instant) {
        let Some(worker) = self.workers.remove(&id) else {
            return;
        };
        self.boot_failures += 1;
        self.last_error = Some(error);
        if self.phase.is_stopping() {
            return;
        }
        if self.rolling_onto(&worker) {
            self.give_up("a new worker could not be started", now);
        } else if self.boot_failures >= MAX_BOOT_FAILURES {
            self.give_up(
                &format!("{MAX_BOOT_FAILURES} workers in a row could not be started"),
                now,
            );
        }
    }

    fn on_message(&mut self, message: &Message, now: Instant) {
        let pid = message.pid;
        let Some((&id, worker)) = self.workers.iter_mut().find(|(_, w)| w.pid == Some(pid)) else {
            debug!("notification from unknown pid {pid}: {:?}", message.fields);
            return;
        };
        worker.last_seen = now;
        let told = message.notification();
        if told.status.is_some() {
            worker.status = told.status;
        }
        if told.recycle && Policy::ask_recycle(id, worker, Recycle::MaxRequests) {
            self.restarts.count(Restart::MaxRequests);
        }
        if told.ready && !worker.ready {
            worker.ready = true;
            let replaces = worker.replaces.take();
            self.boot_failures = 0;
            info!("Worker {id} (pid {pid}) is ready");
            if let Some(old) = replaces {
                self.retire(old, now);
            }
            self.tell_systemd_status();
        }
    }

    fn on_exit(&mut self, pid: u32, how: Exit, now: Instant) {
        let Some((id, worker)) = self
            .id_of(pid)
            .and_then(|id| Some((id, self.workers.remove(&id)?)))
        else {
            return;
        };
        if worker.retiring.is_some() || self.phase.is_stopping() {
            info!("Worker {id} (pid {pid}) {how}");
            self.tell_systemd_status();
            return;
        }
        // A worker aborted for silence was counted as a timeout then, and
        // its end (SIGABRT, or SIGKILL if it was stopped) is no surprise.
        let mut why = "after its timeout";
        if worker.aborted.is_none() {
            self.restarts.count(Restart::Crash);
            why = "unexpectedly";
        }
        if worker.ready {
            warn!("Worker {id} (pid {pid}) {how} {why}; starting a replacement");
            self.tell_systemd_status();
        } else {
            self.on_boot_failure(id, pid, worker, how, now);
        }
    }

    /// A worker died before READY: quote its `STATUS=error: ...` (else how
    /// it ended). A reload stops at its first new worker that fails; else
    /// rg gives up when the application cannot start (exit code 3) or on a
    /// crash loop, and otherwise the step starts another.
    fn on_boot_failure(&mut self, id: u64, pid: u32, worker: Worker, how: Exit, now: Instant) {
        let quoted = (worker.status.clone())
            .filter(|s| Notification::start_failure(s).is_some())
            .unwrap_or_else(|| format!("it {how}"));
        error!("Worker {id} (pid {pid}) failed to boot: {quoted}");
        self.last_error = Some(quoted);
        self.boot_failures += 1;
        if self.rolling_onto(&worker) {
            self.give_up("a new worker did not become ready", now);
        } else if how == Exit::Code(i32::from(rg_contract::EXIT_START_FAILURE)) {
            self.give_up("the application could not start", now);
        } else if self.boot_failures >= MAX_BOOT_FAILURES {
            self.give_up(
                &format!("{MAX_BOOT_FAILURES} workers in a row died before they were ready"),
                now,
            );
        }
    }

    /// Whether `worker` was started by the reload in progress.
    fn rolling_onto(&self, worker: &Worker) -> bool {
        self.phase == Phase::Reloading && worker.generation == self.generation
    }

    /// Workers cannot be started. With none serving, halt with exit code 3,
    /// as a start that cannot succeed must; with some serving, keep them
    /// and start no more until a HUP: stopping would take the site down.
    fn give_up(&mut self, why: &str, now: Instant) {
        let last = self.last_error.clone().unwrap_or_default();
        let serving = self.ready_workers();
        if serving == 0 {
            error!("Shutting down: {why}. The last worker said: {last}");
            self.stop(true, rg_contract::EXIT_START_FAILURE, now);
            return;
        }
        let status = if self.phase == Phase::Reloading {
            self.reload_failures += 1;
            self.phase = Phase::Running;
            error!(
                "Reload failed: {why}. It said: {last}. Workers of the previous release keep serving ({serving} ready); the next HUP tries again"
            );
            // Ends the reload systemd was told of, with the old workers up.
            Notification::ready().with_status(format!(
                "Reload failed: {last}; {serving} of {} workers ready",
                self.target
            ))
        } else {
            error!(
                "Not starting workers until the next HUP: {why}. The last worker said: {last}. {serving} ready workers keep serving"
            );
            Notification::status(format!(
                "Not starting workers: {last}; {serving} of {} workers ready",
                self.target
            ))
        };
        self.tell_systemd(status);
        self.held = Some(format!("{why}: {last}"));
    }

    /// A graceful stop, after `shutdown_delay` of serving while not ready.
    fn leave(&mut self, now: Instant) {
        let delay = self.config.shutdown_delay;
        if delay.is_zero() || self.phase.is_leaving() {
            self.stop(true, 0, now);
            return;
        }
        info!(
            "Stopping gracefully in {:.1}s (shutdown_delay): /readyz answers 503, workers keep serving",
            delay.as_secs_f64()
        );
        self.phase = Phase::Leaving {
            drain_at: now + delay,
        };
        self.tell_systemd(Notification::stopping());
    }

    /// Starts a stop: graceful (SIGTERM, drain within graceful_timeout) or
    /// fast (SIGQUIT). The sockets close at once, so new connections are
    /// refused rather than queued for workers that are leaving.
    fn stop(&mut self, graceful: bool, code: u8, now: Instant) {
        if let Phase::Stopping { deadline, code: old } = self.phase {
            if graceful {
                return;
            }
            // A fast stop overrides a graceful one in progress.
            self.phase = Phase::Stopping {
                deadline: deadline.min(now + SECOND),
                code: old,
            };
        } else {
            let leaving = matches!(self.phase, Phase::Leaving { .. });
            let grace = if graceful {
                self.config.graceful_timeout
            } else {
                Duration::ZERO
            };
            self.phase = Phase::Stopping {
                deadline: now + grace + SECOND,
                code,
            };
            let workers = match self.workers.len() {
                1 => "1 worker".to_string(),
                n => format!("{n} workers"),
            };
            info!(
                "Stopping {} ({workers})",
                if graceful { "gracefully" } else { "now" }
            );
            if !leaving {
                self.tell_systemd(Notification::stopping());
            }
            self.actions.push(Action::CloseSockets { graceful });
        }
        self.signal_all(if graceful {
            Signal::SIGTERM
        } else {
            Signal::SIGQUIT
        });
    }

    /// HUP with a good configuration: every worker is rolled onto it (and
    /// onto the binary now on disk), one at a time, by the steps that follow.
    fn reload(&mut self, config: Config) {
        if self.phase.is_leaving() {
            return;
        }
        self.config = config;
        self.target = config.workers;
        self.generation += 1;
        // A reload is a new attempt: a deploy may have fixed what failed.
        self.boot_failures = 0;
        self.held = None;
        self.phase = Phase::Reloading;
        self.actions.push(Action::AnnounceReload {
            workers: self.workers.len(),
        });
    }

    fn resize(&mut self, delta: i64) {
        if self.phase.is_stopping() {
            return;
        }
        let target = (self.target as i64 + delta).max(1) as usize;
        if target == self.target {
            info!("Keeping 1 worker: TTOU never removes the last one");
            return;
        }
        if target < self.target {
            self.restarts.count(Restart::Ttou);
        }
        self.target = target;
        info!("Number of workers: {target}");
    }
}
