//! The one settings schema: every setting of rg, once, in [`SETTINGS`].
//!
//! Each entry names its `rg.toml` key, its flag, its `RG_*` variable, its
//! default (as text, parsed by the same parser as any other value), who
//! reads it, its help, and its value parser, which writes the typed value
//! into [`WorkerSettings`] or [`MasterSettings`]. Everything else is derived
//! from the table: `rg serve`'s flags and their `--help`, the `rg.toml` that
//! `rg new` writes, `rg.toml` validation, `--print-config`, the book's
//! reference chapter, and the worker's reader. A default is written here and
//! nowhere else.

pub mod expr;
mod master;
mod setting;
mod table;
pub mod values;
mod worker;

pub use master::MasterSettings;
pub use setting::{ALL, BOTH, Kind, MASTER, Parse, Setting, Sides, WORKER};
pub use table::*;
pub use values::{ForwardedAllow, Http2Limits, HttpVersions, Limits, LogFormat, LogTarget, ProxyProtocol};
pub use worker::{INTERNAL, WorkerSettings, unknown_to_rg, unknown_variables, worker_reads};

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
            assert_eq!(s.check(s.default), Ok(()), "{}", s.key);
            assert_eq!(s.check(s.worker_default()), Ok(()), "{}", s.key);
        }
    }

    #[test]
    fn keys_flags_and_variables_are_unique_and_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for s in SETTINGS {
            assert!(seen.insert(s.key), "{} twice", s.key);
            assert!(seen.insert(s.flag), "{} twice", s.flag);
            assert!(s.flag.starts_with("--"), "{}", s.flag);
            assert!(s.key.starts_with(|c: char| c.is_ascii_lowercase()), "{}", s.key);
            assert!(
                s.key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{}",
                s.key
            );
            assert!(s.help.ends_with('.'), "{}: help is a sentence", s.key);
            assert!(!s.doc.is_empty(), "{}: rg.toml needs its comment", s.key);
        }
        assert_eq!(GRACEFUL_TIMEOUT.var(), "RG_GRACEFUL_TIMEOUT");
    }

    /// The constructor's blanks are all filled in: a value name in capitals
    /// (so it cannot be swapped with the default beside it).
    #[test]
    fn every_entry_names_its_value() {
        for s in SETTINGS {
            assert!(!s.value_name.is_empty(), "{}", s.key);
            assert!(s.value_name.chars().all(|c| c.is_ascii_uppercase()), "{}", s.key);
        }
    }

    /// A setting a worker reads writes into the worker's settings, and only
    /// such a setting does: the worker's reader goes by where values go.
    #[test]
    fn worker_settings_are_parsed_into_the_workers_settings() {
        for s in SETTINGS {
            assert_eq!(s.sides.worker, matches!(s.parse, Parse::Worker(_)), "{}", s.key);
        }
    }

    #[test]
    fn values_are_written_as_toml() {
        assert_eq!(BIND.toml_value("a:1, b:2"), r#"["a:1", "b:2"]"#);
        assert_eq!(WORKERS.toml_value("cpu_count"), r#""cpu_count""#);
        assert_eq!(THREADS.toml_value("4"), "4");
        assert_eq!(PIDFILE.toml_value(""), r#""""#);
    }
}
