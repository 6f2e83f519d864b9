//! `rg upgrade`: bring a project's vendored runtime to this rg's version,
//! as `cargo update` brings a lock file; the user's code is not touched.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use cargo_metadata::semver::Version;
use toml_edit::{DocumentMut, InlineTable, Item, Value};

use crate::scaffold::runtime::{self, CRATES, RUNTIME_PATH, VENDOR, VERSION};

/// Replace the project's rg runtime (vendor/) with this rg's, and set its version in Cargo.toml.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The project's directory [default: the current directory]
    directory: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let dir = args.directory.unwrap_or_else(|| PathBuf::from("."));
    let manifest = dir.join("Cargo.toml");
    let text = fs::read_to_string(&manifest).with_context(|| {
        format!(
            "failed to read `{}`: run rg upgrade in a project made by `rg new`",
            manifest.display()
        )
    })?;
    let mut doc: DocumentMut = text
        .parse()
        .with_context(|| format!("`{}` is not valid TOML", manifest.display()))?;
    let (key, path) = runtime_dependency(&doc)
        .with_context(|| format!("`{}` has no dependency on rg-runtime", manifest.display()))?;
    let from = current_version(&dir, &path, &manifest)?;
    let ours: Version = VERSION.parse().context("rg's own version")?;
    if let Some(from) = &from
        && from.cmp_precedence(&ours).is_gt()
    {
        bail!(
            "this project's rg runtime is {from}, newer than this rg ({ours}): install rg {from} or later instead"
        );
    }

    runtime::vendor(&dir)?;
    set_dependency(&mut doc, &key);
    let edited = doc.to_string();
    if edited != text {
        fs::write(&manifest, &edited).with_context(|| format!("failed to write `{}`", manifest.display()))?;
    }

    let green = console::Style::new().green().bold();
    let from = from.map_or("an unknown version".to_string(), |v| v.to_string());
    println!(
        "{:>12} rg runtime {from} -> {VERSION}",
        green.apply_to("Upgraded")
    );
    let crates: Vec<String> = CRATES
        .iter()
        .map(|(name, _)| format!("{VENDOR}/{name}"))
        .collect();
    println!("{:>12} {}", "Replaced", crates.join(", "));
    if edited != text {
        println!(
            "{:>12} {}: {key} = {}",
            "Updated",
            manifest.display(),
            doc["dependencies"][&key]
        );
    }
    println!("Nothing else was changed; commit vendor/ and Cargo.toml together.");
    Ok(ExitCode::SUCCESS)
}

/// The `[dependencies]` key naming rg-runtime, and its path, if it has one
/// that rg manages (the vendored copy, or the per-user copy of older rg
/// releases); any other source is the user's choice and is left alone.
fn runtime_dependency(doc: &DocumentMut) -> Result<(String, PathBuf)> {
    let deps = doc
        .get("dependencies")
        .and_then(Item::as_table_like)
        .context("no [dependencies] table")?;
    let (key, spec) = deps
        .iter()
        .find(|(key, spec)| {
            *key == "rg-runtime" || spec.get("package").and_then(Item::as_str) == Some("rg-runtime")
        })
        .context("no rg-runtime among the dependencies")?;
    let shown = spec.to_string();
    let Some(path) = spec.get("path").and_then(Item::as_str).map(PathBuf::from) else {
        bail!(
            "the rg dependency is `{key} = {}`, not a copy of the runtime that rg vendors; rg upgrade leaves it alone",
            shown.trim()
        );
    };
    if path != Path::new(RUNTIME_PATH) && !runtime::is_old_shared_copy(&path) {
        bail!(
            "the rg dependency points at `{}`, not at the copy rg vendors ({RUNTIME_PATH}); rg upgrade leaves it alone \
             (make it `path = \"{RUNTIME_PATH}\"` to have rg manage it)",
            path.display()
        );
    }
    Ok((key.to_string(), path))
}

/// The version of the runtime at `path` (relative to the project), read
/// from its manifest; `None` when that copy is gone (an older release's
/// per-user copy on another machine).
fn current_version(dir: &Path, path: &Path, project_manifest: &Path) -> Result<Option<Version>> {
    let manifest = dir.join(path).join("Cargo.toml");
    let text = match fs::read_to_string(&manifest) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("failed to read `{}`", manifest.display())),
    };
    let doc: DocumentMut = text.parse().with_context(|| {
        format!(
            "`{}` (the rg runtime of `{}`) is not valid TOML",
            manifest.display(),
            project_manifest.display()
        )
    })?;
    let version = doc
        .get("package")
        .and_then(|p| p.get("version"))
        .and_then(Item::as_str)
        .with_context(|| format!("`{}` has no package.version", manifest.display()))?;
    let version = version.parse().with_context(|| {
        format!(
            "`{}`: package.version {version:?} is not a version",
            manifest.display()
        )
    })?;
    Ok(Some(version))
}

/// Points the dependency at the vendored copy with this rg's version,
/// keeping its other keys (features, optional) and the file's formatting.
fn set_dependency(doc: &mut DocumentMut, key: &str) {
    let spec = &mut doc["dependencies"][key];
    if let Some(table) = spec.as_inline_table_mut() {
        table.insert("version", Value::from(VERSION));
        table.insert("path", Value::from(RUNTIME_PATH));
    } else if let Some(table) = spec.as_table_mut() {
        table.insert("version", toml_edit::value(VERSION));
        table.insert("path", toml_edit::value(RUNTIME_PATH));
    } else {
        let mut table = InlineTable::new();
        table.insert("package", Value::from("rg-runtime"));
        table.insert("version", Value::from(VERSION));
        table.insert("path", Value::from(RUNTIME_PATH));
        *spec = Item::Value(Value::InlineTable(table));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(text: &str) -> Result<String> {
        let mut doc: DocumentMut = text.parse()?;
        let (key, _) = runtime_dependency(&doc)?;
        set_dependency(&mut doc, &key);
        Ok(doc.to_string())
    }

    #[test]
    fn sets_the_version_and_keeps_the_rest_of_the_file() {
        let before = "[package]\nname = \"site\" # mine\n\n[dependencies]\n# the runtime\nrg = { package = \"rg-runtime\", version = \"0.0.9\", path = \"vendor/rg-runtime\" }\nserde = \"1\"\n";
        let after = edit(before).unwrap();
        assert_eq!(
            after,
            before.replace("version = \"0.0.9\"", &format!("version = \"{VERSION}\""))
        );
    }

    #[test]
    fn moves_an_older_releases_per_user_copy_into_vendor() {
        let before = "[dependencies]\nrg = { package = \"rg-runtime\", path = \"/home/ann/.local/share/rg/runtime-0.1.0-00ab/rg-runtime\" }\n";
        let after = edit(before).unwrap();
        assert_eq!(
            after,
            format!("[dependencies]\nrg = {{ package = \"rg-runtime\", path = \"vendor/rg-runtime\" , version = \"{VERSION}\"}}\n")
                .replace(" , version", ", version")
                .replace("\"}", "\" }")
        );
    }

    #[test]
    fn leaves_a_runtime_it_does_not_manage_alone() {
        for (spec, needle) in [
            (
                "rg = { package = \"rg-runtime\", path = \"../rg/runtime\" }",
                "points at `../rg/runtime`",
            ),
            (
                "rg = { package = \"rg-runtime\", version = \"0.1\" }",
                "not a copy of the runtime that rg vendors",
            ),
        ] {
            let err = edit(&format!("[dependencies]\n{spec}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{spec}: {err}");
        }
        let err = edit("[dependencies]\nserde = \"1\"\n").unwrap_err().to_string();
        assert!(err.contains("no rg-runtime"), "{err}");
    }
}
