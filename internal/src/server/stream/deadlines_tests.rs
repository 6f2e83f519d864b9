//! The header and body timeouts the stream keeps, on tokio's paused clock
//! (it jumps ahead whenever every task waits, so a test takes no time).

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, DuplexStream};
use tokio::time::Instant;

use super::{Deadlines, Limits as Clocks};
use crate::server::stream::gate::Gate;
use rg_contract::settings::Limits;

/// The layers as a connection stacks them: the validator's gate over the
/// deadlines, over the client's socket.
type Strict<T> = Gate<Deadlines<T>>;

fn stack(server: DuplexStream, limits: Option<Limits>, clocks: Clocks) -> Strict<DuplexStream> {
    Gate::new(Deadlines::new(server, clocks), limits, None)
}

const HEAD: Duration = Duration::from_secs(5);

const GUNICORN: Limits = Limits {
    request_line: 4094,
    request_fields: 100,
    request_field_size: 8190,
};

/// A validated stream with the header timeout, and its client's end.
fn connection(limits: Option<Limits>) -> (Strict<DuplexStream>, DuplexStream) {
    let (client, server) = tokio::io::duplex(4096);
    let clocks = Clocks {
        head: limits.map(|_| HEAD),
        ..Clocks::default()
    };
    (stack(server, limits, clocks), client)
}

/// Reads as hyper does until the stream gives bytes or an error: the
/// bytes, or the error's kind, and when it came.
async fn read(stream: &mut Strict<DuplexStream>) -> (Result<Vec<u8>, std::io::ErrorKind>, Duration) {
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    let result = stream
        .read(&mut buf)
        .await
        .map(|n| buf[..n].to_vec())
        .map_err(|e| e.kind());
    (result, start.elapsed())
}

/// The stream gave up on the client at the header timeout, `after` it
/// began to wait.
fn cut_at_the_timeout(result: Result<Vec<u8>, std::io::ErrorKind>, after: Duration) {
    assert_eq!(result, Err(std::io::ErrorKind::TimedOut));
    assert!(
        after >= HEAD && after < HEAD + Duration::from_millis(10),
        "cut after {after:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_client_that_sends_nothing_is_closed_at_the_header_timeout() {
    let (mut stream, _client) = connection(Some(GUNICORN));
    let (result, after) = read(&mut stream).await;
    cut_at_the_timeout(result, after);
}

#[tokio::test(start_paused = true)]
async fn a_head_sent_slowly_does_not_restart_the_clock() {
    let (mut stream, mut client) = connection(Some(GUNICORN));
    let start = Instant::now();
    client.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    assert!(read(&mut stream).await.0.is_ok());
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        client.write_all(b"X-Slow: 1\r\n").await.unwrap();
        assert!(read(&mut stream).await.0.is_ok());
    }
    let (result, _) = read(&mut stream).await;
    cut_at_the_timeout(result, start.elapsed());
}

#[tokio::test(start_paused = true)]
async fn the_clock_starts_again_when_the_next_head_is_awaited_not_while_the_application_works() {
    let (mut stream, mut client) = connection(Some(GUNICORN));
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    assert!(read(&mut stream).await.0.is_ok());
    // The application takes longer than the header timeout: hyper does
    // not read meanwhile, and then answers.
    tokio::time::sleep(HEAD * 3).await;
    stream
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        .await
        .unwrap();
    // Waiting for the next head: a whole timeout from now.
    let (result, after) = read(&mut stream).await;
    cut_at_the_timeout(result, after);
}

#[tokio::test(start_paused = true)]
async fn a_body_is_the_body_timeouts_not_the_header_timeouts() {
    let (mut stream, mut client) = connection(Some(GUNICORN));
    client
        .write_all(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n")
        .await
        .unwrap();
    assert!(read(&mut stream).await.0.is_ok());
    // No body_read_timeout: hyper waits for the body as long as it takes.
    let waited = tokio::time::timeout(HEAD * 4, read(&mut stream)).await;
    assert!(waited.is_err(), "a wait for a body was cut: {waited:?}");
    client.write_all(b"hello").await.unwrap();
    assert_eq!(read(&mut stream).await.0, Ok(b"hello".to_vec()));
}

#[tokio::test(start_paused = true)]
async fn with_the_validator_off_the_stream_keeps_no_clock() {
    // hyper keeps the header timeout itself then (`HeadTimer`).
    let (mut stream, _client) = connection(None);
    let waited = tokio::time::timeout(HEAD * 4, read(&mut stream)).await;
    assert!(waited.is_err(), "{waited:?}");
}

const BODY: Duration = Duration::from_secs(5);

/// A validated stream with `body_read_timeout` (`BODY`) and `body_min_rate`
/// (`rate`), past the head of a POST of `length` bytes; and its client.
async fn posted(rate: Option<u32>, length: usize) -> (Strict<DuplexStream>, DuplexStream) {
    let (client, server) = tokio::io::duplex(64 * 1024);
    let mut stream = stack(
        server,
        Some(GUNICORN),
        Clocks {
            head: Some(HEAD),
            body: Some(BODY),
            body_min_rate: rate,
            send: None,
        },
    );
    let mut client = client;
    post(&mut stream, &mut client, length).await;
    (stream, client)
}

async fn post(stream: &mut Strict<DuplexStream>, client: &mut DuplexStream, length: usize) {
    let head = format!("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {length}\r\n\r\n");
    client.write_all(head.as_bytes()).await.unwrap();
    assert_eq!(read(stream).await.0, Ok(head.into_bytes()));
}

/// The client sends a byte every `gap` while the stream is read as hyper
/// reads a body: the time from the first wait to the 408, or `None` if
/// all `bytes` went through.
async fn trickle(
    stream: &mut Strict<DuplexStream>,
    client: DuplexStream,
    gap: Duration,
    bytes: usize,
) -> Option<Duration> {
    let sender = tokio::spawn(async move {
        let mut client = client;
        for _ in 0..bytes {
            tokio::time::sleep(gap).await;
            client.write_all(b"x").await.unwrap();
        }
        client
    });
    let start = Instant::now();
    let mut got = 0;
    while got < bytes {
        match read(stream).await.0 {
            Ok(read) => {
                assert!(!read.is_empty(), "the stream ended");
                got += read.len();
            }
            Err(kind) => {
                assert_eq!(kind, std::io::ErrorKind::TimedOut);
                sender.abort();
                return Some(start.elapsed());
            }
        }
    }
    sender.await.unwrap();
    None
}

#[tokio::test(start_paused = true)]
async fn a_body_trickled_within_the_read_timeout_is_cut_at_the_min_rate() {
    // A byte every 4 s never trips the 5 s between reads; at 100 bytes a
    // second it has 5 s of grace and 10 ms a byte, all used by the first
    // gap and most of the second.
    let (mut stream, client) = posted(Some(100), 1000).await;
    let cut = trickle(&mut stream, client, Duration::from_secs(4), 1000).await;
    let cut = cut.expect("the trickle went through");
    assert!(
        cut >= Duration::from_millis(5_010) && cut < Duration::from_millis(5_100),
        "cut after {cut:?}"
    );

    // Without a minimum rate the same trickle goes on.
    let (mut stream, client) = posted(None, 6).await;
    assert_eq!(
        trickle(&mut stream, client, Duration::from_secs(4), 6).await,
        None
    );
}

#[tokio::test(start_paused = true)]
async fn a_body_above_the_min_rate_is_never_cut_however_long_it_lasts() {
    // 125 bytes a second for a minute, twelve times the grace.
    let (mut stream, client) = posted(Some(100), 7500).await;
    let sender = tokio::spawn(async move {
        let mut client = client;
        for _ in 0..150 {
            tokio::time::sleep(Duration::from_millis(400)).await;
            client.write_all(&[b'x'; 50]).await.unwrap();
        }
        client
    });
    let mut got = 0;
    while got < 7500 {
        let (result, _) = read(&mut stream).await;
        got += result.expect("a body at 125 bytes a second was cut").len();
    }
    sender.await.unwrap();
}

/// Sends `bytes` after `delay`, while the stream is read; the client back.
fn send_after(
    mut client: DuplexStream,
    delay: Duration,
    bytes: &'static [u8],
) -> tokio::task::JoinHandle<DuplexStream> {
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        client.write_all(bytes).await.unwrap();
        client
    })
}

#[tokio::test(start_paused = true)]
async fn the_applications_time_between_reads_and_earlier_bodies_do_not_count() {
    let (mut stream, client) = posted(Some(100), 2).await;
    // 3 s waiting for the first byte; then the application works for a
    // minute without reading; then 1 s waiting for the second byte. 4 s
    // waited of the 5.02 s the two bytes allow; 64 s if the minute counted.
    let sender = send_after(client, Duration::from_secs(3), b"x");
    assert_eq!(read(&mut stream).await.0, Ok(b"x".to_vec()));
    let client = sender.await.unwrap();
    tokio::time::sleep(Duration::from_secs(60)).await;
    let sender = send_after(client, Duration::from_secs(1), b"y");
    assert_eq!(read(&mut stream).await.0, Ok(b"y".to_vec()));
    let mut client = sender.await.unwrap();
    stream
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        .await
        .unwrap();

    // The next request's body has an account of its own: 4 s of waiting
    // is within its grace, where only 1.02 s is left of the first body's.
    post(&mut stream, &mut client, 1).await;
    let sender = send_after(client, Duration::from_secs(4), b"z");
    assert_eq!(read(&mut stream).await.0, Ok(b"z".to_vec()));
    sender.await.unwrap();
}

const SEND: Duration = Duration::from_secs(5);

/// A validated stream with `send_timeout` (`timeout`) whose client has a
/// 4 KiB window, and its client's end.
fn sending(timeout: Option<Duration>) -> (Strict<DuplexStream>, DuplexStream) {
    sending_with(Some(GUNICORN), timeout)
}

fn sending_with(limits: Option<Limits>, timeout: Option<Duration>) -> (Strict<DuplexStream>, DuplexStream) {
    let (client, server) = tokio::io::duplex(4096);
    (
        stack(
            server,
            limits,
            Clocks {
                send: timeout,
                ..Clocks::default()
            },
        ),
        client,
    )
}

/// Writes `total` bytes to the client as hyper writes a response; the
/// error's kind and when it came, or `Ok` and when all went.
async fn respond(
    stream: &mut Strict<DuplexStream>,
    total: usize,
) -> (Result<(), std::io::ErrorKind>, Duration) {
    let start = Instant::now();
    let chunk = [b'r'; 1024];
    let mut sent = 0;
    while sent < total {
        match stream.write(&chunk).await {
            Ok(n) => sent += n,
            Err(e) => return (Err(e.kind()), start.elapsed()),
        }
    }
    (Ok(()), start.elapsed())
}

#[tokio::test(start_paused = true)]
async fn a_client_that_reads_nothing_is_cut_at_the_send_timeout() {
    let (mut stream, _client) = sending(Some(SEND));
    let (result, after) = respond(&mut stream, 64 * 1024).await;
    assert_eq!(result, Err(std::io::ErrorKind::TimedOut));
    assert!(
        after >= SEND && after < SEND + Duration::from_millis(10),
        "cut after {after:?}"
    );

    // With strict_http off too: the clock watches writes, not requests.
    let (mut stream, _client) = sending_with(None, Some(SEND));
    let (result, after) = respond(&mut stream, 64 * 1024).await;
    assert_eq!(result, Err(std::io::ErrorKind::TimedOut));
    assert!(
        after >= SEND && after < SEND + Duration::from_millis(10),
        "cut after {after:?}"
    );

    // Without the timeout, the write waits for as long as it takes.
    let (mut stream, _client) = sending(None);
    let waited = tokio::time::timeout(SEND * 4, respond(&mut stream, 64 * 1024)).await;
    assert!(waited.is_err(), "{waited:?}");
}

#[tokio::test(start_paused = true)]
async fn a_client_that_reads_slowly_but_steadily_gets_all_of_it() {
    // 1 KiB every 4 s: each write waits less than the timeout, and the
    // whole response takes over a minute.
    let (mut stream, mut client) = sending(Some(SEND));
    let reader = tokio::spawn(async move {
        let mut buf = [0u8; 1024];
        let mut got = 0;
        while got < 20 * 1024 {
            tokio::time::sleep(Duration::from_secs(4)).await;
            got += client.read(&mut buf).await.unwrap();
        }
        got
    });
    let (result, after) = respond(&mut stream, 20 * 1024).await;
    assert_eq!(result, Ok(()));
    assert!(after > Duration::from_secs(60), "{after:?}");
    assert!(reader.await.unwrap() >= 20 * 1024);
}
