//! The book is tested: its tutorial path runs, command by command, against
//! the real `rg`, and its reference chapter is what the code says.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{Running, e2e_target, free_port, workspace};

/// The chapters, in the order of SUMMARY.md.
fn chapters() -> Vec<PathBuf> {
    let src = workspace().join("book/src");
    let summary = std::fs::read_to_string(src.join("SUMMARY.md")).unwrap();
    summary
        .lines()
        .filter_map(|l| {
            l.split_once("](")
                .map(|(_, rest)| rest.trim_end_matches(')').to_string())
        })
        .map(|file| src.join(file))
        .collect()
}

/// The lines of every ```sh,tutorial block, in reading order.
fn tutorial() -> Vec<String> {
    let mut lines = Vec::new();
    for chapter in chapters() {
        let text = std::fs::read_to_string(&chapter).unwrap();
        let mut inside = false;
        for line in text.lines() {
            if line.starts_with("```") {
                inside = !inside && line.trim() == "```sh,tutorial";
                continue;
            }
            if inside && !line.trim().is_empty() {
                lines.push(line.to_string());
            }
        }
    }
    lines
}

const KEEPS_RUNNING: &str = "# keeps running";

/// Runs the tutorial as a reader would type it: in a fresh directory, `rg`
/// on the PATH, servers left running in the background (the reader's second
/// terminal), `curl` retried while a server is still building. Ports are
/// moved off 8000/8080 so the test cannot collide with anything.
#[test]
fn the_tutorial_runs_as_written() {
    crate::tools::require("nginx");
    crate::tools::require("curl");
    let lines = tutorial();
    assert!(lines.len() >= 8, "the tutorial path is missing: {lines:?}");
    let home = tempfile::tempdir().unwrap();
    std::fs::set_permissions(home.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let (app_port, front_port) = (free_port(), free_port());
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_rg"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let nginx_dir = home.path().join("nginx");
    let mut cwd = home.path().to_path_buf();
    let mut background: Vec<(String, Running)> = Vec::new();

    for original in &lines {
        let mut line = original
            .replace("127.0.0.1:8000", &format!("127.0.0.1:{app_port}"))
            .replace("127.0.0.1:8080", &format!("127.0.0.1:{front_port}"))
            .replace("/tmp/mysite-nginx", nginx_dir.to_str().unwrap());
        let keeps_running = line.contains(KEEPS_RUNNING);
        if let Some((command, _)) = line.split_once(KEEPS_RUNNING) {
            line = command.trim().to_string();
        }
        if line.trim() == "rg runserver" {
            line = format!("rg runserver {app_port}");
        }
        if let Some(dir) = line.strip_prefix("cd ") {
            cwd = cwd.join(dir.trim());
            continue;
        }
        if let Some(rest) = line.strip_prefix("curl ") {
            // Fail on an HTTP error, as a reader reading the page would.
            line = format!("curl -fsS {rest}");
        }
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(&line)
            .current_dir(&cwd)
            .env("PATH", &path)
            // rg serve's default bind, moved off 8000 like the rest.
            .env("RG_BIND", format!("127.0.0.1:{app_port}"))
            // Only to share compiled dependencies with the rest of the suite.
            .env("CARGO_TARGET_DIR", e2e_target());
        if keeps_running {
            // A reader stops the previous rg server (Ctrl-C) before starting
            // the next one on the same port; nginx runs beside rg.
            if line.starts_with("rg ") {
                background.retain(|(started, _)| !started.starts_with("rg "));
            }
            background.push((line.clone(), Running::spawn(&mut cmd)));
            continue;
        }
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let out = cmd.output().unwrap();
            if out.status.success() {
                if line.starts_with("curl") {
                    let body = String::from_utf8_lossy(&out.stdout);
                    assert_eq!(body, "Hello, world!\n", "`{original}`");
                }
                break;
            }
            let said = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let servers: String = background
                .iter()
                .map(|(started, s)| format!("`{started}`:\n{}{}\n", s.stdout(), s.stderr()))
                .collect();
            if !line.starts_with("curl") || Instant::now() > deadline {
                panic!("the book's command `{original}` failed:\n{said}\nservers said:\n{servers}");
            }
            assert!(
                background
                    .iter_mut()
                    .all(|(_, s)| s.wait_timeout(Duration::ZERO).is_none()),
                "a server died:\n{servers}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        if line.starts_with("rg new ") {
            // Pin the dependency versions the suite already built.
            let project = cwd.join(line.split_whitespace().nth(2).unwrap());
            std::fs::copy(workspace().join("Cargo.lock"), project.join("Cargo.lock")).unwrap();
        }
    }
}

#[test]
fn the_reference_chapter_is_what_the_code_says() {
    let out = crate::support::rg().arg("reference").output().unwrap();
    assert!(out.status.success());
    let generated = String::from_utf8(out.stdout).unwrap();
    let path = workspace().join("book/src/reference.md");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "book/src/reference.md is out of date: run `cargo run -q -p rg-cli -- reference > book/src/reference.md`"
    );
}
