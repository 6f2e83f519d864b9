//! What a developer sees in a real browser (Debian's headless Chromium,
//! driven through chromedriver's WebDriver API) while `rg runserver` runs:
//! a saved file the binary reads at run time reloads the page without a
//! rebuild, a code save reloads it with the new build, a broken build shows
//! the error page, and a fix brings the application back, all by itself.
//! And what a visitor's browser gets from `rg serve` over HTTPS: HTTP/2.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Addr, Running, Serve, dev_project, e2e_target, free_port, rg};
use crate::tls::{Pki, tls_args};
use crate::tools::require;

/// A headless Chromium session through chromedriver; both end with it.
struct Browser {
    driver: Addr,
    session: String,
    _chromedriver: Running,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start() -> Browser {
        Browser::start_with(&[])
    }

    /// A session with Chromium's `flags` added to the ones every test uses.
    fn start_with(flags: &[String]) -> Browser {
        require("chromium");
        require("chromedriver");
        let port = free_port();
        let chromedriver =
            Running::spawn(std::process::Command::new("chromedriver").arg(format!("--port={port}")));
        let driver = Addr::tcp(port);
        let deadline = Instant::now() + Duration::from_secs(20);
        while call(&driver, "GET", "/status", None).is_none() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not start: {}",
                chromedriver.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().unwrap();
        // As root, without a sandbox; no background connections, which
        // this machine's closed network refuses anyway.
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", profile.path().display()),
        ]
        .map(str::to_string);
        let args: Vec<&String> = args.iter().chain(flags).collect();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}
        }}});
        let created = call(&driver, "POST", "/session", Some(capabilities))
            .unwrap_or_else(|| panic!("no session: {}", chromedriver.stderr()));
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_string();
        Browser {
            driver,
            session,
            _chromedriver: chromedriver,
            _profile: profile,
        }
    }

    fn goto(&self, url: &str) {
        let path = format!("/session/{}/url", self.session);
        call(&self.driver, "POST", &path, Some(json!({ "url": url }))).expect("navigate");
    }

    /// Runs `script` in the page and returns its value.
    fn script(&self, script: &str) -> Value {
        let path = format!("/session/{}/execute/sync", self.session);
        call(
            &self.driver,
            "POST",
            &path,
            Some(json!({ "script": script, "args": [] })),
        )
        .map(|v| v["value"].clone())
        .unwrap_or(Value::Null)
    }

    /// The text of the element with `id`, or null.
    fn text(&self, id: &str) -> Value {
        self.script(&format!(
            "var e = document.getElementById('{id}'); return e ? e.textContent : null;"
        ))
    }

    /// Marks the page; a reload clears the mark.
    fn mark(&self) {
        self.script("window.rgMark = 'kept'; return true;");
    }

    fn marked(&self) -> bool {
        self.script("return window.rgMark === 'kept';") == Value::Bool(true)
    }

    fn wait(&self, what: &str, timeout: Duration, mut done: impl FnMut(&Browser) -> bool) {
        let deadline = Instant::now() + timeout;
        while !done(self) {
            let body = self.script("return document.body ? document.body.innerText : '';");
            assert!(
                Instant::now() < deadline,
                "the page never showed {what}; it shows: {body}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = call(
            &self.driver,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        );
    }
}

/// One WebDriver call; `None` when chromedriver did not answer 200.
/// (chromedriver keeps connections open, so the answer is read by its
/// Content-Length, not to the end.)
fn call(driver: &Addr, method: &str, path: &str, body: Option<Value>) -> Option<Value> {
    use std::io::{Read, Write};
    let Addr::Tcp(addr) = driver else {
        return None;
    };
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).ok()?;
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())?;
    let mut answer = vec![0u8; length];
    stream.read_exact(&mut answer).ok()?;
    let ok = head.starts_with("http/1.1 200");
    ok.then(|| serde_json::from_slice(&answer).ok())?
}

fn edit(dir: &Path, from: &str, to: &str) {
    let path = dir.join("src/application.rs");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{from:?} not in application.rs");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn the_page_reloads_itself_through_static_saves_code_saves_and_broken_builds() {
    let dir = dev_project("dev_browser");
    std::fs::create_dir_all(dir.join("static")).unwrap();
    std::fs::write(dir.join("static/message.txt"), "First message").unwrap();
    let port = free_port();
    let mut cmd = rg();
    cmd.args(["runserver", &port.to_string()])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", e2e_target());
    let server = Running::spawn(&mut cmd);
    assert!(
        server.wait_for_output("Application ready", Duration::from_secs(300)),
        "{}{}",
        server.stdout(),
        server.stderr()
    );
    let browser = Browser::start();
    browser.goto(&format!("http://127.0.0.1:{port}/page"));
    browser.wait("the first message", Duration::from_secs(10), |b| {
        b.text("message") == "First message"
    });
    // Let the page's live-reload stream connect.
    std::thread::sleep(Duration::from_secs(1));

    // A file the binary reads at run time: the page reloads, no rebuild.
    browser.mark();
    std::fs::write(dir.join("static/message.txt"), "Second message").unwrap();
    browser.wait(
        "the second message after a reload",
        Duration::from_secs(10),
        |b| b.text("message") == "Second message" && !b.marked(),
    );
    let said = server.stdout();
    assert!(
        said.contains("static/message.txt changed; reloading the browser"),
        "{said}"
    );
    assert_eq!(
        said.matches("Built in").count(),
        1,
        "a static save rebuilt: {said}"
    );

    // A code save: a new build, and the page reloads onto it.
    std::thread::sleep(Duration::from_secs(1));
    browser.mark();
    edit(&dir, "Hi from the page", "Hello after a save");
    browser.wait("the new build", Duration::from_secs(120), |b| {
        b.text("greeting") == "Hello after a save" && !b.marked()
    });

    // A broken build: the error page takes the page's place...
    std::thread::sleep(Duration::from_secs(1));
    edit(&dir, "async fn page()", "async fn page() -> {");
    browser.wait("the error page", Duration::from_secs(120), |b| {
        b.script("return document.title;")
            .as_str()
            .is_some_and(|t| t.contains("Build failed"))
    });
    // ...until the fix, when the application comes back by itself.
    std::thread::sleep(Duration::from_secs(1));
    edit(&dir, "async fn page() -> {", "async fn page()");
    browser.wait("the application again", Duration::from_secs(120), |b| {
        b.text("greeting") == "Hello after a save"
    });
}

/// The base64 SHA-256 of `cert`'s public key, which Chromium's
/// `--ignore-certificate-errors-spki-list` takes to trust that one key.
fn spki_sha256(cert: &Path) -> String {
    require("openssl");
    let pipeline = "openssl x509 -pubkey -noout -in \"$0\" | openssl pkey -pubin -outform der \
                    | openssl dgst -sha256 -binary | openssl enc -base64 -A";
    let out = std::process::Command::new("sh")
        .args(["-c", pipeline])
        .arg(cert)
        .output()
        .unwrap();
    let hash = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success() && hash.len() == 44,
        "{hash}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    hash
}

#[test]
fn chromium_gets_the_page_over_https_with_http2() {
    let pki = Pki::new();
    let (cert, key) = pki.server("browser");
    // Trusting the test key, not every certificate: the connection is the
    // one a visitor's browser makes to a certificate it trusts.
    let trust = format!("--ignore-certificate-errors-spki-list={}", spki_sha256(&cert));
    let browser = Browser::start_with(&[trust]);
    let master = Serve::fixture().args(tls_args(&cert, &key)).start();
    browser.goto(&format!("https://127.0.0.1:{}/", master.port()));
    let page = "return document.body ? document.body.innerText.trim() : '';";
    browser.wait("the application's answer", Duration::from_secs(10), |b| {
        b.script(page) == json!("Hello, world!")
    });
    let protocol = browser.script("return performance.getEntriesByType('navigation')[0].nextHopProtocol;");
    assert_eq!(protocol, json!("h2"), "ALPN chose another protocol");
    // An untrusted certificate would have shown Chromium's warning page.
    assert_eq!(browser.script("return location.protocol;"), json!("https:"));
    let logged = || master.stdout().contains("\"GET / HTTP/2.0\" 200");
    assert!(
        crate::support::eventually(Duration::from_secs(5), logged),
        "{}",
        master.stdout()
    );
}
