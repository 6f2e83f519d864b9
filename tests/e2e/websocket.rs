//! WebSockets, with a real client (tungstenite), through `rg serve` and
//! `rg runserver` (and nginx, in `deploy.rs`): they echo, and one open
//! across a reload is closed with a close frame at the graceful timeout,
//! while new connections go to the new worker.

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
    let dir = dev_project("ws_dev");
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
