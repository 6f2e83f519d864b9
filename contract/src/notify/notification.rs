//! What a worker, `rg serve`'s master and systemd tell each other over
//! sd_notify, as one value: senders render it, receivers parse it.

use std::fmt;

use crate::hot_patch::News;
use crate::stats::Counts;

/// The STATUS of a worker that could not start begins so; the master
/// quotes it when it gives up.
const START_FAILED: &str = "error: ";

/// One sd_notify datagram: the assignments of systemd's that rg uses, and
/// rg's own (`X_RG_*`, which systemd ignores).
///
/// [`fmt::Display`] renders the datagram, one `KEY=VALUE` line each, in a
/// fixed order; [`Notification::parse`] reads one back, skipping what it
/// does not know, as systemd does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notification {
    /// `READY=1`: started, or done reloading, and serving.
    pub ready: bool,
    /// `RELOADING=1`: reloading its configuration.
    pub reloading: bool,
    /// `MONOTONIC_USEC=`: when the reload began, on `CLOCK_MONOTONIC`;
    /// systemd wants it beside `RELOADING=1`.
    pub monotonic_usec: Option<u64>,
    /// `STOPPING=1`: shutting down.
    pub stopping: bool,
    /// `WATCHDOG=1`: still alive.
    pub watchdog: bool,
    /// `X_RG_RECYCLE=1`: a worker reached `max_requests` and asks the
    /// master for a replacement; it serves on until it gets SIGTERM.
    pub recycle: bool,
    /// `MAINPID=`: the process the supervisor should watch.
    pub main_pid: Option<u32>,
    /// `STATUS=`: what it is doing, in words (`systemctl status` shows it).
    pub status: Option<String>,
    /// `X_RG_STATS=`: a worker's request counts, for the metrics port.
    pub stats: Option<Counts>,
    /// `X_RG_HOTPATCH=`: what a dev-mode application says of hot patches.
    pub hot_patch: Option<News>,
}

impl Notification {
    /// `READY=1`.
    pub fn ready() -> Notification {
        Notification {
            ready: true,
            ..Notification::default()
        }
    }

    /// `RELOADING=1`, begun at `monotonic_usec`.
    pub fn reloading(monotonic_usec: u64) -> Notification {
        Notification {
            reloading: true,
            monotonic_usec: Some(monotonic_usec),
            ..Notification::default()
        }
    }

    /// `STOPPING=1`.
    pub fn stopping() -> Notification {
        Notification {
            stopping: true,
            ..Notification::default()
        }
    }

    /// `WATCHDOG=1`.
    pub fn watchdog() -> Notification {
        Notification {
            watchdog: true,
            ..Notification::default()
        }
    }

    /// `STATUS=words` alone.
    pub fn status(words: impl Into<String>) -> Notification {
        Notification::default().with_status(words)
    }

    /// This, with `STATUS=words`.
    pub fn with_status(self, words: impl Into<String>) -> Notification {
        Notification {
            status: Some(words.into()),
            ..self
        }
    }

    /// This, with `MAINPID=pid`.
    pub fn with_main_pid(self, pid: u32) -> Notification {
        Notification {
            main_pid: Some(pid),
            ..self
        }
    }

    /// A worker serving on `addresses`: ready, as process `pid`.
    pub fn serving(addresses: &[String], pid: u32) -> Notification {
        Notification::ready()
            .with_main_pid(pid)
            .with_status(format!("Serving on {}", addresses.join(", ")))
    }

    /// A worker that could not start, and why: the master and `rg
    /// runserver` read it back with [`Notification::start_failure`].
    pub fn start_failed(why: impl fmt::Display) -> Notification {
        Notification::status(format!("{START_FAILED}{why}"))
    }

    /// Why a worker could not start, if `status` is what
    /// [`Notification::start_failed`] sent.
    pub fn start_failure(status: &str) -> Option<&str> {
        status.strip_prefix(START_FAILED)
    }

    /// A worker that has served `served` requests, `max_requests`, and
    /// asks for a replacement.
    pub fn recycle(served: u64) -> Notification {
        Notification {
            recycle: true,
            ..Notification::status(format!(
                "Served {served} requests (max_requests), waiting for a replacement"
            ))
        }
    }

    /// A worker's counts so far.
    pub fn counts(counts: Counts) -> Notification {
        Notification {
            stats: Some(counts),
            ..Notification::default()
        }
    }

    /// What a dev-mode application says of hot patches.
    pub fn hot_patch(news: News) -> Notification {
        Notification {
            hot_patch: Some(news),
            ..Notification::default()
        }
    }

    /// Reads a datagram: `KEY=VALUE` lines, in any order. Lines without
    /// `=`, keys it does not know and values that do not parse are skipped.
    pub fn parse(text: &str) -> Notification {
        Notification::from_fields(text.lines().filter_map(|line| line.split_once('=')))
    }

    /// Reads the `(KEY, VALUE)` pairs of a datagram, as [`Notification::parse`].
    pub fn from_fields<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> Notification {
        let mut told = Notification::default();
        for (key, value) in fields {
            let set = value == "1";
            match key {
                "READY" => told.ready = set,
                "RELOADING" => told.reloading = set,
                "MONOTONIC_USEC" => told.monotonic_usec = value.parse().ok(),
                "STOPPING" => told.stopping = set,
                "WATCHDOG" => told.watchdog = set,
                "X_RG_RECYCLE" => told.recycle = set,
                "MAINPID" => told.main_pid = value.parse().ok(),
                "STATUS" => told.status = Some(value.to_string()),
                "X_RG_STATS" => told.stats = Counts::decode(value),
                "X_RG_HOTPATCH" => told.hot_patch = News::decode(value),
                _ => {}
            }
        }
        told
    }
}

impl fmt::Display for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut lines = Lines { f, first: true };
        lines.flag("READY", self.ready)?;
        lines.flag("RELOADING", self.reloading)?;
        lines.value("MONOTONIC_USEC", self.monotonic_usec)?;
        lines.flag("STOPPING", self.stopping)?;
        lines.flag("WATCHDOG", self.watchdog)?;
        lines.flag("X_RG_RECYCLE", self.recycle)?;
        lines.value("MAINPID", self.main_pid)?;
        // On one line: a newline would end the assignment, and what
        // follows it would be read as assignments of its own.
        lines.value("STATUS", self.status.as_ref().map(|s| s.replace('\n', " ")))?;
        lines.value("X_RG_STATS", self.stats.as_ref().map(Counts::encode))?;
        lines.value("X_RG_HOTPATCH", self.hot_patch.as_ref().map(News::encode))
    }
}

/// Writes `KEY=VALUE` lines, a newline between them.
struct Lines<'a, 'b> {
    f: &'a mut fmt::Formatter<'b>,
    first: bool,
}

impl Lines<'_, '_> {
    /// `KEY=1` when `set`.
    fn flag(&mut self, key: &str, set: bool) -> fmt::Result {
        self.value(key, set.then_some(1))
    }

    /// `KEY=value` when there is a value.
    fn value(&mut self, key: &str, value: Option<impl fmt::Display>) -> fmt::Result {
        let Some(value) = value else {
            return Ok(());
        };
        if !std::mem::take(&mut self.first) {
            self.f.write_str("\n")?;
        }
        write!(self.f, "{key}={value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_wire_format() {
        let addresses = ["127.0.0.1:8000".to_string(), "unix:/run/a.sock".to_string()];
        assert_eq!(
            Notification::serving(&addresses, 42).to_string(),
            "READY=1\nMAINPID=42\nSTATUS=Serving on 127.0.0.1:8000, unix:/run/a.sock"
        );
        assert_eq!(Notification::stopping().to_string(), "STOPPING=1");
        assert_eq!(Notification::watchdog().to_string(), "WATCHDOG=1");
        assert_eq!(
            Notification::recycle(1000).to_string(),
            "X_RG_RECYCLE=1\nSTATUS=Served 1000 requests (max_requests), waiting for a replacement"
        );
        assert_eq!(
            Notification::start_failed("invalid RG_THREADS=\"x\"").to_string(),
            "STATUS=error: invalid RG_THREADS=\"x\""
        );
        assert_eq!(
            Notification::reloading(123).with_status("Reloading").to_string(),
            "RELOADING=1\nMONOTONIC_USEC=123\nSTATUS=Reloading"
        );
        assert_eq!(
            Notification::ready()
                .with_main_pid(7)
                .with_status("2 workers ready")
                .to_string(),
            "READY=1\nMAINPID=7\nSTATUS=2 workers ready"
        );
        assert_eq!(Notification::default().to_string(), "");
        let stats = Notification::counts(Counts::default()).to_string();
        assert_eq!(stats, format!("X_RG_STATS={}", Counts::default().encode()));
    }

    #[test]
    fn parses_what_it_renders() {
        let mut counts = Counts::default();
        counts.requests[0][0][1] = 3;
        let all = Notification {
            ready: true,
            reloading: true,
            monotonic_usec: Some(5),
            stopping: true,
            watchdog: true,
            recycle: true,
            main_pid: Some(9),
            status: Some("a=b".into()),
            stats: Some(counts),
            hot_patch: Some(News::Applied(2)),
        };
        assert_eq!(Notification::parse(&all.to_string()), all);
        for one in [
            Notification::ready(),
            Notification::stopping(),
            Notification::recycle(3),
            Notification::start_failed("no"),
        ] {
            assert_eq!(Notification::parse(&one.to_string()), one);
        }
    }

    #[test]
    fn skips_what_it_does_not_know() {
        assert_eq!(
            Notification::parse("READY=1\nnoise\nFDSTORE=1\nMAINPID=x\nX_RG_STATS=9 9"),
            Notification::ready()
        );
        assert_eq!(Notification::parse("READY=0"), Notification::default());
    }

    #[test]
    fn a_status_stays_on_its_line() {
        let told = Notification::start_failed("first\nREADY=1");
        assert_eq!(told.to_string(), "STATUS=error: first READY=1");
        assert!(!Notification::parse(&told.to_string()).ready);
    }

    #[test]
    fn a_start_failure_is_read_back() {
        let told = Notification::parse(&Notification::start_failed("database unreachable").to_string());
        let status = told.status.unwrap_or_default();
        assert_eq!(status, "error: database unreachable");
        assert_eq!(Notification::start_failure(&status), Some("database unreachable"));
        assert_eq!(Notification::start_failure("Serving on :8000"), None);
    }
}
