//! The master process's own things: its metrics port, pid file and control
//! socket, and the user, group and socket mode it gives its workers.

use crate::settings::Parse::Master;
use crate::settings::values as v;
use crate::settings::{Kind, MASTER, Setting};

/// `metrics_bind`.
pub static METRICS_BIND: Setting = Setting::new("metrics_bind", MASTER)
    .flag("--metrics-bind")
    .value(Kind::Text, "ADDRESS", "")
    .parse(Master(|m, s| v::metrics_bind(s).map(|b| m.metrics_bind = b)))
    .help(
        "Serve /metrics (Prometheus), /healthz, /readyz and /status at this address, HOST:PORT or unix:PATH \
         (off by default).",
    )
    .doc(
        "An address for the master's own port, HOST:PORT or unix:PATH: /metrics\n\
         (Prometheus), /healthz, /readyz (503 while stopping) and /status (what\n\
         `rg status` prints). Off when empty. Keep it private: firewall it, or\n\
         use 127.0.0.1 or a unix socket.",
    );

/// `pidfile`.
pub static PIDFILE: Setting = Setting::new("pidfile", MASTER)
    .flag("--pid")
    .short('p')
    .value(Kind::Text, "FILE", "")
    .parse(Master(|m, s| v::path(s).map(|p| m.pidfile = p)))
    .help("A file to write the master's pid to (removed on exit).")
    .doc("A file to write the master's pid to; removed on exit.");

/// `control_socket`.
pub static CONTROL_SOCKET: Setting = Setting::new("control_socket", MASTER)
    .flag("--control-socket")
    .value(Kind::Text, "PATH", "rg.ctl")
    .parse(Master(|m, s| v::path(s).map(|p| m.control_socket = p)))
    .help("The unix socket `rg ctl` talks to the master on (mode 0600); \"\" for none.")
    .doc(
        "The unix socket `rg ctl` talks to the running master on, relative to the\n\
         directory rg serve runs in; mode 0600, the master's user only. \"\" for none.",
    );

/// `user`.
pub static USER: Setting = Setting::new("user", MASTER)
    .flag("--user")
    .short('u')
    .value(Kind::Text, "USER", "")
    .parse(Master(|m, s| v::text(s).map(|u| m.user = u)))
    .help("Run the workers as this user (a name or a uid); rg serve must run as root.")
    .doc(
        "Run the workers as this user (a name or an id) while the master keeps\n\
         its own identity; rg serve must then run as root. Unix socket files rg\n\
         creates are theirs.",
    );

/// `group`.
pub static GROUP: Setting = Setting::new("group", MASTER)
    .flag("--group")
    .short('g')
    .value(Kind::Text, "GROUP", "")
    .parse(Master(|m, s| v::text(s).map(|g| m.group = g)))
    .help("Run the workers in this group (a name or a gid); empty: the user's own group.")
    .doc("Run the workers in this group (a name or an id); empty: the user's own.");

/// `unix_socket_mode`.
pub static UNIX_SOCKET_MODE: Setting = Setting::new("unix_socket_mode", MASTER)
    .flag("--unix-socket-mode")
    .value(Kind::Text, "MODE", "0666")
    .parse(Master(|m, s| {
        v::octal_mode(s).map(|mode| m.unix_socket_mode = mode)
    }))
    .help("Permissions of unix sockets rg creates, in octal.")
    .doc("Permissions of unix sockets rg creates, in octal.");
