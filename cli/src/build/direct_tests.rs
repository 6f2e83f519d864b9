//! Tests of `direct.rs`: what counts as the crate's own, the dep-info kept, and old records swept.

use super::*;

fn recorded(cwd: &Path, manifest_dir: &Path) -> Recorded {
    Recorded {
        cwd: cwd.to_path_buf(),
        rustc: "rustc".into(),
        args: [
            "--crate-name",
            "site",
            "--edition=2024",
            "src/main.rs",
            "--crate-type",
            "bin",
        ]
        .into_iter()
        .chain(["-C", "extra-filename=-0a1b", "--out-dir", "target/debug/deps"])
        .map(String::from)
        .collect(),
        env: vec![("CARGO_MANIFEST_DIR".into(), manifest_dir.display().to_string())],
    }
}

#[test]
fn covers_the_crates_own_sources_only() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let r = recorded(root, root);
    assert_eq!(r.output().unwrap(), root.join("target/debug/deps/site-0a1b"));
    std::fs::create_dir_all(root.join("target/debug/deps")).unwrap();
    std::fs::write(
        root.join("target/debug/deps/site-0a1b.d"),
        "target/debug/deps/site-0a1b: src/main.rs src/../page.html\n",
    )
    .unwrap();
    let own = [
        root.join("src/main.rs"),
        root.join("page.html"),
        root.join("src/new_module.rs"),
    ];
    assert!(r.covers(&own));
    for other in [
        "Cargo.toml",
        "Cargo.lock",
        "build.rs",
        "vendor/rg-runtime/src/lib.rs",
    ] {
        assert!(
            !r.covers(&[root.join("src/main.rs"), root.join(other)]),
            "{other}"
        );
    }

    // Cargo's dep-info beside the binary keeps its files and gains rustc's.
    let exe = root.join("target/debug/site");
    let lib = root.join("vendor/rg-runtime/src/lib.rs");
    std::fs::write(
        root.join("target/debug/site.d"),
        format!("{}: {}\n", exe.display(), lib.display()),
    )
    .unwrap();
    r.add_inputs(&root.join("target/debug/deps/site-0a1b"), &exe)
        .unwrap();
    let mut files: Vec<_> = Inputs::of(&exe).unwrap().files().cloned().collect();
    files.sort();
    assert_eq!(files, [root.join("page.html"), root.join("src/main.rs"), lib]);
}

#[test]
fn a_record_reads_back_as_it_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = recorded(Path::new("/p"), Path::new("/p"));
    r.env.push(("CARGO_BIN_NAME".into(), "site".into()));
    r.save(dir.path()).unwrap();
    assert_eq!(Recorded::load(dir.path(), "site"), Some(r));
    assert_eq!(Recorded::load(dir.path(), "other"), None);
}

#[test]
fn records_of_a_runserver_that_is_gone_are_removed() {
    let temp = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    // Killed and not yet waited for: a zombie, which kill(2) still finds.
    let mut zombie = std::process::Command::new("true").spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let names = [
        format!("rg-rustc-{dead}-Ab12Cd"),
        format!("rg-rustc-{}-Zz99Zz", zombie.id()),
        format!("rg-rustc-{}-Ef34Gh", std::process::id()),
        "rg-rustc-0nlyOld".to_string(),
    ];
    for name in &names {
        std::fs::create_dir(temp.path().join(name)).unwrap();
        std::fs::write(temp.path().join(name).join("site.json"), "{}").unwrap();
    }
    sweep(temp.path());
    zombie.wait().unwrap();
    let left: Vec<bool> = names.iter().map(|n| temp.path().join(n).exists()).collect();
    assert_eq!(left, [false, false, true, true]);
}
