//! What strict HTTP refuses: one request per rule of RFC 9112 and RFC
//! 9110, whole, byte by byte, and pipelined behind a good request; each
//! answered once, the connection closed, the application never called.

use std::io::{Read, Write};
use std::time::Duration;

use super::{CHUNKED_POST, connect, counters, exchange, serve, status};

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
        ("whitespace before a chunk extension", chunked("5 ;x\r\nhello\r\n0\r\n\r\n"), 400),
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

    // Refused in its trailers, behind a good request, all in one segment:
    // its 400 follows the first answer (found by the differential test,
    // which saw the answer lost).
    let response = exchange(
        port,
        concat!(
            "GET / HTTP/1.1\r\nHost: t\r\n\r\n",
            "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
            "1\r\na\r\n0\r\nX-Sum: 1\r\n folded\r\n\r\n",
        )
        .as_bytes(),
    );
    assert!(response.contains("Hello, world!\nHTTP/1.1 400 "), "{response}");
    assert!(response.ends_with("Obsolete line folding\n"), "{response}");

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
