//! A worker's request counts, as it reports them to `rg serve`'s master
//! for the metrics port.
//!
//! A worker keeps its counts in memory (atomics, no syscall per request)
//! and sends them, whole, on the notify socket it already uses for READY
//! and heartbeats: one `X_RG_STATS=` datagram a second, and a last one as
//! it exits. The counts are cumulative for the worker's life, so a lost or
//! late datagram loses nothing: the next one carries everything. The master
//! keeps the last counts of each worker and, when a worker exits, adds
//! them to the totals of the workers that are gone, so the counters the
//! metrics port shows never go backwards when workers are recycled.
//!
//! The encoding is a line of numbers in a fixed order, versioned by its
//! first field; both sides of it are in this module, and the datagram that
//! carries it is a [`crate::notify::Notification`].

/// The methods counted by name; every other method counts as `other`, so
/// the number of series stays fixed whatever clients send.
pub const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other",
];

/// Protocols counted apart: HTTP/1 (1.0 and 1.1) and HTTP/2.
pub const PROTOCOLS: [&str; 2] = ["HTTP/1", "HTTP/2"];

/// Status code classes.
pub const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Upper bounds of the request duration histogram's buckets, in
/// microseconds (Prometheus' `le`, in seconds, is this over a million); a
/// last bucket, `+Inf`, follows them.
pub const BUCKETS_MICROS: [u64; 13] = [
    1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000,
    10_000_000,
];

/// Buckets in all, `+Inf` included.
pub const BUCKETS: usize = BUCKETS_MICROS.len() + 1;

const VERSION: &str = "4";
const FIELDS: usize = 1 + PROTOCOLS.len() * METHODS.len() * CLASSES.len() + BUCKETS + 5;

/// One worker's counts: cumulative ones for its life, and gauges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Requests answered, by protocol (index into [`PROTOCOLS`]), method
    /// (into [`METHODS`]) and status class (into [`CLASSES`]).
    pub requests: [[[u64; CLASSES.len()]; METHODS.len()]; PROTOCOLS.len()],
    /// Requests by duration bucket (not cumulative: each request is in one).
    pub durations: [u64; BUCKETS],
    /// The sum of the durations, in microseconds.
    pub duration_micros: u64,
    /// Idle keep-alive connections closed to make room for new clients
    /// (`worker_connections` reached).
    pub closed_idle: u64,
    /// Requests whose handler panicked (each answered 500).
    pub panics: u64,
    /// Requests being handled now (a gauge).
    pub in_flight: u64,
    /// Connections open now (a gauge).
    pub connections: u64,
}

impl Counts {
    /// Requests answered, all methods and classes.
    pub fn served(&self) -> u64 {
        self.requests.iter().flatten().flatten().sum()
    }

    /// Adds `other`'s cumulative counts to these (not the gauges).
    pub fn add(&mut self, other: &Counts) {
        for (mine, theirs) in self
            .requests
            .iter_mut()
            .flatten()
            .flatten()
            .zip(other.requests.iter().flatten().flatten())
        {
            *mine += theirs;
        }
        for (mine, theirs) in self.durations.iter_mut().zip(&other.durations) {
            *mine += theirs;
        }
        self.duration_micros += other.duration_micros;
        self.closed_idle += other.closed_idle;
        self.panics += other.panics;
    }

    /// The value of an `X_RG_STATS=` notification.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(FIELDS * 4);
        out.push_str(VERSION);
        let numbers = self
            .requests
            .iter()
            .flatten()
            .flatten()
            .chain(&self.durations)
            .chain([
                &self.duration_micros,
                &self.closed_idle,
                &self.panics,
                &self.in_flight,
                &self.connections,
            ]);
        for n in numbers {
            out.push(' ');
            out.push_str(&n.to_string());
        }
        out
    }

    /// Reads what [`Counts::encode`] wrote; `None` for anything else (an
    /// older or newer rg's encoding, or noise).
    pub fn decode(text: &str) -> Option<Counts> {
        let mut fields = text.split(' ');
        if fields.next()? != VERSION {
            return None;
        }
        let numbers: Vec<u64> = fields.map(|f| f.parse().ok()).collect::<Option<_>>()?;
        if numbers.len() != FIELDS - 1 {
            return None;
        }
        let mut counts = Counts::default();
        let mut it = numbers.into_iter();
        for slot in counts.requests.iter_mut().flatten().flatten() {
            *slot = it.next()?;
        }
        for slot in counts.durations.iter_mut() {
            *slot = it.next()?;
        }
        counts.duration_micros = it.next()?;
        counts.closed_idle = it.next()?;
        counts.panics = it.next()?;
        counts.in_flight = it.next()?;
        counts.connections = it.next()?;
        Some(counts)
    }
}

/// The index in [`PROTOCOLS`] of a request's protocol.
pub fn protocol_index(http2: bool) -> usize {
    usize::from(http2)
}

/// The index in [`METHODS`] of a request method.
pub fn method_index(method: &str) -> usize {
    METHODS[..METHODS.len() - 1]
        .iter()
        .position(|m| *m == method)
        .unwrap_or(METHODS.len() - 1)
}

/// The index in [`CLASSES`] of a status code (codes outside 100..=599 count
/// as 5xx: a server that sends them is broken).
pub fn class_index(status: u16) -> usize {
    match status {
        100..=599 => usize::from(status / 100 - 1),
        _ => CLASSES.len() - 1,
    }
}

/// The bucket of a duration in microseconds.
pub fn bucket_index(micros: u64) -> usize {
    BUCKETS_MICROS.partition_point(|&bound| bound < micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_decodes() {
        let mut counts = Counts::default();
        counts.requests[0][0][1] = 7;
        counts.requests[1][7][4] = 2;
        counts.durations[0] = 5;
        counts.durations[BUCKETS - 1] = 4;
        counts.duration_micros = 123_456;
        counts.closed_idle = 11;
        counts.panics = 1;
        counts.in_flight = 3;
        counts.connections = 9;
        let text = counts.encode();
        assert_eq!(Counts::decode(&text), Some(counts.clone()));
        assert_eq!(counts.served(), 9);
        assert!(
            text.len() < 400,
            "one datagram, well under a page: {}",
            text.len()
        );
    }

    #[test]
    fn refuses_other_encodings() {
        assert_eq!(Counts::decode(""), None);
        assert_eq!(Counts::decode("2 1 2 3"), None);
        let short = Counts::default().encode();
        assert_eq!(Counts::decode(&short[..short.len() - 2]), None);
        assert_eq!(Counts::decode(&format!("{short} 1")), None);
        assert_eq!(Counts::decode(&short.replace(" 0", " x")), None);
    }

    #[test]
    fn adds_cumulative_counts_not_gauges() {
        let mut a = Counts {
            in_flight: 1,
            ..Counts::default()
        };
        a.requests[0][2][3] = 1;
        let mut b = Counts {
            in_flight: 5,
            connections: 5,
            duration_micros: 10,
            closed_idle: 4,
            panics: 2,
            ..Counts::default()
        };
        b.requests[0][2][3] = 2;
        b.durations[3] = 2;
        a.add(&b);
        assert_eq!(a.requests[0][2][3], 3);
        assert_eq!(a.durations[3], 2);
        assert_eq!(a.duration_micros, 10);
        assert_eq!((a.closed_idle, a.panics), (4, 2));
        assert_eq!((a.in_flight, a.connections), (1, 0));
    }

    #[test]
    fn indexes() {
        assert_eq!(METHODS[method_index("GET")], "GET");
        assert_eq!(METHODS[method_index("OPTIONS")], "OPTIONS");
        assert_eq!(METHODS[method_index("PROPFIND")], "other");
        assert_eq!(METHODS[method_index("other")], "other");
        assert_eq!(CLASSES[class_index(101)], "1xx");
        assert_eq!(CLASSES[class_index(204)], "2xx");
        assert_eq!(CLASSES[class_index(404)], "4xx");
        assert_eq!(CLASSES[class_index(599)], "5xx");
        assert_eq!(CLASSES[class_index(999)], "5xx");
        // Bounds are inclusive, as Prometheus' `le`.
        assert_eq!(bucket_index(0), 0);
        assert_eq!(bucket_index(1_000), 0);
        assert_eq!(bucket_index(1_001), 1);
        assert_eq!(bucket_index(10_000_000), BUCKETS - 2);
        assert_eq!(bucket_index(10_000_001), BUCKETS - 1);
    }
}
