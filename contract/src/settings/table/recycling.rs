//! When a worker is replaced by a fresh one: after so many requests, so
//! much time, or so much memory, its replacement ready first.

use crate::settings::Parse::{Master, Worker};
use crate::settings::values as v;
use crate::settings::{Kind, MASTER, Setting, WORKER};

/// `max_requests`.
pub static MAX_REQUESTS: Setting = Setting::new("max_requests", WORKER)
    .flag("--max-requests")
    .value(Kind::Number, "N", "0")
    .parse(Worker(|w, s| v::whole(s).map(|n| w.max_requests = n)))
    .help("Requests after which a worker is replaced (0: never).")
    .doc(
        "Requests after which a worker is replaced (0: never). The replacement is\n\
         ready before the old worker stops.",
    );

/// `max_requests_jitter`.
pub static MAX_REQUESTS_JITTER: Setting = Setting::new("max_requests_jitter", WORKER)
    .flag("--max-requests-jitter")
    .value(Kind::Number, "N", "0")
    .parse(Worker(|w, s| v::whole(s).map(|n| w.max_requests_jitter = n)))
    .help("A random 0..=N added to max_requests per worker.")
    .doc(
        "A random 0..=max_requests_jitter added to max_requests, so workers do\n\
         not all restart at once.",
    );

/// `max_worker_lifetime`.
pub static MAX_WORKER_LIFETIME: Setting = Setting::new("max_worker_lifetime", MASTER)
    .flag("--max-worker-lifetime")
    .value(Kind::Number, "SECONDS", "0")
    .parse(Master(|m, s| v::seconds(s).map(|t| m.max_worker_lifetime = t)))
    .help("Seconds after which a worker is replaced, its replacement ready first (0: never).")
    .doc(
        "Seconds after which a worker is replaced (0: never), plus a share of\n\
         max_worker_lifetime_jitter so workers do not all go at once. The\n\
         replacement is ready before the old worker stops.",
    );

/// `max_worker_lifetime_jitter`.
pub static MAX_WORKER_LIFETIME_JITTER: Setting = Setting::new("max_worker_lifetime_jitter", MASTER)
    .flag("--max-worker-lifetime-jitter")
    .value(Kind::Number, "SECONDS", "0")
    .parse(Master(|m, s| {
        v::seconds(s).map(|t| m.max_worker_lifetime_jitter = t)
    }))
    .help("Up to this many seconds more of lifetime, spread over the workers.")
    .doc(
        "Up to this many seconds added to max_worker_lifetime, spread over the\n\
         workers.",
    );

/// `max_worker_rss`.
pub static MAX_WORKER_RSS: Setting = Setting::new("max_worker_rss", MASTER)
    .flag("--max-worker-rss")
    .value(Kind::Number, "MB", "0")
    .parse(Master(|m, s| {
        v::whole(s).map(|mb| m.max_worker_rss = mb.saturating_mul(1024 * 1024))
    }))
    .help(
        "Megabytes of resident memory over which a worker is replaced, after 3 samples a second apart (0: \
         never).",
    )
    .doc(
        "Megabytes of resident memory over which a worker is replaced (0: never).\n\
         The master samples each worker once a second; three samples in a row\n\
         over the limit recycle it, so a spike does not. The replacement is ready\n\
         before the old worker stops.",
    );
