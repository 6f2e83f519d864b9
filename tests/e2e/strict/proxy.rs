//! The PROXY protocol (`proxy_protocol`): the client's address from a
//! trusted proxy's header, versions 1 and 2, and only from `proxy_allow_ips`.

use std::io::{Read, Write};
use std::time::Duration;

use super::{connect, exchange, serve, status};

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
