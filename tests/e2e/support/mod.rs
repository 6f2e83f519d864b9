//! What the end-to-end tests share: the real `rg` binary, generated projects
//! built by cargo into one shared target directory (`projects`), `rg serve`
//! started one way everywhere (`serve`), processes that are always cleaned
//! up (`process`), and a tiny HTTP client over real sockets (`http`, `load`).

mod http;
mod load;
mod process;
mod projects;
mod serve;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub use http::{Addr, Response, get, request, sample, wait_until_serving};
pub use load::Load;
pub use process::{Running, children, eventually, free_port, group_alive, workers};
pub use projects::{
    dev_project, fixture_binary, generated_project, guestbook_binary, guestbook_project, hello_binary,
    hello_project, next_rg, project_dir,
};
pub use serve::{BOOT, Master, Serve};

/// A command running the `rg` binary under test. The projects it makes
/// depend on this checkout's runtime (as a contributor's do), so the suite
/// builds the runtime once; `portable.rs` tests the vendored copy.
pub fn rg() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rg"));
    cmd.env("RG_RUNTIME_PATH", workspace().join("runtime"));
    cmd
}

/// Runs `rg` with `args` in `dir` and returns what it printed.
pub fn rg_in(dir: &Path, args: &[&str]) -> Output {
    rg().args(args).current_dir(dir).output().expect("run rg")
}

/// The repository's root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Where generated projects are written and built: one target directory
/// shared by all of them, so dependencies are compiled once per suite.
pub fn e2e_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    let target = if target.is_absolute() {
        target
    } else {
        workspace().join(target)
    };
    target.join("e2e")
}

/// The target directory generated projects build into.
pub fn e2e_target() -> PathBuf {
    e2e_dir().join("target")
}
