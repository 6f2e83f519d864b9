//! `rg` is also ripgrep's name, and nearly every Rust developer has ripgrep.
//! Installing this `rg` must not take ripgrep away: when the command line
//! is not one of ours (`rg -i needle src/`), and another `rg` is on PATH,
//! that one runs instead, with the same arguments. A typo of one of our
//! commands (`rg runsever`) stays ours, so it gets our "did you mean".

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

/// The first arguments that are ours.
const OURS: &[&str] = &[
    "new",
    "runserver",
    "serve",
    "status",
    "ctl",
    "upgrade",
    "reference",
    "help",
    "-h",
    "--help",
    "-V",
    "--version",
];

/// If `args` (as from `std::env::args_os`) are meant for ripgrep and
/// another `rg` is on PATH, replaces this process with it; returns only
/// when there is nothing to hand over (or the exec failed, with why).
pub fn hand_over(args: &[OsString]) -> Option<std::io::Error> {
    if !meant_for_ripgrep(args) {
        return None;
    }
    let other = other_rg()?;
    Some(std::process::Command::new(other).args(&args[1..]).exec())
}

/// Whether the command line is not ours: its first argument is neither one
/// of our commands or flags nor near enough to one to be a typo of it.
pub fn meant_for_ripgrep(args: &[OsString]) -> bool {
    let Some(first) = args.get(1).map(|a| a.to_string_lossy()) else {
        return false;
    };
    if OURS.contains(&first.as_ref()) {
        return false;
    }
    let typo = !first.starts_with('-')
        && OURS
            .iter()
            .any(|ours| !ours.starts_with('-') && strsim::levenshtein(ours, &first) <= 2);
    !typo
}

/// Another `rg` on PATH than this one, if any.
fn other_rg() -> Option<PathBuf> {
    let me = std::env::current_exe().ok().and_then(|p| p.canonicalize().ok());
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("rg"))
        .filter(|candidate| is_executable(candidate))
        .find(|candidate| candidate.canonicalize().ok() != me)
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::meant_for_ripgrep;

    fn args(list: &[&str]) -> Vec<std::ffi::OsString> {
        std::iter::once("rg")
            .chain(list.iter().copied())
            .map(Into::into)
            .collect()
    }

    #[test]
    fn our_commands_and_their_typos_stay_ours() {
        for ours in [
            &[][..],
            &["serve", "-w", "2"],
            &["--help"],
            &["runsever"],
            &["nwe", "x"],
        ] {
            assert!(!meant_for_ripgrep(&args(ours)), "{ours:?}");
        }
        for theirs in [
            &["-i", "needle"][..],
            &["TODO", "src/"],
            &["--files"],
            &["fn main"],
        ] {
            assert!(meant_for_ripgrep(&args(theirs)), "{theirs:?}");
        }
    }
}
