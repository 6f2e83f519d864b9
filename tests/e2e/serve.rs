//! `rg serve`: a real master, real worker processes of a generated project,
//! real signals, and request loads that count every failure.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{
    Addr, BOOT, Load, Running, Serve, eventually, fixture_binary, get, wait_until_serving, workers,
};

#[test]
fn serves_tcp_and_unix_binds_with_n_workers_and_stops_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let sock = tmp.path().join("app.sock");
    let pidfile = tmp.path().join("rg.pid");
    let mut master = Serve::fixture()
        .current_dir(tmp.path())
        .arg("--bind")
        .arg(format!("unix:{}", sock.display()))
        .args(["-w", "3", "-p", pidfile.to_str().unwrap()])
        .args(["--graceful-timeout", "5"])
        .start();
    let port = master.port();
    let tcp = Addr::tcp(port);
    assert_eq!(get(&tcp, "/").unwrap().body, "Hello, world!\n");
    assert_eq!(
        get(&Addr::Unix(sock.clone()), "/").unwrap().body,
        "Hello, world!\n"
    );
    assert_eq!(workers(&master).len(), 3);
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap().trim(),
        master.pid().to_string()
    );
    assert!(
        master
            .stderr()
            .contains(&format!("Listening at: http://127.0.0.1:{port}"))
    );

    // TERM with a slow request in flight: it completes, then everything goes.
    let slow = std::thread::spawn({
        let tcp = tcp.clone();
        move || get(&tcp, "/slow?ms=1500")
    });
    std::thread::sleep(Duration::from_millis(300));
    let stopped = Instant::now();
    master.signal(libc::SIGTERM);
    assert_eq!(slow.join().unwrap().unwrap().body, "slow done\n");
    let status = master.wait_timeout(Duration::from_secs(8)).expect("master exits");
    assert_eq!(status.code(), Some(0), "{}", master.stderr());
    assert!(stopped.elapsed() < Duration::from_secs(6));
    assert!(!sock.exists(), "socket file left behind");
    assert!(!pidfile.exists(), "pid file left behind");
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("the port is free again");
}

#[test]
fn hup_twice_under_load_replaces_every_worker_without_a_failed_request() {
    let master = Serve::fixture().args(["-w", "2"]).start();
    let addr = master.addr();
    let before = workers(&master);
    let load = Load::start(&addr, "/pid", 4);
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..2 {
        master.signal(libc::SIGHUP);
        std::thread::sleep(Duration::from_millis(200));
        assert!(eventually(Duration::from_secs(10), || master
            .stderr()
            .matches("Reload complete")
            .count()
            >= 1));
    }
    assert!(eventually(Duration::from_secs(10), || master
        .stderr()
        .matches("Reload complete")
        .count()
        == 2));
    std::thread::sleep(Duration::from_millis(300));
    let report = load.stop();
    let after = workers(&master);
    assert_eq!(after.len(), 2, "{}", master.stderr());
    assert!(
        after.iter().all(|pid| !before.contains(pid)),
        "not every worker was replaced: {before:?} -> {after:?}"
    );
    report.assert_none_failed();
    assert!(report.ok > 50, "too little load to prove anything: {}", report.ok);
}

#[test]
fn a_killed_worker_is_replaced_and_only_its_requests_fail() {
    let master = Serve::fixture().args(["-w", "2"]).start();
    let before = workers(&master);
    let load = Load::start(&master.addr(), "/pid", 2);
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: kill(2) on a worker of our master.
    unsafe { libc::kill(before[0], libc::SIGKILL) };
    assert!(eventually(Duration::from_secs(10), || {
        let now = workers(&master);
        now.len() == 2 && !now.contains(&before[0])
    }));
    std::thread::sleep(Duration::from_millis(300));
    let report = load.stop();
    assert!(
        master
            .stderr()
            .contains(&format!("(pid {}) was killed by SIGKILL unexpectedly", before[0])),
        "{}",
        master.stderr()
    );
    // Each client has at most one request in flight on the killed worker.
    assert!(report.failures.len() <= 2, "{:?}", report.failures);
    assert!(report.ok > 20);
}

#[test]
fn a_worker_that_blocks_its_event_loop_is_killed_after_the_timeout() {
    let master = Serve::fixture().args(["-w", "1", "--timeout", "1"]).start();
    let addr = master.addr();
    let before = workers(&master);
    let blocked = std::thread::spawn({
        let addr = addr.clone();
        move || get(&addr, "/block?ms=30000")
    });
    assert!(
        master.wait_for_output("timed out: silent for", Duration::from_secs(10)),
        "{}",
        master.stderr()
    );
    assert!(
        blocked.join().unwrap().is_err(),
        "the blocked request cannot succeed"
    );
    assert!(
        master.wait_for_output("Booting worker 2", Duration::from_secs(10)),
        "{}",
        master.stderr()
    );
    assert!(eventually(Duration::from_secs(10), || {
        let now = workers(&master);
        now.len() == 1 && now != before
    }));
    let log = master.stderr();
    assert!(log.contains(&format!("(pid {}) timed out", before[0])), "{log}");
    assert!(log.contains("was killed by SIGABRT"), "{log}");
    assert_eq!(wait_until_serving(&addr, BOOT).body, "Hello, world!\n");
}

#[test]
fn a_stopped_worker_is_killed_after_the_timeout_and_replaced() {
    let master = Serve::fixture().args(["-w", "2", "--timeout", "1"]).start();
    let before = workers(&master);
    // SIGSTOP, as a debugger or a frozen cgroup leaves it: the SIGABRT
    // for its silence cannot act on a stopped process, SIGKILL can.
    // SAFETY: kill(2) on a worker of our master.
    unsafe { libc::kill(before[0], libc::SIGSTOP) };
    assert!(
        eventually(Duration::from_secs(10), || {
            let now = workers(&master);
            now.len() == 2 && !now.contains(&before[0])
        }),
        "{}",
        master.stderr()
    );
    let log = master.stderr();
    assert!(log.contains(&format!("(pid {}) timed out", before[0])), "{log}");
    assert!(
        log.contains(&format!(
            "(pid {}) was killed by SIGKILL after its timeout",
            before[0]
        )),
        "{log}"
    );
    for _ in 0..4 {
        assert_eq!(get(&master.addr(), "/").unwrap().body, "Hello, world!\n");
    }
}

#[test]
fn max_requests_recycles_workers_under_load_without_a_failed_request() {
    let master = Serve::fixture()
        .args(["-w", "2", "--max-requests", "50", "--max-requests-jitter", "10"])
        .start();
    let load = Load::start(&master.addr(), "/pid", 4);
    assert!(eventually(Duration::from_secs(20), || master
        .stderr()
        .matches("served max_requests")
        .count()
        >= 4));
    let report = load.stop();
    report.assert_none_failed();
    assert!(
        report.bodies.len() >= 4,
        "expected answers from at least 4 worker pids: {:?}",
        report.bodies
    );
    assert!(eventually(Duration::from_secs(10), || workers(&master).len() == 2));
}

#[test]
fn ttin_adds_and_ttou_removes_a_worker() {
    let master = Serve::fixture().args(["-w", "2"]).start();
    master.signal(libc::SIGTTIN);
    assert!(eventually(Duration::from_secs(10), || workers(&master).len() == 3));
    // One at a time: signals of one kind that arrive together coalesce.
    master.signal(libc::SIGTTOU);
    assert!(eventually(Duration::from_secs(10), || workers(&master).len() == 2));
    master.signal(libc::SIGTTOU);
    assert!(eventually(Duration::from_secs(10), || workers(&master).len() == 1));
    master.signal(libc::SIGTTOU);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(workers(&master).len(), 1, "TTOU must keep the last worker");
    assert!(master.stderr().contains("Number of workers: 3"));
}

#[test]
fn a_worker_that_cannot_start_stops_the_master_quoting_its_error() {
    let mut master = Serve::fixture()
        .args(["-w", "2"])
        .args(["--access-logfile", "/nonexistent-dir/access.log"])
        .spawn();
    let status = master.wait_timeout(BOOT).expect("the master gives up");
    assert_eq!(status.code(), Some(3));
    let log = master.stderr();
    assert!(log.contains("the application could not start"), "{log}");
    assert!(
        log.contains("could not open log file /nonexistent-dir/access.log"),
        "{log}"
    );
}

#[test]
fn a_crash_loop_stops_the_master() {
    let mut master = Serve::fixture()
        .args(["-w", "1"])
        .env("FIXTURE_PANIC_AT_START", "database unreachable")
        .spawn();
    let status = master.wait_timeout(BOOT).expect("the master gives up");
    assert_eq!(status.code(), Some(3));
    let log = master.stderr();
    assert!(
        log.contains("5 workers in a row died before they were ready"),
        "{log}"
    );
    assert!(
        log.contains("database unreachable"),
        "the panic message reaches the terminal: {log}"
    );
}

#[test]
fn tells_systemd_ready_reloading_and_stopping() {
    let tmp = tempfile::tempdir().unwrap();
    let notify = tmp.path().join("notify.sock");
    let receiver = std::os::unix::net::UnixDatagram::bind(&notify).unwrap();
    receiver.set_read_timeout(Some(BOOT)).unwrap();
    let mut master = Serve::fixture()
        .current_dir(tmp.path())
        .args(["-w", "2"])
        .env("NOTIFY_SOCKET", &notify)
        .spawn();
    let mut buf = [0u8; 4096];
    let mut wait_for = |needle: &str| loop {
        let n = receiver
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("no {needle}: {e}"));
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if text.lines().any(|l| l == needle) {
            return text;
        }
    };
    let ready = wait_for("READY=1");
    assert!(ready.contains(&format!("MAINPID={}", master.pid())), "{ready}");
    assert!(ready.contains("STATUS=2 workers ready"), "{ready}");
    master.signal(libc::SIGHUP);
    let reloading = wait_for("RELOADING=1");
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    wait_for("READY=1");
    master.signal(libc::SIGTERM);
    wait_for("STOPPING=1");
    assert_eq!(
        master.wait_timeout(Duration::from_secs(10)).unwrap().code(),
        Some(0)
    );
}

#[test]
fn serves_sockets_systemd_hands_to_the_master() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let tmp = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let fd = listener.as_raw_fd();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("LISTEN_PID=$$ exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_rg"))
        .arg("serve")
        .arg(fixture_binary())
        .args(["-w", "2"])
        .env("LISTEN_FDS", "1")
        .current_dir(tmp.path());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let high = libc::fcntl(fd, libc::F_DUPFD, 10);
            if high < 0 || libc::dup2(high, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let master = Running::spawn(&mut cmd);
    assert!(master.wait_for_output("Booted", BOOT), "{}", master.stderr());
    assert!(
        master.stderr().contains(&format!("Listening at: http://{addr}")),
        "{}",
        master.stderr()
    );
    assert_eq!(get(&Addr::Tcp(addr), "/").unwrap().body, "Hello, world!\n");
    assert_eq!(workers(&master).len(), 2);
}

#[test]
fn a_broken_config_on_hup_keeps_the_workers_running() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("rg.toml"), "workers = 2\n").unwrap();
    let master = Serve::fixture().current_dir(tmp.path()).start();
    let before = workers(&master);
    std::fs::write(tmp.path().join("rg.toml"), "workers = \"lots\"\n").unwrap();
    master.signal(libc::SIGHUP);
    assert!(master.wait_for_output(
        "Reload failed, keeping the current configuration",
        Duration::from_secs(5)
    ));
    assert!(
        master.stderr().contains("invalid workers = \"lots\""),
        "{}",
        master.stderr()
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(workers(&master), before);
    assert_eq!(get(&master.addr(), "/").unwrap().status, 200);

    // A good config is picked up by the next HUP: three workers now.
    std::fs::write(tmp.path().join("rg.toml"), "workers = 3\n").unwrap();
    master.signal(libc::SIGHUP);
    assert!(
        master.wait_for_output("Reload complete", Duration::from_secs(10)),
        "{}",
        master.stderr()
    );
    assert!(eventually(Duration::from_secs(10), || workers(&master).len() == 3));
}

#[test]
fn an_access_log_on_a_full_disk_is_said_once_and_requests_are_served() {
    // /dev/full fails every write with ENOSPC, as a full disk does.
    let master = Serve::fixture()
        .args(["-w", "1", "--access-logfile", "/dev/full"])
        .start();
    for _ in 0..50 {
        assert_eq!(get(&master.addr(), "/").unwrap().status, 200);
    }
    let said = "cannot write the access log to /dev/full (No space left on device";
    assert!(
        eventually(Duration::from_secs(5), || master.stderr().contains(said)),
        "{}",
        master.stderr()
    );
    // More failed writes, and more flushes, say nothing more.
    for _ in 0..50 {
        assert_eq!(get(&master.addr(), "/").unwrap().status, 200);
    }
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(master.stderr().matches(said).count(), 1, "{}", master.stderr());
}

#[test]
fn usr1_reopens_the_access_log_after_rotation() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("access.log");
    let master = Serve::fixture()
        .current_dir(tmp.path())
        .args(["-w", "1", "--access-logfile", log.to_str().unwrap()])
        .start();
    let addr = master.addr();
    get(&addr, "/before").unwrap();
    assert!(eventually(Duration::from_secs(5), || std::fs::read_to_string(
        &log
    )
    .unwrap_or_default()
    .contains("GET /before")));
    std::fs::rename(&log, tmp.path().join("access.log.1")).unwrap();
    master.signal(libc::SIGUSR1);
    assert!(
        master.wait_for_output("Reopened the log files", Duration::from_secs(5)),
        "{}",
        master.stderr()
    );
    get(&addr, "/after").unwrap();
    assert!(eventually(Duration::from_secs(5), || std::fs::read_to_string(
        &log
    )
    .unwrap_or_default()
    .contains("GET /after")));
    let rotated = std::fs::read_to_string(tmp.path().join("access.log.1")).unwrap();
    assert!(!rotated.contains("/after"));
}
