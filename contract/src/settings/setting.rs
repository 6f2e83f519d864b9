//! One setting's entry: its names, its default, its docs, and how its typed
//! value is read and where it goes, so the table says all of it once.

use super::{MasterSettings, WorkerSettings};

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

/// A setting's value parser, writing the typed value into its place: in
/// [`WorkerSettings`] when a worker reads it (the master reads the ones it
/// shares with the workers there too), else in [`MasterSettings`]. `Err` is
/// the reason a value is refused.
#[derive(Debug, Clone, Copy)]
pub enum Parse {
    /// Into the workers' settings.
    Worker(fn(&mut WorkerSettings, &str) -> Result<(), String>),
    /// Into the settings only the master reads.
    Master(fn(&mut MasterSettings, &str) -> Result<(), String>),
}

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
    /// How the value is read, and where it goes.
    pub parse: Parse,
}

/// The parser of an entry that forgot to give one; a test finds it.
fn missing(_: &mut MasterSettings, _: &str) -> Result<(), String> {
    Err("the table gives this setting no parser".into())
}

/// The table's constructor: [`Setting::new`] names the setting, and each
/// call after it fills in one part.
impl Setting {
    /// The setting `key` in `rg.toml`, read by `sides`: a text without
    /// flag, default, help or parser until the calls after it give them.
    pub const fn new(key: &'static str, sides: Sides) -> Setting {
        Setting {
            key,
            flag: "",
            short: None,
            alias: None,
            value_name: "",
            default: "",
            alone: None,
            kind: Kind::Text,
            sides,
            help: "",
            doc: "",
            parse: Parse::Master(missing),
        }
    }

    /// The long flag of `rg serve`, with its dashes.
    pub const fn flag(mut self, flag: &'static str) -> Setting {
        self.flag = flag;
        self
    }

    /// Gunicorn's short flag.
    pub const fn short(mut self, short: char) -> Setting {
        self.short = Some(short);
        self
    }

    /// Another spelling of the long flag, without its dashes.
    pub const fn alias(mut self, alias: &'static str) -> Setting {
        self.alias = Some(alias);
        self
    }

    /// How the value is written, what `--help` calls it, and its default.
    pub const fn value(mut self, kind: Kind, name: &'static str, default: &'static str) -> Setting {
        self.kind = kind;
        self.value_name = name;
        self.default = default;
        self
    }

    /// A worker's default when it runs without `rg serve`.
    pub const fn alone(mut self, default: &'static str) -> Setting {
        self.alone = Some(default);
        self
    }

    /// The value parser, and where the typed value goes.
    pub const fn parse(mut self, parse: Parse) -> Setting {
        self.parse = parse;
        self
    }

    /// The flag's help: one sentence.
    pub const fn help(mut self, help: &'static str) -> Setting {
        self.help = help;
        self
    }

    /// The comment above the setting in a new project's `rg.toml`.
    pub const fn doc(mut self, doc: &'static str) -> Setting {
        self.doc = doc;
        self
    }
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

    /// Reads `value` through the setting's parser into its place in
    /// `master` or `worker`; `Err` is the reason it is refused.
    pub fn read(
        &self,
        value: &str,
        master: &mut MasterSettings,
        worker: &mut WorkerSettings,
    ) -> Result<(), String> {
        match self.parse {
            Parse::Master(parse) => parse(master, value),
            Parse::Worker(parse) => parse(worker, value),
        }
    }

    /// Whether the setting's parser takes `value`; `Err` is the reason.
    pub fn check(&self, value: &str) -> Result<(), String> {
        self.read(
            value,
            &mut MasterSettings::default(),
            &mut WorkerSettings::default(),
        )
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
