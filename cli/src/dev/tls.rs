//! `rg runserver --tls`: a certificate for `localhost` made on first use and
//! kept in the target directory (`rg-runserver/tls/`), so a browser's
//! exception for it, or a trust added with its `cert.pem`, lasts across runs.

use std::os::fd::{AsRawFd as _, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result, anyhow};
use rg_contract::tls::Identity;
use rustls::ServerConfig;

/// The development identity: for the application, in a memory file it
/// inherits; for rg's own error page, as a rustls configuration.
#[derive(Debug)]
pub struct DevTls {
    file: OwnedFd,
    pub config: Arc<ServerConfig>,
    pub cert: PathBuf,
}

impl DevTls {
    /// The certificate kept in `dir`, made there if there is none (or the
    /// one there no longer loads: expired, say).
    pub fn load_or_make(dir: &Path) -> Result<DevTls> {
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let identity = match Identity::load(&cert, &key, None) {
            Ok(identity) => identity,
            Err(_) => make(dir, &cert, &key)?,
        };
        let config = identity.server_config().map_err(|e| anyhow!(e))?;
        let file = identity
            .to_memfd()
            .context("could not hand the development certificate to the application")?;
        Ok(DevTls { file, config, cert })
    }

    /// The descriptor the application inherits.
    pub fn fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

/// A self-signed certificate for localhost, 127.0.0.1 and ::1, valid for a
/// year; its key readable by its owner only.
fn make(dir: &Path, cert: &Path, key: &Path) -> Result<Identity> {
    let names = ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec();
    let made =
        rcgen::generate_simple_self_signed(names).context("could not make a development certificate")?;
    let (chain, secret) = (made.cert.pem(), made.signing_key.serialize_pem());
    std::fs::create_dir_all(dir).with_context(|| format!("could not create `{}`", dir.display()))?;
    std::fs::write(cert, &chain).with_context(|| format!("could not write `{}`", cert.display()))?;
    write_private(key, secret.as_bytes())?;
    Identity::from_pem(chain.into_bytes(), secret.into_bytes()).map_err(|e| anyhow!(e))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("could not write `{}`", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("could not write `{}`", path.display()))
}
