//! What a request may look like before the application sees it: Gunicorn's
//! limits on its head, and the strict HTTP/1 checks.

use crate::settings::Parse::Worker;
use crate::settings::values as v;
use crate::settings::{Kind, Setting, WORKER};

/// `limit_request_line`.
pub static LIMIT_REQUEST_LINE: Setting = Setting::new("limit_request_line", WORKER)
    .flag("--limit-request-line")
    .value(Kind::Number, "BYTES", "4094")
    .parse(Worker(|w, s| v::size(s).map(|n| w.limits.request_line = n)))
    .help("Longest request line in bytes, without its CRLF; longer is answered 414 (0: no limit).")
    .doc(
        "Limits on a request's head, as Gunicorn's. The request line in bytes\n\
         (longer: 414); 0 lifts the limit.",
    );

/// `limit_request_fields`.
pub static LIMIT_REQUEST_FIELDS: Setting = Setting::new("limit_request_fields", WORKER)
    .flag("--limit-request-fields")
    .value(Kind::Number, "N", "100")
    .parse(Worker(|w, s| v::fields(s).map(|n| w.limits.request_fields = n)))
    .help("Most header fields in one request, up to 32768; more is answered 431.")
    .doc("The number of header fields in a request (more: 431), up to 32768.");

/// `limit_request_field_size`.
pub static LIMIT_REQUEST_FIELD_SIZE: Setting = Setting::new("limit_request_field_size", WORKER)
    .flag("--limit-request-field-size")
    .alias("limit-request-field_size")
    .value(Kind::Number, "BYTES", "8190")
    .parse(Worker(|w, s| v::size(s).map(|n| w.limits.request_field_size = n)))
    .help(
        "Longest header field line (name: value and its CRLF) in bytes; longer is answered 431 (0: no \
         limit).",
    )
    .doc(
        "The size of one header field line, \"Name: value\" and its CRLF, in\n\
         bytes (longer: 431), as Gunicorn counts it; 0 lifts the limit.",
    );

/// `strict_http`.
pub static STRICT_HTTP: Setting = Setting::new("strict_http", WORKER)
    .flag("--strict-http")
    .value(Kind::Switch, "BOOL", "true")
    .parse(Worker(|w, s| v::switch(s).map(|on| w.strict_http = on)))
    .help(
        "Refuse requests RFC 9112/9110 rejects or a proxy could read differently (smuggling), before the \
         application; false only to measure its cost or in an emergency.",
    )
    .doc(
        "Workers refuse, before the application sees them, requests that RFC\n\
         9112/9110 says to reject or that a proxy in front could read differently\n\
         (request smuggling), and enforce the limits above on the bytes as sent.\n\
         The rules are in the book's operations chapter. Turn it off only to\n\
         measure what it costs, or in an emergency: a client that must be served\n\
         and breaks a rule. Off, hyper's own parsing is all that stands in front.",
    );
