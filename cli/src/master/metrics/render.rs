//! The metrics port's pages, from a [`Snapshot`] the master takes when
//! asked: `/metrics` in Prometheus' text format (version 0.0.4) and
//! `/status`, the table `rg status` prints.

use std::fmt::Write as _;
use std::time::Duration;

use rg_contract::stats::{BUCKETS_MICROS, CLASSES, Counts, METHODS, PROTOCOLS};

use crate::master::policy::{Restart, Restarts, WorkerView};

/// Everything the pages show, taken at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The master's pid.
    pub master_pid: u32,
    /// Time since the master started.
    pub uptime: Duration,
    /// Workers the master keeps.
    pub target: usize,
    /// True when a worker is ready and rg is not stopping.
    pub ready: bool,
    /// The serving addresses.
    pub listening: Vec<String>,
    /// Every worker's counts so far, and the gauges now.
    pub totals: Counts,
    /// Requests served by workers that are gone.
    pub served_by_gone: u64,
    /// Restarts by reason.
    pub restarts: Restarts,
    /// Reloads that stopped at a new worker that did not become ready.
    pub reload_failures: u64,
    /// Why no worker is started until the next HUP, if that is so.
    pub held: Option<String>,
    /// The workers, oldest first.
    pub workers: Vec<Worker>,
    /// Listen queues: address, connections waiting, the queue's length.
    pub queues: Vec<(String, u32, u32)>,
}

/// One worker in a [`Snapshot`].
#[derive(Debug, Clone)]
pub struct Worker {
    /// As the policy sees it.
    pub view: WorkerView,
    /// Its last report, if it sent one.
    pub counts: Option<Counts>,
    /// Its last memory sample.
    pub rss: Option<u64>,
}

/// `/metrics`.
pub fn prometheus(s: &Snapshot) -> String {
    let mut out = String::with_capacity(8192);
    let t = &s.totals;
    header(
        &mut out,
        "rg_http_requests_total",
        "counter",
        "Requests answered, by method, status class and protocol.",
    );
    for (p, protocol) in PROTOCOLS.iter().enumerate() {
        for (m, method) in METHODS.iter().enumerate() {
            for (c, class) in CLASSES.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "rg_http_requests_total{{method=\"{method}\",code=\"{class}\",protocol=\"{protocol}\"}} {}",
                    t.requests[p][m][c]
                );
            }
        }
    }
    header(
        &mut out,
        "rg_http_request_duration_seconds",
        "histogram",
        "Time from a request's head to its response's head.",
    );
    let mut cumulative = 0;
    for (i, count) in t.durations.iter().enumerate() {
        cumulative += count;
        let le = BUCKETS_MICROS
            .get(i)
            .map_or("+Inf".to_string(), |micros| seconds(*micros));
        let _ = writeln!(
            out,
            "rg_http_request_duration_seconds_bucket{{le=\"{le}\"}} {cumulative}"
        );
    }
    let _ = writeln!(
        out,
        "rg_http_request_duration_seconds_sum {}",
        seconds(t.duration_micros)
    );
    let _ = writeln!(out, "rg_http_request_duration_seconds_count {cumulative}");
    gauge(
        &mut out,
        "rg_http_requests_in_flight",
        "Requests being handled now.",
        t.in_flight,
    );
    gauge(
        &mut out,
        "rg_connections_open",
        "Client connections open now.",
        t.connections,
    );
    header(
        &mut out,
        "rg_connections_closed_idle_total",
        "counter",
        "Idle keep-alive connections closed to make room for new clients (worker_connections reached).",
    );
    let _ = writeln!(out, "rg_connections_closed_idle_total {}", t.closed_idle);
    header(
        &mut out,
        "rg_handler_panics_total",
        "counter",
        "Requests whose handler panicked, each answered 500.",
    );
    let _ = writeln!(out, "rg_handler_panics_total {}", t.panics);

    header(
        &mut out,
        "rg_workers",
        "gauge",
        "Worker processes: running (started), ready (serving), desired.",
    );
    let running = s.workers.iter().filter(|w| w.view.pid.is_some()).count();
    let ready = s.workers.iter().filter(|w| w.view.state == "ready").count();
    let _ = writeln!(out, "rg_workers{{state=\"running\"}} {running}");
    let _ = writeln!(out, "rg_workers{{state=\"ready\"}} {ready}");
    let _ = writeln!(out, "rg_workers{{state=\"desired\"}} {}", s.target);
    header(
        &mut out,
        "rg_worker_restarts_total",
        "counter",
        "Workers replaced or removed, by reason.",
    );
    for why in Restart::ALL {
        let _ = writeln!(
            out,
            "rg_worker_restarts_total{{reason=\"{}\"}} {}",
            why.label(),
            s.restarts.get(why)
        );
    }
    header(
        &mut out,
        "rg_reload_failures_total",
        "counter",
        "Reloads that stopped at a new worker that did not become ready; the previous workers kept serving.",
    );
    let _ = writeln!(out, "rg_reload_failures_total {}", s.reload_failures);
    header(
        &mut out,
        "rg_worker_rss_bytes",
        "gauge",
        "Each worker's resident memory, by worker number.",
    );
    for w in &s.workers {
        if let Some(rss) = w.rss {
            let _ = writeln!(out, "rg_worker_rss_bytes{{worker=\"{}\"}} {rss}", w.view.id);
        }
    }
    header(
        &mut out,
        "rg_worker_heartbeat_age_seconds",
        "gauge",
        "Time since each worker's last heartbeat, by worker number.",
    );
    for w in s.workers.iter().filter(|w| w.view.pid.is_some()) {
        let _ = writeln!(
            out,
            "rg_worker_heartbeat_age_seconds{{worker=\"{}\"}} {:.3}",
            w.view.id,
            w.view.heartbeat_age.as_secs_f64()
        );
    }
    header(
        &mut out,
        "rg_listen_queue_length",
        "gauge",
        "Connections waiting to be accepted, by TCP listener.",
    );
    for (name, depth, _) in &s.queues {
        let _ = writeln!(out, "rg_listen_queue_length{{listener=\"{name}\"}} {depth}");
    }
    header(
        &mut out,
        "rg_listen_queue_max",
        "gauge",
        "The listen queue's length (backlog), by TCP listener.",
    );
    for (name, _, max) in &s.queues {
        let _ = writeln!(out, "rg_listen_queue_max{{listener=\"{name}\"}} {max}");
    }
    gauge(
        &mut out,
        "rg_ready",
        "1 while /readyz answers 200.",
        u64::from(s.ready),
    );
    out
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn gauge(out: &mut String, name: &str, help: &str, value: u64) {
    header(out, name, "gauge", help);
    let _ = writeln!(out, "{name} {value}");
}

/// Microseconds as seconds, without trailing zeros (`0.0025`, `10`).
fn seconds(micros: u64) -> String {
    let whole = micros / 1_000_000;
    let fraction = micros % 1_000_000;
    if fraction == 0 {
        return whole.to_string();
    }
    let digits = format!("{fraction:06}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// `/status`: the table `rg status` prints.
pub fn status(s: &Snapshot) -> String {
    let mut out = String::new();
    let ready = s.workers.iter().filter(|w| w.view.state == "ready").count();
    let _ = writeln!(
        out,
        "rg serve: master pid {}, up {}, {ready} of {} workers ready{}",
        s.master_pid,
        human(s.uptime),
        s.target,
        if s.ready {
            ""
        } else {
            " (not ready: /readyz answers 503)"
        }
    );
    if !s.listening.is_empty() {
        let _ = writeln!(out, "Listening at: {}", s.listening.join(", "));
    }
    if let Some(why) = &s.held {
        let _ = writeln!(out, "Not starting workers until the next HUP: {why}");
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:>6}  {:>8}  {:>8}  {:>9}  {:>9}  {:>9}  {:>9}  STATE",
        "WORKER", "PID", "AGE", "REQUESTS", "IN FLIGHT", "RSS", "HEARTBEAT"
    );
    for w in &s.workers {
        let dash = || "-".to_string();
        let _ = writeln!(
            out,
            "{:>6}  {:>8}  {:>8}  {:>9}  {:>9}  {:>9}  {:>9}  {}",
            w.view.id,
            w.view.pid.map_or_else(dash, |p| p.to_string()),
            human(w.view.age),
            w.counts.as_ref().map_or_else(dash, |c| c.served().to_string()),
            w.counts.as_ref().map_or_else(dash, |c| c.in_flight.to_string()),
            w.rss.map_or_else(dash, megabytes),
            format!("{:.1}s ago", w.view.heartbeat_age.as_secs_f64()),
            w.view.state
        );
    }
    let _ = writeln!(out);
    let t = &s.totals;
    let _ = writeln!(
        out,
        "Totals: {} requests served ({} by workers since replaced), {} in flight, {} connections open",
        t.served(),
        s.served_by_gone,
        t.in_flight,
        t.connections
    );
    let restarts: Vec<String> = Restart::ALL
        .iter()
        .map(|&why| format!("{} {}", why.label(), s.restarts.get(why)))
        .collect();
    let _ = writeln!(out, "Restarts: {}", restarts.join(", "));
    if s.reload_failures > 0 {
        let _ = writeln!(out, "Failed reloads: {}", s.reload_failures);
    }
    for (name, depth, max) in &s.queues {
        let _ = writeln!(out, "Listen queue {name}: {depth} waiting (of {max})");
    }
    out
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
}

/// `3s`, `4m 5s`, `2h 3m`, `3d 4h`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        3600..86400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86400, s % 86400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        let mut totals = Counts::default();
        totals.requests[0][0][1] = 3;
        totals.requests[1][2][3] = 1;
        totals.durations[0] = 2;
        totals.durations[13] = 2;
        totals.duration_micros = 20_001_500;
        totals.in_flight = 1;
        Snapshot {
            master_pid: 42,
            uptime: Duration::from_secs(3700),
            target: 2,
            ready: true,
            listening: vec!["http://127.0.0.1:8000".into()],
            totals: totals.clone(),
            served_by_gone: 1,
            restarts: Restarts::default(),
            reload_failures: 1,
            held: Some("a new worker did not become ready: error: database unreachable".into()),
            workers: vec![Worker {
                view: WorkerView {
                    id: 3,
                    pid: Some(77),
                    age: Duration::from_secs(65),
                    heartbeat_age: Duration::from_millis(400),
                    state: "ready",
                },
                counts: Some(totals),
                rss: Some(3 * 1024 * 1024),
            }],
            queues: vec![("127.0.0.1:8000".into(), 0, 2048)],
        }
    }

    #[test]
    fn prometheus_text() {
        let text = prometheus(&snapshot());
        for line in [
            "# TYPE rg_http_requests_total counter",
            "rg_http_requests_total{method=\"GET\",code=\"2xx\",protocol=\"HTTP/1\"} 3",
            "rg_http_requests_total{method=\"POST\",code=\"4xx\",protocol=\"HTTP/2\"} 1",
            "rg_http_requests_total{method=\"POST\",code=\"4xx\",protocol=\"HTTP/1\"} 0",
            "rg_http_requests_total{method=\"other\",code=\"5xx\",protocol=\"HTTP/2\"} 0",
            "rg_http_request_duration_seconds_bucket{le=\"0.001\"} 2",
            "rg_http_request_duration_seconds_bucket{le=\"0.0025\"} 2",
            "rg_http_request_duration_seconds_bucket{le=\"10\"} 2",
            "rg_http_request_duration_seconds_bucket{le=\"+Inf\"} 4",
            "rg_http_request_duration_seconds_sum 20.0015",
            "rg_http_request_duration_seconds_count 4",
            "rg_http_requests_in_flight 1",
            "rg_workers{state=\"running\"} 1",
            "rg_workers{state=\"desired\"} 2",
            "rg_worker_restarts_total{reason=\"ttou\"} 0",
            "rg_worker_rss_bytes{worker=\"3\"} 3145728",
            "rg_worker_heartbeat_age_seconds{worker=\"3\"} 0.400",
            "rg_listen_queue_max{listener=\"127.0.0.1:8000\"} 2048",
            "rg_ready 1",
            "rg_reload_failures_total 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        // Every sample line is `name{labels} value` with a number.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }

    #[test]
    fn status_table() {
        let text = status(&snapshot());
        assert!(
            text.starts_with("rg serve: master pid 42, up 1h 1m, 1 of 2 workers ready\n"),
            "{text}"
        );
        let row = text.lines().find(|l| l.trim_start().starts_with("3 ")).unwrap();
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(
            cells,
            [
                "3", "77", "1m", "5s", "4", "1", "3.0", "MB", "0.4s", "ago", "ready"
            ]
        );
        assert!(text.contains("Totals: 4 requests served (1 by workers since replaced), 1 in flight"));
        assert!(text.contains(
            "\nNot starting workers until the next HUP: a new worker did not become ready: error: database unreachable\n"
        ));
        assert!(text.contains("\nFailed reloads: 1\n"), "{text}");
    }
}
