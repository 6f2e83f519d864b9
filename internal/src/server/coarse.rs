//! Clocks to the kernel's tick (a few milliseconds), for the per-request
//! readings that need no finer: the access log's `%t` (whole seconds) and
//! when a connection last answered (the slots pick idle connections by
//! seconds). Linux keeps these in the vDSO's data page, so a reading is a
//! load, not a read of the TSC: 8 ns here against 31-35 ns for
//! `SystemTime::now` and `Instant::now`, once or twice per request.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The wall clock, to the tick.
pub(super) fn wall() -> SystemTime {
    #[cfg(target_os = "linux")]
    if let Some(since_epoch) = read(libc::CLOCK_REALTIME_COARSE) {
        return UNIX_EPOCH + since_epoch;
    }
    SystemTime::now()
}

/// Milliseconds on a monotonic clock, to the tick, from an arbitrary start
/// (the machine's boot on Linux).
pub(super) fn millis() -> u64 {
    #[cfg(target_os = "linux")]
    if let Some(since_boot) = read(libc::CLOCK_MONOTONIC_COARSE) {
        return since_boot.as_millis() as u64;
    }
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed().as_millis() as u64
}

#[cfg(target_os = "linux")]
fn read(clock: libc::clockid_t) -> Option<Duration> {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which `now` is.
    let read = unsafe { libc::clock_gettime(clock, &mut now) };
    (read == 0).then(|| Duration::new(now.tv_sec as u64, now.tv_nsec as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coarse_clocks_follow_the_fine_ones_to_within_a_tick() {
        let fine = SystemTime::now();
        let coarse = wall();
        let apart = fine.duration_since(coarse).unwrap_or_else(|e| e.duration());
        assert!(apart < Duration::from_millis(50), "{apart:?} apart");

        let before = millis();
        std::thread::sleep(Duration::from_millis(100));
        let waited = millis() - before;
        assert!((80..1000).contains(&waited), "100 ms read as {waited} ms");
    }
}
