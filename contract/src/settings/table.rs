//! The table: every setting, in the order `rg.toml`, `--help`,
//! `--print-config` and the reference list them. Names follow Gunicorn's.

mod logging;
mod process;
mod proxy;
mod recycling;
mod security;
mod server;
mod timeouts;
mod tls;

pub use logging::*;
pub use process::*;
pub use proxy::*;
pub use recycling::*;
pub use security::*;
pub use server::*;
pub use timeouts::*;
pub use tls::*;

use super::Setting;

/// Every setting.
pub static SETTINGS: &[&Setting] = &[
    &BIND,
    &INSECURE_BIND,
    &WORKERS,
    &THREADS,
    &WORKER_CONNECTIONS,
    &TIMEOUT,
    &GRACEFUL_TIMEOUT,
    &SHUTDOWN_DELAY,
    &GRACEFUL_SIGNALS,
    &KEEPALIVE,
    &BODY_READ_TIMEOUT,
    &BODY_MIN_RATE,
    &SEND_TIMEOUT,
    &BACKLOG,
    &MAX_REQUESTS,
    &MAX_REQUESTS_JITTER,
    &MAX_WORKER_LIFETIME,
    &MAX_WORKER_LIFETIME_JITTER,
    &MAX_WORKER_RSS,
    &LIMIT_REQUEST_LINE,
    &LIMIT_REQUEST_FIELDS,
    &LIMIT_REQUEST_FIELD_SIZE,
    &METRICS_BIND,
    &STRICT_HTTP,
    &HTTP,
    &HTTP2_MAX_CONCURRENT_STREAMS,
    &HTTP2_MAX_HEADER_LIST_SIZE,
    &HTTP2_MAX_RESET_STREAMS,
    &HTTP2_WEBSOCKETS,
    &CERTFILE,
    &KEYFILE,
    &CA_CERTS,
    &CERT_REQS,
    &PIDFILE,
    &CONTROL_SOCKET,
    &USER,
    &GROUP,
    &UNIX_SOCKET_MODE,
    &ACCESS_LOG,
    &ACCESS_LOG_FORMAT,
    &ERROR_LOG,
    &LOG_LEVEL,
    &LOG_FORMAT,
    &FORWARDED_ALLOW_IPS,
    &PROXY_PROTOCOL,
    &PROXY_ALLOW_IPS,
    &SCRIPT_NAME,
];
