//! Slow and idle clients cannot keep a new client out: when every slot of
//! `worker_connections` is taken, idle keep-alive connections are closed
//! first, and a client that trickles its request head is cut at the header
//! timeout (`keepalive`). Proved with 2,000 connections against 2 workers
//! and a normal client timed from its connect to its answer.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::{Addr, Serve, eventually, get, sample};

/// The header timeout the tests run with (`--keepalive`).
const HEADER_TIMEOUT: Duration = Duration::from_secs(3);

/// How many connections the crowd keeps open: every slot of 2 workers.
const CROWD: usize = 2000;

#[test]
fn an_idle_keep_alive_connection_is_closed_for_a_new_client() {
    let master = Serve::fixture()
        .args(["-w", "1", "--worker-connections", "1", "--keepalive", "60"])
        .metrics()
        .start();
    let addr = master.addr();
    let Addr::Tcp(socket) = addr else { unreachable!() };
    let mut idle = TcpStream::connect(socket).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    idle.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let mut answer = [0u8; 512];
    let n = idle.read(&mut answer).unwrap();
    assert!(
        answer[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&answer[..n])
    );

    // The only slot is held by a connection that would stay for a minute.
    let started = Instant::now();
    let response = get(&addr, "/").unwrap();
    let waited = started.elapsed();
    assert_eq!(response.status, 200);
    assert!(
        waited < Duration::from_secs(2),
        "the new client waited {waited:?}"
    );
    // The idle one was closed cleanly: no bytes, no reset.
    assert_eq!(
        idle.read(&mut answer).unwrap(),
        0,
        "the idle connection is still open"
    );
    assert!(
        master.wait_for_output("All 1 worker_connections are in use", Duration::from_secs(5)),
        "{}",
        master.stderr()
    );
}

#[test]
fn two_thousand_trickling_connections_do_not_keep_a_normal_client_out() {
    // The crowd's sockets here, a thousand in each worker (which inherit it).
    allow_open_files(3 * CROWD as u64);
    let keepalive = HEADER_TIMEOUT.as_secs().to_string();
    let master = Serve::fixture()
        .args(["-w", "2", "--worker-connections", "1000"])
        .args(["--keepalive", &keepalive, "--backlog", "4096"])
        .metrics()
        .start();
    let (addr, metrics) = (master.addr(), master.metrics());
    let Addr::Tcp(socket) = addr else { unreachable!() };

    // Keep-alive clients that each ask something every second: none is idle
    // for long enough to time out, so only closing idle ones lets anyone in.
    let crowd = Crowd::start(socket, Trickle::Requests);
    crowd.wait_until_all_answered();
    wait_until_every_slot_is_held(&metrics);
    for _ in 0..5 {
        let waited = normal_client(&addr);
        eprintln!("keep-alive crowd: a new client waited {waited:?}");
        assert!(
            waited < HEADER_TIMEOUT,
            "with {CROWD} keep-alive clients, a new client waited {waited:?}"
        );
    }
    let report = crowd.stop();
    eprintln!("keep-alive crowd: {report:?}");
    assert!(report.closed > 0, "no idle connection was closed to make room");
    // And /metrics counts them (the workers report once a second).
    assert!(
        eventually(Duration::from_secs(5), || sample(
            &metrics,
            "rg_connections_closed_idle_total"
        ) >= 1.0),
        "/metrics counts no connection closed to make room"
    );
    assert_eq!(
        report.refused, 0,
        "a keep-alive client got something other than 200"
    );

    assert!(
        eventually(Duration::from_secs(10), || sample(
            &metrics,
            "rg_connections_open"
        ) < 10.0),
        "the keep-alive crowd's connections did not close"
    );

    // Clients that trickle a request head a line every half second and never
    // finish it, reconnecting when cut: each holds a slot until the header
    // timeout, never longer.
    let crowd = Crowd::start(socket, Trickle::Head);
    wait_until_every_slot_is_held(&metrics);
    let saturated = Instant::now();
    for _ in 0..3 {
        let waited = normal_client(&addr);
        eprintln!("slow heads: a new client waited {waited:?}");
        // The header timeout bounds the wait; the slack is for a loaded
        // 2-core machine running 2,000 clients and 2 workers.
        assert!(
            waited < HEADER_TIMEOUT + Duration::from_secs(1),
            "with {CROWD} slow heads, a new client waited {waited:?}"
        );
    }
    // Every connection of the first wave was accepted by `saturated`: by
    // the header timeout after it (and the same slack), all were cut.
    std::thread::sleep(
        (saturated + HEADER_TIMEOUT + Duration::from_secs(1)).saturating_duration_since(Instant::now()),
    );
    let report = crowd.stop();
    eprintln!("slow heads: {report:?}");
    assert_eq!(
        report.first_closed, CROWD,
        "slow heads outlived the header timeout"
    );
    assert_eq!(report.refused, 0, "a trickled head was answered: {report:?}");
}

/// Waits until the workers report the crowd's connections all open.
fn wait_until_every_slot_is_held(metrics: &Addr) {
    let open = || sample(metrics, "rg_connections_open");
    assert!(
        eventually(Duration::from_secs(10), || open() >= CROWD as f64),
        "the crowd does not hold every slot: {} open",
        open()
    );
}

/// Raises this process's soft limit of open files to at least `wanted`
/// (within the hard limit), as `ulimit -n` would.
fn allow_open_files(wanted: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write one valid rlimit.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        if limit.rlim_cur < wanted {
            assert!(
                limit.rlim_max >= wanted,
                "the hard limit of open files is {}, below {wanted}",
                limit.rlim_max
            );
            limit.rlim_cur = wanted;
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        }
    }
}

/// Connects, asks `GET /`, and returns how long the answer took.
fn normal_client(addr: &Addr) -> Duration {
    let started = Instant::now();
    let response = get(addr, "/").unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.body, "Hello, world!\n");
    started.elapsed()
}

#[derive(Clone, Copy, PartialEq)]
enum Trickle {
    /// A whole request every second on a kept-alive connection.
    Requests,
    /// A request head a field at a time, every half second, never ended.
    Head,
}

#[derive(Debug, Default)]
struct Report {
    /// Connections the server closed.
    closed: usize,
    /// Answers that were not 200 (for heads never finished: any answer).
    refused: usize,
    /// Connections of the first wave the server closed.
    first_closed: usize,
}

/// `CROWD` connections served from one thread with non-blocking sockets.
struct Crowd {
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicUsize>,
    thread: std::thread::JoinHandle<Report>,
}

impl Crowd {
    fn start(server: SocketAddr, trickle: Trickle) -> Crowd {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicUsize::new(0));
        let thread = std::thread::spawn({
            let (stop, answered) = (stop.clone(), answered.clone());
            move || run(server, trickle, &stop, &answered)
        });
        Crowd {
            stop,
            answered,
            thread,
        }
    }

    /// Waits until every connection got its first answer: all of them
    /// were accepted and served at once.
    fn wait_until_all_answered(&self) {
        assert!(
            eventually(Duration::from_secs(20), || self.answered.load(Ordering::Relaxed)
                >= CROWD),
            "only {} of {CROWD} connections were answered",
            self.answered.load(Ordering::Relaxed)
        );
    }

    fn stop(self) -> Report {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

struct Client {
    stream: Option<TcpStream>,
    next: Instant,
    answered: bool,
    fields: usize,
    /// Still the first connection of this client.
    first: bool,
}

fn run(server: SocketAddr, trickle: Trickle, stop: &AtomicBool, answered: &AtomicUsize) -> Report {
    let period = match trickle {
        Trickle::Requests => Duration::from_secs(1),
        Trickle::Head => Duration::from_millis(500),
    };
    let start = Instant::now();
    // Spread over the period, so idle times vary as real clients' do.
    let mut clients: Vec<Client> = (0..CROWD)
        .map(|i| Client {
            stream: None,
            next: start + period * i as u32 / CROWD as u32,
            answered: false,
            fields: 0,
            first: true,
        })
        .collect();
    let mut report = Report::default();
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        for client in &mut clients {
            if client.stream.is_none() {
                match TcpStream::connect_timeout(&server, Duration::from_secs(1)) {
                    Ok(stream) => {
                        stream.set_nonblocking(true).unwrap();
                        client.stream = Some(stream);
                        client.fields = 0;
                        client.next = now;
                    }
                    Err(_) => continue,
                }
            }
            let stream = client.stream.as_mut().unwrap();
            // Read what came: answers, or the server closing.
            let mut gone = false;
            loop {
                match stream.read(&mut buf) {
                    Ok(0) => {
                        gone = true;
                        break;
                    }
                    Ok(n) => {
                        let ok = trickle == Trickle::Requests && buf[..n].starts_with(b"HTTP/1.1 200");
                        if !ok && buf[..n].starts_with(b"HTTP/") {
                            report.refused += 1;
                        }
                        if ok && !client.answered {
                            client.answered = true;
                            answered.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => {
                        gone = true;
                        break;
                    }
                }
            }
            if !gone && now >= client.next {
                client.next = now + period;
                let bytes: &[u8] = match (trickle, client.fields) {
                    (Trickle::Requests, _) => b"GET / HTTP/1.1\r\nHost: t\r\n\r\n",
                    (Trickle::Head, 0) => b"GET / HTTP/1.1\r\nHost: t\r\n",
                    (Trickle::Head, _) => b"X-Trickle: a\r\n",
                };
                client.fields += 1;
                gone = stream.write_all(bytes).is_err();
            }
            if gone {
                report.closed += 1;
                report.first_closed += usize::from(std::mem::take(&mut client.first));
                client.stream = None;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    report
}
