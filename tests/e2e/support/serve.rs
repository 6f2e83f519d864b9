//! `rg serve` of the fixture, started and waited for until it says
//! "Booted".

use std::path::Path;
use std::time::Duration;

use super::{Addr, Running, fixture_binary, free_port, rg};

/// How long a master may take to boot its workers in the tests.
pub const BOOT: Duration = Duration::from_secs(15);

/// Starts `rg serve FIXTURE ARGS` in `dir` and waits for "Booted".
pub fn serve_fixture(dir: &Path, args: &[&str]) -> Running {
    let mut cmd = rg();
    cmd.arg("serve").arg(fixture_binary()).args(args).current_dir(dir);
    let master = Running::spawn(&mut cmd);
    assert!(
        master.wait_for_output("Booted", BOOT),
        "rg serve did not boot: {}",
        master.stderr()
    );
    master
}

/// `rg serve FIXTURE ARGS` in `dir` on a free port with its metrics port on another;
/// (master, serving address, metrics address).
pub fn serve_with_metrics(dir: &Path, args: &[&str]) -> (Running, Addr, Addr) {
    let (port, metrics) = (free_port(), free_port());
    let mut cmd = rg();
    cmd.arg("serve")
        .arg(fixture_binary())
        .args(["-b", &format!("127.0.0.1:{port}")])
        .args(["--metrics-bind", &format!("127.0.0.1:{metrics}")])
        .args(args)
        .current_dir(dir);
    let master = Running::spawn(&mut cmd);
    assert!(master.wait_for_output("Booted", BOOT), "{}", master.stderr());
    (master, Addr::tcp(port), Addr::tcp(metrics))
}
