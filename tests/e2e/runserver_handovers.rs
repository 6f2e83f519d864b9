//! `rg runserver`'s handovers under load with the CPU saturated: from one
//! build of the application to the next, from the application to the error
//! page, and from the page back, round after round. No request meets a
//! refused or reset connection; while the build is broken, each gets the page.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::runserver::{BUILD, edit, output, runserver};
use crate::support::{Addr, Running, dev_project, eventually, free_port};

/// What the clients saw: answers by body (the page as `PAGE`), failures.
#[derive(Default)]
struct Seen {
    answers: std::collections::BTreeMap<String, u64>,
    failures: Vec<String>,
}

const PAGE: &str = "(the error page)";

/// Rounds of the three handovers: each of them, many times over.
const ROUNDS: u32 = 4;

/// `clients` threads, each asking `GET /` on a new connection, back to back.
fn load(
    addr: &Addr,
    clients: usize,
    stop: &Arc<AtomicBool>,
    seen: &Arc<Mutex<Seen>>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..clients)
        .map(|_| {
            let (addr, stop, seen) = (addr.clone(), stop.clone(), seen.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let answer = match patient_get(&addr) {
                        Ok((200, body)) => Ok(body),
                        Ok((500, body)) if body.contains("Build failed") => Ok(PAGE.to_string()),
                        Ok((status, body)) => Err(format!("status {status}: {body}")),
                        Err(e) => Err(e.to_string()),
                    };
                    let mut seen = seen.lock().unwrap();
                    match answer {
                        Ok(body) => *seen.answers.entry(body).or_default() += 1,
                        Err(failure) => seen.failures.push(failure),
                    }
                }
            })
        })
        .collect()
}

#[test]
fn every_handover_keeps_every_request_with_the_cpu_saturated() {
    let dir = dev_project("dev_handovers");
    let port = free_port();
    let addr = Addr::tcp(port);
    let server = runserver(&dir, port);
    // One busy loop per core, killed with the test whatever happens.
    let _spinners: Vec<Running> = (0..num_cpus())
        .map(|_| Running::spawn(Command::new("sh").args(["-c", "while :; do :; done"])))
        .collect();
    let (stop, seen) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(Mutex::new(Seen::default())),
    );
    let clients = load(&addr, 3, &stop, &seen);
    let shows = |wanted: &str| {
        let wanted = wanted.to_string();
        eventually(BUILD, || seen.lock().unwrap().answers.contains_key(&wanted))
    };
    let literal = |text: &str| format!("\"{text}\\n\"");

    // Each round: application to application, to the page, and back.
    let mut now = literal("Hello, world!");
    for round in 1..=ROUNDS {
        for (text, broken) in [
            (format!("Hello, {round}!"), false),
            (String::new(), true),
            (format!("Fixed {round}!"), false),
        ] {
            let next = if broken {
                format!("{now} +")
            } else {
                literal(&text)
            };
            seen.lock().unwrap().answers.remove(PAGE);
            edit(&dir, &now, &next);
            now = next;
            let shown = if broken {
                PAGE.to_string()
            } else {
                format!("{text}\n")
            };
            assert!(
                shows(&shown),
                "round {round}: {shown:?} never showed:\n{}",
                output(&server)
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    let seen = seen.lock().unwrap();
    assert!(
        seen.failures.is_empty(),
        "{} requests failed: {:?}\n{}",
        seen.failures.len(),
        &seen.failures[..seen.failures.len().min(5)],
        output(&server)
    );
    let served: u64 = seen.answers.values().sum();
    assert!(served > 50, "{:?}", seen.answers);
}

/// `GET /` on a new connection, waiting as long as a build may take: a
/// request made during a build waits in the backlog for its end.
fn patient_get(addr: &Addr) -> std::io::Result<(u16, String)> {
    let Addr::Tcp(addr) = addr else {
        unreachable!("runserver listens on TCP")
    };
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(BUILD))?;
    stream.write_all(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let status = answer.get(9..12).and_then(|s| s.parse().ok());
    match (status, answer.split_once("\r\n\r\n")) {
        (Some(status), Some((_, body))) => Ok((status, body.to_string())),
        _ => Err(std::io::Error::other(format!("not an HTTP response: {answer:?}"))),
    }
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}
