//! The master's metrics port (`metrics_bind`): Prometheus counts that match
//! the requests sent, by protocol, across recycled workers; restarts counted by reason;
//! `/readyz` turning 503 for a TERM drain; `rg status`; and bad input.

use std::time::Duration;

use crate::support::{
    Addr, BOOT, Load, Master, Serve, eventually, fixture_binary, free_port, get, rg, rg_in, sample, workers,
};

/// `rg serve FIXTURE ARGS` with its metrics port open.
fn serve(args: &[&str]) -> Master {
    Serve::fixture().args(args).metrics().start()
}

const GET_2XX: &str = "rg_http_requests_total{method=\"GET\",code=\"2xx\",protocol=\"HTTP/1\"}";

#[test]
fn metrics_count_every_request_across_recycled_workers() {
    let master = serve(&["-w", "2", "--max-requests", "40"]);
    let (addr, metrics) = (master.addr(), master.metrics());
    assert_eq!(sample(&metrics, GET_2XX), 0.0);
    assert_eq!(sample(&metrics, "rg_workers{state=\"ready\"}"), 2.0);

    let load = Load::start(&addr, "/pid", 3);
    assert!(
        eventually(Duration::from_secs(30), || sample(
            &metrics,
            "rg_worker_restarts_total{reason=\"max_requests\"}"
        ) >= 3.0),
        "{}",
        master.stderr()
    );
    let report = load.stop();
    report.assert_none_failed();
    assert!(
        report.bodies.len() >= 4,
        "workers were recycled: {:?}",
        report.bodies
    );

    // Every answered request, counted once, those of workers gone included.
    let sent = report.ok as f64;
    assert!(
        eventually(Duration::from_secs(5), || sample(&metrics, GET_2XX) == sent),
        "sent {sent}, counted {} ({})",
        sample(&metrics, GET_2XX),
        master.stderr()
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(sample(&metrics, GET_2XX), sent, "and no more");
    assert_eq!(sample(&metrics, "rg_http_request_duration_seconds_count"), sent);
    assert_eq!(
        sample(&metrics, "rg_http_request_duration_seconds_bucket{le=\"+Inf\"}"),
        sent
    );

    // Then exactly N more.
    for _ in 0..25 {
        assert_eq!(get(&addr, "/").unwrap().status, 200);
    }
    assert_eq!(get(&addr, "/nope").unwrap().status, 404);
    // A request refused at the door (two Host fields) never reaches the
    // application, and is counted all the same.
    let refused = crate::support::request(
        &addr,
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(refused.status, 400);
    assert!(
        eventually(Duration::from_secs(5), || sample(&metrics, GET_2XX)
            == sent + 25.0),
        "{}",
        sample(&metrics, GET_2XX)
    );
    assert!(eventually(Duration::from_secs(5), || sample(
        &metrics,
        "rg_http_requests_total{method=\"GET\",code=\"4xx\",protocol=\"HTTP/1\"}"
    ) == 2.0));
    assert_eq!(sample(&metrics, "rg_http_requests_in_flight"), 0.0);

    // Gauges of the workers and the listener.
    let pids = workers(&master);
    assert_eq!(pids.len(), 2);
    let page = get(&metrics, "/metrics").unwrap();
    let rss: Vec<f64> = page
        .body
        .lines()
        .filter(|l| l.starts_with("rg_worker_rss_bytes{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert!(
        eventually(Duration::from_secs(3), || rss.len() == 2),
        "{}",
        page.body
    );
    assert!(rss.iter().all(|b| *b > 1_000_000.0), "{rss:?}");
    let queue = format!(
        "rg_listen_queue_max{{listener=\"{}\"}}",
        match &addr {
            Addr::Tcp(a) => a.to_string(),
            Addr::Unix(_) => unreachable!(),
        }
    );
    assert_eq!(sample(&metrics, &queue), 2048.0, "the backlog");
    assert!(page.head.contains("text/plain; version=0.0.4"), "{}", page.head);

    // Only the four pages.
    let unknown = get(&metrics, "/admin").unwrap();
    assert_eq!(unknown.status, 404);
    assert!(
        unknown.body.contains("/metrics, /healthz, /readyz, /status"),
        "{}",
        unknown.body
    );
    assert_eq!(get(&metrics, "/healthz").unwrap().status, 200);
}

#[test]
fn crashes_timeouts_reloads_and_ttou_are_counted_by_reason() {
    let master = serve(&["-w", "2", "--timeout", "2"]);
    let (addr, metrics) = (master.addr(), master.metrics());
    let restarts = |reason: &str| {
        sample(
            &metrics,
            &format!("rg_worker_restarts_total{{reason=\"{reason}\"}}"),
        )
    };

    let victim = workers(&master)[0];
    // SAFETY: kill(2) on a worker of the master under test.
    unsafe { libc::kill(victim, libc::SIGKILL) };
    assert!(
        eventually(Duration::from_secs(10), || restarts("crash") == 1.0),
        "{}",
        master.stderr()
    );
    assert!(eventually(BOOT, || sample(
        &metrics,
        "rg_workers{state=\"ready\"}"
    ) == 2.0));

    // A handler that blocks its worker's only thread silences its heartbeat.
    let blocked = std::thread::spawn({
        let addr = addr.clone();
        move || get(&addr, "/block?ms=8000")
    });
    assert!(
        eventually(Duration::from_secs(15), || restarts("timeout") == 1.0),
        "{}",
        master.stderr()
    );
    let _ = blocked.join();
    assert_eq!(restarts("crash"), 1.0, "a timeout is not also a crash");
    assert!(eventually(BOOT, || sample(
        &metrics,
        "rg_workers{state=\"ready\"}"
    ) == 2.0));

    master.signal(libc::SIGHUP);
    assert!(
        eventually(Duration::from_secs(30), || restarts("reload") == 2.0),
        "{}",
        master.stderr()
    );
    assert!(
        master.wait_for_output("Reload complete", Duration::from_secs(30)),
        "{}",
        master.stderr()
    );
    master.signal(libc::SIGTTOU);
    assert!(
        eventually(Duration::from_secs(10), || restarts("ttou") == 1.0),
        "{}",
        master.stderr()
    );
    assert!(eventually(Duration::from_secs(10), || workers(&master).len() == 1));
    assert_eq!(sample(&metrics, "rg_workers{state=\"desired\"}"), 1.0);
    for reason in ["max_requests", "lifetime", "rss"] {
        assert_eq!(restarts(reason), 0.0, "{reason}");
    }
}

#[test]
fn http2_requests_are_counted_under_their_own_protocol() {
    crate::tools::require("curl");
    let master = serve(&["-w", "1"]);
    let (addr, metrics) = (master.addr(), master.metrics());
    let url = format!("http://127.0.0.1:{}/", master.port());
    for _ in 0..2 {
        let out = std::process::Command::new("curl")
            .args([
                "-sS",
                "-o",
                "/dev/null",
                "--max-time",
                "10",
                "--http2-prior-knowledge",
                &url,
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(get(&addr, "/").unwrap().status, 200);
    let h2 = "rg_http_requests_total{method=\"GET\",code=\"2xx\",protocol=\"HTTP/2\"}";
    // Counts reach the master once a second.
    assert!(
        eventually(Duration::from_secs(5), || sample(&metrics, h2) == 2.0
            && sample(&metrics, GET_2XX) == 1.0),
        "{}",
        get(&metrics, "/metrics").unwrap().body
    );
}

#[test]
fn readyz_turns_503_for_a_term_drain_while_requests_finish() {
    let mut master = serve(&["-w", "1", "--graceful-timeout", "10"]);
    let (addr, metrics) = (master.addr(), master.metrics());
    assert_eq!(get(&metrics, "/healthz").unwrap().status, 200);
    let ready = get(&metrics, "/readyz").unwrap();
    assert_eq!((ready.status, ready.body.as_str()), (200, "ready\n"));

    let slow = std::thread::spawn({
        let addr = addr.clone();
        move || get(&addr, "/slow?ms=5000")
    });
    assert!(eventually(Duration::from_secs(5), || sample(
        &metrics,
        "rg_http_requests_in_flight"
    ) == 1.0));
    master.signal(libc::SIGTERM);
    // As soon as the master has taken the signal in, while the request runs.
    assert!(eventually(Duration::from_secs(2), || get(&metrics, "/readyz")
        .is_ok_and(|r| (r.status, r.body.as_str()) == (503, "stopping\n"))));
    assert_eq!(
        sample(&metrics, "rg_http_requests_in_flight"),
        1.0,
        "still draining"
    );
    assert_eq!(
        get(&metrics, "/healthz").unwrap().status,
        200,
        "the master still runs"
    );
    assert_eq!(sample(&metrics, "rg_ready"), 0.0);

    let finished = slow.join().unwrap().unwrap();
    assert_eq!((finished.status, finished.body.as_str()), (200, "slow done\n"));
    let status = master
        .wait_timeout(Duration::from_secs(15))
        .expect("the master exits");
    assert!(status.success(), "{}", master.stderr());
    assert!(
        get(&metrics, "/healthz").is_err(),
        "the port closes with the master"
    );
}

#[test]
fn rg_status_shows_the_workers_of_a_running_server() {
    let tmp = tempfile::tempdir().unwrap();
    let metrics_port = free_port();
    std::fs::write(
        tmp.path().join("rg.toml"),
        format!("metrics_bind = \"127.0.0.1:{metrics_port}\"\npidfile = \"rg.pid\"\n"),
    )
    .unwrap();
    let master = Serve::fixture().current_dir(tmp.path()).args(["-w", "2"]).start();
    let addr = master.addr();
    for _ in 0..5 {
        assert_eq!(get(&addr, "/").unwrap().status, 200);
    }
    let pids = workers(&master);

    let shown = |out: &std::process::Output| {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // Through rg.toml's metrics_bind.
    assert!(eventually(Duration::from_secs(5), || shown(&rg_in(
        tmp.path(),
        &["status"]
    ))
    .contains("Totals: 5 requests served")));
    let table = shown(&rg_in(tmp.path(), &["status"]));
    assert!(
        table.starts_with(&format!("rg serve: master pid {}, up ", master.pid())),
        "{table}"
    );
    assert!(table.contains("2 of 2 workers ready"), "{table}");
    for pid in &pids {
        let row = table
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(&pid.to_string()))
            .unwrap_or_else(|| panic!("no row for worker {pid} in\n{table}"));
        assert!(row.ends_with("ready"), "{row}");
        assert!(row.contains(" MB "), "{row}");
    }

    // Through a flag, from anywhere.
    let elsewhere = tempfile::tempdir().unwrap();
    let flag = format!("127.0.0.1:{metrics_port}");
    let table = shown(&rg_in(elsewhere.path(), &["status", "--metrics-bind", &flag]));
    assert!(table.contains("2 of 2 workers ready"), "{table}");

    // Through the pid file alone: the processes, without their requests.
    let pidfile = tmp.path().join("rg.pid");
    let table = shown(&rg_in(
        elsewhere.path(),
        &["status", "--pid", pidfile.to_str().unwrap()],
    ));
    assert!(table.contains(&format!("master pid {}", master.pid())), "{table}");
    for pid in &pids {
        assert!(table.contains(&format!(" {pid} ")), "{table}");
    }
    assert!(table.contains("set metrics_bind"), "{table}");

    drop(master);
    // Nothing running: a clear error, not a table.
    assert!(eventually(Duration::from_secs(5), || !rg_in(
        tmp.path(),
        &["status"]
    )
    .status
    .success()));
    let out = rg_in(tmp.path(), &["status"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "nothing answers at 127.0.0.1:{metrics_port} (metrics_bind, from rg.toml:1)"
        )),
        "{err}"
    );
    let out = rg_in(elsewhere.path(), &["status"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("set metrics_bind (or pidfile) in rg.toml"), "{err}");
}

#[test]
fn a_bad_or_taken_metrics_address_is_refused_before_any_worker_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let run = |args: &[&str]| {
        let out = rg()
            .arg("serve")
            .arg(fixture_binary())
            .args(["-b", &format!("127.0.0.1:{port}")])
            .args(args)
            .current_dir(tmp.path())
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let same = run(&["--metrics-bind", &format!("127.0.0.1:{port}")]);
    assert!(
        same.contains("flag --metrics-bind: invalid metrics_bind"),
        "{same}"
    );
    assert!(same.contains("also a serving address"), "{same}");
    let bad = run(&["--metrics-bind", "127.0.0.1:nine"]);
    assert!(bad.contains("invalid metrics_bind = \"127.0.0.1:nine\""), "{bad}");
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = holder.local_addr().unwrap().to_string();
    let err = run(&["--metrics-bind", &taken]);
    assert!(
        err.contains("invalid metrics_bind") && err.contains("address already in use"),
        "{err}"
    );
    assert!(!err.contains("Booting worker"), "{err}");
}
