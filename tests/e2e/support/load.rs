//! Request loads that count every failure: what proves a reload, a
//! recycle or a deploy dropped nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Addr, Response, get};

/// A steady request load: `clients` threads each sending `GET path` on a
/// new connection, back to back, until stopped. Bounded: each client stops
/// by itself after 60 seconds.
pub struct Load {
    stop: Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<LoadReport>>,
}

/// What a load saw.
#[derive(Debug)]
pub struct LoadReport {
    pub ok: u64,
    pub failures: Vec<String>,
    /// Distinct response bodies (the fixture's /pid answers with the worker's pid).
    pub bodies: std::collections::BTreeSet<String>,
}

impl LoadReport {
    /// Fails the test, showing the first failures, if any request failed.
    pub fn assert_none_failed(&self) {
        assert!(
            self.failures.is_empty(),
            "{} of {} requests failed: {:?}",
            self.failures.len(),
            self.ok + self.failures.len() as u64,
            &self.failures[..self.failures.len().min(5)]
        );
    }
}

impl Load {
    pub fn start(addr: &Addr, path: &str, clients: usize) -> Load {
        let path = path.to_string();
        Load::each(addr, clients, move |addr| get(addr, &path))
    }

    /// A load of `send`'s requests; 2xx answers count as served.
    pub fn each(
        addr: &Addr,
        clients: usize,
        send: impl Fn(&Addr) -> std::io::Result<Response> + Clone + Send + 'static,
    ) -> Load {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let threads = (0..clients)
            .map(|_| {
                let (addr, send, stop) = (addr.clone(), send.clone(), stop.clone());
                std::thread::spawn(move || {
                    let started = Instant::now();
                    let mut report = LoadReport {
                        ok: 0,
                        failures: Vec::new(),
                        bodies: Default::default(),
                    };
                    while !stop.load(std::sync::atomic::Ordering::Relaxed)
                        && started.elapsed() < Duration::from_secs(60)
                    {
                        match send(&addr) {
                            Ok(r) if (200..300).contains(&r.status) => {
                                report.ok += 1;
                                report.bodies.insert(r.body);
                            }
                            Ok(r) => report.failures.push(format!("status {}", r.status)),
                            Err(e) => report.failures.push(e.to_string()),
                        }
                    }
                    report
                })
            })
            .collect();
        Load { stop, threads }
    }

    pub fn stop(self) -> LoadReport {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut report = LoadReport {
            ok: 0,
            failures: Vec::new(),
            bodies: Default::default(),
        };
        for t in self.threads {
            let part = t.join().unwrap();
            report.ok += part.ok;
            report.failures.extend(part.failures);
            report.bodies.extend(part.bodies);
        }
        report
    }
}
