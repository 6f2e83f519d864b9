//! Building a project with cargo and finding the binary it made.
//!
//! Cargo's JSON messages are the interface (never `cargo run`, never a
//! shell): `compiler-artifact` names the executable, `compiler-message`
//! carries each diagnostic already rendered, and a spinner shows progress
//! while they stream in.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};

/// A build profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// `cargo build --release`.
    Release,
}

/// Builds the package in `dir` and returns its executable. Diagnostics are
/// printed as they arrive; a failed build is an error that says so.
pub fn build(dir: &Path, profile: Profile) -> Result<PathBuf> {
    let manifest = dir.join("Cargo.toml");
    if !manifest.exists() {
        bail!("`{}` has no Cargo.toml: not a project directory", dir.display());
    }
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--message-format=json-diagnostic-rendered-ansi")
        .arg("--quiet")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    match profile {
        Profile::Release => cmd.arg("--release"),
    };
    let mut child = cmd
        .spawn()
        .context("failed to run cargo (is it installed and on PATH?)")?;
    let stdout = child.stdout.take().context("cargo's output")?;

    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner:.green} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(100));
    let what = match profile {
        Profile::Release => "release",
    };
    bar.set_message(format!("Building {} ({what})", dir.display()));

    let mut executables = Vec::new();
    let mut compiled = 0;
    let mut errors = 0;
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading cargo's output")?;
        let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        match message["reason"].as_str() {
            Some("compiler-artifact") => {
                compiled += 1;
                let name = message["target"]["name"].as_str().unwrap_or("?");
                bar.set_message(format!("Building ({what}) [{compiled}] {name}"));
                let is_bin = message["target"]["kind"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k == "bin"));
                if let (true, Some(exe)) = (is_bin, message["executable"].as_str()) {
                    executables.push((name.to_string(), PathBuf::from(exe)));
                }
            }
            Some("compiler-message") => {
                if let Some(rendered) = message["message"]["rendered"].as_str() {
                    if message["message"]["level"] == "error" {
                        errors += 1;
                    }
                    bar.suspend(|| eprint!("{rendered}"));
                }
            }
            _ => {}
        }
    }
    let status = child.wait().context("waiting for cargo")?;
    bar.finish_and_clear();
    if !status.success() {
        bail!(
            "the build of `{}` failed ({errors} error(s) above)",
            dir.display()
        );
    }
    pick(executables, dir)
}

/// The project's binary: the only one, or the one named after the package.
fn pick(mut executables: Vec<(String, PathBuf)>, dir: &Path) -> Result<PathBuf> {
    match executables.len() {
        0 => bail!(
            "the build of `{}` produced no executable (is there a src/main.rs?)",
            dir.display()
        ),
        1 => Ok(executables.remove(0).1),
        _ => {
            let package = std::fs::read_to_string(dir.join("Cargo.toml"))
                .ok()
                .and_then(|t| t.parse::<toml::Table>().ok())
                .and_then(|t| t.get("package")?.get("name")?.as_str().map(str::to_string))
                .unwrap_or_default();
            let names: Vec<String> = executables.iter().map(|(n, _)| n.clone()).collect();
            executables
                .into_iter()
                .find(|(n, _)| n.replace('-', "_") == package.replace('-', "_"))
                .map(|(_, p)| p)
                .with_context(|| {
                    format!(
                        "several binaries ({}); none is named after the package",
                        names.join(", ")
                    )
                })
        }
    }
}
