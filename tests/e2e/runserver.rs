//! `rg runserver`: real saves to real files, real cargo builds, and a
//! client that polls the whole time and counts every failed request.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::support::{Addr, Running, dev_project, e2e_target, eventually, free_port, get, rg};
use crate::tools;

pub(crate) const BUILD: Duration = Duration::from_secs(300);

pub(crate) fn runserver(dir: &Path, port: u16) -> Running {
    runserver_with(dir, port, &[])
}

pub(crate) fn runserver_with(dir: &Path, port: u16, flags: &[&str]) -> Running {
    let mut cmd = rg();
    cmd.args(["runserver", &port.to_string()])
        .args(flags)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", e2e_target());
    let server = Running::spawn(&mut cmd);
    assert!(
        server.wait_for_output("Application ready", BUILD),
        "never ready:\n{}\n{}",
        server.stdout(),
        server.stderr()
    );
    server
}

pub(crate) fn edit(dir: &Path, from: &str, to: &str) {
    let path = dir.join("src/application.rs");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{from:?} not in application.rs");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

pub(crate) fn output(server: &Running) -> String {
    format!("{}{}", server.stdout(), server.stderr())
}

#[test]
fn a_save_is_served_with_no_failed_request() {
    let dir = dev_project("dev_edit");
    let port = free_port();
    let server = runserver(&dir, port);
    let addr = Addr::tcp(port);
    assert_eq!(get(&addr, "/").unwrap().body, "Hello, world!\n");

    // Poll every 10 ms from before the save until the new text shows.
    let done = Arc::new(AtomicBool::new(false));
    let poller = std::thread::spawn({
        let (addr, done) = (addr.clone(), done.clone());
        move || {
            let (mut ok, mut failures) = (0, Vec::new());
            let started = Instant::now();
            while !done.load(Ordering::Relaxed) && started.elapsed() < BUILD {
                match get(&addr, "/") {
                    Ok(r) if r.status == 200 => {
                        ok += 1;
                        if r.body == "Hello, edited!\n" {
                            return (ok, failures, Some(started.elapsed()));
                        }
                    }
                    Ok(r) => failures.push(format!("status {}", r.status)),
                    Err(e) => failures.push(e.to_string()),
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            (ok, failures, None)
        }
    });
    std::thread::sleep(Duration::from_millis(200));
    edit(&dir, "Hello, world!", "Hello, edited!");
    let (ok, failures, seen) = poller.join().unwrap();
    done.store(true, Ordering::Relaxed);
    assert!(
        seen.is_some(),
        "the new text never appeared:\n{}",
        output(&server)
    );
    assert!(failures.is_empty(), "{failures:?}");
    assert!(ok > 5);
    assert!(
        output(&server).contains("src/application.rs changed, rebuilding"),
        "{}",
        output(&server)
    );
}

#[test]
fn rapid_saves_make_one_build_of_the_last_content() {
    let dir = dev_project("dev_burst");
    let port = free_port();
    let server = runserver(&dir, port);
    for word in ["one", "two", "three"] {
        let path = dir.join("src/application.rs");
        let text = std::fs::read_to_string(&path).unwrap();
        let start = text.find("\"Hello, ").unwrap() + 8;
        let end = start + text[start..].find("!\\n\"").unwrap();
        std::fs::write(&path, format!("{}{word}{}", &text[..start], &text[end..])).unwrap();
        std::thread::sleep(Duration::from_millis(15));
    }
    assert!(
        eventually(BUILD, || get(&Addr::tcp(port), "/")
            .is_ok_and(|r| r.body == "Hello, three!\n")),
        "{}",
        output(&server)
    );
    std::thread::sleep(Duration::from_millis(500));
    let out = output(&server);
    assert_eq!(
        out.matches("Built in").count(),
        2,
        "one initial build and one rebuild:\n{out}"
    );
    assert_eq!(out.matches("rebuilding").count(), 1, "{out}");
}

#[test]
fn saves_to_ignored_paths_trigger_nothing() {
    let dir = dev_project("dev_ignored");
    std::fs::write(dir.join(".gitignore"), "/target\n*.log\n").unwrap();
    std::fs::create_dir_all(dir.join("target/debug")).unwrap();
    std::fs::create_dir_all(dir.join(".git")).unwrap();
    let port = free_port();
    let server = runserver(&dir, port);
    std::fs::write(dir.join("target/debug/artifact"), "x").unwrap();
    std::fs::write(dir.join(".git/index"), "x").unwrap();
    std::fs::write(dir.join("server.log"), "x").unwrap();
    let lock = std::fs::read_to_string(dir.join("Cargo.lock")).unwrap();
    std::fs::write(dir.join("Cargo.lock"), lock).unwrap();
    std::fs::write(dir.join("src/.application.rs.swp"), "x").unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let out = output(&server);
    assert!(!out.contains("rebuilding"), "{out}");
    assert_eq!(out.matches("Built in").count(), 1, "{out}");
    // A real source still counts.
    std::fs::write(dir.join("src/extra.rs"), "// new module\n").unwrap();
    assert!(
        server.wait_for_output("src/extra.rs changed, rebuilding", Duration::from_secs(5)),
        "{}",
        output(&server)
    );
}

#[test]
fn a_directory_made_after_start_is_watched_and_temp_files_are_not_named() {
    let dir = dev_project("dev_new_dir");
    let port = free_port();
    let addr = Addr::tcp(port);
    let server = runserver(&dir, port);
    std::fs::create_dir(dir.join("assets")).unwrap();
    std::fs::write(dir.join("assets/message.txt"), "From assets!\n").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // Saved the way `sed -i` and many editors save: a temporary file
    // renamed over the real one.
    let path = dir.join("src/application.rs");
    let text = std::fs::read_to_string(&path).unwrap().replacen(
        "\"Hello, world!\\n\"",
        "include_str!(\"../assets/message.txt\")",
        1,
    );
    std::fs::write(dir.join("src/sedX1Y2Z3"), text).unwrap();
    std::fs::rename(dir.join("src/sedX1Y2Z3"), &path).unwrap();
    assert!(
        eventually(BUILD, || get(&addr, "/")
            .is_ok_and(|r| r.body == "From assets!\n")),
        "{}",
        output(&server)
    );
    assert!(
        output(&server).contains("src/application.rs changed, rebuilding"),
        "{}",
        output(&server)
    );
    assert!(!output(&server).contains("sedX1Y2Z3"), "{}", output(&server));

    // A file inside the directory that did not exist when rg started.
    std::fs::write(dir.join("assets/message.txt"), "Edited in assets!\n").unwrap();
    assert!(
        eventually(BUILD, || get(&addr, "/")
            .is_ok_and(|r| r.body == "Edited in assets!\n")),
        "{}",
        output(&server)
    );
    assert!(output(&server).contains("assets/message.txt changed, rebuilding"));
}

#[test]
fn a_broken_build_is_shown_in_the_browser_until_it_is_fixed() {
    let dir = dev_project("dev_broken");
    let port = free_port();
    let addr = Addr::tcp(port);
    let server = runserver(&dir, port);
    edit(&dir, "\"Hello, world!\\n\"", "\"Hello, world!\\n\" +");
    assert!(
        eventually(BUILD, || get(&addr, "/").is_ok_and(|r| r.status == 500)),
        "{}",
        output(&server)
    );
    let page = get(&addr, "/any/path").unwrap();
    assert_eq!(page.status, 500);
    assert!(page.head.contains("text/html"), "{}", page.head);
    assert!(page.body.contains("Build failed"), "{}", page.body);
    assert!(page.body.contains("src/application.rs:"), "{}", page.body);
    assert!(page.body.contains("expected expression"), "{}", page.body);
    assert!(page.body.contains("data-rg-live-reload"));
    // The terminal shows the error too (read by a thread of the test's
    // own, which may be behind the page).
    for said in ["expected expression", "Build failed: 1 error;"] {
        let shown = server.wait_for_output(said, Duration::from_secs(10));
        assert!(shown, "{said}: {}", output(&server));
    }

    edit(&dir, "\"Hello, world!\\n\" +", "\"Hello again!\\n\"");
    assert!(eventually(BUILD, || get(&addr, "/")
        .is_ok_and(|r| r.status == 200 && r.body == "Hello again!\n")));
}

#[test]
fn a_first_build_that_fails_shows_the_error_page() {
    let dir = dev_project("dev_first_broken");
    edit(&dir, "\"Hello, world!\\n\"", "undefined_name");
    let port = free_port();
    let addr = Addr::tcp(port);
    let mut cmd = rg();
    cmd.args(["runserver", &port.to_string()])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", e2e_target());
    let server = Running::spawn(&mut cmd);
    assert!(
        server.wait_for_output("Build failed", BUILD),
        "{}",
        output(&server)
    );
    let page = get(&addr, "/").unwrap();
    assert_eq!(page.status, 500);
    assert!(
        page.body.contains("cannot find value `undefined_name`"),
        "{}",
        page.body
    );
    edit(&dir, "undefined_name", "\"Fixed!\\n\"");
    assert!(
        eventually(BUILD, || get(&addr, "/").is_ok_and(|r| r.body == "Fixed!\n")),
        "{}",
        output(&server)
    );
}

/// Opens the live-reload stream and returns the build id it announces,
/// and the stream to read on.
fn reload_stream(port: u16) -> (String, BufReader<TcpStream>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(BUILD)).unwrap();
    stream
        .write_all(b"GET /__rg/reload HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "stream closed before an id"
        );
        if let Some(id) = line.trim_end().strip_prefix("data: ") {
            return (id.to_string(), reader);
        }
    }
}

#[test]
fn html_pages_get_the_live_reload_script_and_its_stream_signals_a_rebuild() {
    let dir = dev_project("dev_reload");
    let port = free_port();
    let addr = Addr::tcp(port);
    let server = runserver(&dir, port);
    let html = get(&addr, "/html").unwrap();
    assert!(html.body.contains("data-rg-live-reload"), "{}", html.body);
    assert!(html.body.find("data-rg-live-reload").unwrap() < html.body.find("</body>").unwrap());
    let json = get(&addr, "/json").unwrap();
    assert_eq!(json.body, "{\"ok\":true}");

    let (first_id, mut stream) = reload_stream(port);
    edit(&dir, "Hello, world!", "Hello, reloaded!");
    // The stream ends when the old process stops...
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut stream, &mut rest);
    // ...and the reconnecting browser meets a new build.
    let (second_id, _) = reload_stream(port);
    assert_ne!(first_id, second_id, "{}", output(&server));
    assert_eq!(get(&addr, "/").unwrap().body, "Hello, reloaded!\n");
}

#[test]
fn a_panicking_handler_shows_its_message_and_place_on_the_500_page() {
    let dir = dev_project("dev_panic");
    let port = free_port();
    let addr = Addr::tcp(port);
    let server = runserver(&dir, port);
    let page = get(&addr, "/panic").unwrap();
    assert_eq!(page.status, 500, "{}", output(&server));
    assert!(
        page.body.contains("a bug in the handler") && page.body.contains("src/application.rs:"),
        "{}",
        page.body
    );
    assert_eq!(
        get(&addr, "/").unwrap().body,
        "Hello, world!\n",
        "the application serves on"
    );
}

#[test]
fn ctrl_c_leaves_no_process_and_a_free_port() {
    let dir = dev_project("dev_quit");
    let port = free_port();
    let mut server = runserver(&dir, port);
    let app_pid: i32 = get(&Addr::tcp(port), "/pid")
        .unwrap()
        .body
        .trim()
        .parse()
        .unwrap();
    server.signal(libc::SIGINT);
    let status = server
        .wait_timeout(Duration::from_secs(5))
        .expect("rg exits after Ctrl-C");
    assert_eq!(status.code(), Some(0));
    assert!(
        eventually(Duration::from_secs(2), || !Path::new(&format!("/proc/{app_pid}"))
            .exists()),
        "the application process is still running"
    );
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("the port is free at once");
}

#[test]
fn sigterm_stops_everything_and_sigkill_of_rg_still_ends_the_application() {
    let dir = dev_project("dev_kill");
    let pid_of_app = |port: u16| -> i32 {
        get(&Addr::tcp(port), "/pid")
            .unwrap()
            .body
            .trim()
            .parse()
            .unwrap()
    };
    let gone = |pid: i32| {
        eventually(Duration::from_secs(3), || {
            !Path::new(&format!("/proc/{pid}")).exists()
        })
    };

    // SIGTERM, as a service manager stops it: like Ctrl-C.
    let port = free_port();
    let mut server = runserver(&dir, port);
    let app = pid_of_app(port);
    server.signal(libc::SIGTERM);
    let status = server
        .wait_timeout(Duration::from_secs(5))
        .expect("rg exits after SIGTERM");
    assert_eq!(status.code(), Some(0), "{}", output(&server));
    assert!(gone(app), "the application outlived rg after SIGTERM");
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("the port is free at once");

    // SIGKILL gives rg no chance to clean up: the application is in a
    // process group of its own, so only its parent-death signal ends it.
    let port = free_port();
    let mut server = runserver(&dir, port);
    let app = pid_of_app(port);
    // SAFETY: kill(2) on the rg process alone, not its group.
    unsafe { libc::kill(server.pid(), libc::SIGKILL) };
    server.wait_timeout(Duration::from_secs(5)).expect("rg is killed");
    assert!(gone(app), "the application outlived a SIGKILLed rg");
}

#[test]
fn cargos_own_errors_reach_the_terminal() {
    let dir = dev_project("dev_bad_manifest");
    let manifest = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, format!("{text}\nbroken =\n")).unwrap();
    let out = rg()
        .args(["runserver", "--noreload", &free_port().to_string()])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", e2e_target())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Cargo.toml:"), "cargo's message is missing: {err}");
    assert!(err.contains("the build failed (1 error above)"), "{err}");
}

#[test]
fn bad_addresses_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("Cargo.toml"), "[package]\nname = \"x\"\n").unwrap();
    for bad in ["80a", "1.2.3.4", "unix:/tmp/x.sock"] {
        let out = rg()
            .args(["runserver", bad])
            .current_dir(tmp.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!(
                "\"{bad}\" is not a valid port number or address:port pair"
            )),
            "{err}"
        );
    }
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = rg()
        .args(["runserver", &port])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("address already in use by"), "{err}");
    let out = rg()
        .args(["runserver"])
        .current_dir(tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("no Cargo.toml in"));
}

/// The shared runtime library the application `port` serves from, as its
/// process maps it: `None` when it links the runtime statically.
fn shared_runtime_of(port: u16) -> Option<String> {
    let pid = get(&Addr::tcp(port), "/pid").unwrap().body;
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", pid.trim())).unwrap();
    maps.lines()
        .find(|line| line.ends_with("/librg_dylib.so"))
        .and_then(|line| line.split_whitespace().last())
        .map(str::to_string)
}

/// Where the shared library does not fit, a dev build links the runtime
/// into the binary as `cargo build` does: when asked (`--static-runtime`),
/// and for a `main.rs` that sets an allocator of its own, which could not
/// free what the library allocated.
#[test]
fn static_runtime_and_an_own_allocator_build_as_cargo_does() {
    let asked = dev_project("dev_static_asked");
    let own = dev_project("dev_static_allocator");
    let main = own.join("src/main.rs");
    let text = std::fs::read_to_string(&main).unwrap();
    let allocator = "#[global_allocator]\nstatic ALLOCATOR: std::alloc::System = std::alloc::System;\n";
    std::fs::write(&main, format!("{text}\n{allocator}")).unwrap();
    for (dir, flags) in [(&asked, &["--static-runtime"][..]), (&own, &[][..])] {
        let port = free_port();
        let server = runserver_with(dir, port, flags);
        assert_eq!(shared_runtime_of(port), None, "{}", output(&server));
        assert_eq!(get(&Addr::tcp(port), "/").unwrap().body, "Hello, world!\n");
    }
}

/// Dev builds link the runtime as one shared library, which is what makes
/// the rebuild after a save link only the application's code. Cargo
/// names that library without a hash, so two projects that share a target
/// directory but build different variants of the runtime (here: another
/// feature of a crate it uses) overwrite each other's: each must keep
/// serving its own code, save after save.
#[test]
fn dev_builds_share_the_runtime_and_projects_sharing_a_target_keep_their_own() {
    let first = dev_project("dev_shared_a");
    let second = dev_project("dev_shared_b");
    let manifest = second.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let extra = "[dependencies]\nfutures-util = { version = \"0.3\", features = [\"sink\", \"io\"] }\n";
    std::fs::write(&manifest, text.replacen("[dependencies]\n", extra, 1)).unwrap();

    let (port_a, port_b) = (free_port(), free_port());
    let a = runserver(&first, port_a);
    let b = runserver(&second, port_b);
    for (port, name) in [(port_a, "dev_shared_a"), (port_b, "dev_shared_b")] {
        let library = shared_runtime_of(port).expect("the dev build links the runtime as a shared library");
        assert!(
            library.ends_with(&format!("/debug/rg-runserver/{name}/librg_dylib.so")),
            "{name} loads {library}"
        );
    }

    let served = |port: u16, text: &str| {
        let want = format!("{text}\n");
        eventually(BUILD, || get(&Addr::tcp(port), "/").is_ok_and(|r| r.body == want))
    };
    // Each project saved in turn; after each save, the other still serves
    // its own last text.
    let projects = [(&first, port_a, &a, "first"), (&second, port_b, &b, "second")];
    let mut now = ["Hello, world!".to_string(), "Hello, world!".to_string()];
    for round in 1..=2 {
        for (i, (dir, port, server, name)) in projects.iter().enumerate() {
            let text = format!("Hello, {name} {round}!");
            edit(dir, &now[i], &text);
            assert!(served(*port, &text), "{}", output(server));
            now[i] = text;
            let (_, other_port, other, other_name) = projects[1 - i];
            assert!(
                served(other_port, &now[1 - i]),
                "the {other_name} project lost its code:\n{}",
                output(other)
            );
        }
    }
    // Each save was rebuilt by rustc alone (the fixture's static rules out
    // a patch): a runserver puts its own library back where rustc reads
    // it, rather than having cargo build the library again.
    for server in [&a, &b] {
        let said = output(server);
        assert!(!said.contains("error"), "{said}");
        assert_eq!(
            said.matches("(rustc alone: only the binary's own files changed)")
                .count(),
            2,
            "{said}"
        );
    }
}

#[test]
fn tls_serves_the_application_and_the_error_page_over_https() {
    tools::require("curl");
    let dir = dev_project("dev_tls");
    let port = free_port();
    let server = runserver_with(&dir, port, &["--tls"]);
    assert!(
        output(&server).contains(&format!(
            "Starting development server at https://127.0.0.1:{port}/"
        )),
        "{}",
        output(&server)
    );
    let cert = e2e_target().join("rg-runserver/tls/cert.pem");
    // The certificate is for localhost, and trusting it is enough.
    let https = |path: &str| {
        let out = std::process::Command::new("curl")
            .args(["-sS", "-i", "--max-time", "10", "--cacert"])
            .arg(&cert)
            .arg(format!("https://localhost:{port}{path}"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let hello = https("/");
    assert!(hello.starts_with("HTTP/2 200"), "{hello}");
    assert!(hello.ends_with("Hello, world!\n"), "{hello}");

    edit(&dir, "\"Hello, world!\\n\"", "\"Hello, world!\\n\" +");
    assert!(
        eventually(BUILD, || https("/").starts_with("HTTP/2 500")),
        "{}",
        output(&server)
    );
    let page = https("/any/path");
    assert!(page.contains("Build failed"), "{page}");
    assert!(page.contains("data-rg-live-reload"), "{page}");

    edit(&dir, "\"Hello, world!\\n\" +", "\"Hello again!\\n\"");
    assert!(eventually(BUILD, || https("/").ends_with("Hello again!\n")));
}
