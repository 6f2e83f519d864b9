//! `rg ctl`: every command against a running `rg serve`, through the
//! control socket it makes in its directory, and a user who may not.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use crate::support::{BOOT, Serve, eventually, fixture_binary, free_port, get, rg, workers};

fn ctl(dir: &Path, args: &[&str]) -> Output {
    rg().arg("ctl").args(args).current_dir(dir).output().unwrap()
}

/// `rg ctl ARGS` that succeeds, and what it printed.
fn said(dir: &Path, args: &[&str]) -> String {
    let out = ctl(dir, args);
    assert!(
        out.status.success(),
        "rg ctl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json(dir: &Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    serde_json::from_str(&said(dir, &all)).unwrap()
}

#[test]
fn every_command_against_a_running_server() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(tmp.path().join("rg.toml"), "workers = 2\nkeepalive = 7\n").unwrap();
    let mut master = Serve::fixture().current_dir(tmp.path()).start();
    let dir = tmp.path();
    let socket = dir.join("rg.ctl");
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the master's user only");
    let addr = master.addr();
    for _ in 0..3 {
        assert_eq!(get(&addr, "/").unwrap().status, 200);
    }

    let pids = workers(&master);
    let table = said(dir, &["workers"]);
    for pid in &pids {
        assert!(table.contains(&format!(" {pid} ")), "{table}");
    }
    assert_eq!(table.matches(" ready").count(), 2, "{table}");
    let listed = json(dir, &["workers"]);
    assert_eq!(listed["workers"].as_array().unwrap().len(), 2);

    let stats = json(dir, &["stats"]);
    assert_eq!(stats["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(stats["master_pid"], master.pid());
    assert_eq!(stats["phase"], "running");
    assert_eq!(stats["workers_ready"], 2);
    let shown = said(dir, &["stats"]);
    assert!(
        shown.starts_with(&format!(
            "rg {}, master pid {}",
            env!("CARGO_PKG_VERSION"),
            master.pid()
        )),
        "{shown}"
    );

    let config = said(dir, &["config"]);
    assert!(config.contains("keepalive = \"7\"  # rg.toml:2"), "{config}");
    assert!(config.contains("workers = \"2\"  # rg.toml:1"), "{config}");

    assert_eq!(said(dir, &["add", "2"]), "Workers wanted: 4\n");
    assert!(eventually(BOOT, || json(dir, &["stats"])["workers_ready"] == 4));
    assert_eq!(said(dir, &["remove"]), "Workers wanted: 3\n");
    assert!(eventually(BOOT, || workers(&master).len() == 3));

    let before = workers(&master);
    assert!(said(dir, &["reload"]).starts_with("Reloading"));
    assert!(
        eventually(Duration::from_secs(15), || master
            .stderr()
            .contains("Reload complete")),
        "{}",
        master.stderr()
    );
    assert!(workers(&master).iter().all(|pid| !before.contains(pid)));

    assert_eq!(said(dir, &["reopen-logs"]), "Reopening the log files\n");
    assert!(eventually(BOOT, || master
        .stderr()
        .contains("Reopened log files")));

    // In place, onto the rg on disk (this one): same pid, workers rolled.
    let before = workers(&master);
    assert!(said(dir, &["upgrade"]).starts_with("Upgrading: checking the new rg at "));
    assert!(
        eventually(Duration::from_secs(15), || master
            .stderr()
            .matches("Reload complete")
            .count()
            == 2),
        "{}",
        master.stderr()
    );
    let took_over = format!("master pid {}, took over ", master.pid());
    assert!(master.stderr().contains(&took_over), "{}", master.stderr());
    assert_eq!(json(dir, &["stats"])["master_pid"], master.pid());
    assert!(eventually(BOOT, || workers(&master)
        .iter()
        .all(|pid| !before.contains(pid))));

    // A broken rg.toml: the reload is refused, and rg ctl says why.
    std::fs::write(dir.join("rg.toml"), "workers = \"lots\"\n").unwrap();
    let refused = ctl(dir, &["reload"]);
    assert_eq!(refused.status.code(), Some(1));
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(
        why.contains("rg serve refused `reload`: rg.toml:1: invalid workers"),
        "{why}"
    );
    std::fs::write(dir.join("rg.toml"), "workers = 3\n").unwrap();

    // Another user cannot even connect.
    let nobody = rg()
        .args(["ctl", "stats"])
        .current_dir(dir)
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    assert_eq!(nobody.status.code(), Some(1));
    let why = String::from_utf8_lossy(&nobody.stderr);
    assert!(why.contains("permission denied on `rg.ctl`"), "{why}");

    assert_eq!(said(dir, &["stop"]), "Stopping gracefully\n");
    let status = master
        .wait_timeout(Duration::from_secs(15))
        .expect("rg serve stops");
    assert_eq!(status.code(), Some(0));
    assert!(!socket.exists(), "the socket goes with the master");
    let gone = ctl(dir, &["stats"]);
    assert!(String::from_utf8_lossy(&gone.stderr).contains("no control socket at `rg.ctl`"));
}

#[test]
fn stop_now_and_a_socket_moved_or_turned_off() {
    let tmp = tempfile::tempdir().unwrap();
    let socket = tmp.path().join("run/mysite.ctl");
    std::fs::create_dir(socket.parent().unwrap()).unwrap();
    let mut master = Serve::fixture()
        .current_dir(tmp.path())
        .args(["-w", "1", "--control-socket", socket.to_str().unwrap()])
        .start();
    assert!(!tmp.path().join("rg.ctl").exists());
    let out = rg()
        .args(["ctl", "-s", socket.to_str().unwrap(), "stop", "--now"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Stopping now\n");
    let status = master.wait_timeout(Duration::from_secs(5)).expect("stopped");
    assert_eq!(status.code(), Some(0));
    assert!(master.stderr().contains("Stopping now"), "{}", master.stderr());

    // Off: no socket, and rg ctl says so.
    std::fs::write(tmp.path().join("rg.toml"), "control_socket = \"\"\n").unwrap();
    let master = Serve::fixture().current_dir(tmp.path()).args(["-w", "1"]).start();
    assert!(!tmp.path().join("rg.ctl").exists());
    let off = ctl(tmp.path(), &["stats"]);
    assert!(String::from_utf8_lossy(&off.stderr).contains("control_socket is off"));
    drop(master);

    // A place that cannot take a socket, chosen by the user: refused at start.
    let out = Command::new(env!("CARGO_BIN_EXE_rg"))
        .arg("serve")
        .arg(fixture_binary())
        .args(["--control-socket", "/nonexistent-dir/rg.ctl"])
        .args(["-b", &format!("127.0.0.1:{}", free_port())])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let why = String::from_utf8_lossy(&out.stderr);
    assert!(why.contains("invalid control_socket"), "{why}");
    assert!(why.contains("/nonexistent-dir/rg.ctl"), "{why}");
}
