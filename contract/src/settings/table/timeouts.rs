//! How long each part of serving may take, and how a stop drains: the
//! heartbeat, the graceful timeout, and the slow-client bounds.

use crate::settings::Parse::{Master, Worker};
use crate::settings::values as v;
use crate::settings::{BOTH, Kind, MASTER, Setting, WORKER};

/// `timeout`.
pub static TIMEOUT: Setting = Setting::new("timeout", BOTH)
    .flag("--timeout")
    .short('t')
    .value(Kind::Number, "SECONDS", "30")
    .parse(Worker(|w, s| v::seconds(s).map(|t| w.timeout = t)))
    .help(
        "Seconds without a heartbeat after which a worker is killed and replaced, and the longest an \
         application's setup may take; 0 disables both.",
    )
    .doc(
        "Seconds without a heartbeat after which a worker is killed (SIGABRT, then\n\
         SIGKILL) and replaced, and the longest the application's own setup\n\
         (opening a database pool, say) may take; 0 disables both.",
    );

/// `graceful_timeout`.
pub static GRACEFUL_TIMEOUT: Setting = Setting::new("graceful_timeout", BOTH)
    .flag("--graceful-timeout")
    .value(Kind::Number, "SECONDS", "30")
    .parse(Worker(|w, s| v::seconds(s).map(|t| w.graceful_timeout = t)))
    .help("Seconds workers get to finish in-flight requests on stop, reload or recycle.")
    .doc(
        "Seconds in-flight requests get to finish when workers stop, reload or\n\
         recycle.",
    );

/// `shutdown_delay`.
pub static SHUTDOWN_DELAY: Setting = Setting::new("shutdown_delay", MASTER)
    .flag("--shutdown-delay")
    .value(Kind::Number, "SECONDS", "0")
    .parse(Master(|m, s| v::seconds(s).map(|t| m.shutdown_delay = t)))
    .help("Seconds rg keeps serving after a graceful stop signal, /readyz answering 503, before it drains.")
    .doc(
        "Seconds rg keeps serving after a graceful stop signal, with /readyz\n\
         answering 503, before it drains: time for a balancer or Kubernetes to\n\
         take the host out of rotation. 0 drains at once.",
    );

/// `graceful_signals`.
pub static GRACEFUL_SIGNALS: Setting = Setting::new("graceful_signals", MASTER)
    .flag("--graceful-signals")
    .value(Kind::List, "SIGNALS", "TERM")
    .parse(Master(|m, s| v::stop_signals(s).map(|l| m.graceful_signals = l)))
    .help("Which of TERM, INT and QUIT stop gracefully; the others stop at once.")
    .doc(
        "Which of TERM, INT and QUIT stop rg gracefully (shutdown_delay, then a\n\
         drain); the others stop it at once. Gunicorn's meanings by default; add\n\
         \"INT\" where a platform stops services with SIGINT (Nomad's default).",
    );

/// `keepalive`.
pub static KEEPALIVE: Setting = Setting::new("keepalive", WORKER)
    .flag("--keepalive")
    .value(Kind::Number, "SECONDS", "5")
    .parse(Worker(|w, s| v::seconds(s).map(|t| w.keepalive = t)))
    .help(
        "Seconds a connection may take to send a request's headers, idle keep-alive included (HTTP/2: \
         seconds without a stream before GOAWAY).",
    )
    .doc(
        "Seconds a connection may take to send a request's headers, idle\n\
         keep-alive time included. An HTTP/2 connection with no stream in\n\
         flight for this long is sent GOAWAY and closed.",
    );

/// `body_read_timeout`, NGINX Unit's name (nginx's `client_body_timeout`).
pub static BODY_READ_TIMEOUT: Setting = Setting::new("body_read_timeout", WORKER)
    .flag("--body-read-timeout")
    .value(Kind::Number, "SECONDS", "30")
    .parse(Worker(|w, s| v::seconds(s).map(|t| w.body_read_timeout = t)))
    .help(
        "Seconds a client may leave between two reads of a request body the application waits for; then 408 \
         and close (0: no limit; HTTP/1 needs strict_http).",
    )
    .doc(
        "Seconds a client may leave between two reads of a request's body while\n\
         the application waits for it (not the time for the whole body); a\n\
         slower client gets 408 and its connection closed. 0: no limit. Checked\n\
         by the strict layer, so only with strict_http on, for HTTP/1; an\n\
         HTTP/2 stream gets its 408 whether strict_http is on or off, and the\n\
         connection's other streams go on.",
    );

/// `body_min_rate`, Apache's `mod_reqtimeout` `MinRate` (its default too).
pub static BODY_MIN_RATE: Setting = Setting::new("body_min_rate", WORKER)
    .flag("--body-min-rate")
    .value(Kind::Number, "BYTES", "500")
    .parse(Worker(|w, s| v::rate(s).map(|r| w.body_min_rate = r)))
    .help(
        "Bytes a second a request body must come at on average, after body_read_timeout of grace; slower: \
         408 and close (0: off; needs strict_http).",
    )
    .doc(
        "The least average rate, in bytes a second, at which a client must send\n\
         a request body the application waits for: the body may be waited for\n\
         body_read_timeout, plus a second for every body_min_rate bytes that\n\
         came. Only time spent waiting on the client counts. A slower client gets\n\
         408 and its connection closed. 0, or a body_read_timeout of 0, turns it\n\
         off. Checked by the strict layer, so only with strict_http on.",
    );

/// `send_timeout`, NGINX Unit's name and default (nginx's has the same
/// name, 60 s).
pub static SEND_TIMEOUT: Setting = Setting::new("send_timeout", WORKER)
    .flag("--send-timeout")
    .value(Kind::Number, "SECONDS", "30")
    .parse(Worker(|w, s| v::seconds(s).map(|t| w.send_timeout = t)))
    .help(
        "Seconds a write may wait for a client that reads nothing of a response or WebSocket; then the \
         connection is closed (0: no limit).",
    )
    .doc(
        "Seconds a write to a client may wait while the client reads nothing\n\
         (not the time for the whole response): a client that stops reading a\n\
         response, or a WebSocket's messages, has its connection closed. 0: no\n\
         limit. Kept with strict_http on or off.",
    );
