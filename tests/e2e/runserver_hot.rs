//! `rg runserver`'s hot patches: a save of an application's code (a
//! `Router`, no setup) is served by the same process, on the connections it
//! had (keep-alive and a WebSocket, which stays on the old code), with no
//! failed request, calling into a dependency linked in the binary; a
//! static, a state of the crate's own type, a broken save and
//! `--no-hot-patch` restart instead. Ctrl-C stops a patch's compile.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use crate::runserver::{BUILD, output, runserver, runserver_with};
use crate::support::{
    Addr, Load, Running, children, eventually, free_port, generated_project, get, group_alive,
};
use crate::websocket::{connect, echo};

/// An application without a setup: a `Router` with a greeting and a
/// WebSocket that says which version of the code answered.
const ROUTER: &str = r#"use rg::axum::extract::ws::{Message, WebSocketUpgrade};
use rg::axum::{Router, response::IntoResponse, routing::get};

pub fn application() -> Router {
    Router::new()
        .route("/", get(|| async { "Hello, world!\n" }))
        .route("/ws", get(ws))
}

async fn ws(upgrade: WebSocketUpgrade) -> impl IntoResponse {
    upgrade.on_upgrade(|mut socket| async move {
        while let Some(Ok(Message::Text(text))) = socket.recv().await {
            let _ = socket.send(Message::Text(format!("{text} from v1").into())).await;
        }
    })
}
"#;

/// An application whose state is of a type of its own crate.
const STATE: &str = r#"use rg::axum::{Router, routing::get};

#[derive(Clone)]
pub struct Greeting(&'static str);

pub fn application() -> rg::Application {
    rg::with_state(|| async { Ok::<_, std::io::Error>(Greeting("Hello, state!\n")) }, routes)
}

fn routes(greeting: Greeting) -> Router {
    Router::new().route("/", get(move || async move { greeting.0 }))
}
"#;

fn count(server: &Running, what: &str) -> usize {
    output(server).matches(what).count()
}

/// Serves until `body` is the answer to `GET /`.
fn serves(addr: &Addr, server: &Running, body: &str) {
    assert!(
        eventually(BUILD, || get(addr, "/").is_ok_and(|r| r.body == body)),
        "never served {body:?}:\n{}",
        output(server)
    );
}

/// One `GET /` on a connection kept open: the body. Bounded: the stream
/// has a read timeout, and a close fails the test.
fn get_kept(conn: &mut BufReader<TcpStream>) -> String {
    conn.get_mut()
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut length = 0;
    loop {
        let mut line = String::new();
        assert!(
            conn.read_line(&mut line).unwrap() > 0,
            "the kept connection was closed"
        );
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; length];
    conn.read_exact(&mut body).unwrap();
    String::from_utf8(body).unwrap()
}

/// Replaces the last `from` in application.rs (the first is in its doc).
fn save(dir: &Path, from: &str, to: &str) {
    // Past the watcher's quiet time, so each save is a burst of its own.
    std::thread::sleep(Duration::from_millis(100));
    save_now(dir, from, to);
}

/// [`save`] at once.
fn save_now(dir: &Path, from: &str, to: &str) {
    let path = dir.join("src/application.rs");
    let text = std::fs::read_to_string(&path).unwrap();
    let at = text
        .rfind(from)
        .unwrap_or_else(|| panic!("{from:?} not in {text}"));
    std::fs::write(&path, format!("{}{to}{}", &text[..at], &text[at + from.len()..])).unwrap();
}

const PATCHED: &str = "src/application.rs changed; patched in";

/// Saves greetings until one is patched, up to three (a project with other
/// features, building its own runtime library in the shared target
/// directory, makes a save restart instead); on the patched save, a
/// connection opened before it is answered by the new code. Returns the
/// greeting served last.
fn save_until_patched(dir: &Path, port: u16, server: &Running, mut from: String) -> String {
    let addr = Addr::tcp(port);
    for attempt in ["", "b", "c"] {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut kept = BufReader::new(stream);
        assert_eq!(get_kept(&mut kept), format!("{from}\n"));
        let (patched, started) = (count(server, PATCHED), count(server, "Application ready"));
        // Each save a new text, so that each is a change.
        let to = format!("Hello, patch {}{attempt}!", patched + 1);
        save(dir, &from, &to);
        serves(&addr, server, &format!("{to}\n"));
        from = to;
        if count(server, PATCHED) > patched {
            assert_eq!(get_kept(&mut kept), format!("{from}\n"));
            assert_eq!(count(server, "Application ready"), started, "{}", output(server));
            return from;
        }
    }
    panic!("three saves, none patched:\n{}", output(server));
}

#[test]
fn a_save_of_the_code_is_patched_into_the_running_application() {
    let dir = generated_project("dev_hot");
    std::fs::write(dir.join("src/application.rs"), ROUTER).unwrap();
    // A connection kept across a save idles while rustc runs, which on a
    // busy machine can outlast the 5 s default.
    let config = dir.join("rg.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("\n# keepalive = 5\n"), "{text}");
    std::fs::write(
        &config,
        text.replace("\n# keepalive = 5\n", "\nkeepalive = 300\n"),
    )
    .unwrap();
    let main = dir.join("src/main.rs");
    let text = std::fs::read_to_string(&main).unwrap();
    std::fs::write(
        &main,
        text.replace("application::application)", "application::application())"),
    )
    .unwrap();
    let port = free_port();
    let addr = Addr::tcp(port);
    let mut server = runserver(&dir, port);
    let load = Load::start(&addr, "/", 2);
    let mut from = "Hello, world!".to_string();
    for _ in 0..2 {
        from = save_until_patched(&dir, port, &server, from);
    }
    let report = load.stop();
    report.assert_none_failed();
    assert!(report.ok > 10, "{report:?}");

    // A WebSocket open across a patch stays open, on the code that
    // accepted it; a new one gets the new code.
    let mut version = 1;
    loop {
        let mut old = connect(port);
        assert_eq!(echo(&mut old, "a"), format!("a from v{version}"));
        let patched = count(&server, PATCHED);
        save(
            &dir,
            &format!("from v{version}"),
            &format!("from v{}", version + 1),
        );
        version += 1;
        assert!(eventually(BUILD, || echo(&mut connect(port), "b")
            == format!("b from v{version}")));
        if count(&server, PATCHED) > patched {
            assert_eq!(echo(&mut old, "c"), format!("c from v{}", version - 1));
            break;
        }
        assert!(version < 4, "three saves, none patched:\n{}", output(&server));
    }

    // A panic in patched code unwinds through it: answered 500 with where
    // it happened (patches carry no debug info; a panic's place is not
    // that), and the same process serves on.
    let started = count(&server, "Application ready");
    let panics =
        "{ if std::env::var_os(\"RG_NEVER_SET\").is_none() { panic!(\"patched panic\") } \"never\\n\" }";
    save(&dir, &format!("\"{from}\\n\""), panics);
    assert!(
        eventually(BUILD, || get(&addr, "/").is_ok_and(|r| r.status == 500
            && r.body.contains("patched panic")
            && r.body.contains("src/application.rs:"))),
        "{}",
        output(&server)
    );
    save(&dir, panics, &format!("\"{from}\\n\""));
    serves(&addr, &server, &format!("{from}\n"));
    assert_eq!(
        count(&server, "Application ready"),
        started,
        "{}",
        output(&server)
    );

    // A save while a patch compiles stops rustc and compiles the newest
    // code: one patch, of the second save.
    let compiling = || -> Vec<i32> {
        children(server.pid())
            .into_iter()
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "rustc")
            })
            .collect()
    };
    let rustc = || !compiling().is_empty();
    assert!(eventually(BUILD, || !rustc()), "{}", output(&server));
    let patched = count(&server, PATCHED);
    save(&dir, &format!("\"{from}\\n\""), "\"Hello, first!\\n\"");
    assert!(eventually(BUILD, rustc), "{}", output(&server));
    save_now(&dir, "Hello, first!", "Hello, second!");
    serves(&addr, &server, "Hello, second!\n");
    let again = "src/application.rs changed during the compile; compiling again";
    assert!(output(&server).contains(again), "{}", output(&server));
    assert!(
        eventually(BUILD, || count(&server, PATCHED) == patched + 1),
        "{}",
        output(&server)
    );
    let from = "Hello, second!".to_string();

    // A dependency of the application's own, linked into the binary: the
    // manifest's save goes through cargo, the next code save is patched,
    // calling the binary's copy of serde_json.
    let manifest = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replacen("[dependencies]\n", "[dependencies]\nserde_json = \"1\"\n", 1),
    )
    .unwrap();
    let json = |n: u32| format!("serde_json::json!({{\"n\": {n}}}).to_string() + \"\\n\"");
    save(&dir, &format!("\"{from}\\n\""), &json(1));
    serves(&addr, &server, "{\"n\":1}\n");
    let mut n = 1;
    loop {
        let patched = count(&server, PATCHED);
        save(&dir, &json(n), &json(n + 1));
        n += 1;
        serves(&addr, &server, &format!("{{\"n\":{n}}}\n"));
        if count(&server, PATCHED) > patched {
            break;
        }
        assert!(n < 4, "three saves, none patched:\n{}", output(&server));
    }
    save(&dir, &json(n), &format!("\"{from}\\n\""));
    serves(&addr, &server, &format!("{from}\n"));

    // Code before `rg::run` runs again in a patch; when it ends the
    // process, rg says so at once (not after the answer's timeout) and
    // restarts the application.
    // The marker is outside the watched project: its removal is no save.
    let marker = crate::support::e2e_dir().join(format!("crash-once-{port}"));
    std::fs::write(&marker, "").unwrap();
    let text = std::fs::read_to_string(&main).unwrap();
    let crash = format!(
        "if std::fs::remove_file({:?}).is_ok() {{\n        std::process::abort();\n    }}\n    rg::run(",
        marker.display().to_string()
    );
    std::fs::write(&main, text.replacen("rg::run(", &crash, 1)).unwrap();
    let killed = "Not patched: the application was killed by SIGABRT while it loaded the patch";
    assert!(
        eventually(BUILD, || output(&server).contains(killed)),
        "{}",
        output(&server)
    );
    save(&dir, &format!("\"{from}\\n\""), "\"Hello, after a crash!\\n\"");
    serves(&addr, &server, "Hello, after a crash!\n");
    let from = "Hello, after a crash!".to_string();

    // A static of the crate's own would start afresh in a patch: restarted.
    save(
        &dir,
        "pub fn application",
        "static HITS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);\n\n\
         pub fn application",
    );
    save(
        &dir,
        &format!("\"{from}\\n\""),
        "{ HITS.fetch_add(1, std::sync::atomic::Ordering::Relaxed); \"Hello, static!\\n\" }",
    );
    serves(&addr, &server, "Hello, static!\n");
    // (Read after rg's line: the READY of a restart may be printed just
    // after the new code has answered.)
    let restarted = |after: &str, times: usize| {
        eventually(BUILD, || {
            output(&server)
                .split(after)
                .nth(1)
                .is_some_and(|said| said.matches("Application ready").count() >= times)
        })
    };
    let hits = "Not patched: `dev_hot::application::HITS` is a static";
    assert!(restarted(hits, 1), "{}", output(&server));

    // A save that does not compile shows the errors; the fix is served.
    save(&dir, "\"Hello, static!\\n\" }", "\"Hello, static!\\n\" + }");
    assert!(
        eventually(BUILD, || get(&addr, "/")
            .is_ok_and(|r| r.status == 500 && r.body.contains("expected expression"))),
        "{}",
        output(&server)
    );
    save(&dir, "\"Hello, static!\\n\" + }", "\"Hello, fixed!\\n\" }");
    serves(&addr, &server, "Hello, fixed!\n");

    // A state of the crate's own type could change its layout under the
    // running value: rg says so, and saves restart.
    std::thread::sleep(Duration::from_millis(100));
    std::fs::write(dir.join("src/application.rs"), STATE).unwrap();
    serves(&addr, &server, "Hello, state!\n");
    let declined =
        "Saves restart the application, not patch it: its state, a `dev_hot::application::Greeting`";
    // rg says it when the application's READY comes, which can follow
    // the first answer.
    let says = server.wait_for_output(declined, Duration::from_secs(10));
    assert!(says, "{}", output(&server));
    save(&dir, "Hello, state!", "Hello, state again!");
    serves(&addr, &server, "Hello, state again!\n");
    assert!(restarted(declined, 2), "{}", output(&server));
    let said = output(&server);
    assert!(!said.split(declined).nth(1).unwrap().contains(PATCHED), "{said}");

    // A dozen compiles leave the split debug info of the last two only
    // (`NAME-HASH.UNIT.COMPILE.rcgu.dwo`; the manifest's save changed HASH).
    let deps = crate::support::e2e_dir().join("target/debug/deps");
    let mut compiles = std::collections::BTreeMap::<String, std::collections::BTreeSet<String>>::new();
    for file in std::fs::read_dir(&deps).unwrap() {
        let file = file.unwrap().file_name().into_string().unwrap();
        let parts: Vec<&str> = file.split('.').collect();
        if let [name, _unit, compile, "rcgu", "dwo"] = parts[..]
            && name.starts_with("dev_hot-")
        {
            compiles.entry(name.into()).or_default().insert(compile.into());
        }
    }
    assert!(!compiles.is_empty(), "no split debug info in {}", deps.display());
    assert!(compiles.values().all(|c| c.len() <= 2), "{compiles:?}");

    // Ctrl-C while a patch compiles stops rg there: no patch is made, and
    // rustc does not outlive it.
    std::thread::sleep(Duration::from_millis(100));
    std::fs::write(dir.join("src/application.rs"), ROUTER).unwrap();
    serves(&addr, &server, "Hello, world!\n");
    // A first patch, which awaits the compile run ahead after a start:
    // the next rustc is the next save's.
    let patched = count(&server, PATCHED);
    save(&dir, "Hello, world!", "Hello, once more!");
    serves(&addr, &server, "Hello, once more!\n");
    assert!(
        eventually(BUILD, || count(&server, PATCHED) == patched + 1),
        "{}",
        output(&server)
    );
    assert!(eventually(BUILD, || !rustc()), "{}", output(&server));
    let patched = count(&server, PATCHED);
    save(&dir, "Hello, once more!", "Hello, stopped!");
    assert!(eventually(BUILD, rustc), "{}", output(&server));
    let compiling = compiling();
    server.signal(libc::SIGINT);
    let status = server.wait_timeout(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}: {}",
        output(&server)
    );
    assert_eq!(count(&server, PATCHED), patched, "{}", output(&server));
    // rustc leads a process group of its own.
    assert!(
        eventually(Duration::from_secs(5), || !compiling
            .iter()
            .any(|&pid| group_alive(pid))),
        "{compiling:?}"
    );
}

#[test]
fn without_hot_patches_every_save_restarts() {
    let dir = generated_project("dev_no_hot");
    let port = free_port();
    let addr = Addr::tcp(port);
    let server = runserver_with(&dir, port, &["--no-hot-patch"]);
    save(&dir, "Hello, world!", "Hello, restarted!");
    serves(&addr, &server, "Hello, restarted!\n");
    assert!(eventually(BUILD, || count(&server, "Application ready") == 2));
    assert_eq!(count(&server, "patched"), 0, "{}", output(&server));
}
