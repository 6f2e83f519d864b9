//! Strict HTTP/1.1 at the door (`strict_http`): raw bytes to a real
//! `rg serve`, the refusal read back, the connection seen closed, and the
//! fixture's counters (`/calls`) showing the application was not called.
//! One file per idea: what is refused, what passes, slow clients and their
//! timeouts, and the PROXY protocol.

mod proxy;
mod refusals;
mod timeouts;
mod valid;

use std::io::{Read, Write};
use std::net::TcpStream;
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
