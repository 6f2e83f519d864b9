//! The book is tested: its tutorial paths run, command by command, against
//! the real `rg`, and its reference chapter is what the code says.
//!
//! A path is the fenced blocks whose info string names it, in reading
//! order: `sh,tutorial` is the main one (from `rg new mysite` to nginx),
//! `sh,tutorial-guestbook` the database chapter's. A `sh` block is typed a
//! line at a time; a block with `file=PATH` is a file the reader writes,
//! saved when the path reaches it, with mdBook's `{{#include}}` resolved.
//! A comment closing a command says more: `# keeps running` (a server, left
//! running as in a second terminal) and `# expect: TEXT` (what it prints
//! must contain TEXT).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::postgres::Postgres;
use crate::support::{Running, e2e_target, eventually, free_port, group_alive, workspace};

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

/// One step of a tutorial path.
#[derive(Debug)]
enum Step {
    /// A line the reader types.
    Command(String),
    /// A file the reader writes: `path` (from the current directory) and
    /// its text, `{{#include}}` resolved.
    File { path: String, text: String },
}

/// A fenced block of a chapter, while it is being read.
struct Block {
    /// Whether its info string names the path (` ```sh,tutorial `).
    on_path: bool,
    /// The language, first in the info string.
    language: String,
    /// `file=PATH` in the info string: a file the reader writes.
    file: Option<String>,
    lines: Vec<String>,
}

/// The steps of the path named `tag`, in reading order: every fenced block
/// whose info string lists `tag` (` ```sh,tutorial `,
/// ` ```rust,ignore,tutorial-guestbook,file=src/application.rs `).
fn tutorial(tag: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    for chapter in chapters() {
        let text = std::fs::read_to_string(&chapter).unwrap();
        let mut block: Option<Block> = None;
        for line in text.lines() {
            if line.starts_with("```") {
                match block.take() {
                    None => {
                        let mut info = line.trim_start_matches('`').trim().split(',');
                        let language = info.next().unwrap_or_default().to_string();
                        let info: Vec<&str> = info.collect();
                        block = Some(Block {
                            on_path: info.contains(&tag),
                            language,
                            file: info
                                .iter()
                                .find_map(|attribute| attribute.strip_prefix("file="))
                                .map(str::to_string),
                            lines: Vec::new(),
                        });
                    }
                    Some(done) if done.on_path => steps.extend(done.steps(&chapter)),
                    Some(_) => {}
                }
                continue;
            }
            if let Some(block) = &mut block {
                block.lines.push(line.to_string());
            }
        }
    }
    steps
}

impl Block {
    fn steps(self, chapter: &Path) -> Vec<Step> {
        if let Some(path) = self.file {
            let dir = chapter.parent().unwrap();
            let text = self
                .lines
                .iter()
                .map(|line| match line.trim().strip_prefix("{{#include ") {
                    Some(spec) => include(dir, spec.trim_end_matches("}}").trim()),
                    None => format!("{line}\n"),
                })
                .collect();
            return vec![Step::File { path, text }];
        }
        assert_eq!(
            self.language,
            "sh",
            "{}: a tutorial block is commands (sh) or a file (file=PATH)",
            chapter.display()
        );
        self.lines
            .into_iter()
            .filter(|line| !line.trim().is_empty())
            .map(Step::Command)
            .collect()
    }
}

/// What mdBook's `{{#include FILE}}` (or `FILE:LINE`, `FILE:START:END`,
/// lines counted from 1, either end may be left out) puts in the chapter.
fn include(dir: &Path, spec: &str) -> String {
    let mut parts = spec.split(':');
    let file = dir.join(parts.next().unwrap());
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{{{{#include {spec}}}}}: {}: {e}", file.display()));
    let bound = |part: Option<&str>| -> Option<usize> {
        part.filter(|p| !p.is_empty()).map(|p| {
            p.parse()
                .unwrap_or_else(|_| panic!("{{{{#include {spec}}}}}: only line numbers are understood"))
        })
    };
    let rest: Vec<&str> = parts.collect();
    let (start, end) = match rest.as_slice() {
        [] => (None, None),
        [line] => (bound(Some(line)), bound(Some(line))),
        [start, end] => (bound(Some(start)), bound(Some(end))),
        _ => panic!("{{{{#include {spec}}}}}: too many parts"),
    };
    let start = start.unwrap_or(1).max(1);
    let end = end.unwrap_or(usize::MAX);
    text.lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line))
        .filter(|(number, _)| (start..=end).contains(number))
        .map(|(_, line)| format!("{line}\n"))
        .collect()
}

const KEEPS_RUNNING: &str = "# keeps running";
const EXPECT: &str = "# expect:";

/// Whether `line` starts an rg server (`rg runserver`, `rg serve`, but not
/// `rg serve --check-config`): a reader stops the one running first.
fn starts_a_server(line: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().map(|w| w.trim_end_matches(';')).collect();
    words
        .windows(2)
        .any(|w| w[0] == "rg" && (w[1] == "serve" || w[1] == "runserver"))
        && !line.contains("--check-config")
        && !line.contains("--print-config")
}

/// What a server printed, under the command that started it.
type Said = (String, String);

/// Stops a server as a reader does, with Ctrl-C (SIGINT to the terminal's
/// process group: the shell and the rg it started), waits for it to be
/// gone, and returns what it said.
fn interrupt((started, server): (String, Running)) -> Said {
    // SAFETY: kill(2) on the group Running::spawn made for this command.
    unsafe { libc::kill(-server.pid(), libc::SIGINT) };
    let stopped = eventually(Duration::from_secs(30), || !group_alive(server.pid()));
    let said = format!("{}{}", server.stdout(), server.stderr());
    assert!(stopped, "`{started}` did not stop on Ctrl-C:\n{said}");
    (started, said)
}

/// `postgres://USER:PASSWORD@HOST/DATABASE` in `line`, as its three names.
fn postgres_url(line: &str) -> Option<(String, String, String)> {
    let url = line.split("postgres://").nth(1)?.split_whitespace().next()?;
    let (login, rest) = url.split_once('@')?;
    let (user, password) = login.split_once(':')?;
    let database = rest.split_once('/')?.1.split('?').next()?;
    Some((user.into(), password.into(), database.into()))
}

/// Runs the path `tag` as a reader would type it: in a fresh directory,
/// `rg` on the PATH, servers left running in the background (the reader's
/// second terminal) and stopped with Ctrl-C when the next one starts,
/// `curl` retried while a server is still building, files written where the
/// book says. Ports are moved off 8000/8080 so the test cannot collide with
/// anything; a PostgreSQL URL on 127.0.0.1:5432 gets a real server of its
/// own, with the user and database the URL names. A `curl` must print
/// `every_curl_prints`, when given; a command with `# expect: TEXT` must
/// print TEXT. Returns what the servers said.
fn read_aloud(tag: &str, every_curl_prints: Option<&str>) -> Vec<Said> {
    let steps = tutorial(tag);
    assert!(
        steps.len() >= 8,
        "the tutorial path `{tag}` is missing: {steps:?}"
    );
    // Declared first, dropped last: the servers stop before the database,
    // and both before their directory goes.
    let home = tempfile::tempdir().unwrap();
    let mut postgres: Option<Postgres> = None;
    let mut background: Vec<(String, Running)> = Vec::new();
    let mut said: Vec<Said> = Vec::new();
    std::fs::set_permissions(home.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let (app_port, front_port) = (free_port(), free_port());
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_rg"))
        .parent()
        .unwrap()
        .to_path_buf();
    let search_path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let nginx_dir = home.path().join("nginx");
    let mut cwd = home.path().to_path_buf();

    for step in &steps {
        let (Step::Command(text) | Step::File { text, .. }) = step;
        if postgres.is_none() && text.contains("127.0.0.1:5432") {
            // The reader's PostgreSQL, with what the book told them to create.
            let server = Postgres::start();
            if let Some((user, password, database)) = postgres_url(text) {
                server.create_database(&user, &password, &database);
            }
            postgres = Some(server);
        }
        let localize = |text: &str| {
            let text = text
                .replace("127.0.0.1:8000", &format!("127.0.0.1:{app_port}"))
                .replace("127.0.0.1:8080", &format!("127.0.0.1:{front_port}"))
                .replace("/tmp/mysite-nginx", nginx_dir.to_str().unwrap());
            match &postgres {
                Some(server) => text.replace("127.0.0.1:5432", &format!("127.0.0.1:{}", server.port())),
                None => text,
            }
        };
        let original = match step {
            Step::Command(line) => line,
            Step::File { path, text } => {
                let file = cwd.join(path);
                std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                std::fs::write(&file, localize(text)).unwrap();
                continue;
            }
        };
        let mut parts = original.split(EXPECT);
        let mut line = localize(parts.next().unwrap().trim());
        let expected: Vec<&str> = parts.map(str::trim).collect();
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
        if starts_a_server(&line) {
            // A reader stops the previous rg server (Ctrl-C) before starting
            // the next one on the same port; nginx runs beside rg.
            let (servers, others) = std::mem::take(&mut background)
                .into_iter()
                .partition(|(started, _)| starts_a_server(started));
            background = others;
            said.extend(servers.into_iter().map(interrupt));
        }
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(&line)
            .current_dir(&cwd)
            .env("PATH", &search_path)
            // rg serve's default bind, moved off 8000 like the rest.
            .env("RG_BIND", format!("127.0.0.1:{app_port}"))
            // Only to share compiled dependencies with the rest of the suite.
            .env("CARGO_TARGET_DIR", e2e_target());
        if keeps_running {
            background.push((line.clone(), Running::spawn(&mut cmd)));
            continue;
        }
        let servers = |background: &[(String, Running)]| -> String {
            background
                .iter()
                .map(|(started, s)| format!("`{started}`:\n{}{}\n", s.stdout(), s.stderr()))
                .collect()
        };
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let out = cmd.output().unwrap();
            let printed = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            if out.status.success() {
                if let Some(body) = every_curl_prints.filter(|_| line.starts_with("curl")) {
                    assert_eq!(String::from_utf8_lossy(&out.stdout), body, "`{original}`");
                }
                for text in &expected {
                    assert!(
                        printed.contains(text),
                        "the book's command `{original}` did not print `{text}`:\n{printed}\nservers said:\n{}",
                        servers(&background)
                    );
                }
                break;
            }
            if !line.starts_with("curl") || Instant::now() > deadline {
                panic!(
                    "the book's command `{original}` failed:\n{printed}\nservers said:\n{}",
                    servers(&background)
                );
            }
            assert!(
                background
                    .iter_mut()
                    .all(|(_, s)| s.wait_timeout(Duration::ZERO).is_none()),
                "a server died:\n{}",
                servers(&background)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        if line.starts_with("rg new ") {
            // Pin the dependency versions the suite already built.
            let project = cwd.join(line.split_whitespace().nth(2).unwrap());
            std::fs::copy(workspace().join("Cargo.lock"), project.join("Cargo.lock")).unwrap();
        }
    }
    let (servers, _nginx): (Vec<_>, Vec<_>) = background
        .into_iter()
        .partition(|(started, _)| starts_a_server(started));
    said.extend(servers.into_iter().map(interrupt));
    said
}

/// The main path, from `rg new mysite` to nginx: every `curl` of it gets
/// the generated project's greeting.
#[test]
fn the_tutorial_runs_as_written() {
    crate::tools::require("nginx");
    crate::tools::require("curl");
    read_aloud("tutorial", Some("Hello, world!\n"));
}

/// The guestbook chapter: SQLite under `rg runserver` and `rg serve`, then
/// PostgreSQL (a real server), each reloaded with HUP under writes with no
/// failed write and no lost row (the chapter's own `# expect:` lines).
#[test]
fn the_guestbook_chapter_runs_as_written() {
    crate::tools::require("curl");
    let said = read_aloud("tutorial-guestbook", None);
    let reloads: usize = said
        .iter()
        .map(|(_, log)| log.matches("Reload complete").count())
        .sum();
    let logs: String = said
        .iter()
        .map(|(started, log)| format!("`{started}`:\n{log}\n"))
        .collect();
    assert!(
        reloads >= 2,
        "the chapter reloads rg serve under writes, on SQLite and on PostgreSQL:\n{logs}"
    );
}

#[test]
fn an_include_is_what_mdbook_puts_in_the_chapter() {
    let dir = workspace().join("book/src");
    let spec = "../../tests/e2e/guestbook/application.rs";
    let whole = std::fs::read_to_string(workspace().join("tests/e2e/guestbook/application.rs")).unwrap();
    let lines: Vec<&str> = whole.lines().collect();
    assert_eq!(include(&dir, spec), whole);
    assert_eq!(include(&dir, &format!("{spec}:2")), format!("{}\n", lines[1]));
    assert_eq!(
        include(&dir, &format!("{spec}:2:3")),
        format!("{}\n{}\n", lines[1], lines[2])
    );
    assert_eq!(include(&dir, &format!("{spec}::1")), format!("{}\n", lines[0]));
    assert_eq!(
        include(&dir, &format!("{spec}:{}:", lines.len())),
        format!("{}\n", lines[lines.len() - 1])
    );
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

/// The Kubernetes manifest of "Past one machine" is one Kubernetes accepts
/// (its own schema, strictly: no unknown fields), its probes use rg's
/// metrics port, and its grace period covers the drain it explains.
#[test]
fn the_kubernetes_manifest_is_valid_and_its_grace_period_covers_the_drain() {
    let chapter = std::fs::read_to_string(workspace().join("book/src/scaling.md")).unwrap();
    let manifest: String = chapter
        .split("```yaml,kubernetes\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("a ```yaml,kubernetes block in scaling.md")
        .to_string();
    let python = crate::tools::require_python_package("kubernetes-validate");
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("deployment.yaml");
    std::fs::write(&file, format!("{manifest}\n")).unwrap();
    let out = Command::new("python3")
        .args(["-m", "kubernetes_validate", "--strict"])
        .arg(&file)
        .env("PYTHONPATH", &python)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubernetes-validate: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // A broken manifest is refused: the validator does validate.
    std::fs::write(&file, manifest.replace("periodSeconds: 2", "periodSecond: 2")).unwrap();
    let refused = Command::new("python3")
        .args(["-m", "kubernetes_validate", "--strict"])
        .arg(&file)
        .env("PYTHONPATH", &python)
        .output()
        .unwrap();
    assert!(!refused.status.success());

    // Its numbers, read with the YAML parser the validator brought.
    std::fs::write(&file, format!("{manifest}\n")).unwrap();
    let json = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(&file)
        .env("PYTHONPATH", &python)
        .output()
        .unwrap();
    assert!(json.status.success(), "{}", String::from_utf8_lossy(&json.stderr));
    let deployment: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    let env = container["env"].as_array().unwrap();
    let seconds = |name: &str| -> u64 {
        env.iter()
            .find(|e| e["name"] == name)
            .map(|e| e["value"].as_str().unwrap().parse().unwrap())
            .unwrap_or_else(|| panic!("no {name} in the manifest"))
    };
    let (delay, graceful) = (seconds("RG_SHUTDOWN_DELAY"), seconds("RG_GRACEFUL_TIMEOUT"));
    assert!(delay > 0, "the endpoints need time to hear of the stop");
    assert!(
        delay + graceful + 1 < grace,
        "shutdown_delay {delay} s + graceful_timeout {graceful} s + 1 s must fit in terminationGracePeriodSeconds {grace}"
    );
    let command: Vec<&str> = container["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let metrics = command[command.iter().position(|a| *a == "--metrics-bind").unwrap() + 1];
    let metrics_port = container["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "metrics")
        .unwrap()["containerPort"]
        .as_u64()
        .unwrap();
    assert!(
        metrics.ends_with(&format!(":{metrics_port}")),
        "{metrics} vs {metrics_port}"
    );
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["readinessProbe"]["httpGet"]["port"], "metrics");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["livenessProbe"]["httpGet"]["port"], "metrics");
}
