//! The worker's reader: the settings an application process takes from its
//! `RG_*` environment, through the table's own parsers and defaults.
//!
//! Environment variables are the whole settings channel between `rg` and
//! an application process (and between systemd and one): `rg serve` turns
//! `rg.toml` and its flags into these variables; a unit file can set them
//! directly. `rg` checks every value with the same parsers before it gives
//! it to a worker, so a value a worker would refuse is refused first.

use std::time::Duration;

use crate::access_log::AccessFormat;
use crate::bind::Bind;
use crate::error::Error;

use super::values::{ForwardedAllow, Http2Limits, HttpVersions, Limits, LogFormat, LogTarget, ProxyProtocol};
use super::{Parse, SETTINGS};

/// Variables of the contract that are not settings: set by `rg` for its
/// own processes, with what they mean (for the reference chapter).
pub const INTERNAL: &[(&str, &str, &str)] = &[
    (
        "RG_DEV",
        "0",
        "1 turns on development behaviour: live reload, the dev request log (set by rg runserver).",
    ),
    (
        "RG_INTERNAL_MASTER_PID",
        "unset",
        "The pid of the rg serve master; a worker whose master is gone stops by itself.",
    ),
    ("RG_INTERNAL_WORKER_ID", "unset", "The worker's number, for logs."),
    (
        "RG_INTERNAL_METRICS",
        "0",
        "1 makes the worker count its requests and report them to the master (set by rg serve when metrics_bind is set).",
    ),
    (
        "RG_INTERNAL_TLS_FD",
        "unset",
        "The descriptor of the TLS certificate and key the master read (set by rg serve with certfile and keyfile).",
    ),
    (
        "RG_INTERNAL_PLAIN_LISTENERS",
        "unset",
        "Which inherited sockets (0 is fd 3) serve plain HTTP beside TLS (set by rg serve for insecure_bind).",
    ),
    (
        "RG_INTERNAL_BUILD_ID",
        "unset",
        "Identifies a build to the browser's live reload (set by rg runserver).",
    ),
    (
        "RG_INTERNAL_HOT_PATCH",
        "unset",
        "The directory of the patches rg runserver hands a running application (set by rg runserver).",
    ),
];

/// The worker's effective settings: the table's parsers write each
/// setting a worker reads; `rg` and systemd set the last three.
/// (`Default` is only where the parsers start: every setting is written.)
#[derive(Debug, Clone, Default)]
pub struct WorkerSettings {
    /// Addresses to bind when nothing is inherited.
    pub bind: Vec<Bind>,
    /// Listen queue length for sockets bound here.
    pub backlog: i32,
    /// Async runtime threads.
    pub threads: usize,
    /// Connections served at once, at most.
    pub worker_connections: usize,
    /// The longest the application's setup may take; zero: no bound.
    pub timeout: Duration,
    /// Time in-flight requests get after SIGTERM.
    pub graceful_timeout: Duration,
    /// Header read timeout, including keep-alive idle time.
    pub keepalive: Duration,
    /// Time allowed between two reads of a request body; zero: none.
    pub body_read_timeout: Duration,
    /// Least average rate of a request body in bytes a second; zero: none.
    pub body_min_rate: u32,
    /// Time a write may wait for a client that reads nothing; zero: none.
    pub send_timeout: Duration,
    /// Requests before a recycle; 0 is never.
    pub max_requests: u64,
    /// Random extra requests before a recycle.
    pub max_requests_jitter: u64,
    /// Limits on a request's head.
    pub limits: Limits,
    /// Validate requests on the bytes, before hyper (`strict_http`).
    pub strict_http: bool,
    /// Access log destination.
    pub access_log: LogTarget,
    /// Access log line format.
    pub access_log_format: AccessFormat,
    /// Error log destination.
    pub error_log: LogTarget,
    /// Error log level, as a tracing filter directive.
    pub log_level: String,
    /// Error log format.
    pub log_format: LogFormat,
    /// Trusted proxies.
    pub forwarded_allow_ips: ForwardedAllow,
    /// The PROXY protocol header expected from `proxy_allow_ips`.
    pub proxy_protocol: ProxyProtocol,
    /// The HTTP versions served.
    pub http: HttpVersions,
    /// HTTP/2's own limits.
    pub http2: Http2Limits,
    /// Proxies that send a PROXY protocol header.
    pub proxy_allow_ips: ForwardedAllow,
    /// Mount prefix.
    pub script_name: String,
    /// Development mode (`RG_DEV`).
    pub dev: bool,
    /// The pid of the `rg serve` master supervising this worker, if any.
    pub master_pid: Option<u32>,
    /// Count requests and report them to the master (`RG_INTERNAL_METRICS`).
    pub metrics: bool,
}

impl WorkerSettings {
    /// Reads the settings from the process environment; an `RG_*` variable
    /// that is no setting of this runtime's is an error naming it.
    pub fn from_env() -> Result<WorkerSettings, Error> {
        let names: Vec<String> = std::env::vars_os()
            .filter_map(|(k, _)| k.into_string().ok())
            .collect();
        if let Some(var) = unknown_to_rg(names.iter().map(String::as_str)).first() {
            return Err(Error::UnknownSetting { var: var.to_string() });
        }
        WorkerSettings::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the settings through `var`; every unset (or blank) variable
    /// takes the schema's default, every malformed one is an error naming it.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<WorkerSettings, Error> {
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let flag = |name: &str| match set(name).as_deref().map(str::trim) {
            None | Some("0") | Some("false") => Ok(false),
            Some("1") | Some("true") => Ok(true),
            Some(value) => Err(setting_error(name, value, "expected 1 or 0")),
        };
        let mut settings = WorkerSettings {
            dev: flag("RG_DEV")?,
            metrics: flag("RG_INTERNAL_METRICS")?,
            master_pid: match set("RG_INTERNAL_MASTER_PID") {
                None => None,
                Some(value) => Some(
                    value
                        .trim()
                        .parse::<u32>()
                        .map_err(|_| setting_error("RG_INTERNAL_MASTER_PID", &value, "not a process id"))?,
                ),
            },
            ..WorkerSettings::default()
        };
        for setting in SETTINGS {
            let Parse::Worker(parse) = setting.parse else {
                continue;
            };
            let var = setting.var();
            let given = set(&var);
            let value = given.as_deref().unwrap_or(setting.worker_default());
            parse(&mut settings, value).map_err(|reason| setting_error(&var, value, &reason))?;
        }
        Ok(settings)
    }

    /// The request count after which this worker recycles, jitter drawn
    /// once per process; `None` when recycling is off.
    pub fn recycle_after(&self) -> Option<u64> {
        if self.max_requests == 0 {
            return None;
        }
        let jitter = if self.max_requests_jitter == 0 {
            0
        } else {
            random_u64() % (self.max_requests_jitter + 1)
        };
        Some(self.max_requests + jitter)
    }
}

fn setting_error(var: &str, value: &str, reason: &str) -> Error {
    Error::Setting {
        var: var.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

/// A random number from the standard library's per-process hash seed: enough
/// to spread recycling, no extra dependency.
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.finish()
}

/// Whether a worker reads the variable `name`: a worker-side setting's, or
/// `RG_DEV`. (Not the `RG_INTERNAL_*` ones, which only `rg` sets.)
pub fn worker_reads(name: &str) -> bool {
    name == "RG_DEV" || SETTINGS.iter().any(|s| s.sides.worker && s.var() == name)
}

/// The `RG_*` variables in `vars` that `rg` itself does not know: neither
/// a setting's, nor internal, nor `rg new`'s `RG_RUNTIME_PATH`.
pub fn unknown_to_rg<'a>(vars: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    vars.into_iter()
        .filter(|k| {
            k.starts_with("RG_")
                && !k.starts_with("RG_INTERNAL_")
                && *k != "RG_RUNTIME_PATH"
                && !worker_reads(k)
                && !SETTINGS.iter().any(|s| s.var() == *k)
        })
        .collect()
}

/// The `RG_*` variables in `vars` that are neither a worker's setting nor
/// internal, so a typo can be warned about instead of silently ignored.
pub fn unknown_variables<'a>(vars: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    vars.into_iter()
        .filter(|k| k.starts_with("RG_") && !k.starts_with("RG_INTERNAL_") && !worker_reads(k))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::{BTreeSet, HashMap};

    fn settings(vars: &[(&str, &str)]) -> Result<WorkerSettings, Error> {
        let map: HashMap<&str, &str> = vars.iter().copied().collect();
        WorkerSettings::from_lookup(|k| map.get(k).map(|v| v.to_string()))
    }

    #[test]
    fn defaults_come_from_the_schema() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.bind, vec![crate::DEFAULT_BIND]);
        assert_eq!(s.backlog, 2048);
        assert_eq!(s.threads, num_cpus::get(), "alone, a worker uses every CPU");
        assert_eq!(s.graceful_timeout, Duration::from_secs(30));
        assert_eq!(s.keepalive, Duration::from_secs(5));
        assert_eq!(s.access_log, LogTarget::Stdout);
        assert_eq!(s.error_log, LogTarget::Stderr);
        assert_eq!(s.limits.request_line, 4094);
        assert_eq!(s.worker_connections, 1000);
        assert!(!s.dev);
        assert!(s.recycle_after().is_none());
    }

    /// The runtime agrees with the schema: it reads exactly the variables of
    /// the settings whose side is the worker's, and the internal ones.
    #[test]
    fn reads_every_worker_setting_and_nothing_else() {
        let asked = RefCell::new(BTreeSet::new());
        WorkerSettings::from_lookup(|k| {
            asked.borrow_mut().insert(k.to_string());
            None
        })
        .unwrap();
        let mut expected: BTreeSet<String> = SETTINGS
            .iter()
            .filter(|s| s.sides.worker)
            .map(|s| s.var())
            .collect();
        expected.insert("RG_DEV".into());
        expected.insert("RG_INTERNAL_MASTER_PID".into());
        expected.insert("RG_INTERNAL_METRICS".into());
        assert_eq!(asked.into_inner(), expected);
    }

    #[test]
    fn reads_values_and_names_the_variable_of_a_bad_one() {
        let s = settings(&[
            ("RG_THREADS", "1"),
            ("RG_MAX_REQUESTS", "100"),
            ("RG_MAX_REQUESTS_JITTER", "10"),
            ("RG_LOG_LEVEL", "WARNING"),
            ("RG_SCRIPT_NAME", "/app/"),
            ("RG_INTERNAL_MASTER_PID", "42"),
            ("RG_DEV", "1"),
        ])
        .unwrap();
        assert_eq!(s.threads, 1);
        assert!((100..=110).contains(&s.recycle_after().unwrap()));
        assert_eq!(s.log_level, "warn");
        assert_eq!(s.script_name, "/app");
        assert_eq!(s.master_pid, Some(42));
        assert!(s.dev);
        for (var, value, needle) in [
            ("RG_BIND", "nowhere", "expected HOST:PORT"),
            ("RG_THREADS", "lots", "unknown name `lots`"),
            ("RG_KEEPALIVE", "soon", "seconds"),
            ("RG_LIMIT_REQUEST_FIELDS", "0", "from 1 to 32768"),
            ("RG_DEV", "yes please", "1 or 0"),
        ] {
            let err = settings(&[(var, value)]).unwrap_err().to_string();
            assert!(err.starts_with(&format!("invalid {var}=")), "{var}: {err}");
            assert!(err.contains(needle), "{var}: {err}");
        }
    }

    #[test]
    fn flags_unknown_rg_variables() {
        let unknown = unknown_variables(["RG_BIND", "RG_THRAEDS", "PATH", "RG_INTERNAL_X", "RG_DEV"]);
        assert_eq!(unknown, ["RG_THRAEDS"]);
        // rg serve reads RG_WORKERS itself; a worker alone does not.
        assert_eq!(unknown_variables(["RG_WORKERS"]), ["RG_WORKERS"]);
        assert!(unknown_to_rg(["RG_WORKERS", "RG_RUNTIME_PATH"]).is_empty());
        assert_eq!(unknown_to_rg(["RG_WOKRERS"]), ["RG_WOKRERS"]);
    }
}
