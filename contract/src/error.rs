//! Why a worker could not start, as values a caller can match.
//!
//! Every variant names the thing that was wrong (the variable, the address,
//! the file descriptor) so the one line printed on exit is enough to act on.
//! A failure to start has its own exit code, [`EXIT_START_FAILURE`], which
//! tells a supervisor (`rg serve`, systemd) that respawning will not help.

use std::fmt;
use std::io;

/// Exit code of a worker that could not start: bad settings, an address it
/// could not bind, an inherited descriptor that is not a listening socket,
/// an application whose setup failed.
///
/// `rg serve` treats repeated exits with this code as a crash loop and stops
/// instead of respawning. The value matches Gunicorn's `WORKER_BOOT_ERROR`.
pub const EXIT_START_FAILURE: u8 = 3;

/// Exit code of a worker that started but then failed while serving.
pub const EXIT_RUNTIME_FAILURE: u8 = 1;

/// Everything that can keep a worker from serving.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An `RG_*` variable (or another variable of the contract) has a value
    /// that does not parse.
    Setting {
        /// The variable's name, e.g. `RG_THREADS`.
        var: String,
        /// The value as it was found.
        value: String,
        /// Why it was refused, in words.
        reason: String,
    },
    /// An `RG_*` variable that names no setting this runtime knows: set by a
    /// newer `rg`, or a typo. Never ignored, since a setting that was asked
    /// for and silently not applied is worse than a worker that says so.
    UnknownSetting {
        /// The variable's name.
        var: String,
    },
    /// A bind address does not parse.
    BindSyntax {
        /// The text that was given.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// Binding or listening on an address failed.
    Bind {
        /// The address as the user wrote it.
        addr: String,
        /// What the operating system said.
        source: io::Error,
    },
    /// A descriptor handed over through `LISTEN_FDS` cannot be served.
    InheritedFd {
        /// The descriptor number.
        fd: i32,
        /// Why it cannot be used.
        reason: String,
    },
    /// The async runtime could not be built.
    Runtime(io::Error),
    /// The application's own setup failed, panicked or took too long; the
    /// words are the application's error.
    Setup(String),
    /// The log file could not be opened.
    LogFile {
        /// The path that was given.
        path: String,
        /// What the operating system said.
        source: io::Error,
    },
}

impl Error {
    /// The process exit code for this error: all of these happen before the
    /// worker serves its first request, so all are start failures.
    pub fn exit_code(&self) -> u8 {
        EXIT_START_FAILURE
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Setting { var, value, reason } => {
                write!(f, "invalid {var}={value:?}: {reason}")
            }
            Error::UnknownSetting { var } => write!(
                f,
                "unknown setting {var}: this application's runtime (rg-runtime {}) does not know it; \
                 if a newer rg set it, run `rg upgrade` in the project, else unset it",
                env!("CARGO_PKG_VERSION")
            ),
            Error::BindSyntax { value, reason } => {
                write!(f, "invalid bind address {value:?}: {reason}")
            }
            Error::Bind { addr, source } => {
                write!(f, "could not bind {addr}: {}", describe_io(source))
            }
            Error::InheritedFd { fd, reason } => {
                write!(f, "inherited file descriptor {fd}: {reason}")
            }
            Error::Runtime(e) => write!(f, "could not start the async runtime: {e}"),
            Error::Setup(why) => write!(f, "the application's setup failed: {why}"),
            Error::LogFile { path, source } => {
                write!(f, "could not open log file {path}: {}", describe_io(source))
            }
        }
    }
}

/// No `source()`: each message already says its cause, in the words of
/// [`describe_io`], and a caller that prints the chain (the `rg` binary)
/// would print it a second time. The cause stays a field to match on.
impl std::error::Error for Error {}

/// The operating system's error in the words a user searches for, with a
/// hint where the cause is usually the same.
pub fn describe_io(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::AddrInUse => "address already in use (another server is listening there)".into(),
        io::ErrorKind::PermissionDenied => {
            "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE; a unix socket needs write access to its directory)".into()
        }
        io::ErrorKind::AddrNotAvailable => {
            "address not available (no interface of this machine has that address)".into()
        }
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines the `rg` binary prints for an error: the error, then each
    /// cause in its chain.
    fn chain(error: &dyn std::error::Error) -> Vec<String> {
        std::iter::successors(Some(error), |e| e.source())
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn each_cause_is_printed_once() {
        let denied = || io::Error::from(io::ErrorKind::PermissionDenied);
        let errors = [
            Error::LogFile {
                path: "/var/log/rg.log".into(),
                source: denied(),
            },
            Error::Bind {
                addr: "127.0.0.1:80".into(),
                source: denied(),
            },
            Error::Runtime(denied()),
        ];
        for error in &errors {
            let printed = chain(error).join("\n").to_lowercase();
            assert_eq!(printed.matches("permission denied").count(), 1, "{printed}");
        }
        let printed = chain(&errors[0]);
        assert_eq!(printed.len(), 1, "{printed:?}");
        assert!(
            printed[0].starts_with("could not open log file /var/log/rg.log: permission denied"),
            "{printed:?}"
        );
    }
}
