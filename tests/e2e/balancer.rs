//! The book's HAProxy backend, in a real HAProxy, in front of two `rg
//! serve`s: it checks `/readyz` on their metrics ports, and when one is
//! stopped under load it takes that one out because `/readyz` said 503,
//! while no request fails.

use std::process::Command;
use std::time::Duration;

use crate::support::{Addr, Load, Master, Running, Serve, eventually, free_port, get, workspace};

/// The ```haproxy block of "Past one machine".
fn book_backend() -> String {
    let chapter = std::fs::read_to_string(workspace().join("book/src/scaling.md")).unwrap();
    chapter
        .split("```haproxy\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("a ```haproxy block in scaling.md")
        .to_string()
}

/// `rg serve FIXTURE` with a metrics port, for HAProxy to check.
fn web(tmp: &std::path::Path) -> Master {
    Serve::fixture()
        .current_dir(tmp)
        .args(["-w", "1", "--graceful-timeout", "15"])
        .metrics()
        .start()
}

#[test]
fn haproxy_takes_a_stopping_rg_out_on_readyz_without_a_failed_request() {
    crate::tools::require("haproxy");
    let tmp = tempfile::tempdir().unwrap();
    let web1 = web(tmp.path());
    let web2 = web(tmp.path());
    let (port1, metrics1) = (web1.port(), web1.metrics_port());
    let (port2, metrics2) = (web2.port(), web2.metrics_port());

    let backend = book_backend()
        .lines()
        .map(|line| {
            if line.contains("10.0.0.11:8000") {
                line.replace("10.0.0.11:8000", &format!("127.0.0.1:{port1}"))
                    .replace("port 9100", &format!("port {metrics1}"))
            } else if line.contains("10.0.0.12:8000") {
                line.replace("10.0.0.12:8000", &format!("127.0.0.1:{port2}"))
                    .replace("port 9100", &format!("port {metrics2}"))
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let front = free_port();
    let config = tmp.path().join("haproxy.cfg");
    std::fs::write(
        &config,
        format!(
            "global\n    maxconn 256\n    log stderr format raw local0\n\ndefaults\n    mode http\n    \
             log global\n    option httplog\n    timeout connect 2s\n    timeout client 30s\n    \
             timeout server 30s\n\nfrontend web\n    bind 127.0.0.1:{front}\n    \
             default_backend mysite\n\n{backend}\n"
        ),
    )
    .unwrap();
    let check = Command::new("haproxy")
        .arg("-c")
        .arg("-f")
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let haproxy = Running::spawn(Command::new("haproxy").arg("-db").arg("-f").arg(&config));
    let addr = Addr::tcp(front);

    // Both hosts serve through HAProxy.
    let pid1 = crate::support::workers(&web1)[0].to_string();
    let mut seen = std::collections::BTreeSet::new();
    assert!(
        eventually(Duration::from_secs(15), || {
            if let Ok(r) = get(&addr, "/pid") {
                seen.insert(r.body.trim().to_string());
            }
            seen.len() == 2
        }),
        "HAProxy did not reach both: {seen:?}\n{}",
        haproxy.stderr()
    );

    // Under load, stop web1 while a long request keeps it draining.
    let load = Load::start(&addr, "/pid", 4);
    std::thread::sleep(Duration::from_millis(500));
    let direct = Addr::tcp(port1);
    let slow = std::thread::spawn(move || get(&direct, "/slow?ms=8000"));
    std::thread::sleep(Duration::from_millis(300));
    web1.signal(libc::SIGTERM);
    assert!(
        eventually(Duration::from_secs(8), || haproxy
            .stderr()
            .contains("web1 is DOWN")),
        "{}",
        haproxy.stderr()
    );
    let said = haproxy.stderr();
    let down = said.lines().find(|l| l.contains("web1 is DOWN")).unwrap();
    assert!(
        down.contains("503"),
        "taken out because /readyz said 503, not because it was gone: {down}"
    );
    std::thread::sleep(Duration::from_secs(1));
    let report = load.stop();
    if !report.failures.is_empty() {
        // HAProxy's log line of each failure says which side ended it and when.
        let said = haproxy.stderr();
        eprintln!("HAProxy, all but its 200s:");
        for line in said.lines().filter(|line| !line.contains(" 200 ")) {
            eprintln!("{line}");
        }
    }
    report.assert_none_failed();
    let after: Vec<&String> = report.bodies.iter().filter(|b| b.trim() == pid1).collect();
    assert!(!report.bodies.is_empty() && report.ok > 50, "{report:?}");
    assert!(after.len() <= 1, "{:?}", report.bodies);
    let slow = slow.join().unwrap().unwrap();
    assert_eq!(slow.status, 200, "the draining request finished");
}
