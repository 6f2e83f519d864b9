//! One rustc run of a command cargo recorded: its diagnostics said as
//! cargo says them, and the object files it wrote.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, Result};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::build::cargo::{self, Group};

/// A rustc command: the program, its arguments, its whole environment and
/// where it runs.
pub struct Command<'a> {
    pub program: &'a str,
    pub args: &'a [String],
    pub env: &'a [(String, String)],
    pub cwd: &'a Path,
}

/// Runs `command`. `Ok`: the object files rustc wrote (with `--emit=obj`
/// and several codegen units, one per unit); `Err`: its diagnostics.
pub async fn run(command: Command<'_>) -> Result<Result<Vec<PathBuf>, Vec<cargo::Diagnostic>>> {
    let mut cmd = tokio::process::Command::new(command.program);
    cmd.args(command.args)
        .env_clear()
        .envs(command.env.iter().map(|(k, v)| (k, v)))
        .current_dir(command.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd.spawn().context("failed to run rustc")?;
    let mut group = Group(child.id());
    let stderr = child.stderr.take().context("rustc's error output")?;
    let (mut diagnostics, mut objects) = (Vec::new(), Vec::new());
    let mut lines = BufReader::new(stderr).lines();
    while let Some(line) = lines.next_line().await.context("reading rustc's output")? {
        match serde_json::from_str::<cargo_metadata::diagnostic::Diagnostic>(&line) {
            // rustc's closing counts, which cargo leaves out too.
            Ok(message)
                if message.message.starts_with("aborting due to")
                    || message.message.ends_with("warning emitted")
                    || message.message.ends_with("warnings emitted") => {}
            Ok(message) => {
                if let Some((rendered, diagnostic)) = cargo::diagnostic(message) {
                    eprint!("{rendered}");
                    diagnostics.push(diagnostic);
                }
            }
            Err(_) if line.starts_with('{') => objects.extend(object(&line)),
            // Whatever is not JSON, said as is.
            Err(_) => eprintln!("{line}"),
        }
    }
    let status = child.wait().await.context("waiting for rustc")?;
    group.0 = None;
    Ok(match status.success() {
        true => Ok(objects),
        false => Err(diagnostics),
    })
}

/// The object file an artifact notice names
/// (`{"$message_type":"artifact","artifact":PATH,"emit":"obj"}`).
fn object(line: &str) -> Option<PathBuf> {
    let notice: serde_json::Value = serde_json::from_str(line).ok()?;
    (notice["$message_type"] == "artifact" && notice["emit"] == "obj")
        .then(|| notice["artifact"].as_str().map(PathBuf::from))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_object_notices_name_objects() {
        let obj = r#"{"$message_type":"artifact","artifact":"/t/deps/a-1.a1.rcgu.o","emit":"obj"}"#;
        let dep = r#"{"$message_type":"artifact","artifact":"/t/deps/a-1.d","emit":"dep-info"}"#;
        assert_eq!(object(obj), Some(PathBuf::from("/t/deps/a-1.a1.rcgu.o")));
        assert_eq!(object(dep), None);
        assert_eq!(object("{}"), None);
    }
}
