//! Deploys that never drop a request: a HUP onto a release that cannot
//! start leaves the old workers serving, and the next HUP rolls onto the
//! fixed one, under a load of new connections and of keep-alive ones.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::support::{Load, Serve, eventually, fixture_binary, get, next_rg, rg, sample, workers};

/// One client on one keep-alive connection, requesting `/pid` back to back;
/// it opens a new connection when the server says `Connection: close`, and,
/// as RFC 9112 (9.3.1) lets clients, curl and browsers do, sends the request
/// again on a new one when a reused connection closes before any answer.
struct KeepAlive {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<KeepAliveReport>,
}

#[derive(Debug, Default)]
struct KeepAliveReport {
    ok: u64,
    connections: u64,
    /// Requests sent again after a reused connection closed unanswered.
    retried: u64,
    failures: Vec<String>,
}

impl KeepAlive {
    fn start(port: u16) -> KeepAlive {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut report = KeepAliveReport::default();
            let started = Instant::now();
            let mut stream: Option<(BufReader<TcpStream>, bool)> = None;
            while !flag.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(60) {
                let (reader, reused) = match &mut stream {
                    Some((reader, reused)) => (reader, *reused),
                    None => {
                        let s = match TcpStream::connect(("127.0.0.1", port)) {
                            Ok(s) => s,
                            Err(e) => {
                                report.failures.push(format!("connect: {e}"));
                                std::thread::sleep(Duration::from_millis(50));
                                continue;
                            }
                        };
                        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                        report.connections += 1;
                        let (reader, _) = stream.insert((BufReader::new(s), false));
                        (reader, false)
                    }
                };
                match exchange(reader) {
                    Ok(close) => {
                        report.ok += 1;
                        stream = if close {
                            None
                        } else {
                            stream.map(|(r, _)| (r, true))
                        };
                    }
                    Err(Unanswered::Closed) if reused => {
                        report.retried += 1;
                        stream = None;
                    }
                    Err(Unanswered::Closed) => {
                        report.failures.push("a new connection closed unanswered".into());
                        stream = None;
                    }
                    Err(Unanswered::Other(why)) => {
                        report.failures.push(why);
                        stream = None;
                    }
                }
            }
            report
        });
        KeepAlive { stop, thread }
    }

    fn stop(self) -> KeepAliveReport {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

#[derive(Debug)]
enum Unanswered {
    /// The connection closed before a byte of the response.
    Closed,
    Other(String),
}

/// One `GET /pid` on the connection; whether the server closes it after.
fn exchange(reader: &mut BufReader<TcpStream>) -> Result<bool, Unanswered> {
    let other = |e: std::io::Error| Unanswered::Other(e.to_string());
    let sent = reader
        .get_mut()
        .write_all(b"GET /pid HTTP/1.1\r\nHost: test\r\n\r\n");
    let mut line = String::new();
    match sent.and_then(|()| reader.read_line(&mut line)) {
        Ok(0) => return Err(Unanswered::Closed),
        Err(e)
            if e.kind() == std::io::ErrorKind::ConnectionReset
                || e.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            return Err(Unanswered::Closed);
        }
        Err(e) => return Err(other(e)),
        Ok(_) if !line.starts_with("HTTP/1.1 200") => {
            return Err(Unanswered::Other(format!("status line {line:?}")));
        }
        Ok(_) => {}
    }
    let (mut length, mut close) = (0, false);
    loop {
        line.clear();
        reader.read_line(&mut line).map_err(other)?;
        let lower = line.trim().to_ascii_lowercase();
        if lower.is_empty() {
            break;
        }
        if let Some(n) = lower.strip_prefix("content-length:") {
            length = n.trim().parse().unwrap_or(0);
        }
        close |= lower == "connection: close";
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).map_err(other)?;
    Ok(close)
}

/// Puts `source` at `path` as a deploy does: written beside, renamed over.
fn deploy(source: &[u8], path: &Path) {
    let beside = path.with_extension("new");
    std::fs::write(&beside, source).unwrap();
    std::fs::set_permissions(&beside, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::rename(&beside, path).unwrap();
}

#[test]
fn a_hup_onto_a_release_that_cannot_start_keeps_the_old_workers_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join("app");
    let good = std::fs::read(fixture_binary()).unwrap();
    deploy(&good, &app);
    let master = Serve::new(&app)
        .current_dir(tmp.path())
        .args(["-w", "2"])
        .metrics()
        .start();
    let (port, addr, metrics) = (master.port(), master.addr(), master.metrics());
    let before = workers(&master);
    let load = Load::start(&addr, "/pid", 3);
    let keep_alive = KeepAlive::start(port);
    std::thread::sleep(Duration::from_millis(300));

    // A release whose setup fails, as one with a wrong database URL does.
    let broken = format!(
        "#!/bin/sh\nFIXTURE_SETUP_ERROR='database unreachable' exec {} \"$@\"\n",
        fixture_binary().display()
    );
    deploy(broken.as_bytes(), &app);
    master.signal(libc::SIGHUP);
    assert!(
        eventually(Duration::from_secs(10), || master
            .stderr()
            .contains("Reload failed")),
        "{}",
        master.stderr()
    );
    let log = master.stderr();
    assert!(
        log.contains("database unreachable"),
        "the new worker's own words: {log}"
    );
    assert!(!log.contains("Shutting down"), "{log}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(workers(&master), before, "the old workers serve on");
    assert_eq!(get(&metrics, "/readyz").unwrap().status, 200);
    assert_eq!(sample(&metrics, "rg_reload_failures_total"), 1.0);
    let status = Command::new(env!("CARGO_BIN_EXE_rg"))
        .args([
            "status",
            "--metrics-bind",
            &format!("127.0.0.1:{}", master.metrics_port()),
        ])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&status.stdout);
    assert!(
        shown.contains("Not starting workers until the next HUP"),
        "{shown}"
    );
    assert!(shown.contains("Failed reloads: 1"), "{shown}");
    let during = keep_alive.stop();
    assert!(during.failures.is_empty(), "{during:?}");
    assert_eq!(
        (during.connections, during.retried),
        (1, 0),
        "the keep-alive connection was never closed"
    );
    assert!(during.ok > 20, "{during:?}");

    // The fixed release: the next HUP rolls onto it.
    let keep_alive = KeepAlive::start(port);
    deploy(&good, &app);
    master.signal(libc::SIGHUP);
    assert!(
        eventually(Duration::from_secs(15), || master
            .stderr()
            .contains("Reload complete")),
        "{}",
        master.stderr()
    );
    std::thread::sleep(Duration::from_millis(300));
    let report = load.stop();
    let after_fix = keep_alive.stop();
    report.assert_none_failed();
    assert!(report.ok > 50, "too little load to prove anything: {}", report.ok);
    assert!(after_fix.failures.is_empty(), "{after_fix:?}");
    eprintln!("keep-alive across the roll: {after_fix:?}");
    let after = workers(&master);
    assert_eq!(after.len(), 2, "{}", master.stderr());
    assert!(
        after.iter().all(|pid| !before.contains(pid)),
        "{before:?} -> {after:?}"
    );
}

/// An orchestrator takes the host out of its endpoints at the moment it
/// sends TERM: with `shutdown_delay`, /readyz turns 503 at once while every
/// request is still answered, then the drain finishes what is in flight.
#[test]
fn a_term_with_shutdown_delay_turns_readyz_503_and_serves_on_then_drains() {
    let mut master = Serve::fixture()
        .args(["-w", "2", "--shutdown-delay", "3"])
        .metrics()
        .start();
    let (addr, metrics) = (master.addr(), master.metrics());
    let load = Load::start(&addr, "/pid", 3);
    std::thread::sleep(Duration::from_millis(300));

    master.signal(libc::SIGTERM);
    let term = Instant::now();
    assert!(
        eventually(Duration::from_millis(100), || get(&metrics, "/readyz")
            .is_ok_and(|r| r.status == 503)),
        "/readyz still ready 100 ms after TERM"
    );
    assert_eq!(get(&metrics, "/readyz").unwrap().body, "stopping\n");
    std::thread::sleep(Duration::from_millis(2300));
    // Started within the delay, answered within the drain.
    let slow = std::thread::spawn({
        let addr = addr.clone();
        move || get(&addr, "/slow?ms=1500")
    });
    std::thread::sleep(Duration::from_millis(200));
    let report = load.stop();
    let served_for = term.elapsed();
    report.assert_none_failed();
    assert!(report.ok > 50, "too little load to prove anything: {}", report.ok);
    assert!(served_for >= Duration::from_millis(2500), "{served_for:?}");
    assert!(
        master.wait_timeout(Duration::from_secs(1)).is_none(),
        "stopped before the delay"
    );
    let status = master
        .wait_timeout(Duration::from_secs(10))
        .expect("the drain ends");
    assert_eq!(status.code(), Some(0), "{}", master.stderr());
    assert!(term.elapsed() >= Duration::from_secs(3));
    let slow = slow.join().unwrap().expect("the request in flight is answered");
    assert_eq!((slow.status, slow.body.as_str()), (200, "slow done\n"));
    let log = master.stderr();
    assert!(
        log.contains("Stopping gracefully in 3.0s (shutdown_delay)"),
        "{log}"
    );
}

/// Where a platform stops services with SIGINT (Nomad), `graceful_signals`
/// makes INT a graceful stop: in-flight requests finish.
#[test]
fn graceful_signals_makes_int_drain() {
    let mut master = Serve::fixture()
        .args(["-w", "1", "--graceful-signals", "TERM,INT"])
        .start();
    let addr = master.addr();
    let slow = std::thread::spawn(move || get(&addr, "/slow?ms=1000"));
    std::thread::sleep(Duration::from_millis(300));
    master.signal(libc::SIGINT);
    let slow = slow.join().unwrap().expect("answered");
    assert_eq!(slow.status, 200);
    assert_eq!(
        master
            .wait_timeout(Duration::from_secs(10))
            .and_then(|s| s.code()),
        Some(0)
    );
    assert!(
        master.stderr().contains("Stopping gracefully"),
        "{}",
        master.stderr()
    );
}

/// USR2 with a new `rg` on disk: the master execs it in place, same pid,
/// sockets and workers kept, then rolls the workers; a new rg that cannot
/// run is refused and the old master serves on. systemd, listening on a
/// notify socket the test holds, sees a reload, never a stop.
#[test]
fn usr2_upgrades_the_master_in_place_and_refuses_a_broken_rg() {
    let (next, version) = next_rg().clone();
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("rg");
    deploy(&std::fs::read(env!("CARGO_BIN_EXE_rg")).unwrap(), &bin);
    let notify = tmp.path().join("notify.sock");
    let systemd = std::os::unix::net::UnixDatagram::bind(&notify).unwrap();
    systemd.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    // Read as it comes: a datagram socket queues only a few.
    let heard = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    std::thread::spawn({
        let heard = heard.clone();
        move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = systemd.recv(&mut buf) {
                heard
                    .lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
    });
    let master = Serve::fixture()
        .rg(&bin)
        .current_dir(tmp.path())
        .args(["-w", "2"])
        .env("NOTIFY_SOCKET", &notify)
        .start();
    let (port, addr) = (master.port(), master.addr());
    let before = workers(&master);
    let load = Load::start(&addr, "/pid", 3);
    let keep_alive = KeepAlive::start(port);
    std::thread::sleep(Duration::from_millis(300));

    deploy(&std::fs::read(&next).unwrap(), &bin);
    master.signal(libc::SIGUSR2);
    assert!(
        eventually(Duration::from_secs(30), || master
            .stderr()
            .contains("Reload complete")),
        "{}",
        master.stderr()
    );
    let log = master.stderr();
    let upgraded = format!(
        "Upgraded in place: rg {} -> rg {version}, master pid {}",
        env!("CARGO_PKG_VERSION"),
        master.pid()
    );
    assert!(log.contains(&upgraded), "{log}");
    let stats = ctl_stats(tmp.path());
    assert_eq!(stats["version"], version.as_str());
    assert_eq!(stats["master_pid"], master.pid(), "the same process");
    let after = workers(&master);
    assert_eq!(after.len(), 2);
    assert!(
        after.iter().all(|pid| !before.contains(pid)),
        "{before:?} -> {after:?}"
    );

    // A new rg that exits at once: refused, and this one serves on.
    deploy(
        b"#!/bin/sh\necho 'rg: cannot run on this machine' >&2\nexit 1\n",
        &bin,
    );
    master.signal(libc::SIGUSR2);
    assert!(
        eventually(Duration::from_secs(10), || master
            .stderr()
            .contains("Upgrade refused")),
        "{}",
        master.stderr()
    );
    let log = master.stderr();
    assert!(log.contains("cannot run on this machine"), "its own words: {log}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(ctl_stats(tmp.path())["version"], version.as_str());
    assert_eq!(workers(&master), after, "the workers were not touched");

    let report = load.stop();
    let kept = keep_alive.stop();
    report.assert_none_failed();
    assert!(report.ok > 50, "too little load to prove anything: {}", report.ok);
    assert!(kept.failures.is_empty(), "{kept:?}");
    eprintln!("keep-alive across the upgrade: {kept:?}");

    let said = heard.lock().unwrap().clone();
    let all = said.join("\n--\n");
    assert!(!all.contains("STOPPING=1"), "{all}");
    let reloading = said
        .iter()
        .position(|m| m.contains("STATUS=Upgrading to rg"))
        .expect(&all);
    assert!(said[reloading].contains("RELOADING=1"), "{all}");
    assert!(
        said[reloading..]
            .iter()
            .any(|m| m.lines().any(|l| l == "READY=1")),
        "{all}"
    );
    assert!(all.contains("STATUS=Upgrade refused"), "{all}");
}

fn ctl_stats(dir: &Path) -> serde_json::Value {
    let out = rg()
        .args(["ctl", "stats", "--json"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}
