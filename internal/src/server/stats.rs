//! The worker's request counts for `rg serve`'s metrics port, kept in
//! atomics (no syscall, no lock, no allocation per request) and sent to the
//! master once a second and once more at exit (see `rg_contract::stats`
//! for why that loses nothing). Only kept when the master asks for them
//! (`metrics_bind`); otherwise the serving loop skips all of this.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use rg_contract::notify::Notification;
use rg_contract::notify::Notifier;
use rg_contract::stats::{self, BUCKETS, CLASSES, Counts, METHODS, PROTOCOLS};

/// The live counts of one worker.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    requests: [[[AtomicU64; CLASSES.len()]; METHODS.len()]; PROTOCOLS.len()],
    durations: [AtomicU64; BUCKETS],
    duration_micros: AtomicU64,
    closed_idle: AtomicU64,
    panics: AtomicU64,
    in_flight: AtomicU64,
    connections: AtomicU64,
}

impl Stats {
    /// A request has begun; it is in flight until the guard drops.
    pub(crate) fn begin(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Relaxed);
        InFlight {
            stats: self,
            started: Instant::now(),
        }
    }

    /// A connection was accepted; it is open until the guard drops.
    pub(crate) fn open(self: &Arc<Self>) -> Open {
        self.connections.fetch_add(1, Relaxed);
        Open(self.clone())
    }

    /// A request refused before the application (strict HTTP): counted as
    /// answered with `status`, in no time.
    pub(crate) fn refused(&self, method: &[u8], status: u16) {
        let method = std::str::from_utf8(method).unwrap_or("other");
        // Only HTTP/1 requests are refused before hyper.
        let (p, m, c) = (
            stats::protocol_index(false),
            stats::method_index(method),
            stats::class_index(status),
        );
        self.requests[p][m][c].fetch_add(1, Relaxed);
        self.durations[0].fetch_add(1, Relaxed);
    }

    /// An idle connection was told to close to make room for a new client.
    pub(crate) fn closed_idle(&self) {
        self.closed_idle.fetch_add(1, Relaxed);
    }

    /// A handler panicked (its request is counted as answered 500 too).
    pub(crate) fn panicked(&self) {
        self.panics.fetch_add(1, Relaxed);
    }

    /// The counts as they are now.
    pub(crate) fn snapshot(&self) -> Counts {
        let mut counts = Counts::default();
        for (slot, atomic) in counts
            .requests
            .iter_mut()
            .flatten()
            .flatten()
            .zip(self.requests.iter().flatten().flatten())
        {
            *slot = atomic.load(Relaxed);
        }
        for (slot, atomic) in counts.durations.iter_mut().zip(&self.durations) {
            *slot = atomic.load(Relaxed);
        }
        counts.duration_micros = self.duration_micros.load(Relaxed);
        counts.closed_idle = self.closed_idle.load(Relaxed);
        counts.panics = self.panics.load(Relaxed);
        counts.in_flight = self.in_flight.load(Relaxed);
        counts.connections = self.connections.load(Relaxed);
        counts
    }

    /// Sends the counts to the master.
    pub(crate) fn report(&self, notifier: &Notifier) {
        let _ = notifier.send(&Notification::counts(self.snapshot()));
    }

    /// Reports every second, for as long as the runtime runs.
    pub(crate) fn report_every_second(self: Arc<Self>, notifier: Arc<Notifier>) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                self.report(&notifier);
            }
        });
    }
}

/// A request in flight; [`InFlight::answered`] counts it.
pub(crate) struct InFlight<'a> {
    stats: &'a Stats,
    started: Instant,
}

impl InFlight<'_> {
    /// The request was answered with `status`: count it by protocol,
    /// method, status class and time to the response's head. (A request
    /// whose client left before the answer is not counted as answered.)
    pub(crate) fn answered(self, http2: bool, method: &http::Method, status: u16) {
        let micros = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let stats = self.stats;
        let (p, m) = (stats::protocol_index(http2), stats::method_index(method.as_str()));
        stats.requests[p][m][stats::class_index(status)].fetch_add(1, Relaxed);
        stats.durations[stats::bucket_index(micros)].fetch_add(1, Relaxed);
        stats.duration_micros.fetch_add(micros, Relaxed);
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.stats.in_flight.fetch_sub(1, Relaxed);
    }
}

/// An open connection, counted until dropped.
pub(crate) struct Open(Arc<Stats>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_requests_and_gauges() {
        let stats = Arc::new(Stats::default());
        let connection = stats.open();
        let first = stats.begin();
        let second = stats.begin();
        assert_eq!(stats.snapshot().in_flight, 2);
        first.answered(false, &http::Method::GET, 200);
        second.answered(true, &http::Method::from_bytes(b"PROPFIND").unwrap(), 503);
        let gone = stats.begin();
        drop(gone);
        let counts = stats.snapshot();
        assert_eq!(counts.in_flight, 0);
        assert_eq!(counts.connections, 1);
        assert_eq!(counts.requests[0][0][1], 1);
        assert_eq!(counts.requests[1][METHODS.len() - 1][4], 1);
        assert_eq!(counts.served(), 2);
        assert_eq!(counts.durations.iter().sum::<u64>(), 2);
        drop(connection);
        assert_eq!(stats.snapshot().connections, 0);
    }
}
