//! Chunked framing and trailers: the bytes after a head that asks for a
//! chunked body, through the validator as `http1` feeds it.
#![no_main]

use libfuzzer_sys::fuzz_target;

const HEAD: &[u8] = b"POST /upload HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n";

fuzz_target!(|data: &[u8]| {
    let [a, body @ ..] = data else { return };
    let mut input = HEAD.to_vec();
    input.extend_from_slice(body);
    let cut = HEAD.len() + usize::from(*a) * body.len() / 255;
    let outcome = rg_internal::fuzz::http1(&input, &[cut]);
    assert!(
        outcome.heads >= 1 || outcome.refused.is_some(),
        "the head was not read"
    );
});
