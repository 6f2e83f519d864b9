//! Building a project with cargo and finding the binary it made.
//!
//! Cargo's JSON messages, read with `cargo_metadata`, are the interface (never `cargo run`, never a
//! shell): `compiler-artifact` names the executable, `compiler-message`
//! carries each diagnostic already rendered; cargo's own progress line,
//! on stderr, drives the progress bar (`progress.rs`). Cargo runs in a process group of its own, so a
//! build that a newer save made stale is cancelled by dropping its future:
//! cargo and every rustc it started are killed together.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;

use anyhow::{Context, Result};
use cargo_metadata::diagnostic::DiagnosticLevel;
use cargo_metadata::{Message, TargetKind};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};

use crate::build::progress::{self, BuildBar};
use crate::build::project::Project;
use crate::build::shared_runtime::SharedRuntime;

/// A build profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// `cargo build`: what `rg runserver` builds.
    Dev,
    /// `cargo build --release`: what `rg serve` builds.
    Release,
}

/// One compiler diagnostic.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    /// `error` or `warning`.
    pub level: String,
    /// The headline, e.g. `mismatched types`.
    pub message: String,
    /// `src/application.rs:12:5`, when the compiler pointed somewhere.
    pub location: Option<String>,
    /// The full text as the terminal shows it, without colour codes.
    pub rendered: String,
}

impl Diagnostic {
    /// Cargo's own complaint, when it could not even read the project
    /// (a broken `Cargo.toml`, an ambiguous package).
    pub fn cargo(text: &str) -> Diagnostic {
        Diagnostic {
            level: "error".into(),
            message: "cargo could not read the project".into(),
            location: None,
            rendered: console::strip_ansi_codes(text).into_owned(),
        }
    }
}

/// The executable a build made.
#[derive(Debug, Clone)]
pub struct Executable {
    /// Where cargo put it.
    pub path: PathBuf,
    /// `LD_LIBRARY_PATH` for running it, when it links the runtime as a
    /// shared library (`shared_runtime.rs`).
    pub library_path: Option<OsString>,
}

/// How a build ended.
#[derive(Debug)]
pub enum Outcome {
    /// The executable.
    Built(Executable),
    /// The errors (and warnings), or cargo's own complaint when the compiler
    /// never ran (a broken Cargo.toml).
    Failed(Vec<Diagnostic>),
}

/// Kills a whole process group (cargo's, or rustc's) when dropped before
/// its leader finished.
pub(crate) struct Group(pub(crate) Option<u32>);

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            // SAFETY: kill(2) on the group cargo leads (process_group(0)).
            unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
        }
    }
}

/// Builds `project`'s binary, printing diagnostics as they arrive.
/// An `Err` means cargo could not be run at all.
///
/// `cancellable` puts cargo in a process group of its own, killed when the
/// returned future is dropped; the caller then owns Ctrl-C. Otherwise cargo
/// stays in the terminal's group and Ctrl-C reaches it directly.
pub async fn build(project: &Project, profile: Profile, cancellable: bool) -> Result<Outcome> {
    build_with(project, profile, cancellable, &[]).await
}

/// [`build`], with `env` added to cargo's environment.
pub async fn build_with(
    project: &Project,
    profile: Profile,
    cancellable: bool,
    env: &[(OsString, OsString)],
) -> Result<Outcome> {
    // Dev builds link the runtime as one shared library when the project's
    // runtime offers it (`shared_runtime.rs`). Release builds stay static.
    let feature = project
        .shared_runtime
        .as_deref()
        .filter(|_| profile == Profile::Dev);
    let Some(feature) = feature else {
        return build_once(project, profile, cancellable, None, env).await;
    };
    let shared = SharedRuntime::of(project);
    let _turn = shared.turn().await?;
    if !shared.make_current() {
        shared.rebuild_next()?;
    }
    let mut outcome = build_once(project, profile, cancellable, Some(feature), env).await?;
    if let Outcome::Failed(diagnostics) = &outcome
        && diagnostics.iter().any(|d| d.rendered.contains("rg_dylib"))
    {
        // Another project's build replaced the library during this one.
        println!("The runtime's shared library was built for another project meanwhile; building it again");
        shared.rebuild_next()?;
        outcome = build_once(project, profile, cancellable, Some(feature), env).await?;
    }
    if let Outcome::Built(exe) = &mut outcome {
        exe.library_path = Some(shared.keep(project).await?);
    }
    Ok(outcome)
}

/// One `cargo build`, with `feature` (rg-runtime's `dynamic-linking`).
async fn build_once(
    project: &Project,
    profile: Profile,
    cancellable: bool,
    feature: Option<&str>,
    env: &[(OsString, OsString)],
) -> Result<Outcome> {
    let manifest = project.dir.join("Cargo.toml");
    let mut cmd = tokio::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(&manifest)
        .args(["--package", &project.package, "--bin", &project.bin])
        .arg("--message-format=json-diagnostic-rendered-ansi")
        .arg("--quiet")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .envs(progress::CARGO_ENV)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .kill_on_drop(true);
    if cancellable {
        cmd.process_group(0);
    }
    if profile == Profile::Release {
        cmd.arg("--release");
    }
    if let Some(feature) = feature {
        cmd.args(["--features", feature]);
    }
    let mut child = cmd
        .spawn()
        .context("failed to run cargo (is it installed and on PATH?)")?;
    let mut group = Group(child.id().filter(|_| cancellable));
    let stdout = child.stdout.take().context("cargo's output")?;
    let stderr = child.stderr.take().context("cargo's error output")?;

    let what = if profile == Profile::Release {
        "release"
    } else {
        "dev"
    };
    let bar = BuildBar::start(what);

    let cargo_said = tokio::spawn(read_stderr(stderr, bar.clone()));

    let mut executables = Vec::new();
    let mut diagnostics = Vec::new();
    let mut lines = BufReader::new(stdout).lines();
    while let Some(line) = lines.next_line().await.context("reading cargo's output")? {
        match serde_json::from_str::<Message>(&line) {
            Ok(Message::CompilerArtifact(artifact)) => {
                if let (true, Some(exe)) = (artifact.target.is_kind(TargetKind::Bin), artifact.executable) {
                    executables.push((artifact.target.name, exe.into_std_path_buf()));
                }
            }
            Ok(Message::CompilerMessage(message)) => {
                if let Some((rendered, diagnostic)) = diagnostic(message.message) {
                    bar.suspend(|| eprint!("{rendered}"));
                    diagnostics.push(diagnostic);
                }
            }
            _ => {}
        }
    }
    let status = child.wait().await.context("waiting for cargo")?;
    group.0 = None;
    bar.finish();
    let cargo_said = cargo_said.await.unwrap_or_default();
    if !status.success() {
        if !diagnostics.iter().any(|d| d.level == "error") {
            diagnostics.push(Diagnostic {
                level: "error".into(),
                message: "cargo could not build the project".into(),
                location: None,
                rendered: console::strip_ansi_codes(&cargo_said).into_owned(),
            });
        }
        return Ok(Outcome::Failed(diagnostics));
    }
    let path = executables
        .into_iter()
        .find(|(name, _)| *name == project.bin)
        .map(|(_, exe)| exe)
        .with_context(|| {
            format!(
                "the build of `{}` produced no executable `{}`",
                project.package, project.bin
            )
        })?;
    Ok(Outcome::Built(Executable {
        path,
        library_path: None,
    }))
}

/// Reads cargo's stderr to its end: the progress line (`\r`-ended)
/// drives the bar; the rest is cargo's own messages (a broken manifest, a
/// missing dependency), shown as they come and returned.
async fn read_stderr(mut stderr: impl AsyncRead + Unpin, bar: BuildBar) -> String {
    let mut said = String::new();
    let mut pending = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stderr.read(&mut chunk).await.unwrap_or(0);
        pending.extend_from_slice(&chunk[..n]);
        if n == 0 {
            // The end: whatever is left is a last piece.
            pending.push(b'\n');
        }
        while let Some(end) = pending.iter().position(|b| matches!(b, b'\r' | b'\n')) {
            let piece: Vec<u8> = pending.drain(..=end).collect();
            let piece = String::from_utf8_lossy(&piece);
            let piece = piece.trim_end();
            if piece.trim().is_empty() || bar.update(piece) {
                continue;
            }
            bar.suspend(|| eprintln!("{piece}"));
            said.push_str(piece);
            said.push('\n');
        }
        if n == 0 {
            return said;
        }
    }
}

/// A compiler message as rustc rendered it (colours and all), and as rg
/// keeps it; none for a message without a rendering.
pub(crate) fn diagnostic(m: cargo_metadata::diagnostic::Diagnostic) -> Option<(String, Diagnostic)> {
    let rendered = m.rendered?;
    let location = m
        .spans
        .iter()
        .find(|s| s.is_primary)
        .or(m.spans.first())
        .map(|s| format!("{}:{}:{}", s.file_name, s.line_start, s.column_start));
    let kept = Diagnostic {
        level: level_name(&m.level).to_string(),
        message: m.message,
        location,
        rendered: console::strip_ansi_codes(&rendered).into_owned(),
    };
    Some((rendered, kept))
}

/// How many errors `diagnostics` hold, in words: `1 error`, `3 errors`.
pub fn error_summary(diagnostics: &[Diagnostic]) -> String {
    match diagnostics.iter().filter(|d| d.level == "error").count() {
        1 => "1 error".into(),
        n => format!("{n} errors"),
    }
}

/// The word rustc uses for a diagnostic's level.
fn level_name(level: &DiagnosticLevel) -> &'static str {
    match level {
        DiagnosticLevel::Error | DiagnosticLevel::Ice => "error",
        DiagnosticLevel::Warning => "warning",
        DiagnosticLevel::Note | DiagnosticLevel::FailureNote => "note",
        DiagnosticLevel::Help => "help",
        _ => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::{Diagnostic, error_summary};

    fn diagnostic(level: &str) -> Diagnostic {
        Diagnostic {
            level: level.into(),
            message: String::new(),
            location: None,
            rendered: String::new(),
        }
    }

    #[test]
    fn counts_errors_in_words_and_leaves_warnings_out() {
        let one = [diagnostic("warning"), diagnostic("error")];
        assert_eq!(error_summary(&one), "1 error");
        let two = [diagnostic("error"), diagnostic("error"), diagnostic("warning")];
        assert_eq!(error_summary(&two), "2 errors");
    }
}
