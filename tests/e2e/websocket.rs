//! WebSockets, with a real client (tungstenite), through `rg serve` and
//! `rg runserver` (and nginx, in `deploy.rs`): they echo, and one open
//! across a reload is closed with a close frame at the graceful timeout,
//! while new connections go to the new worker; over HTTP/2 (RFC 8441)
//! with Python's h2 when `http2_websockets` offers it.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

use crate::support::{Running, Serve, children, dev_project, eventually, free_port, rg};

/// A WebSocket to the fixture's `/ws` on a loopback port.
pub fn connect(port: u16) -> WebSocket<TcpStream> {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let (socket, response) = tungstenite::client(format!("ws://127.0.0.1:{port}/ws"), stream).unwrap();
    assert_eq!(response.status(), 101);
    socket
}

/// Sends `text` and returns the answer.
pub fn echo(socket: &mut WebSocket<TcpStream>, text: &str) -> String {
    socket.send(Message::text(text)).unwrap();
    match socket.read().unwrap() {
        Message::Text(reply) => reply.to_string(),
        other => panic!("expected text, got {other:?}"),
    }
}

#[test]
fn a_websocket_echoes_through_rg_serve() {
    let master = Serve::fixture().args(["-w", "2"]).start();
    let mut socket = connect(master.port());
    for n in 0..3 {
        let reply = echo(&mut socket, &format!("hello {n}"));
        assert!(reply.starts_with(&format!("hello {n} from ")), "{reply}");
    }
    socket.close(None).unwrap();
}

#[test]
fn a_websocket_echoes_through_rg_runserver() {
    let dir = dev_project("websocket_dev");
    let port = free_port();
    let server = Running::spawn(
        rg().args(["runserver", &port.to_string()])
            .current_dir(&dir)
            .env("CARGO_TARGET_DIR", crate::support::e2e_target()),
    );
    assert!(
        server.wait_for_output("Application ready", Duration::from_secs(300)),
        "{}{}",
        server.stdout(),
        server.stderr()
    );
    let mut socket = connect(port);
    assert!(echo(&mut socket, "dev").starts_with("dev from "));
}

/// On HUP the old worker keeps its WebSocket until the graceful timeout,
/// then closes it with a close frame (not a reset); a new connection meets
/// the new worker.
#[test]
fn a_websocket_open_across_a_hup_is_closed_cleanly_at_the_graceful_timeout() {
    let master = Serve::fixture()
        .args(["-w", "1", "--graceful-timeout", "2"])
        .start();
    let port = master.port();
    let old_pid = children(master.pid())[0];

    let mut socket = connect(port);
    assert_eq!(echo(&mut socket, "before"), format!("before from {old_pid}"));
    master.signal(libc::SIGHUP);
    let hup = Instant::now();
    assert!(
        eventually(Duration::from_secs(15), || master
            .stderr()
            .contains("Reload complete")),
        "{}",
        master.stderr()
    );
    // The old worker still serves the socket it has.
    assert_eq!(echo(&mut socket, "during"), format!("during from {old_pid}"));
    // A new connection meets the new worker.
    let mut fresh = connect(port);
    let reply = echo(&mut fresh, "fresh");
    assert!(!reply.ends_with(&old_pid.to_string()), "{reply}");

    // Then the close frame, at the graceful timeout.
    let frame = loop {
        match socket.read() {
            Ok(Message::Close(frame)) => break frame,
            Ok(_) => continue,
            Err(e) => panic!("the connection ended without a close frame: {e}"),
        }
    };
    let waited = hup.elapsed();
    let frame = frame.expect("a close frame with a code");
    assert_eq!(frame.code, CloseCode::Away);
    assert!(
        waited >= Duration::from_millis(1500),
        "closed after {waited:?}, before the graceful timeout"
    );
    assert!(
        eventually(Duration::from_secs(5), || !children(master.pid())
            .contains(&old_pid)),
        "the old worker did not exit"
    );
}

/// A WebSocket over HTTP/2 (RFC 8441) with Python's h2, on h2c: whether
/// the server offers extended CONNECT, the status of a CONNECT to argv[2],
/// and what a masked "hi" in its stream is echoed as.
const OVER_HTTP2: &str = r#"
import os, socket, sys
import h2.config, h2.connection, h2.events, h2.settings
port, path = int(sys.argv[1]), sys.argv[2]
sock = socket.create_connection(("127.0.0.1", port))
sock.settimeout(10)
conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
conn.initiate_connection()
sock.sendall(conn.data_to_send())
def events():
    while True:
        data = sock.recv(65536)
        if not data:
            sys.exit("the connection closed")
        yield from conn.receive_data(data)
        sock.sendall(conn.data_to_send())
for event in events():
    if isinstance(event, h2.events.RemoteSettingsChanged):
        break
offered = conn.remote_settings.enable_connect_protocol
print("offered", offered)
if not offered:
    sys.exit(0)
conn.send_headers(1, [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"),
                      (":path", path), (":authority", f"127.0.0.1:{port}"), ("sec-websocket-version", "13")])
sock.sendall(conn.data_to_send())
for event in events():
    if isinstance(event, h2.events.ResponseReceived):
        status = dict(event.headers)[b":status"].decode()
        print("status", status)
        if status != "200":
            sys.exit(0)
        break
mask = os.urandom(4)
conn.send_data(1, bytes([0x81, 0x82]) + mask + bytes(b ^ mask[i] for i, b in enumerate(b"hi")))
sock.sendall(conn.data_to_send())
got = b""
for event in events():
    if isinstance(event, h2.events.DataReceived):
        conn.acknowledge_received_data(event.flow_controlled_length, 1)
        got += event.data
        if len(got) >= 2 and len(got) >= 2 + got[1]:
            print("echo", got[2:2 + got[1]].decode())
            break
"#;

fn over_http2(port: u16, path: &str) -> String {
    let out = std::process::Command::new(crate::http2::python_h2())
        .args(["-c", OVER_HTTP2, &port.to_string(), path])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn websockets_over_http2_only_when_offered_and_on_routes_that_take_connect() {
    let off = Serve::fixture().start();
    assert_eq!(over_http2(off.port(), "/ws-any"), "offered 0\n", "off by default");
    drop(off);

    let on = Serve::fixture().args(["--http2-websockets", "true"]).start();
    let echoed = over_http2(on.port(), "/ws-any");
    let pid = echoed.strip_prefix("offered 1\nstatus 200\necho hi from ");
    let pid: Option<i32> = pid.and_then(|p| p.trim().parse().ok());
    assert!(pid.is_some_and(|p| children(on.pid()).contains(&p)), "{echoed}");
    // Why it is off by default: a route written get(handler) refuses CONNECT.
    assert_eq!(over_http2(on.port(), "/ws"), "offered 1\nstatus 405\n");
}
