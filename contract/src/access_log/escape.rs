//! Escaping what a client sent before it goes into a line, as nginx does:
//! a hostile header cannot forge a line, and a line is always ASCII.

/// Copies `bytes`, escaping quotes, backslashes and every byte outside
/// printable ASCII (`\xe9`) as nginx does, so a hostile header cannot
/// forge a log line and a line is always ASCII.
#[inline]
pub(super) fn escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    // Most values need no escaping: copy them whole.
    if plain(bytes) {
        out.extend_from_slice(bytes);
        return;
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        match b {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
            0x20..0x7f => out.push(b),
            _ => out.extend_from_slice(&[b'\\', b'x', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]),
        }
    }
}

/// Whether `bytes` go into a line as they are: printable ASCII without
/// `"` or `\`. Checked sixteen bytes at a time with no early exit inside
/// a chunk, which the compiler turns into vector compares: a browser's
/// User-Agent is over a hundred bytes, and this runs on every request.
fn plain(bytes: &[u8]) -> bool {
    let needs_escape = |b: u8| !(0x20..0x7f).contains(&b) | (b == b'"') | (b == b'\\');
    let any = |chunk: &[u8]| chunk.iter().fold(false, |any, &b| any | needs_escape(b));
    let mut chunks = bytes.chunks_exact(16);
    for chunk in &mut chunks {
        if any(chunk) {
            return false;
        }
    }
    match chunks.remainder() {
        [] => true,
        // The tail as the last sixteen bytes, overlapping the chunk before
        // it: one more vector compare instead of a loop over each byte.
        _ if bytes.len() >= 16 => !any(&bytes[bytes.len() - 16..]),
        tail => !tail.iter().any(|&b| needs_escape(b)),
    }
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, Method};

    use super::*;
    use crate::access_log::AccessFormat;
    use crate::access_log::record::tests::record;

    #[test]
    fn values_are_escaped_as_nginx_does_wherever_the_byte_falls() {
        // A value the whole-chunk check must catch in any of its chunks,
        // or in the tail after them.
        for len in 1..40 {
            for at in 0..len {
                for (byte, written) in [
                    (b'"', "\\\""),
                    (b'\\', "\\\\"),
                    (b'\t', "\\x09"),
                    (0x7f, "\\x7f"),
                    (0xe9, "\\xe9"),
                    (0x00, "\\x00"),
                ] {
                    let mut value = vec![b'a'; len];
                    value[at] = byte;
                    let mut out = Vec::new();
                    escaped(&mut out, &value);
                    let expected = format!("{}{written}{}", "a".repeat(at), "a".repeat(len - at - 1));
                    assert_eq!(
                        String::from_utf8(out).unwrap(),
                        expected,
                        "{len} bytes, {byte:#x} at {at}"
                    );
                }
            }
            let mut out = Vec::new();
            escaped(&mut out, "a~ ".repeat(len).as_bytes());
            assert_eq!(out, "a~ ".repeat(len).as_bytes());
        }
        // A header that is not text (Latin-1) is written, escaped, not dropped.
        let req = [None, http::HeaderValue::from_bytes(b"caf\xe9 \"x\"").ok()];
        let resp = HeaderMap::new();
        let line = AccessFormat::combined().render(&record(&req, &resp, &Method::GET));
        assert!(line.ends_with(r#" "-" "caf\xe9 \"x\"""#), "{line}");
    }
}
