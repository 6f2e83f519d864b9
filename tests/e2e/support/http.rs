//! A tiny HTTP/1.1 client over real sockets, TCP or unix: one request per
//! connection, read until the server closes it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Where a server listens.
#[derive(Debug, Clone)]
pub enum Addr {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl Addr {
    pub fn tcp(port: u16) -> Addr {
        Addr::Tcp(SocketAddr::from(([127, 0, 0, 1], port)))
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub head: String,
    pub body: String,
}

/// Sends one `GET path` with `Connection: close` and reads the response.
pub fn get(addr: &Addr, path: &str) -> std::io::Result<Response> {
    request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"),
    )
}

/// Sends raw request bytes and reads the response until the server closes.
pub fn request(addr: &Addr, raw: &str) -> std::io::Result<Response> {
    let mut bytes = Vec::new();
    match addr {
        Addr::Tcp(a) => {
            let mut s = TcpStream::connect_timeout(a, Duration::from_secs(5))?;
            s.set_read_timeout(Some(Duration::from_secs(30)))?;
            s.write_all(raw.as_bytes())?;
            s.read_to_end(&mut bytes)?;
        }
        Addr::Unix(p) => {
            let mut s = UnixStream::connect(p)?;
            s.set_read_timeout(Some(Duration::from_secs(30)))?;
            s.write_all(raw.as_bytes())?;
            s.read_to_end(&mut bytes)?;
        }
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no HTTP response in {text:?}")))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line in {head:?}")))?;
    Ok(Response {
        status,
        head: head.to_string(),
        body: body.to_string(),
    })
}

/// Polls `GET /` until the server answers, for at most `timeout`.
pub fn wait_until_serving(addr: &Addr, timeout: Duration) -> Response {
    let deadline = Instant::now() + timeout;
    loop {
        match get(addr, "/") {
            Ok(r) => return r,
            Err(e) if Instant::now() > deadline => panic!("{addr:?} did not answer within {timeout:?}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// The value of one sample line of `/metrics` (`name{labels}` exactly).
pub fn sample(metrics: &Addr, series: &str) -> f64 {
    let page = get(metrics, "/metrics").unwrap();
    assert_eq!(page.status, 200, "{}", page.body);
    page.body
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{}", page.body))
}
