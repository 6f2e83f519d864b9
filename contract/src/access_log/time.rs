//! Times as logs write them, in UTC, without a date-time crate: the
//! common log format's `10/Oct/2000:13:55:36 +0000` and RFC 3339's
//! `2000-10-10T13:55:36.123Z`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Civil UTC date and time of `t`: (year, month, day, hour, minute, second).
pub(super) fn civil(t: SystemTime) -> (i64, u32, u32, u64, u64, u64) {
    let secs = t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// `10/Oct/2000:13:55:36 +0000`, the common log format's time, in UTC.
/// Formatted once per second per thread: a busy worker logs thousands of
/// lines with the same time.
pub fn clf_time(t: SystemTime) -> String {
    let mut out = Vec::new();
    push_clf_time(&mut out, t);
    String::from_utf8_lossy(&out).into_owned()
}

/// Appends [`clf_time`] to `out`, from the per-thread copy of this
/// second's text: no allocation per line, and a copy of a known length.
pub fn push_clf_time(out: &mut Vec<u8>, t: SystemTime) {
    thread_local! {
        static LAST: std::cell::Cell<(u64, [u8; CLF_LEN])> = const { std::cell::Cell::new((u64::MAX, [0; CLF_LEN])) };
    }
    let second = t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (cached, text) = LAST.get();
    if cached == second {
        out.extend_from_slice(&text);
        return;
    }
    let formatted = format_clf_time(t);
    match <[u8; CLF_LEN]>::try_from(formatted.as_bytes()) {
        Ok(text) => {
            LAST.set((second, text));
            out.extend_from_slice(&text);
        }
        // A year of other than four digits.
        Err(_) => out.extend_from_slice(formatted.as_bytes()),
    }
}

/// The length of [`clf_time`]'s text in years 1000 to 9999.
const CLF_LEN: usize = 26;

fn format_clf_time(t: SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, mo, d, h, mi, s) = civil(t);
    let month = MONTHS[(mo as usize).saturating_sub(1) % 12];
    format!("{d:02}/{month}/{y}:{h:02}:{mi:02}:{s:02} +0000")
}

/// `2000-10-10T13:55:36.123Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = civil(t);
    let ms = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_millis())
        .unwrap_or(0);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_both_ways() {
        let t = UNIX_EPOCH + Duration::from_millis(971_186_136_123);
        assert_eq!(clf_time(t), "10/Oct/2000:13:55:36 +0000");
        assert_eq!(rfc3339(t), "2000-10-10T13:55:36.123Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000Z");
    }
}
