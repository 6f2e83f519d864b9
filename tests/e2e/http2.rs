//! HTTP/2 on a cleartext bind (h2c with prior knowledge): served, held to
//! Gunicorn's head limits, logged as HTTP/2.0, its own limits told to the
//! client in SETTINGS, a rapid reset flood cut off without a log line
//! per attacker, and a worker recycled under load losing no stream.
//! Clients: curl, h2load and Python's h2.

use std::process::Command;
use std::time::Duration;

use crate::support::{Serve, eventually};
use crate::tools;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_cleartext_bind_answers_http2_with_prior_knowledge() {
    tools::require("curl");
    let master = Serve::fixture().start();
    let out = Command::new("curl")
        .args(["-sS", "-i", "--max-time", "10", "--http2-prior-knowledge"])
        .arg(format!("http://127.0.0.1:{}/environ", master.port()))
        .output()
        .unwrap();
    let body = text(&out.stdout);
    assert!(body.starts_with("HTTP/2 200"), "{body}{}", text(&out.stderr));
    assert!(body.contains("scheme=http "), "{body}");
}

/// HTTP/2 rapid reset (CVE-2023-44487) with Python's h2: HEADERS then
/// RST_STREAM, as fast as the socket takes them; prints how many went.
const RAPID_RESET: &str = r#"
import socket, sys
import h2.config, h2.connection
sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
conn.initiate_connection()
sock.sendall(conn.data_to_send())
headers = [(":method", "GET"), (":path", "/"), (":scheme", "http"), (":authority", "a")]
sent = 0
try:
    for _ in range(100000):
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, headers, end_stream=True)
        conn.reset_stream(sid)
        sock.sendall(conn.data_to_send())
        sent += 1
except OSError:
    pass
print(sent)
"#;

#[test]
fn a_rapid_reset_flood_is_cut_off_quietly_and_others_are_served() {
    let python = python_h2();
    let master = Serve::fixture().args(["-w", "1"]).start();
    for _ in 0..10 {
        let out = Command::new(python)
            .args(["-c", RAPID_RESET, &master.port().to_string()])
            .output()
            .unwrap();
        let sent: u32 = text(&out.stdout).trim().parse().unwrap_or(u32::MAX);
        // hyper sends GOAWAY after 20 reset streams it had not accepted yet;
        // what the socket buffers held went before the client saw it.
        assert!(sent < 100_000, "the flood was not cut off: {sent} streams");
    }
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5", "--http2-prior-knowledge"])
        .arg(format!("http://127.0.0.1:{}/", master.port()))
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout), "Hello, world!\n", "{}", text(&out.stderr));
    // One line per attacking connection would let an attacker fill the log.
    assert!(!master.stderr().contains("WARN"), "{}", master.stderr());
}

#[test]
fn http2_requests_are_held_to_the_same_limits_and_logged_as_http2() {
    tools::require("curl");
    let master = Serve::fixture().start();
    let h2c = |path: &str, headers: &[String]| {
        let mut cmd = Command::new("curl");
        cmd.args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version} %{http_code}",
            "--max-time",
            "10",
        ])
        .arg("--http2-prior-knowledge");
        for header in headers {
            cmd.args(["-H", header]);
        }
        let out = cmd
            .arg(format!("http://127.0.0.1:{}{path}", master.port()))
            .output()
            .unwrap();
        text(&out.stdout)
    };
    assert_eq!(h2c("/environ", &[]), "2 200");
    assert_eq!(h2c(&format!("/{}", "a".repeat(5000)), &[]), "2 414");
    assert_eq!(h2c("/", &[format!("X-Big: {}", "b".repeat(9000))]), "2 431");
    let many: Vec<String> = (0..101).map(|i| format!("X-Header-{i}: {i}")).collect();
    assert_eq!(h2c("/", &many), "2 431");
    assert!(
        eventually(Duration::from_secs(5), || master
            .stdout()
            .contains("\"GET /environ HTTP/2.0\" 200")),
        "{}",
        master.stdout()
    );
}

/// Reads the server's SETTINGS over h2c with Python's h2 and prints them.
const SERVER_SETTINGS: &str = r#"
import socket, sys
import h2.config, h2.connection, h2.events
sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
conn.initiate_connection()
sock.sendall(conn.data_to_send())
while True:
    for event in conn.receive_data(sock.recv(65536)):
        if isinstance(event, h2.events.RemoteSettingsChanged):
            s = event.changed_settings
            print(s[3].new_value, s[6].new_value)
            sys.exit(0)
"#;

pub(crate) fn python_h2() -> &'static str {
    tools::require_package("python3-h2", "Python's h2", || {
        let ok = Command::new("/usr/bin/python3")
            .args(["-c", "import h2"])
            .output();
        ok.is_ok_and(|o| o.status.success()).then_some("/usr/bin/python3")
    })
}

#[test]
fn http2_limits_are_settings_told_to_the_client() {
    let master = Serve::fixture()
        .args([
            "--http2-max-concurrent-streams",
            "7",
            "--http2-max-header-list-size",
            "20000",
        ])
        .start();
    let out = Command::new(python_h2())
        .args(["-c", SERVER_SETTINGS, &master.port().to_string()])
        .output()
        .unwrap();
    // SETTINGS_MAX_CONCURRENT_STREAMS (3) and SETTINGS_MAX_HEADER_LIST_SIZE (6).
    assert_eq!(text(&out.stdout), "7 20000\n", "{}", text(&out.stderr));
}

/// The count h2load's `requests:` line gives for `what` ("succeeded",
/// "failed", "errored").
pub(crate) fn h2load_count(report: &str, what: &str) -> u64 {
    let line = report
        .lines()
        .find(|l| l.starts_with("requests:"))
        .unwrap_or_default();
    line.split(',')
        .find(|part| part.trim().ends_with(what))
        .and_then(|part| part.split_whitespace().find_map(|n| n.parse().ok()))
        .unwrap_or_else(|| panic!("no `{what}` in {report}"))
}

#[test]
fn a_worker_recycled_under_an_http2_load_answers_every_stream_it_took() {
    tools::require("h2load");
    let master = Serve::fixture()
        .args(["-w", "1", "--max-requests", "300"])
        .start();
    // Four connections with eight streams in flight on each when the
    // worker reaches max_requests: GOAWAY, then the streams it took are
    // finished. (h2load does not reconnect: the load ends with them.)
    let out = Command::new("h2load")
        .args(["-D", "4", "-c", "4", "-m", "8"])
        .arg(format!("http://127.0.0.1:{}/", master.port()))
        .output()
        .unwrap();
    let report = text(&out.stdout);
    let succeeded = h2load_count(&report, "succeeded");
    assert!(succeeded >= 300, "{report}");
    assert!(report.contains(" 0 4xx, 0 5xx"), "{report}");
    // Streams the client sent after GOAWAY's last stream id are refused
    // unprocessed, which HTTP/2 lets a client retry (browsers do; h2load
    // counts them as errors): never more than were in flight, and every
    // request the application saw reached the client.
    let refused = h2load_count(&report, "failed");
    assert!(refused <= 4 * 8, "{report}");
    let logged = || master.stdout().matches("\"GET / HTTP/2.0\" 200").count() as u64;
    assert!(
        eventually(Duration::from_secs(5), || logged() == succeeded),
        "answered {} but the client got {succeeded}: {report}",
        logged()
    );
    assert!(
        eventually(Duration::from_secs(10), || master
            .stderr()
            .matches("Booting worker")
            .count()
            >= 2),
        "the worker was not recycled: {}",
        master.stderr()
    );
    assert!(!master.stderr().contains("WARN"), "{}", master.stderr());
}
