//! What the binary's build read, from the dep-info file cargo writes beside
//! it (`target/debug/app.d`: `target: input input ...`), so a save can be
//! told apart: a file the build read (a source, an `include_str!`) needs a
//! rebuild; any other watched file (a template, a stylesheet read at run
//! time) only needs the browser to reload.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The inputs of one build.
#[derive(Debug, Default, Clone)]
pub struct Inputs {
    files: HashSet<PathBuf>,
}

impl Inputs {
    /// The inputs of the build that made `exe`, or `None` when cargo left
    /// no dep-info to read.
    pub fn of(exe: &Path) -> Option<Inputs> {
        let text = std::fs::read_to_string(exe.with_extension("d")).ok()?;
        Some(Inputs::parse(&text))
    }

    /// The files, as the dep-info names them.
    pub fn files(&self) -> impl Iterator<Item = &PathBuf> {
        self.files.iter()
    }

    fn parse(text: &str) -> Inputs {
        let mut files = HashSet::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((_, inputs)) = line.split_once(": ") else {
                continue;
            };
            // Paths are separated by spaces; a space in a path is `\ `.
            let mut current = String::new();
            let mut chars = inputs.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '\\' if chars.peek() == Some(&' ') => {
                        current.push(' ');
                        chars.next();
                    }
                    ' ' => {
                        if !current.is_empty() {
                            files.insert(PathBuf::from(std::mem::take(&mut current)));
                        }
                    }
                    c => current.push(c),
                }
            }
            if !current.is_empty() {
                files.insert(PathBuf::from(current));
            }
        }
        Inputs { files }
    }

    /// Whether a save of `paths` can be served by reloading the browser
    /// alone: none is an input of the build, a Rust file, a build script or
    /// a manifest (a new `.rs` file is not an input until a `mod` names it).
    pub fn runtime_only(&self, paths: &[PathBuf]) -> bool {
        !paths.is_empty()
            && paths.iter().all(|path| {
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                let build_file = name == "Cargo.toml" || name == "build.rs" || name.ends_with(".rs");
                !build_file && !self.files.contains(path)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cargos_dep_info_and_tells_run_time_files_apart() {
        let inputs = Inputs::parse(
            "/p/target/debug/app: /p/src/main.rs /p/src/page\\ one.html /p/assets/logo.txt\n\n/p/src/main.rs:\n",
        );
        let p = |s: &str| PathBuf::from(s);
        assert!(inputs.files.contains(&p("/p/src/page one.html")));
        assert!(
            !inputs.runtime_only(&[p("/p/assets/logo.txt")]),
            "included at build time"
        );
        assert!(!inputs.runtime_only(&[p("/p/src/new_module.rs")]));
        assert!(!inputs.runtime_only(&[p("/p/Cargo.toml")]));
        assert!(inputs.runtime_only(&[p("/p/static/site.css"), p("/p/templates/index.html")]));
        assert!(!inputs.runtime_only(&[p("/p/static/site.css"), p("/p/src/main.rs")]));
        assert!(!inputs.runtime_only(&[]));
    }
}
