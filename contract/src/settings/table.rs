//! The table: every setting, in the order `rg.toml`, `--help`,
//! `--print-config` and the reference list them. Names follow Gunicorn's.

use super::values as v;
use super::{ALL, BOTH, Kind, MASTER, Setting, WORKER};

/// Every setting.
pub static SETTINGS: &[&Setting] = &[
    &BIND,
    &WORKERS,
    &THREADS,
    &WORKER_CONNECTIONS,
    &TIMEOUT,
    &GRACEFUL_TIMEOUT,
    &SHUTDOWN_DELAY,
    &GRACEFUL_SIGNALS,
    &KEEPALIVE,
    &BODY_READ_TIMEOUT,
    &BODY_MIN_RATE,
    &SEND_TIMEOUT,
    &BACKLOG,
    &MAX_REQUESTS,
    &MAX_REQUESTS_JITTER,
    &MAX_WORKER_LIFETIME,
    &MAX_WORKER_LIFETIME_JITTER,
    &MAX_WORKER_RSS,
    &LIMIT_REQUEST_LINE,
    &LIMIT_REQUEST_FIELDS,
    &LIMIT_REQUEST_FIELD_SIZE,
    &METRICS_BIND,
    &STRICT_HTTP,
    &PIDFILE,
    &CONTROL_SOCKET,
    &USER,
    &GROUP,
    &UNIX_SOCKET_MODE,
    &ACCESS_LOG,
    &ACCESS_LOG_FORMAT,
    &ERROR_LOG,
    &LOG_LEVEL,
    &LOG_FORMAT,
    &FORWARDED_ALLOW_IPS,
    &PROXY_PROTOCOL,
    &PROXY_ALLOW_IPS,
    &SCRIPT_NAME,
];

/// `bind`.
pub static BIND: Setting = Setting {
    key: "bind",
    flag: "--bind",
    short: Some('b'),
    alias: None,
    value_name: "ADDRESS",
    default: "127.0.0.1:8000",
    alone: None,
    kind: Kind::List,
    sides: ALL,
    help: "Addresses to listen on: HOST:PORT, [V6]:PORT, unix:PATH, fd://N.",
    doc: "Addresses to listen on: \"HOST:PORT\", \"[::1]:PORT\", \"unix:/path/to.sock\",\n\"fd://N\". Several are allowed.",
    check: |s| v::bind_list(s).map(drop),
};

/// `workers`.
pub static WORKERS: Setting = Setting {
    key: "workers",
    flag: "--workers",
    short: Some('w'),
    alias: None,
    value_name: "N",
    default: "cpu_count",
    alone: None,
    kind: Kind::Number,
    sides: MASTER,
    help: "Worker processes; a number or an expression like \"cpu_count * 2 + 1\".",
    doc: "Worker processes: a number, or an expression on cpu_count such as the\nseed's rule of thumb for blocking workers, \"cpu_count * 2 + 1\". Async\nworkers need far fewer: one per CPU is the default.",
    check: |s| v::count(s).map(drop),
};

/// `threads`.
pub static THREADS: Setting = Setting {
    key: "threads",
    flag: "--threads",
    short: None,
    alias: None,
    value_name: "N",
    default: "1",
    alone: Some("cpu_count"),
    kind: Kind::Number,
    sides: WORKER,
    help: "Threads of each worker's async runtime; a number or an expression.",
    doc: "Threads of each worker's async runtime. 1 runs a single-threaded runtime\nper worker (and lets the heartbeat catch a handler that blocks it).",
    check: |s| v::count(s).map(drop),
};

/// `worker_connections`.
pub static WORKER_CONNECTIONS: Setting = Setting {
    key: "worker_connections",
    flag: "--worker-connections",
    short: None,
    alias: None,
    value_name: "N",
    default: "1000",
    alone: None,
    kind: Kind::Number,
    sides: WORKER,
    help: "Most connections each worker serves at once; at the limit, idle keep-alive ones are closed for new clients.",
    doc: "Most connections each worker serves at once (open keep-alive connections\ncount). Past it a worker stops accepting: new connections wait in the\nlisten queue, where another worker can take them, instead of piling\nonto a busy one. While a client waits, the worker closes its longest\nidle keep-alive connection to make room; it never closes one in the\nmiddle of a request. rg raises the soft open files limit to this plus\n1024 at start (never past the hard limit), and says so when the hard\nlimit is too low.",
    check: |s| v::connections(s).map(drop),
};

/// `timeout`.
pub static TIMEOUT: Setting = Setting {
    key: "timeout",
    flag: "--timeout",
    short: Some('t'),
    alias: None,
    value_name: "SECONDS",
    default: "30",
    alone: None,
    kind: Kind::Number,
    sides: BOTH,
    help: "Seconds without a heartbeat after which a worker is killed and replaced, and the longest an application's setup may take; 0 disables both.",
    doc: "Seconds without a heartbeat after which a worker is killed (SIGABRT, then\nSIGKILL) and replaced, and the longest the application's own setup\n(opening a database pool, say) may take; 0 disables both.",
    check: |s| v::seconds(s).map(drop),
};

/// `graceful_timeout`.
pub static GRACEFUL_TIMEOUT: Setting = Setting {
    key: "graceful_timeout",
    flag: "--graceful-timeout",
    short: None,
    alias: None,
    value_name: "SECONDS",
    default: "30",
    alone: None,
    kind: Kind::Number,
    sides: BOTH,
    help: "Seconds workers get to finish in-flight requests on stop, reload or recycle.",
    doc: "Seconds in-flight requests get to finish when workers stop, reload or\nrecycle.",
    check: |s| v::seconds(s).map(drop),
};

/// `shutdown_delay`.
pub static SHUTDOWN_DELAY: Setting = Setting {
    key: "shutdown_delay",
    flag: "--shutdown-delay",
    short: None,
    alias: None,
    value_name: "SECONDS",
    default: "0",
    alone: None,
    kind: Kind::Number,
    sides: MASTER,
    help: "Seconds rg keeps serving after a graceful stop signal, /readyz answering 503, before it drains.",
    doc: "Seconds rg keeps serving after a graceful stop signal, with /readyz\nanswering 503, before it drains: time for a balancer or Kubernetes to\ntake the host out of rotation. 0 drains at once.",
    check: |s| v::seconds(s).map(drop),
};

/// `graceful_signals`.
pub static GRACEFUL_SIGNALS: Setting = Setting {
    key: "graceful_signals",
    flag: "--graceful-signals",
    short: None,
    alias: None,
    value_name: "SIGNALS",
    default: "TERM",
    alone: None,
    kind: Kind::List,
    sides: MASTER,
    help: "Which of TERM, INT and QUIT stop gracefully; the others stop at once.",
    doc: "Which of TERM, INT and QUIT stop rg gracefully (shutdown_delay, then a\ndrain); the others stop it at once. Gunicorn's meanings by default; add\n\"INT\" where a platform stops services with SIGINT (Nomad's default).",
    check: |s| v::stop_signals(s).map(drop),
};

/// `keepalive`.
pub static KEEPALIVE: Setting = Setting {
    key: "keepalive",
    flag: "--keepalive",
    short: None,
    alias: None,
    value_name: "SECONDS",
    default: "5",
    alone: None,
    kind: Kind::Number,
    sides: WORKER,
    help: "Seconds a connection may take to send a request's headers, idle keep-alive included.",
    doc: "Seconds a connection may take to send a request's headers, idle\nkeep-alive time included.",
    check: |s| v::seconds(s).map(drop),
};

/// `body_read_timeout`, NGINX Unit's name (nginx's `client_body_timeout`).
pub static BODY_READ_TIMEOUT: Setting = Setting {
    key: "body_read_timeout",
    flag: "--body-read-timeout",
    short: None,
    alias: None,
    value_name: "SECONDS",
    default: "30",
    alone: None,
    kind: Kind::Number,
    sides: WORKER,
    help: "Seconds a client may leave between two reads of a request body the application waits for; then 408 and close (0: no limit; needs strict_http).",
    doc: "Seconds a client may leave between two reads of a request's body while\nthe application waits for it (not the time for the whole body); a\nslower client gets 408 and its connection closed. 0: no limit. Checked\nby the strict layer, so only with strict_http on.",
    check: |s| v::seconds(s).map(drop),
};

/// `body_min_rate`, Apache's `mod_reqtimeout` `MinRate` (its default too).
pub static BODY_MIN_RATE: Setting = Setting {
    key: "body_min_rate",
    flag: "--body-min-rate",
    short: None,
    alias: None,
    value_name: "BYTES",
    default: "500",
    alone: None,
    kind: Kind::Number,
    sides: WORKER,
    help: "Bytes a second a request body must come at on average, after body_read_timeout of grace; slower: 408 and close (0: off; needs strict_http).",
    doc: "The least average rate, in bytes a second, at which a client must send\na request body the application waits for: the body may be waited for\nbody_read_timeout, plus a second for every body_min_rate bytes that\ncame. Only time spent waiting on the client counts. A slower client gets\n408 and its connection closed. 0, or a body_read_timeout of 0, turns it\noff. Checked by the strict layer, so only with strict_http on.",
    check: |s| v::rate(s).map(drop),
};

/// `send_timeout`, NGINX Unit's name and default (nginx's has the same
/// name, 60 s).
pub static SEND_TIMEOUT: Setting = Setting {
    key: "send_timeout",
    flag: "--send-timeout",
    short: None,
    alias: None,
    value_name: "SECONDS",
    default: "30",
    alone: None,
    kind: Kind::Number,
    sides: WORKER,
    help: "Seconds a write may wait for a client that reads nothing of a response or WebSocket; then the connection is closed (0: no limit).",
    doc: "Seconds a write to a client may wait while the client reads nothing\n(not the time for the whole response): a client that stops reading a\nresponse, or a WebSocket's messages, has its connection closed. 0: no\nlimit. Kept with strict_http on or off.",
    check: |s| v::seconds(s).map(drop),
};

/// `backlog`.
pub static BACKLOG: Setting = Setting {
    key: "backlog",
    flag: "--backlog",
    short: None,
    alias: None,
    value_name: "N",
    default: "2048",
    alone: None,
    kind: Kind::Number,
    sides: ALL,
    help: "Length of each listening socket's queue.",
    doc: "Length of the listen queue.",
    check: |s| v::backlog(s).map(drop),
};

/// `max_requests`.
pub static MAX_REQUESTS: Setting = Setting {
    key: "max_requests",
    flag: "--max-requests",
    short: None,
    alias: None,
    value_name: "N",
    default: "0",
    alone: None,
    kind: Kind::Number,
    sides: WORKER,
    help: "Requests after which a worker is replaced (0: never).",
    doc: "Requests after which a worker is replaced (0: never). The replacement is\nready before the old worker stops.",
    check: |s| v::whole(s).map(drop),
};

/// `max_requests_jitter`.
pub static MAX_REQUESTS_JITTER: Setting = Setting {
    key: "max_requests_jitter",
    flag: "--max-requests-jitter",
    short: None,
    alias: None,
    value_name: "N",
    default: "0",
    alone: None,
    kind: Kind::Number,
    sides: WORKER,
    help: "A random 0..=N added to max_requests per worker.",
    doc: "A random 0..=max_requests_jitter added to max_requests, so workers do\nnot all restart at once.",
    check: |s| v::whole(s).map(drop),
};

/// `max_worker_lifetime`.
pub static MAX_WORKER_LIFETIME: Setting = Setting {
    key: "max_worker_lifetime",
    flag: "--max-worker-lifetime",
    short: None,
    alias: None,
    value_name: "SECONDS",
    default: "0",
    alone: None,
    kind: Kind::Number,
    sides: MASTER,
    help: "Seconds after which a worker is replaced, its replacement ready first (0: never).",
    doc: "Seconds after which a worker is replaced (0: never), plus a share of\nmax_worker_lifetime_jitter so workers do not all go at once. The\nreplacement is ready before the old worker stops.",
    check: |s| v::seconds(s).map(drop),
};

/// `max_worker_lifetime_jitter`.
pub static MAX_WORKER_LIFETIME_JITTER: Setting = Setting {
    key: "max_worker_lifetime_jitter",
    flag: "--max-worker-lifetime-jitter",
    short: None,
    alias: None,
    value_name: "SECONDS",
    default: "0",
    alone: None,
    kind: Kind::Number,
    sides: MASTER,
    help: "Up to this many seconds more of lifetime, spread over the workers.",
    doc: "Up to this many seconds added to max_worker_lifetime, spread over the\nworkers.",
    check: |s| v::seconds(s).map(drop),
};

/// `max_worker_rss`.
pub static MAX_WORKER_RSS: Setting = Setting {
    key: "max_worker_rss",
    flag: "--max-worker-rss",
    short: None,
    alias: None,
    value_name: "MB",
    default: "0",
    alone: None,
    kind: Kind::Number,
    sides: MASTER,
    help: "Megabytes of resident memory over which a worker is replaced, after 3 samples a second apart (0: never).",
    doc: "Megabytes of resident memory over which a worker is replaced (0: never).\nThe master samples each worker once a second; three samples in a row\nover the limit recycle it, so a spike does not. The replacement is ready\nbefore the old worker stops.",
    check: |s| v::whole(s).map(drop),
};

/// `limit_request_line`.
pub static LIMIT_REQUEST_LINE: Setting = Setting {
    key: "limit_request_line",
    flag: "--limit-request-line",
    short: None,
    alias: None,
    value_name: "BYTES",
    default: "4094",
    alone: None,
    kind: Kind::Number,
    sides: WORKER,
    help: "Longest request line in bytes, without its CRLF; longer is answered 414 (0: no limit).",
    doc: "Limits on a request's head, as Gunicorn's. The request line in bytes\n(longer: 414); 0 lifts the limit.",
    check: |s| v::size(s).map(drop),
};

/// `limit_request_fields`.
pub static LIMIT_REQUEST_FIELDS: Setting = Setting {
    key: "limit_request_fields",
    flag: "--limit-request-fields",
    short: None,
    alias: None,
    value_name: "N",
    default: "100",
    alone: None,
    kind: Kind::Number,
    sides: WORKER,
    help: "Most header fields in one request, up to 32768; more is answered 431.",
    doc: "The number of header fields in a request (more: 431), up to 32768.",
    check: |s| v::fields(s).map(drop),
};

/// `limit_request_field_size`.
pub static LIMIT_REQUEST_FIELD_SIZE: Setting = Setting {
    key: "limit_request_field_size",
    flag: "--limit-request-field-size",
    short: None,
    alias: Some("limit-request-field_size"),
    value_name: "BYTES",
    default: "8190",
    alone: None,
    kind: Kind::Number,
    sides: WORKER,
    help: "Longest header field line (name: value and its CRLF) in bytes; longer is answered 431 (0: no limit).",
    doc: "The size of one header field line, \"Name: value\" and its CRLF, in\nbytes (longer: 431), as Gunicorn counts it; 0 lifts the limit.",
    check: |s| v::size(s).map(drop),
};

/// `metrics_bind`.
pub static METRICS_BIND: Setting = Setting {
    key: "metrics_bind",
    flag: "--metrics-bind",
    short: None,
    alias: None,
    value_name: "ADDRESS",
    default: "",
    alone: None,
    kind: Kind::Text,
    sides: MASTER,
    help: "Serve /metrics (Prometheus), /healthz, /readyz and /status at this address, HOST:PORT or unix:PATH (off by default).",
    doc: "An address for the master's own port, HOST:PORT or unix:PATH: /metrics\n(Prometheus), /healthz, /readyz (503 while stopping) and /status (what\n`rg status` prints). Off when empty. Keep it private: firewall it, or\nuse 127.0.0.1 or a unix socket.",
    check: |s| v::metrics_bind(s).map(drop),
};

/// `strict_http`.
pub static STRICT_HTTP: Setting = Setting {
    key: "strict_http",
    flag: "--strict-http",
    short: None,
    alias: None,
    value_name: "BOOL",
    default: "true",
    alone: None,
    kind: Kind::Switch,
    sides: WORKER,
    help: "Refuse requests RFC 9112/9110 rejects or a proxy could read differently (smuggling), before the application; false only to measure its cost or in an emergency.",
    doc: "Workers refuse, before the application sees them, requests that RFC\n9112/9110 says to reject or that a proxy in front could read differently\n(request smuggling), and enforce the limits above on the bytes as sent.\nThe rules are in the book's operations chapter. Turn it off only to\nmeasure what it costs, or in an emergency: a client that must be served\nand breaks a rule. Off, hyper's own parsing is all that stands in front.",
    check: |s| v::switch(s).map(drop),
};

/// `pidfile`.
pub static PIDFILE: Setting = Setting {
    key: "pidfile",
    flag: "--pid",
    short: Some('p'),
    alias: None,
    value_name: "FILE",
    default: "",
    alone: None,
    kind: Kind::Text,
    sides: MASTER,
    help: "A file to write the master's pid to (removed on exit).",
    doc: "A file to write the master's pid to; removed on exit.",
    check: |_| Ok(()),
};

/// `control_socket`.
pub static CONTROL_SOCKET: Setting = Setting {
    key: "control_socket",
    flag: "--control-socket",
    short: None,
    alias: None,
    value_name: "PATH",
    default: "rg.ctl",
    alone: None,
    kind: Kind::Text,
    sides: MASTER,
    help: "The unix socket `rg ctl` talks to the master on (mode 0600); \"\" for none.",
    doc: "The unix socket `rg ctl` talks to the running master on, relative to the\ndirectory rg serve runs in; mode 0600, the master's user only. \"\" for none.",
    check: |_| Ok(()),
};

/// `user`.
pub static USER: Setting = Setting {
    key: "user",
    flag: "--user",
    short: Some('u'),
    alias: None,
    value_name: "USER",
    default: "",
    alone: None,
    kind: Kind::Text,
    sides: MASTER,
    help: "Run the workers as this user (a name or a uid); rg serve must run as root.",
    doc: "Run the workers as this user (a name or an id) while the master keeps\nits own identity; rg serve must then run as root. Unix socket files rg\ncreates are theirs.",
    check: |_| Ok(()),
};

/// `group`.
pub static GROUP: Setting = Setting {
    key: "group",
    flag: "--group",
    short: Some('g'),
    alias: None,
    value_name: "GROUP",
    default: "",
    alone: None,
    kind: Kind::Text,
    sides: MASTER,
    help: "Run the workers in this group (a name or a gid); empty: the user's own group.",
    doc: "Run the workers in this group (a name or an id); empty: the user's own.",
    check: |_| Ok(()),
};

/// `unix_socket_mode`.
pub static UNIX_SOCKET_MODE: Setting = Setting {
    key: "unix_socket_mode",
    flag: "--unix-socket-mode",
    short: None,
    alias: None,
    value_name: "MODE",
    default: "0666",
    alone: None,
    kind: Kind::Text,
    sides: MASTER,
    help: "Permissions of unix sockets rg creates, in octal.",
    doc: "Permissions of unix sockets rg creates, in octal.",
    check: |s| v::octal_mode(s).map(drop),
};

/// `access_log`.
pub static ACCESS_LOG: Setting = Setting {
    key: "access_log",
    flag: "--access-logfile",
    short: None,
    alias: None,
    value_name: "FILE",
    default: "-",
    alone: None,
    kind: Kind::Text,
    sides: WORKER,
    help: "Access log: - for stdout, a file path, or off.",
    doc: "Access log: \"-\" for stdout, a file path, or \"off\".",
    check: |_| Ok(()),
};

/// `access_log_format`.
pub static ACCESS_LOG_FORMAT: Setting = Setting {
    key: "access_log_format",
    flag: "--access-logformat",
    short: None,
    alias: None,
    value_name: "FORMAT",
    default: "combined",
    alone: None,
    kind: Kind::Text,
    sides: WORKER,
    help: "combined, common, json, or an Apache-style format (%h %t \"%r\" %s %b %D ...).",
    doc: "The access log's format: \"combined\", \"common\", \"json\", or an\nApache-style format string (%h %t \"%r\" %s %b %D %{Header}i ...).",
    check: |s| v::access_format(s).map(drop),
};

/// `error_log`.
pub static ERROR_LOG: Setting = Setting {
    key: "error_log",
    flag: "--error-logfile",
    short: None,
    alias: None,
    value_name: "FILE",
    default: "-",
    alone: None,
    kind: Kind::Text,
    sides: BOTH,
    help: "Error log: - for stderr, or a file path.",
    doc: "Error log: \"-\" for stderr or a file path.",
    check: |_| Ok(()),
};

/// `log_level`.
pub static LOG_LEVEL: Setting = Setting {
    key: "log_level",
    flag: "--log-level",
    short: None,
    alias: None,
    value_name: "LEVEL",
    default: "info",
    alone: None,
    kind: Kind::Text,
    sides: BOTH,
    help: "error, warn, info, debug or trace.",
    doc: "The error log's level: error, warn, info, debug or trace.",
    check: |s| v::log_level(s).map(drop),
};

/// `log_format`.
pub static LOG_FORMAT: Setting = Setting {
    key: "log_format",
    flag: "--log-format",
    short: None,
    alias: None,
    value_name: "FORMAT",
    default: "text",
    alone: None,
    kind: Kind::Text,
    sides: BOTH,
    help: "Error log format: text or json.",
    doc: "The error log's format: text or json.",
    check: |s| v::log_format(s).map(drop),
};

/// `forwarded_allow_ips`.
pub static FORWARDED_ALLOW_IPS: Setting = Setting {
    key: "forwarded_allow_ips",
    flag: "--forwarded-allow-ips",
    short: None,
    alias: None,
    value_name: "IPS",
    default: "127.0.0.1,::1",
    alone: None,
    kind: Kind::List,
    sides: WORKER,
    help: "Proxies trusted to set X-Forwarded-For/-Proto, or \"*\"; unix socket peers always are.",
    doc: "Proxies trusted to set X-Forwarded-For / X-Forwarded-Proto (\"*\" for any);\nunix socket peers always are.",
    check: |s| v::forwarded_allow(s).map(drop),
};

/// `proxy_protocol`.
pub static PROXY_PROTOCOL: Setting = Setting {
    key: "proxy_protocol",
    flag: "--proxy-protocol",
    short: None,
    alias: None,
    value_name: "MODE",
    default: "off",
    alone: None,
    kind: Kind::Text,
    sides: WORKER,
    help: "PROXY protocol header from proxy_allow_ips: off, v1, v2 or auto; the client address comes from it.",
    doc: "Connections from proxy_allow_ips start with a PROXY protocol header\n(HAProxy's; \"v1\", \"v2\" or \"auto\" for either), which gives the client's\naddress; from those addresses it is then required. \"off\": none.",
    check: |s| v::proxy_protocol(s).map(drop),
};

/// `proxy_allow_ips`.
pub static PROXY_ALLOW_IPS: Setting = Setting {
    key: "proxy_allow_ips",
    flag: "--proxy-allow-from",
    short: None,
    alias: None,
    value_name: "IPS",
    default: "127.0.0.1,::1",
    alone: None,
    kind: Kind::List,
    sides: WORKER,
    help: "Proxies that send a PROXY protocol header (with proxy_protocol), or \"*\"; unix socket peers always do.",
    doc: "The proxies that send that header (\"*\" for any); unix socket peers\nalways do.",
    check: |s| v::forwarded_allow(s).map(drop),
};

/// `script_name`.
pub static SCRIPT_NAME: Setting = Setting {
    key: "script_name",
    flag: "--script-name",
    short: None,
    alias: None,
    value_name: "PATH",
    default: "",
    alone: None,
    kind: Kind::Text,
    sides: WORKER,
    help: "The path prefix the application is mounted under behind a proxy, e.g. /app.",
    doc: "The path prefix the application is mounted under behind a proxy.",
    check: |s| v::script_name(s).map(drop),
};
