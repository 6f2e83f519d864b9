//! Times as logs write them, in UTC, without a date-time crate: the
//! common log format's `10/Oct/2000:13:55:36 +0000` and RFC 3339's
//! `2000-10-10T13:55:36.123Z`.

use std::cell::Cell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
/// The second is recognised by comparing times, which is inline, instead
/// of taking the time since the epoch, which is a call: the time is
/// written on every line.
pub fn push_clf_time(out: &mut Vec<u8>, t: SystemTime) {
    thread_local! {
        /// The second whose text is kept: from its start to the next's.
        static SECOND: Cell<(SystemTime, SystemTime)> = const { Cell::new((UNIX_EPOCH, UNIX_EPOCH)) };
        /// Its text, in 32 bytes: copied as two 16-byte blocks, each
        /// loaded as it was stored (26 bytes would be copied in pieces
        /// that overlap, and the load of one stalls on the store of two).
        static TEXT: Cell<[u8; 32]> = const { Cell::new([0; 32]) };
    }
    let (from, to) = SECOND.get();
    if from <= t && t < to {
        let at = out.len();
        out.extend_from_slice(&TEXT.get());
        out.truncate(at + CLF_LEN);
        return;
    }
    let formatted = format_clf_time(t);
    match <[u8; CLF_LEN]>::try_from(formatted.as_bytes()) {
        Ok(text) => {
            let since_epoch = t.duration_since(UNIX_EPOCH).unwrap_or_default();
            let from = UNIX_EPOCH + Duration::from_secs(since_epoch.as_secs());
            SECOND.set((from, from + Duration::from_secs(1)));
            let mut padded = [0; 32];
            padded[..CLF_LEN].copy_from_slice(&text);
            TEXT.set(padded);
            out.extend_from_slice(&text);
        }
        // A year of other than four digits, or before 1970.
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

    #[test]
    fn the_kept_second_is_only_used_within_that_second() {
        let base = UNIX_EPOCH + Duration::from_millis(971_186_136_000);
        // Within a second, into the next, back to the one before, far off.
        let steps: [i64; 9] = [0, 999, 1_000, 1_001, 999, -1, -1_000, 86_400_000, 999];
        for ms in steps {
            let t = if ms >= 0 {
                base + Duration::from_millis(ms as u64)
            } else {
                base - Duration::from_millis(ms.unsigned_abs())
            };
            let mut out = b"x".to_vec();
            push_clf_time(&mut out, t);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                format!("x{}", format_clf_time(t)),
                "{ms} ms"
            );
        }
    }

    #[test]
    fn formats_both_ways() {
        let t = UNIX_EPOCH + Duration::from_millis(971_186_136_123);
        assert_eq!(clf_time(t), "10/Oct/2000:13:55:36 +0000");
        assert_eq!(rfc3339(t), "2000-10-10T13:55:36.123Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000Z");
    }
}
