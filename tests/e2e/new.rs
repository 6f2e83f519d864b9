//! `rg new`: the tree it writes, the names it refuses, the directories it
//! will not touch.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use crate::support::{e2e_target, rg_in, workspace};

fn tree(dir: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

#[test]
fn writes_the_project_and_says_what_next() {
    let tmp = tempfile::tempdir().unwrap();
    let out = rg_in(tmp.path(), &["new", "mysite"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dir = tmp.path().join("mysite");
    let expected: BTreeSet<String> = [
        ".gitignore",
        "Cargo.toml",
        "README.md",
        "deploy/mysite.service",
        "deploy/mysite.socket",
        "deploy/nginx.conf",
        "deploy/supervisor.conf",
        "rg.toml",
        "src/application.rs",
        "src/main.rs",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(tree(&dir), expected);

    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("name = \"mysite\""), "{manifest}");
    // The runtime rg carries, written to the user's data directory.
    let line = manifest
        .lines()
        .find(|l| l.starts_with("rg = { package = \"rg-runtime\", path = \""))
        .unwrap_or_else(|| panic!("no rg dependency by path:\n{manifest}"));
    let path = line.split('"').nth(3).unwrap();
    assert!(
        path.contains(&format!("/rg/runtime-{}-", env!("CARGO_PKG_VERSION"))),
        "{path}"
    );
    assert!(Path::new(path).join("src/lib.rs").is_file(), "{path}");
    let main = std::fs::read_to_string(dir.join("src/main.rs")).unwrap();
    assert!(main.contains("rg::run(application::application)"), "{main}");
    // mimalloc, through the runtime: no dependency of its own to keep.
    assert!(
        main.contains("#[global_allocator]\nstatic ALLOCATOR: rg::MiMalloc = rg::MiMalloc;"),
        "{main}"
    );

    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Created"), "{stdout}");
    assert!(stdout.contains("mysite/src/application.rs"), "{stdout}");
    assert!(stdout.contains("cd mysite"), "{stdout}");
    assert!(stdout.contains("rg runserver"), "{stdout}");
}

#[test]
fn writes_into_a_named_or_empty_directory() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("empty")).unwrap();
    let out = rg_in(tmp.path(), &["new", "blog", "empty"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let manifest = std::fs::read_to_string(tmp.path().join("empty/Cargo.toml")).unwrap();
    assert!(manifest.contains("name = \"blog\""));
}

#[test]
fn refuses_names_that_are_not_crate_names() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, reason) in [
        ("9lives", "starts with a digit"),
        ("has space", "contains a space"),
        ("fn", "Rust keyword"),
        ("my.site", "the character '.'"),
        ("test", "reserved"),
    ] {
        let out = rg_in(tmp.path(), &["new", name]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("invalid project name"), "{name}: {err}");
        assert!(err.contains(reason), "{name}: {err}");
    }
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "something was written"
    );
}

#[test]
fn leaves_a_non_empty_directory_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("taken");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("Cargo.toml"), "mine").unwrap();
    let out = rg_in(tmp.path(), &["new", "taken"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already exists and is not empty"), "{err}");
    assert_eq!(tree(&dir), BTreeSet::from(["Cargo.toml".to_string()]));
    assert_eq!(std::fs::read_to_string(dir.join("Cargo.toml")).unwrap(), "mine");
}

#[test]
fn a_missing_runtime_is_reported_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let out = rg_in(
        tmp.path(),
        &["new", "site", "--runtime-path", "/nonexistent/rg/runtime"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the rg runtime was not found at `/nonexistent/rg/runtime`"),
        "{err}"
    );
    assert!(!tmp.path().join("site").exists());
}

/// rg.toml is the gunicorn.conf.py of a project: it must list every setting
/// `rg serve` has, commented, with the default `rg serve --print-config`
/// reports when nothing is configured.
#[test]
fn rg_toml_lists_every_setting_with_its_default() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(rg_in(tmp.path(), &["new", "conf"]).status.success());
    let text = std::fs::read_to_string(tmp.path().join("conf/rg.toml")).unwrap();
    let empty = tempfile::tempdir().unwrap();
    let out = rg_in(empty.path(), &["serve", "--print-config"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let defaults = String::from_utf8_lossy(&out.stdout);
    let mut checked = 0;
    for line in defaults
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains(" = "))
    {
        let (assignment, comment) = line.split_once(" # ").unwrap();
        assert!(comment.starts_with("default"), "{line}");
        let (key, value) = assignment.trim().split_once(" = ").unwrap();
        // Counts are shown evaluated, with the expression after the origin.
        let value = match comment.strip_prefix("default = ") {
            Some(expr) => format!("{expr:?}"),
            None => value.to_string(),
        };
        let expected = format!("# {key} = {value}");
        assert!(
            text.lines().any(|l| l == expected),
            "rg.toml should have the line `{expected}`:\n{text}"
        );
        checked += 1;
    }
    assert!(checked >= 18, "only {checked} settings printed");
}

/// One schema, four faces: every setting `rg serve --print-config` knows is
/// a flag of `rg serve --help` showing the same default, a row of the
/// reference chapter, and a commented line of the generated rg.toml.
#[test]
fn every_setting_agrees_in_help_reference_and_rg_toml() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(rg_in(tmp.path(), &["new", "agree"]).status.success());
    let rg_toml = std::fs::read_to_string(tmp.path().join("agree/rg.toml")).unwrap();
    let empty = tempfile::tempdir().unwrap();
    let text = |args: &[&str]| {
        let out = rg_in(empty.path(), args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let printed = text(&["serve", "--print-config"]);
    let help = text(&["serve", "--help"])
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let reference = text(&["reference"]);
    let keys: Vec<&str> = printed
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains(" = "))
        .map(|l| l.split(" = ").next().unwrap().trim())
        .collect();
    assert!(keys.len() >= 20, "{printed}");
    for key in keys {
        let row = reference
            .lines()
            .find(|l| l.starts_with(&format!("| `{key}` |")))
            .unwrap_or_else(|| panic!("no reference row for {key}"));
        let cells: Vec<&str> = row.split(" | ").collect();
        let flag = cells[1].trim_matches('`');
        assert!(
            help.contains(&format!("{flag} <")),
            "`rg serve --help` lacks {flag}"
        );
        let default = cells[3].trim_matches('`');
        if default != "(none)" {
            assert!(
                help.contains(&format!("[default: {default}]")),
                "`rg serve --help` lacks the default {default} of {flag}"
            );
        }
        assert!(
            rg_toml.lines().any(|l| l.starts_with(&format!("# {key} = "))),
            "rg.toml lacks {key}"
        );
    }
}

/// A generated project lives on its own: `rg` carries the runtime's
/// sources, so a copy of the binary far from this source tree makes a
/// project that refers to nothing here, and it builds.
#[test]
fn a_project_builds_without_the_rg_source_it_came_from() {
    let tmp = tempfile::tempdir().unwrap();
    let alone = tmp.path().join("bin/rg");
    std::fs::create_dir_all(alone.parent().unwrap()).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_rg"), &alone).unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let out = Command::new(&alone)
        .args(["new", "island"])
        .current_dir(tmp.path())
        .env("HOME", &home)
        .env_remove("XDG_DATA_HOME")
        .env_remove("RG_RUNTIME_PATH")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let project = tmp.path().join("island");
    let source = workspace().display().to_string();
    for file in tree(&project) {
        let text = std::fs::read_to_string(project.join(&file)).unwrap_or_default();
        assert!(
            !text.contains(&source),
            "{file} refers to the rg source tree:\n{text}"
        );
    }
    let manifest = std::fs::read_to_string(project.join("Cargo.toml")).unwrap();
    assert!(manifest.contains(&home.display().to_string()), "{manifest}");
    // Same dependency versions as the suite, built in its target directory.
    std::fs::copy(workspace().join("Cargo.lock"), project.join("Cargo.lock")).unwrap();
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--quiet"])
        .current_dir(&project)
        .env("CARGO_TARGET_DIR", e2e_target())
        .status()
        .unwrap();
    assert!(status.success(), "the project did not build on its own");
}
