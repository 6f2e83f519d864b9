//! The value parsers of the schema, and the types they produce.
//!
//! One parser per kind of value, used for every source (a default, a line
//! of `rg.toml`, an `RG_*` variable, a flag), by `rg` and by the worker
//! alike, so a value means the same everywhere and is refused with the same
//! words. `Err` holds the reason, without the value or its origin: the
//! caller knows those.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::access_log::AccessFormat;
use crate::bind::Bind;

use super::expr;

/// Seconds, whole or fractional: `30`, `0.5`.
pub fn seconds(s: &str) -> Result<Duration, String> {
    match s.trim().parse::<f64>() {
        // `try_`: `1e30` is finite but past what a Duration holds.
        Ok(secs) if secs.is_finite() && secs >= 0.0 => Duration::try_from_secs_f64(secs)
            .map_err(|_| format!("{} seconds is longer than rg can wait", s.trim())),
        _ => Err("expected a number of seconds, e.g. 30 or 0.5".into()),
    }
}

/// A whole number from 0.
pub fn whole(s: &str) -> Result<u64, String> {
    s.trim()
        .parse::<u64>()
        .map_err(|_| "expected a whole number, e.g. 30".into())
}

/// Bytes a second, from 0 (0: no minimum).
pub fn rate(s: &str) -> Result<u32, String> {
    let n = whole(s)?;
    u32::try_from(n).map_err(|_| format!("expected bytes a second from 0 to {}", u32::MAX))
}

/// `true` or `false` (also `1`, `0`, `yes`, `no`, `on`, `off`).
pub fn switch(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

/// A size in bytes from 0 (0 usually meaning "no limit").
pub fn size(s: &str) -> Result<usize, String> {
    let n = whole(s)?;
    usize::try_from(n).map_err(|_| "too large".into())
}

/// A whole number in `low..=high`, named in the message as `what`.
fn bounded(s: &str, low: usize, high: usize, what: &str) -> Result<usize, String> {
    match size(s) {
        Ok(n) if (low..=high).contains(&n) => Ok(n),
        _ => Err(format!("expected a number of {what} from {low} to {high}")),
    }
}

/// A count of processes or threads: a number or an expression on
/// `cpu_count`, from 1 to 1024.
pub fn count(s: &str) -> Result<usize, String> {
    const MAX: u64 = 1024;
    let n = expr::eval(s, num_cpus::get() as u64)?;
    if n == 0 || n > MAX {
        return Err(format!("must be from 1 to {MAX}"));
    }
    usize::try_from(n).map_err(|_| "too large".into())
}

/// `worker_connections`.
pub fn connections(s: &str) -> Result<usize, String> {
    bounded(s, 1, 1_000_000, "connections")
}

/// HTTP/2's own limits, each a named setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Http2Limits {
    /// `http2_max_concurrent_streams`.
    pub max_concurrent_streams: u32,
    /// `http2_max_header_list_size`, in bytes.
    pub max_header_list_size: u32,
    /// `http2_max_reset_streams`.
    pub max_reset_streams: usize,
    /// `http2_websockets`: extended CONNECT (RFC 8441) offered.
    pub websockets: bool,
}

/// A number from `low` to `high`, for an HTTP/2 limit.
pub fn http2_limit(s: &str, low: usize, high: usize, what: &str) -> Result<u32, String> {
    bounded(s, low, high, what).map(|n| u32::try_from(n).unwrap_or(u32::MAX))
}

/// `limit_request_fields`: hyper's header array holds at most 32768.
pub fn fields(s: &str) -> Result<usize, String> {
    bounded(s, 1, 32768, "fields")
}

/// A listen queue length.
pub fn backlog(s: &str) -> Result<i32, String> {
    s.trim()
        .parse::<i32>()
        .ok()
        .filter(|b| *b > 0)
        .ok_or_else(|| "expected a whole number from 1 to 2147483647".into())
}

/// The stop signals among TERM, INT and QUIT, by name (`SIGTERM` or `term`
/// too), comma-separated, without repeats.
pub fn stop_signals(s: &str) -> Result<Vec<&'static str>, String> {
    let mut out = Vec::new();
    for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let upper = name.to_ascii_uppercase();
        let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
        let signal = ["TERM", "INT", "QUIT"]
            .into_iter()
            .find(|known| *known == bare)
            .ok_or_else(|| format!("`{name}` is not one of TERM, INT, QUIT"))?;
        if !out.contains(&signal) {
            out.push(signal);
        }
    }
    Ok(out)
}

/// Comma-separated bind addresses.
pub fn bind_list(s: &str) -> Result<Vec<Bind>, String> {
    Bind::parse_list(s).map_err(|e| e.to_string())
}

/// Addresses that may be none at all (`insecure_bind`).
pub fn bind_list_or_none(s: &str) -> Result<Vec<Bind>, String> {
    if s.trim().is_empty() {
        return Ok(Vec::new());
    }
    bind_list(s)
}

/// The metrics port's address: one HOST:PORT or unix:PATH, or nothing.
pub fn metrics_bind(s: &str) -> Result<Option<Bind>, String> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    match s.parse::<Bind>().map_err(|e| e.to_string())? {
        Bind::Fd(_) => Err("expected HOST:PORT or unix:PATH (fd:// is for serving sockets)".into()),
        bind => Ok(Some(bind)),
    }
}

/// A file mode in octal, at most 0777.
pub fn octal_mode(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s.trim(), 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| "expected an octal mode like 0660".into())
}

/// An access log format.
pub fn access_format(s: &str) -> Result<AccessFormat, String> {
    AccessFormat::parse(s)
}

/// Apache's combined format, the table's default, so that the settings a
/// table's parsers write into can start from `Default`.
impl Default for AccessFormat {
    fn default() -> Self {
        AccessFormat::Apache {
            referer_and_agent: true,
        }
    }
}

/// A log level, as a `tracing` level name; Python's `warning` and
/// `critical`, which a Gunicorn config may carry, are accepted.
pub fn log_level(s: &str) -> Result<String, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        l @ ("error" | "warn" | "info" | "debug" | "trace") => Ok(l.to_string()),
        "warning" => Ok("warn".into()),
        "critical" => Ok("error".into()),
        _ => Err("expected error, warn, info, debug or trace".into()),
    }
}

/// The error log's format.
pub fn log_format(s: &str) -> Result<LogFormat, String> {
    match s.trim() {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err("expected text or json".into()),
    }
}

/// `http`: the HTTP versions a worker speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HttpVersions {
    /// HTTP/1.1, and HTTP/2 to a client that asks (ALPN, or h2c with prior
    /// knowledge).
    #[default]
    Auto,
    /// HTTP/1.1 only.
    One,
    /// HTTP/2 only.
    Two,
}

/// `auto`, `1` or `2` (Granian's `--http`).
pub fn http(s: &str) -> Result<HttpVersions, String> {
    match s.trim() {
        "auto" => Ok(HttpVersions::Auto),
        "1" => Ok(HttpVersions::One),
        "2" => Ok(HttpVersions::Two),
        _ => Err("expected auto, 1 or 2".into()),
    }
}

/// `proxy_protocol`: which PROXY protocol header connections from
/// `proxy_allow_ips` start with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProxyProtocol {
    /// None: connections start with HTTP.
    #[default]
    Off,
    /// Version 1, the text line.
    V1,
    /// Version 2, binary.
    V2,
    /// Either.
    Auto,
}

/// `off`, `v1`, `v2` or `auto` (Gunicorn's; `true` and `false`, its
/// older values, are `auto` and `off`).
pub fn proxy_protocol(s: &str) -> Result<ProxyProtocol, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "off" | "false" => Ok(ProxyProtocol::Off),
        "v1" => Ok(ProxyProtocol::V1),
        "v2" => Ok(ProxyProtocol::V2),
        "auto" | "true" => Ok(ProxyProtocol::Auto),
        _ => Err("expected off, v1, v2 or auto".into()),
    }
}

/// Trusted proxies: `*`, or comma-separated IP addresses.
pub fn forwarded_allow(s: &str) -> Result<ForwardedAllow, String> {
    if s.trim() == "*" {
        return Ok(ForwardedAllow::All);
    }
    s.split(',')
        .map(str::trim)
        .filter(|ip| !ip.is_empty())
        .map(|ip| {
            ip.parse::<IpAddr>()
                .map_err(|_| format!("{ip:?} is not an IP address"))
        })
        .collect::<Result<_, _>>()
        .map(ForwardedAllow::Ips)
}

/// A mount prefix: empty, or starting with `/` (a trailing `/` is dropped).
pub fn script_name(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() || s.starts_with('/') {
        Ok(s.trim_end_matches('/').to_string())
    } else {
        Err("must start with /, e.g. /app".into())
    }
}

/// The access log: `-` for standard output, `off`, or a file.
pub fn access_log(s: &str) -> Result<LogTarget, String> {
    Ok(LogTarget::parse(s, LogTarget::Stdout))
}

/// The error log: `-` for standard error, or a file.
pub fn error_log(s: &str) -> Result<LogTarget, String> {
    Ok(LogTarget::parse(s, LogTarget::Stderr))
}

/// A path; empty (or blank): none.
pub fn path(s: &str) -> Result<Option<PathBuf>, String> {
    Ok(Some(s.trim()).filter(|p| !p.is_empty()).map(PathBuf::from))
}

/// Text, trimmed: a name resolved where it is used.
pub fn text(s: &str) -> Result<String, String> {
    Ok(s.trim().to_string())
}

/// Where a log goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum LogTarget {
    /// Nowhere.
    #[default]
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
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

/// Nobody.
impl Default for ForwardedAllow {
    fn default() -> Self {
        ForwardedAllow::Ips(Vec::new())
    }
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

/// Gunicorn's limits on a request's head. Zero means "no limit of rg's"
/// for the two sizes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line (`GET /path?query HTTP/1.1`), in bytes.
    pub request_line: usize,
    /// Most header fields in one request.
    pub request_fields: usize,
    /// Longest header field (`Name: value`), in bytes.
    pub request_field_size: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_parser_refuses_with_a_reason() {
        assert_eq!(seconds("0.5"), Ok(Duration::from_millis(500)));
        assert!(seconds("-1").unwrap_err().contains("seconds"));
        // Found by the `settings` fuzz target: this panicked in `from_secs_f64`.
        assert!(
            seconds("3333333e73")
                .unwrap_err()
                .contains("longer than rg can wait")
        );
        assert!(whole("1.5").unwrap_err().contains("whole number"));
        assert_eq!(count("cpu_count").ok(), Some(num_cpus::get()));
        assert!(count("0").unwrap_err().contains("from 1 to 1024"));
        assert!(count("many").is_err());
        assert!(connections("0").unwrap_err().contains("from 1 to 1000000"));
        assert!(fields("40000").unwrap_err().contains("from 1 to 32768"));
        assert!(backlog("0").unwrap_err().contains("from 1"));
        assert!(octal_mode("999").unwrap_err().contains("octal"));
        assert_eq!(log_level("WARNING").as_deref(), Ok("warn"));
        assert!(log_level("loud").unwrap_err().contains("expected error"));
        assert!(log_format("xml").unwrap_err().contains("text or json"));
        assert!(
            forwarded_allow("10.0.0.1,proxy")
                .unwrap_err()
                .contains("not an IP")
        );
        assert_eq!(script_name("/app/").as_deref(), Ok("/app"));
        assert!(script_name("app").unwrap_err().contains("must start with /"));
        assert!(access_format("%Z").unwrap_err().contains("unknown directive %Z"));
        assert_eq!(stop_signals("TERM, sigint,INT"), Ok(vec!["TERM", "INT"]));
        assert!(
            stop_signals("TERM,HUP")
                .unwrap_err()
                .contains("`HUP` is not one of TERM, INT, QUIT")
        );
    }

    #[test]
    fn trusted_proxies_match_mapped_addresses() {
        let allow = forwarded_allow("127.0.0.1").unwrap();
        assert!(allow.trusts("127.0.0.1".parse().unwrap()));
        assert!(allow.trusts("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!allow.trusts("10.0.0.1".parse().unwrap()));
        assert!(forwarded_allow("*").unwrap().trusts("10.0.0.1".parse().unwrap()));
    }
}
