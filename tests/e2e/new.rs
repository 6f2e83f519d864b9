//! `rg new`: the tree it writes, the names it refuses, the directories it
//! will not touch.

use std::collections::BTreeSet;
use std::path::Path;

use crate::support::{rg, rg_in};

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
    let out = rg()
        .args(["new", "mysite"])
        .current_dir(tmp.path())
        .env_remove("RG_RUNTIME_PATH")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dir = tmp.path().join("mysite");
    let files = tree(&dir);
    let (vendored, own): (BTreeSet<String>, BTreeSet<String>) =
        files.into_iter().partition(|f| f.starts_with("vendor/"));
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
    assert_eq!(own, expected);
    // The runtime's crates, their sources without their test files.
    for krate in ["rg-runtime", "rg-internal", "rg-dylib", "rg-contract"] {
        for file in ["Cargo.toml", "src/lib.rs"] {
            let path = format!("vendor/{krate}/{file}");
            assert!(vendored.contains(&path), "{path} is missing");
        }
    }
    assert!(!vendored.iter().any(|f| f.ends_with("_tests.rs")), "{vendored:?}");

    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("name = \"mysite\""), "{manifest}");
    let version = env!("CARGO_PKG_VERSION");
    let line =
        format!("rg = {{ package = \"rg-runtime\", version = \"{version}\", path = \"vendor/rg-runtime\" }}");
    assert!(manifest.lines().any(|l| l == line), "no `{line}` in\n{manifest}");
    let main = std::fs::read_to_string(dir.join("src/main.rs")).unwrap();
    assert!(main.contains("rg::run(application::application)"), "{main}");
    // mimalloc, through the runtime: no dependency of its own to keep.
    assert!(
        main.contains("#[global_allocator]\nstatic ALLOCATOR: rg::Allocator = rg::Allocator;"),
        "{main}"
    );

    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Created"), "{stdout}");
    assert!(stdout.contains("mysite/src/application.rs"), "{stdout}");
    assert!(stdout.contains("mysite/vendor/ (the rg runtime"), "{stdout}");
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
