//! `rg runserver`'s rebuild by rustc alone: when a save changed only the
//! binary crate's own sources, rg reruns the rustc command cargo last ran
//! for it, recorded by rg itself as cargo's `RUSTC_WORKSPACE_WRAPPER`, and
//! skips cargo's checks of the whole graph (~0.15 s a save). Anything else
//! (a manifest, a build script, another crate) goes to cargo.

use std::collections::HashSet;
use std::ffi::OsString;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::build::cargo::{self, Executable, Outcome};
use crate::build::depinfo::Inputs;
use crate::build::dwo;
use crate::build::project::Project;
use crate::build::rustc;
use crate::build::shared_runtime::SharedRuntime;

/// Set for cargo: the directory where rg, as cargo's workspace wrapper,
/// records the rustc command of each binary it compiles.
const RECORD_DIR: &str = "RG_INTERNAL_RUSTC_RECORD";

/// Set for cargo when the application may take hot patches: the binary
/// then exports its symbols, where a patch finds what the binary links
/// statically (the application's other dependencies). It costs a link
/// about 6% on the guestbook, so not once the application declines them.
const EXPORT_SYMBOLS: &str = "RG_INTERNAL_EXPORT_SYMBOLS";
const EXPORT_ARGS: [&str; 2] = ["-C", "link-arg=-Wl,--export-dynamic"];

/// What makes rustc share a make jobserver with cargo: gone when rg runs
/// rustc alone, so they are not replayed.
const JOBSERVER: [&str; 3] = ["CARGO_MAKEFLAGS", "MAKEFLAGS", "MFLAGS"];

/// When cargo runs rg as its workspace wrapper (`rg RUSTC ARGS...`):
/// records the command if it compiles a binary, then becomes rustc.
/// Returns only when rg was not run as a wrapper, or exec failed.
pub fn wrap_rustc() -> Option<std::io::Error> {
    let dir = std::env::var_os(RECORD_DIR)?;
    let mut args = std::env::args_os().skip(1);
    let rustc = args.next()?;
    let mut args: Vec<OsString> = args.collect();
    if Recorded::of(&rustc, &args).is_some() && std::env::var_os(EXPORT_SYMBOLS).is_some() {
        args.extend(EXPORT_ARGS.map(OsString::from));
    }
    if let Some(recorded) = Recorded::of(&rustc, &args) {
        // A record that cannot be written only costs the quick path.
        let _ = recorded.save(Path::new(&dir));
    }
    Some(std::process::Command::new(rustc).args(args).exec())
}

/// One rustc command, as cargo ran it.
#[derive(Debug, Clone, PartialEq)]
struct Recorded {
    cwd: PathBuf,
    rustc: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Recorded {
    /// The command, if it compiles a binary and is all UTF-8.
    fn of(rustc: &OsString, args: &[OsString]) -> Option<Recorded> {
        let args: Vec<String> = args
            .iter()
            .map(|a| a.to_str().map(str::to_string))
            .collect::<Option<_>>()?;
        let recorded = Recorded {
            cwd: std::env::current_dir().ok()?,
            rustc: rustc.to_str()?.to_string(),
            env: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .filter(|(k, _)| k != RECORD_DIR && !JOBSERVER.contains(&k.as_str()))
                .collect(),
            args,
        };
        (recorded.value("--crate-type") == Some("bin")).then_some(recorded)
    }

    fn file(dir: &Path, bin: &str) -> PathBuf {
        dir.join(format!("{bin}.json"))
    }

    fn save(&self, dir: &Path) -> Result<()> {
        let bin = self.env_var("CARGO_BIN_NAME").context("no CARGO_BIN_NAME")?;
        let json =
            serde_json::json!({"cwd": self.cwd, "rustc": self.rustc, "args": self.args, "env": self.env});
        let path = Recorded::file(dir, bin);
        let partial = path.with_extension("partial");
        std::fs::write(&partial, json.to_string())?;
        Ok(std::fs::rename(partial, path)?)
    }

    fn load(dir: &Path, bin: &str) -> Option<Recorded> {
        let text = std::fs::read_to_string(Recorded::file(dir, bin)).ok()?;
        let json: serde_json::Value = serde_json::from_str(&text).ok()?;
        let strings = |v: &serde_json::Value| -> Option<Vec<String>> {
            v.as_array()?
                .iter()
                .map(|s| s.as_str().map(str::to_string))
                .collect()
        };
        Some(Recorded {
            cwd: PathBuf::from(json["cwd"].as_str()?),
            rustc: json["rustc"].as_str()?.to_string(),
            args: strings(&json["args"])?,
            env: json["env"]
                .as_array()?
                .iter()
                .map(|pair| Some((pair[0].as_str()?.to_string(), pair[1].as_str()?.to_string())))
                .collect::<Option<_>>()?,
        })
    }

    /// The value after `flag` (`--crate-type bin`), or of `-C key=` as one.
    fn value(&self, flag: &str) -> Option<&str> {
        let mut args = self.args.iter();
        while let Some(arg) = args.next() {
            if arg == flag {
                return args.next().map(String::as_str);
            }
            if let Some(value) = arg.strip_prefix(flag).and_then(|v| v.strip_prefix('=')) {
                return Some(value);
            }
        }
        None
    }

    async fn run(&self, args: &[String]) -> Result<Result<Vec<PathBuf>, Vec<cargo::Diagnostic>>> {
        let (program, env, cwd) = (&self.rustc, &self.env, &self.cwd);
        rustc::run(rustc::Command {
            program,
            args,
            env,
            cwd,
        })
        .await
    }

    fn env_var(&self, key: &str) -> Option<&str> {
        self.env.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The binary rustc writes: `OUT_DIR/CRATE-NAME` + `-C extra-filename`.
    fn output(&self) -> Option<PathBuf> {
        let extra = self
            .args
            .iter()
            .find_map(|a| a.strip_prefix("extra-filename="))
            .unwrap_or_default();
        let name = format!("{}{extra}", self.value("--crate-name")?);
        Some(self.cwd.join(self.value("--out-dir")?).join(name))
    }

    /// A path from rustc's dep-info as the watcher names it: rustc writes
    /// an `include_str!` file as `src/../assets/a.txt`, relative to `cwd`.
    fn absolute(&self, file: &Path) -> PathBuf {
        let mut out = PathBuf::new();
        for part in self.cwd.join(file).components() {
            match part {
                std::path::Component::ParentDir => {
                    out.pop();
                }
                std::path::Component::CurDir => {}
                part => out.push(part),
            }
        }
        out
    }

    /// Adds what the compile that made `built` read to the dep-info cargo
    /// left beside `exe`, which runserver reads to tell which saves need a
    /// build (an `include_str!` file added since cargo's build, say).
    fn add_inputs(&self, built: &Path, exe: &Path) -> Result<()> {
        let mut files: Vec<PathBuf> = Inputs::of(exe)
            .map(|i| i.files().cloned().collect())
            .unwrap_or_default();
        for file in Inputs::of(built).iter().flat_map(Inputs::files) {
            let file = self.absolute(file);
            if !files.contains(&file) {
                files.push(file);
            }
        }
        let escaped: Vec<String> = files
            .iter()
            .map(|f| f.display().to_string().replace(' ', "\\ "))
            .collect();
        let path = exe.with_extension("d");
        std::fs::write(&path, format!("{}: {}\n", exe.display(), escaped.join(" ")))
            .with_context(|| format!("failed to write `{}`", path.display()))
    }

    /// Whether every one of `paths` is the crate's own: a file its last
    /// compile read, or a Rust file under its `src/`.
    fn covers(&self, paths: &[PathBuf]) -> bool {
        let Some(inputs) = self.output().and_then(|out| Inputs::of(&out)) else {
            return false;
        };
        let read: HashSet<PathBuf> = inputs.files().map(|f| self.absolute(f)).collect();
        let src = self
            .env_var("CARGO_MANIFEST_DIR")
            .map(|dir| Path::new(dir).join("src"));
        paths.iter().all(|path| {
            read.contains(path)
                || (path.extension().is_some_and(|e| e == "rs")
                    && src.as_ref().is_some_and(|s| path.starts_with(s)))
        })
    }
}

/// How the directories of records are named: then the pid of their rg.
const RECORDS: &str = "rg-rustc-";

/// Removes the records of runservers that died without removing them
/// (killed by SIGKILL): their named process is gone.
fn sweep(temp: &Path) {
    let Ok(entries) = std::fs::read_dir(temp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.strip_prefix(RECORDS))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<i32>().ok());
        let gone = pid.is_some_and(|pid| pid > 0 && !alive(pid));
        if gone {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Whether process `pid` runs: a zombie, killed and not yet waited for,
/// does not.
fn alive(pid: i32) -> bool {
    // SAFETY: kill(2) with signal 0 only asks whether the process is.
    if unsafe { libc::kill(pid, 0) } == -1 {
        return std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH);
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !stat
        .rsplit_once(") ")
        .is_some_and(|(_, rest)| rest.starts_with('Z'))
}

/// The quick path of one `rg runserver`: where cargo's commands are
/// recorded, and whether every save since cargo's last build allows it.
#[derive(Debug)]
pub struct Direct {
    dir: tempfile::TempDir,
    valid: bool,
    /// Where cargo last put the executable.
    exe: Option<PathBuf>,
    /// Link binaries for hot patches (`EXPORT_SYMBOLS`).
    export_symbols: bool,
}

impl Direct {
    pub fn new() -> Result<Direct> {
        let temp = std::env::temp_dir();
        sweep(&temp);
        let dir = tempfile::Builder::new()
            .prefix(&format!("{RECORDS}{}-", std::process::id()))
            .tempdir_in(&temp)
            .context("failed to make a directory for rustc's commands")?;
        Ok(Direct {
            dir,
            valid: false,
            exe: None,
            export_symbols: false,
        })
    }

    /// What cargo's environment gets so that rg records its commands
    /// (nothing when the user has a workspace wrapper of their own).
    pub fn cargo_env(&self) -> Result<Vec<(OsString, OsString)>> {
        if std::env::var_os("RUSTC_WORKSPACE_WRAPPER").is_some() {
            return Ok(Vec::new());
        }
        let rg = std::env::current_exe().context("failed to find rg's own executable")?;
        let mut env: Vec<(OsString, OsString)> = vec![
            ("RUSTC_WORKSPACE_WRAPPER".into(), rg.into()),
            (RECORD_DIR.into(), self.dir.path().into()),
        ];
        if self.export_symbols {
            env.push((EXPORT_SYMBOLS.into(), "1".into()));
        }
        Ok(env)
    }

    /// Whether the next builds link the binary for hot patches: yes until
    /// the application says it takes none.
    pub fn export_symbols(&mut self, on: bool) {
        self.export_symbols = on;
    }

    /// A save of `paths`: past one that is not the binary crate's own, only
    /// cargo rebuilds, until a cargo build succeeds.
    pub fn saved(&mut self, project: &Project, paths: &[PathBuf]) {
        self.valid = self.valid && self.command(project).is_some_and(|r| r.covers(paths));
    }

    /// Cargo built (or failed to).
    pub fn cargo_built(&mut self, outcome: &Outcome) {
        self.exe = match outcome {
            Outcome::Built(exe) => Some(exe.path.clone()),
            Outcome::Failed(_) => None,
        };
        self.valid = self.exe.is_some();
    }

    /// Removes the split debug info of the binary's older compiles.
    pub fn prune_debug_info(&self, project: &Project) {
        if let Some(output) = self.command(project).and_then(|r| r.output()) {
            dwo::prune(&output);
        }
    }

    fn command(&self, project: &Project) -> Option<Recorded> {
        Recorded::load(self.dir.path(), &project.bin)
    }

    /// Rebuilds `project` with the recorded rustc command, when the saves
    /// allow it; `None` means: ask cargo.
    pub async fn build(&self, project: &Project) -> Result<Option<Outcome>> {
        let Some((recorded, exe)) = self.allowed(project) else {
            return Ok(None);
        };
        let shared = project
            .shared_runtime
            .as_ref()
            .map(|_| SharedRuntime::of(project));
        let _turn = match &shared {
            Some(shared) => Some(shared.turn().await?),
            None => None,
        };
        if shared.as_ref().is_some_and(|s| !s.make_current()) {
            return Ok(None);
        }
        // Cargo's command as recorded, linked for hot patches or not as
        // the application now needs.
        let mut args: Vec<String> = Vec::with_capacity(recorded.args.len() + 2);
        for arg in &recorded.args {
            match (arg.as_str(), args.last().map(String::as_str)) {
                (a, Some("-C")) if a == EXPORT_ARGS[1] => {
                    args.pop();
                }
                _ => args.push(arg.clone()),
            }
        }
        if self.export_symbols {
            args.extend(EXPORT_ARGS.map(String::from));
        }
        if let Err(diagnostics) = recorded.run(&args).await? {
            return Ok(Some(Outcome::Failed(diagnostics)));
        }
        // Where cargo puts it (cargo hard-links it there too), so the
        // dep-info beside it still says what the build reads.
        let built = recorded.output().context("rustc's command names no output")?;
        let _ = std::fs::remove_file(&exe);
        if std::fs::hard_link(&built, &exe).is_err() {
            std::fs::copy(&built, &exe).with_context(|| format!("failed to copy `{}`", built.display()))?;
        }
        recorded.add_inputs(&built, &exe)?;
        let library_path = match &shared {
            Some(shared) => Some(shared.keep(project).await?),
            None => None,
        };
        Ok(Some(Outcome::Built(Executable {
            path: exe.to_path_buf(),
            library_path,
        })))
    }

    /// The recorded command and cargo's executable, when every save since
    /// cargo's last build allows rustc alone and no manifest changed.
    fn allowed(&self, project: &Project) -> Option<(Recorded, PathBuf)> {
        let (Some(recorded), Some(exe), true) = (self.command(project), &self.exe, self.valid) else {
            return None;
        };
        // The lock file is not watched: a `cargo update` since the record
        // means other dependencies, which only cargo builds.
        let record = Recorded::file(self.dir.path(), &project.bin);
        let changed =
            |path: &Path| -> Option<std::time::SystemTime> { std::fs::metadata(path).ok()?.modified().ok() };
        let recorded_at = changed(&record);
        let manifests = [
            project.root.join("Cargo.lock"),
            project.root.join("Cargo.toml"),
            project.dir.join("Cargo.toml"),
        ];
        if manifests.iter().any(|m| changed(m) >= recorded_at) {
            return None;
        }
        Some((recorded, exe.clone()))
    }
}

#[path = "objects.rs"]
mod objects;

#[cfg(test)]
#[path = "direct_tests.rs"]
mod tests;
