//! A real application: the book's guestbook (`tests/e2e/guestbook/`),
//! SQLite through sqlx, its pool opened by the async setup of each worker.
//! Writes survive reloads and recycling with no failed request and no
//! lost row; a database that cannot be opened stops `rg serve` with exit 3
//! quoting sqlx, and shows in the browser under `rg runserver`.

use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use tungstenite::Message;
use tungstenite::protocol::frame::coding::CloseCode;

use crate::postgres::Postgres;
use crate::support::{
    Addr, Load, Running, Serve, e2e_target, eventually, free_port, get, guestbook_binary, guestbook_project,
    request, rg,
};

/// `rg serve` of the guestbook in `dir` with `DATABASE_URL`: its setup
/// opens the database, so it boots more slowly than the fixture.
fn serve(dir: &Path, url: &str) -> Serve {
    Serve::new(guestbook_binary())
        .current_dir(dir)
        .env("DATABASE_URL", url)
        .boot_timeout(Duration::from_secs(30))
}

/// Signs the guestbook through the JSON API; `Connection: close` so the
/// answer ends with the connection.
pub fn sign(addr: &Addr, name: &str, message: &str) -> std::io::Result<crate::support::Response> {
    let body = format!(r#"{{"name":"{name}","message":"{message}"}}"#);
    request(
        addr,
        &format!(
            "POST /entries HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

#[test]
fn writes_through_two_hups_and_a_recycle_lose_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}?mode=rwc", tmp.path().join("guestbook.db").display());
    let master = serve(tmp.path(), &url)
        .args(["-w", "2", "--max-requests", "150"])
        .start();
    let addr = master.addr();
    assert_eq!(get(&addr, "/entries/count").unwrap().body, "0\n");

    let load = Load::each(&addr, 4, |addr| sign(addr, "load", "hello"));
    std::thread::sleep(Duration::from_millis(500));
    for n in 1..=2 {
        master.signal(libc::SIGHUP);
        assert!(
            eventually(Duration::from_secs(20), || master
                .stderr()
                .matches("Reload complete")
                .count()
                >= n),
            "{}",
            master.stderr()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    // Keep writing until max_requests has recycled a worker too.
    assert!(
        eventually(Duration::from_secs(30), || master
            .stderr()
            .contains("served max_requests")),
        "{}",
        master.stderr()
    );
    std::thread::sleep(Duration::from_millis(500));
    let report = load.stop();
    let rows: u64 = get(&addr, "/entries/count").unwrap().body.trim().parse().unwrap();
    eprintln!(
        "SQLite, two HUPs and a recycle under writes: {} writes, {} failed, {rows} rows",
        report.ok + report.failures.len() as u64,
        report.failures.len()
    );
    report.assert_none_failed();
    assert!(report.ok > 150, "too few writes to prove anything: {}", report.ok);
    assert_eq!(
        rows, report.ok,
        "every 2xx answer is one row, and every row one 2xx"
    );
}

#[test]
fn a_database_that_cannot_be_opened_stops_rg_serve_quoting_sqlx() {
    let tmp = tempfile::tempdir().unwrap();
    let url = "sqlite:/nonexistent-rg-dir/guestbook.db?mode=rwc";
    let mut master = serve(tmp.path(), url).args(["-w", "2"]).spawn();
    let status = master
        .wait_timeout(Duration::from_secs(30))
        .expect("rg serve should stop by itself");
    assert_eq!(status.code(), Some(3), "{}", master.stderr());
    let log = master.stderr();
    assert!(log.contains("the application could not start"), "{log}");
    assert!(log.contains("unable to open database file"), "{log}");
}

#[test]
fn a_setup_error_shows_in_the_browser_under_runserver_until_a_save_retries() {
    let dir = guestbook_project("guestbook_dev");
    let port = free_port();
    let data = tempfile::tempdir().unwrap();
    let missing = data.path().join("missing");
    let mut cmd = rg();
    cmd.args(["runserver", &port.to_string()])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", e2e_target())
        .env(
            "DATABASE_URL",
            format!("sqlite:{}/guestbook.db?mode=rwc", missing.display()),
        );
    let server = Running::spawn(&mut cmd);
    let addr = Addr::tcp(port);
    assert!(
        eventually(Duration::from_secs(300), || get(&addr, "/")
            .is_ok_and(|r| r.status == 500 && r.body.contains("could not start"))),
        "{}{}",
        server.stdout(),
        server.stderr()
    );
    let page = get(&addr, "/").unwrap();
    assert!(
        page.body.contains("unable to open database file"),
        "{}",
        page.body
    );
    assert!(page.body.contains("data-rg-live-reload"), "{}", page.body);
    assert!(
        server.stderr().contains("the application could not start"),
        "{}",
        server.stderr()
    );

    // Fix the cause, save a file: rg starts the application again.
    std::fs::create_dir(&missing).unwrap();
    let readme = dir.join("README.md");
    let text = std::fs::read_to_string(&readme).unwrap();
    std::fs::write(&readme, format!("{text}\nSaved.\n")).unwrap();
    assert!(
        eventually(Duration::from_secs(120), || get(&addr, "/entries/count")
            .is_ok_and(|r| r.status == 200)),
        "{}{}",
        server.stdout(),
        server.stderr()
    );
    assert_eq!(sign(&addr, "dev", "works").unwrap().status, 201);
    assert_eq!(get(&addr, "/entries/count").unwrap().body, "1\n");
    // Its setup made the pool apart from the routes: a save of a handler
    // is patched into the same process, around the same pool. (Up to three
    // saves: another test's build of the shared runtime into the same
    // target directory makes a save restart instead.)
    let code = dir.join("src/application.rs");
    let mut format = "{n}\\n".to_string();
    for save in 1..=3 {
        let said = server.stdout();
        let (patched, started) = (
            said.matches("src/application.rs changed; patched in").count(),
            said.matches("Application ready").count(),
        );
        let text = std::fs::read_to_string(&code).unwrap();
        assert!(text.contains(&format), "{text}");
        let new = format!("{{n}} entries ({save})\\n");
        std::fs::write(&code, text.replace(&format, &new)).unwrap();
        format = new;
        let body = format!("1 entries ({save})\n");
        assert!(
            eventually(Duration::from_secs(120), || get(&addr, "/entries/count")
                .is_ok_and(|r| r.body == body)),
            "{}{}",
            server.stdout(),
            server.stderr()
        );
        let said = server.stdout();
        if said.matches("src/application.rs changed; patched in").count() > patched {
            assert_eq!(said.matches("Application ready").count(), started, "{said}");
            assert!(!said.contains("Saves restart the application"), "{said}");
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("three saves, none patched:\n{}", server.stdout());
}

/// The guestbook's production variant: the same binary on a real
/// PostgreSQL server (`postgres.rs`), two workers creating the table at
/// once, then a HUP under writes: no failed write, no lost row.
#[test]
fn on_postgresql_writes_through_a_hup_lose_nothing() {
    let postgres = Postgres::start();
    let url = postgres.create_database("guestbook", "secret", "guestbook");
    let tmp = tempfile::tempdir().unwrap();
    let master = serve(tmp.path(), &url).args(["-w", "2"]).start();
    let addr = master.addr();
    assert_eq!(get(&addr, "/entries/count").unwrap().body, "0\n");

    let load = Load::each(&addr, 4, |addr| sign(addr, "load", "hello"));
    std::thread::sleep(Duration::from_millis(500));
    master.signal(libc::SIGHUP);
    assert!(
        eventually(Duration::from_secs(20), || master
            .stderr()
            .contains("Reload complete")),
        "{}",
        master.stderr()
    );
    std::thread::sleep(Duration::from_millis(500));
    let report = load.stop();
    let writes = report.ok + report.failures.len() as u64;
    let rows: u64 = get(&addr, "/entries/count").unwrap().body.trim().parse().unwrap();
    eprintln!(
        "PostgreSQL, HUP under writes: {writes} writes, {} failed, {rows} rows",
        report.failures.len()
    );
    report.assert_none_failed();
    assert!(report.ok > 100, "too few writes to prove anything: {}", report.ok);
    assert_eq!(
        rows, report.ok,
        "every 2xx answer is one row, and every row one 2xx"
    );
    // And the database says so itself.
    let out = postgres.psql("guestbook", "SELECT COUNT(*) FROM entries");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), rows.to_string());
}

/// The page's WebSocket, `/live`: each new entry arrives on it as JSON,
/// whichever worker wrote it. Across a HUP, the old worker keeps pushing
/// (entries written through the new workers included) until the graceful
/// timeout, then closes it with 1001, "server restarting".
#[test]
fn the_live_socket_pushes_every_entry_and_closes_at_the_graceful_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}?mode=rwc", tmp.path().join("guestbook.db").display());
    let master = serve(tmp.path(), &url)
        .args(["-w", "2", "--graceful-timeout", "2"])
        .start();
    let port = master.port();
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let (mut socket, response) = tungstenite::client(format!("ws://127.0.0.1:{port}/live"), stream).unwrap();
    assert_eq!(response.status(), 101);
    let next = |socket: &mut tungstenite::WebSocket<TcpStream>| match socket.read() {
        Ok(Message::Text(json)) => json.to_string(),
        other => panic!("expected an entry, got {other:?}"),
    };
    let addr = master.addr();
    for n in 1..=4 {
        assert_eq!(sign(&addr, "live", &format!("entry {n}")).unwrap().status, 201);
    }
    for n in 1..=4 {
        let json = next(&mut socket);
        assert_eq!(
            json,
            format!(r#"{{"id":{n},"name":"live","message":"entry {n}"}}"#)
        );
    }

    master.signal(libc::SIGHUP);
    let hup = Instant::now();
    assert!(
        eventually(Duration::from_secs(15), || master
            .stderr()
            .contains("Reload complete")),
        "{}",
        master.stderr()
    );
    // Written through a new worker, pushed by the old one, still draining.
    assert_eq!(sign(&addr, "live", "entry 5").unwrap().status, 201);
    assert!(next(&mut socket).contains(r#""message":"entry 5""#));
    let frame = loop {
        match socket.read() {
            Ok(Message::Close(frame)) => break frame,
            Ok(_) => continue,
            Err(e) => panic!("the connection ended without a close frame: {e}"),
        }
    };
    let waited = hup.elapsed();
    let frame = frame.expect("a close frame with a code");
    assert_eq!(frame.code, CloseCode::Away);
    assert_eq!(frame.reason, "server restarting");
    assert!(
        waited >= Duration::from_millis(1500),
        "closed after {waited:?}, before the graceful timeout"
    );
}
