//! TLS in `rg serve`: the certificate and key the master reads (Gunicorn's
//! names), handed to workers so the key may be readable by root only.

use crate::settings::Parse::Master;
use crate::settings::values as v;
use crate::settings::{Kind, MASTER, Setting};

/// `certfile`.
pub static CERTFILE: Setting = Setting::new("certfile", MASTER)
    .flag("--certfile")
    .value(Kind::Text, "FILE", "")
    .parse(Master(|m, s| v::path(s).map(|p| m.certfile = p)))
    .help("PEM certificate chain (leaf first): with keyfile, every bind serves HTTPS.")
    .doc(
        "A PEM certificate chain, the server's certificate first. With keyfile,\n\
         every bind speaks TLS 1.2 or 1.3 and offers HTTP/2 and HTTP/1.1 (ALPN).\n\
         The master reads both files, as the user it starts as, and again on HUP;\n\
         a pair that does not load stops the start, or keeps the old pair serving.",
    );

/// `keyfile`.
pub static KEYFILE: Setting = Setting::new("keyfile", MASTER)
    .flag("--keyfile")
    .value(Kind::Text, "FILE", "")
    .parse(Master(|m, s| v::path(s).map(|p| m.keyfile = p)))
    .help("PEM private key of certfile's certificate (PKCS#8, PKCS#1 or SEC1).")
    .doc("The PEM private key of certfile's certificate: PKCS#8, PKCS#1 or SEC1.");
