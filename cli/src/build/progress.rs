//! The build's progress bar, driven by cargo's own progress line.
//!
//! Cargo knows how many units a build has and says so only in its progress
//! line (`[=====>    ] 45/89: hyper, tokio`), never in its JSON messages.
//! Told `CARGO_TERM_PROGRESS_WHEN=always`, it writes that line to a pipe
//! too, ended by `\r` instead of `\n`. rg reads cargo's stderr piece by
//! piece, turns progress lines into an indicatif bar (same numbers, and the
//! crates compiling right now), and passes everything else through.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// The environment that makes cargo write its progress line to a pipe, wide
/// enough to name several crates.
pub const CARGO_ENV: [(&str, &str); 2] = [
    ("CARGO_TERM_PROGRESS_WHEN", "always"),
    ("CARGO_TERM_PROGRESS_WIDTH", "160"),
];

/// A spinner until cargo reports its first progress, then a bar.
#[derive(Debug, Clone)]
pub struct BuildBar {
    bar: ProgressBar,
    what: &'static str,
}

impl BuildBar {
    /// Starts the spinner for a build of `what` (`dev`, `release`).
    pub fn start(what: &'static str) -> BuildBar {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner:.green} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(100));
        bar.set_message(format!("Building ({what})"));
        BuildBar { bar, what }
    }

    /// Takes one piece of cargo's stderr (a line, or a `\r`-ended progress
    /// update). Returns false when it is not progress: a message to show.
    pub fn update(&self, piece: &str) -> bool {
        if let Some(crates) = downloading(piece) {
            self.bar
                .set_message(format!("Building ({}): downloading {crates}", self.what));
            return true;
        }
        let Some((done, total, names)) = parse(piece) else {
            return false;
        };
        if self.bar.length().is_none() {
            let template = format!(
                "{{spinner:.green}} Building ({}) [{{bar:25}}] {{pos}}/{{len}}: {{msg}}",
                self.what
            );
            if let Ok(style) = ProgressStyle::with_template(&template) {
                self.bar.set_style(style.progress_chars("=> "));
            }
        }
        self.bar.set_length(total);
        self.bar.set_position(done);
        self.bar.set_message(names.to_string());
        true
    }

    /// Runs `f` (which prints) with the bar out of the way.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Cargo's download progress as it reaches a pipe under `--quiet`: the
/// count alone (`3 crates`, `1 crate`, `0 crates`). Taken for a message,
/// it printed as stray lines on a new project's first build.
fn downloading(piece: &str) -> Option<&str> {
    let piece = piece.trim();
    let (count, unit) = piece.split_once(' ')?;
    (count.parse::<u64>().is_ok() && matches!(unit, "crate" | "crates")).then_some(piece)
}

/// `(done, total, names)` from a progress line such as
/// `[=====>   ] 45/89: hyper, tokio` (or `Building [...] 45/89: ...`).
fn parse(line: &str) -> Option<(u64, u64, &str)> {
    let line = line.trim_start();
    let line = line.strip_prefix("Building").map_or(line, str::trim_start);
    if !line.starts_with('[') {
        return None;
    }
    let after_bar = &line[line.find("] ")? + 2..];
    let (counts, names) = after_bar.split_once(": ").unwrap_or((after_bar, ""));
    let (done, total) = counts.trim().split_once('/')?;
    Some((done.parse().ok()?, total.parse().ok()?, names.trim()))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn reads_cargos_progress_line() {
        assert_eq!(
            parse("[=========================> ] 88/89: mysite(bin)             "),
            Some((88, 89, "mysite(bin)"))
        );
        assert_eq!(
            parse("    Building [====>     ] 12/89: hyper, tokio, serde_json"),
            Some((12, 89, "hyper, tokio, serde_json"))
        );
        assert_eq!(parse("[      ] 0/89"), Some((0, 89, "")));
    }

    #[test]
    fn reads_cargos_download_count() {
        use super::downloading;
        assert_eq!(downloading("3 crates          "), Some("3 crates"));
        assert_eq!(downloading("1 crate"), Some("1 crate"));
        assert_eq!(downloading("0 crates"), Some("0 crates"));
        assert_eq!(downloading("3 crates failed to download"), None);
    }

    #[test]
    fn anything_else_is_a_message() {
        assert_eq!(parse("error: failed to parse manifest at `/x/Cargo.toml`"), None);
        assert_eq!(parse("warning: [profile] is ignored: 3/4 of it"), None);
        assert_eq!(parse("note: see [x] 1/2: y"), None);
    }
}
