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
