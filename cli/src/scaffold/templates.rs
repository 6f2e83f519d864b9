//! The files `rg new` writes, embedded into the binary at build time from
//! `templates/project/`, and the one substitution step that fills them in.
//!
//! A template file's path is its path in the new project, except that a
//! trailing `.tmpl` is dropped (so `Cargo.toml.tmpl` is not mistaken for a
//! real manifest inside this repository) and `gitignore` becomes
//! `.gitignore`, and `_name_` in a file name becomes the project's name.
//! Placeholders are `{{name}}`-style; an unknown one is a bug
//! that a unit test catches. `rg.toml` is not a template: it is generated
//! from the settings schema (`rg_toml.rs`).

use std::path::PathBuf;

use include_dir::{Dir, DirEntry, include_dir};

static PROJECT: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/embed/project");

/// One file of a new project.
#[derive(Debug)]
pub struct File {
    /// Path relative to the project directory.
    pub path: PathBuf,
    /// Contents, placeholders filled in.
    pub contents: String,
}

/// The values placeholders are replaced with.
#[derive(Debug)]
pub struct Values<'a> {
    /// `{{name}}`: the package name.
    pub name: &'a str,
    /// `{{runtime_dependency}}`: the `rg = ...` line of `Cargo.toml`.
    pub runtime_dependency: &'a str,
}

/// Every file of a new project, in a stable order.
pub fn project(values: &Values<'_>) -> Vec<File> {
    let mut files = Vec::new();
    collect(&PROJECT, values, &mut files);
    files.push(File {
        path: PathBuf::from("rg.toml"),
        contents: super::rg_toml::render(values.name),
    });
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

fn collect(dir: &Dir<'_>, values: &Values<'_>, out: &mut Vec<File>) {
    for entry in dir.entries() {
        match entry {
            DirEntry::Dir(d) => collect(d, values, out),
            DirEntry::File(f) => {
                let mut path = PathBuf::from(f.path().to_string_lossy().replace("_name_", values.name));
                if path.extension().is_some_and(|e| e == "tmpl") {
                    path.set_extension("");
                }
                if path.file_name().is_some_and(|n| n == "gitignore") {
                    path.set_file_name(".gitignore");
                }
                let text = String::from_utf8_lossy(f.contents());
                out.push(File {
                    path,
                    contents: render(&text, values),
                });
            }
        }
    }
}

fn render(text: &str, values: &Values<'_>) -> String {
    text.replace("{{name}}", values.name)
        .replace("{{crate_name}}", &values.name.replace('-', "_"))
        .replace("{{runtime_dependency}}", values.runtime_dependency)
        .replace("{{rg_version}}", env!("CARGO_PKG_VERSION"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_is_filled() {
        let values = Values {
            name: "my-site",
            runtime_dependency: "rg = { package = \"rg-runtime\", path = \"/x\" }",
        };
        for file in project(&values) {
            assert!(
                !file.contents.contains("{{"),
                "{} has an unfilled placeholder",
                file.path.display()
            );
        }
    }
}
