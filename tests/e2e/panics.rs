//! A handler that panics: its request is answered 500 on a connection
//! that stays open, the panic and where it happened are in the error log,
//! the metrics count it, and the worker serves on, as under Gunicorn.

use std::time::Duration;

use crate::support::{Serve, eventually, get, request, sample};

#[test]
fn a_panicking_handler_is_answered_500_and_the_worker_serves_on() {
    let master = Serve::fixture().args(["-w", "1"]).metrics().start();
    let (addr, metrics) = (master.addr(), master.metrics());
    let pid = get(&addr, "/pid").unwrap().body;

    // The panic, then a second request on the same connection.
    let answer = request(
        &addr,
        "GET /panic HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(answer.status, 500, "{}", answer.head);
    assert!(
        answer.body.starts_with("500 Internal Server Error\n"),
        "{}",
        answer.body
    );
    assert!(
        !answer.body.contains("a bug in the handler"),
        "a visitor is not told what panicked: {}",
        answer.body
    );
    assert!(
        answer.body.contains("HTTP/1.1 200 OK") && answer.body.ends_with("Hello, world!\n"),
        "the connection was not kept: {}",
        answer.body
    );
    assert_eq!(get(&addr, "/pid").unwrap().body, pid, "the worker was replaced");

    let logged = || {
        let stderr = master.stderr();
        stderr.contains("a handler panicked at ")
            && stderr.contains("application.rs:")
            && stderr.contains("a bug in the handler")
    };
    assert!(eventually(Duration::from_secs(5), logged), "{}", master.stderr());
    assert!(
        !master.stderr().contains("thread '"),
        "the default hook printed too: {}",
        master.stderr()
    );
    assert!(
        eventually(Duration::from_secs(5), || master
            .stdout()
            .contains("\"GET /panic HTTP/1.1\" 500")),
        "{}",
        master.stdout()
    );
    assert!(
        eventually(Duration::from_secs(5), || sample(
            &metrics,
            "rg_handler_panics_total"
        ) == 1.0),
        "{}",
        get(&metrics, "/metrics").unwrap().body
    );
}
