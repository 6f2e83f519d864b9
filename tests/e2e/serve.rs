//! `rg serve`: a real master, real worker processes of a generated project,
//! real signals, and request loads that count every failure.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{
    Addr, Load, Running, children, eventually, fixture_binary, free_port, get, rg, wait_until_serving,
};

const BOOT: Duration = Duration::from_secs(15);

/// Starts `rg serve FIXTURE ARGS` in `dir` and waits for "Booted".
fn serve(dir: &Path, args: &[&str]) -> Running {
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

fn workers(master: &Running) -> Vec<i32> {
    children(master.pid())
}

#[test]
fn serves_tcp_and_unix_binds_with_n_workers_and_stops_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let sock = tmp.path().join("app.sock");
    let pidfile = tmp.path().join("rg.pid");
    let mut master = serve(
        tmp.path(),
        &[
            "-b",
            &format!("127.0.0.1:{port}"),
            "--bind",
            &format!("unix:{}", sock.display()),
            "-w",
            "3",
            "-p",
            pidfile.to_str().unwrap(),
            "--graceful-timeout",
            "5",
        ],
    );
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
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let master = serve(tmp.path(), &["-b", &format!("127.0.0.1:{port}"), "-w", "2"]);
    let addr = Addr::tcp(port);
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
    assert!(
        report.failures.is_empty(),
        "{} failed of {}: {:?}",
        report.failures.len(),
        report.ok,
        &report.failures[..report.failures.len().min(5)]
    );
    assert!(report.ok > 50, "too little load to prove anything: {}", report.ok);
}

#[test]
fn a_killed_worker_is_replaced_and_only_its_requests_fail() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let master = serve(tmp.path(), &["-b", &format!("127.0.0.1:{port}"), "-w", "2"]);
    let before = workers(&master);
    let load = Load::start(&Addr::tcp(port), "/pid", 2);
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
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let master = serve(
        tmp.path(),
        &["-b", &format!("127.0.0.1:{port}"), "-w", "1", "--timeout", "1"],
    );
    let addr = Addr::tcp(port);
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
fn max_requests_recycles_workers_under_load_without_a_failed_request() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let master = serve(
        tmp.path(),
        &[
            "-b",
            &format!("127.0.0.1:{port}"),
            "-w",
            "2",
            "--max-requests",
            "50",
            "--max-requests-jitter",
            "10",
        ],
    );
    let load = Load::start(&Addr::tcp(port), "/pid", 4);
    assert!(eventually(Duration::from_secs(20), || master
        .stderr()
        .matches("served max_requests")
        .count()
        >= 4));
    let report = load.stop();
    assert!(
        report.failures.is_empty(),
        "{:?}",
        &report.failures[..report.failures.len().min(5)]
    );
    assert!(
        report.bodies.len() >= 4,
        "expected answers from at least 4 worker pids: {:?}",
        report.bodies
    );
    assert!(eventually(Duration::from_secs(10), || workers(&master).len() == 2));
}

#[test]
fn ttin_adds_and_ttou_removes_a_worker() {
    let tmp = tempfile::tempdir().unwrap();
    let master = serve(
        tmp.path(),
        &["-b", &format!("127.0.0.1:{}", free_port()), "-w", "2"],
    );
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
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = rg();
    cmd.arg("serve")
        .arg(fixture_binary())
        .args(["-b", &format!("127.0.0.1:{}", free_port()), "-w", "2"])
        .args(["--access-logfile", "/nonexistent-dir/access.log"])
        .current_dir(tmp.path());
    let mut master = Running::spawn(&mut cmd);
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
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = rg();
    cmd.arg("serve")
        .arg(fixture_binary())
        .args(["-b", &format!("127.0.0.1:{}", free_port()), "-w", "1"])
        .env("FIXTURE_PANIC_AT_START", "database unreachable")
        .current_dir(tmp.path());
    let mut master = Running::spawn(&mut cmd);
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

fn rg_serve_in(dir: &Path, args: &[&str]) -> std::process::Output {
    rg().arg("serve")
        .arg(fixture_binary())
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn config_errors_name_the_key_the_value_and_where() {
    let tmp = tempfile::tempdir().unwrap();
    for (toml, needle) in [
        (
            "workers = 0\n",
            "rg.toml:1: invalid workers = \"0\": must be from 1",
        ),
        (
            "bind = [\"127.0.0.1:8000\"]\nworkrs = 3\n",
            "rg.toml:2: unknown setting `workrs`; did you mean `workers`?",
        ),
        ("bind = [\"not an address\"]\n", "rg.toml:1: invalid bind"),
        ("timeout = \"soon\"\n", "rg.toml:1: invalid timeout = \"soon\""),
        ("workers = \n", "not valid TOML"),
        (
            "limit_request_fields = 0\n",
            "rg.toml:1: invalid limit_request_fields = \"0\": expected a number of fields from 1 to 32768",
        ),
    ] {
        std::fs::write(tmp.path().join("rg.toml"), toml).unwrap();
        let out = rg_serve_in(tmp.path(), &["--check-config"]);
        assert_eq!(out.status.code(), Some(1), "{toml}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{toml:?}: {err}");
    }
    std::fs::write(tmp.path().join("rg.toml"), "workers = 2\n").unwrap();
    let out = rg_serve_in(tmp.path(), &["--check-config", "--workers", "0"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("flag --workers: invalid workers = \"0\""));
    let out = rg_serve_in(tmp.path(), &["--check-config"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("Configuration OK"));
    let out = rg_serve_in(tmp.path(), &["--check-config", "-c", "/nonexistent/rg.toml"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("failed to read `/nonexistent/rg.toml`"));
}

#[test]
fn print_config_shows_each_value_and_where_it_came_from() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("rg.toml"),
        "workers = \"cpu_count * 2 + 1\"\nthreads = 2\ntimeout = 10\n",
    )
    .unwrap();
    let out = rg()
        .args(["serve"])
        .arg(fixture_binary())
        .args(["--print-config", "--timeout", "7"])
        .env("RG_THREADS", "3")
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let line = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{key} = ")))
            .unwrap()
            .to_string()
    };
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert!(
        line("workers").contains(&format!("workers = {}", cpus * 2 + 1)),
        "{text}"
    );
    assert!(
        line("workers").contains("# rg.toml:1 = cpu_count * 2 + 1"),
        "{text}"
    );
    assert!(
        line("threads").contains("threads = 3") && line("threads").contains("# environment RG_THREADS"),
        "{text}"
    );
    assert!(
        line("timeout").contains("timeout = 7") && line("timeout").contains("# flag --timeout"),
        "{text}"
    );
    assert!(line("backlog").contains("# default"), "{text}");
}

#[test]
fn an_address_in_use_is_refused_naming_the_holder() {
    let tmp = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let out = rg_serve_in(tmp.path(), &["-b", &addr.to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("could not bind {addr}: address already in use by"))
            && err.contains(&format!("(pid {})", std::process::id())),
        "{err}"
    );
}

#[test]
fn a_missing_app_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = rg()
        .args(["serve", "/nonexistent/app"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`/nonexistent/app` does not exist"));
}

#[test]
fn workers_exit_when_the_master_is_killed() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = rg();
    cmd.arg("serve")
        .arg(fixture_binary())
        .args(["-b", &format!("127.0.0.1:{}", free_port()), "-w", "2"])
        .current_dir(tmp.path());
    // Not in a group of its own here would not matter: we kill the master only.
    let master = Running::spawn(&mut cmd);
    assert!(master.wait_for_output("Booted", BOOT));
    let pids = workers(&master);
    assert_eq!(pids.len(), 2);
    master.signal(libc::SIGKILL);
    let alive = |pid: i32| {
        Path::new(&format!("/proc/{pid}")).exists()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .contains(") Z ")
    };
    assert!(
        eventually(Duration::from_secs(10), || pids.iter().all(|p| !alive(*p))),
        "orphaned workers kept running"
    );
    let _ = Command::new("true").status();
}

#[test]
fn serves_a_project_directory_after_a_release_build() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cmd = rg();
    cmd.arg("serve")
        .arg(crate::support::hello_project())
        .args(["-b", &format!("127.0.0.1:{port}"), "-w", "1"])
        .env("CARGO_TARGET_DIR", crate::support::e2e_target())
        .current_dir(tmp.path());
    let master = Running::spawn(&mut cmd);
    assert!(
        master.wait_for_output("Booted", Duration::from_secs(600)),
        "{}",
        master.stderr()
    );
    assert!(master.stderr().contains("release/hello"), "{}", master.stderr());
    assert_eq!(get(&Addr::tcp(port), "/").unwrap().body, "Hello, world!\n");
}

#[test]
fn tells_systemd_ready_reloading_and_stopping() {
    let tmp = tempfile::tempdir().unwrap();
    let notify = tmp.path().join("notify.sock");
    let receiver = std::os::unix::net::UnixDatagram::bind(&notify).unwrap();
    receiver.set_read_timeout(Some(BOOT)).unwrap();
    let mut cmd = rg();
    cmd.arg("serve")
        .arg(fixture_binary())
        .args(["-b", &format!("127.0.0.1:{}", free_port()), "-w", "2"])
        .env("NOTIFY_SOCKET", &notify)
        .current_dir(tmp.path());
    let mut master = Running::spawn(&mut cmd);
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
    let port = free_port();
    std::fs::write(tmp.path().join("rg.toml"), "workers = 2\n").unwrap();
    let master = serve(tmp.path(), &["-b", &format!("127.0.0.1:{port}")]);
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
    assert_eq!(get(&Addr::tcp(port), "/").unwrap().status, 200);

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
fn usr1_reopens_the_access_log_after_rotation() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let log = tmp.path().join("access.log");
    let master = serve(
        tmp.path(),
        &[
            "-b",
            &format!("127.0.0.1:{port}"),
            "-w",
            "1",
            "--access-logfile",
            log.to_str().unwrap(),
        ],
    );
    let addr = Addr::tcp(port);
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

#[test]
fn an_address_not_on_this_machine_is_refused_in_words() {
    let tmp = tempfile::tempdir().unwrap();
    // 192.0.2.0/24 is reserved for documentation: no interface has it.
    // Binding sends nothing on the network.
    let out = rg_serve_in(tmp.path(), &["-b", "192.0.2.1:8000"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("could not bind 192.0.2.1:8000: address not available"),
        "{err}"
    );
}

#[test]
fn request_limits_set_with_gunicorns_flags_reach_the_workers() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let _master = serve(
        tmp.path(),
        &[
            "-b",
            &format!("127.0.0.1:{port}"),
            "-w",
            "1",
            "--limit-request-line",
            "100",
            // Gunicorn spells this one with an underscore; both work.
            "--limit-request-field_size",
            "50",
        ],
    );
    let addr = Addr::tcp(port);
    // Within the limit the request reaches the application (whose router
    // has no such route).
    assert_eq!(get(&addr, &format!("/{}", "a".repeat(80))).unwrap().status, 404);
    let long = get(&addr, &format!("/{}", "a".repeat(100))).unwrap();
    assert_eq!(long.status, 414);
    assert!(long.body.contains("the limit is 100"), "{}", long.body);
    let raw = format!(
        "GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\nX-Long: {}\r\n\r\n",
        "v".repeat(50)
    );
    assert_eq!(crate::support::request(&addr, &raw).unwrap().status, 431);
}

#[test]
fn master_settings_from_the_environment_are_not_passed_to_workers() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = rg();
    cmd.arg("serve")
        .arg(fixture_binary())
        .args(["-b", &format!("127.0.0.1:{}", free_port())])
        .env("RG_WORKERS", "1")
        .env("RG_PIDFILE", tmp.path().join("rg.pid"))
        .current_dir(tmp.path());
    let master = Running::spawn(&mut cmd);
    assert!(
        master.wait_for_output("Booted 1 worker\n", BOOT),
        "{}",
        master.stderr()
    );
    assert_eq!(workers(&master).len(), 1);
    assert!(tmp.path().join("rg.pid").exists());
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !master.stderr().contains("unknown setting"),
        "a worker was handed the master's settings: {}",
        master.stderr()
    );
}

#[test]
fn workers_run_as_the_user_and_group_given() {
    let tmp = tempfile::tempdir().unwrap();
    // The worker user must be able to reach the binary.
    std::fs::set_permissions(tmp.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let program = tmp.path().join("app");
    std::fs::copy(fixture_binary(), &program).unwrap();
    let sock = tmp.path().join("app.sock");
    let port = free_port();
    let mut cmd = rg();
    cmd.arg("serve")
        .arg(&program)
        .args([
            "-b",
            &format!("127.0.0.1:{port}"),
            "-w",
            "1",
            "-u",
            "nobody",
            "-g",
            "nogroup",
        ])
        .arg("-b")
        .arg(format!("unix:{}", sock.display()))
        .current_dir(tmp.path());
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("needs rg serve to run as root"), "{err}");
        return;
    }
    let master = Running::spawn(&mut cmd);
    assert!(master.wait_for_output("Booted", BOOT), "{}", master.stderr());
    let worker = workers(&master)[0];
    let status = std::fs::read_to_string(format!("/proc/{worker}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap()
            .split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(field("Uid:"), ["65534"; 4], "{status}");
    assert_eq!(field("Gid:"), ["65534"; 4], "{status}");
    assert!(field("Groups:").is_empty(), "root's groups were kept: {status}");
    // The master stays root, to bind and to manage the workers.
    let master_status = std::fs::read_to_string(format!("/proc/{}/status", master.pid())).unwrap();
    assert!(master_status.contains("Uid:\t0\t"), "{master_status}");
    // The socket file is the workers', as Gunicorn hands it over.
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(&sock).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
    assert_eq!(get(&Addr::Unix(sock), "/").unwrap().body, "Hello, world!\n");
    assert_eq!(get(&Addr::tcp(port), "/").unwrap().body, "Hello, world!\n");
}

#[test]
fn an_unknown_worker_user_is_a_config_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = rg_serve_in(tmp.path(), &["--check-config", "--user", "no-such-user-here"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("flag --user: invalid user = \"no-such-user-here\": no such user"),
        "{err}"
    );
}

/// Sends `GET path` on a kept-alive connection and reads one response body
/// (the fixture's answers carry a content-length).
fn get_keepalive(stream: &mut std::net::TcpStream, path: &str) -> String {
    use std::io::{Read, Write};
    write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    String::from_utf8(body).unwrap()
}

#[test]
fn a_worker_at_worker_connections_leaves_new_connections_to_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let master = serve(
        tmp.path(),
        &[
            "-b",
            &format!("127.0.0.1:{port}"),
            "-w",
            "2",
            "--worker-connections",
            "1",
        ],
    );
    let connect = move || {
        let s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    };
    // Two open keep-alive connections fill both workers, one each.
    let mut first = connect();
    let first_pid = get_keepalive(&mut first, "/pid");
    let mut second = connect();
    let second_pid = get_keepalive(&mut second, "/pid");
    assert_ne!(first_pid, second_pid, "both connections went to one worker");
    let mut pids: Vec<String> = workers(&master).iter().map(|p| format!("{p}\n")).collect();
    pids.sort();
    let mut seen = vec![first_pid.clone(), second_pid];
    seen.sort();
    assert_eq!(seen, pids);

    // A third waits in the listen queue (not refused) until a slot frees.
    let third = std::thread::spawn(move || {
        let mut s = connect();
        let pid = get_keepalive(&mut s, "/pid");
        (pid, Instant::now())
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(!third.is_finished(), "a worker served past worker_connections");
    let closed = Instant::now();
    drop(first);
    let (third_pid, answered) = third.join().unwrap();
    assert!(answered >= closed);
    assert_eq!(third_pid, first_pid, "the freed worker takes it");
}

#[test]
fn a_privileged_port_without_root_is_refused_in_words() {
    // Proving it needs root (to become an unprivileged user) and a kernel
    // that still reserves the ports below 1024 (some containers do not).
    let reserved: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1024);
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } != 0 || reserved <= 80 {
        eprintln!("skipped: needs root and ports below 1024 reserved");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // The unprivileged user must reach both binaries and the project.
    std::fs::set_permissions(tmp.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let rg_copy = tmp.path().join("rg");
    std::fs::copy(env!("CARGO_BIN_EXE_rg"), &rg_copy).unwrap();
    let app = tmp.path().join("app");
    std::fs::copy(fixture_binary(), &app).unwrap();
    std::fs::write(tmp.path().join("Cargo.toml"), "[package]\nname = \"app\"\n").unwrap();
    let as_nobody = |args: &[&std::ffi::OsStr]| {
        use std::os::unix::process::CommandExt;
        Command::new(&rg_copy)
            .args(args)
            .current_dir(tmp.path())
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap()
    };
    for out in [
        as_nobody(&[
            "serve".as_ref(),
            app.as_os_str(),
            "-b".as_ref(),
            "127.0.0.1:80".as_ref(),
        ]),
        as_nobody(&["runserver".as_ref(), "127.0.0.1:80".as_ref()]),
    ] {
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("could not bind 127.0.0.1:80: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE"),
            "{err}"
        );
    }
}
