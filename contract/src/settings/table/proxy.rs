//! Behind a proxy: whom to trust for the client's address and scheme, the
//! PROXY protocol, and the path prefix the application is mounted under.

use crate::settings::Parse::Worker;
use crate::settings::values as v;
use crate::settings::{Kind, Setting, WORKER};

/// `forwarded_allow_ips`.
pub static FORWARDED_ALLOW_IPS: Setting = Setting::new("forwarded_allow_ips", WORKER)
    .flag("--forwarded-allow-ips")
    .value(Kind::List, "IPS", "127.0.0.1,::1")
    .parse(Worker(|w, s| {
        v::forwarded_allow(s).map(|ips| w.forwarded_allow_ips = ips)
    }))
    .help("Proxies trusted to set X-Forwarded-For/-Proto, or \"*\"; unix socket peers always are.")
    .doc(
        "Proxies trusted to set X-Forwarded-For / X-Forwarded-Proto (\"*\" for any);\n\
         unix socket peers always are.",
    );

/// `proxy_protocol`.
pub static PROXY_PROTOCOL: Setting = Setting::new("proxy_protocol", WORKER)
    .flag("--proxy-protocol")
    .value(Kind::Text, "MODE", "off")
    .parse(Worker(|w, s| v::proxy_protocol(s).map(|p| w.proxy_protocol = p)))
    .help(
        "PROXY protocol header from proxy_allow_ips: off, v1, v2 or auto; the client address comes from it.",
    )
    .doc(
        "Connections from proxy_allow_ips start with a PROXY protocol header\n\
         (HAProxy's; \"v1\", \"v2\" or \"auto\" for either), which gives the client's\n\
         address; from those addresses it is then required. \"off\": none.",
    );

/// `proxy_allow_ips`.
pub static PROXY_ALLOW_IPS: Setting = Setting::new("proxy_allow_ips", WORKER)
    .flag("--proxy-allow-from")
    .value(Kind::List, "IPS", "127.0.0.1,::1")
    .parse(Worker(|w, s| {
        v::forwarded_allow(s).map(|ips| w.proxy_allow_ips = ips)
    }))
    .help(
        "Proxies that send a PROXY protocol header (with proxy_protocol), or \"*\"; unix socket peers always \
         do.",
    )
    .doc(
        "The proxies that send that header (\"*\" for any); unix socket peers\n\
         always do.",
    );

/// `script_name`.
pub static SCRIPT_NAME: Setting = Setting::new("script_name", WORKER)
    .flag("--script-name")
    .value(Kind::Text, "PATH", "")
    .parse(Worker(|w, s| v::script_name(s).map(|p| w.script_name = p)))
    .help("The path prefix the application is mounted under behind a proxy, e.g. /app.")
    .doc("The path prefix the application is mounted under behind a proxy.");
