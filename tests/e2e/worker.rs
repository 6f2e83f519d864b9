//! The worker contract, through a generated project's own binary: binding,
//! socket activation, sd_notify, signals, exit codes.

use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{Addr, Running, fixture_binary, free_port, get, hello_binary, wait_until_serving};

const STARTUP: Duration = Duration::from_secs(10);

#[test]
fn a_generated_project_says_hello_and_stops_cleanly_on_sigterm() {
    let port = free_port();
    let mut app = Running::spawn(Command::new(hello_binary()).env("RG_BIND", format!("127.0.0.1:{port}")));
    let addr = Addr::tcp(port);
    let response = wait_until_serving(&addr, STARTUP);
    assert_eq!(response.status, 200);
    assert_eq!(response.body, "Hello, world!\n");
    assert!(
        response.head.contains("content-type: text/plain"),
        "{}",
        response.head
    );

    // The access log line, in Apache's combined format, on stdout.
    get(&addr, "/some/path?q=1").unwrap();
    assert!(
        app.wait_for_output(
            "\"GET /some/path?q=1 HTTP/1.1\" 200 14 \"-\" \"-\"",
            Duration::from_secs(2)
        ),
        "no access log line in {:?}",
        app.stdout()
    );

    app.signal(libc::SIGTERM);
    let status = app
        .wait_timeout(Duration::from_secs(5))
        .expect("exit after SIGTERM");
    assert_eq!(status.code(), Some(0), "stderr: {}", app.stderr());
    assert!(get(&addr, "/").is_err(), "still answering after exit");
}

#[test]
fn sigterm_lets_an_in_flight_request_finish_then_exits() {
    let port = free_port();
    let addr = Addr::tcp(port);
    let mut app = Running::spawn(Command::new(fixture_binary()).env("RG_BIND", format!("127.0.0.1:{port}")));
    wait_until_serving(&addr, STARTUP);

    let slow = std::thread::spawn({
        let addr = addr.clone();
        move || get(&addr, "/slow?ms=1500")
    });
    std::thread::sleep(Duration::from_millis(300));
    let stopped_at = Instant::now();
    app.signal(libc::SIGTERM);
    assert!(app.wait_for_output("Stopping gracefully (SIGTERM)", Duration::from_secs(2)));
    // New connections are no longer accepted while the slow one drains.
    std::thread::sleep(Duration::from_millis(100));
    assert!(get(&addr, "/").is_err(), "accepted a connection after SIGTERM");

    let response = slow.join().unwrap().expect("the in-flight request failed");
    assert_eq!(response.body, "slow done\n");
    let status = app
        .wait_timeout(Duration::from_secs(5))
        .expect("exit after draining");
    assert_eq!(status.code(), Some(0));
    assert!(stopped_at.elapsed() < Duration::from_secs(5));
}

#[test]
fn the_graceful_timeout_bounds_a_drain() {
    let port = free_port();
    let addr = Addr::tcp(port);
    let mut app = Running::spawn(
        Command::new(fixture_binary())
            .env("RG_BIND", format!("127.0.0.1:{port}"))
            .env("RG_GRACEFUL_TIMEOUT", "0.5"),
    );
    wait_until_serving(&addr, STARTUP);
    let _slow = std::thread::spawn(move || get(&addr, "/slow?ms=20000"));
    std::thread::sleep(Duration::from_millis(200));
    let stopped_at = Instant::now();
    app.signal(libc::SIGTERM);
    let status = app
        .wait_timeout(Duration::from_secs(5))
        .expect("exit after the graceful timeout");
    assert_eq!(status.code(), Some(0));
    let took = stopped_at.elapsed();
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(3),
        "took {took:?}"
    );
    assert!(
        app.stderr().contains("Graceful timeout of 0.5s passed"),
        "{}",
        app.stderr()
    );
}

#[test]
fn sigint_stops_at_once_even_with_a_request_in_flight() {
    let port = free_port();
    let addr = Addr::tcp(port);
    let mut app = Running::spawn(Command::new(fixture_binary()).env("RG_BIND", format!("127.0.0.1:{port}")));
    wait_until_serving(&addr, STARTUP);
    let _slow = std::thread::spawn(move || get(&addr, "/slow?ms=20000"));
    std::thread::sleep(Duration::from_millis(200));
    let stopped_at = Instant::now();
    app.signal(libc::SIGINT);
    let status = app
        .wait_timeout(Duration::from_secs(5))
        .expect("exit after SIGINT");
    assert_eq!(status.code(), Some(0));
    assert!(stopped_at.elapsed() < Duration::from_secs(2));
}

/// Sockets handed over exactly as systemd does: fds 3 and 4, `LISTEN_FDS=2`,
/// `LISTEN_PID` the server's own pid, names in `LISTEN_FDNAMES`.
#[test]
fn serves_sockets_passed_by_socket_activation() {
    let tmp = tempfile::tempdir().unwrap();
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_addr = tcp.local_addr().unwrap();
    let unix_path = tmp.path().join("app.sock");
    let unix = UnixListener::bind(&unix_path).unwrap();
    let (tcp_fd, unix_fd) = (tcp.as_raw_fd(), unix.as_raw_fd());

    // `sh` sets LISTEN_PID to its own pid and then execs the server, which
    // keeps that pid: the same trick as systemd-socket-activate.
    let unused = free_port();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("LISTEN_PID=$$ exec \"$0\"")
        .arg(fixture_binary())
        .env("LISTEN_FDS", "2")
        .env("LISTEN_FDNAMES", "http:local")
        // Would be used only if the activation were ignored.
        .env("RG_BIND", format!("127.0.0.1:{unused}"));
    // SAFETY: only async-signal-safe calls (fcntl, dup2) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let a = libc::fcntl(tcp_fd, libc::F_DUPFD, 10);
            let b = libc::fcntl(unix_fd, libc::F_DUPFD, 10);
            if a < 0 || b < 0 || libc::dup2(a, 3) < 0 || libc::dup2(b, 4) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let app = Running::spawn(&mut cmd);
    let over_tcp = wait_until_serving(&Addr::Tcp(tcp_addr), STARTUP);
    assert_eq!(over_tcp.body, "Hello, world!\n");
    let over_unix = get(&Addr::Unix(unix_path.clone()), "/environ").unwrap();
    assert_eq!(over_unix.status, 200);
    assert!(
        over_unix
            .body
            .contains(&format!("server=unix:{}", unix_path.display())),
        "{}",
        over_unix.body
    );
    let over_tcp = get(&Addr::Tcp(tcp_addr), "/environ").unwrap();
    assert!(
        over_tcp
            .body
            .contains(&format!("server={tcp_addr} client=127.0.0.1")),
        "{}",
        over_tcp.body
    );
    // Both inherited sockets are announced (the output is read as it comes:
    // wait for each line); nothing was bound from RG_BIND.
    for line in [
        format!("Listening at: http://{tcp_addr} "),
        format!("Listening at: unix:{} ", unix_path.display()),
    ] {
        assert!(
            app.wait_for_output(&line, Duration::from_secs(5)),
            "{}",
            app.stderr()
        );
    }
    let stderr = app.stderr();
    assert_eq!(stderr.matches("Listening at:").count(), 2, "{stderr}");
    assert!(
        !stderr.contains(&format!("http://127.0.0.1:{unused} ")),
        "{stderr}"
    );
}

#[test]
fn notifies_ready_watchdog_and_stopping() {
    let tmp = tempfile::tempdir().unwrap();
    let notify_path = tmp.path().join("notify.sock");
    let receiver = UnixDatagram::bind(&notify_path).unwrap();
    receiver.set_read_timeout(Some(STARTUP)).unwrap();
    let port = free_port();
    let mut app = Running::spawn(
        Command::new(hello_binary())
            .env("RG_BIND", format!("127.0.0.1:{port}"))
            .env("NOTIFY_SOCKET", &notify_path)
            .env("WATCHDOG_USEC", "200000"),
    );
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let mut next = || {
        let n = receiver.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    // Heartbeats start with the runtime, so one may come before READY on a
    // busy machine (setup and binding take a moment); nothing else may.
    let ready = loop {
        let msg = next();
        if msg != "WATCHDOG=1" {
            break msg;
        }
    };
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready:?}");
    assert!(ready.contains(&format!("MAINPID={}", app.pid())), "{ready:?}");
    // READY is only sent once the socket accepts.
    assert_eq!(get(&Addr::tcp(port), "/").unwrap().status, 200);
    // Heartbeats at half of WATCHDOG_USEC.
    let started = Instant::now();
    let mut watchdogs = 0;
    while watchdogs < 2 {
        let msg = next();
        seen.push(msg.clone());
        if msg == "WATCHDOG=1" {
            watchdogs += 1;
        }
    }
    assert!(started.elapsed() < Duration::from_secs(2), "{seen:?}");

    app.signal(libc::SIGTERM);
    loop {
        let msg = next();
        if msg.contains("STOPPING=1") {
            break;
        }
        assert_eq!(msg, "WATCHDOG=1", "unexpected notification");
    }
    assert_eq!(app.wait_timeout(Duration::from_secs(5)).unwrap().code(), Some(0));
}

#[test]
fn an_address_in_use_is_a_start_failure_naming_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let mut app = Running::spawn(Command::new(hello_binary()).env("RG_BIND", addr.to_string()));
    let status = app.wait_timeout(STARTUP).expect("exit");
    assert_eq!(status.code(), Some(3), "stderr: {}", app.stderr());
    assert!(
        app.stderr()
            .contains(&format!("error: could not bind {addr}: address already in use")),
        "{}",
        app.stderr()
    );
}

#[test]
fn a_bad_setting_is_a_start_failure_naming_the_variable() {
    let mut app = Running::spawn(Command::new(hello_binary()).env("RG_THREADS", "lots"));
    let status = app.wait_timeout(STARTUP).expect("exit");
    assert_eq!(status.code(), Some(3));
    assert!(
        app.stderr().contains("error: invalid RG_THREADS=\"lots\""),
        "{}",
        app.stderr()
    );
}

#[test]
fn the_access_log_names_the_client_a_trusted_proxy_forwarded() {
    let lines = |allowed: Option<&str>, requests: &[(&str, &[&str])]| {
        let port = free_port();
        let mut command = Command::new(hello_binary());
        command.env("RG_BIND", format!("127.0.0.1:{port}"));
        if let Some(ips) = allowed {
            command.env("RG_FORWARDED_ALLOW_IPS", ips);
        }
        let mut app = Running::spawn(&mut command);
        let addr = Addr::tcp(port);
        wait_until_serving(&addr, STARTUP);
        for (target, headers) in requests {
            let headers: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
            assert_eq!(get_with(&addr, target, &headers).status, 200);
        }
        let last = format!("\"GET {} HTTP/1.1\"", requests[requests.len() - 1].0);
        assert!(
            app.wait_for_output(&last, Duration::from_secs(5)),
            "{}",
            app.stdout()
        );
        app.signal(libc::SIGTERM);
        app.wait_timeout(Duration::from_secs(5))
            .expect("exit after SIGTERM");
        let out = app.stdout();
        let line = |target: &str| {
            let request = format!("\"GET {target} HTTP/1.1\"");
            let found = out.lines().find(|l| l.contains(&request));
            let found = found.unwrap_or_else(|| panic!("no line for {target} in {out}"));
            // The client, then the line after the time.
            let (client, rest) = found.split_once(" - - [").unwrap();
            (client.to_string(), rest.split_once("] ").unwrap().1.to_string())
        };
        requests
            .iter()
            .map(|(target, _)| line(target))
            .collect::<Vec<_>>()
    };
    let browser = [
        "Referer: https://example.com/from",
        "User-Agent: Agent/1.0 (\"quoted\")",
    ];
    let trusted = lines(
        None,
        &[
            ("/direct", &browser),
            ("/one", &["X-Forwarded-For: 198.51.100.1, 192.0.2.7", browser[1]]),
            // Over two lines: the last address a proxy added, as in the environ.
            (
                "/two",
                &[
                    "X-Forwarded-For: 192.0.2.1",
                    "x-forwarded-for: 192.0.2.9, junk",
                    browser[0],
                ],
            ),
            ("/unparsed", &["X-Forwarded-For: unknown"]),
        ],
    );
    let expected = [
        (
            "127.0.0.1",
            r#""GET /direct HTTP/1.1" 200 14 "https://example.com/from" "Agent/1.0 (\"quoted\")""#,
        ),
        (
            "192.0.2.7",
            r#""GET /one HTTP/1.1" 200 14 "-" "Agent/1.0 (\"quoted\")""#,
        ),
        (
            "192.0.2.9",
            r#""GET /two HTTP/1.1" 200 14 "https://example.com/from" "-""#,
        ),
        ("127.0.0.1", r#""GET /unparsed HTTP/1.1" 200 14 "-" "-""#),
    ];
    for ((client, rest), (want_client, want_rest)) in trusted.iter().zip(expected) {
        assert_eq!((client.as_str(), rest.as_str()), (want_client, want_rest));
    }
    // A peer that is not a trusted proxy is the client, whatever it says.
    let untrusted = lines(
        Some("192.0.2.200"),
        &[("/claimed", &["X-Forwarded-For: 192.0.2.7"])],
    );
    assert_eq!(untrusted[0].0, "127.0.0.1");
}

#[test]
fn binds_several_addresses_including_a_unix_socket() {
    let tmp = tempfile::tempdir().unwrap();
    let sock = tmp.path().join("web.sock");
    let port = free_port();
    let mut app = Running::spawn(
        Command::new(hello_binary())
            .env("RG_BIND", format!("127.0.0.1:{port},unix:{}", sock.display()))
            // One connection at a time, shared by both listeners: neither
            // may starve the other while it waits for a connection.
            .env("RG_WORKER_CONNECTIONS", "1"),
    );
    wait_until_serving(&Addr::tcp(port), STARTUP);
    // Twice in a row on each: turns taken in order would not do.
    let unix = Addr::Unix(sock.clone());
    for addr in [&unix, &unix, &Addr::tcp(port), &Addr::tcp(port), &unix] {
        assert_eq!(get(addr, "/").unwrap().body, "Hello, world!\n", "{addr:?}");
    }
    app.signal(libc::SIGTERM);
    assert_eq!(app.wait_timeout(Duration::from_secs(5)).unwrap().code(), Some(0));
}

/// Sends `GET target` with `headers` extra header lines.
fn get_with(addr: &Addr, target: &str, headers: &[String]) -> crate::support::Response {
    let mut raw = format!("GET {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for h in headers {
        raw.push_str(h);
        raw.push_str("\r\n");
    }
    raw.push_str("\r\n");
    crate::support::request(addr, &raw).unwrap()
}

#[test]
fn request_heads_over_gunicorns_limits_are_refused_with_4xx() {
    let port = free_port();
    let addr = Addr::tcp(port);
    let app = Running::spawn(Command::new(hello_binary()).env("RG_BIND", format!("127.0.0.1:{port}")));
    wait_until_serving(&addr, STARTUP);

    let long_target = format!("/{}", "a".repeat(5000));
    let response = get_with(&addr, &long_target, &[]);
    assert_eq!(response.status, 414, "{}", response.head);
    assert!(response.body.contains("the limit is 4094"), "{}", response.body);

    let long_field = format!("X-Long: {}", "v".repeat(9000));
    let response = get_with(&addr, "/", &[long_field]);
    assert_eq!(response.status, 431, "{}", response.head);
    assert!(response.body.contains("x-long"), "{}", response.body);

    let many: Vec<String> = (0..120).map(|i| format!("X-Field-{i}: {i}")).collect();
    assert_eq!(get_with(&addr, "/", &many).status, 431);

    // Within the limits, nothing changes.
    let fine: Vec<String> = (0..90).map(|i| format!("X-Field-{i}: {i}")).collect();
    let response = get_with(&addr, &format!("/{}", "a".repeat(4000)), &fine);
    assert_eq!(response.status, 200);
    assert_eq!(response.body, "Hello, world!\n");
    // Refusals are requests like any other in the access log.
    assert!(
        app.wait_for_output("\" 414 ", Duration::from_secs(2)),
        "{}",
        app.stdout()
    );

    // The limits are settings: lifted or raised, the same requests pass.
    let port = free_port();
    let addr = Addr::tcp(port);
    let _app = Running::spawn(
        Command::new(hello_binary())
            .env("RG_BIND", format!("127.0.0.1:{port}"))
            .env("RG_LIMIT_REQUEST_LINE", "0")
            .env("RG_LIMIT_REQUEST_FIELDS", "200")
            .env("RG_LIMIT_REQUEST_FIELD_SIZE", "10000"),
    );
    wait_until_serving(&addr, STARTUP);
    assert_eq!(get_with(&addr, &long_target, &[]).status, 200);
    assert_eq!(get_with(&addr, "/", &many).status, 200);
    let long_field = format!("X-Long: {}", "v".repeat(9000));
    assert_eq!(get_with(&addr, "/", &[long_field]).status, 200);
}
