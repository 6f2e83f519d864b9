//! The strict HTTP/1.1 validator on any bytes: it never panics, its verdict
//! is the same whole, cut in three, and byte by byte (the first two bytes
//! choose the cuts), and what it lets through of the first request, hyper's
//! parser (httparse) takes: else hyper would answer it, not the validator.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// hyper's default, and rg's `limit_request_fields`.
const FIELDS: usize = 100;
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fuzz_target!(|data: &[u8]| {
    let [a, b, input @ ..] = data else { return };
    let len = input.len();
    let cuts = [usize::from(*a) * len / 255, usize::from(*b) * len / 255];
    let outcome = rg_internal::fuzz::http1(input, &cuts);
    let passed = &input[..outcome.passed];
    let mut fields = [httparse::EMPTY_HEADER; FIELDS];
    // The HTTP/2 preface, or a start of it, is for hyper's HTTP/2 side.
    if !(PREFACE.starts_with(passed) || passed.starts_with(PREFACE)) {
        if let Err(e) = httparse::Request::new(&mut fields).parse(passed) {
            panic!(
                "passed what hyper refuses ({e}): {:?}",
                String::from_utf8_lossy(passed)
            );
        }
    }
});
