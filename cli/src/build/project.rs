//! Which binary of which package `rg runserver` and `rg serve` build, as
//! cargo sees the directory they run in: a single package, a workspace root
//! or any member's directory, with cargo's own `-p/--package` and `--bin`.
//!
//! Everything comes from `cargo metadata` (through the `cargo_metadata`
//! crate): members, their binaries, `default-run`, and the dependency graph,
//! whose local packages (path dependencies, workspace members) are the
//! directories to watch, so a save in a library the binary uses rebuilds.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cargo_metadata::{Metadata, MetadataCommand, Package, PackageId, TargetKind};

/// What to build and watch.
#[derive(Debug, Clone)]
pub struct Project {
    /// The package's name (`cargo build -p`).
    pub package: String,
    /// The binary's name (`cargo build --bin`).
    pub bin: String,
    /// The package's directory.
    pub dir: PathBuf,
    /// The workspace's root directory (the package's, alone).
    pub root: PathBuf,
    /// Cargo's target directory.
    pub target_dir: PathBuf,
    /// The directories of every local package the binary is built from,
    /// its own first.
    pub sources: Vec<PathBuf>,
    /// `--features` for a dev build that links the runtime as a shared
    /// library (`rg/dynamic-linking`), when the package's rg-runtime
    /// offers it and the binary keeps `rg::Allocator` as its allocator.
    pub shared_runtime: Option<String>,
    /// The version of the rg runtime the package depends on, if it does.
    pub runtime_version: Option<cargo_metadata::semver::Version>,
}

/// Cargo could not read the project (a broken manifest): a build error to
/// show, where a choice that names nothing is the user's to fix.
#[derive(Debug)]
pub struct Unreadable(pub PathBuf);

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cargo could not read the project in `{}`", self.0.display())
    }
}

/// What the user asked for on the command line: cargo's `-p/--package`
/// and `--bin`, and how a dev build links the runtime.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Choice {
    /// The package to run, in a workspace (as `cargo run -p`)
    #[arg(short = 'p', long = "package", value_name = "SPEC")]
    pub package: Option<String>,
    /// The binary to run, in a package with several (as `cargo run --bin`)
    #[arg(long = "bin", value_name = "NAME")]
    pub bin: Option<String>,
    /// Link the rg runtime into the binary, as `cargo build` does, instead
    /// of as the shared library dev builds load on Linux (slower rebuilds)
    #[arg(long)]
    pub static_runtime: bool,
}

/// The same choice for `rg serve`, where `-p` is Gunicorn's `--pid`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeChoice {
    /// The package to serve, in a workspace (as `cargo build --package`)
    #[arg(long = "package", value_name = "SPEC")]
    pub package: Option<String>,
    /// The binary to serve, in a package with several (as `cargo build --bin`)
    #[arg(long = "bin", value_name = "NAME")]
    pub bin: Option<String>,
}

impl From<ServeChoice> for Choice {
    fn from(choice: ServeChoice) -> Choice {
        Choice {
            package: choice.package,
            bin: choice.bin,
            static_runtime: true,
        }
    }
}

impl Project {
    /// The project in `dir` (a package, a workspace root, or a member's
    /// directory), narrowed by `choice`. An ambiguous choice is an error
    /// that lists the candidates.
    pub fn find(dir: &Path, choice: &Choice) -> Result<Project> {
        if !dir.join("Cargo.toml").exists() && !has_manifest_above(dir) {
            bail!(
                "no Cargo.toml in `{}` or above it: run rg in a project directory (`rg new NAME` makes one)",
                dir.display()
            );
        }
        let metadata = MetadataCommand::new()
            .current_dir(dir)
            .exec()
            .map_err(|e| anyhow::Error::new(e).context(Unreadable(dir.to_path_buf())))?;
        let package = pick_package(&metadata, dir, choice)?;
        let bin = pick_bin(package, choice)?;
        let package_dir = package
            .manifest_path
            .parent()
            .map(|p| p.as_std_path().to_path_buf())
            .unwrap_or_else(|| dir.to_path_buf());
        Ok(Project {
            shared_runtime: shared_runtime(&metadata, package, &bin).filter(|_| !choice.static_runtime),
            runtime_version: runtime(&metadata, package).map(|p| p.version.clone()),
            package: package.name.to_string(),
            bin,
            sources: local_sources(&metadata, &package.id),
            dir: package_dir,
            root: metadata.workspace_root.as_std_path().to_path_buf(),
            target_dir: metadata.target_directory.as_std_path().to_path_buf(),
        })
    }

    /// `rg.toml` beside the package's manifest, else at the workspace root.
    pub fn config_file(&self) -> PathBuf {
        let own = self.dir.join("rg.toml");
        if own.exists() {
            own
        } else {
            self.root.join("rg.toml")
        }
    }
}

/// The runtime's feature that makes dev builds link it as one shared
/// library, as `--features` names it (`rg/dynamic-linking`, after the
/// name the package gives the dependency), when `package` depends on an
/// rg-runtime that has it.
///
/// Not for a binary whose `main.rs` sets a global allocator other than
/// `rg::Allocator` (or `rg::MiMalloc`, its name in projects made before):
/// the shared library allocates with the system's, and memory allocated on
/// one side is freed on the other, so the binary must use the system's too
/// (which `rg::Allocator` is in those builds). Such a
/// binary is built as `cargo build` would.
fn shared_runtime(metadata: &Metadata, package: &Package, bin: &str) -> Option<String> {
    const FEATURE: &str = "dynamic-linking";
    // The application finds the library through `LD_LIBRARY_PATH`, which is
    // how Linux's loader is told; elsewhere dev builds stay static.
    if !cfg!(target_os = "linux") {
        return None;
    }
    let dependency = runtime_dependency(package)?;
    let offered = runtime(metadata, package).is_some_and(|p| p.features.contains_key(FEATURE));
    let main = package
        .targets
        .iter()
        .find(|t| t.is_kind(TargetKind::Bin) && t.name == bin)
        .map(|t| t.src_path.as_std_path().to_path_buf())?;
    let source = std::fs::read_to_string(main).ok()?;
    let runtimes = ["rg::Allocator", "rg::MiMalloc"];
    let own_allocator =
        source.contains("global_allocator") && !runtimes.iter().any(|name| source.contains(name));
    let name = dependency.rename.as_deref().unwrap_or(&dependency.name);
    (offered && !own_allocator).then(|| format!("{name}/{FEATURE}"))
}

fn runtime_dependency(package: &Package) -> Option<&cargo_metadata::Dependency> {
    package
        .dependencies
        .iter()
        .find(|d| d.name == "rg-runtime" && d.kind == cargo_metadata::DependencyKind::Normal)
}

/// The rg-runtime package `package` depends on, as cargo resolved it.
fn runtime<'m>(metadata: &'m Metadata, package: &Package) -> Option<&'m Package> {
    let dependency = runtime_dependency(package)?;
    metadata.packages.iter().find(|p| {
        let same = match &dependency.path {
            Some(dir) => p.manifest_path.parent() == Some(dir.as_path()),
            None => dependency.req.matches(&p.version),
        };
        p.name.as_str() == "rg-runtime" && same
    })
}

fn has_manifest_above(dir: &Path) -> bool {
    dir.ancestors().skip(1).any(|d| d.join("Cargo.toml").is_file())
}

/// `-p`, else the member whose directory holds `dir`, else the only
/// member with a binary.
fn pick_package<'m>(metadata: &'m Metadata, dir: &Path, choice: &Choice) -> Result<&'m Package> {
    let members = metadata.workspace_packages();
    let with_bins: Vec<&Package> = members.iter().copied().filter(|p| !bins(p).is_empty()).collect();
    if let Some(name) = &choice.package {
        return members
            .iter()
            .copied()
            .find(|p| p.name.as_str() == name)
            .with_context(|| {
                format!(
                    "no package `{name}` in this workspace; packages with a binary: {}",
                    names(&with_bins)
                )
            });
    }
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let here = members
        .iter()
        .copied()
        .filter(|p| {
            p.manifest_path
                .parent()
                .and_then(|m| m.as_std_path().canonicalize().ok())
                .is_some_and(|m| dir.starts_with(m))
        })
        .max_by_key(|p| p.manifest_path.as_str().len());
    if let Some(package) = here {
        return Ok(package);
    }
    match with_bins.as_slice() {
        [only] => Ok(only),
        [] => bail!("no package in this workspace has a binary to run"),
        several => bail!(
            "this workspace has several packages with a binary; choose one with --package: {}",
            names(several)
        ),
    }
}

/// `--bin`, else the only binary, else `default-run`, else the one named
/// after the package.
fn pick_bin(package: &Package, choice: &Choice) -> Result<String> {
    let all = bins(package);
    if let Some(name) = &choice.bin {
        if all.contains(&name.as_str()) {
            return Ok(name.clone());
        }
        bail!(
            "package `{}` has no binary `{name}`; its binaries: {}",
            package.name,
            list(&all)
        );
    }
    match all.as_slice() {
        [] => bail!(
            "package `{}` has no binary to run (is there a src/main.rs?)",
            package.name
        ),
        [only] => Ok(only.to_string()),
        several => package
            .default_run
            .clone()
            .or_else(|| {
                several
                    .iter()
                    .find(|b| b.replace('-', "_") == package.name.replace('-', "_"))
                    .map(|b| b.to_string())
            })
            .with_context(|| {
                format!(
                    "package `{}` has several binaries; choose one with --bin: {}",
                    package.name,
                    list(several)
                )
            }),
    }
}

fn bins(package: &Package) -> Vec<&str> {
    package
        .targets
        .iter()
        .filter(|t| t.is_kind(TargetKind::Bin))
        .map(|t| t.name.as_str())
        .collect()
}

fn names(packages: &[&Package]) -> String {
    list(&packages.iter().map(|p| p.name.as_str()).collect::<Vec<_>>())
}

fn list(items: &[&str]) -> String {
    items.join(", ")
}

/// The directories of the local packages (no registry or git source) that
/// `root` depends on, through normal and build dependencies, itself first.
fn local_sources(metadata: &Metadata, root: &PackageId) -> Vec<PathBuf> {
    let Some(resolve) = &metadata.resolve else {
        return Vec::new();
    };
    let mut seen = vec![root.clone()];
    let mut next = 0;
    while next < seen.len() {
        let id = seen[next].clone();
        next += 1;
        let Some(node) = resolve.nodes.iter().find(|n| n.id == id) else {
            continue;
        };
        for dep in &node.deps {
            let local = metadata
                .packages
                .iter()
                .any(|p| p.id == dep.pkg && p.source.is_none());
            let runs = dep
                .dep_kinds
                .iter()
                .any(|k| !matches!(k.kind, cargo_metadata::DependencyKind::Development));
            if local && runs && !seen.contains(&dep.pkg) {
                seen.push(dep.pkg.clone());
            }
        }
    }
    seen.iter()
        .filter_map(|id| metadata.packages.iter().find(|p| &p.id == id))
        .filter_map(|p| p.manifest_path.parent().map(|d| d.as_std_path().to_path_buf()))
        .collect()
}
