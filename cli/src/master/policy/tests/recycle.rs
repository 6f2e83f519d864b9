//! Recycling by age and by memory, on the fake clock.

use std::time::Duration;

use nix::sys::signal::Signal::SIGTERM;

use super::{Master, SECOND, config, kill, spawn};
use crate::master::policy::{Action, Config, Event};

#[test]
fn a_worker_past_its_lifetime_is_replaced_ready_first() {
    let (mut m, pids) = Master::booted_with(Config {
        max_lifetime: 60 * SECOND,
        // No heartbeats in this test: only age counts.
        timeout: Duration::ZERO,
        ..config(1)
    });
    assert_eq!(m.after(59 * SECOND), []);
    let recycle = m.after(SECOND);
    assert_eq!(recycle, [spawn(2, Some(pids[0]))]);
    // The old one serves until its replacement is READY.
    assert_eq!(m.after(SECOND), []);
    let handover = m.ready(101);
    assert_eq!(handover[0], kill(pids[0], SIGTERM));
}

#[test]
fn lifetimes_are_spread_by_the_jitter() {
    let (mut m, _) = Master::booted_with(Config {
        max_lifetime: 60 * SECOND,
        lifetime_jitter: 30 * SECOND,
        timeout: Duration::ZERO,
        ..config(2)
    });
    let mut recycled_at = Vec::new();
    for second in 1..=90 {
        for action in m.after(SECOND) {
            if let Action::Spawn {
                replaces: Some(pid), ..
            } = action
            {
                recycled_at.push((second, pid));
            }
        }
    }
    assert_eq!(recycled_at.len(), 2, "{recycled_at:?}");
    assert!(
        recycled_at.iter().all(|(s, _)| (60..=90).contains(s)),
        "{recycled_at:?}"
    );
    assert_ne!(
        recycled_at[0].0, recycled_at[1].0,
        "both at once: {recycled_at:?}"
    );
}

#[test]
fn memory_over_the_limit_for_three_samples_recycles_but_a_spike_does_not() {
    const MB: u64 = 1024 * 1024;
    let (mut m, pids) = Master::booted_with(Config {
        max_rss: 100 * MB,
        ..config(1)
    });
    let sample = |m: &mut Master, mb: u64| {
        m.on(Event::Rss {
            pid: pids[0],
            bytes: mb * MB,
        })
    };
    assert_eq!(sample(&mut m, 40), []);
    // A spike: over, then under again.
    assert_eq!(sample(&mut m, 150), []);
    assert_eq!(sample(&mut m, 150), []);
    assert_eq!(sample(&mut m, 60), []);
    // Three in a row.
    assert_eq!(sample(&mut m, 150), []);
    assert_eq!(sample(&mut m, 150), []);
    assert_eq!(sample(&mut m, 150), [spawn(2, Some(pids[0]))]);
}

#[test]
fn a_memory_limit_below_a_new_workers_size_turns_itself_off() {
    const MB: u64 = 1024 * 1024;
    let (mut m, pids) = Master::booted_with(Config {
        max_rss: 10 * MB,
        ..config(1)
    });
    for _ in 0..10 {
        assert_eq!(
            m.on(Event::Rss {
                pid: pids[0],
                bytes: 40 * MB
            }),
            []
        );
    }
}
