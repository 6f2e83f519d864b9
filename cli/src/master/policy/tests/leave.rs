//! `shutdown_delay`: a graceful stop serves on, not ready, for the delay,
//! then drains as without one; on the fake clock.

use nix::sys::signal::Signal::{SIGQUIT, SIGTERM};

use super::{Master, SECOND, config, kill, ms, spawn, status};
use crate::master::policy::{Action, Config, Phase, Request};
use crate::process::exit::Exit;

fn delayed(workers: usize) -> Config {
    Config {
        shutdown_delay: 3 * SECOND,
        ..config(workers)
    }
}

#[test]
fn a_graceful_stop_serves_on_unready_for_the_delay_then_drains() {
    let (mut m, pids) = Master::booted_with(delayed(2));
    assert_eq!(
        m.signal(Request::Term),
        [Action::NotifySystemd("STOPPING=1".into())],
        "nothing closed, nothing signalled"
    );
    assert!(!m.policy.is_ready(), "/readyz answers 503 at once");
    assert!(matches!(m.policy.phase(), Phase::Leaving { .. }));
    // Still supervising: a crash is replaced, and HUP and TTIN wait.
    assert_eq!(m.exit(pids[0], Exit::Code(1)), [status(1, 2), spawn(3, None)]);
    m.ready(102);
    assert_eq!(m.signal(Request::Reloaded(config(2))), []);
    assert_eq!(m.signal(Request::Ttin), []);
    assert_eq!(m.after(3 * SECOND - ms(100)), []);
    assert_eq!(
        m.after(ms(100)),
        [
            Action::CloseSockets { graceful: true },
            kill(pids[1], SIGTERM),
            kill(102, SIGTERM)
        ]
    );
    assert!(m.policy.phase().is_stopping());
    m.exit(pids[1], Exit::Code(0));
    assert_eq!(m.exit(102, Exit::Code(0)), [status(0, 2), Action::Exit(0)]);
}

#[test]
fn a_fast_stop_or_a_second_graceful_one_cuts_the_delay_short() {
    let (mut m, pids) = Master::booted_with(delayed(1));
    m.signal(Request::Term);
    assert_eq!(
        m.signal(Request::Quit),
        [Action::CloseSockets { graceful: false }, kill(pids[0], SIGQUIT)]
    );

    let (mut m, pids) = Master::booted_with(delayed(1));
    m.signal(Request::Term);
    assert_eq!(
        m.signal(Request::Term),
        [Action::CloseSockets { graceful: true }, kill(pids[0], SIGTERM)]
    );
}
