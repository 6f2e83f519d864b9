//! What the policy shows the metrics port: restarts by reason, readiness,
//! and the workers.

use std::time::Duration;

use nix::sys::signal::Signal::{SIGKILL, SIGSEGV};

use super::{Master, SECOND, config, ms};
use crate::master::policy::{Config, Event, Request, Restart};
use crate::process::exit::Exit;

fn restarts(m: &Master) -> Vec<(&'static str, u64)> {
    Restart::ALL
        .iter()
        .map(|&r| (r.label(), m.policy.restarts().get(r)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

#[test]
fn each_restart_is_counted_once_with_its_reason() {
    let (mut m, _) = Master::booted_with(Config {
        max_lifetime: 600 * SECOND,
        max_rss: 100,
        ..config(2)
    });
    assert_eq!(restarts(&m), []);

    // A crash.
    m.exit(100, Exit::Signal(SIGSEGV));
    m.ready(102);
    // max_requests, asked twice.
    m.say(101, "X_RG_RECYCLE=1");
    m.say(101, "X_RG_RECYCLE=1");
    m.ready(103);
    m.exit(101, Exit::Code(0));
    assert_eq!(restarts(&m), [("crash", 1), ("max_requests", 1)]);

    // Memory: three samples over the limit after a first one under it.
    for bytes in [50, 200, 200, 200] {
        m.on(Event::Rss { pid: 102, bytes });
    }
    m.ready(104);
    m.exit(102, Exit::Code(0));
    assert_eq!(m.policy.restarts().get(Restart::Rss), 1);

    // A timeout is one timeout, not also a crash when the worker dies.
    m.say(103, "WATCHDOG=1");
    m.say(104, "WATCHDOG=1");
    m.after(30 * SECOND);
    m.say(104, "WATCHDOG=1");
    m.after(ms(200));
    m.after(2 * SECOND);
    m.exit(103, Exit::Signal(SIGKILL));
    assert_eq!(m.policy.restarts().get(Restart::Timeout), 1);
    assert_eq!(m.policy.restarts().get(Restart::Crash), 1);
}

#[test]
fn lifetime_reload_and_ttou_are_counted() {
    let (mut m, _) = Master::booted_with(Config {
        max_lifetime: 60 * SECOND,
        timeout: Duration::ZERO,
        ..config(2)
    });
    m.after(60 * SECOND);
    assert_eq!(m.policy.restarts().get(Restart::Lifetime), 2);

    let (mut m, _) = Master::booted(2);
    m.signal(Request::Reloaded(config(2)));
    m.ready(102);
    m.ready(103);
    assert_eq!(m.policy.restarts().get(Restart::Reload), 2);
    m.signal(Request::Ttou);
    m.signal(Request::Ttou);
    assert_eq!(m.policy.restarts().get(Restart::Ttou), 1, "the last worker stays");
}

#[test]
fn ready_until_stopping_and_workers_shown_oldest_first() {
    let mut m = Master::new(config(2));
    m.on(Event::Tick);
    assert!(!m.policy.is_ready(), "no worker is ready yet");
    m.ready(100);
    assert!(m.policy.is_ready(), "one ready worker is enough");
    m.after(SECOND);
    let now = m.start + m.elapsed;
    let shown: Vec<_> = m
        .policy
        .workers(now)
        .into_iter()
        .map(|w| (w.id, w.pid, w.state, w.age))
        .collect();
    assert_eq!(
        shown,
        [(1, Some(100), "ready", SECOND), (2, Some(101), "booting", SECOND)]
    );
    m.signal(Request::Term);
    assert!(!m.policy.is_ready(), "a stopping rg takes no new traffic");
    assert_eq!(m.policy.workers(now)[0].state, "leaving");
}
