//! A cargo workspace: two binary packages made by `rg new` and a library
//! one of them uses. `-p`/`--bin` pick, an ambiguous choice lists the
//! candidates, a member's directory picks itself, and a save in the
//! library rebuilds the binary that uses it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::{
    Addr, Running, Serve, e2e_target, eventually, free_port, get, project_dir, rg, rg_in, workspace,
};

/// A fresh workspace `name`: members `site` (using `greeting`), `admin`,
/// and the library `greeting`.
fn make_workspace(name: &str) -> PathBuf {
    let root = project_dir(name);
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(
        root.join("Cargo.toml"),
        "[workspace]\nresolver = \"3\"\nmembers = [\"site\", \"admin\", \"greeting\"]\n",
    )
    .unwrap();
    std::fs::copy(workspace().join("Cargo.lock"), root.join("Cargo.lock")).unwrap();
    for member in ["site", "admin"] {
        let out = rg_in(&root, &["new", member]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        // Profiles belong to the workspace's root manifest.
        let manifest = root.join(member).join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        let text = text.split("[profile.release]").next().unwrap().to_string();
        std::fs::write(&manifest, text).unwrap();
    }
    std::fs::create_dir_all(root.join("greeting/src")).unwrap();
    std::fs::write(
        root.join("greeting/Cargo.toml"),
        "[package]\nname = \"greeting\"\nversion = \"0.1.0\"\nedition = \"2024\"\n",
    )
    .unwrap();
    set_greeting(&root, "Hello from the library");
    let manifest = root.join("site/Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        format!("{text}greeting = {{ path = \"../greeting\" }}\n"),
    )
    .unwrap();
    std::fs::write(
        root.join("site/src/application.rs"),
        "use rg::{IntoResponse, Request};\n\n\
         pub async fn application(_request: Request) -> impl IntoResponse {\n    \
         format!(\"{}\\n\", greeting::greeting())\n}\n",
    )
    .unwrap();
    root
}

fn set_greeting(root: &Path, text: &str) {
    std::fs::write(
        root.join("greeting/src/lib.rs"),
        format!("pub fn greeting() -> &'static str {{\n    \"{text}\"\n}}\n"),
    )
    .unwrap();
}

fn runserver(dir: &Path, port: u16, args: &[&str]) -> Running {
    let mut cmd = rg();
    cmd.arg("runserver")
        .args(args)
        .arg(port.to_string())
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", e2e_target());
    Running::spawn(&mut cmd)
}

#[test]
fn runserver_picks_a_package_and_rebuilds_on_a_library_save() {
    let root = make_workspace("ws_dev");

    // At the root, two packages have a binary: rg asks which.
    let out = rg()
        .args(["runserver", "--noreload", &free_port().to_string()])
        .current_dir(&root)
        .env("CARGO_TARGET_DIR", e2e_target())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("choose one with --package: admin, site"), "{err}");

    let port = free_port();
    let server = runserver(&root, port, &["-p", "site"]);
    assert!(
        server.wait_for_output("Application ready", Duration::from_secs(300)),
        "{}{}",
        server.stdout(),
        server.stderr()
    );
    let addr = Addr::tcp(port);
    assert_eq!(get(&addr, "/").unwrap().body, "Hello from the library\n");
    set_greeting(&root, "Hello after a library save");
    assert!(
        eventually(Duration::from_secs(120), || get(&addr, "/")
            .is_ok_and(|r| r.body == "Hello after a library save\n")),
        "{}{}",
        server.stdout(),
        server.stderr()
    );
    assert!(
        server.stdout().contains("greeting/src/lib.rs changed"),
        "{}",
        server.stdout()
    );
    drop(server);

    // In a member's directory, that member is the project.
    let port = free_port();
    let server = runserver(&root.join("admin"), port, &[]);
    assert!(
        server.wait_for_output("Application ready", Duration::from_secs(300)),
        "{}{}",
        server.stdout(),
        server.stderr()
    );
    assert!(server.stdout().contains("project `admin`"), "{}", server.stdout());
    assert_eq!(get(&Addr::tcp(port), "/").unwrap().body, "Hello, world!\n");
}

#[test]
fn serve_builds_the_package_and_binary_asked_for() {
    let root = make_workspace("ws_serve");
    let out = rg()
        .args(["serve", "--package", "site", "--bin", "nope"])
        .current_dir(&root)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("package `site` has no binary `nope`; its binaries: site"),
        "{err}"
    );

    let master = Serve::project()
        .current_dir(&root)
        .args(["--package", "site", "-w", "1"])
        .env("CARGO_TARGET_DIR", e2e_target())
        .boot_timeout(Duration::from_secs(300))
        .start();
    assert_eq!(get(&master.addr(), "/").unwrap().body, "Hello from the library\n");
    assert!(master.stderr().contains("release/site"), "{}", master.stderr());
}
