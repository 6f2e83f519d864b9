//! Appending a line's fields without the formatting machinery: a line is
//! written for every request, so numbers, addresses and methods are copied
//! at lengths the compiler knows.

use std::io::Write as _;
use std::net::IpAddr;

use http::{Method, Version};

/// The protocol as a line writes it, `HTTP/1.1`.
#[inline]
pub(super) fn version_str(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// [`version_str`] as the eight bytes it always is, for a copy of a known
/// length.
#[inline]
pub(super) fn version_bytes(v: Version) -> &'static [u8; 8] {
    match v {
        Version::HTTP_09 => b"HTTP/0.9",
        Version::HTTP_10 => b"HTTP/1.0",
        Version::HTTP_2 => b"HTTP/2.0",
        Version::HTTP_3 => b"HTTP/3.0",
        _ => b"HTTP/1.1",
    }
}

/// Appends the method, the common ones as literals (a copy of a known
/// length: a few moves, where a copy of a length the compiler does not
/// know is a call to `memcpy`).
#[inline]
pub(super) fn push_method(out: &mut Vec<u8>, method: &Method) {
    match *method {
        Method::GET => out.extend_from_slice(b"GET"),
        Method::POST => out.extend_from_slice(b"POST"),
        Method::HEAD => out.extend_from_slice(b"HEAD"),
        Method::PUT => out.extend_from_slice(b"PUT"),
        Method::DELETE => out.extend_from_slice(b"DELETE"),
        _ => out.extend_from_slice(method.as_str().as_bytes()),
    }
}

/// Appends the first `len` bytes of `buf` with one copy of all of it: a
/// copy of a known length, then the end cut off. For the short fields of
/// a line (an address, a number), which would otherwise each cost a call
/// to `memcpy`.
#[inline(always)]
fn push_prefix<const N: usize>(out: &mut Vec<u8>, buf: &[u8; N], len: usize) {
    let at = out.len();
    out.extend_from_slice(buf);
    out.truncate(at + len.min(N));
}

/// Appends `n` in decimal, without the formatting machinery (a line is
/// written for every request). The digits are gathered in a register, not
/// in memory: bytes stored one at a time and then loaded as one block
/// stall the load until every store is done.
#[inline]
pub(super) fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let len = n.checked_ilog10().unwrap_or(0) as usize + 1;
    if len > 16 {
        return out.extend_from_slice(n.to_string().as_bytes());
    }
    // From the last digit to the first, each shifted in below the ones
    // after it: the first digit ends in the lowest byte.
    let mut text = 0u128;
    for _ in 0..len {
        text = text << 8 | u128::from(b'0' + (n % 10) as u8);
        n /= 10;
    }
    push_prefix(out, &text.to_le_bytes(), len);
}

/// Appends an address as `Display` would: IPv4 by hand, IPv6 formatted.
#[inline]
pub(super) fn push_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            // Each octet's text and its dot, four bytes whatever the
            // octet's length, gathered in a register (see `push_u64`);
            // then the whole address is copied without the last dot.
            let mut text = 0u128;
            let mut at = 0;
            for octet in v4.octets() {
                let (len, digits) = OCTETS[usize::from(octet)];
                text |= u128::from(u32::from_le_bytes(digits)) << (at * 8);
                at += u32::from(len);
            }
            push_prefix(out, &text.to_le_bytes(), at as usize - 1);
        }
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// Each octet (0-255) in decimal followed by a dot, in four bytes (the
/// rest zero), with the length of the digits and the dot: an address is
/// rendered by four table reads instead of divisions.
static OCTETS: [(u8, [u8; 4]); 256] = {
    let mut table = [(0, [0; 4]); 256];
    let mut n = 0;
    while n < 256 {
        let (h, t, o) = (
            b'0' + (n / 100) as u8,
            b'0' + (n / 10 % 10) as u8,
            b'0' + (n % 10) as u8,
        );
        table[n] = match n {
            100.. => (4, [h, t, o, b'.']),
            10.. => (3, [t, o, b'.', 0]),
            _ => (2, [o, b'.', 0, 0]),
        };
        n += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use http::{HeaderMap, Method, StatusCode, Version};

    use crate::access_log::AccessFormat;
    use crate::access_log::record::tests::record;

    #[test]
    fn every_octet_and_every_length_of_number_match_display() {
        let format = AccessFormat::parse("%h %B").unwrap();
        let resp = HeaderMap::new();
        let mut numbers: Vec<u64> = (0..20).flat_map(|k| [10u64.pow(k), 10u64.pow(k) - 1]).collect();
        numbers.extend([7, 13, 4_096, u64::MAX]);
        for (i, n) in (0..=255u8).zip(numbers.iter().cycle()) {
            let ip = std::net::Ipv4Addr::new(i, 255 - i, i / 2, i % 10);
            let mut r = record(&[], &resp, &Method::GET);
            r.remote = Some(ip.into());
            r.bytes = Some(*n);
            let mut out = Vec::new();
            format.render_into(&mut out, &r);
            assert_eq!(String::from_utf8(out).unwrap(), format!("{ip} {n}"));
        }
    }

    #[test]
    fn fields_copied_at_a_fixed_length_match_display() {
        let format = AccessFormat::parse("%h %B %m %s %H").unwrap();
        let resp = HeaderMap::new();
        let post = Method::POST;
        let patch = Method::PATCH;
        let custom = Method::from_bytes(b"PROPFIND").unwrap();
        let cases = [
            ("0.0.0.0", 0, &Method::GET, 200, Version::HTTP_11),
            ("9.10.99.100", 9, &post, 404, Version::HTTP_10),
            ("255.255.255.255", 10, &patch, 101, Version::HTTP_2),
            ("10.0.100.9", 12_345, &custom, 599, Version::HTTP_09),
            ("1.22.203.4", u64::MAX, &Method::DELETE, 302, Version::HTTP_3),
        ];
        for (ip, bytes, method, status, version) in cases {
            let mut r = record(&[], &resp, method);
            r.remote = Some(ip.parse().unwrap());
            r.bytes = Some(bytes);
            r.status = StatusCode::from_u16(status).unwrap();
            r.version = version;
            let mut out = b"before ".to_vec();
            format.render_into(&mut out, &r);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                format!("before {ip} {bytes} {method} {status} {version:?}")
            );
        }
    }
}
