//! The one settings schema: every setting of rg, once.
//!
//! Each [`Setting`] names its `rg.toml` key, its flag, its `RG_*` variable,
//! its default (as text, parsed by the same parser as any other value), who
//! reads it, its help, and its value parser. Everything else is derived
//! from [`SETTINGS`]: `rg serve`'s flags and their `--help`, the `rg.toml`
//! that `rg new` writes, `rg.toml` validation, `--print-config`, the book's
//! reference chapter, and the worker's reader ([`WorkerSettings`]). A
//! default is written here and nowhere else.

pub mod expr;
mod table;
pub mod values;
mod worker;

pub use table::*;
pub use values::{ForwardedAllow, Limits, LogFormat, LogTarget, ProxyProtocol};
pub use worker::{INTERNAL, WorkerSettings, unknown_to_rg, unknown_variables, worker_reads};

/// How a value is written in `rg.toml` and `--print-config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A list of strings (comma-separated in flags and the environment).
    List,
    /// A number, or for counts an expression on `cpu_count` (then quoted).
    Number,
    /// A string.
    Text,
    /// `true` or `false`.
    Switch,
}

/// Who reads a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sides {
    /// `rg serve`'s master.
    pub master: bool,
    /// Every application process (it gets the setting as `RG_*`).
    pub worker: bool,
    /// `rg runserver` itself.
    pub dev: bool,
}

/// Read by the master only.
pub const MASTER: Sides = Sides {
    master: true,
    worker: false,
    dev: false,
};
/// Read by the workers only.
pub const WORKER: Sides = Sides {
    master: false,
    worker: true,
    dev: false,
};
/// Read by the master and the workers.
pub const BOTH: Sides = Sides {
    master: true,
    worker: true,
    dev: false,
};
/// Read by everyone: the master, the workers and `rg runserver`.
pub const ALL: Sides = Sides {
    master: true,
    worker: true,
    dev: true,
};

/// One setting.
#[derive(Debug)]
pub struct Setting {
    /// The key in `rg.toml`. The variable is `RG_` and the key in upper case.
    pub key: &'static str,
    /// The long flag of `rg serve`, with its dashes.
    pub flag: &'static str,
    /// The short flag, if Gunicorn has one.
    pub short: Option<char>,
    /// Another spelling of the long flag that is accepted.
    pub alias: Option<&'static str>,
    /// What the flag's value is called in `--help`.
    pub value_name: &'static str,
    /// The default, as it would be written in `rg.toml`.
    pub default: &'static str,
    /// The default of a worker run without `rg serve` (by hand, under
    /// systemd), when it differs.
    pub alone: Option<&'static str>,
    /// How the value is written.
    pub kind: Kind,
    /// Who reads it.
    pub sides: Sides,
    /// One sentence: flag help and the reference chapter.
    pub help: &'static str,
    /// The comment above it in the `rg.toml` that `rg new` writes.
    pub doc: &'static str,
    /// The value parser: `Err` is the reason a value is refused.
    pub check: fn(&str) -> Result<(), String>,
}

impl Setting {
    /// The environment variable, e.g. `RG_GRACEFUL_TIMEOUT`.
    pub fn var(&self) -> String {
        format!("RG_{}", self.key.to_ascii_uppercase())
    }

    /// The default a worker uses when nothing sets the variable.
    pub fn worker_default(&self) -> &'static str {
        self.alone.unwrap_or(self.default)
    }

    /// `value` as it is written in TOML: lists as arrays, numbers bare, the
    /// rest (expressions included) quoted.
    pub fn toml_value(&self, value: &str) -> String {
        let value = value.trim();
        match self.kind {
            Kind::List => {
                let items: Vec<String> = value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| format!("{s:?}"))
                    .collect();
                format!("[{}]", items.join(", "))
            }
            Kind::Number if value.parse::<f64>().is_ok() => value.to_string(),
            Kind::Switch if matches!(value, "true" | "false") => value.to_string(),
            _ => format!("{value:?}"),
        }
    }
}

/// The setting with this `rg.toml` key.
pub fn find(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().copied().find(|s| s.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_passes_its_own_parser() {
        for s in SETTINGS {
            assert_eq!((s.check)(s.default), Ok(()), "{}", s.key);
            assert_eq!((s.check)(s.worker_default()), Ok(()), "{}", s.key);
        }
    }

    #[test]
    fn keys_flags_and_variables_are_unique_and_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for s in SETTINGS {
            assert!(seen.insert(s.key), "{} twice", s.key);
            assert!(seen.insert(s.flag), "{} twice", s.flag);
            assert!(s.flag.starts_with("--"), "{}", s.flag);
            assert!(s.key.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
            assert!(s.help.ends_with('.'), "{}: help is a sentence", s.key);
            assert!(!s.doc.is_empty(), "{}: rg.toml needs its comment", s.key);
        }
        assert_eq!(GRACEFUL_TIMEOUT.var(), "RG_GRACEFUL_TIMEOUT");
    }

    #[test]
    fn values_are_written_as_toml() {
        assert_eq!(BIND.toml_value("a:1, b:2"), r#"["a:1", "b:2"]"#);
        assert_eq!(WORKERS.toml_value("cpu_count"), r#""cpu_count""#);
        assert_eq!(THREADS.toml_value("4"), "4");
        assert_eq!(PIDFILE.toml_value(""), r#""""#);
    }
}
