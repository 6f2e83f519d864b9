//! Where rg listens and how much it runs: sockets, processes, threads,
//! connections (Gunicorn's "server socket" and "worker processes").

use crate::settings::Parse::{Master, Worker};
use crate::settings::values as v;
use crate::settings::{ALL, Kind, MASTER, Setting, WORKER};

/// `bind`.
pub static BIND: Setting = Setting::new("bind", ALL)
    .flag("--bind")
    .short('b')
    .value(Kind::List, "ADDRESS", "127.0.0.1:8000")
    .parse(Worker(|w, s| v::bind_list(s).map(|b| w.bind = b)))
    .help("Addresses to listen on: HOST:PORT, [V6]:PORT, unix:PATH, fd://N.")
    .doc(
        "Addresses to listen on: \"HOST:PORT\", \"[::1]:PORT\", \"unix:/path/to.sock\",\n\
         \"fd://N\". Several are allowed.",
    );

/// `insecure_bind`.
pub static INSECURE_BIND: Setting = Setting::new("insecure_bind", MASTER)
    .flag("--insecure-bind")
    .value(Kind::List, "ADDRESS", "")
    .parse(Master(|m, s| {
        v::bind_list_or_none(s).map(|b| m.insecure_bind = b)
    }))
    .help("Addresses served in plain HTTP beside bind's HTTPS ones (a unix socket for nginx, say).")
    .doc(
        "Addresses that serve plain HTTP while bind's serve HTTPS (certfile set):
         a unix socket for nginx beside a public HTTPS port, say. Hypercorn's
         name. Without certfile they serve as bind's addresses do.",
    );

/// `workers`.
pub static WORKERS: Setting = Setting::new("workers", MASTER)
    .flag("--workers")
    .short('w')
    .value(Kind::Number, "N", "cpu_count")
    .parse(Master(|m, s| v::count(s).map(|n| m.workers = n)))
    .help("Worker processes; a number or an expression like \"cpu_count * 2 + 1\".")
    .doc(
        "Worker processes: a number, or an expression on cpu_count such as the\n\
         seed's rule of thumb for blocking workers, \"cpu_count * 2 + 1\". Async\n\
         workers need far fewer: one per CPU is the default.",
    );

/// `threads`.
pub static THREADS: Setting = Setting::new("threads", WORKER)
    .flag("--threads")
    .value(Kind::Number, "N", "1")
    .alone("cpu_count")
    .parse(Worker(|w, s| v::count(s).map(|n| w.threads = n)))
    .help("Threads of each worker's async runtime; a number or an expression.")
    .doc(
        "Threads of each worker's async runtime. 1 runs a single-threaded runtime\n\
         per worker (and lets the heartbeat catch a handler that blocks it).",
    );

/// `worker_connections`.
pub static WORKER_CONNECTIONS: Setting = Setting::new("worker_connections", WORKER)
    .flag("--worker-connections")
    .value(Kind::Number, "N", "1000")
    .parse(Worker(|w, s| v::connections(s).map(|n| w.worker_connections = n)))
    .help(
        "Most connections each worker serves at once; at the limit, idle keep-alive ones are closed for new \
         clients.",
    )
    .doc(
        "Most connections each worker serves at once (open keep-alive connections\n\
         count). Past it a worker stops accepting: new connections wait in the\n\
         listen queue, where another worker can take them, instead of piling\n\
         onto a busy one. While a client waits, the worker closes its longest\n\
         idle keep-alive connection to make room; it never closes one in the\n\
         middle of a request. rg raises the soft open files limit to this plus\n\
         1024 at start (never past the hard limit), and says so when the hard\n\
         limit is too low.",
    );

/// `backlog`.
pub static BACKLOG: Setting = Setting::new("backlog", ALL)
    .flag("--backlog")
    .value(Kind::Number, "N", "2048")
    .parse(Worker(|w, s| v::backlog(s).map(|n| w.backlog = n)))
    .help("Length of each listening socket's queue.")
    .doc("Length of the listen queue.");
