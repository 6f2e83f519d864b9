//! The worker's settings, read from `RG_*` environment variables in one place.
//!
//! Environment variables are the whole settings channel between `rg` and an
//! application process (and between systemd and one): `rg serve` turns
//! `rg.toml` and its flags into these variables, a unit file can set them
//! directly. [`VARIABLES`] is the single table of them; the book's reference
//! and `rg new`'s `rg.toml` are checked against it by tests.

use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use crate::access_log::AccessFormat;
use crate::limits::Limits;
use crate::{Bind, DEFAULT_BIND, Error};

/// One variable of the worker contract.
#[derive(Debug, Clone, Copy)]
pub struct Variable {
    /// Its name, e.g. `RG_BIND`.
    pub name: &'static str,
    /// Its default, as text.
    pub default: &'static str,
    /// What it sets, in one sentence.
    pub help: &'static str,
}

/// Every `RG_*` variable the runtime reads, with its default.
pub const VARIABLES: &[Variable] = &[
    Variable {
        name: "RG_BIND",
        default: "127.0.0.1:8000",
        help: "Comma-separated addresses to bind when no sockets are inherited (HOST:PORT, [V6]:PORT, PORT, unix:PATH, fd://N).",
    },
    Variable {
        name: "RG_BACKLOG",
        default: "2048",
        help: "Length of the listen queue for sockets the worker binds itself.",
    },
    Variable {
        name: "RG_THREADS",
        default: "number of CPUs",
        help: "Threads of the async runtime; 1 runs a single-threaded runtime.",
    },
    Variable {
        name: "RG_WORKER_CONNECTIONS",
        default: "1000",
        help: "Most connections the worker serves at once; past it, new connections wait in the listen queue (or go to another worker).",
    },
    Variable {
        name: "RG_GRACEFUL_TIMEOUT",
        default: "30",
        help: "Seconds in-flight requests get to finish after SIGTERM.",
    },
    Variable {
        name: "RG_KEEPALIVE",
        default: "5",
        help: "Seconds a connection may take to send a request's headers, idle keep-alive time included.",
    },
    Variable {
        name: "RG_MAX_REQUESTS",
        default: "0",
        help: "Requests after which the worker stops accepting and exits so it can be replaced; 0 means never.",
    },
    Variable {
        name: "RG_MAX_REQUESTS_JITTER",
        default: "0",
        help: "A random 0..=N added to RG_MAX_REQUESTS, so workers do not all restart at once.",
    },
    Variable {
        name: "RG_LIMIT_REQUEST_LINE",
        default: "4094",
        help: "Longest request line (method, target and version) in bytes; longer is answered 414. 0: no limit of rg's.",
    },
    Variable {
        name: "RG_LIMIT_REQUEST_FIELDS",
        default: "100",
        help: "Most header fields in one request, 1 to 32768; more is answered 431.",
    },
    Variable {
        name: "RG_LIMIT_REQUEST_FIELD_SIZE",
        default: "8190",
        help: "Longest header field (name, colon, value) in bytes; longer is answered 431. 0: no limit of rg's.",
    },
    Variable {
        name: "RG_ACCESS_LOG",
        default: "-",
        help: "Where access log lines go: - for stdout, a file path, or off.",
    },
    Variable {
        name: "RG_ACCESS_LOG_FORMAT",
        default: "combined",
        help: "combined, common, json, or an Apache-style format string (%h %t \"%r\" %s %b %D %{Header}i ...).",
    },
    Variable {
        name: "RG_ERROR_LOG",
        default: "-",
        help: "Where the error log goes: - for stderr, or a file path.",
    },
    Variable {
        name: "RG_LOG_LEVEL",
        default: "info",
        help: "Error log level: error, warn, info, debug or trace.",
    },
    Variable {
        name: "RG_LOG_FORMAT",
        default: "text",
        help: "Error log format: text or json.",
    },
    Variable {
        name: "RG_FORWARDED_ALLOW_IPS",
        default: "127.0.0.1,::1",
        help: "Peers trusted to set X-Forwarded-For and X-Forwarded-Proto (comma-separated IPs, or *); unix socket peers are always trusted.",
    },
    Variable {
        name: "RG_SCRIPT_NAME",
        default: "",
        help: "The prefix the application is mounted under behind a proxy, e.g. /app.",
    },
    Variable {
        name: "RG_DEV",
        default: "0",
        help: "1 turns on development behaviour (set by rg runserver).",
    },
];

/// Where a log goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    /// Nowhere.
    Off,
    /// Standard output (`-` for the access log).
    Stdout,
    /// Standard error (`-` for the error log).
    Stderr,
    /// Appended to this file.
    File(PathBuf),
}

impl LogTarget {
    /// Parses `-` (meaning `dash`), `off`/`none`, or a path.
    pub fn parse(s: &str, dash: LogTarget) -> LogTarget {
        match s.trim() {
            "-" => dash,
            "off" | "none" => LogTarget::Off,
            path => LogTarget::File(PathBuf::from(path)),
        }
    }
}

/// The format of the error log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Which peers may tell us the real client address and scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardedAllow {
    /// Every peer (`*`).
    All,
    /// These addresses.
    Ips(Vec<IpAddr>),
}

impl ForwardedAllow {
    /// Whether a peer at `ip` is trusted.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        match self {
            ForwardedAllow::All => true,
            ForwardedAllow::Ips(ips) => {
                ips.contains(&ip) || ip.to_canonical() != ip && ips.contains(&ip.to_canonical())
            }
        }
    }
}

/// The worker's effective settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Addresses to bind when nothing is inherited.
    pub bind: Vec<Bind>,
    /// Listen queue length for sockets bound here.
    pub backlog: i32,
    /// Async runtime threads.
    pub threads: usize,
    /// Connections served at once, at most.
    pub worker_connections: usize,
    /// Time in-flight requests get after SIGTERM.
    pub graceful_timeout: Duration,
    /// Header read timeout, including keep-alive idle time.
    pub keepalive: Duration,
    /// Requests before a recycle; 0 is never.
    pub max_requests: u64,
    /// Random extra requests before a recycle.
    pub max_requests_jitter: u64,
    /// Limits on a request's head.
    pub limits: Limits,
    /// Access log destination.
    pub access_log: LogTarget,
    /// Access log line format.
    pub access_log_format: AccessFormat,
    /// Error log destination.
    pub error_log: LogTarget,
    /// The pid of the `rg serve` master supervising this worker, if any
    /// (`RG_INTERNAL_MASTER_PID`, set by the master, not by users).
    pub master_pid: Option<u32>,
    /// Error log level, as a tracing filter directive.
    pub log_level: String,
    /// Error log format.
    pub log_format: LogFormat,
    /// Trusted proxies.
    pub forwarded_allow_ips: ForwardedAllow,
    /// Mount prefix.
    pub script_name: String,
    /// Development mode.
    pub dev: bool,
}

impl Settings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Settings, Error> {
        Settings::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the settings through `var`; every unset variable takes its
    /// default, every malformed one is an error naming it.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Settings, Error> {
        let get = |name: &'static str| var(name).filter(|v| !v.trim().is_empty());
        let bad = |var: &'static str, value: &str, reason: &str| Error::Setting {
            var,
            value: value.to_string(),
            reason: reason.to_string(),
        };
        let number = |name: &'static str, default: u64| -> Result<u64, Error> {
            match get(name) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| bad(name, &v, "expected a whole number, e.g. 30")),
            }
        };
        let seconds = |name: &'static str, default: u64| -> Result<Duration, Error> {
            match get(name) {
                None => Ok(Duration::from_secs(default)),
                Some(v) => match v.trim().parse::<f64>() {
                    Ok(s) if s.is_finite() && s >= 0.0 => Ok(Duration::from_secs_f64(s)),
                    _ => Err(bad(name, &v, "expected a number of seconds, e.g. 30 or 0.5")),
                },
            }
        };

        let bind = match get("RG_BIND") {
            None => vec![DEFAULT_BIND],
            Some(v) => Bind::parse_list(&v).map_err(|e| bad("RG_BIND", &v, &e.to_string()))?,
        };
        let backlog = number("RG_BACKLOG", 2048)?;
        let backlog = i32::try_from(backlog)
            .ok()
            .filter(|b| *b > 0)
            .ok_or_else(|| bad("RG_BACKLOG", &backlog.to_string(), "expected 1 to 2147483647"))?;
        let threads = match get("RG_THREADS") {
            None => num_cpus::get().max(1),
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if (1..=1024).contains(&n) => n,
                _ => {
                    return Err(bad(
                        "RG_THREADS",
                        &v,
                        "expected a number of threads from 1 to 1024",
                    ));
                }
            },
        };
        let defaults = Limits::default();
        let size = |name: &'static str, default: usize| -> Result<usize, Error> {
            let n = number(name, default as u64)?;
            usize::try_from(n).map_err(|_| bad(name, &n.to_string(), "too large"))
        };
        let bounded = |name: &'static str, default: usize, range: RangeInclusive<usize>, what: &str| {
            let n = size(name, default)?;
            if range.contains(&n) {
                Ok(n)
            } else {
                let (low, high) = range.into_inner();
                Err(bad(
                    name,
                    &n.to_string(),
                    &format!("expected a number of {what} from {low} to {high}"),
                ))
            }
        };
        let limits = Limits {
            request_line: size("RG_LIMIT_REQUEST_LINE", defaults.request_line)?,
            request_fields: bounded(
                "RG_LIMIT_REQUEST_FIELDS",
                defaults.request_fields,
                1..=32768,
                "fields",
            )?,
            request_field_size: size("RG_LIMIT_REQUEST_FIELD_SIZE", defaults.request_field_size)?,
        };
        let worker_connections = bounded("RG_WORKER_CONNECTIONS", 1000, 1..=1_000_000, "connections")?;
        let access_log =
            get("RG_ACCESS_LOG").map_or(LogTarget::Stdout, |v| LogTarget::parse(&v, LogTarget::Stdout));
        let error_log =
            get("RG_ERROR_LOG").map_or(LogTarget::Stderr, |v| LogTarget::parse(&v, LogTarget::Stderr));
        let master_pid = match var("RG_INTERNAL_MASTER_PID") {
            None => None,
            Some(v) => Some(
                v.trim()
                    .parse::<u32>()
                    .map_err(|_| bad("RG_INTERNAL_MASTER_PID", &v, "not a process id"))?,
            ),
        };
        let access_log_format = match get("RG_ACCESS_LOG_FORMAT") {
            None => AccessFormat::combined(),
            Some(v) => AccessFormat::parse(&v).map_err(|reason| bad("RG_ACCESS_LOG_FORMAT", &v, &reason))?,
        };
        let log_level = match get("RG_LOG_LEVEL") {
            None => "info".to_string(),
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                l @ ("error" | "warn" | "info" | "debug" | "trace") => l.to_string(),
                "warning" => "warn".to_string(),
                "critical" => "error".to_string(),
                _ => {
                    return Err(bad(
                        "RG_LOG_LEVEL",
                        &v,
                        "expected error, warn, info, debug or trace",
                    ));
                }
            },
        };
        let log_format = match get("RG_LOG_FORMAT").as_deref().map(str::trim) {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(v) => return Err(bad("RG_LOG_FORMAT", v, "expected text or json")),
        };
        let forwarded_allow_ips = match get("RG_FORWARDED_ALLOW_IPS") {
            None => ForwardedAllow::Ips(vec![
                IpAddr::from([127, 0, 0, 1]),
                IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]),
            ]),
            Some(v) if v.trim() == "*" => ForwardedAllow::All,
            Some(v) => ForwardedAllow::Ips(
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        s.parse::<IpAddr>().map_err(|_| {
                            bad(
                                "RG_FORWARDED_ALLOW_IPS",
                                &v,
                                &format!("{s:?} is not an IP address"),
                            )
                        })
                    })
                    .collect::<Result<_, _>>()?,
            ),
        };
        let script_name = match get("RG_SCRIPT_NAME") {
            None => String::new(),
            Some(v) if v.starts_with('/') => v.trim_end_matches('/').to_string(),
            Some(v) => return Err(bad("RG_SCRIPT_NAME", &v, "must start with /, e.g. /app")),
        };
        let dev = match get("RG_DEV").as_deref().map(str::trim) {
            None | Some("0") | Some("false") => false,
            Some("1") | Some("true") => true,
            Some(v) => return Err(bad("RG_DEV", v, "expected 1 or 0")),
        };
        Ok(Settings {
            bind,
            backlog,
            threads,
            worker_connections,
            graceful_timeout: seconds("RG_GRACEFUL_TIMEOUT", 30)?,
            keepalive: seconds("RG_KEEPALIVE", 5)?,
            max_requests: number("RG_MAX_REQUESTS", 0)?,
            max_requests_jitter: number("RG_MAX_REQUESTS_JITTER", 0)?,
            limits,
            access_log,
            access_log_format,
            error_log,
            master_pid,
            log_level,
            log_format,
            forwarded_allow_ips,
            script_name,
            dev,
        })
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

/// A random number from the standard library's per-process hash seed: enough
/// to spread recycling, no extra dependency.
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.finish()
}

/// The `RG_*` variables in `vars` that the runtime does not know, so a typo
/// can be warned about instead of silently ignored.
pub fn unknown_variables<'a>(vars: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    vars.into_iter()
        .filter(|k| {
            k.starts_with("RG_") && !VARIABLES.iter().any(|v| v.name == *k) && !k.starts_with("RG_INTERNAL_")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, Error> {
        let map: HashMap<&str, &str> = vars.iter().copied().collect();
        Settings::from_lookup(|k| map.get(k).map(|v| v.to_string()))
    }

    #[test]
    fn defaults_match_the_table() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.bind, vec![DEFAULT_BIND]);
        assert_eq!(s.backlog, 2048);
        assert_eq!(s.graceful_timeout, Duration::from_secs(30));
        assert_eq!(s.keepalive, Duration::from_secs(5));
        assert_eq!(s.max_requests, 0);
        assert_eq!(s.access_log, LogTarget::Stdout);
        assert_eq!(s.log_level, "info");
        assert!(!s.dev);
        assert!(s.recycle_after().is_none());
        assert_eq!(s.limits, Limits::default());
        assert_eq!(s.worker_connections, 1000);
        assert!(s.forwarded_allow_ips.trusts("127.0.0.1".parse().unwrap()));
        assert!(!s.forwarded_allow_ips.trusts("10.0.0.1".parse().unwrap()));
        for v in VARIABLES {
            assert!(v.name.starts_with("RG_"));
        }
    }

    #[test]
    fn reads_every_variable() {
        let s = settings(&[
            ("RG_BIND", "[::1]:9000,unix:/tmp/x.sock"),
            ("RG_BACKLOG", "64"),
            ("RG_THREADS", "1"),
            ("RG_WORKER_CONNECTIONS", "50"),
            ("RG_GRACEFUL_TIMEOUT", "0.5"),
            ("RG_KEEPALIVE", "2"),
            ("RG_MAX_REQUESTS", "100"),
            ("RG_MAX_REQUESTS_JITTER", "10"),
            ("RG_LIMIT_REQUEST_LINE", "0"),
            ("RG_LIMIT_REQUEST_FIELDS", "200"),
            ("RG_LIMIT_REQUEST_FIELD_SIZE", "16380"),
            ("RG_ACCESS_LOG", "/tmp/access.log"),
            ("RG_ACCESS_LOG_FORMAT", "json"),
            ("RG_ERROR_LOG", "/tmp/error.log"),
            ("RG_INTERNAL_MASTER_PID", "42"),
            ("RG_LOG_LEVEL", "WARNING"),
            ("RG_LOG_FORMAT", "json"),
            ("RG_FORWARDED_ALLOW_IPS", "*"),
            ("RG_SCRIPT_NAME", "/app/"),
            ("RG_DEV", "1"),
        ])
        .unwrap();
        assert_eq!(s.bind.len(), 2);
        assert_eq!(s.backlog, 64);
        assert_eq!(s.threads, 1);
        assert_eq!(s.worker_connections, 50);
        assert_eq!(s.graceful_timeout, Duration::from_millis(500));
        assert_eq!(s.keepalive, Duration::from_secs(2));
        let n = s.recycle_after().unwrap();
        assert!((100..=110).contains(&n), "{n}");
        assert_eq!(
            s.limits,
            Limits {
                request_line: 0,
                request_fields: 200,
                request_field_size: 16380
            }
        );
        assert_eq!(s.access_log, LogTarget::File("/tmp/access.log".into()));
        assert_eq!(s.log_level, "warn");
        assert_eq!(s.error_log, LogTarget::File("/tmp/error.log".into()));
        assert_eq!(s.master_pid, Some(42));
        assert_eq!(s.log_format, LogFormat::Json);
        assert!(s.forwarded_allow_ips.trusts("10.0.0.1".parse().unwrap()));
        assert_eq!(s.script_name, "/app");
        assert!(s.dev);
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (var, value, needle) in [
            ("RG_BIND", "nowhere", "expected HOST:PORT"),
            ("RG_BACKLOG", "0", "1 to"),
            ("RG_THREADS", "0", "from 1 to 1024"),
            ("RG_THREADS", "many", "from 1 to 1024"),
            ("RG_WORKER_CONNECTIONS", "0", "from 1 to 1000000"),
            ("RG_GRACEFUL_TIMEOUT", "-1", "seconds"),
            ("RG_KEEPALIVE", "soon", "seconds"),
            ("RG_MAX_REQUESTS", "1.5", "whole number"),
            ("RG_LIMIT_REQUEST_LINE", "-1", "whole number"),
            ("RG_LIMIT_REQUEST_FIELDS", "0", "from 1 to 32768"),
            ("RG_LIMIT_REQUEST_FIELDS", "40000", "from 1 to 32768"),
            ("RG_LIMIT_REQUEST_FIELD_SIZE", "big", "whole number"),
            ("RG_ACCESS_LOG_FORMAT", "%{Referer", "unclosed"),
            ("RG_LOG_LEVEL", "loud", "expected error"),
            ("RG_LOG_FORMAT", "xml", "text or json"),
            ("RG_FORWARDED_ALLOW_IPS", "10.0.0.1,proxy", "not an IP"),
            ("RG_SCRIPT_NAME", "app", "must start with /"),
            ("RG_DEV", "yes please", "1 or 0"),
        ] {
            let err = settings(&[(var, value)]).unwrap_err().to_string();
            assert!(err.starts_with(&format!("invalid {var}=")), "{var}: {err}");
            assert!(err.contains(needle), "{var}: {err}");
        }
    }

    #[test]
    fn flags_unknown_rg_variables() {
        let unknown = unknown_variables(["RG_BIND", "RG_THRAEDS", "PATH", "RG_INTERNAL_WORKER"]);
        assert_eq!(unknown, ["RG_THRAEDS"]);
    }
}
