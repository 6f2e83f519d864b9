//! Strict HTTP/1.1 at the door (`strict_http`): raw bytes to a real
//! `rg serve`, the refusal read back, the connection seen closed, and the
//! fixture's counters (`/calls`) showing the application was not called.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use crate::support::{Master, Serve};

/// `rg serve` of the fixture with one worker, so its counters are the
/// application's, with `args` added.
fn serve(args: &[&str]) -> Master {
    Serve::fixture().args(["-w", "1"]).args(args).start()
}

fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// Sends `raw` and reads until the server closes the connection (a read
/// timeout fails the test: the connection was left open).
fn exchange(port: u16, raw: &[u8]) -> String {
    let mut stream = connect(port);
    stream.write_all(raw).unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap_or_else(|e| {
        panic!(
            "no end of the connection after {:?}: {e}",
            String::from_utf8_lossy(raw)
        )
    });
    String::from_utf8_lossy(&bytes).into_owned()
}

fn status(response: &str) -> u16 {
    response
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP/1.1 response: {response:?}"))
}

/// What the application has seen: `calls=N bodies=M`.
fn counters(port: u16) -> String {
    let response = exchange(
        port,
        b"GET /calls HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status(&response), 200, "{response}");
    response.split("\r\n\r\n").nth(1).unwrap().trim().to_string()
}

const CHUNKED_POST: &str = "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";

/// One request per rule (RFC 9112, RFC 9110), with the status rg answers.
fn vectors() -> Vec<(&'static str, String, u16)> {
    let chunked = |rest: &str| format!("{CHUNKED_POST}{rest}");
    let head = |fields: &str| format!("GET / HTTP/1.1\r\n{fields}\r\n");
    vec![
        // Framing, RFC 9112 §6.
        (
            "Content-Length and Transfer-Encoding",
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".into(),
            400,
        ),
        ("Content-Length repeated", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello".into(), 400),
        ("Content-Length list", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5, 5\r\n\r\nhello".into(), 400),
        ("Content-Length signed", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: +5\r\n\r\nhello".into(), 400),
        ("Content-Length blank", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: \r\n\r\n".into(), 400),
        ("Content-Length not digits", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0x5\r\n\r\nhello".into(), 400),
        ("final coding not chunked", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n".into(), 400),
        ("chunked twice", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n".into(), 400),
        ("unknown coding", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: foo, chunked\r\n\r\n0\r\n\r\n".into(), 501),
        ("Transfer-Encoding in HTTP/1.0", "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".into(), 400),
        ("chunk size with a sign", chunked("+5\r\nhello\r\n0\r\n\r\n"), 400),
        ("chunk size with leading space", chunked(" 5\r\nhello\r\n0\r\n\r\n"), 400),
        ("chunk size followed by spaces", chunked("5  \r\nhello\r\n0\r\n\r\n"), 400),
        ("chunk size not hex", chunked("5g\r\nhello\r\n0\r\n\r\n"), 400),
        ("chunk size over u64", chunked("10000000000000005\r\nhello\r\n0\r\n\r\n"), 400),
        ("bare CR in a chunk extension", chunked("5;a\rb\r\nhello\r\n0\r\n\r\n"), 400),
        ("chunk extension too long", chunked(&format!("5;{}\r\nhello\r\n0\r\n\r\n", "e".repeat(5000))), 400),
        // Trailers, RFC 9110 §6.5.1.
        ("Content-Length in trailers", chunked("5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n"), 400),
        ("Transfer-Encoding in trailers", chunked("5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400),
        ("Host in trailers", chunked("5\r\nhello\r\n0\r\nHost: evil\r\n\r\n"), 400),
        ("Authorization in trailers", chunked("5\r\nhello\r\n0\r\nAuthorization: Basic eDp5\r\n\r\n"), 400),
        ("Cookie in trailers", chunked("5\r\nhello\r\n0\r\nCookie: a=b\r\n\r\n"), 400),
        // Fields, RFC 9110 §5, RFC 9112 §3.2, §5.
        ("two Host fields", head("Host: a\r\nHost: b\r\n"), 400),
        ("no Host in HTTP/1.1", head("X-A: b\r\n"), 400),
        ("two Content-Type fields", head("Host: t\r\nContent-Type: a/b\r\nContent-Type: c/d\r\n"), 400),
        ("empty field name", head("Host: t\r\n: x\r\n"), 400),
        ("invalid field name", head("Host: t\r\nX(A): x\r\n"), 400),
        ("NUL in a value", head("Host: t\r\nX-A: a\0b\r\n"), 400),
        ("bare CR in a value", head("Host: t\r\nX-A: a\rb\r\n"), 400),
        ("control in a value", head("Host: t\r\nX-A: a\x01b\r\n"), 400),
        ("whitespace before the colon", head("Host: t\r\nX-A : b\r\n"), 400),
        ("obsolete line folding", head("Host: t\r\nX-A: b\r\n c\r\n"), 400),
        // The request line, RFC 9112 §3.
        ("asterisk-form without OPTIONS", "GET * HTTP/1.1\r\nHost: t\r\n\r\n".into(), 400),
        ("authority-form without CONNECT", "GET host:80 HTTP/1.1\r\nHost: t\r\n\r\n".into(), 400),
        ("HTTP/1.2", "GET / HTTP/1.2\r\nHost: t\r\n\r\n".into(), 505),
        ("HTTP/2.0 on an HTTP/1 connection", "GET / HTTP/2.0\r\nHost: t\r\n\r\n".into(), 505),
        ("control in the target", "GET /a\x01b HTTP/1.1\r\nHost: t\r\n\r\n".into(), 400),
        ("space in the target", "GET /a b HTTP/1.1\r\nHost: t\r\n\r\n".into(), 400),
        ("bare LF line endings", "GET / HTTP/1.1\nHost: t\n\n".into(), 400),
        // Gunicorn's limits on the bytes as sent.
        (
            "request line of 4095 bytes",
            format!("GET /?q={} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(4095 - "GET /?q= HTTP/1.1".len())),
            414,
        ),
        (
            "field of 8191 bytes with its CRLF",
            head(&format!("Host: t\r\nX-Long: {}\r\n", "v".repeat(8191 - "X-Long: ".len() - 2))),
            431,
        ),
        (
            "101 fields",
            head(&format!("Host: t\r\n{}", (0..100).map(|i| format!("X-F{i}: {i}\r\n")).collect::<String>())),
            431,
        ),
    ]
}

#[test]
fn strict_refuses_each_rule_closes_and_never_calls_the_application() {
    let master = serve(&[]);
    let port = master.port();
    let mut before = counters(port);
    for (rule, raw, expected) in vectors() {
        let response = exchange(port, raw.as_bytes());
        assert_eq!(status(&response), expected, "{rule}: {response}");
        assert!(
            response.contains("\r\nconnection: close\r\n"),
            "{rule}: {response}"
        );
        assert_eq!(
            response.matches("HTTP/1.1 ").count(),
            1,
            "{rule}: one response only: {response}"
        );
        let after = counters(port);
        assert_eq!(after, before, "{rule}: the application was called");
        before = after;
    }
}

#[test]
fn strict_judges_a_request_sent_byte_by_byte_and_behind_a_good_one() {
    let master = serve(&[]);
    let port = master.port();
    let before = counters(port);

    // Byte by byte, each its own segment: refused all the same.
    let mut stream = connect(port);
    for b in b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n" {
        stream.write_all(std::slice::from_ref(b)).unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    let response = String::from_utf8_lossy(&bytes);
    assert_eq!(status(&response), 400, "{response}");
    assert_eq!(counters(port), before);

    // A good request byte by byte passes.
    let mut stream = connect(port);
    for b in b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" {
        stream.write_all(std::slice::from_ref(b)).unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    let response = String::from_utf8_lossy(&bytes);
    assert_eq!(status(&response), 200, "{response}");
    assert!(response.ends_with("Hello, world!\n"), "{response}");

    // Pipelined behind a good request: the good one is answered, then the
    // refusal, then the connection closes.
    let before = counters(port);
    let response = exchange(
        port,
        b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET * HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    assert_eq!(response.matches("HTTP/1.1 ").count(), 2, "{response}");
    assert!(response.starts_with("HTTP/1.1 200 "), "{response}");
    assert!(response.contains("Hello, world!\nHTTP/1.1 400 "), "{response}");
    // Only the first request reached the application.
    let calls = |c: &str| {
        c.split(' ')
            .next()
            .unwrap()
            .trim_start_matches("calls=")
            .parse::<u64>()
            .unwrap()
    };
    assert_eq!(calls(&counters(port)), calls(&before) + 1);

    // An upgrade the application declines (`/` answers 200, not 101):
    // what follows is still HTTP, and still judged.
    let before = counters(port);
    let response = exchange(
        port,
        concat!(
            "GET / HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        )
        .as_bytes(),
    );
    assert!(response.starts_with("HTTP/1.1 200 "), "{response}");
    assert!(response.contains("Hello, world!\nHTTP/1.1 400 "), "{response}");
    assert_eq!(calls(&counters(port)), calls(&before) + 1);
}

/// Reads one response with a Content-Length body from a kept-alive
/// connection: (status, body).
fn read_one(stream: &mut TcpStream) -> (u16, String) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            stream.read(&mut byte).unwrap(),
            1,
            "closed mid-head: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no content-length: {head}"));
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap();
    (status, String::from_utf8(body).unwrap())
}

#[test]
fn strict_passes_valid_requests() {
    let master = serve(&[]);
    let port = master.port();

    // Pipelined, one write: four requests, four answers, in order.
    let response = exchange(
        port,
        concat!(
            "GET / HTTP/1.1\r\nHost: t\r\n\r\n",
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
            "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            "GET /calls HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        )
        .as_bytes(),
    );
    assert_eq!(response.matches("HTTP/1.1 200 ").count(), 4, "{response}");
    let hello = response.find("Hello, world!").unwrap();
    let five = response.find("5 bytes: hello").unwrap();
    let three = response.find("3 bytes: abc").unwrap();
    assert!(hello < five && five < three, "{response}");

    // A chunked body with extensions and trailers the RFC allows.
    let response = exchange(
        port,
        concat!(
            "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
            "5;name=value;q=\"a b\"\r\nhello\r\n",
            "6 ;x\r\n world\r\n",
            "0\r\nX-Checksum: abc\r\nServer-Timing: total;dur=1\r\n\r\n",
        )
        .as_bytes(),
    );
    assert_eq!(status(&response), 200, "{response}");
    assert!(response.ends_with("11 bytes: hello world\n"), "{response}");

    // Absolute-form, OPTIONS *, and a head at Gunicorn's limits.
    let response = exchange(
        port,
        b"GET http://t/ HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status(&response), 200, "{response}");
    let before = counters(port);
    let response = exchange(
        port,
        b"OPTIONS * HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert!(!response.is_empty(), "OPTIONS * got no answer");
    assert_ne!(
        counters(port),
        before,
        "OPTIONS * did not reach the application: {response}"
    );
    let line = format!(
        "GET /?q={} HTTP/1.1",
        "a".repeat(4094 - "GET /?q= HTTP/1.1".len())
    );
    assert_eq!(line.len(), 4094);
    // 100 fields: Host, X-Long, 97 more and Connection.
    let fields: String = (0..97).map(|i| format!("X-F{i}: {i}\r\n")).collect();
    let long = format!("X-Long: {}\r\n", "v".repeat(8190 - "X-Long: ".len() - 2));
    let response = exchange(
        port,
        format!("{line}\r\nHost: t\r\n{long}{fields}Connection: close\r\n\r\n").as_bytes(),
    );
    assert_eq!(status(&response), 200, "{}", &response[..response.len().min(200)]);

    // HTTP/1.0 with keep-alive: two requests on one connection.
    let mut stream = connect(port);
    for _ in 0..2 {
        stream
            .write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap();
        let (status, body) = read_one(&mut stream);
        assert_eq!((status, body.as_str()), (200, "Hello, world!\n"));
    }
}

#[test]
fn strict_leaves_http2_prior_knowledge_to_hyper() {
    let master = serve(&[]);
    let port = master.port();
    let mut stream = connect(port);
    // The preface and an empty SETTINGS frame (RFC 9113 §3.4, §6.5).
    stream.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
    stream.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).unwrap();
    // The server's SETTINGS frame: type 4 on stream 0.
    let mut frame = [0u8; 9];
    stream.read_exact(&mut frame).unwrap();
    assert_eq!(frame[3], 4, "not a SETTINGS frame: {frame:?}");
    assert_eq!(&frame[5..9], &[0, 0, 0, 0], "{frame:?}");
}

#[test]
fn strict_half_closed_clients_all_get_their_answer() {
    let master = serve(&[]);
    let port = master.port();
    // As `nc -N` sends: the request, then the end of its side. Half of
    // them to a handler that takes a moment, so the end arrives while the
    // application works.
    let mut answered = 0;
    for i in 0..40 {
        let (path, body) = if i % 2 == 0 {
            ("/", "Hello, world!\n")
        } else {
            ("/slow?ms=20", "slow done\n")
        };
        let mut stream = connect(port);
        stream
            .write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        let mut bytes = Vec::new();
        stream.read_to_end(&mut bytes).unwrap();
        let response = String::from_utf8_lossy(&bytes);
        if response.starts_with("HTTP/1.1 200 ") && response.ends_with(body) {
            answered += 1;
        }
    }
    assert_eq!(answered, 40);

    // A chunked body cut short by the end of the connection never reaches
    // the application as a complete body.
    let before = counters(port);
    let mut stream = connect(port);
    stream
        .write_all(format!("{CHUNKED_POST}5\r\nhello\r\n").as_bytes())
        .unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    let response = String::from_utf8_lossy(&bytes);
    assert!(!response.contains("5 bytes"), "{response}");
    let bodies = |c: &str| c.split("bodies=").nth(1).unwrap().to_string();
    assert_eq!(bodies(&counters(port)), bodies(&before));
}

#[test]
fn strict_http_false_leaves_requests_to_hyper() {
    let master = serve(&["--strict-http", "false"]);
    let port = master.port();
    // What strict mode refuses, hyper lets through to the application.
    let response = exchange(
        port,
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status(&response), 200, "{response}");
    // The limits still hold, checked after hyper.
    let response = exchange(
        port,
        format!("GET /?q={} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(5000)).as_bytes(),
    );
    assert_eq!(status(&response), 414, "{response}");
}

#[test]
fn strict_body_read_timeout_refuses_a_stalled_body_with_408() {
    // The read timeout alone: body_min_rate would cut the slow body below
    // (see the next test).
    let master = serve(&["--body-read-timeout", "1", "--body-min-rate", "0"]);
    let port = master.port();
    let bodies = |c: &str| c.split("bodies=").nth(1).unwrap().parse::<u64>().unwrap();
    let before = bodies(&counters(port));

    // Slow but steady: a byte every 300 ms is within a second between reads.
    let mut stream = connect(port);
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nConnection: close\r\n\r\n")
        .unwrap();
    for b in b"hello" {
        std::thread::sleep(Duration::from_millis(300));
        stream.write_all(std::slice::from_ref(b)).unwrap();
    }
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    let response = String::from_utf8_lossy(&bytes);
    assert_eq!(status(&response), 200, "{response}");
    assert!(response.ends_with("5 bytes: hello\n"), "{response}");

    // Half a body, then nothing: 408 after about a second, and closed.
    let mut stream = connect(port);
    let started = std::time::Instant::now();
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhello")
        .unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    let waited = started.elapsed();
    let response = String::from_utf8_lossy(&bytes);
    assert_eq!(status(&response), 408, "{response}");
    assert_eq!(response.matches("HTTP/1.1 ").count(), 1, "{response}");
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    assert_eq!(bodies(&counters(port)), before + 1);
}

#[test]
fn strict_body_min_rate_cuts_a_body_trickled_within_the_read_timeout() {
    // body_min_rate at its default, 500 bytes a second, after a second of
    // grace.
    let master = serve(&["--body-read-timeout", "1"]);
    let port = master.port();
    let bodies = |c: &str| c.split("bodies=").nth(1).unwrap().parse::<u64>().unwrap();
    let before = bodies(&counters(port));

    // A byte every 300 ms, as in the test above, which the read timeout
    // alone lets through: here the grace is spent after about a second.
    let mut stream = connect(port);
    let started = std::time::Instant::now();
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n")
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let trickle = std::thread::spawn(move || {
        for _ in 0..100 {
            std::thread::sleep(Duration::from_millis(300));
            if writer.write_all(b"x").is_err() {
                break;
            }
        }
    });
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap() == 1 {
        head.push(byte[0]);
    }
    let answered = started.elapsed();
    let response = String::from_utf8_lossy(&head);
    assert_eq!(status(&response), 408, "{response}");
    assert!(
        answered >= Duration::from_millis(900) && answered < Duration::from_secs(3),
        "answered after {answered:?}"
    );
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    trickle.join().unwrap();

    // An upload well above the rate is not cut, however long it waits
    // in all: 4,000 bytes, 200 every 100 ms, two seconds of waiting.
    let mut stream = connect(port);
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4000\r\nConnection: close\r\n\r\n")
        .unwrap();
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(100));
        stream.write_all(&[b'y'; 200]).unwrap();
    }
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    let response = String::from_utf8_lossy(&bytes);
    assert_eq!(status(&response), 200, "{response}");
    assert!(response.contains("4000 bytes: yyyy"), "{response}");
    // The trickled body never reached the application whole.
    assert_eq!(bodies(&counters(port)), before + 1);
}

#[test]
fn strict_send_timeout_frees_the_slot_of_a_client_that_reads_nothing() {
    // One connection at a time, so the stalled client holds the only slot.
    let master = serve(&["--worker-connections", "1", "--send-timeout", "1"]);
    let port = master.port();

    // 32 MB asked for and nothing read: the socket's buffers fill and
    // the worker's write waits on the client.
    let mut stalled = connect(port);
    stalled
        .write_all(b"GET /big?mb=32 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));

    // A new client waits for the slot until the send timeout frees it. (A
    // connection in the middle of a response is never closed for a new
    // one; without the timeout this one would wait for as long as the
    // stalled client reads nothing, and fail on its read timeout.)
    let started = std::time::Instant::now();
    let response = exchange(port, b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let waited = started.elapsed();
    assert_eq!(status(&response), 200, "{response}");
    assert!(
        waited >= Duration::from_millis(500) && waited < Duration::from_secs(5),
        "answered after {waited:?}"
    );

    // The stalled client gets what the buffers held, then the end.
    let mut received = 0;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stalled.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => received += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("after {received} bytes: {e}"),
        }
    }
    assert!(received < 32 << 20, "the whole response came: {received} bytes");
}

#[test]
fn strict_proxy_protocol_gives_the_client_address() {
    let master = serve(&["--proxy-protocol", "auto"]);
    let port = master.port();
    let environ = "GET /environ HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

    // Version 1, from 127.0.0.1, in proxy_allow_ips by default.
    let response = exchange(
        port,
        format!("PROXY TCP4 192.0.2.7 127.0.0.1 56324 {port}\r\n{environ}").as_bytes(),
    );
    assert_eq!(status(&response), 200, "{response}");
    assert!(response.contains("client=192.0.2.7\n"), "{response}");

    // Version 2, the header and the request in separate writes.
    let mut header = b"\r\n\r\n\0\r\nQUIT\n\x21\x21\0\x24".to_vec();
    header.extend_from_slice(&"2001:db8::7".parse::<std::net::Ipv6Addr>().unwrap().octets());
    header.extend_from_slice(&[0; 16]);
    header.extend_from_slice(&56324u16.to_be_bytes());
    header.extend_from_slice(&port.to_be_bytes());
    let mut stream = connect(port);
    stream.write_all(&header).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    stream.write_all(environ.as_bytes()).unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    let response = String::from_utf8_lossy(&bytes);
    assert_eq!(status(&response), 200, "{response}");
    assert!(response.contains("client=2001:db8::7\n"), "{response}");

    // From a proxy, the header is required; the application never sees
    // a connection without it. (`UNKNOWN`: a header without an address.)
    let calls = || {
        let response = exchange(
            port,
            b"PROXY UNKNOWN\r\nGET /calls HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(status(&response), 200, "{response}");
        response.split("\r\n\r\n").nth(1).unwrap().to_string()
    };
    let before = calls();
    let response = exchange(port, environ.as_bytes());
    assert_eq!(status(&response), 400, "{response}");
    assert!(response.contains("PROXY"), "{response}");
    assert_eq!(calls(), before);
}

#[test]
fn strict_proxy_protocol_is_only_read_from_proxy_allow_ips() {
    let master = serve(&["--proxy-protocol", "v1", "--proxy-allow-from", "192.0.2.1"]);
    let port = master.port();
    // 127.0.0.1 is no proxy here: its requests are plain HTTP, and a
    // header from it is refused, not believed.
    let response = exchange(
        port,
        b"GET /environ HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status(&response), 200, "{response}");
    assert!(response.contains("client=127.0.0.1\n"), "{response}");
    let response = exchange(
        port,
        b"PROXY TCP4 192.0.2.7 127.0.0.1 56324 80\r\nGET /environ HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    assert_eq!(status(&response), 400, "{response}");
}

#[test]
fn the_header_timeout_cuts_slow_heads_and_spares_slow_applications_strict_or_not() {
    // With strict_http on, the strict layer keeps the header timeout;
    // off, hyper does.
    for strict in ["true", "false"] {
        let master = serve(&["--keepalive", "1", "--strict-http", strict]);
        let port = master.port();

        // A head trickled a line every 300 ms: cut at about a second, with
        // no answer, though bytes keep coming.
        let mut stream = connect(port);
        let started = std::time::Instant::now();
        stream.write_all(b"GET / HTTP/1.1\r\n").unwrap();
        stream.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        let mut closed = None;
        for _ in 0..20 {
            let mut probe = [0u8; 64];
            match stream.read(&mut probe) {
                Ok(0) => {}
                Ok(n) => panic!(
                    "strict_http={strict}: a slow head was answered: {:?}",
                    &probe[..n]
                ),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    // Still open: the next line of the head.
                    let _ = stream.write_all(b"X-Slow: 1\r\n");
                    continue;
                }
                Err(_) => {}
            }
            closed = Some(started.elapsed());
            break;
        }
        let closed = closed.unwrap_or_else(|| panic!("strict_http={strict}: a slow head was never cut"));
        assert!(
            closed >= Duration::from_millis(900) && closed < Duration::from_secs(4),
            "strict_http={strict}: cut after {closed:?}"
        );

        // An application slower than the header timeout, on a keep-alive
        // connection, and a second request on it after an idle half second.
        let mut stream = connect(port);
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        for path in ["/slow?ms=2500", "/"] {
            stream
                .write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
                .unwrap();
            let (code, body) = read_one(&mut stream);
            assert_eq!(code, 200, "strict_http={strict}: {path}: {body}");
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}
