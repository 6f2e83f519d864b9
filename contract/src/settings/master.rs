//! The settings only `rg serve`'s master reads, typed, as the table's
//! parsers write them; the ones it shares with its workers are in
//! [`super::WorkerSettings`].

use std::path::PathBuf;
use std::time::Duration;

use crate::bind::Bind;

/// The master's own settings.
#[derive(Debug, Clone, Default)]
pub struct MasterSettings {
    /// Worker processes.
    pub workers: usize,
    /// Serving time after a graceful stop signal, before the drain.
    pub shutdown_delay: Duration,
    /// The signals that stop gracefully: some of TERM, INT, QUIT.
    pub graceful_signals: Vec<&'static str>,
    /// Age after which a worker is replaced; zero: never.
    pub max_worker_lifetime: Duration,
    /// Up to this much more lifetime, spread over the workers.
    pub max_worker_lifetime_jitter: Duration,
    /// Resident memory in bytes over which a worker is replaced; zero: never.
    pub max_worker_rss: u64,
    /// The address of the master's metrics and health port, if any.
    pub metrics_bind: Option<Bind>,
    /// The master's pid file.
    pub pidfile: Option<PathBuf>,
    /// Addresses served in cleartext beside `bind`'s TLS ones.
    pub insecure_bind: Vec<Bind>,
    /// The PEM certificate chain and key of TLS on every bind.
    pub certfile: Option<PathBuf>,
    pub keyfile: Option<PathBuf>,
    /// The authorities client certificates are checked against, and
    /// whether clients must show one.
    pub ca_certs: Option<PathBuf>,
    pub cert_reqs: crate::tls::ClientAuth,
    /// The control socket `rg ctl` talks to.
    pub control_socket: Option<PathBuf>,
    /// The user workers run as (a name or an id), resolved at start; empty:
    /// the master's.
    pub user: String,
    /// The group workers run in, resolved at start; empty: the user's.
    pub group: String,
    /// Mode of unix socket files.
    pub unix_socket_mode: u32,
}
