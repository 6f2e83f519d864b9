//! The master's I/O, around the decisions of `policy.rs`: it turns signals,
//! notifications, exited children and a 100 ms tick into [`Event`]s, and
//! carries out the [`Action`]s the policy returns (spawning, kill(2),
//! systemd notifications, closing the sockets, reopening the logs).
//!
//! It runs on one thread (a current-thread tokio runtime on `main`'s
//! thread, which also makes the workers' parent-death signal reliable). It
//! owns what the policy must not touch: the settings and the workers'
//! owner, which a HUP re-reads, the sockets, and the systemd watchdog.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use rg_contract::logging::Logs;
use rg_contract::notify::{Notification, Notifier};
use rg_contract::tls::PLAIN_LISTENERS;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

mod control;
mod pages;
mod upgrade;

use crate::config::{self, Settings, Sources};
use crate::master::control::Ask as ControlAsk;
use crate::master::metrics::ledger::Ledger;
use crate::master::tls::Tls;
use crate::process::exit::Exit;

use crate::master::metrics::Ask;
use crate::master::policy::{Action, Config, Event, Policy, Request};
use crate::process::notifications::Receiver;
use crate::process::owner::Owner;
use crate::process::sockets::Sockets;
use crate::process::spawn::{WorkerSpec, spawn};

/// What the master's side ports ask its loop: the metrics port's pages and
/// the control socket's commands, each when there is one.
#[derive(Debug, Default)]
pub struct Questions {
    /// From the metrics port.
    pub metrics: Option<mpsc::Receiver<Ask>>,
    /// From the control socket.
    pub control: Option<mpsc::Receiver<ControlAsk>>,
}

/// The master of `rg serve`.
pub struct Arbiter {
    settings: Settings,
    owner: Option<Owner>,
    /// The TLS identity new workers get, when `certfile` is set.
    tls: Option<Tls>,
    sources: Sources,
    program: PathBuf,
    sockets: Sockets,
    receiver: Receiver,
    systemd: Notifier,
    logs: Logs,
    /// systemd's watchdog: how often to ping it, and when we last did.
    watchdog: Option<(Duration, Instant)>,
    policy: Policy,
    /// Questions from the metrics port, when there is one.
    metrics: Option<mpsc::Receiver<Ask>>,
    /// Commands from the control socket, when there is one.
    control: Option<mpsc::Receiver<ControlAsk>>,
    /// The workers' counts, for the metrics port.
    ledger: Ledger,
    started: Instant,
    /// The path rg was started as (USR2 runs the file there now), and its
    /// arguments.
    exe: PathBuf,
    args: Vec<OsString>,
    /// The new rg's check, while an upgrade waits for it.
    upgrade: Option<oneshot::Receiver<Result<String, String>>>,
    /// Whether this master took over from one that exec'd it.
    adopted: bool,
}

impl Arbiter {
    /// A master for `program` serving `sockets`, configured by `settings`
    /// (re-read from `sources` on HUP). Call inside a current-thread tokio
    /// runtime; fails only if the notification socket cannot be bound.
    pub fn new(
        settings: Settings,
        owner: Option<Owner>,
        sources: Sources,
        program: PathBuf,
        sockets: Sockets,
        logs: Logs,
        Questions { metrics, control }: Questions,
    ) -> Result<Arbiter> {
        let receiver = Receiver::bind()?;
        let systemd = Notifier::from_env().unwrap_or_default();
        let watchdog = rg_contract::notify::watchdog_interval(
            std::env::var("WATCHDOG_USEC").ok().as_deref(),
            std::env::var("WATCHDOG_PID").ok().as_deref(),
            std::process::id(),
        )
        .map(|every| (every, Instant::now()));
        Ok(Arbiter {
            policy: Policy::new(policy_config(&settings)),
            settings,
            owner,
            tls: None,
            sources,
            program,
            sockets,
            receiver,
            systemd,
            logs,
            watchdog,
            metrics,
            control,
            ledger: Ledger::default(),
            started: Instant::now(),
            exe: std::env::current_exe()?,
            args: std::env::args_os().collect(),
            upgrade: None,
            adopted: false,
        })
    }

    /// Runs until the master stops (TERM, INT, QUIT, or a halt when workers
    /// cannot start); returns its exit code.
    pub async fn run(mut self) -> Result<ExitCode> {
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut quit = signal(SignalKind::quit())?;
        let mut hup = signal(SignalKind::hangup())?;
        let mut ttin = signal(SignalKind::from_raw(libc::SIGTTIN))?;
        let mut ttou = signal(SignalKind::from_raw(libc::SIGTTOU))?;
        let mut usr1 = signal(SignalKind::user_defined1())?;
        let mut usr2 = signal(SignalKind::user_defined2())?;
        let mut chld = signal(SignalKind::child())?;
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let mut sample = tokio::time::interval(Duration::from_secs(1));

        self.log_start();
        let mut events = vec![Event::Tick];
        if self.adopted {
            let upgraded = Notification::ready().with_status("Upgraded; rolling the workers");
            let _ = self.systemd.send(&upgraded);
            events.push(Event::Signal(Request::Reloaded(policy_config(&self.settings))));
        }
        loop {
            self.ping_watchdog();
            for event in events.drain(..) {
                if let Some(code) = self.deliver(event) {
                    return Ok(ExitCode::from(code));
                }
            }
            let request = tokio::select! {
                _ = term.recv() => Some(self.stop_request("TERM")),
                _ = int.recv() => Some(self.stop_request("INT")),
                _ = quit.recv() => Some(self.stop_request("QUIT")),
                _ = hup.recv() => self.reload(),
                _ = ttin.recv() => Some(Request::Ttin),
                _ = ttou.recv() => Some(Request::Ttou),
                _ = usr1.recv() => Some(Request::Usr1),
                _ = usr2.recv() => {
                    if let Err(why) = self.begin_upgrade() {
                        warn!("USR2 ignored: {why}");
                    }
                    None
                }
                Some(checked) = ask_once(&mut self.upgrade) => {
                    self.finish_upgrade(checked);
                    None
                }
                _ = chld.recv() => None,
                message = self.receiver.recv() => {
                    match message {
                        Ok(message) => events.push(Event::Notified(message)),
                        Err(e) => warn!("notification socket: {e}"),
                    }
                    None
                }
                Some((page, reply)) = ask(&mut self.metrics) => {
                    let _ = reply.send(self.answer(page));
                    None
                }
                Some((command, reply)) = ask(&mut self.control) => {
                    let (answer, requests) = self.on_control(command);
                    let _ = reply.send(answer);
                    events.extend(requests.into_iter().map(Event::Signal));
                    None
                }
                _ = tick.tick() => None,
                _ = sample.tick() => {
                    if self.settings.master.max_worker_rss > 0 || self.metrics.is_some() {
                        events.extend(self.policy.pids().into_iter().filter_map(|pid| {
                            rss(pid).map(|bytes| Event::Rss { pid, bytes })
                        }));
                    }
                    None
                }
            };
            events.extend(request.map(Event::Signal));
            // A worker's last notification (its final counts) is handled
            // before its exit. Exits are reaped first and the socket
            // drained after: a worker sends its last datagram before it
            // exits, so every datagram of a worker reaped here is in the
            // socket by then. (Drained first, a worker that sent its last
            // counts and exited between the two lost them.)
            let exited = reap(&self.policy.pids());
            events.extend(self.receiver.drain().into_iter().map(Event::Notified));
            events.extend(exited);
            if events.is_empty() {
                events.push(Event::Tick);
            }
        }
    }

    /// What the stop signal `name` asks for: a graceful stop if
    /// `graceful_signals` names it, else a stop now.
    fn stop_request(&self, name: &str) -> Request {
        if self.settings.master.graceful_signals.contains(&name) {
            Request::Term
        } else {
            Request::Quit
        }
    }

    fn log_start(&self) {
        info!(
            "Starting rg {} (master pid {})",
            env!("CARGO_PKG_VERSION"),
            std::process::id()
        );
        for url in self.sockets.urls(self.tls.is_some()) {
            info!("Listening at: {url} ({})", std::process::id());
        }
        info!("Using application: {}", self.program.display());
    }

    fn ping_watchdog(&mut self) {
        let now = Instant::now();
        if let Some((every, last)) = self.watchdog
            && now.duration_since(last) >= every
        {
            let _ = self.systemd.send(&Notification::watchdog());
            self.watchdog = Some((every, now));
        }
    }

    /// Gives `event` to the policy and carries out what it returns, the
    /// answers to spawns included. Returns the exit code once it is time.
    fn deliver(&mut self, event: Event) -> Option<u8> {
        self.keep_counts(&event);
        let mut actions: VecDeque<Action> = self.policy.on(event, Instant::now()).into();
        while let Some(action) = actions.pop_front() {
            match action {
                Action::Spawn { id, .. } => {
                    let answer = match self.spawn_worker(id) {
                        Ok(pid) => Event::Spawned { id, pid },
                        Err(e) => {
                            error!("Could not start a worker from {}: {e}", self.program.display());
                            Event::SpawnFailed {
                                id,
                                error: e.to_string(),
                            }
                        }
                    };
                    actions.extend(self.policy.on(answer, Instant::now()));
                }
                Action::Signal { pid, signal } => signal_pid(pid, signal),
                Action::NotifySystemd(message) => {
                    let _ = self.systemd.notify(&message);
                }
                Action::AnnounceReload { workers } => self.announce_reload(workers),
                Action::CloseSockets { graceful } => self.sockets.close(graceful),
                Action::ReopenLogs => match self.logs.reopen() {
                    Ok(()) => info!("Reopened log files"),
                    Err(e) => error!("{e}"),
                },
                Action::Exit(code) => return Some(code),
            }
        }
        None
    }

    /// The ledger's part of an event: counts, memory, exits.
    fn keep_counts(&mut self, event: &Event) {
        match event {
            Event::Notified(message) => {
                if let Some(counts) = message.notification().stats
                    && self.policy.pids().contains(&message.pid)
                {
                    self.ledger.report(message.pid, counts);
                }
            }
            Event::Rss { pid, bytes } => self.ledger.rss(*pid, *bytes),
            Event::Exited { pid, .. } => self.ledger.exited(*pid),
            _ => {}
        }
    }

    fn spawn_worker(&self, id: u64) -> std::io::Result<u32> {
        let mut env = self.settings.worker_env();
        if self.metrics.is_some() {
            env.push(("RG_INTERNAL_METRICS".into(), "1".into()));
        }
        let plain = self.sockets.plain();
        if self.tls.is_some() && !plain.is_empty() {
            let list: Vec<String> = plain.iter().map(usize::to_string).collect();
            env.push((PLAIN_LISTENERS.into(), list.join(",")));
        }
        let fds = self.sockets.fds();
        let names = self.sockets.names();
        let spec = WorkerSpec {
            program: &self.program,
            fds: &fds,
            names: &names,
            env: &env,
            notify_socket: self.receiver.path(),
            watchdog_usec: self.settings.worker.timeout.as_micros() as u64,
            owner: self.owner.as_ref(),
            tls: self.tls.as_ref().map(Tls::fd),
        };
        spawn(&spec, id)
    }

    /// Workers started from here on serve TLS with `tls`.
    pub fn with_tls(mut self, tls: Option<Tls>) -> Arbiter {
        self.tls = tls;
        self
    }

    /// HUP: re-reads the configuration. On success the new settings and
    /// owner are the ones later workers get (but `bind` stays); either way
    /// the policy is told. Nothing is read once the master is stopping.
    fn reload(&mut self) -> Option<Request> {
        if self.policy.phase().is_leaving() {
            return None;
        }
        let loaded = config::load(&self.sources, |k| std::env::var(k).ok()).and_then(|new| {
            let owner = Owner::from_settings(&new)?;
            let tls = Tls::load(&new)?;
            Ok((new, owner, tls))
        });
        let (mut new, owner, tls) = match loaded {
            Ok(loaded) => loaded,
            Err(e) => return Some(Request::ReloadFailed(format!("{e:#}"))),
        };
        // New workers run as the new owner; socket files keep the owner
        // they were given at start, like the addresses.
        self.owner = owner;
        // A new certificate and key go to the workers the roll starts.
        self.tls = tls;
        if new.worker.bind != self.settings.worker.bind {
            warn!("bind changed; the new addresses take effect when rg serve restarts");
        }
        if new.master.metrics_bind != self.settings.master.metrics_bind {
            warn!("metrics_bind changed; the new address takes effect when rg serve restarts");
        }
        new.worker.bind = self.settings.worker.bind.clone();
        new.master.metrics_bind = self.settings.master.metrics_bind.clone();
        self.settings = new;
        Some(Request::Reloaded(policy_config(&self.settings)))
    }

    fn announce_reload(&self, workers: usize) {
        info!(
            "Reloading: rolling {workers} workers onto {}",
            self.program.display()
        );
        self.announce_reloading("Reloading");
    }

    /// Tells systemd `RELOADING=1`, with the monotonic time it wants beside
    /// it, and `status`.
    fn announce_reloading(&self, status: &str) {
        let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
            .map(|t| t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1000)
            .unwrap_or(0);
        let _ = self
            .systemd
            .send(&Notification::reloading(now).with_status(status));
    }
}

/// What the policy needs from the settings.
fn policy_config(settings: &Settings) -> Config {
    Config {
        workers: settings.master.workers,
        timeout: settings.worker.timeout,
        graceful_timeout: settings.worker.graceful_timeout,
        max_lifetime: settings.master.max_worker_lifetime,
        lifetime_jitter: settings.master.max_worker_lifetime_jitter,
        max_rss: settings.master.max_worker_rss,
        shutdown_delay: settings.master.shutdown_delay,
    }
}

/// The next question from the metrics port or the control socket; never,
/// without one.
async fn ask<T>(questions: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match questions {
        Some(questions) => questions.recv().await,
        None => std::future::pending().await,
    }
}

/// The answer of a oneshot, once; never, without one.
async fn ask_once<T>(answer: &mut Option<oneshot::Receiver<T>>) -> Option<T> {
    match answer {
        Some(receiver) => receiver.await.ok(),
        None => std::future::pending().await,
    }
}

/// A process's resident memory in bytes, from `/proc/PID/statm`.
fn rss(pid: u32) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf(3) has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}

/// Every worker of `pids` that has exited since the last call, without
/// waiting. Only workers: other children (an upgrade's check of a new rg)
/// are tokio's to reap.
fn reap(pids: &[u32]) -> Vec<Event> {
    pids.iter()
        .filter_map(|&pid| {
            let how = match waitpid(Pid::from_raw(pid as i32), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(_, code)) => Exit::Code(code),
                Ok(WaitStatus::Signaled(_, sig, _)) => Exit::Signal(sig),
                _ => return None,
            };
            Some(Event::Exited { pid, how })
        })
        .collect()
}

fn signal_pid(pid: u32, sig: Signal) {
    if let Err(e) = kill(Pid::from_raw(pid as i32), sig) {
        debug!("kill({pid}, {sig}) failed: {e}");
    }
}
