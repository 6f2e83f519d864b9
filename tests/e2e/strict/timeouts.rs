//! Slow clients at the door: a stalled or trickled body (the body read
//! timeout, `body_min_rate`), a client that reads nothing (`send_timeout`),
//! and a slow head (the header timeout), strict or not.

use std::io::{Read, Write};
use std::time::Duration;

use super::{connect, counters, exchange, read_one, serve, status};

#[test]
fn strict_body_read_timeout_refuses_a_stalled_body_with_408() {
    // The read timeout alone: body_min_rate would cut the slow body below
    // (see the next test).
    let master = serve(&["--body-read-timeout", "1", "--body-min-rate", "0"]);
    let port = master.port();
    let bodies = |c: &str| c.split("bodies=").nth(1).unwrap().parse::<u64>().unwrap();
    let before = bodies(&counters(port));

    // Slow but steady: a byte every 300 ms is within a second between reads.
    let mut stream = connect(port);
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nConnection: close\r\n\r\n")
        .unwrap();
    for b in b"hello" {
        std::thread::sleep(Duration::from_millis(300));
        stream.write_all(std::slice::from_ref(b)).unwrap();
    }
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    let response = String::from_utf8_lossy(&bytes);
    assert_eq!(status(&response), 200, "{response}");
    assert!(response.ends_with("5 bytes: hello\n"), "{response}");

    // Half a body, then nothing: 408 after about a second, and closed.
    let mut stream = connect(port);
    let started = std::time::Instant::now();
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhello")
        .unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    let waited = started.elapsed();
    let response = String::from_utf8_lossy(&bytes);
    assert_eq!(status(&response), 408, "{response}");
    assert_eq!(response.matches("HTTP/1.1 ").count(), 1, "{response}");
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    assert_eq!(bodies(&counters(port)), before + 1);
}

#[test]
fn strict_body_min_rate_cuts_a_body_trickled_within_the_read_timeout() {
    // body_min_rate at its default, 500 bytes a second, after a second of
    // grace.
    let master = serve(&["--body-read-timeout", "1"]);
    let port = master.port();
    let bodies = |c: &str| c.split("bodies=").nth(1).unwrap().parse::<u64>().unwrap();
    let before = bodies(&counters(port));

    // A byte every 300 ms, as in the test above, which the read timeout
    // alone lets through: here the grace is spent after about a second.
    let mut stream = connect(port);
    let started = std::time::Instant::now();
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n")
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let trickle = std::thread::spawn(move || {
        for _ in 0..100 {
            std::thread::sleep(Duration::from_millis(300));
            if writer.write_all(b"x").is_err() {
                break;
            }
        }
    });
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap() == 1 {
        head.push(byte[0]);
    }
    let answered = started.elapsed();
    let response = String::from_utf8_lossy(&head);
    assert_eq!(status(&response), 408, "{response}");
    assert!(
        answered >= Duration::from_millis(900) && answered < Duration::from_secs(3),
        "answered after {answered:?}"
    );
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    trickle.join().unwrap();

    // An upload well above the rate is not cut, however long it waits
    // in all: 4,000 bytes, 200 every 100 ms, two seconds of waiting.
    let mut stream = connect(port);
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4000\r\nConnection: close\r\n\r\n")
        .unwrap();
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(100));
        stream.write_all(&[b'y'; 200]).unwrap();
    }
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    let response = String::from_utf8_lossy(&bytes);
    assert_eq!(status(&response), 200, "{response}");
    assert!(response.contains("4000 bytes: yyyy"), "{response}");
    // The trickled body never reached the application whole.
    assert_eq!(bodies(&counters(port)), before + 1);
}

#[test]
fn strict_send_timeout_frees_the_slot_of_a_client_that_reads_nothing() {
    // One connection at a time, so the stalled client holds the only slot.
    let master = serve(&["--worker-connections", "1", "--send-timeout", "1"]);
    let port = master.port();

    // 32 MB asked for and nothing read: the socket's buffers fill and
    // the worker's write waits on the client.
    let mut stalled = connect(port);
    stalled
        .write_all(b"GET /big?mb=32 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));

    // A new client waits for the slot until the send timeout frees it. (A
    // connection in the middle of a response is never closed for a new
    // one; without the timeout this one would wait for as long as the
    // stalled client reads nothing, and fail on its read timeout.)
    let started = std::time::Instant::now();
    let response = exchange(port, b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let waited = started.elapsed();
    assert_eq!(status(&response), 200, "{response}");
    assert!(
        waited >= Duration::from_millis(500) && waited < Duration::from_secs(5),
        "answered after {waited:?}"
    );

    // The stalled client gets what the buffers held, then the end.
    let mut received = 0;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stalled.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => received += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("after {received} bytes: {e}"),
        }
    }
    assert!(received < 32 << 20, "the whole response came: {received} bytes");
}

#[test]
fn the_header_timeout_cuts_slow_heads_and_spares_slow_applications_strict_or_not() {
    // With strict_http on, the strict layer keeps the header timeout;
    // off, hyper does.
    for strict in ["true", "false"] {
        let master = serve(&["--keepalive", "1", "--strict-http", strict]);
        let port = master.port();

        // A head trickled a line every 300 ms: cut at about a second, with
        // no answer, though bytes keep coming.
        let mut stream = connect(port);
        let started = std::time::Instant::now();
        stream.write_all(b"GET / HTTP/1.1\r\n").unwrap();
        stream.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        let mut closed = None;
        for _ in 0..20 {
            let mut probe = [0u8; 64];
            match stream.read(&mut probe) {
                Ok(0) => {}
                Ok(n) => panic!(
                    "strict_http={strict}: a slow head was answered: {:?}",
                    &probe[..n]
                ),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    // Still open: the next line of the head.
                    let _ = stream.write_all(b"X-Slow: 1\r\n");
                    continue;
                }
                Err(_) => {}
            }
            closed = Some(started.elapsed());
            break;
        }
        let closed = closed.unwrap_or_else(|| panic!("strict_http={strict}: a slow head was never cut"));
        assert!(
            closed >= Duration::from_millis(900) && closed < Duration::from_secs(4),
            "strict_http={strict}: cut after {closed:?}"
        );

        // An application slower than the header timeout, on a keep-alive
        // connection, and a second request on it after an idle half second.
        let mut stream = connect(port);
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        for path in ["/slow?ms=2500", "/"] {
            stream
                .write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
                .unwrap();
            let (code, body) = read_one(&mut stream);
            assert_eq!(code, 200, "strict_http={strict}: {path}: {body}");
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}
