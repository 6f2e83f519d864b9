//! The `http` setting on a cleartext connection: its first bytes say
//! whether it is HTTP/2 (the connection preface) or HTTP/1, and a version
//! the worker does not serve is turned away before hyper. (Over TLS, ALPN
//! offers only the versions served.)

use rg_contract::settings::HttpVersions;
use tokio::io::AsyncReadExt as _;

use super::Io;
use super::rewind::Rewind;
use crate::server::http1::Refusal;
use crate::server::http2::PREFACE;

/// What the first bytes decided.
pub(crate) enum Checked<T> {
    /// A version served: the stream, with what was read given back.
    Served(Rewind<T>),
    /// HTTP/1 to a worker that serves HTTP/2 only: answered with this.
    Refused(Rewind<T>, Refusal),
    /// HTTP/2 to a worker that serves HTTP/1.1 only, or the connection
    /// ended first: closed.
    Closed,
}

/// Reads as much of `stream`'s start as tells HTTP/2 from HTTP/1.
pub(crate) async fn check<T: Io>(
    mut stream: Rewind<T>,
    allowed: HttpVersions,
) -> std::io::Result<Checked<T>> {
    let mut start = Vec::with_capacity(PREFACE.len());
    let http2 = loop {
        let mut buf = [0u8; 24];
        let want = PREFACE.len() - start.len();
        let n = stream.read(&mut buf[..want]).await?;
        if n == 0 {
            return Ok(Checked::Closed);
        }
        start.extend_from_slice(&buf[..n]);
        if !PREFACE.starts_with(&start) {
            break false;
        }
        if start.len() == PREFACE.len() {
            break true;
        }
    };
    let stream = stream.give_back(start);
    Ok(match (allowed, http2) {
        (HttpVersions::One, true) => Checked::Closed,
        (HttpVersions::Two, false) => Checked::Refused(
            stream,
            Refusal {
                status: 505,
                reason: "This server speaks HTTP/2 only".to_string(),
            },
        ),
        _ => Checked::Served(stream),
    })
}
