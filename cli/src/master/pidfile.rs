//! The master's pid file (`-p/--pid`): written at start, refused if another
//! live master owns it, removed at exit if it is still ours.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// A pid file this process wrote.
#[derive(Debug)]
pub struct Pidfile {
    path: PathBuf,
}

impl Pidfile {
    /// Writes our pid to `path`, unless a running process is named there.
    pub fn create(path: &Path) -> Result<Pidfile> {
        if let Ok(text) = std::fs::read_to_string(path)
            && let Ok(pid) = text.trim().parse::<i32>()
            && pid != std::process::id() as i32
            && pid > 0
            // SAFETY: kill with signal 0 only checks that the process exists.
            && unsafe { libc::kill(pid, 0) } == 0
        {
            bail!("already running: pid {pid} is in `{}`", path.display());
        }
        std::fs::write(path, format!("{}\n", std::process::id()))
            .with_context(|| format!("failed to write pid file `{}`", path.display()))?;
        Ok(Pidfile {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for Pidfile {
    fn drop(&mut self) {
        let ours =
            std::fs::read_to_string(&self.path).is_ok_and(|t| t.trim() == std::process::id().to_string());
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
