//! What `rg runserver`'s loop keeps of hot patches (`hot.rs` makes them):
//! where they are written, and what became of a save tried as one.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use rg_contract::hot_patch;

use crate::build::cargo::Diagnostic;
use crate::build::project::Project;

/// How long a loaded patch may take to say how it went.
pub(super) const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// Where this runserver writes its patches, and how many it made.
#[derive(Debug, Default)]
pub struct HotPatches {
    /// `target/debug/rg-runserver/<package>/patches`, emptied when this
    /// runserver first uses it (a killed one leaves its patches there).
    pub(super) dir: Option<PathBuf>,
    pub(super) made: u64,
    /// Why the application takes none, once said.
    pub(super) declined: Option<String>,
    /// The first patch's compile, run ahead after a start.
    pub(super) priming: Option<tokio::task::JoinHandle<()>>,
}

impl HotPatches {
    /// The application's variable naming the directory, made for `project`.
    pub fn env(&mut self, project: &Project) -> Result<(&'static str, PathBuf)> {
        let dir = project
            .target_dir
            .join("debug/rg-runserver")
            .join(&project.package)
            .join("patches");
        if self.dir.as_ref() != Some(&dir) {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).with_context(|| format!("failed to create `{}`", dir.display()))?;
            self.dir = Some(dir.clone());
        }
        Ok((hot_patch::DIR, dir))
    }
}

impl HotPatches {
    /// Whether saves may patch an application of the binary `bin` that
    /// said it takes patches, keeping a `state` of that type if it has
    /// one: not when the type is the crate's own, whose layout a patch
    /// could change under the running value.
    pub fn ready(&mut self, state: Option<&str>, bin: &str) -> bool {
        let Some(state) = state.filter(|state| names_crate(state, &bin.replace('-', "_"))) else {
            return true;
        };
        self.declined(&format!(
            "its state, a `{state}`, is of a type of its own crate, whose layout a patch could change \
             under the running value (a state of dependencies' types, or a tuple or an `Arc` of them, patches)"
        ));
        false
    }

    /// Stops the compile run ahead, if it still runs: a build comes.
    pub fn stop_priming(&mut self) {
        if let Some(priming) = self.priming.take() {
            priming.abort();
        }
    }

    /// Says, once per reason, why saves restart the application.
    pub fn declined(&mut self, why: &str) {
        if self.declined.as_deref() != Some(why) {
            println!("Saves restart the application, not patch it: {why}");
            self.declined = Some(why.to_string());
        }
    }
}

/// What became of a save tried as a patch.
pub(super) enum Hot {
    /// The application serves the new code.
    Applied,
    /// Restart as usual.
    Restart,
    /// The code does not compile: the errors, for the page.
    Failed(Vec<Diagnostic>),
}

/// Whether the type name `ty` names a path of the crate `krate`.
fn names_crate(ty: &str, krate: &str) -> bool {
    ty.match_indices(&format!("{krate}::")).any(|(at, _)| {
        !ty[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

#[cfg(test)]
mod tests {
    use super::names_crate;

    #[test]
    fn a_state_of_the_crate_s_own_type_is_told_apart() {
        assert!(names_crate("site::State", "site"));
        assert!(names_crate("alloc::sync::Arc<site::db::Inner>", "site"));
        assert!(names_crate("(u32, site::State)", "site"));
        assert!(!names_crate("sqlx_core::pool::Pool<sqlx_core::any::Any>", "site"));
        assert!(!names_crate("my_site::State", "site"));
        assert!(!names_crate("alloc::sync::Arc<website::State>", "site"));
    }
}
