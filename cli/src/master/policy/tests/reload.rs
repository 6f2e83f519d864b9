//! A reload onto a release that cannot start: the roll stops, the old
//! workers keep serving, and the next HUP tries again, on the fake clock.

use nix::sys::signal::Signal::{SIGABRT, SIGSEGV, SIGTERM};

use super::{Master, SECOND, config, kill, spawn, status};
use crate::master::policy::{Action, Phase, Request};
use crate::process::exit::Exit;

fn failed(words: &str, ready: usize, of: usize) -> Action {
    Action::NotifySystemd(format!(
        "READY=1\nSTATUS=Reload failed: {words}; {ready} of {of} workers ready"
    ))
}

#[test]
fn a_new_worker_that_cannot_start_stops_the_roll_and_the_old_ones_serve_on() {
    let (mut m, pids) = Master::booted(2);
    assert_eq!(
        m.signal(Request::Reloaded(config(2))),
        [Action::AnnounceReload { workers: 2 }, spawn(3, Some(pids[0]))]
    );
    m.say(102, "STATUS=error: database unreachable");
    assert_eq!(
        m.exit(102, Exit::Code(3)),
        [failed("error: database unreachable", 2, 2)],
        "no halt, no SIGTERM to the old workers"
    );
    assert_eq!(m.policy.phase(), Phase::Running);
    assert!(m.policy.is_ready(), "/readyz stays 200");
    assert_eq!(m.policy.reload_failures(), 1);
    assert_eq!(
        m.policy.held(),
        Some("a new worker did not become ready: error: database unreachable")
    );
    assert_eq!(m.after(5 * SECOND), [], "no retry until the next HUP");
    assert_eq!(m.pids(), pids);

    // An old worker that crashes meanwhile is not replaced from the
    // release that cannot start; the other serves on.
    assert_eq!(m.exit(pids[1], Exit::Signal(SIGSEGV)), [status(1, 2)]);
    assert_eq!(m.after(SECOND), []);

    // The fixed release: the next HUP rolls onto it.
    assert_eq!(
        m.signal(Request::Reloaded(config(2))),
        [
            Action::AnnounceReload { workers: 1 },
            spawn(4, Some(pids[0])),
            spawn(5, None)
        ]
    );
    assert_eq!(m.policy.held(), None);
    m.ready(104);
    assert_eq!(m.ready(103)[0], kill(pids[0], SIGTERM));
    m.exit(pids[0], Exit::Code(0));
    assert_eq!(m.pids(), [103, 104]);
    assert_eq!(m.policy.phase(), Phase::Running);
}

#[test]
fn a_new_worker_that_never_gets_ready_stops_the_roll_at_the_timeout() {
    let (mut m, pids) = Master::booted(1);
    m.signal(Request::Reloaded(config(1)));
    m.after(20 * SECOND);
    m.say(pids[0], "WATCHDOG=1");
    assert_eq!(m.after(11 * SECOND), [kill(101, SIGABRT)]);
    assert_eq!(
        m.exit(101, Exit::Signal(SIGABRT)),
        [failed("it was killed by SIGABRT", 1, 1)]
    );
    assert_eq!(m.pids(), pids);
}

#[test]
fn a_replacement_that_cannot_start_while_others_serve_keeps_them_serving() {
    let (mut m, pids) = Master::booted(2);
    assert_eq!(
        m.exit(pids[0], Exit::Signal(SIGSEGV)),
        [status(1, 2), spawn(3, None)]
    );
    m.say(102, "STATUS=error: database unreachable");
    let held = m.exit(102, Exit::Code(3));
    assert_eq!(
        held,
        [Action::NotifySystemd(
            "STATUS=Not starting workers: error: database unreachable; 1 of 2 workers ready".into()
        )]
    );
    assert_eq!(m.policy.phase(), Phase::Running);
    assert_eq!(m.policy.reload_failures(), 0, "no reload was asked for");
    // Once nothing serves, there is nothing left to protect: it tries again,
    // and a start that still fails halts with exit code 3.
    assert_eq!(
        m.exit(pids[1], Exit::Signal(SIGSEGV))[1..],
        [spawn(4, None), spawn(5, None)]
    );
    m.exit(103, Exit::Code(3));
    assert!(matches!(m.policy.phase(), Phase::Stopping { code: 3, .. }));
}
