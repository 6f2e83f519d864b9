//! Applications that were not written for rg: one that serves the socket
//! it inherits (`LISTEN_FDS`, as the listenfd crate reads it) without the
//! rg runtime works under `rg runserver`, and rg says, after a bounded
//! wait, what it expected and did not get (READY=1).

use std::time::Duration;

use crate::support::{Addr, Running, dev_project, e2e_target, eventually, free_port, get, rg};

/// A `main` that takes fd 3 as systemd's socket activation hands it over,
/// with nothing but the standard library.
const PLAIN_MAIN: &str = r#"
use std::io::{Read, Write};
use std::os::fd::FromRawFd;

fn main() {
    assert_eq!(std::env::var("LISTEN_FDS").as_deref(), Ok("1"), "no socket passed");
    // SAFETY: LISTEN_FDS=1 says fd 3 is a listening socket given to us.
    let listener = unsafe { std::net::TcpListener::from_raw_fd(3) };
    listener.set_nonblocking(false).unwrap();
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let mut request = [0u8; 4096];
        let _ = stream.read(&mut request);
        let body = "served without the rg runtime\n";
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    }
}
"#;

#[test]
fn an_application_without_the_runtime_serves_and_rg_says_what_it_waits_for() {
    let dir = dev_project("dev_plain");
    std::fs::write(dir.join("src/main.rs"), PLAIN_MAIN).unwrap();
    std::fs::remove_file(dir.join("src/application.rs")).unwrap();
    let port = free_port();
    let mut cmd = rg();
    cmd.args(["runserver", &port.to_string()])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", e2e_target())
        // How long rg waits for READY before it explains.
        .env("RG_TIMEOUT", "2");
    let server = Running::spawn(&mut cmd);
    let addr = Addr::tcp(port);
    assert!(
        eventually(Duration::from_secs(300), || get(&addr, "/")
            .is_ok_and(|r| r.body == "served without the rg runtime\n")),
        "{}{}",
        server.stdout(),
        server.stderr()
    );
    assert!(
        server.wait_for_output("without saying it is ready", Duration::from_secs(10)),
        "{}{}",
        server.stdout(),
        server.stderr()
    );
    let said = server.stderr();
    assert!(said.contains("READY=1 on NOTIFY_SOCKET"), "{said}");
    assert!(
        !server.stdout().contains("Application ready"),
        "{}",
        server.stdout()
    );
}
