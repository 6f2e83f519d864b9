//! Where the access and error logs go, and in what format.

use crate::settings::Parse::Worker;
use crate::settings::values as v;
use crate::settings::{BOTH, Kind, Setting, WORKER};

/// `access_log`.
pub static ACCESS_LOG: Setting = Setting::new("access_log", WORKER)
    .flag("--access-logfile")
    .value(Kind::Text, "FILE", "-")
    .parse(Worker(|w, s| v::access_log(s).map(|t| w.access_log = t)))
    .help("Access log: - for stdout, a file path, or off.")
    .doc("Access log: \"-\" for stdout, a file path, or \"off\".");

/// `access_log_format`.
pub static ACCESS_LOG_FORMAT: Setting = Setting::new("access_log_format", WORKER)
    .flag("--access-logformat")
    .value(Kind::Text, "FORMAT", "combined")
    .parse(Worker(|w, s| {
        v::access_format(s).map(|f| w.access_log_format = f)
    }))
    .help("combined, common, json, or an Apache-style format (%h %t \"%r\" %s %b %D ...).")
    .doc(
        "The access log's format: \"combined\", \"common\", \"json\", or an\n\
         Apache-style format string (%h %t \"%r\" %s %b %D %{Header}i ...).",
    );

/// `error_log`.
pub static ERROR_LOG: Setting = Setting::new("error_log", BOTH)
    .flag("--error-logfile")
    .value(Kind::Text, "FILE", "-")
    .parse(Worker(|w, s| v::error_log(s).map(|t| w.error_log = t)))
    .help("Error log: - for stderr, or a file path.")
    .doc("Error log: \"-\" for stderr or a file path.");

/// `log_level`.
pub static LOG_LEVEL: Setting = Setting::new("log_level", BOTH)
    .flag("--log-level")
    .value(Kind::Text, "LEVEL", "info")
    .parse(Worker(|w, s| v::log_level(s).map(|l| w.log_level = l)))
    .help("error, warn, info, debug or trace.")
    .doc("The error log's level: error, warn, info, debug or trace.");

/// `log_format`.
pub static LOG_FORMAT: Setting = Setting::new("log_format", BOTH)
    .flag("--log-format")
    .value(Kind::Text, "FORMAT", "text")
    .parse(Worker(|w, s| v::log_format(s).map(|f| w.log_format = f)))
    .help("Error log format: text or json.")
    .doc("The error log's format: text or json.");
