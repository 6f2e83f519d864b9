//! The master of `rg serve`: keeps `workers` processes of the application
//! serving the master's sockets, and does what Gunicorn's arbiter does.
//!
//! It runs on one thread (a current-thread tokio runtime on `main`'s
//! thread, which also makes the workers' parent-death signal reliable). Its
//! loop waits for a signal, a notification from a worker, or a tick; then
//! reaps exited workers and takes one [`Arbiter::step`] towards the desired
//! state: the right number of ready workers, each on the current
//! configuration, none silent for longer than `timeout`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use rg_runtime::logging::Logs;
use rg_runtime::notify::Notifier;
use tokio::signal::unix::{SignalKind, signal};
use tracing::{debug, error, info, warn};

use crate::config::{self, Settings, Sources};
use crate::master::exit::Exit;
use crate::master::notifications::{Message, Receiver};
use crate::master::owner::Owner;
use crate::master::sockets::Sockets;
use crate::master::spawn::{WorkerSpec, spawn};

/// Consecutive workers that may die before READY before the master gives up.
const MAX_BOOT_FAILURES: u32 = 5;

/// What the master is doing, as logged and as told to systemd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Starting the first workers.
    Booting,
    /// Every worker is up.
    Running,
    /// Rolling workers onto a new configuration or binary (HUP).
    Reloading,
    /// Shutting down; exit with `code` once the workers are gone, killing
    /// what is left at `deadline`.
    Stopping {
        /// When remaining workers get SIGKILL.
        deadline: Instant,
        /// The master's exit code.
        code: u8,
    },
}

/// One worker process, as the master sees it.
#[derive(Debug)]
struct Worker {
    id: u64,
    generation: u64,
    ready: bool,
    last_seen: Instant,
    status: Option<String>,
    /// The pid of the worker this one takes over from once READY.
    replaces: Option<u32>,
    /// When SIGTERM was sent to retire it.
    retiring: Option<Instant>,
    /// It served max_requests and asked to be replaced.
    wants_recycle: bool,
    /// When it was sent SIGABRT for silence.
    aborted: Option<Instant>,
}

/// The master.
pub struct Arbiter {
    settings: Settings,
    owner: Option<Owner>,
    sources: Sources,
    program: PathBuf,
    sockets: Sockets,
    receiver: Receiver,
    systemd: Notifier,
    logs: Logs,
    workers: BTreeMap<u32, Worker>,
    next_id: u64,
    target: usize,
    generation: u64,
    phase: Phase,
    boot_failures: u32,
    last_error: Option<String>,
    watchdog: Option<(Duration, Instant)>,
}

impl Arbiter {
    /// A master for `program` serving `sockets`. Call inside a current-thread
    /// tokio runtime.
    pub fn new(
        settings: Settings,
        owner: Option<Owner>,
        sources: Sources,
        program: PathBuf,
        sockets: Sockets,
        logs: Logs,
    ) -> Result<Arbiter> {
        let receiver = Receiver::bind()?;
        let systemd = Notifier::from_env().unwrap_or_default();
        let watchdog = rg_runtime::notify::watchdog_interval(
            std::env::var("WATCHDOG_USEC").ok().as_deref(),
            std::env::var("WATCHDOG_PID").ok().as_deref(),
            std::process::id(),
        )
        .map(|every| (every, Instant::now()));
        Ok(Arbiter {
            target: settings.workers,
            settings,
            owner,
            sources,
            program,
            sockets,
            receiver,
            systemd,
            logs,
            workers: BTreeMap::new(),
            next_id: 1,
            generation: 0,
            phase: Phase::Booting,
            boot_failures: 0,
            last_error: None,
            watchdog,
        })
    }

    /// Runs until the master stops; returns its exit code.
    pub async fn run(mut self) -> Result<ExitCode> {
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut quit = signal(SignalKind::quit())?;
        let mut hup = signal(SignalKind::hangup())?;
        let mut ttin = signal(SignalKind::from_raw(libc::SIGTTIN))?;
        let mut ttou = signal(SignalKind::from_raw(libc::SIGTTOU))?;
        let mut usr1 = signal(SignalKind::user_defined1())?;
        let mut chld = signal(SignalKind::child())?;
        let mut tick = tokio::time::interval(Duration::from_millis(100));

        info!(
            "Starting rg {} (master pid {})",
            env!("CARGO_PKG_VERSION"),
            std::process::id()
        );
        for name in self.sockets.names() {
            let shown = if name.starts_with("unix:") {
                name
            } else {
                format!("http://{name}")
            };
            info!("Listening at: {shown} ({})", std::process::id());
        }
        info!("Using application: {}", self.program.display());
        loop {
            if let Some(code) = self.step() {
                return Ok(ExitCode::from(code));
            }
            tokio::select! {
                _ = term.recv() => self.stop(true, 0),
                _ = int.recv() => self.stop(false, 0),
                _ = quit.recv() => self.stop(false, 0),
                _ = hup.recv() => self.reload(),
                _ = ttin.recv() => self.resize(1),
                _ = ttou.recv() => self.resize(-1),
                _ = usr1.recv() => self.reopen_logs(),
                _ = chld.recv() => {}
                message = self.receiver.recv() => match message {
                    Ok(message) => self.on_message(message),
                    Err(e) => warn!("notification socket: {e}"),
                },
                _ = tick.tick() => {}
            }
            self.reap();
        }
    }

    fn spec(&self) -> (Vec<(String, String)>, u64) {
        (
            self.settings.worker_env(),
            self.settings.timeout.as_micros() as u64,
        )
    }

    fn spawn_worker(&mut self, replaces: Option<u32>) {
        let (env, watchdog_usec) = self.spec();
        let fds = self.sockets.fds();
        let names = self.sockets.names();
        let spec = WorkerSpec {
            program: &self.program,
            fds: &fds,
            names: &names,
            env: &env,
            notify_socket: self.receiver.path(),
            watchdog_usec,
            owner: self.owner.as_ref(),
        };
        let id = self.next_id;
        self.next_id += 1;
        match spawn(&spec, id) {
            Ok(pid) => {
                match replaces {
                    Some(old) => info!("Booting worker {id} with pid: {pid} (to replace pid {old})"),
                    None => info!("Booting worker {id} with pid: {pid}"),
                }
                let now = Instant::now();
                self.workers.insert(
                    pid,
                    Worker {
                        id,
                        generation: self.generation,
                        ready: false,
                        last_seen: now,
                        status: None,
                        replaces,
                        retiring: None,
                        wants_recycle: false,
                        aborted: None,
                    },
                );
            }
            Err(e) => {
                error!("Could not start a worker from {}: {e}", self.program.display());
                self.boot_failures += 1;
                self.last_error = Some(e.to_string());
            }
        }
    }

    fn on_message(&mut self, message: Message) {
        let Some(worker) = self.workers.get_mut(&message.pid) else {
            debug!(
                "notification from unknown pid {}: {:?}",
                message.pid, message.fields
            );
            return;
        };
        worker.last_seen = Instant::now();
        if let Some(status) = message.get("STATUS") {
            worker.status = Some(status.to_string());
        }
        if message.get("X_RG_RECYCLE") == Some("1") && !worker.wants_recycle && worker.retiring.is_none() {
            worker.wants_recycle = true;
            info!(
                "Worker {} (pid {}) served max_requests; starting its replacement",
                worker.id, message.pid
            );
        }
        if message.get("READY") == Some("1") && !worker.ready {
            worker.ready = true;
            self.boot_failures = 0;
            let (id, replaces) = (worker.id, worker.replaces.take());
            info!("Worker {id} (pid {}) is ready", message.pid);
            if let Some(old) = replaces {
                self.retire(old);
            }
            self.tell_systemd_status();
        }
    }

    /// Sends SIGTERM: the worker stops accepting and drains.
    fn retire(&mut self, pid: u32) {
        if let Some(worker) = self.workers.get_mut(&pid)
            && worker.retiring.is_none()
        {
            worker.retiring = Some(Instant::now());
            info!("Retiring worker {} (pid {pid})", worker.id);
            signal_pid(pid, Signal::SIGTERM);
        }
    }

    fn reap(&mut self) {
        loop {
            let (pid, how) = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid.as_raw() as u32, Exit::Code(code)),
                Ok(WaitStatus::Signaled(pid, sig, _)) => (pid.as_raw() as u32, Exit::Signal(sig)),
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(_) => continue,
            };
            if let Some(worker) = self.workers.remove(&pid) {
                self.on_exit(pid, worker, how);
            }
        }
    }

    fn on_exit(&mut self, pid: u32, worker: Worker, how: Exit) {
        let id = worker.id;
        if worker.retiring.is_some() || matches!(self.phase, Phase::Stopping { .. }) {
            info!("Worker {id} (pid {pid}) {how}");
            self.tell_systemd_status();
            return;
        }
        if !worker.ready {
            let quoted = worker
                .status
                .clone()
                .filter(|s| s.starts_with("error:"))
                .unwrap_or_else(|| format!("it {how}"));
            error!("Worker {id} (pid {pid}) failed to boot: {quoted}");
            self.last_error = Some(quoted);
            self.boot_failures += 1;
            if how == Exit::Code(i32::from(rg_runtime::EXIT_START_FAILURE)) {
                self.halt("the application could not start");
            } else if self.boot_failures >= MAX_BOOT_FAILURES {
                self.halt(&format!(
                    "{MAX_BOOT_FAILURES} workers in a row died before they were ready"
                ));
            }
            return;
        }
        warn!("Worker {id} (pid {pid}) {how} unexpectedly; starting a replacement");
        self.tell_systemd_status();
    }

    fn halt(&mut self, why: &str) {
        let last = self.last_error.clone().unwrap_or_default();
        error!("Shutting down: {why}. The last worker said: {last}");
        self.stop(true, rg_runtime::EXIT_START_FAILURE);
    }

    /// Starts a stop: graceful (SIGTERM, drain within graceful_timeout) or
    /// fast (SIGQUIT). The sockets close at once, so new connections are
    /// refused rather than queued for workers that are leaving.
    fn stop(&mut self, graceful: bool, code: u8) {
        if let Phase::Stopping { deadline, code: old } = self.phase {
            if graceful {
                return;
            }
            // A fast stop overrides a graceful one in progress.
            self.phase = Phase::Stopping {
                deadline: deadline.min(Instant::now() + Duration::from_secs(1)),
                code: old,
            };
        } else {
            let grace = if graceful {
                self.settings.graceful_timeout
            } else {
                Duration::ZERO
            };
            self.phase = Phase::Stopping {
                deadline: Instant::now() + grace + Duration::from_secs(1),
                code,
            };
            info!(
                "Stopping {} ({} workers)",
                if graceful { "gracefully" } else { "now" },
                self.workers.len()
            );
            let _ = self.systemd.notify("STOPPING=1");
            self.sockets.close();
        }
        let sig = if graceful {
            Signal::SIGTERM
        } else {
            Signal::SIGQUIT
        };
        for pid in self.workers.keys() {
            signal_pid(*pid, sig);
        }
    }

    /// HUP: re-read the configuration; if it is good, roll every worker
    /// onto it (and onto the binary now on disk), one at a time.
    fn reload(&mut self) {
        if matches!(self.phase, Phase::Stopping { .. }) {
            return;
        }
        let loaded = config::load(&self.sources, |k| std::env::var(k).ok())
            .and_then(|new| Owner::from_settings(&new).map(|owner| (new, owner)));
        match loaded {
            Err(e) => {
                error!("Reload failed, keeping the current configuration: {e:#}");
                return;
            }
            Ok((new, owner)) => {
                // New workers run as the new owner; socket files keep the
                // owner they were given at start, like the addresses.
                self.owner = owner;
                if new.bind != self.settings.bind {
                    warn!("bind changed; the new addresses take effect when rg serve restarts");
                }
                self.target = new.workers;
                self.settings = Settings {
                    bind: self.settings.bind.clone(),
                    ..new
                };
            }
        }
        self.generation += 1;
        self.phase = Phase::Reloading;
        info!(
            "Reloading: rolling {} workers onto {}",
            self.workers.len(),
            self.program.display()
        );
        let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
            .map(|t| t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1000)
            .unwrap_or(0);
        let _ = self
            .systemd
            .notify(&format!("RELOADING=1\nMONOTONIC_USEC={now}\nSTATUS=Reloading"));
    }

    fn resize(&mut self, delta: i64) {
        if matches!(self.phase, Phase::Stopping { .. }) {
            return;
        }
        let target = (self.target as i64 + delta).max(1) as usize;
        if target == self.target {
            info!("Keeping 1 worker: TTOU never removes the last one");
            return;
        }
        self.target = target;
        info!("Number of workers: {target}");
    }

    fn reopen_logs(&mut self) {
        match self.logs.reopen() {
            Ok(()) => info!("Reopened log files"),
            Err(e) => error!("{e}"),
        }
        for pid in self.workers.keys() {
            signal_pid(*pid, Signal::SIGUSR1);
        }
    }

    fn tell_systemd_status(&self) {
        let ready = self
            .workers
            .values()
            .filter(|w| w.ready && w.retiring.is_none())
            .count();
        let _ = self
            .systemd
            .notify(&format!("STATUS={ready} of {} workers ready", self.target));
    }

    /// One move towards the desired state. Returns the exit code once the
    /// master is done.
    fn step(&mut self) -> Option<u8> {
        let now = Instant::now();
        if let Some((every, last)) = self.watchdog
            && now.duration_since(last) >= every
        {
            let _ = self.systemd.notify("WATCHDOG=1");
            self.watchdog = Some((every, now));
        }
        if let Phase::Stopping { deadline, code } = self.phase {
            if self.workers.is_empty() {
                info!("Shutting down: master");
                return Some(code);
            }
            if now >= deadline {
                for (pid, worker) in &self.workers {
                    warn!(
                        "Worker {} (pid {pid}) did not stop in time; sending SIGKILL",
                        worker.id
                    );
                    signal_pid(*pid, Signal::SIGKILL);
                }
                self.phase = Phase::Stopping {
                    deadline: now + Duration::from_secs(5),
                    code,
                };
            }
            return None;
        }
        self.check_heartbeats(now);

        // Replace workers that served max_requests, each as soon as asked.
        let pending: Vec<u32> = self.workers.values().filter_map(|w| w.replaces).collect();
        let recycle: Vec<u32> = self
            .workers
            .iter()
            .filter(|(pid, w)| w.wants_recycle && w.retiring.is_none() && !pending.contains(pid))
            .map(|(pid, _)| *pid)
            .collect();
        for pid in recycle {
            self.spawn_worker(Some(pid));
        }

        // Reload: one stale worker at a time, the replacement READY first.
        let pending: Vec<u32> = self.workers.values().filter_map(|w| w.replaces).collect();
        let stale: Vec<u32> = self
            .workers
            .iter()
            .filter(|(_, w)| w.generation < self.generation && w.retiring.is_none())
            .map(|(pid, _)| *pid)
            .collect();
        let rolling = pending.iter().any(|p| stale.contains(p));
        if !rolling && let Some(&oldest) = stale.iter().min_by_key(|pid| self.workers[pid].id) {
            if self.workers[&oldest].ready {
                self.spawn_worker(Some(oldest));
            } else {
                // Not up yet: nothing to hand over, just retire it.
                self.retire(oldest);
            }
        }
        if self.phase == Phase::Reloading && stale.is_empty() && pending.is_empty() {
            info!(
                "Reload complete: {} workers on the new configuration",
                self.target
            );
            self.phase = Phase::Running;
            let _ = self.systemd.notify("READY=1");
            self.tell_systemd_status();
        }

        // The right number of workers: count those that are neither leaving
        // nor a replacement still booting.
        let counted: Vec<u32> = self
            .workers
            .iter()
            .filter(|(_, w)| w.retiring.is_none() && w.replaces.is_none())
            .map(|(pid, _)| *pid)
            .collect();
        if counted.len() < self.target {
            if self.boot_failures >= MAX_BOOT_FAILURES {
                return None;
            }
            for _ in counted.len()..self.target {
                self.spawn_worker(None);
            }
        } else if counted.len() > self.target {
            let mut oldest: Vec<u32> = counted;
            oldest.sort_by_key(|pid| self.workers[pid].id);
            for pid in oldest
                .into_iter()
                .take(self.workers.len().saturating_sub(self.target))
            {
                if self
                    .workers
                    .values()
                    .filter(|w| w.retiring.is_none() && w.replaces.is_none())
                    .count()
                    > self.target
                {
                    self.retire(pid);
                }
            }
        }

        if self.phase == Phase::Booting
            && self.workers.len() == self.target
            && self.workers.values().all(|w| w.ready)
        {
            match self.target {
                1 => info!("Booted 1 worker"),
                n => info!("Booted {n} workers"),
            }
            self.phase = Phase::Running;
            let _ = self.systemd.notify(&format!(
                "READY=1\nMAINPID={}\nSTATUS={} workers ready",
                std::process::id(),
                self.target
            ));
        }
        None
    }

    /// Kills workers whose heartbeat stopped: SIGABRT first, SIGKILL a
    /// second later; retiring workers that outstay the graceful timeout get
    /// SIGKILL.
    fn check_heartbeats(&mut self, now: Instant) {
        let timeout = self.settings.timeout;
        let grace = self.settings.graceful_timeout + Duration::from_secs(1);
        for (pid, worker) in self.workers.iter_mut() {
            if let Some(since) = worker.retiring {
                if now.duration_since(since) > grace {
                    warn!(
                        "Worker {} (pid {pid}) is still draining after the graceful timeout; sending SIGKILL",
                        worker.id
                    );
                    signal_pid(*pid, Signal::SIGKILL);
                    worker.retiring = Some(now);
                }
                continue;
            }
            if timeout.is_zero() {
                continue;
            }
            if let Some(at) = worker.aborted {
                if now.duration_since(at) > Duration::from_secs(1) {
                    signal_pid(*pid, Signal::SIGKILL);
                }
                continue;
            }
            let silent = now.duration_since(worker.last_seen);
            if silent > timeout {
                let doing = worker.status.as_deref().unwrap_or("no status reported");
                error!(
                    "Worker {} (pid {pid}) timed out: silent for {:.1}s (timeout {:.1}s, {}); last status: {doing}; sending SIGABRT",
                    worker.id,
                    silent.as_secs_f64(),
                    timeout.as_secs_f64(),
                    if worker.ready {
                        "no heartbeat"
                    } else {
                        "never became ready"
                    },
                );
                signal_pid(*pid, Signal::SIGABRT);
                worker.aborted = Some(now);
            }
        }
    }
}

fn signal_pid(pid: u32, sig: Signal) {
    if let Err(e) = kill(Pid::from_raw(pid as i32), sig) {
        debug!("kill({pid}, {sig}) failed: {e}");
    }
}
