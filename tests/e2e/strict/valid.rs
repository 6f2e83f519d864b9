//! What strict HTTP lets through: valid requests pipelined, chunked with
//! extensions and trailers, at Gunicorn's limits; HTTP/2 and half-closed
//! clients; and everything, with `strict_http` off, left to hyper.

use std::io::{Read, Write};
use std::net::Shutdown;

use super::{CHUNKED_POST, connect, counters, exchange, read_one, serve, status};

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
            "6;x\r\n world\r\n",
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
