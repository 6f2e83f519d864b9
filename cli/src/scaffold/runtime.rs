//! The runtime a project depends on, carried inside `rg` and vendored into
//! each project's `vendor/`, so the project builds wherever it is cloned.
//!
//! `cli/embed/` links to the runtime crates' sources (symlinks that
//! `cargo package` follows), so a packaged `rg` carries them as well as a
//! checkout's. Manifests are written standalone: inherited fields filled in.

use std::cmp::Ordering;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use cargo_metadata::semver::Version;
use include_dir::{Dir, DirEntry, include_dir};
use toml::{Table, Value};

static RUNTIME: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/embed/rg-runtime");
static INTERNAL: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/embed/rg-internal");
static DYLIB: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/embed/rg-dylib");
static CONTRACT: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/embed/rg-contract");
const WORKSPACE: &str = include_str!("../../embed/workspace.toml");

/// The runtime's version: rg's own, as the crates move in lockstep.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Where the runtime lives inside a project, and what its dependency says.
pub const VENDOR: &str = "vendor";
pub const RUNTIME_PATH: &str = "vendor/rg-runtime";

/// The crates, by their directory in `vendor/`: the runtime projects import
/// (a facade), the code behind it, that code as one shared library for
/// `rg runserver`'s dev builds, and the contract shared with the master.
pub const CRATES: [(&str, &Dir<'static>); 4] = [
    ("rg-runtime", &RUNTIME),
    ("rg-internal", &INTERNAL),
    ("rg-dylib", &DYLIB),
    ("rg-contract", &CONTRACT),
];

/// The `rg = ...` line of a project's `Cargo.toml`: the version it will
/// keep once the crates are published, and the vendored copy beside it.
pub fn dependency_line() -> String {
    format!("rg = {{ package = \"rg-runtime\", version = \"{VERSION}\", path = \"{RUNTIME_PATH}\" }}")
}

/// Writes (or replaces) the runtime's crates in `project/vendor/`, leaving
/// anything else there alone. Each crate is written beside its place, then
/// swapped in, so an interrupted write never leaves half a crate.
pub fn vendor(project: &Path) -> Result<()> {
    let vendor = project.join(VENDOR);
    let staging = vendor.join(format!(".rg-partial-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    write_crates(&staging).inspect_err(|_| {
        let _ = fs::remove_dir_all(&staging);
    })?;
    for (name, _) in CRATES {
        let place = vendor.join(name);
        let old = staging.join(format!("{name}.old"));
        if place.exists() {
            fs::rename(&place, &old)
                .with_context(|| format!("failed to move `{}` aside", place.display()))?;
        }
        fs::rename(staging.join(name), &place)
            .with_context(|| format!("failed to write `{}`", place.display()))?;
    }
    fs::remove_dir_all(&staging).with_context(|| format!("failed to remove `{}`", staging.display()))
}

/// The one line `rg runserver` and `rg serve` print when a project's
/// runtime is not this rg's version, saying what to run; `None` in step.
pub fn out_of_step(project: &Version) -> Option<String> {
    let ours: Version = VERSION.parse().ok()?;
    match project.cmp_precedence(&ours) {
        Ordering::Less => Some(format!(
            "this project's rg runtime is {project}, older than this rg ({ours}): run `rg upgrade` to bring it to {ours}"
        )),
        Ordering::Greater => Some(format!(
            "this project's rg runtime is {project}, newer than this rg ({ours}): install rg {project} or later to run it"
        )),
        Ordering::Equal => None,
    }
}

/// Prints [`out_of_step`]'s line on stderr, if there is one.
pub fn say_if_out_of_step(project: Option<&Version>) {
    if let Some(line) = project.and_then(out_of_step) {
        eprintln!("{} {line}", console::style("note:").yellow().bold().for_stderr());
    }
}

fn write_crates(into: &Path) -> Result<()> {
    let workspace: Table = WORKSPACE
        .parse()
        .context("rg's own workspace manifest, embedded at build time")?;
    for (name, dir) in CRATES {
        let root = into.join(name);
        write_dir(dir, &root)?;
        let manifest = dir
            .get_file("manifest.toml")
            .and_then(|f| f.contents_utf8())
            .ok_or_else(|| anyhow!("the embedded {name} has no manifest"))?;
        let path = root.join("Cargo.toml");
        fs::write(&path, standalone(manifest, &workspace)?)
            .with_context(|| format!("failed to write `{}`", path.display()))?;
    }
    Ok(())
}

/// Whether a crate's file goes into a project: its sources, not the unit
/// tests kept in files or folders of their own, nor the manifest (written
/// standalone).
fn carried(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let in_tests = path.components().any(|part| part.as_os_str() == "tests");
    path.starts_with("src") && !name.ends_with("_tests.rs") && name != "tests.rs" && !in_tests
}

fn write_dir(dir: &Dir<'_>, root: &Path) -> Result<()> {
    for entry in dir.entries() {
        match entry {
            DirEntry::Dir(d) => write_dir(d, root)?,
            DirEntry::File(f) if carried(f.path()) => {
                let path = root.join(f.path());
                if let Some(parent) = path.parent() {
                    fs::create_dir_all(parent)
                        .with_context(|| format!("failed to create `{}`", parent.display()))?;
                }
                fs::write(&path, f.contents())
                    .with_context(|| format!("failed to write `{}`", path.display()))?;
            }
            DirEntry::File(_) => {}
        }
    }
    Ok(())
}

/// A member's manifest with everything it inherits from the workspace
/// written out: package fields, dependency versions and features, and the
/// other rg crates as sibling paths with their version. Lints and
/// dev-dependencies are the workspace's business, not a project's.
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
    // Without their test files and dev-dependencies the crates' tests do not
    // build: a workspace that holds the project must not try them.
    if let Some(lib) = table
        .entry("lib")
        .or_insert_with(|| Value::Table(Table::new()))
        .as_table_mut()
    {
        lib.insert("test".into(), Value::Boolean(false));
        lib.insert("doctest".into(), Value::Boolean(false));
    }
    let body = toml::to_string(&table).context("writing a standalone manifest")?;
    Ok(format!(
        "# The rg runtime {VERSION}, vendored by `rg new`; `rg upgrade` replaces it.\n{body}"
    ))
}

fn inherits(value: &Value) -> bool {
    value
        .as_table()
        .and_then(|t| t.get("workspace"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// The directory older rg releases kept the runtime in, per user
/// (`~/.local/share/rg/runtime-<version>-<hash>/rg-runtime`), recognised so
/// `rg upgrade` can move such a project onto a vendored copy.
pub fn is_old_shared_copy(path: &Path) -> bool {
    let mut parts = path.components().rev().map(|c| c.as_os_str().to_string_lossy());
    parts.next().as_deref() == Some("rg-runtime")
        && parts.next().is_some_and(|p| p.starts_with("runtime-"))
        && parts.next().as_deref() == Some("rg")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_stand_alone() {
        let workspace: Table = WORKSPACE.parse().unwrap();
        let manifest =
            |dir: &'static Dir<'static>| dir.get_file("manifest.toml").unwrap().contents_utf8().unwrap();
        let text = standalone(manifest(&RUNTIME), &workspace).unwrap();
        assert!(!text.contains("workspace"), "{text}");
        let table: Table = text.parse().unwrap();
        assert_eq!(table["package"]["name"].as_str(), Some("rg-runtime"));
        assert_eq!(table["package"]["version"].as_str(), Some(VERSION));
        let deps = table["dependencies"].as_table().unwrap();
        assert_eq!(deps["rg-internal"]["path"].as_str(), Some("../rg-internal"));
        assert_eq!(deps["rg-internal"]["version"].as_str(), Some(VERSION));
        assert_eq!(deps["rg-dylib"]["optional"].as_bool(), Some(true), "{text}");
        assert_eq!(table["lib"]["test"].as_bool(), Some(false), "{text}");

        let text = standalone(manifest(&INTERNAL), &workspace).unwrap();
        let table: Table = text.parse().unwrap();
        let deps = table["dependencies"].as_table().unwrap();
        assert_eq!(deps["rg-contract"]["path"].as_str(), Some("../rg-contract"));
        assert!(deps["axum"]["features"].as_array().is_some(), "{text}");
        assert!(deps["tokio"]["version"].as_str().is_some(), "{text}");
    }

    #[test]
    fn vendors_sources_without_their_tests_and_replaces_a_copy() {
        let project = tempfile::tempdir().unwrap();
        let mine = project.path().join("vendor/mine/lib.rs");
        fs::create_dir_all(mine.parent().unwrap()).unwrap();
        fs::write(&mine, "kept").unwrap();
        vendor(project.path()).unwrap();
        let runtime = project.path().join(RUNTIME_PATH);
        assert!(runtime.join("src/lib.rs").is_file());
        for sibling in ["rg-internal", "rg-dylib", "rg-contract"] {
            let lib = project.path().join("vendor").join(sibling).join("src/lib.rs");
            assert!(lib.is_file(), "{} is missing", lib.display());
        }
        let stream = project.path().join("vendor/rg-internal/src/server/stream");
        assert!(stream.join("deadlines.rs").is_file());
        assert!(!stream.join("deadlines_tests.rs").exists());
        let http1 = project.path().join("vendor/rg-internal/src/server/http1");
        assert!(http1.join("mod.rs").is_file());
        assert!(
            !http1.join("tests").exists(),
            "the validator's test vectors stay home"
        );

        let stale = project.path().join("vendor/rg-contract/src/stale.rs");
        fs::write(&stale, "from an older runtime").unwrap();
        vendor(project.path()).unwrap();
        assert!(!stale.exists(), "the old copy is replaced whole");
        assert_eq!(fs::read_to_string(&mine).unwrap(), "kept");
        let names: Vec<_> = fs::read_dir(project.path().join("vendor"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 5, "no partial copy is left behind: {names:?}");
    }

    #[test]
    fn says_which_way_a_project_is_out_of_step() {
        let ours: Version = VERSION.parse().unwrap();
        assert_eq!(out_of_step(&ours), None);
        let older = Version::new(0, 0, 1);
        let line = out_of_step(&older).unwrap();
        assert!(line.contains("is 0.0.1, older than this rg"), "{line}");
        assert!(line.contains("run `rg upgrade`"), "{line}");
        let newer = Version::new(ours.major + 1, 0, 0);
        let line = out_of_step(&newer).unwrap();
        assert!(line.contains("newer than this rg"), "{line}");
        assert!(line.contains(&format!("install rg {newer} or later")), "{line}");
    }

    #[test]
    fn knows_the_copies_older_releases_kept_per_user() {
        let old = Path::new("/home/ann/.local/share/rg/runtime-0.1.0-00ab/rg-runtime");
        assert!(is_old_shared_copy(old));
        assert!(!is_old_shared_copy(Path::new("/src/rg/runtime")));
        assert!(!is_old_shared_copy(Path::new("vendor/rg-runtime")));
    }
}
