//! `rg runserver`'s request line, like Django's: the time, the request,
//! the status in colour on a terminal, the size and the time taken.

use std::io::Write as _;

use super::AccessRecord;
use super::append::version_str;
use super::escape::escaped;
use super::time::civil;

/// Appends the line, the status coloured by its class when `color`.
pub(super) fn render_dev(out: &mut Vec<u8>, r: &AccessRecord<'_>, color: bool) {
    let (y, mo, d, h, mi, s) = civil(r.time);
    let status = r.status.as_u16();
    let (start, end) = match (color, status) {
        (false, _) => ("", ""),
        (true, 500..) => ("\x1b[1;31m", "\x1b[0m"),
        (true, 400..) => ("\x1b[33m", "\x1b[0m"),
        (true, 300..) => ("\x1b[36m", "\x1b[0m"),
        (true, _) => ("\x1b[32m", "\x1b[0m"),
    };
    let _ = write!(
        out,
        "[{d:02}/{mo:02}/{y} {h:02}:{mi:02}:{s:02}] {start}\"{} ",
        r.method
    );
    escaped(out, r.path_and_query.as_bytes());
    let _ = write!(
        out,
        " {}\" {status}{end} {} {:.1}ms",
        version_str(r.version),
        r.bytes.map_or("-".to_string(), |b| b.to_string()),
        r.duration.as_secs_f64() * 1000.0
    );
}
