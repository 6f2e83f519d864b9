//! rg's configuration: defaults < `rg.toml` < `RG_*` environment < flags,
//! merged into one [`Settings`] for `rg serve` (and `rg runserver`).
//!
//! Every setting is defined once, in the schema of `rg_contract::settings`;
//! this module only layers the sources. Every value remembers where it came
//! from ([`Origin`]), so an error can say "rg.toml:7: invalid workers" and
//! `--print-config` can show why a value is what it is. Values are kept as
//! text until the end, then each goes through the schema's own parser, the
//! one the workers use, into the same typed settings, so `rg` and its
//! workers never disagree.

mod file;
pub mod flags;
mod print;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use anyhow::{Result, anyhow};
use rg_contract::Bind;
use rg_contract::settings::{self as schema, Kind, MasterSettings, SETTINGS, WorkerSettings};

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

/// The effective settings: what the master reads, typed; everything as
/// text with its origin.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The settings only the master reads.
    pub master: MasterSettings,
    /// The settings the workers read, as they will read them; the master
    /// reads those it shares with them here (bind, backlog, timeout,
    /// graceful_timeout, the error log).
    pub worker: WorkerSettings,
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// Every key's value as text, with its origin.
    pub values: BTreeMap<&'static str, (String, Origin)>,
}

/// The inputs to [`load`].
#[derive(Debug, Default, Clone)]
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
    let mut values: BTreeMap<&'static str, (String, Origin)> = SETTINGS
        .iter()
        .map(|s| (s.key, (s.default.to_string(), Origin::Default)))
        .collect();

    let file = match (&sources.explicit_file, &sources.default_file) {
        (Some(path), _) => Some(path.clone()),
        (None, Some(path)) if path.exists() => Some(path.clone()),
        _ => None,
    };
    if let Some(path) = &file {
        for (key, value, line) in file::read(path)? {
            values.insert(key, (value, Origin::File(path.clone(), line)));
        }
    }
    for setting in SETTINGS {
        let var = setting.var();
        if let Some(value) = env(&var).filter(|v| !v.trim().is_empty()) {
            values.insert(setting.key, (value, Origin::Env(var)));
        }
    }
    for (key, value) in &sources.flags {
        let setting = schema::find(key).ok_or_else(|| anyhow!("internal: no setting {key}"))?;
        let previous = values.get(key).filter(|(_, o)| matches!(o, Origin::Flag(_)));
        // A repeated list flag (-b A -b B) accumulates.
        let value = match previous {
            Some((before, _)) if setting.kind == Kind::List => format!("{before},{value}"),
            _ => value.clone(),
        };
        values.insert(setting.key, (value, Origin::Flag(setting.flag.to_string())));
    }
    parse(values, file)
}

/// Only `control_socket`, layered as [`load`] does, so `rg ctl` finds the
/// master even while another setting in `rg.toml` is broken (and a reload
/// is what would say so). Flags do not take part: `rg ctl` has its own.
pub fn control_socket(sources: &Sources, env: impl Fn(&str) -> Option<String>) -> Result<Option<PathBuf>> {
    let key = schema::CONTROL_SOCKET.key;
    let mut value = schema::CONTROL_SOCKET.default.to_string();
    let file = match (&sources.explicit_file, &sources.default_file) {
        (Some(path), _) => Some(path),
        (None, Some(path)) if path.exists() => Some(path),
        _ => None,
    };
    if let Some(path) = file
        && let Some((_, v, _)) = file::read(path)?.into_iter().find(|(k, _, _)| *k == key)
    {
        value = v;
    }
    if let Some(v) = env(&schema::CONTROL_SOCKET.var()) {
        value = v;
    }
    Ok(Some(value.trim()).filter(|v| !v.is_empty()).map(PathBuf::from))
}

fn parse(values: BTreeMap<&'static str, (String, Origin)>, config_file: Option<PathBuf>) -> Result<Settings> {
    let mut master = MasterSettings::default();
    let mut worker = WorkerSettings::default();
    // Every value through its parser, in the schema's order, so the first
    // error is reported the same way whatever its kind.
    for setting in SETTINGS {
        let entry = &values[setting.key];
        setting
            .read(entry.0.trim(), &mut master, &mut worker)
            .map_err(|reason| invalid_value(setting.key, entry, &reason))?;
    }
    let insecure = &master.insecure_bind;
    if let Some((plain, serving)) = insecure
        .iter()
        .find_map(|p| Some((p, worker.bind.iter().find(|b| same_port(b, p))?)))
    {
        return Err(invalid_value(
            schema::INSECURE_BIND.key,
            &values[schema::INSECURE_BIND.key],
            &format!("{plain} is also in bind ({serving}); an address serves either HTTPS or plain HTTP"),
        ));
    }
    if let Some(metrics) = &master.metrics_bind
        && let Some(serving) = worker.bind.iter().chain(insecure).find(|b| same_port(b, metrics))
    {
        return Err(invalid_value(
            schema::METRICS_BIND.key,
            &values[schema::METRICS_BIND.key],
            &format!(
                "it is also a serving address (bind = {serving}); give the metrics port an address of its own"
            ),
        ));
    }
    Ok(Settings {
        master,
        worker,
        config_file,
        values,
    })
}

/// Whether two addresses would be the same listening socket (a wildcard
/// address takes its port on every address).
fn same_port(a: &Bind, b: &Bind) -> bool {
    match (a, b) {
        (Bind::Tcp(a), Bind::Tcp(b)) => {
            a.port() != 0
                && a.port() == b.port()
                && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
        }
        (Bind::Unix(a), Bind::Unix(b)) => a == b,
        _ => false,
    }
}

/// Warns, on stderr, about `RG_*` variables in the environment that are no
/// setting: a typo (`RG_THRAEDS`) would otherwise be ignored in silence,
/// because workers are only given the variables they read.
pub fn warn_unknown_variables() {
    let vars: Vec<String> = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .collect();
    for var in schema::unknown_to_rg(vars.iter().map(String::as_str)) {
        let near = SETTINGS
            .iter()
            .map(|s| s.var())
            .map(|known| (strsim::levenshtein(var, &known), known))
            .filter(|(d, _)| *d <= 3)
            .min()
            .map(|(_, known)| format!("; did you mean {known}?"))
            .unwrap_or_default();
        eprintln!(
            "{} ignoring unknown setting {var}{near} (`rg serve --help` lists them)",
            console::style("warning:").yellow().bold()
        );
    }
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

    /// The `RG_*` variables a worker gets: each setting a worker reads
    /// whose value is not the worker's own default, counts evaluated. So a
    /// project on an older runtime meets only the settings someone set.
    /// (Sockets are inherited, so `bind` is not among them.)
    pub fn worker_env(&self) -> Vec<(String, String)> {
        SETTINGS
            .iter()
            .filter(|s| s.sides.worker && s.key != schema::BIND.key)
            .filter_map(|s| {
                let value = if s.key == schema::THREADS.key {
                    self.worker.threads.to_string()
                } else {
                    self.values[s.key].0.trim().to_string()
                };
                (value != s.worker_default()).then(|| (s.var(), value))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
