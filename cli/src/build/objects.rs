//! A hot patch's compile: the binary crate into objects by the command
//! cargo last ran. Its incremental cache is kept per kind of output, so
//! after each restart the same compile runs once ahead (`prime`), and the
//! first save's patch reuses it (guestbook: 0.5 s instead of 1.5 s).

use std::future::Future;
use std::path::PathBuf;

use anyhow::{Context, Result};

use super::{Direct, Recorded};
use crate::build::cargo;
use crate::build::project::Project;
use crate::build::shared_runtime::SharedRuntime;

/// rustc's number of codegen units for an incremental build.
const INCREMENTAL_UNITS: u32 = 256;

/// A patch's compile: the objects, or rustc's diagnostics.
pub type Compiled = Result<Object, Vec<cargo::Diagnostic>>;

/// The binary crate compiled, for a hot patch.
#[derive(Debug)]
pub struct Object {
    /// One object file per codegen unit, for the patch's link to read and
    /// remove.
    pub objects: Vec<PathBuf>,
    /// The crate's name, as its symbols are mangled.
    pub krate: String,
    /// Its root file, `src/main.rs`.
    pub root: PathBuf,
    /// The executable cargo built, which the application runs.
    pub exe: PathBuf,
}

impl Direct {
    /// For a hot patch: the binary crate compiled by the recorded command
    /// into objects, not linked (the executable cargo left stays as it
    /// was). `None`, or a compile that says `None`: the saves need more
    /// than rustc alone. The compile owns what it needs, so a save during
    /// it can drop it, which stops rustc.
    pub fn object(
        &self,
        project: &Project,
    ) -> Option<impl Future<Output = Result<Option<Compiled>>> + Send + 'static> {
        let (recorded, exe) = self.allowed(project)?;
        // Another project's build may have replaced the shared runtime
        // that rustc reads: the running one's is put back.
        let shared = SharedRuntime::of(project);
        Some(async move {
            let _turn = shared.turn().await?;
            if !shared.make_current() {
                return Ok(None);
            }
            let krate = recorded
                .value("--crate-name")
                .context("no --crate-name")?
                .to_string();
            let objects = match recorded.run(&recorded.object_args()).await? {
                Ok(objects) => objects,
                Err(diagnostics) => return Ok(Some(Err(diagnostics))),
            };
            let built = recorded.output().context("rustc's command names no output")?;
            recorded.add_inputs(&built, &exe)?;
            let root = recorded
                .args
                .iter()
                .find(|a| a.ends_with(".rs") && !a.starts_with('-'))
                .map(|a| recorded.cwd.join(a))
                .context("rustc's command names no crate root")?;
            Ok(Some(Ok(Object {
                objects,
                krate,
                root,
                exe,
            })))
        })
    }

    /// The object compile of the code as it is, run ahead of the first
    /// save: only its incremental cache is kept. `None` when a save could
    /// not be patched anyway. Dropping the future stops rustc.
    pub fn prime(&self, project: &Project) -> Option<impl Future<Output = ()> + Send + 'static> {
        let compile = self.object(project)?;
        Some(async move {
            if let Ok(Some(Ok(object))) = compile.await {
                for file in object.objects {
                    let _ = std::fs::remove_file(file);
                }
            }
        })
    }
}

impl Recorded {
    /// The recorded command, asked for objects instead of an executable.
    fn object_args(&self) -> Vec<String> {
        let mut args: Vec<String> = self
            .args
            .iter()
            .map(|a| match a.starts_with("--emit=") {
                true => "--emit=dep-info,obj".to_string(),
                false => a.clone(),
            })
            .collect();
        // Asked for objects, rustc compiles into one codegen unit unless
        // told their number: cargo's incremental default keeps the units
        // its builds left for reuse (a patch 0.10 s instead of 0.15 s).
        if !args.iter().any(|a| a.starts_with("codegen-units=")) {
            args.extend(["-C".into(), format!("codegen-units={INCREMENTAL_UNITS}")]);
        }
        // No line tables: they were a tenth of the guestbook's patch (0.47 s
        // → 0.43 s); a panic still says where, a backtrace names functions.
        // Nor the empty split debug info files rustc would write anyway, and
        // the patch would then have to prune (6 ms in a large `deps/`).
        args.extend(["-C", "debuginfo=0", "-C", "split-debuginfo=off"].map(String::from));
        args
    }
}
