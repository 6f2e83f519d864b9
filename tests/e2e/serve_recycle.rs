//! Recycling by age and by memory, under load: the replacement is ready
//! before the old worker goes, so no request fails, and the log says why.

use std::time::Duration;

use crate::support::{Addr, Load, Master, Serve, children, eventually, get, sample};

/// `rg serve FIXTURE ARGS` with its metrics port, where each recycle is
/// counted by reason.
fn serve(args: &[&str]) -> Master {
    Serve::fixture().args(args).metrics().start()
}

fn restarts(metrics: &Addr, reason: &str) -> f64 {
    sample(
        metrics,
        &format!("rg_worker_restarts_total{{reason=\"{reason}\"}}"),
    )
}

#[test]
fn workers_past_their_lifetime_are_replaced_without_a_failed_request() {
    let master = serve(&["-w", "2", "--max-worker-lifetime", "1.5"]);
    let (addr, metrics) = (master.addr(), master.metrics());
    let before = children(master.pid());
    let load = Load::start(&addr, "/pid", 4);
    assert!(
        eventually(Duration::from_secs(20), || master
            .stderr()
            .matches("reached max_worker_lifetime")
            .count()
            >= 3),
        "{}",
        master.stderr()
    );
    let report = load.stop();
    report.assert_none_failed();
    assert!(restarts(&metrics, "lifetime") >= 3.0);
    assert_eq!(restarts(&metrics, "crash") + restarts(&metrics, "rss"), 0.0);
    let after = children(master.pid());
    assert!(
        after.iter().all(|pid| !before.contains(pid)),
        "{before:?} -> {after:?}"
    );
}

#[test]
fn a_worker_that_grows_past_max_worker_rss_is_replaced_without_a_failed_request() {
    let master = serve(&["-w", "1", "--max-worker-rss", "150"]);
    let (addr, metrics) = (master.addr(), master.metrics());
    let first = children(master.pid());
    let load = Load::start(&addr, "/pid", 2);
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        master.stderr().matches("grew past").count() == 0,
        "{}",
        master.stderr()
    );
    assert_eq!(get(&addr, "/grow?mb=300").unwrap().status, 200);
    assert!(
        eventually(Duration::from_secs(20), || master
            .stderr()
            .contains("grew past max_worker_rss")),
        "{}",
        master.stderr()
    );
    assert!(
        eventually(Duration::from_secs(20), || {
            let now = children(master.pid());
            now.len() == 1 && now != first
        }),
        "{}",
        master.stderr()
    );
    let report = load.stop();
    report.assert_none_failed();
    assert_eq!(restarts(&metrics, "rss"), 1.0);
    assert_eq!(restarts(&metrics, "lifetime") + restarts(&metrics, "crash"), 0.0);
}

#[test]
fn a_memory_limit_below_a_new_worker_is_said_and_not_obeyed_forever() {
    let master = serve(&["-w", "1", "--max-worker-rss", "1"]);
    let (addr, metrics) = (master.addr(), master.metrics());
    let first = children(master.pid());
    assert!(
        eventually(Duration::from_secs(10), || master
            .stderr()
            .contains("is below what a new worker holds")),
        "{}",
        master.stderr()
    );
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(children(master.pid()), first, "{}", master.stderr());
    assert_eq!(restarts(&metrics, "rss"), 0.0);
    assert_eq!(get(&addr, "/").unwrap().status, 200);
}
