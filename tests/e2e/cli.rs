//! The `rg` command line itself.

use crate::support::rg;

#[test]
fn help_lists_the_commands_and_version_prints() {
    let out = rg().arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("new"), "{help}");

    let out = rg().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("rg {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn a_wrong_flag_is_an_error_with_usage() {
    let out = rg().args(["new", "--frobnicate", "x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--frobnicate"), "{err}");
    assert!(err.contains("Usage"), "{err}");
}

/// ripgrep keeps working: with this `rg` first on PATH and ripgrep (here a
/// stand-in) further on, a search is ripgrep's and our commands are ours.
#[test]
fn ripgrep_command_lines_go_to_ripgrep() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let ours = tmp.path().join("cargo-bin");
    let theirs = tmp.path().join("usr-bin");
    std::fs::create_dir(&ours).unwrap();
    std::fs::create_dir(&theirs).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_rg"), ours.join("rg")).unwrap();
    let ripgrep = theirs.join("rg");
    std::fs::write(&ripgrep, "#!/bin/sh\necho \"ripgrep searched: $*\"\n").unwrap();
    std::fs::set_permissions(&ripgrep, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}:/usr/bin:/bin", ours.display(), theirs.display());
    let run = |args: &[&str]| {
        std::process::Command::new("rg")
            .args(args)
            .env("PATH", &path)
            .current_dir(tmp.path())
            .output()
            .unwrap()
    };
    let out = run(&["-i", "needle", "src/"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ripgrep searched: -i needle src/\n"
    );
    let out = run(&["new", "--help"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Create a new rg project"));
    // A typo of ours is ours to explain.
    let out = run(&["runsever"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("runserver"));

    // Without ripgrep anywhere, a search says what this rg is.
    std::fs::remove_file(&ripgrep).unwrap();
    let out = run(&["needle"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("If you meant ripgrep"), "{err}");
}
