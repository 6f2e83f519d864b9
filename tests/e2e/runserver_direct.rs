//! `rg runserver`'s rebuild by rustc alone: a save of the application's
//! own sources skips cargo, a save of anything else (here its manifest)
//! goes through cargo, and each serves what was saved.

use std::time::Duration;

use crate::runserver::{BUILD, edit, output};
use crate::support::{Addr, Running, dev_project, eventually, free_port, get};

const ALONE: &str = "(rustc alone: only the binary's own files changed)";

fn alone(server: &Running) -> usize {
    output(server).matches(ALONE).count()
}

/// Saves greetings until one is built by rustc alone, up to three (a save
/// seen in two bursts is built twice). Returns the greeting served last.
fn save_until_alone(dir: &std::path::Path, addr: &Addr, server: &Running, mut from: String) -> String {
    let before = alone(server);
    for i in 0..3 {
        let to = format!("Hello, rustc {i}!");
        edit(dir, &from, &to);
        from = to;
        assert!(
            eventually(BUILD, || get(addr, "/")
                .is_ok_and(|r| r.body == format!("{from}\n"))),
            "{}",
            output(server)
        );
        if alone(server) > before {
            return from;
        }
    }
    panic!(
        "three saves of application.rs, none built by rustc alone:\n{}",
        output(server)
    );
}

#[test]
fn the_binarys_own_sources_are_rebuilt_by_rustc_alone_and_the_rest_by_cargo() {
    let dir = dev_project("dev_direct");
    let port = free_port();
    let addr = Addr::tcp(port);
    // The runtime linked statically: the shared library's copy is replaced
    // whenever another test's project builds its own (they share a target
    // directory), and after that only cargo builds.
    let server = crate::runserver::runserver_with(&dir, port, &["--static-runtime"]);
    let greeting = save_until_alone(&dir, &addr, &server, "Hello, world!".into());

    // The manifest first: from that save on, cargo builds, whatever follows.
    let before = alone(&server);
    let manifest = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, format!("{text}\n# saved\n")).unwrap();
    edit(&dir, &greeting, "Hello, cargo!");
    assert!(eventually(BUILD, || get(&addr, "/")
        .is_ok_and(|r| r.body == "Hello, cargo!\n")));
    assert_eq!(alone(&server), before, "{}", output(&server));

    // A compile error is shown as cargo's would be, whoever found it.
    edit(&dir, "\"Hello, cargo!\\n\"", "\"Hello, cargo!\\n\" +");
    assert!(
        eventually(BUILD, || get(&addr, "/")
            .is_ok_and(|r| r.status == 500 && r.body.contains("expected expression"))),
        "{}",
        output(&server)
    );
    assert!(
        server.wait_for_output("Build failed: 1 error;", Duration::from_secs(10)),
        "{}",
        output(&server)
    );
    edit(&dir, "\"Hello, cargo!\\n\" +", "\"Hello, cargo!\\n\"");
    assert!(eventually(BUILD, || get(&addr, "/")
        .is_ok_and(|r| r.body == "Hello, cargo!\n")));
    save_until_alone(&dir, &addr, &server, "Hello, cargo!".into());
}
