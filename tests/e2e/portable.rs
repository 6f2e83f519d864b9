//! A project leaves home: committed, cloned under a fresh `HOME` with
//! nothing of rg's data, it builds with plain cargo and serves; and a newer
//! rg says so, upgrades its vendored runtime, and never ignores a setting.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::support::{
    Addr, BOOT, Master, Running, Serve, e2e_target, free_port, get, next_rg, project_dir, rg,
    wait_until_serving, workspace,
};

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The toolchain's own directories: a fresh `HOME` keeps using them, as a
/// CI runner's cargo does, and nothing else of this machine's user.
fn toolchain_homes() -> [(&'static str, PathBuf); 2] {
    let home = PathBuf::from(std::env::var_os("HOME").unwrap());
    let var =
        |name: &str, default: &str| std::env::var_os(name).map_or_else(|| home.join(default), PathBuf::from);
    [
        ("CARGO_HOME", var("CARGO_HOME", ".cargo")),
        ("RUSTUP_HOME", var("RUSTUP_HOME", ".rustup")),
    ]
}

/// `cmd` as on a machine where rg never ran: `HOME` is `home`, no rg data
/// directory, no rg source tree to point at.
fn elsewhere<'c>(cmd: &'c mut Command, home: &Path) -> &'c mut Command {
    cmd.env("HOME", home)
        .env_remove("XDG_DATA_HOME")
        .env_remove("RG_RUNTIME_PATH")
        .env("CARGO_TARGET_DIR", e2e_target());
    for (var, dir) in toolchain_homes() {
        cmd.env(var, dir);
    }
    cmd
}

fn git(dir: &Path, args: &[&str]) {
    run(Command::new("git")
        .args(["-c", "user.name=rg tests", "-c", "user.email=tests@localhost"])
        .args(args)
        .current_dir(dir));
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|n| n == ".git") {
            continue;
        }
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn a_cloned_project_builds_and_serves_under_a_fresh_home() {
    let tmp = tempfile::tempdir().unwrap();
    let maker = tmp.path().join("maker");
    std::fs::create_dir(&maker).unwrap();
    run(elsewhere(
        rg().args(["new", "island"]).current_dir(tmp.path()),
        &maker,
    ));
    let made = tmp.path().join("island");
    // As a user commits it after the first build: with its lock file.
    std::fs::copy(workspace().join("Cargo.lock"), made.join("Cargo.lock")).unwrap();
    git(&made, &["init", "-q"]);
    git(&made, &["add", "-A"]);
    git(&made, &["commit", "-q", "-m", "rg new island"]);

    let away = tmp.path().join("away");
    std::fs::create_dir(&away).unwrap();
    git(&away, &["clone", "-q", made.to_str().unwrap(), "island"]);
    std::fs::remove_dir_all(&made).unwrap();
    let clone = away.join("island");
    let home = tmp.path().join("fresh-home");
    std::fs::create_dir(&home).unwrap();
    let source = workspace().display().to_string();
    for file in files(&clone) {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for outside in [source.as_str(), maker.to_str().unwrap()] {
            assert!(
                !text.contains(outside),
                "{} refers to `{outside}`",
                file.display()
            );
        }
    }

    run(elsewhere(
        cargo()
            .args(["build", "--release", "--quiet"])
            .current_dir(&clone),
        &home,
    ));
    let port = free_port();
    let mut binary = Command::new(e2e_target().join("release/island"));
    binary.env("RG_BIND", format!("127.0.0.1:{port}"));
    let alone = Running::spawn(elsewhere(&mut binary, &home));
    let answer = wait_until_serving(&Addr::tcp(port), BOOT);
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, "Hello, world!\n"),
        "{}",
        alone.stderr()
    );
    drop(alone);

    let master = Serve::project()
        .current_dir(&clone)
        .args(["-w", "1"])
        .command({
            let home = home.clone();
            move |cmd| {
                elsewhere(cmd, &home);
            }
        })
        .boot_timeout(Duration::from_secs(300))
        .start();
    assert_eq!(get(&master.addr(), "/").unwrap().body, "Hello, world!\n");
    drop(master);

    let port = free_port();
    let mut runserver = rg();
    runserver
        .args(["runserver", &port.to_string()])
        .current_dir(&clone);
    let dev = Running::spawn(elsewhere(&mut runserver, &home));
    assert!(
        dev.wait_for_output("Application ready", Duration::from_secs(300)),
        "{}{}",
        dev.stdout(),
        dev.stderr()
    );
    assert_eq!(get(&Addr::tcp(port), "/").unwrap().body, "Hello, world!\n");
    let home_entries = std::fs::read_dir(&home).unwrap().count();
    assert_eq!(home_entries, 0, "rg wrote into the fresh HOME");
}

fn build(dir: &Path) -> PathBuf {
    run(cargo()
        .args(["build", "--quiet"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", e2e_target()));
    e2e_target().join("debug").join(dir.file_name().unwrap())
}

/// `rg serve BINARY FLAGS` with one worker, run by the `rg` at `rg`.
fn serve(rg: &Path, binary: &Path, flags: &[&str]) -> Master {
    Serve::new(binary)
        .rg(rg)
        .args(["-w", "1", "--control-socket", ""])
        .args(flags)
        .spawn()
}

fn check_config(rg: &Path, dir: &Path) -> String {
    let out = run(Command::new(rg)
        .args(["serve", "--check-config"])
        .current_dir(dir));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_newer_rg_says_so_upgrades_the_runtime_and_never_ignores_a_setting() {
    let (next, version) = next_rg().clone();
    let dir = project_dir("stepping");
    let projects = dir.parent().unwrap();
    run(rg()
        .args(["new", "stepping"])
        .current_dir(projects)
        .env_remove("RG_RUNTIME_PATH"));
    std::fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    // The runtime this project carries predates `body_min_rate`, as one
    // made by an older rg would: its settings table does not list it.
    let table = dir.join("vendor/rg-contract/src/settings/table.rs");
    let text = std::fs::read_to_string(&table).unwrap();
    assert!(text.contains("    &BODY_MIN_RATE,\n"));
    std::fs::write(&table, text.replace("    &BODY_MIN_RATE,\n", "")).unwrap();
    let binary = build(&dir);

    let said = check_config(&next, &dir);
    let notice = format!(
        "this project's rg runtime is {VERSION}, older than this rg ({version}): run `rg upgrade` to bring it to {version}"
    );
    assert!(said.contains(&notice), "{said}");
    assert_eq!(said.lines().count(), 1, "one line: {said}");

    // Nothing set: the older runtime starts clean, without a word about
    // the settings it does not know.
    let master = serve(&next, &binary, &[]);
    let addr = master.addr();
    assert!(master.wait_for_output("Booted", BOOT), "{}", master.stderr());
    assert_eq!(get(&addr, "/").unwrap().status, 200);
    for word in ["warn", "WARN", "ignoring", "unknown"] {
        assert!(!master.stderr().contains(word), "{}", master.stderr());
    }
    drop(master);

    // Set, and unknown to it: the worker stops at start, naming both.
    let mut master = serve(&next, &binary, &["--body-min-rate", "100"]);
    let status = master.wait_timeout(BOOT).expect("rg serve kept running");
    assert_eq!(status.code(), Some(3), "{}", master.stderr());
    let err = master.stderr();
    assert!(err.contains("unknown setting RG_BODY_MIN_RATE"), "{err}");
    assert!(err.contains(&format!("rg-runtime {VERSION}")), "{err}");

    let keep = [
        "src/main.rs",
        "src/application.rs",
        "rg.toml",
        "README.md",
        "Cargo.lock",
    ];
    let before: Vec<Vec<u8>> = keep.iter().map(|f| std::fs::read(dir.join(f)).unwrap()).collect();
    let out = run(Command::new(&next).arg("upgrade").current_dir(&dir));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains(&format!("rg runtime {VERSION} -> {version}")),
        "{printed}"
    );
    let after: Vec<Vec<u8>> = keep.iter().map(|f| std::fs::read(dir.join(f)).unwrap()).collect();
    assert!(before == after, "rg upgrade touched the user's files");
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    let line =
        format!("rg = {{ package = \"rg-runtime\", version = \"{version}\", path = \"vendor/rg-runtime\" }}");
    assert!(manifest.lines().any(|l| l == line), "{manifest}");
    assert!(
        std::fs::read_to_string(&table)
            .unwrap()
            .contains("    &BODY_MIN_RATE,\n")
    );
    assert!(
        !check_config(&next, &dir).contains("note:"),
        "in step after the upgrade"
    );

    let binary = build(&dir);
    let master = serve(&next, &binary, &["--body-min-rate", "100"]);
    let addr = master.addr();
    assert!(master.wait_for_output("Booted", BOOT), "{}", master.stderr());
    assert_eq!(get(&addr, "/").unwrap().status, 200);
    drop(master);

    // And the other way: this rg, older than the project's runtime now.
    let said = check_config(Path::new(env!("CARGO_BIN_EXE_rg")), &dir);
    assert!(
        said.contains(&format!(
            "newer than this rg ({VERSION}): install rg {version} or later"
        )),
        "{said}"
    );
}
