//! The runtime a new project depends on, carried inside `rg` itself.
//!
//! A generated project must keep building after the rg source tree `rg`
//! was installed from is moved or deleted, with nothing but the package
//! registry. So `rg` embeds the sources of the runtime's crates (`CRATES`
//! below), and writes them once to a per-user directory named after
//! rg's version and a hash of those sources
//! (`~/.local/share/rg/runtime-0.1.0-<hash>/`), with manifests that stand
//! alone (the workspace's inherited fields and dependency versions written
//! out). Projects point their `rg` dependency there; `--runtime-path`
//! points it at a checkout instead.

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use include_dir::{Dir, DirEntry, include_dir};
use toml::{Table, Value};

static RUNTIME: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../runtime");
static INTERNAL: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../internal");
static DYLIB: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../dylib");
static CONTRACT: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../contract");
const WORKSPACE: &str = include_str!("../../../Cargo.toml");

/// The crates, by the directory name they get: the runtime projects import
/// (a facade), the code behind it, that code as one shared library for
/// `rg runserver`'s dev builds, and the contract the runtime shares with
/// the master.
const CRATES: [(&str, &Dir<'static>); 4] = [
    ("rg-runtime", &RUNTIME),
    ("rg-internal", &INTERNAL),
    ("rg-dylib", &DYLIB),
    ("rg-contract", &CONTRACT),
];

/// The runtime's directory for new projects, written on first use; later
/// calls find it there. `home` is the per-user data directory.
pub fn install(home: &Path) -> Result<PathBuf> {
    let dir = home.join(format!(
        "runtime-{}-{:016x}",
        env!("CARGO_PKG_VERSION"),
        fingerprint()
    ));
    let runtime = dir.join("rg-runtime");
    if runtime.join("Cargo.toml").is_file() {
        return Ok(runtime);
    }
    // Written beside, then renamed into place: a half-written copy is never
    // seen, and two `rg new` at once both end with a whole one.
    let partial = home.join(format!(".runtime-partial-{}", std::process::id()));
    let _ = fs::remove_dir_all(&partial);
    write_crates(&partial).inspect_err(|_| {
        let _ = fs::remove_dir_all(&partial);
    })?;
    if let Err(e) = fs::rename(&partial, &dir) {
        let _ = fs::remove_dir_all(&partial);
        if !runtime.join("Cargo.toml").is_file() {
            return Err(e).with_context(|| format!("failed to write `{}`", dir.display()));
        }
    }
    Ok(runtime)
}

/// The per-user data directory: `$XDG_DATA_HOME/rg`, else
/// `~/.local/share/rg`.
pub fn home() -> Result<PathBuf> {
    let base = match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => std::env::var_os("HOME")
            .filter(|v| !v.is_empty())
            .map(|home| PathBuf::from(home).join(".local/share"))
            .ok_or_else(|| {
                anyhow!("neither XDG_DATA_HOME nor HOME is set, so rg has nowhere to keep its runtime; pass --runtime-path")
            })?,
    };
    Ok(base.join("rg"))
}

fn write_crates(into: &Path) -> Result<()> {
    let workspace: Table = WORKSPACE
        .parse()
        .context("rg's own workspace manifest, embedded at build time")?;
    for (name, dir) in CRATES {
        let root = into.join(name);
        write_dir(dir, &root)?;
        let manifest = dir
            .get_file("Cargo.toml")
            .and_then(|f| f.contents_utf8())
            .ok_or_else(|| anyhow!("the embedded {name} has no Cargo.toml"))?;
        let standalone = standalone(manifest, &workspace)?;
        let path = root.join("Cargo.toml");
        fs::write(&path, standalone).with_context(|| format!("failed to write `{}`", path.display()))?;
    }
    Ok(())
}

fn write_dir(dir: &Dir<'_>, root: &Path) -> Result<()> {
    for entry in dir.entries() {
        match entry {
            DirEntry::Dir(d) => write_dir(d, root)?,
            DirEntry::File(f) => {
                let path = root.join(f.path());
                if let Some(parent) = path.parent() {
                    fs::create_dir_all(parent)
                        .with_context(|| format!("failed to create `{}`", parent.display()))?;
                }
                fs::write(&path, f.contents())
                    .with_context(|| format!("failed to write `{}`", path.display()))?;
            }
        }
    }
    Ok(())
}

/// A member's manifest with everything it inherits from the workspace
/// written out: package fields, dependency versions and features, and the
/// other rg crate as a sibling path. Lints and dev-dependencies are the
/// workspace's business, not a project's, and are left out.
fn standalone(manifest: &str, workspace: &Table) -> Result<String> {
    let mut table: Table = manifest.parse().context("an embedded crate's manifest")?;
    let ws = workspace
        .get("workspace")
        .and_then(Value::as_table)
        .ok_or_else(|| anyhow!("rg's workspace manifest has no [workspace]"))?;
    let empty = Table::new();
    let ws_package = ws.get("package").and_then(Value::as_table).unwrap_or(&empty);
    let ws_deps = ws.get("dependencies").and_then(Value::as_table).unwrap_or(&empty);
    if let Some(package) = table.get_mut("package").and_then(Value::as_table_mut) {
        for (key, value) in package.iter_mut() {
            if inherits(value) {
                *value = ws_package
                    .get(key)
                    .cloned()
                    .ok_or_else(|| anyhow!("package.{key} is not in the workspace"))?;
            }
        }
    }
    if let Some(deps) = table.get_mut("dependencies").and_then(Value::as_table_mut) {
        for (name, value) in deps.iter_mut() {
            if !inherits(value) {
                continue;
            }
            let mut spec = match ws_deps.get(name) {
                Some(Value::String(version)) => {
                    let mut spec = Table::new();
                    spec.insert("version".into(), Value::String(version.clone()));
                    spec
                }
                Some(Value::Table(spec)) => spec.clone(),
                _ => return Err(anyhow!("dependency {name} is not in the workspace")),
            };
            if spec.contains_key("path") {
                spec.insert("path".into(), Value::String(format!("../{name}")));
            }
            // What the member adds to the workspace's spec (features).
            if let Some(local) = value.as_table() {
                for (key, extra) in local.iter().filter(|(k, _)| k.as_str() != "workspace") {
                    spec.insert(key.clone(), extra.clone());
                }
            }
            *value = Value::Table(spec);
        }
    }
    table.remove("dev-dependencies");
    table.remove("lints");
    let body = toml::to_string(&table).context("writing a standalone manifest")?;
    Ok(format!(
        "# Written by rg {} from the sources it carries; `rg new` projects depend on it.\n{body}",
        env!("CARGO_PKG_VERSION")
    ))
}

fn inherits(value: &Value) -> bool {
    value
        .as_table()
        .and_then(|t| t.get("workspace"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// A hash of everything written, so a changed runtime gets a directory of
/// its own even when the version number did not move.
fn fingerprint() -> u64 {
    let mut hasher = DefaultHasher::new();
    WORKSPACE.hash(&mut hasher);
    for (name, dir) in CRATES {
        name.hash(&mut hasher);
        hash_dir(dir, &mut hasher);
    }
    hasher.finish()
}

fn hash_dir(dir: &Dir<'_>, hasher: &mut DefaultHasher) {
    for entry in dir.entries() {
        match entry {
            DirEntry::Dir(d) => hash_dir(d, hasher),
            DirEntry::File(f) => {
                f.path().hash(hasher);
                f.contents().hash(hasher);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_stand_alone() {
        let workspace: Table = WORKSPACE.parse().unwrap();
        let runtime = RUNTIME.get_file("Cargo.toml").unwrap().contents_utf8().unwrap();
        let text = standalone(runtime, &workspace).unwrap();
        assert!(!text.contains("workspace"), "{text}");
        let table: Table = text.parse().unwrap();
        assert_eq!(table["package"]["name"].as_str(), Some("rg-runtime"));
        assert_eq!(
            table["package"]["version"].as_str(),
            Some(env!("CARGO_PKG_VERSION"))
        );
        let deps = table["dependencies"].as_table().unwrap();
        assert_eq!(deps["rg-internal"]["path"].as_str(), Some("../rg-internal"));
        assert_eq!(deps["rg-dylib"]["optional"].as_bool(), Some(true), "{text}");

        let internal = INTERNAL.get_file("Cargo.toml").unwrap().contents_utf8().unwrap();
        let text = standalone(internal, &workspace).unwrap();
        let table: Table = text.parse().unwrap();
        let deps = table["dependencies"].as_table().unwrap();
        assert_eq!(deps["rg-contract"]["path"].as_str(), Some("../rg-contract"));
        assert!(deps["axum"]["features"].as_array().is_some(), "{text}");
        assert!(deps["tokio"]["version"].as_str().is_some(), "{text}");
    }

    #[test]
    fn installs_once_and_whole() {
        let home = tempfile::tempdir().unwrap();
        let first = install(home.path()).unwrap();
        assert!(first.join("src/lib.rs").is_file());
        for sibling in ["rg-internal", "rg-dylib", "rg-contract"] {
            let lib = first.parent().unwrap().join(sibling).join("src/lib.rs");
            assert!(lib.is_file(), "{} is missing", lib.display());
        }
        let second = install(home.path()).unwrap();
        assert_eq!(first, second);
        let entries: Vec<_> = fs::read_dir(home.path()).unwrap().collect();
        assert_eq!(entries.len(), 1, "no partial copy is left behind");
    }
}
