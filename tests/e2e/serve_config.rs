//! `rg serve`'s settings and its answers to bad input, on a real master
//! and real workers: config errors, addresses, users, request limits.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{Addr, BOOT, Master, Serve, fixture_binary, get, rg, workers};

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
fn serves_a_project_directory_after_a_release_build() {
    let master = Serve::new(crate::support::hello_project())
        .args(["-w", "1"])
        .env("CARGO_TARGET_DIR", crate::support::e2e_target())
        .boot_timeout(Duration::from_secs(600))
        .start();
    assert!(master.stderr().contains("release/hello"), "{}", master.stderr());
    assert_eq!(get(&master.addr(), "/").unwrap().body, "Hello, world!\n");
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
    let master = Serve::fixture()
        .args(["-w", "1", "--limit-request-line", "100"])
        // Gunicorn spells this one with an underscore; both work.
        .args(["--limit-request-field_size", "50"])
        .start();
    let addr = master.addr();
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
    let master = Serve::fixture()
        .current_dir(tmp.path())
        .env("RG_WORKERS", "1")
        .env("RG_PIDFILE", tmp.path().join("rg.pid"))
        .start();
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
    let serve = Serve::new(&program)
        .current_dir(tmp.path())
        .args(["-w", "1", "-u", "nobody", "-g", "nogroup"])
        .arg("-b")
        .arg(format!("unix:{}", sock.display()));
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        let out = serve.output();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("needs rg serve to run as root"), "{err}");
        return;
    }
    let master = serve.start();
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
    assert_eq!(get(&master.addr(), "/").unwrap().body, "Hello, world!\n");
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
    let master = Serve::fixture()
        .args(["-w", "2", "--worker-connections", "1"])
        .start();
    let port = master.port();
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

    // Both now send a request slowly: a connection mid-request is never
    // closed to make room.
    for stream in [&mut first, &mut second] {
        std::io::Write::write_all(stream, b"GET /pid HTTP/1.1\r\nHost: test\r\n").unwrap();
    }

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

/// `rg serve FIXTURE` with `workers` workers and `worker_connections =
/// 1000`, started with an open files limit of `soft` (and `hard`), as
/// systemd's default 1024 is low for 1000 connections.
pub(crate) fn serve_with_open_files(dir: &Path, soft: u64, hard: u64, workers: &str) -> Master {
    Serve::fixture()
        .current_dir(dir)
        .args(["-w", workers, "--worker-connections", "1000"])
        .command(move |cmd| {
            // SAFETY: setrlimit only, between fork and exec.
            unsafe {
                std::os::unix::process::CommandExt::pre_exec(cmd, move || {
                    let limit = libc::rlimit {
                        rlim_cur: soft,
                        rlim_max: hard,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                })
            };
        })
        .start()
}

/// A worker's (soft, hard) open files limits, from /proc.
fn open_files_of(pid: i32) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    let numbers: Vec<u64> = line.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    (numbers[0], numbers[1])
}

#[test]
fn the_open_files_limit_is_raised_for_worker_connections_or_named_when_it_cannot_be() {
    let tmp = tempfile::tempdir().unwrap();
    // Room under the hard limit: raised as far as the connections and the
    // application's own files need, and no further.
    let master = serve_with_open_files(tmp.path(), 256, 8192, "1");
    let addr = master.addr();
    assert!(
        master
            .stderr()
            .contains("Raised the open files limit from 256 to 2024"),
        "{}",
        master.stderr()
    );
    let pids = workers(&master);
    assert_eq!(pids.len(), 1, "{pids:?}");
    assert_eq!(open_files_of(pids[0]), (2024, 8192));
    assert_eq!(get(&addr, "/").unwrap().status, 200);
    drop(master);

    // A hard limit below the connections: said at start, once, with what
    // to change, and the server still serves.
    let master = serve_with_open_files(tmp.path(), 256, 512, "2");
    let addr = master.addr();
    assert_eq!(get(&addr, "/").unwrap().status, 200);
    let err = master.stderr();
    let warning = "the open files limit is 512, too low for worker_connections = 1000";
    assert_eq!(err.matches(warning).count(), 1, "{err}");
    assert!(err.contains("LimitNOFILE="), "{err}");
    for pid in workers(&master) {
        assert_eq!(open_files_of(pid), (512, 512));
    }

    // Enough already: nothing to say.
    let master = serve_with_open_files(tmp.path(), 4096, 4096, "1");
    let addr = master.addr();
    assert_eq!(get(&addr, "/").unwrap().status, 200);
    assert_eq!(open_files_of(workers(&master)[0]), (4096, 4096));
    assert!(
        !master.stderr().contains("open files limit"),
        "{}",
        master.stderr()
    );
}
