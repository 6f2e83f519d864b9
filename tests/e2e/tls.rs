//! TLS in `rg serve` (`certfile`, `keyfile`): curl over HTTPS with HTTP/1.1
//! and HTTP/2 chosen by ALPN, an h2load load over a HUP, a new pair taken on
//! HUP (the old one kept when the new one is broken), plain HTTP on
//! `insecure_bind` beside HTTPS, pairs that do not load refused before any
//! worker starts; and the `http` setting.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use tempfile::TempDir;

use crate::http2::h2load_count;
use crate::support::{Serve, eventually};
use crate::tools;

/// A test certificate authority and the server certificates it signs, made
/// with the openssl command line.
pub(crate) struct Pki {
    dir: TempDir,
}

impl Pki {
    pub(crate) fn new() -> Pki {
        tools::require("openssl");
        let pki = Pki {
            dir: tempfile::tempdir().unwrap(),
        };
        pki.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=rg test CA",
        ]);
        pki
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn openssl(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A certificate for 127.0.0.1 and localhost with common name `name`,
    /// signed by the CA: `name.pem` and `name.key`.
    pub(crate) fn server(&self, name: &str) -> (PathBuf, PathBuf) {
        self.signed(name, "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    }

    /// A server certificate that expired on 2020-01-02 (`openssl ca`, the
    /// one command of OpenSSL 3.0 that takes dates).
    fn expired(&self, name: &str) -> (PathBuf, PathBuf) {
        let config = "[ca]\ndefault_ca = test\n[test]\ndatabase = index.txt\nnew_certs_dir = .\n\
                      serial = serial\ndefault_md = sha256\npolicy = any\n[any]\ncommonName = supplied\n";
        std::fs::write(self.path("ca.cnf"), config).unwrap();
        std::fs::write(self.path("index.txt"), "").unwrap();
        std::fs::write(self.path("serial"), "01\n").unwrap();
        let (key, csr, pem) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
        );
        self.openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &format!("/CN={name}"),
        ]);
        self.openssl(&[
            "ca",
            "-batch",
            "-notext",
            "-config",
            "ca.cnf",
            "-cert",
            "ca.pem",
            "-keyfile",
            "ca.key",
            "-in",
            &csr,
            "-out",
            &pem,
            "-startdate",
            "20200101000000Z",
            "-enddate",
            "20200102000000Z",
        ]);
        (self.path(&pem), self.path(&key))
    }

    /// A client certificate with common name `name`, signed by the CA.
    fn client(&self, name: &str) -> (PathBuf, PathBuf) {
        self.signed(name, "extendedKeyUsage=clientAuth\n")
    }

    fn signed(&self, name: &str, extensions: &str) -> (PathBuf, PathBuf) {
        std::fs::write(self.path("san.ext"), extensions).unwrap();
        let (key, csr, pem) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
        );
        self.openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &format!("/CN={name}"),
        ]);
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ]);
        (self.path(&pem), self.path(&key))
    }
}

/// curl over HTTPS, trusting only the test CA, with `args` (`--http2` ...).
fn curl(pki: &Pki, port: u16, path: &str, args: &[&str]) -> Output {
    tools::require("curl");
    Command::new("curl")
        .args(["-sS", "-v", "--max-time", "10", "--cacert"])
        .arg(pki.path("ca.pem"))
        .args(args)
        .arg(format!("https://127.0.0.1:{port}{path}"))
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub(crate) fn tls_args(cert: &Path, key: &Path) -> Vec<String> {
    vec![
        "--certfile".into(),
        cert.display().to_string(),
        "--keyfile".into(),
        key.display().to_string(),
    ]
}

#[test]
fn https_with_http2_and_http1_chosen_by_alpn() {
    let pki = Pki::new();
    let (cert, key) = pki.server("one");
    let master = Serve::fixture().args(tls_args(&cert, &key)).start();
    assert!(
        master
            .stderr()
            .contains(&format!("Listening at: https://127.0.0.1:{}", master.port())),
        "{}",
        master.stderr()
    );
    for (flag, version) in [("--http2", "HTTP/2 200"), ("--http1.1", "HTTP/1.1 200")] {
        let out = curl(&pki, master.port(), "/environ", &[flag, "-i"]);
        let body = text(&out.stdout);
        assert!(out.status.success(), "{flag}: {}", text(&out.stderr));
        assert!(body.starts_with(version), "{flag}: {body}");
        assert!(body.contains("scheme=https "), "{flag}: {body}");
    }
    // A client that speaks cleartext HTTP to a TLS port gets no response
    // the application wrote.
    let plain = Command::new("curl")
        .args(["-sS", "--max-time", "5"])
        .arg(format!("http://127.0.0.1:{}/", master.port()))
        .output()
        .unwrap();
    assert!(!text(&plain.stdout).contains("Hello"), "{}", text(&plain.stdout));
}

/// curl over the unix socket `sock` in plain HTTP, with `args`.
fn curl_unix(sock: &Path, args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-sS", "-i", "--max-time", "10", "--unix-socket"])
        .arg(sock)
        .args(args)
        .arg("http://localhost/environ")
        .output()
        .unwrap()
}

#[test]
fn insecure_bind_serves_plain_http_beside_https_through_a_hup() {
    let pki = Pki::new();
    let (cert, key) = pki.server("one");
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("plain.sock");
    let master = Serve::fixture()
        .args(tls_args(&cert, &key))
        .arg("--insecure-bind")
        .arg(format!("unix:{}", sock.display()))
        .start();
    for line in [
        format!("Listening at: https://127.0.0.1:{}", master.port()),
        format!("Listening at: unix:{}", sock.display()),
    ] {
        assert!(master.stderr().contains(&line), "{line}: {}", master.stderr());
    }
    let check = |round: &str| {
        let https = curl(&pki, master.port(), "/environ", &["-i"]);
        let body = text(&https.stdout);
        assert!(
            body.starts_with("HTTP/2 200") && body.contains("scheme=https "),
            "{round}: {body}"
        );
        // What nginx sends to a unix socket: HTTP/1.1; h2c works there too.
        for (flag, version) in [
            ("--http1.1", "HTTP/1.1 200"),
            ("--http2-prior-knowledge", "HTTP/2 200"),
        ] {
            let plain = curl_unix(&sock, &[flag]);
            let body = text(&plain.stdout);
            assert!(plain.status.success(), "{round} {flag}: {}", text(&plain.stderr));
            assert!(
                body.starts_with(version) && body.contains("scheme=http "),
                "{round} {flag}: {body}"
            );
        }
    };
    check("at start");
    master.signal(libc::SIGHUP);
    assert!(
        master.wait_for_output("Reload complete", Duration::from_secs(30)),
        "{}",
        master.stderr()
    );
    check("after a HUP");
}

#[test]
fn a_hup_takes_a_new_pair_and_keeps_the_old_one_when_the_new_one_is_broken() {
    let pki = Pki::new();
    let (one_cert, one_key) = pki.server("one");
    let (two_cert, two_key) = pki.server("two");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::copy(&one_cert, &cert).unwrap();
    std::fs::copy(&one_key, &key).unwrap();
    let master = Serve::fixture().args(tls_args(&cert, &key)).start();
    let subject = |name: &str| {
        let out = curl(&pki, master.port(), "/", &[]);
        text(&out.stderr).contains(&format!("subject: CN={name}")) && text(&out.stdout) == "Hello, world!\n"
    };
    assert!(subject("one"));

    // A key that is not the certificate's: the reload fails, "one" serves on.
    std::fs::copy(&two_cert, &cert).unwrap();
    master.signal(libc::SIGHUP);
    assert!(
        master.wait_for_output("does not belong to the certificate", Duration::from_secs(10)),
        "{}",
        master.stderr()
    );
    assert!(subject("one"));

    std::fs::copy(&two_key, &key).unwrap();
    master.signal(libc::SIGHUP);
    assert!(
        eventually(Duration::from_secs(20), || subject("two")),
        "{}",
        master.stderr()
    );
}

#[test]
fn a_pair_that_does_not_load_stops_the_start_naming_the_file() {
    let pki = Pki::new();
    let (one_cert, _) = pki.server("one");
    let (_, two_key) = pki.server("two");
    let missing = pki.path("missing.pem");
    let (old_cert, old_key) = pki.expired("old");
    let cases: [(Vec<String>, String); 4] = [
        (
            tls_args(&old_cert, &old_key),
            format!(
                "{}: the certificate expired at 2020-01-02T00:00:00.000Z",
                old_cert.display()
            ),
        ),
        (
            tls_args(&one_cert, &two_key),
            format!(
                "{}: this key does not belong to the certificate in certfile",
                two_key.display()
            ),
        ),
        (
            tls_args(&missing, &two_key),
            format!("{}: cannot read it", missing.display()),
        ),
        (
            vec!["--certfile".into(), one_cert.display().to_string()],
            "needs keyfile too".to_string(),
        ),
    ];
    for (args, expected) in cases {
        let out = Serve::fixture().args(&args).output();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(&expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("Booting worker"), "{args:?}: {stderr}");
    }
}

#[test]
fn an_http2_load_over_tls_loses_nothing_across_a_hup() {
    let pki = Pki::new();
    let (cert, key) = pki.server("one");
    let master = Serve::fixture()
        .args(["-w", "2"])
        .args(tls_args(&cert, &key))
        .start();
    tools::require("h2load");
    // Four connections, eight streams in flight on each, for six seconds;
    // the HUP rolls both workers while they are busy.
    let load = Command::new("h2load")
        .args(["-D", "6", "-c", "4", "-m", "8"])
        .arg(format!("https://127.0.0.1:{}/", master.port()))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    master.signal(libc::SIGHUP);
    let out = load.wait_with_output().unwrap();
    let report = text(&out.stdout);
    let count = |what: &str| h2load_count(&report, what);
    assert!(count("succeeded") > 1000, "{report}");
    assert_eq!(count("failed"), 0, "{report}");
    assert_eq!(count("errored"), 0, "{report}");
    assert!(report.contains(" 0 4xx, 0 5xx"), "{report}");
    assert!(
        master.stderr().matches("Booting worker").count() >= 4,
        "the HUP did not roll the workers: {}",
        master.stderr()
    );
}

#[test]
fn client_certificates_required_optional_and_what_the_application_sees() {
    let pki = Pki::new();
    let (cert, key) = pki.server("one");
    let (client_cert, client_key) = pki.client("alice");
    let ca = pki.path("ca.pem").display().to_string();
    let (client_cert, client_key) = (
        client_cert.display().to_string(),
        client_key.display().to_string(),
    );
    let with_cert = ["--cert", client_cert.as_str(), "--key", client_key.as_str()];

    let required = Serve::fixture()
        .args(tls_args(&cert, &key))
        .args(["--ca-certs", &ca, "--cert-reqs", "required"])
        .start();
    let out = curl(&pki, required.port(), "/cert", &with_cert);
    assert_eq!(text(&out.stdout), "CN=alice\n", "{}", text(&out.stderr));
    let refused = curl(&pki, required.port(), "/cert", &[]);
    assert!(
        !refused.status.success(),
        "served without a certificate: {}",
        text(&refused.stdout)
    );
    assert!(text(&refused.stdout).is_empty());

    let optional = Serve::fixture()
        .args(tls_args(&cert, &key))
        .args(["--ca-certs", &ca, "--cert-reqs", "1"])
        .start();
    assert_eq!(
        text(&curl(&pki, optional.port(), "/cert", &with_cert).stdout),
        "CN=alice\n"
    );
    assert_eq!(text(&curl(&pki, optional.port(), "/cert", &[]).stdout), "-\n");

    let out = Serve::fixture()
        .args(tls_args(&cert, &key))
        .args(["--cert-reqs", "required"])
        .output();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("needs ca_certs"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_http_setting_chooses_the_versions_served() {
    let pki = Pki::new();
    let (cert, key) = pki.server("one");
    let only_2 = Serve::fixture()
        .args(tls_args(&cert, &key))
        .args(["--http", "2"])
        .start();
    let h2 = curl(&pki, only_2.port(), "/", &["--http2", "-i"]);
    assert!(text(&h2.stdout).starts_with("HTTP/2 200"), "{}", text(&h2.stderr));
    let h1 = curl(&pki, only_2.port(), "/", &["--http1.1", "-i"]);
    assert!(!h1.status.success(), "HTTP/1.1 served: {}", text(&h1.stdout));

    let only_1 = Serve::fixture().args(["--http", "1"]).start();
    let plain = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-sS", "-i", "--max-time", "5"])
            .args(args)
            .arg(format!("http://127.0.0.1:{}/", only_1.port()))
            .output()
            .unwrap();
        text(&out.stdout)
    };
    assert!(plain(&[]).starts_with("HTTP/1.1 200"), "{}", plain(&[]));
    assert!(
        !plain(&["--http2-prior-knowledge"]).contains(" 200"),
        "h2c served with http = 1"
    );

    let h2c_only = Serve::fixture().args(["--http", "2"]).start();
    let h2c = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-sS", "-i", "--max-time", "5"])
            .args(args)
            .arg(format!("http://127.0.0.1:{}/", h2c_only.port()))
            .output()
            .unwrap();
        text(&out.stdout)
    };
    assert!(h2c(&["--http2-prior-knowledge"]).starts_with("HTTP/2 200"));
    let refused = h2c(&[]);
    assert!(refused.starts_with("HTTP/1.1 505"), "{refused}");
    assert!(refused.contains("HTTP/2 only"), "{refused}");

    let out = Serve::fixture().args(["--http", "3"]).output();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("expected auto, 1 or 2"),
        "{}",
        text(&out.stderr)
    );
}
