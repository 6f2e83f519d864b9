//! rg's settings: one typed struct for `rg serve` (and `rg runserver`),
//! merged from defaults < `rg.toml` < `RG_*` environment < flags.
//!
//! Every value remembers where it came from ([`Origin`]), so an error can
//! say "rg.toml:7: invalid workers" and `--print-config` can show why a
//! value is what it is. Values are kept as text until the end, then parsed
//! in one place; the settings the worker reads are additionally checked by
//! the runtime's own parser, so `rg` and the workers never disagree.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use rg_runtime::settings::{LogFormat, LogTarget};
use rg_runtime::{Bind, VARIABLES};

/// What kind of value a setting holds, which decides how `rg.toml` and
/// `--print-config` write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A list of strings (comma-separated in flags and the environment).
    List,
    /// A number (or, for counts, an expression), unquoted in TOML.
    Number,
    /// A string.
    Text,
}

/// One setting: its `rg.toml` key, its flag, its default (as text), and
/// what it does.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// The key in `rg.toml`; the environment variable is `RG_` + upper case.
    pub name: &'static str,
    /// The long flag of `rg serve`.
    pub flag: &'static str,
    /// The default.
    pub default: &'static str,
    /// The kind of value.
    pub kind: Kind,
    /// One sentence of help.
    pub help: &'static str,
}

macro_rules! key {
    ($name:literal, $flag:literal, $default:literal, $kind:ident, $help:literal) => {
        Key {
            name: $name,
            flag: $flag,
            default: $default,
            kind: Kind::$kind,
            help: $help,
        }
    };
}

/// Every setting. The generated `rg.toml`, the book's reference and
/// `--print-config` are all checked against this table by tests.
pub const KEYS: &[Key] = &[
    key!(
        "bind",
        "--bind",
        "127.0.0.1:8000",
        List,
        "Addresses to listen on: HOST:PORT, [V6]:PORT, unix:PATH, fd://N."
    ),
    key!(
        "workers",
        "--workers",
        "cpu_count",
        Number,
        "Worker processes; a number or an expression like \"cpu_count * 2 + 1\"."
    ),
    key!(
        "threads",
        "--threads",
        "1",
        Number,
        "Threads of each worker's async runtime; a number or an expression."
    ),
    key!(
        "worker_connections",
        "--worker-connections",
        "1000",
        Number,
        "Most connections each worker serves at once; more wait in the listen queue."
    ),
    key!(
        "timeout",
        "--timeout",
        "30",
        Number,
        "Seconds without a heartbeat after which a worker is killed and replaced; 0 disables."
    ),
    key!(
        "graceful_timeout",
        "--graceful-timeout",
        "30",
        Number,
        "Seconds workers get to finish in-flight requests on stop, reload or recycle."
    ),
    key!(
        "keepalive",
        "--keepalive",
        "5",
        Number,
        "Seconds a connection may take to send a request's headers, idle keep-alive included."
    ),
    key!(
        "backlog",
        "--backlog",
        "2048",
        Number,
        "Length of each listening socket's queue."
    ),
    key!(
        "max_requests",
        "--max-requests",
        "0",
        Number,
        "Requests after which a worker is replaced (0: never)."
    ),
    key!(
        "max_requests_jitter",
        "--max-requests-jitter",
        "0",
        Number,
        "A random 0..=N added to max_requests per worker."
    ),
    key!(
        "limit_request_line",
        "--limit-request-line",
        "4094",
        Number,
        "Longest request line in bytes; longer is answered 414 (0: no limit)."
    ),
    key!(
        "limit_request_fields",
        "--limit-request-fields",
        "100",
        Number,
        "Most header fields in one request, up to 32768; more is answered 431."
    ),
    key!(
        "limit_request_field_size",
        "--limit-request-field-size",
        "8190",
        Number,
        "Longest header field (name: value) in bytes; longer is answered 431 (0: no limit)."
    ),
    key!(
        "pidfile",
        "--pid",
        "",
        Text,
        "A file to write the master's pid to (removed on exit)."
    ),
    key!(
        "user",
        "--user",
        "",
        Text,
        "Run the workers as this user (a name or a uid); rg serve must run as root."
    ),
    key!(
        "group",
        "--group",
        "",
        Text,
        "Run the workers in this group (a name or a gid) [default: the user's own group]."
    ),
    key!(
        "unix_socket_mode",
        "--unix-socket-mode",
        "0666",
        Text,
        "Permissions of unix sockets rg creates, in octal."
    ),
    key!(
        "access_log",
        "--access-logfile",
        "-",
        Text,
        "Access log: - for stdout, a file path, or off."
    ),
    key!(
        "access_log_format",
        "--access-logformat",
        "combined",
        Text,
        "combined, common, json, or an Apache-style format (%h %t \"%r\" %s %b %D ...)."
    ),
    key!(
        "error_log",
        "--error-logfile",
        "-",
        Text,
        "Error log: - for stderr, or a file path."
    ),
    key!(
        "log_level",
        "--log-level",
        "info",
        Text,
        "error, warn, info, debug or trace."
    ),
    key!(
        "log_format",
        "--log-format",
        "text",
        Text,
        "Error log format: text or json."
    ),
    key!(
        "forwarded_allow_ips",
        "--forwarded-allow-ips",
        "127.0.0.1,::1",
        List,
        "Proxies trusted to set X-Forwarded-For/-Proto, or \"*\"."
    ),
    key!(
        "script_name",
        "--script-name",
        "",
        Text,
        "The path prefix the application is mounted under behind a proxy."
    ),
];

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Built in.
    Default,
    /// A config file, at a line (0 when unknown).
    File(PathBuf, usize),
    /// An environment variable.
    Env(String),
    /// A command-line flag.
    Flag(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => write!(f, "default"),
            Origin::File(path, 0) => write!(f, "{}", path.display()),
            Origin::File(path, line) => write!(f, "{}:{line}", path.display()),
            Origin::Env(var) => write!(f, "environment {var}"),
            Origin::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// The effective settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Addresses to bind.
    pub bind: Vec<Bind>,
    /// Worker processes.
    pub workers: usize,
    /// Threads per worker.
    pub threads: usize,
    /// Heartbeat timeout; zero disables it.
    pub timeout: Duration,
    /// Drain time on stop, reload and recycle.
    pub graceful_timeout: Duration,
    /// Listen queue length.
    pub backlog: i32,
    /// The master's pid file.
    pub pidfile: Option<PathBuf>,
    /// Mode of unix socket files.
    pub unix_socket_mode: u32,
    /// The error log (the master's and the workers').
    pub error_log: LogTarget,
    /// Error log level.
    pub log_level: String,
    /// Error log format.
    pub log_format: LogFormat,
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// Every key's value as text, with its origin.
    pub values: BTreeMap<&'static str, (String, Origin)>,
}

/// The inputs to [`load`].
#[derive(Debug, Default)]
pub struct Sources {
    /// A file given with `-c` (must exist).
    pub explicit_file: Option<PathBuf>,
    /// A file looked for by default (read if it exists).
    pub default_file: Option<PathBuf>,
    /// Flags that were given: key and value.
    pub flags: Vec<(&'static str, String)>,
}

/// Merges defaults, the config file, the environment (through `env`) and
/// flags, then parses and checks every value.
pub fn load(sources: &Sources, env: impl Fn(&str) -> Option<String>) -> Result<Settings> {
    let mut values: BTreeMap<&'static str, (String, Origin)> = KEYS
        .iter()
        .map(|k| (k.name, (k.default.to_string(), Origin::Default)))
        .collect();

    let file = match (&sources.explicit_file, &sources.default_file) {
        (Some(path), _) => Some(path.clone()),
        (None, Some(path)) if path.exists() => Some(path.clone()),
        _ => None,
    };
    if let Some(path) = &file {
        for (key, value, line) in read_file(path)? {
            values.insert(key, (value, Origin::File(path.clone(), line)));
        }
    }
    for key in KEYS {
        let var = env_var(key.name);
        if let Some(value) = env(&var).filter(|v| !v.trim().is_empty()) {
            values.insert(key.name, (value, Origin::Env(var)));
        }
    }
    for (name, value) in &sources.flags {
        let key = find(name).ok_or_else(|| anyhow!("internal: no setting {name}"))?;
        let previous = values.get(name).filter(|(_, o)| matches!(o, Origin::Flag(_)));
        // A repeated list flag (-b A -b B) accumulates.
        let value = match previous {
            Some((before, _)) if key.kind == Kind::List => format!("{before},{value}"),
            _ => value.clone(),
        };
        values.insert(key.name, (value, Origin::Flag(key.flag.to_string())));
    }
    parse(values, file)
}

/// The environment variable of a key.
pub fn env_var(key: &str) -> String {
    format!("RG_{}", key.to_ascii_uppercase())
}

fn find(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

/// Reads `rg.toml`: every top-level key must be known; values become text.
fn read_file(path: &Path) -> Result<Vec<(&'static str, String, usize)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("failed to read `{}`", path.display()))?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        anyhow!("{}: not valid TOML: {}", path.display(), e.to_string().trim_end())
    })?;
    let mut out = Vec::new();
    for (name, value) in &table {
        let line = line_of(&text, name);
        let at = Origin::File(path.to_path_buf(), line);
        let Some(key) = find(name) else {
            let hint = closest(name)
                .map(|k| format!("; did you mean `{k}`?"))
                .unwrap_or_default();
            bail!("{at}: unknown setting `{name}`{hint} (`rg serve --help` lists them)");
        };
        let text = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) if key.kind == Kind::List => items
                .iter()
                .map(|item| match item {
                    toml::Value::String(s) => Ok(s.clone()),
                    other => Err(anyhow!(
                        "{at}: `{name}` must be a list of strings, found {}",
                        other.type_str()
                    )),
                })
                .collect::<Result<Vec<_>>>()?
                .join(","),
            other => bail!(
                "{at}: `{name}` cannot be {} {}",
                article(other.type_str()),
                other.type_str()
            ),
        };
        out.push((key.name, text, line));
    }
    Ok(out)
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// The 1-based line where `key` is assigned, or 0.
fn line_of(text: &str, key: &str) -> usize {
    text.lines()
        .position(|line| {
            let line = line.trim_start();
            let rest = line
                .strip_prefix(key)
                .or_else(|| line.strip_prefix(&format!("\"{key}\"")));
            rest.is_some_and(|r| r.trim_start().starts_with('='))
        })
        .map_or(0, |i| i + 1)
}

/// The known key nearest to a misspelt one, if any is near.
fn closest(name: &str) -> Option<&'static str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
                prev = cur;
            }
        }
        row[b.len()]
    }
    KEYS.iter()
        .map(|k| (distance(name, k.name), k.name))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, k)| k)
}

fn parse(values: BTreeMap<&'static str, (String, Origin)>, config_file: Option<PathBuf>) -> Result<Settings> {
    let get = |key: &str| -> (&str, &Origin) {
        let (v, o) = &values[key];
        (v.trim(), o)
    };
    let invalid = |key: &str, reason: &str| invalid_value(key, &values[key], reason);
    let count = |key: &str, max: u64| -> Result<usize> {
        let (value, _) = get(key);
        let n = crate::config::expr::eval(value, num_cpus::get() as u64).map_err(|e| invalid(key, &e))?;
        if n == 0 || n > max {
            return Err(invalid(key, &format!("must be from 1 to {max}")));
        }
        Ok(n as usize)
    };
    let seconds = |key: &str| -> Result<Duration> {
        match get(key).0.parse::<f64>() {
            Ok(s) if s.is_finite() && s >= 0.0 => Ok(Duration::from_secs_f64(s)),
            _ => Err(invalid(key, "expected a number of seconds, e.g. 30 or 0.5")),
        }
    };

    let bind = Bind::parse_list(get("bind").0).map_err(|e| invalid("bind", &e.to_string()))?;
    let workers = count("workers", 1024)?;
    let threads = count("threads", 1024)?;
    let backlog = get("backlog")
        .0
        .parse::<i32>()
        .ok()
        .filter(|b| *b > 0)
        .ok_or_else(|| invalid("backlog", "expected a whole number from 1"))?;
    let pidfile = Some(get("pidfile").0)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    let unix_socket_mode = u32::from_str_radix(get("unix_socket_mode").0, 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| invalid("unix_socket_mode", "expected an octal mode like 0660"))?;

    let settings = Settings {
        bind,
        workers,
        threads,
        timeout: seconds("timeout")?,
        graceful_timeout: seconds("graceful_timeout")?,
        backlog,
        pidfile,
        unix_socket_mode,
        error_log: LogTarget::Stderr,
        log_level: String::new(),
        log_format: LogFormat::Text,
        config_file,
        values: values.clone(),
    };
    // What the workers will read, checked by the workers' own parser.
    let env: BTreeMap<String, String> = settings.worker_env().into_iter().collect();
    let worker = rg_runtime::Settings::from_lookup(|var| env.get(var).cloned()).map_err(|e| match &e {
        rg_runtime::Error::Setting { var, reason, .. } => {
            let key = var.trim_start_matches("RG_").to_ascii_lowercase();
            if values.contains_key(key.as_str()) {
                invalid(&key, reason)
            } else {
                anyhow!("{e}")
            }
        }
        _ => anyhow!("{e}"),
    })?;
    Ok(Settings {
        error_log: worker.error_log,
        log_level: worker.log_level,
        log_format: worker.log_format,
        ..settings
    })
}

/// The error for `key`'s value: `rg.toml:3: invalid workers = "0": reason`.
fn invalid_value(key: &str, (value, origin): &(String, Origin), reason: &str) -> anyhow::Error {
    anyhow!("{origin}: invalid {key} = {:?}: {reason}", value.trim())
}

impl Settings {
    /// The error for the value of `key` (a known setting), naming where it
    /// came from, for checks made after the settings were read.
    pub fn invalid(&self, key: &str, reason: &str) -> anyhow::Error {
        match self.values.get(key) {
            Some(entry) => invalid_value(key, entry, reason),
            None => anyhow!("invalid {key}: {reason}"),
        }
    }

    /// The `RG_*` variables a worker gets: every setting of the worker
    /// contract. (Sockets are inherited, so `bind` is not among them.)
    pub fn worker_env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = VARIABLES
            .iter()
            .filter_map(|var| {
                let key = var.name.trim_start_matches("RG_").to_ascii_lowercase();
                let (value, _) = self.values.get(key.as_str())?;
                (key != "bind").then(|| (var.name.to_string(), value.trim().to_string()))
            })
            .collect();
        env.retain(|(k, _)| k != "RG_THREADS");
        env.push(("RG_THREADS".into(), self.threads.to_string()));
        env
    }

    /// The effective settings as TOML, each line saying where its value
    /// came from: `--print-config`.
    pub fn render(&self) -> String {
        let mut out = String::from(
            "# Effective settings. Later sources win: default < rg.toml < RG_* environment < flags.\n",
        );
        if let Some(file) = &self.config_file {
            out.push_str(&format!("# Config file: {}\n", file.display()));
        }
        for key in KEYS {
            let (value, origin) = &self.values[key.name];
            let shown = match key.name {
                "workers" => self.workers.to_string(),
                "threads" => self.threads.to_string(),
                _ if key.kind == Kind::List => {
                    let items: Vec<String> = value
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(|s| format!("{s:?}"))
                        .collect();
                    format!("[{}]", items.join(", "))
                }
                _ if key.kind == Kind::Number => value.trim().to_string(),
                _ => format!("{:?}", value.trim()),
            };
            let evaluated = match key.name {
                "workers" | "threads" if value.trim() != shown => format!(" = {}", value.trim()),
                _ => String::new(),
            };
            out.push_str(&format!("\n# {}\n", key.help));
            let line = format!("{} = {shown}", key.name);
            out.push_str(&format!("{line:<40} # {origin}{evaluated}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load_with(
        file: Option<&str>,
        env: &[(&str, &str)],
        flags: &[(&'static str, &str)],
    ) -> Result<Settings> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rg.toml");
        if let Some(text) = file {
            std::fs::write(&path, text).unwrap();
        }
        let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let sources = Sources {
            explicit_file: None,
            default_file: Some(path),
            flags: flags.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        };
        load(&sources, |k| env.get(k).cloned())
    }

    #[test]
    fn later_sources_win_and_remember_where_they_came_from() {
        let s = load_with(
            Some("workers = 3\nthreads = 2\ntimeout = 10\n"),
            &[("RG_THREADS", "4"), ("RG_BACKLOG", "64")],
            &[("timeout", "5")],
        )
        .unwrap();
        assert_eq!(s.workers, 3);
        assert!(matches!(&s.values["workers"].1, Origin::File(_, 1)));
        assert_eq!(s.threads, 4);
        assert_eq!(s.values["threads"].1, Origin::Env("RG_THREADS".into()));
        assert_eq!(s.timeout, Duration::from_secs(5));
        assert_eq!(s.values["timeout"].1, Origin::Flag("--timeout".into()));
        assert_eq!(s.backlog, 64);
        assert_eq!(s.values["graceful_timeout"].1, Origin::Default);
        let printed = s.render();
        assert!(printed.contains("threads = 4"), "{printed}");
        assert!(printed.contains("# environment RG_THREADS"), "{printed}");
        assert!(printed.contains("# flag --timeout"), "{printed}");
    }

    #[test]
    fn expressions_and_lists() {
        let s = load_with(
            Some("workers = \"cpu_count * 2 + 1\"\nbind = [\"127.0.0.1:9000\", \"unix:/tmp/a.sock\"]\n"),
            &[],
            &[("bind", "[::1]:9001"), ("bind", "127.0.0.1:9002")],
        )
        .unwrap();
        assert_eq!(s.workers, num_cpus::get() * 2 + 1);
        assert_eq!(s.bind.len(), 2, "flags replace the file's list");
        assert!(s.render().contains("workers = "), "{}", s.render());
    }

    #[test]
    fn errors_name_the_key_the_value_and_the_place() {
        type Case<'a> = (
            Option<&'a str>,
            &'a [(&'a str, &'a str)],
            &'a [(&'static str, &'a str)],
            &'a str,
        );
        let cases: &[Case<'_>] = &[
            (
                Some("workers = 0\n"),
                &[],
                &[],
                "rg.toml:1: invalid workers = \"0\": must be from 1",
            ),
            (
                Some("# c\nworkrs = 2\n"),
                &[],
                &[],
                "rg.toml:2: unknown setting `workrs`; did you mean `workers`?",
            ),
            (
                Some("bind = \"nowhere\"\n"),
                &[],
                &[],
                "rg.toml:1: invalid bind = \"nowhere\"",
            ),
            (Some("timeout = [1]\n"), &[], &[], "`timeout` cannot be an array"),
            (Some("workers = \n"), &[], &[], "not valid TOML"),
            (
                None,
                &[("RG_WORKERS", "many")],
                &[],
                "environment RG_WORKERS: invalid workers = \"many\"",
            ),
            (
                None,
                &[],
                &[("access_log_format", "%Z")],
                "flag --access-logformat: invalid access_log_format = \"%Z\": unknown directive %Z",
            ),
            (
                None,
                &[],
                &[("log_level", "loud")],
                "flag --log-level: invalid log_level",
            ),
            (None, &[], &[("unix_socket_mode", "999")], "octal"),
        ];
        for (file, env, flags, needle) in cases {
            let err = format!("{:#}", load_with(*file, env, flags).unwrap_err());
            assert!(err.contains(needle), "expected {needle:?} in {err:?}");
        }
    }

    #[test]
    fn every_worker_variable_is_a_setting() {
        for var in VARIABLES {
            if var.name == "RG_DEV" {
                continue; // set by rg runserver only
            }
            let key = var.name.trim_start_matches("RG_").to_ascii_lowercase();
            assert!(find(&key).is_some(), "{} has no rg.toml key", var.name);
        }
        let s = load_with(None, &[], &[]).unwrap();
        let env = s.worker_env();
        assert!(env.iter().any(|(k, v)| k == "RG_THREADS" && v == "1"));
        assert!(!env.iter().any(|(k, _)| k == "RG_BIND"));
    }
}
