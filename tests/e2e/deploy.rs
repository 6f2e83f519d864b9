//! The deploy files `rg new` writes are real: systemd accepts the units, a
//! real supervisord runs the program, a real nginx proxies to `rg serve`
//! over the unix socket. Paths in the files point at a production layout
//! (/usr/local/bin, /srv, /run); the tests rewrite only those paths.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::{Addr, Running, Serve, eventually, fixture_binary, free_port, get, rg_in};

/// A project named `deployed`, generated for its deploy files, in a
/// directory other users (nginx's workers) can traverse.
fn deployed() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(rg_in(tmp.path(), &["new", "deployed"]).status.success());
    let dir = tmp.path().join("deployed");
    (tmp, dir)
}

/// The deploy file with production paths replaced by this machine's.
fn localized(dir: &Path, file: &str, socket: &Path) -> String {
    std::fs::read_to_string(dir.join("deploy").join(file))
        .unwrap()
        .replace("/usr/local/bin/rg", env!("CARGO_BIN_EXE_rg"))
        .replace(
            "/srv/deployed/target/release/deployed",
            fixture_binary().to_str().unwrap(),
        )
        .replace("/srv/deployed/rg.toml", dir.join("rg.toml").to_str().unwrap())
        .replace("/srv/deployed", dir.to_str().unwrap())
        .replace("/run/deployed/deployed.sock", socket.to_str().unwrap())
}

#[test]
fn systemd_accepts_the_service_and_socket_units() {
    let (tmp, dir) = deployed();
    let units = tmp.path().join("units");
    std::fs::create_dir(&units).unwrap();
    let socket = tmp.path().join("deployed.sock");
    for unit in ["deployed.service", "deployed.socket"] {
        std::fs::write(units.join(unit), localized(&dir, unit, &socket)).unwrap();
    }
    crate::tools::require("systemd-analyze");
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(units.join("deployed.socket"))
        .arg(units.join("deployed.service"))
        .output()
        .expect("systemd-analyze (Debian's systemd package)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Only complaints about our units count; the host's own units may warn.
    let ours: Vec<&str> = said.lines().filter(|l| l.contains("deployed.")).collect();
    assert!(out.status.success() && ours.is_empty(), "{said}");
}

/// Stops supervisord (and with it the program) even when a test fails.
struct Supervisor(Running);

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.0.signal(libc::SIGTERM);
        let _ = self.0.wait_timeout(Duration::from_secs(15));
    }
}

#[test]
fn supervisord_runs_the_program_and_it_answers() {
    crate::tools::require("supervisord");
    let (tmp, dir) = deployed();
    let socket = tmp.path().join("deployed.sock");
    let conf_d = tmp.path().join("conf.d");
    std::fs::create_dir(&conf_d).unwrap();
    let log = tmp.path().join("deployed.log");
    let program = localized(&dir, "supervisor.conf", &socket)
        // The tests run as root; the real file names the project's user.
        .replace("user=deployed", "user=root")
        .replace("/var/log/deployed.log", log.to_str().unwrap());
    std::fs::write(conf_d.join("deployed.conf"), program).unwrap();
    let main = tmp.path().join("supervisord.conf");
    std::fs::write(
        &main,
        format!(
            "[supervisord]\nnodaemon=true\nlogfile={0}/supervisord.log\npidfile={0}/supervisord.pid\n\
             [include]\nfiles={0}/conf.d/*.conf\n",
            tmp.path().display()
        ),
    )
    .unwrap();
    let supervisor = Supervisor(Running::spawn(Command::new("supervisord").arg("-c").arg(&main)));
    assert!(
        eventually(Duration::from_secs(20), || get(&Addr::Unix(socket.clone()), "/")
            .is_ok()),
        "no answer on {}: {}\n{}",
        socket.display(),
        supervisor.0.stderr(),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert_eq!(
        get(&Addr::Unix(socket.clone()), "/").unwrap().body,
        "Hello, world!\n"
    );
    drop(supervisor);
    assert!(
        !socket.exists(),
        "rg serve removes its socket when supervisord stops it"
    );
}

#[test]
fn nginx_proxies_to_rg_serve_over_the_unix_socket() {
    crate::tools::require("nginx");
    let (tmp, dir) = deployed();
    let socket = tmp.path().join("deployed.sock");
    let _server = Serve::fixture()
        .current_dir(&dir)
        .bind_unix(&socket)
        .args(["-w", "2"])
        .start();

    let port = free_port();
    let site =
        localized(&dir, "nginx.conf", &socket).replace("listen 80;", &format!("listen 127.0.0.1:{port};"));
    std::fs::write(tmp.path().join("site.conf"), site).unwrap();
    let t = tmp.path().display();
    std::fs::write(
        tmp.path().join("nginx.conf"),
        format!(
            "worker_processes 1;\ndaemon off;\npid {t}/nginx.pid;\nerror_log {t}/error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{ access_log {t}/access.log; client_body_temp_path {t}/body; proxy_temp_path {t}/proxy;\n\
             fastcgi_temp_path {t}/fastcgi; uwsgi_temp_path {t}/uwsgi; scgi_temp_path {t}/scgi;\n\
             include {t}/site.conf; }}\n"
        ),
    )
    .unwrap();
    let nginx = Running::spawn(
        Command::new("nginx")
            .arg("-p")
            .arg(tmp.path())
            .arg("-c")
            .arg(tmp.path().join("nginx.conf")),
    );
    let front = Addr::tcp(port);
    assert!(
        eventually(Duration::from_secs(10), || get(&front, "/")
            .is_ok_and(|r| r.status == 200)),
        "nginx: {}\n{}",
        nginx.stderr(),
        std::fs::read_to_string(tmp.path().join("error.log")).unwrap_or_default()
    );
    assert_eq!(get(&front, "/").unwrap().body, "Hello, world!\n");
    // The application sees the client behind nginx, through the headers
    // nginx sets and rg trusts from a unix socket peer.
    let environ = get(&front, "/environ").unwrap().body;
    assert!(environ.contains("client=127.0.0.1"), "{environ}");
    assert!(
        environ.contains(&format!("server=unix:{}", socket.display())),
        "{environ}"
    );
    // WebSockets pass through: the site carries the Upgrade headers.
    let mut ws = crate::websocket::connect(port);
    assert!(crate::websocket::echo(&mut ws, "through nginx").starts_with("through nginx from "));
}
