//! The runtime as one shared library in `rg runserver`'s dev builds.
//!
//! With rg-runtime's `dynamic-linking` feature, the runtime and every crate
//! it depends on are linked once into `librg_dylib.so`, and the rebuild
//! after a save links the application's own code against it: rustc's
//! share of a rebuild went from 0.6 s to 0.3 s on the book's project.
//!
//! Cargo names that library without the hash it gives other outputs (it
//! does so for every shared library of a path dependency), so projects
//! that share a target directory but resolve different dependency
//! versions or features overwrite each other's copy. Two things keep an
//! application with its own:
//!
//! - after each build, the library is hard-linked into a directory of the
//!   package's own (`target/debug/rg-runserver/<package>/`), which is where
//!   the application loads it from (`LD_LIBRARY_PATH`), so a later build
//!   of another project cannot swap it under a restart;
//! - before a build, if the library cargo would link against is not the
//!   one kept, the kept copy is put back in its place: it is the output of
//!   this project's last build, which cargo then judges fresh and rustc
//!   accepts, where another project's copy would be refused. Without a
//!   kept copy, the library is removed, so cargo builds it again.
//!
//! Runservers sharing a target directory take turns for those three steps
//! and the build between them (a lock file beside the kept copies), so
//! one never removes the library while another links against it or keeps
//! it. Cargo makes their builds wait for each other anyway.

use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;

use anyhow::{Context, Result, bail};
use nix::fcntl::{Flock, FlockArg};

use crate::build::project::Project;

/// The library's file name, as cargo writes it.
const FILE: &str = "librg_dylib.so";

/// Where a package's dev builds find the runtime's shared library.
#[derive(Debug)]
pub struct SharedRuntime {
    /// The copy cargo links against: `target/debug/deps/librg_dylib.so`.
    built: PathBuf,
    /// The package's own directory, holding the copy it runs with.
    kept: PathBuf,
}

impl SharedRuntime {
    pub fn of(project: &Project) -> SharedRuntime {
        let debug = project.target_dir.join("debug");
        SharedRuntime {
            built: debug.join("deps").join(FILE),
            kept: debug.join("rg-runserver").join(&project.package),
        }
    }

    /// Waits for this project's turn among the runservers building in the
    /// same target directory; the turn lasts as long as what is returned.
    pub async fn turn(&self) -> Result<Flock<std::fs::File>> {
        let dir = self.kept.parent().map(Path::to_path_buf).unwrap_or_default();
        let path = dir.join(".lock");
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir)?;
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)?;
            Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| std::io::Error::from(errno))
        })
        .await
        .context("waiting for the other runservers' builds")?
        .context("failed to lock the runtime's shared library")
    }

    /// Whether cargo's copy is the one this package was last built with,
    /// or there is none yet.
    fn is_current(&self) -> bool {
        let Ok(built) = std::fs::metadata(&self.built) else {
            return true;
        };
        let kept = self.kept.join(FILE);
        let Ok(kept_meta) = std::fs::metadata(&kept) else {
            return false;
        };
        if (kept_meta.dev(), kept_meta.ino()) == (built.dev(), built.ino()) {
            return true;
        }
        // Another project's build may have made the very same library (the
        // build is reproducible): the same bytes are the same symbols.
        kept_meta.len() == built.len()
            && matches!((std::fs::read(&self.built), std::fs::read(&kept)), (Ok(a), Ok(b)) if a == b)
    }

    /// Makes cargo's copy the one this package was last built with, by
    /// putting the kept copy back (a hard link, renamed into place) when
    /// another project's build replaced it; false when there is no kept
    /// copy to put back.
    pub fn make_current(&self) -> bool {
        if self.is_current() {
            return true;
        }
        let kept = self.kept.join(FILE);
        let staged = self.built.with_extension(format!("so.rg-{}", std::process::id()));
        let _ = std::fs::remove_file(&staged);
        let put_back =
            std::fs::hard_link(&kept, &staged).is_ok() && std::fs::rename(&staged, &self.built).is_ok();
        let _ = std::fs::remove_file(&staged);
        put_back
    }

    /// Makes cargo build the library again, by removing it: cargo judges
    /// a build with a missing output stale. (`cargo clean -p rg-dylib`
    /// cannot: without the feature the package is not in the graph.)
    pub fn rebuild_next(&self) -> Result<()> {
        let uplifted = self
            .built
            .parent()
            .and_then(Path::parent)
            .map(|debug| debug.join(FILE));
        for file in [Some(&self.built), uplifted.as_ref()].into_iter().flatten() {
            match std::fs::remove_file(file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).with_context(|| format!("failed to remove `{}`", file.display()));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Keeps the library just built for this package, and returns
    /// `LD_LIBRARY_PATH` for its executable: the kept copy's directory,
    /// the toolchain's libraries (the shared standard library), then the
    /// inherited value, as `cargo run` sets it. If no copy can be kept,
    /// the application loads cargo's.
    pub async fn keep(&self, project: &Project) -> Result<OsString> {
        let own = match self.keep_copy() {
            Ok(()) => self.kept.clone(),
            Err(e) => {
                eprintln!("warning: {e:#}; the application loads `{}`", self.built.display());
                self.built.parent().map(Path::to_path_buf).unwrap_or_default()
            }
        };
        let mut dirs = vec![own, toolchain_libraries(&project.dir).await?];
        if let Some(inherited) = std::env::var_os("LD_LIBRARY_PATH") {
            dirs.extend(std::env::split_paths(&inherited));
        }
        std::env::join_paths(dirs).context("a library directory's path holds a `:`")
    }

    fn keep_copy(&self) -> Result<()> {
        std::fs::create_dir_all(&self.kept)
            .with_context(|| format!("failed to create `{}`", self.kept.display()))?;
        let kept = self.kept.join(FILE);
        let _ = std::fs::remove_file(&kept);
        if std::fs::hard_link(&self.built, &kept).is_err() {
            std::fs::copy(&self.built, &kept).with_context(|| {
                format!(
                    "failed to copy `{}` to `{}`",
                    self.built.display(),
                    kept.display()
                )
            })?;
        }
        Ok(())
    }
}

/// The directory of the toolchain's libraries (`rustc --print
/// target-libdir`, asked in the project, where its toolchain file
/// applies), asked once.
async fn toolchain_libraries(project: &Path) -> Result<PathBuf> {
    static ASKED: OnceLock<PathBuf> = OnceLock::new();
    if let Some(dir) = ASKED.get() {
        return Ok(dir.clone());
    }
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = tokio::process::Command::new(&rustc)
        .args(["--print", "target-libdir"])
        .current_dir(project)
        .stdin(Stdio::null())
        .output()
        .await
        .context("failed to run rustc to find the toolchain's libraries")?;
    let dir = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if !output.status.success() || dir.is_empty() {
        bail!(
            "`rustc --print target-libdir` failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(ASKED.get_or_init(|| PathBuf::from(dir)).clone())
}
