//! The open-files limit (`RLIMIT_NOFILE`) a worker needs: a descriptor per
//! connection, and room for its own files.
//!
//! systemd starts services with a soft limit of 1024 and a hard one far
//! above it, so at the default `worker_connections = 1000` a worker would
//! fail accepts with "Too many open files" near its thousandth client. As
//! Go's runtime and nginx's `worker_rlimit_nofile` do, the soft limit is
//! raised at start, here only as far as the connections need and never
//! past the hard limit (a higher soft limit is inherited by any program the
//! application starts, and some close every descriptor up to it).

/// What is kept for the process's own files beside its connections: the
/// listeners, the logs, a database pool, what the application opens.
pub const OWN_FILES: u64 = 1024;

/// Below this many descriptors beyond the connections, the limit is too
/// low to serve `worker_connections` at once: rg warns.
const TOO_FEW: u64 = 64;

/// The outcome of [`ensure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenFiles {
    /// The soft limit already covered the connections (or cannot be read).
    Enough,
    /// The soft limit was raised.
    Raised {
        /// The limit before.
        from: u64,
        /// The limit now.
        to: u64,
    },
    /// Even raised to the hard limit, it leaves too little room.
    Short {
        /// The limit now.
        limit: u64,
        /// What `worker_connections` needs.
        wanted: u64,
    },
}

/// The soft limit a worker serving `connections` at once is given.
pub fn wanted(connections: usize) -> u64 {
    (connections as u64).saturating_add(OWN_FILES)
}

/// Raises this process's soft open-files limit towards [`wanted`] for
/// `connections`, as far as the hard limit allows. The processes it
/// starts afterwards inherit it.
pub fn ensure(connections: usize) -> OpenFiles {
    let wanted = wanted(connections);
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` through the pointer it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return OpenFiles::Enough;
    }
    let from = limit.rlim_cur;
    if from >= wanted {
        return OpenFiles::Enough;
    }
    let to = wanted.min(limit.rlim_max);
    let raised = to > from && {
        let fresh = libc::rlimit {
            rlim_cur: to,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads one `rlimit` from the pointer it is given.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &fresh) == 0 }
    };
    let now = if raised { to } else { from };
    if now < (connections as u64).saturating_add(TOO_FEW) {
        OpenFiles::Short { limit: now, wanted }
    } else if raised {
        OpenFiles::Raised { from, to }
    } else {
        OpenFiles::Enough
    }
}

impl OpenFiles {
    /// Logs it: a raise as information, a limit too low as a warning.
    pub fn log(&self, connections: usize) {
        match *self {
            OpenFiles::Enough => {}
            OpenFiles::Raised { from, to } => tracing::info!(
                "Raised the open files limit from {from} to {to}: worker_connections = {connections}, and {OWN_FILES} for the application's own files"
            ),
            OpenFiles::Short { limit, wanted } => {
                let past = match limit.saturating_sub(TOO_FEW) {
                    0 => "a few connections".to_string(),
                    n => format!("about {n} connections"),
                };
                tracing::warn!(
                    "the open files limit is {limit}, too low for worker_connections = {connections}: clients past {past} per worker wait in the listen queue until descriptors free up. Raise the hard limit to {wanted} (LimitNOFILE= in a systemd unit, `ulimit -Hn` in a shell, minfds in Supervisor) or lower worker_connections"
                )
            }
        }
    }
}
