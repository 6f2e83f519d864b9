//! `rg new`: scaffold a project that builds and says "Hello, world!" on the
//! first try, as `django-admin startproject` and `cargo new` do.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use crate::scaffold::{names, runtime, templates};

/// Create a new rg project: the application, its main, rg.toml, a README.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The project's name: a Cargo package name (letters, digits, `-`, `_`).
    name: String,

    /// Where to create it [default: ./NAME]. It may exist if it is empty.
    directory: Option<PathBuf>,

    /// Depend on the rg runtime at PATH, e.g. a checkout's `runtime/`, instead of vendoring the copy rg carries into `vendor/`
    #[arg(long, env = "RG_RUNTIME_PATH", value_name = "PATH")]
    runtime_path: Option<PathBuf>,
}

/// Validates everything first, then writes; if writing fails half way, what
/// was written is removed again, so a failed `rg new` leaves nothing behind.
pub fn run(args: Args) -> Result<ExitCode> {
    if let Err(reason) = names::validate(&args.name) {
        bail!("invalid project name: {reason}");
    }
    let dir = args
        .directory
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    let created_dir = check_target(&dir)?;
    let dependency = match args.runtime_path.as_deref() {
        None => runtime::dependency_line(),
        Some(path) => format!(
            "rg = {{ package = \"rg-runtime\", path = {} }}",
            toml::Value::String(runtime_path(path)?.display().to_string())
        ),
    };
    let files = templates::project(&templates::Values {
        name: &args.name,
        runtime_dependency: &dependency,
    });

    let written = write_all(&dir, &files).and_then(|()| match &args.runtime_path {
        None => runtime::vendor(&dir),
        Some(_) => Ok(()),
    });
    if let Err(e) = written {
        if created_dir {
            let _ = fs::remove_dir_all(&dir);
        } else {
            for file in &files {
                let _ = fs::remove_file(dir.join(&file.path));
            }
            for (name, _) in runtime::CRATES {
                let _ = fs::remove_dir_all(dir.join(runtime::VENDOR).join(name));
            }
            let _ = fs::remove_dir(dir.join(runtime::VENDOR));
        }
        return Err(e);
    }

    let green = console::Style::new().green().bold();
    let shown = dir.display().to_string();
    println!(
        "{:>12} project `{}` in {}",
        green.apply_to("Created"),
        args.name,
        shown
    );
    for file in &files {
        println!("{:>12} {}", "", Path::new(&shown).join(&file.path).display());
    }
    if args.runtime_path.is_none() {
        let vendor = Path::new(&shown).join(runtime::VENDOR);
        println!(
            "{:>12} {}/ (the rg runtime {}, so the project builds wherever it is cloned)",
            "",
            vendor.display(),
            runtime::VERSION
        );
    }
    println!();
    println!("Next, start the development server on http://127.0.0.1:8000/ with:");
    println!();
    println!("    cd {shown}");
    println!("    rg runserver");
    Ok(ExitCode::SUCCESS)
}

/// Refuses a directory that exists and has anything in it; returns whether
/// the directory still has to be created.
fn check_target(dir: &Path) -> Result<bool> {
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!(
                    "destination `{}` already exists and is not empty; nothing was written",
                    dir.display()
                );
            }
            Ok(false)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            bail!("destination `{}` is a file, not a directory", dir.display())
        }
        Err(e) => Err(e).with_context(|| format!("failed to read `{}`", dir.display())),
    }
}

/// The runtime crate's directory given with `--runtime-path`, checked to
/// be the runtime.
fn runtime_path(path: &Path) -> Result<PathBuf> {
    let hint =
        "pass --runtime-path PATH (or set RG_RUNTIME_PATH) to the `runtime` directory of an rg source tree";
    let canonical = fs::canonicalize(path)
        .with_context(|| format!("the rg runtime was not found at `{}`; {hint}", path.display()))?;
    let manifest = canonical.join("Cargo.toml");
    let text = fs::read_to_string(&manifest).with_context(|| {
        format!(
            "`{}` is not the rg runtime (no Cargo.toml); {hint}",
            canonical.display()
        )
    })?;
    if !text.contains("name = \"rg-runtime\"") {
        bail!(
            "`{}` is not the rg runtime (its Cargo.toml is not package rg-runtime); {hint}",
            manifest.display()
        );
    }
    Ok(canonical)
}

fn write_all(dir: &Path, files: &[templates::File]) -> Result<()> {
    for file in files {
        let path = dir.join(&file.path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).with_context(|| format!("failed to create `{}`", parent.display()))?;
        }
        fs::write(&path, &file.contents).with_context(|| format!("failed to write `{}`", path.display()))?;
    }
    Ok(())
}
