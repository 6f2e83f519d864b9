//! The byte classes of RFC 9110 and 9112 the parsers test on every byte:
//! tables and a word-at-a-time run, so plain heads are read in strides.

/// RFC 9110 §5.6.2 token characters, as a table.
static TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = matches!(b as u8,
            b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~'
            | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z');
        b += 1;
    }
    table
};

/// A token character: what method and field names are made of.
#[inline]
pub(super) fn is_tchar(b: u8) -> bool {
    TCHAR[usize::from(b)]
}

/// The length of the run of token characters at the start of `bytes`.
#[inline]
pub(super) fn token_run(bytes: &[u8]) -> usize {
    bytes.iter().position(|&b| !is_tchar(b)).unwrap_or(bytes.len())
}

/// What a field value may hold (RFC 9110 §5.5): HTAB, SP, VCHAR, obs-text.
#[inline]
pub(super) fn is_value_byte(b: u8) -> bool {
    b == b'\t' || (b >= b' ' && b != 0x7f)
}

/// What may appear in a request target: visible ASCII (RFC 3986). hyper
/// refuses other bytes too, but with a bare 400 that no log line tells.
#[inline]
pub(super) fn is_target_byte(b: u8) -> bool {
    b > b' ' && b < 0x7f
}

/// The value of a hexadecimal digit.
#[inline]
pub(super) fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The length of the run of bytes at the start of `bytes` that `ok`
/// accepts, where `ok` accepts every byte from `low` up but DEL (and maybe
/// some below `low`), and above DEL only if not `ascii`: eight bytes at a
/// time up to the first byte it may not accept, then one at a time.
#[inline]
pub(super) fn run_of(bytes: &[u8], low: u8, ascii: bool, ok: fn(u8) -> bool) -> usize {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGHS: u64 = ONES * 0x80;
    let below = ONES * u64::from(low);
    let del = ONES * 0x7f;
    let mut i = 0;
    for word in bytes.chunks_exact(8) {
        let mut array = [0u8; 8];
        array.copy_from_slice(word);
        let w = u64::from_le_bytes(array);
        // A byte below `low` (exact for `low` <= 0x80), or a zero byte of
        // `w ^ del`, that is a DEL (bytes >= 0x80 set neither), or one >= 0x80. Borrows
        // run upwards only, so the lowest byte marked is a true one.
        let low_byte = w.wrapping_sub(below) & !w & HIGHS;
        let x = w ^ del;
        let del_byte = x.wrapping_sub(ONES) & !x & HIGHS;
        let marked = low_byte | del_byte | if ascii { w & HIGHS } else { 0 };
        if marked != 0 {
            i += (marked.trailing_zeros() / 8) as usize;
            break;
        }
        i += 8;
    }
    i + bytes[i..].iter().position(|&b| !ok(b)).unwrap_or(bytes.len() - i)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `run_of` against a byte-at-a-time scan, for a run stopped at every
    /// position by every kind of byte, with more stoppers after it (they
    /// mark bytes falsely once a borrow has crossed into them).
    #[test]
    fn run_of_stops_where_a_scan_stops() {
        let fill = [b'a', b' ', b'\t', 0x80, 0xff, b'~', b'!'];
        for (low, ascii, ok) in [
            (0x20, false, is_value_byte as fn(u8) -> bool),
            (0x21, true, is_target_byte),
        ] {
            for len in 0..24 {
                for stop in [0x00, b'\t', b'\r', 0x1f, b' ', 0x7f] {
                    for at in 0..=len {
                        let mut bytes: Vec<u8> = (0..len).map(|n| fill[n % fill.len()]).collect();
                        if at < len {
                            bytes[at] = stop;
                        }
                        bytes.extend_from_slice(&[0x7f, 0x00, b'\r', 0x7f]);
                        let scan = bytes.iter().position(|&b| !ok(b)).unwrap_or(bytes.len());
                        assert_eq!(run_of(&bytes, low, ascii, ok), scan, "{bytes:?}");
                    }
                }
            }
        }
    }
}
