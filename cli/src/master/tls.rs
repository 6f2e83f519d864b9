//! The TLS identity (`certfile`, `keyfile`) the master reads at start and on
//! HUP, and hands each worker it starts as a memory file.

use std::os::fd::{AsRawFd as _, OwnedFd, RawFd};

use anyhow::{Context as _, Result};
use rg_contract::settings::{CA_CERTS, CERT_REQS, CERTFILE, KEYFILE};
use rg_contract::tls::{ClientAuth, Identity};

use crate::config::Settings;

/// The identity workers get, in the memory file they inherit.
#[derive(Debug)]
pub struct Tls {
    file: OwnedFd,
}

impl Tls {
    /// Reads and checks the pair `settings` names; `None` without one. An
    /// error names the setting, its file and what is wrong.
    pub fn load(settings: &Settings) -> Result<Option<Tls>> {
        let (certfile, keyfile) = match (&settings.master.certfile, &settings.master.keyfile) {
            (None, None) => return Ok(None),
            (Some(certfile), Some(keyfile)) => (certfile, keyfile),
            (Some(_), None) => return Err(settings.invalid(CERTFILE.key, "needs keyfile too")),
            (None, Some(_)) => return Err(settings.invalid(KEYFILE.key, "needs certfile too")),
        };
        let client = match (&settings.master.ca_certs, settings.master.cert_reqs) {
            (_, ClientAuth::None) => None,
            (Some(cas), auth) => Some((cas.as_path(), auth)),
            (None, _) => {
                return Err(
                    settings.invalid(CERT_REQS.key, "needs ca_certs, the authorities to check against")
                );
            }
        };
        let identity = Identity::load(certfile, keyfile, client).map_err(|e| {
            let key = if e.file == *keyfile {
                KEYFILE.key
            } else if client.is_some_and(|(cas, _)| e.file == cas) {
                CA_CERTS.key
            } else {
                CERTFILE.key
            };
            settings.invalid(key, &e.to_string())
        })?;
        let file = identity
            .to_memfd()
            .context("could not hand the TLS identity to the workers")?;
        Ok(Some(Tls { file }))
    }

    /// The descriptor a worker inherits.
    pub fn fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}
