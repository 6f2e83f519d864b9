//! Apache's `%` directives, each appended to a line as Apache writes it;
//! and the combined and common formats as straight-line code over them.

use super::AccessRecord;
use super::append::{push_ip, push_method, push_u64, version_bytes};
use super::escape::escaped;
use super::time::push_clf_time;

/// `%h - - [%t] "%r" %s %b`, then ` "%{Referer}i" "%{User-Agent}i"` for
/// the combined format: each field as a pattern renders it, in a fixed
/// order with no loop to dispatch on.
#[inline]
pub(super) fn render_apache(out: &mut Vec<u8>, r: &AccessRecord<'_>, referer_and_agent: bool) {
    field(out, 'h', r);
    out.extend_from_slice(b" - - [");
    field(out, 't', r);
    out.extend_from_slice(b"] \"");
    field(out, 'r', r);
    out.extend_from_slice(b"\" ");
    field(out, 's', r);
    out.push(b' ');
    field(out, 'b', r);
    if referer_and_agent {
        out.extend_from_slice(b" \"");
        header_or_dash(out, r.request_header_bytes(0));
        out.extend_from_slice(b"\" \"");
        header_or_dash(out, r.request_header_bytes(1));
        out.push(b'"');
    }
}

/// A request header's value, escaped, or `-` when the request had none.
fn header_or_dash(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        Some(value) => escaped(out, value),
        None => out.push(b'-'),
    }
}

/// One `%` directive; inlined into [`render_apache`], where each `c` is a
/// constant and the match goes.
#[inline(always)]
pub(super) fn field(out: &mut Vec<u8>, c: char, r: &AccessRecord<'_>) {
    let query = || r.path_and_query.split_once('?');
    match c {
        'h' => match r.remote {
            Some(ip) => push_ip(out, ip),
            None => out.push(b'-'),
        },
        't' => push_clf_time(out, r.time),
        'r' => {
            push_method(out, r.method);
            out.push(b' ');
            escaped(out, r.path_and_query.as_bytes());
            out.push(b' ');
            out.extend_from_slice(version_bytes(r.version));
        }
        'm' => push_method(out, r.method),
        'U' => escaped(out, query().map_or(r.path_and_query, |(path, _)| path).as_bytes()),
        'q' => {
            if let Some((_, q)) = query() {
                out.push(b'?');
                escaped(out, q.as_bytes());
            }
        }
        'H' => out.extend_from_slice(version_bytes(r.version)),
        's' => match <&[u8; 3]>::try_from(r.status.as_str().as_bytes()) {
            // A status code is three digits.
            Ok(three) => out.extend_from_slice(three),
            Err(_) => out.extend_from_slice(r.status.as_str().as_bytes()),
        },
        'b' => match r.bytes {
            Some(n) if n > 0 => push_u64(out, n),
            _ => out.push(b'-'),
        },
        'B' => push_u64(out, r.bytes.unwrap_or(0)),
        'D' => push_u64(out, u64::try_from(r.duration.as_micros()).unwrap_or(u64::MAX)),
        'M' => push_u64(out, u64::try_from(r.duration.as_millis()).unwrap_or(u64::MAX)),
        'T' => push_u64(out, r.duration.as_secs()),
        'p' => push_u64(out, u64::from(std::process::id())),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http::{HeaderMap, Method};

    use crate::access_log::AccessFormat;
    use crate::access_log::record::tests::record;

    #[test]
    fn numbers_addresses_and_headers_render_as_apache_writes_them() {
        let format = AccessFormat::parse("%h|%b|%B|%D|%M|%T|%p|%{A}i|%{B}i|%{C}i").unwrap();
        assert!(format.times_requests());
        assert!(!AccessFormat::combined().times_requests());
        assert!(AccessFormat::Json.shows_milliseconds());
        assert!(!AccessFormat::combined().shows_milliseconds());
        assert_eq!(format.request_headers().len(), 3);
        let resp = HeaderMap::new();
        // Values in the format's order; one missing at the end.
        let req = [Some(http::HeaderValue::from_static("a")), None];
        let mut r = record(&req, &resp, &Method::GET);
        r.remote = Some("255.0.10.1".parse().unwrap());
        r.bytes = Some(0);
        r.duration = Duration::from_millis(12_345);
        let pid = std::process::id();
        assert_eq!(
            format.render(&r),
            format!("255.0.10.1|-|0|12345000|12345|12|{pid}|a|-|-")
        );
        r.remote = Some("::1".parse().unwrap());
        r.bytes = Some(u64::MAX);
        r.duration = Duration::ZERO;
        assert_eq!(
            format.render(&r),
            format!("::1|{0}|{0}|0|0|0|{pid}|a|-|-", u64::MAX)
        );
    }
}
