//! The master's rules, checked on the actions the policy returns, with a
//! fake clock and no processes.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal::{self, SIGABRT, SIGKILL, SIGQUIT, SIGSEGV, SIGTERM, SIGUSR1};

use super::{Action, Config, Event, Phase, Policy, Request};
use crate::process::exit::Exit;
use crate::process::notifications::{Message, parse};

mod leave;
mod recycle;
mod reload;
mod view;

const SECOND: Duration = Duration::from_secs(1);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `workers` workers, `timeout` and `graceful_timeout` 30 s.
fn config(workers: usize) -> Config {
    Config {
        workers,
        timeout: 30 * SECOND,
        graceful_timeout: 30 * SECOND,
        max_lifetime: Duration::ZERO,
        lifetime_jitter: Duration::ZERO,
        max_rss: 0,
        shutdown_delay: Duration::ZERO,
    }
}

fn spawn(id: u64, replaces: Option<u32>) -> Action {
    Action::Spawn { id, replaces }
}

fn kill(pid: u32, signal: Signal) -> Action {
    Action::signal(pid, signal)
}

fn status(ready: usize, of: usize) -> Action {
    Action::NotifySystemd(format!("STATUS={ready} of {of} workers ready"))
}

fn stopping(graceful: bool) -> [Action; 2] {
    [
        Action::NotifySystemd("STOPPING=1".into()),
        Action::CloseSockets { graceful },
    ]
}

/// A policy on a fake clock, with the driver's part played: each Spawn is
/// answered at once with the next pid (100, 101, ...).
struct Master {
    policy: Policy,
    start: Instant,
    elapsed: Duration,
    next_pid: u32,
}

impl Master {
    fn new(config: Config) -> Master {
        Master {
            policy: Policy::new(config),
            start: Instant::now(),
            elapsed: Duration::ZERO,
            next_pid: 100,
        }
    }

    /// `workers` workers, booted and ready at time zero; their pids.
    fn booted(workers: usize) -> (Master, Vec<u32>) {
        Master::booted_with(config(workers))
    }

    fn booted_with(config: Config) -> (Master, Vec<u32>) {
        let mut master = Master::new(config);
        master.on(Event::Tick);
        let pids = master.pids();
        for pid in &pids {
            master.ready(*pid);
        }
        assert_eq!(master.policy.phase(), Phase::Running);
        (master, pids)
    }

    /// Every action carried out for `event`, in the driver's order: the
    /// answers to spawns come after what was already queued.
    fn on(&mut self, event: Event) -> Vec<Action> {
        let now = self.start + self.elapsed;
        let mut queue: VecDeque<Action> = self.policy.on(event, now).into();
        let mut done = Vec::new();
        while let Some(action) = queue.pop_front() {
            if let Action::Spawn { id, .. } = action {
                let pid = self.next_pid;
                self.next_pid += 1;
                queue.extend(self.policy.on(Event::Spawned { id, pid }, now));
            }
            done.push(action);
        }
        done
    }

    fn after(&mut self, time: Duration) -> Vec<Action> {
        self.elapsed += time;
        self.on(Event::Tick)
    }

    fn say(&mut self, pid: u32, text: &str) -> Vec<Action> {
        self.on(Event::Notified(Message {
            pid,
            fields: parse(text),
        }))
    }

    fn ready(&mut self, pid: u32) -> Vec<Action> {
        self.say(pid, "READY=1")
    }

    fn exit(&mut self, pid: u32, how: Exit) -> Vec<Action> {
        self.on(Event::Exited { pid, how })
    }

    fn signal(&mut self, request: Request) -> Vec<Action> {
        self.on(Event::Signal(request))
    }

    /// The workers' pids, oldest first.
    fn pids(&self) -> Vec<u32> {
        self.policy.workers.values().filter_map(|w| w.pid).collect()
    }
}

#[test]
fn boots_the_workers_then_tells_systemd_it_is_ready() {
    let mut m = Master::new(config(2));
    assert_eq!(m.on(Event::Tick), [spawn(1, None), spawn(2, None)]);
    assert_eq!(m.pids(), [100, 101]);
    assert_eq!(m.ready(100), [status(1, 2)]);
    assert_eq!(m.policy.phase(), Phase::Booting);
    let ready = format!("READY=1\nMAINPID={}\nSTATUS=2 workers ready", std::process::id());
    assert_eq!(m.ready(101), [status(2, 2), Action::NotifySystemd(ready)]);
    assert_eq!(m.policy.phase(), Phase::Running);
}

#[test]
fn a_ready_worker_that_crashes_is_replaced() {
    let (mut m, _) = Master::booted(2);
    assert_eq!(m.exit(100, Exit::Signal(SIGKILL)), [status(1, 2), spawn(3, None)]);
    assert_eq!(m.pids(), [101, 102]);
    assert_eq!(m.ready(102), [status(2, 2)]);
    assert_eq!(m.after(SECOND), []);
}

#[test]
fn a_silent_worker_gets_sigabrt_after_the_timeout_then_sigkill_a_second_later() {
    let (mut m, _) = Master::booted(1);
    assert_eq!(m.after(30 * SECOND), [], "silent for exactly the timeout");
    assert_eq!(m.after(ms(100)), [kill(100, SIGABRT)]);
    assert_eq!(m.after(SECOND), []);
    assert_eq!(m.after(ms(100)), [kill(100, SIGKILL)]);
    assert_eq!(m.exit(100, Exit::Signal(SIGKILL)), [status(0, 1), spawn(2, None)]);
}

#[test]
fn any_notification_is_a_heartbeat_and_timeout_zero_never_fires() {
    let (mut m, _) = Master::booted(1);
    m.after(20 * SECOND);
    assert_eq!(m.say(100, "WATCHDOG=1"), []);
    assert_eq!(m.after(30 * SECOND), []);
    assert_eq!(m.after(ms(100)), [kill(100, SIGABRT)]);

    let mut m = Master::new(Config {
        timeout: Duration::ZERO,
        ..config(1)
    });
    m.on(Event::Tick);
    assert_eq!(m.after(3600 * SECOND), []);
}

#[test]
fn max_requests_starts_a_replacement_and_retires_the_old_worker_once_it_is_ready() {
    // No heartbeat timeout: the drain below is longer than the default.
    let (mut m, _) = Master::booted_with(Config {
        timeout: Duration::ZERO,
        ..config(2)
    });
    assert_eq!(m.say(100, "X_RG_RECYCLE=1"), [spawn(3, Some(100))]);
    assert_eq!(m.say(100, "X_RG_RECYCLE=1"), [], "asking twice starts one");
    assert_eq!(m.after(SECOND), [], "the old worker serves until then");
    assert_eq!(m.ready(102), [kill(100, SIGTERM), status(2, 2)]);
    // Draining may take graceful_timeout, and a second more.
    assert_eq!(m.after(31 * SECOND), []);
    assert_eq!(m.after(ms(100)), [kill(100, SIGKILL)]);
    assert_eq!(m.exit(100, Exit::Signal(SIGKILL)), [status(2, 2)], "not replaced");
    assert_eq!(m.pids(), [101, 102]);
}

#[test]
fn a_worker_that_exits_3_before_ready_halts_the_master_with_code_3() {
    let mut m = Master::new(config(2));
    m.on(Event::Tick);
    m.say(100, "STATUS=error: database unreachable");
    let mut halt = stopping(true).to_vec();
    halt.push(kill(101, SIGTERM));
    assert_eq!(m.exit(100, Exit::Code(3)), halt);
    assert!(matches!(m.policy.phase(), Phase::Stopping { code: 3, .. }));
    assert_eq!(
        m.policy.last_error.as_deref(),
        Some("error: database unreachable")
    );
    assert_eq!(m.exit(101, Exit::Code(0)), [status(0, 2), Action::Exit(3)]);
}

#[test]
fn five_workers_in_a_row_dying_before_ready_halt_the_master() {
    let mut m = Master::new(config(1));
    m.on(Event::Tick);
    for (pid, next) in (100..104).zip(2..) {
        assert_eq!(m.exit(pid, Exit::Code(1)), [spawn(next, None)]);
    }
    let mut halt = stopping(true).to_vec();
    halt.push(Action::Exit(3));
    assert_eq!(m.exit(104, Exit::Signal(SIGSEGV)), halt);
    assert_eq!(m.policy.last_error.as_deref(), Some("it was killed by SIGSEGV"));
}

#[test]
fn a_worker_that_gets_ready_resets_the_count_of_boot_failures() {
    let mut m = Master::new(config(1));
    m.on(Event::Tick);
    for pid in 100..104 {
        m.exit(pid, Exit::Code(1));
    }
    m.ready(104);
    m.exit(104, Exit::Code(1));
    for pid in 105..109 {
        m.exit(pid, Exit::Code(1));
    }
    assert_eq!(m.policy.phase(), Phase::Running);
    assert_eq!(m.pids(), [109]);
}

#[test]
fn spawns_that_fail_five_times_in_a_row_with_nothing_serving_halt_the_master() {
    let mut policy = Policy::new(config(1));
    let now = Instant::now();
    assert_eq!(policy.on(Event::Tick, now), [spawn(1, None)]);
    for id in 1..5 {
        let failed = Event::SpawnFailed {
            id,
            error: "Permission denied (os error 13)".into(),
        };
        assert_eq!(policy.on(failed, now), [spawn(id + 1, None)]);
    }
    let failed = Event::SpawnFailed {
        id: 5,
        error: "Permission denied (os error 13)".into(),
    };
    assert_eq!(
        policy.on(failed, now),
        [
            Action::NotifySystemd("STOPPING=1".into()),
            Action::CloseSockets { graceful: true },
            Action::Exit(3)
        ]
    );
}

#[test]
fn spawns_that_fail_with_workers_still_serving_keep_them_until_a_hup_retries() {
    let mut policy = Policy::new(config(2));
    let now = Instant::now();
    assert_eq!(policy.on(Event::Tick, now), [spawn(1, None), spawn(2, None)]);
    for (id, pid) in [(1, 100), (2, 101)] {
        policy.on(Event::Spawned { id, pid }, now);
        policy.on(
            Event::Notified(Message {
                pid,
                fields: parse("READY=1"),
            }),
            now,
        );
    }
    let mut next = policy.on(
        Event::Exited {
            pid: 100,
            how: Exit::Signal(Signal::SIGKILL),
        },
        now,
    );
    for _ in 0..super::MAX_BOOT_FAILURES {
        let Some(Action::Spawn { id, .. }) = next.last().cloned() else {
            panic!("expected a spawn, got {next:?}");
        };
        next = policy.on(
            Event::SpawnFailed {
                id,
                error: "No such file or directory (os error 2)".into(),
            },
            now,
        );
    }
    assert_eq!(
        next,
        [Action::NotifySystemd(
            "STATUS=Not starting workers: No such file or directory (os error 2); 1 of 2 workers ready"
                .into()
        )],
        "the worker left keeps serving"
    );
    assert_eq!(policy.phase(), Phase::Running);
    // A HUP (a fixed deploy, say) tries again.
    let retry = policy.on(Event::Signal(Request::Reloaded(config(2))), now);
    assert!(
        retry.iter().any(|a| matches!(a, Action::Spawn { .. })),
        "{retry:?}"
    );
}

#[test]
fn hup_with_a_good_config_rolls_the_workers_one_at_a_time() {
    let (mut m, _) = Master::booted(2);
    let new = Config {
        timeout: 10 * SECOND,
        ..config(2)
    };
    assert_eq!(
        m.signal(Request::Reloaded(new)),
        [Action::AnnounceReload { workers: 2 }, spawn(3, Some(100))]
    );
    assert_eq!(m.policy.phase(), Phase::Reloading);
    assert_eq!(m.after(SECOND), [], "the next waits for this one");
    assert_eq!(
        m.ready(102),
        [kill(100, SIGTERM), status(2, 2), spawn(4, Some(101))]
    );
    assert_eq!(m.after(SECOND), []);
    assert_eq!(m.exit(100, Exit::Code(0)), [status(2, 2)]);
    assert_eq!(
        m.ready(103),
        [
            kill(101, SIGTERM),
            status(2, 2),
            Action::NotifySystemd("READY=1".into()),
            status(2, 2)
        ]
    );
    assert_eq!(m.policy.phase(), Phase::Running);
    assert_eq!(m.exit(101, Exit::Code(0)), [status(2, 2)]);
    assert_eq!(m.pids(), [102, 103]);
    // The new timeout is the one that counts: 102 was last heard of at 1 s.
    assert_eq!(m.after(10 * SECOND), [kill(102, SIGABRT)]);
}

#[test]
fn hup_with_a_broken_config_changes_nothing() {
    let (mut m, pids) = Master::booted(2);
    let failed = Request::ReloadFailed("rg.toml:1: invalid workers = \"lots\"".into());
    assert_eq!(m.signal(failed), []);
    assert_eq!(m.policy.phase(), Phase::Running);
    assert_eq!((m.policy.config, m.policy.generation), (config(2), 0));
    assert_eq!(m.after(SECOND), []);
    assert_eq!(m.pids(), pids);
}

#[test]
fn ttin_adds_a_worker_and_ttou_retires_the_oldest_but_never_the_last() {
    let (mut m, _) = Master::booted(1);
    assert_eq!(m.signal(Request::Ttin), [spawn(2, None)]);
    assert_eq!(m.ready(101), [status(2, 2)]);
    assert_eq!(m.signal(Request::Ttou), [kill(100, SIGTERM)]);
    assert_eq!(m.exit(100, Exit::Code(0)), [status(1, 1)]);
    assert_eq!(m.signal(Request::Ttou), []);
    assert_eq!((m.policy.target, m.pids()), (1, vec![101]));
}

#[test]
fn term_drains_then_kills_what_is_left_after_graceful_timeout_and_exits_0() {
    let (mut m, _) = Master::booted(2);
    let mut term = stopping(true).to_vec();
    term.extend([kill(100, SIGTERM), kill(101, SIGTERM)]);
    assert_eq!(m.signal(Request::Term), term);
    assert_eq!(m.exit(100, Exit::Code(0)), [status(1, 2)], "not replaced");
    assert_eq!(m.signal(Request::Ttin), []);
    assert_eq!(m.signal(Request::Reloaded(config(2))), []);
    assert_eq!(m.after(30 * SECOND + ms(900)), []);
    assert_eq!(m.after(ms(100)), [kill(101, SIGKILL)]);
    assert_eq!(
        m.exit(101, Exit::Signal(SIGKILL)),
        [status(0, 2), Action::Exit(0)]
    );
}

#[test]
fn a_fast_stop_signals_sigquit() {
    let (mut m, _) = Master::booted(2);
    let mut now = stopping(false).to_vec();
    now.extend([kill(100, SIGQUIT), kill(101, SIGQUIT)]);
    assert_eq!(m.signal(Request::Quit), now);
    assert_eq!(m.after(ms(900)), []);
    assert_eq!(m.after(ms(100)), [kill(100, SIGKILL), kill(101, SIGKILL)]);
    m.exit(100, Exit::Signal(SIGQUIT));
    assert_eq!(m.exit(101, Exit::Signal(SIGKILL)).last(), Some(&Action::Exit(0)));
}

#[test]
fn a_fast_stop_overrides_a_graceful_one_in_progress() {
    let (mut m, _) = Master::booted(2);
    m.signal(Request::Term);
    assert_eq!(m.after(5 * SECOND), []);
    assert_eq!(m.signal(Request::Term), [], "a second TERM changes nothing");
    assert_eq!(m.signal(Request::Quit), [kill(100, SIGQUIT), kill(101, SIGQUIT)]);
    assert_eq!(m.after(ms(900)), []);
    assert_eq!(m.after(ms(100)), [kill(100, SIGKILL), kill(101, SIGKILL)]);
    assert!(matches!(m.policy.phase(), Phase::Stopping { code: 0, .. }));
}

#[test]
fn usr1_reopens_the_logs_and_passes_usr1_on_to_the_workers() {
    let (mut m, _) = Master::booted(2);
    assert_eq!(
        m.signal(Request::Usr1),
        [Action::ReopenLogs, kill(100, SIGUSR1), kill(101, SIGUSR1)]
    );
}

#[test]
fn other_processes_notifications_and_exits_are_ignored() {
    let (mut m, pids) = Master::booted(2);
    assert_eq!(m.say(999, "READY=1\nX_RG_RECYCLE=1"), []);
    assert_eq!(m.exit(999, Exit::Code(1)), []);
    assert_eq!(m.pids(), pids);
}
