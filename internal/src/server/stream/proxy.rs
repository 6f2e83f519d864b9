//! The PROXY protocol handshake (HAProxy's, versions 1 and 2): a connection
//! from a proxy in `proxy_allow_ips` starts with a header naming the client.
//! It is read before hyper sees a byte, and never passed to it.

pub(in crate::server) mod header;

use std::io;
use std::net::SocketAddr;

use rg_contract::settings::ProxyProtocol;
use tokio::io::AsyncReadExt as _;

use super::Io;
use super::rewind::Rewind;
use crate::server::http1::Refusal;
use header::{Proxied, ProxyHeader};

/// What the handshake ended with.
pub(crate) enum Handshake<T> {
    /// The header was read: the stream rewound to the byte after it, and
    /// the client's address when the proxy gave one.
    Done(Rewind<T>, Option<SocketAddr>),
    /// The header is not one: the stream, to answer on.
    Refused(T, Refusal),
    /// The connection closed (or failed) before the header ended.
    Closed(io::Error),
}

/// Reads the header `mode` asks for at the start of `stream`.
pub(crate) async fn handshake<T: Io>(mut stream: T, mode: ProxyProtocol) -> Handshake<T> {
    let mut header = ProxyHeader::new(mode);
    // A version 1 line, or version 2's fixed part and addresses, fits in
    // one read of this size; what follows it is given back.
    let mut buf = vec![0u8; 4096];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) => return Handshake::Closed(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => n,
            Err(e) => return Handshake::Closed(e),
        };
        match header.feed(&buf[..n]) {
            Ok(Proxied::More) => {}
            Ok(Proxied::Done { used, source }) => {
                buf.truncate(n);
                buf.drain(..used);
                let ahead = if buf.is_empty() { Vec::new() } else { buf };
                return Handshake::Done(Rewind::with_ahead(stream, ahead), source);
            }
            Err(refusal) => return Handshake::Refused(stream, refusal),
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    #[tokio::test]
    async fn the_request_after_the_header_reaches_the_reader_whole() {
        let (mut client, server) = tokio::io::duplex(4096);
        client
            .write_all(b"PROXY TCP4 192.0.2.1 192.0.2.2 5000 80\r\nGET / HTTP/1.1\r\n")
            .await
            .unwrap();
        drop(client);
        let Handshake::Done(mut stream, source) = handshake(server, ProxyProtocol::V1).await else {
            panic!("the header was not read");
        };
        assert_eq!(source, Some("192.0.2.1:5000".parse().unwrap()));
        let mut rest = String::new();
        stream.read_to_string(&mut rest).await.unwrap();
        assert_eq!(rest, "GET / HTTP/1.1\r\n");
    }

    #[tokio::test]
    async fn a_connection_that_is_not_proxied_is_refused() {
        let (mut client, server) = tokio::io::duplex(4096);
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let Handshake::Refused(_, refusal) = handshake(server, ProxyProtocol::V1).await else {
            panic!("a request without a header passed");
        };
        assert_eq!(refusal.status, 400);
    }
}
