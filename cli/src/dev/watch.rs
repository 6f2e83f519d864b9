//! Watching a project for saves: native file events (or polling), a filter
//! that keeps builds from triggering themselves, and a debounce that ends
//! a save's burst as soon as its files are closed.
//!
//! Watched: the directory of every local package the binary is built
//! from (its own, workspace libraries, path dependencies; `project.rs`
//! finds them with cargo metadata). Ignored: `target/`, `.git/`, `Cargo.lock`, what the
//! root's `.gitignore` ignores, and editors' temporary files. The project's
//! top-level directories are watched one by one (all but the ignored ones),
//! so a large `target/` never costs a watch or an event.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RenameMode};
use notify::{Event, EventKind, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;

/// How long a burst of saves may stay quiet before it counts as done, while
/// a file in it is still being written (its writer has not closed it).
///
/// Every millisecond of it is added to each save-to-response, so it is as
/// short as the bursts editors make: one save's events (write, rename,
/// chmod) come within a few milliseconds. Saves further apart than this
/// start a build that the next one cancels, which costs little.
pub const QUIET: Duration = Duration::from_millis(20);
/// The same once every file the burst wrote is closed or renamed into
/// place: what is left of a save (a chmod, a backup removed) follows within
/// a millisecond, and a patch starts 17 ms sooner.
pub const SETTLED: Duration = Duration::from_millis(3);
/// The longest a burst is waited for.
const BURST_MAX: Duration = Duration::from_millis(500);

/// One watched tree and what to ignore in it.
struct Root {
    dir: PathBuf,
    gitignore: Gitignore,
}

impl Root {
    fn new(dir: PathBuf) -> Root {
        let mut builder = GitignoreBuilder::new(&dir);
        let _ = builder.add(dir.join(".gitignore"));
        let gitignore = builder.build().unwrap_or_else(|_| Gitignore::empty());
        Root { dir, gitignore }
    }

    /// Whether `path` (inside this root) is a source a build depends on.
    fn wants(&self, path: &Path) -> bool {
        let Ok(relative) = path.strip_prefix(&self.dir) else {
            return false;
        };
        let mut parts = relative.components();
        let first = parts.next().map(|c| c.as_os_str().to_string_lossy().into_owned());
        match first.as_deref() {
            Some("target" | ".git") | None => return false,
            Some(name) if is_cargo_temp_target(name) => return false,
            _ => {}
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name == "Cargo.lock" || is_editor_temp(&name) || is_database_journal(&name) {
            return false;
        }
        !self
            .gitignore
            .matched_path_or_any_parents(relative, path.is_dir())
            .is_ignore()
    }
}

/// Cargo makes `target/` atomically: it creates `target` plus six random
/// characters beside it, then renames it. Seen by the watcher, that
/// directory looked like a save on a new project's first build.
fn is_cargo_temp_target(name: &str) -> bool {
    name.strip_prefix("target")
        .is_some_and(|rest| rest.len() == 6 && rest.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// SQLite's side files (`app.db-wal`, `-shm`, `-journal`) change whenever
/// the application writes to its database: never a source a save meant.
fn is_database_journal(name: &str) -> bool {
    name.ends_with("-wal") || name.ends_with("-shm") || name.ends_with("-journal")
}

fn is_editor_temp(name: &str) -> bool {
    name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.starts_with(".#")
        || name == "4913"
}

/// What an event says about the file it names.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    /// Written to, and still open: more may come.
    Writing,
    /// Closed by a writer: complete, and no save on its own (a file opened
    /// for writing may be closed unchanged).
    Closed,
    /// Complete: renamed into place, or removed.
    Written,
    /// Neither: its metadata, a directory, the old name of a rename.
    Other,
}

impl Step {
    /// `None`: not a change to the file (it was read, or opened).
    fn of(kind: &EventKind) -> Option<Step> {
        Some(match kind {
            EventKind::Create(CreateKind::File) => Step::Writing,
            EventKind::Create(_) | EventKind::Modify(ModifyKind::Metadata(_)) => Step::Other,
            EventKind::Modify(ModifyKind::Name(RenameMode::From)) => Step::Other,
            EventKind::Modify(ModifyKind::Name(_)) | EventKind::Remove(_) => Step::Written,
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => Step::Closed,
            EventKind::Modify(_) => Step::Writing,
            _ => return None,
        })
    }
}

/// The saves gathered so far.
struct Burst {
    paths: Vec<PathBuf>,
    /// When its first change was seen.
    seen: Instant,
    /// Its files still open for writing.
    writing: Vec<PathBuf>,
}

impl Burst {
    fn add(&mut self, path: PathBuf, step: Step) {
        match step {
            Step::Writing if !self.writing.contains(&path) => self.writing.push(path.clone()),
            Step::Closed | Step::Written => self.writing.retain(|p| *p != path),
            _ => {}
        }
        if step != Step::Closed && !self.paths.contains(&path) {
            self.paths.push(path);
        }
    }

    /// How long it may now stay quiet before it counts as done.
    fn quiet(&self) -> Duration {
        if self.writing.is_empty() { SETTLED } else { QUIET }
    }
}

/// Sees saves in a project.
pub struct Watcher {
    watcher: Box<dyn notify::Watcher + Send>,
    roots: Arc<Vec<Root>>,
    rx: mpsc::UnboundedReceiver<(PathBuf, Step)>,
    /// The burst being gathered. It lives here, not in `next_burst`'s
    /// future, so that a caller that drops the future (a `select!` won by
    /// another event) loses no save.
    burst: Option<Burst>,
    /// How it watches, for the banner.
    pub mode: &'static str,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl Watcher {
    /// Watches `dirs` (the project's local packages, from cargo metadata);
    /// `poll` uses polling instead of native events (for file systems that
    /// have none).
    pub fn start(dirs: &[PathBuf], poll: bool) -> Result<Watcher> {
        let dirs = dirs.to_vec();
        // One set of roots (each with its parsed .gitignore), shared by the
        // event handler and the loop that adds the watches.
        let roots: Arc<Vec<Root>> = Arc::new(dirs.into_iter().map(Root::new).collect());
        let (tx, rx) = mpsc::unbounded_channel();
        let handler = {
            let roots = roots.clone();
            move |event: notify::Result<Event>| {
                let Ok(event) = event else { return };
                let Some(step) = Step::of(&event.kind) else {
                    return;
                };
                // Polling sees no closes: its bursts wait the full quiet.
                let step = if poll && step != Step::Closed {
                    Step::Writing
                } else {
                    step
                };
                for path in event.paths {
                    if roots.iter().any(|r| r.wants(&path)) {
                        let _ = tx.send((path, step));
                    }
                }
            }
        };
        let (mut watcher, mode): (Box<dyn notify::Watcher + Send>, _) = if poll {
            let config = notify::Config::default().with_poll_interval(Duration::from_millis(200));
            (
                Box::new(notify::PollWatcher::new(handler, config)?),
                "polling every 200 ms",
            )
        } else {
            (
                Box::new(notify::RecommendedWatcher::new(
                    handler,
                    notify::Config::default(),
                )?),
                "native file events",
            )
        };
        for root in roots.iter() {
            watcher
                .watch(&root.dir, RecursiveMode::NonRecursive)
                .with_context(|| format!("failed to watch `{}`", root.dir.display()))?;
            let entries = std::fs::read_dir(&root.dir)
                .with_context(|| format!("failed to read `{}`", root.dir.display()))?;
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() && root.wants(&path) {
                    watcher
                        .watch(&path, RecursiveMode::Recursive)
                        .with_context(|| format!("failed to watch `{}`", path.display()))?;
                }
            }
        }
        Ok(Watcher {
            watcher,
            roots,
            rx,
            burst: None,
            mode,
        })
    }

    /// Starts watching `path` if it is a top-level directory of a root that
    /// appeared after the watch began (a new `static/` or `migrations/`):
    /// roots themselves are watched one level deep only.
    fn adopt(&mut self, path: &Path) {
        let is_new_top_level = path.is_dir()
            && self
                .roots
                .iter()
                .any(|r| path.parent() == Some(r.dir.as_path()) && r.wants(path));
        if is_new_top_level && let Err(e) = self.watcher.watch(path, RecursiveMode::Recursive) {
            eprintln!("warning: failed to watch `{}`: {e}", path.display());
        }
    }

    /// Waits for a save, then for the burst it belongs to to go quiet, and
    /// returns the paths that changed (each once), with when the first
    /// change was seen.
    ///
    /// Paths gone by the end of the burst are left out when others remain:
    /// they are the temporary files that editors and `sed -i` write and
    /// rename over the real one, and naming them would only confuse. A
    /// burst of deletions alone is still returned.
    ///
    /// Cancel-safe: dropped before the burst went quiet, it keeps what it
    /// gathered for the next call.
    pub async fn next_burst(&mut self) -> (Vec<PathBuf>, Instant) {
        let burst = match &mut self.burst {
            Some(burst) => burst,
            None => loop {
                let Some((path, step)) = self.rx.recv().await else {
                    return std::future::pending().await;
                };
                // A close with nothing written since the last burst is no save.
                if step != Step::Closed {
                    let mut burst = Burst {
                        paths: Vec::new(),
                        seen: Instant::now(),
                        writing: Vec::new(),
                    };
                    burst.add(path, step);
                    break self.burst.insert(burst);
                }
            },
        };
        while burst.seen.elapsed() < BURST_MAX {
            match tokio::time::timeout(burst.quiet(), self.rx.recv()).await {
                Ok(Some((path, step))) => burst.add(path, step),
                _ => break,
            }
        }
        let Some(Burst { mut paths, seen, .. }) = self.burst.take() else {
            return (Vec::new(), Instant::now());
        };
        for path in &paths {
            self.adopt(path);
        }
        if paths.iter().any(|p| p.exists()) {
            paths.retain(|p| p.exists());
        }
        (paths, seen)
    }
}

/// The next save's paths and when it began; never, without a watcher.
pub(super) async fn next_save(watcher: &mut Option<Watcher>) -> (Vec<PathBuf>, Instant) {
    match watcher {
        Some(w) => w.next_burst().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignores_what_a_build_writes_and_what_git_ignores() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".gitignore"), "/target\n*.log\nscratch/\n").unwrap();
        let root = Root::new(dir.path().to_path_buf());
        let p = |rel: &str| dir.path().join(rel);
        assert!(root.wants(&p("src/main.rs")));
        assert!(root.wants(&p("Cargo.toml")));
        assert!(root.wants(&p("templates/index.html")));
        assert!(!root.wants(&p("target/debug/app")));
        assert!(
            !root.wants(&p("targetTGrB80/CACHEDIR.TAG")),
            "cargo's temporary target"
        );
        assert!(root.wants(&p("targets.rs")));
        assert!(!root.wants(&p(".git/index")));
        assert!(!root.wants(&p("Cargo.lock")));
        assert!(!root.wants(&p("server.log")));
        assert!(!root.wants(&p("scratch/notes.rs")));
        assert!(!root.wants(&p("src/.main.rs.swp")));
        assert!(!root.wants(&p("src/main.rs~")));
        assert!(!root.wants(&p("guestbook.db-wal")));
        assert!(!root.wants(&p("guestbook.db-shm")));
    }

    #[tokio::test]
    async fn a_burst_survives_a_dropped_wait() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("src")).unwrap();
        let mut watcher = Watcher::start(&[dir.path().to_path_buf()], false).unwrap();
        std::fs::write(dir.path().join("src/lib.rs"), "// saved\n").unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        // The save is taken in, then the wait is dropped before the burst
        // goes quiet, as a select! that another event won would drop it.
        let dropped = tokio::time::timeout(Duration::from_millis(1), watcher.next_burst()).await;
        assert!(dropped.is_err(), "the burst cannot be over within 1 ms");
        let (paths, _) = tokio::time::timeout(Duration::from_secs(2), watcher.next_burst())
            .await
            .expect("the save was lost with the dropped wait");
        assert_eq!(paths, [dir.path().join("src/lib.rs")]);
    }

    fn burst() -> Burst {
        Burst {
            paths: Vec::new(),
            seen: Instant::now(),
            writing: Vec::new(),
        }
    }

    #[test]
    fn a_burst_settles_once_its_files_are_closed_or_renamed_into_place() {
        let main = PathBuf::from("/p/src/main.rs");
        // Written in place (an IDE, `echo >`): open, write, close.
        let mut b = burst();
        b.add(main.clone(), Step::Writing);
        assert_eq!(b.quiet(), QUIET, "the writer may write more");
        b.add(main.clone(), Step::Closed);
        assert_eq!(b.quiet(), SETTLED);
        b.add(main.clone(), Step::Other);
        assert_eq!(
            (b.quiet(), b.paths.clone()),
            (SETTLED, vec![main.clone()]),
            "a chmod after"
        );
        // `sed -i`: a temporary file written, closed, renamed over main.rs.
        let temp = PathBuf::from("/p/src/sedAb12Cd");
        let mut b = burst();
        b.add(temp.clone(), Step::Writing);
        b.add(temp.clone(), Step::Closed);
        b.add(temp.clone(), Step::Other);
        b.add(main.clone(), Step::Written);
        assert_eq!((b.quiet(), b.paths), (SETTLED, vec![temp, main.clone()]));
        // Two files, one still open.
        let lib = PathBuf::from("/p/src/lib.rs");
        let mut b = burst();
        b.add(main.clone(), Step::Writing);
        b.add(lib.clone(), Step::Writing);
        b.add(main.clone(), Step::Closed);
        assert_eq!(b.quiet(), QUIET);
        // A file closed without being written in this burst is not named.
        b.add(PathBuf::from("/p/src/other.rs"), Step::Closed);
        assert_eq!(b.paths, [main, lib]);
    }

    #[tokio::test]
    async fn a_file_closed_unchanged_is_no_save() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("src")).unwrap();
        let (main, lib) = (dir.path().join("src/main.rs"), dir.path().join("src/lib.rs"));
        std::fs::write(&main, "fn main() {}\n").unwrap();
        let mut watcher = Watcher::start(&[dir.path().to_path_buf()], false).unwrap();
        drop(std::fs::OpenOptions::new().append(true).open(&main).unwrap());
        let closed = tokio::time::timeout(Duration::from_millis(200), watcher.next_burst()).await;
        assert!(closed.is_err(), "a close alone made a burst: {closed:?}");
        std::fs::write(&lib, "// saved\n").unwrap();
        let (paths, _) = tokio::time::timeout(Duration::from_secs(2), watcher.next_burst())
            .await
            .expect("the save was not seen");
        assert_eq!(paths, [lib]);
    }
}
