//! The header and body timeouts the stream keeps, on tokio's paused clock
//! (it jumps ahead whenever every task waits, so a test takes no time).

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, DuplexStream};
use tokio::time::Instant;

use super::Strict;
use rg_contract::settings::Limits;

const HEAD: Duration = Duration::from_secs(5);

const GUNICORN: Limits = Limits {
    request_line: 4094,
    request_fields: 100,
    request_field_size: 8190,
};

/// A validated stream with the header timeout, and its client's end.
fn connection(limits: Option<Limits>) -> (Strict<DuplexStream>, DuplexStream) {
    let (client, server) = tokio::io::duplex(4096);
    (Strict::new(server, limits, None).with_head_timeout(HEAD), client)
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
