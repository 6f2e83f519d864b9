//! A TLS identity (`certfile`, `keyfile`: a PEM certificate chain and its
//! key) as the master reads and checks it before any worker starts, and
//! hands it to each worker in a memory file, so the key may be readable by
//! root only. Workers build their rustls configuration from it; with
//! `ca_certs` and `cert_reqs`, clients show certificates (mutual TLS).

use std::fmt;
use std::fs::File;
use std::io::{self, Seek as _, Write as _};
use std::os::fd::{FromRawFd as _, OwnedFd, RawFd};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::ring;

mod der;

pub use der::{not_after, subject};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The variable naming the descriptor a worker reads its identity from.
pub const TLS_FD: &str = "RG_INTERNAL_TLS_FD";

/// The variable naming the listeners (positions from 0) that serve plain
/// HTTP beside the TLS ones (`insecure_bind`).
pub const PLAIN_LISTENERS: &str = "RG_INTERNAL_PLAIN_LISTENERS";

/// What a TLS connection may speak, by preference (ALPN).
const PROTOCOLS: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Whether clients must show a certificate (`cert_reqs`, Gunicorn's
/// `CERT_NONE`, `CERT_OPTIONAL`, `CERT_REQUIRED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    #[default]
    None,
    /// A certificate, if shown, must be signed by `ca_certs`.
    Optional,
    /// No certificate signed by `ca_certs`, no connection.
    Required,
}

/// A certificate chain and its private key, PEM, checked to belong
/// together; and the authorities client certificates are checked against.
#[derive(Clone)]
pub struct Identity {
    chain: Vec<u8>,
    key: Vec<u8>,
    client_cas: Vec<u8>,
    client_auth: ClientAuth,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key.
        f.debug_struct("Identity")
            .field("client_auth", &self.client_auth)
            .finish_non_exhaustive()
    }
}

/// Why an identity cannot be used: the file, and what is wrong with it.
#[derive(Debug)]
pub struct TlsError {
    pub file: PathBuf,
    pub reason: String,
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.reason)
    }
}

impl std::error::Error for TlsError {}

impl Identity {
    /// Reads `certfile` and `keyfile` and checks that they hold a chain and
    /// the key of its first certificate; with `client`, the authorities
    /// (`ca_certs`) client certificates are checked against, and whether a
    /// client must show one.
    pub fn load(
        certfile: &Path,
        keyfile: &Path,
        client: Option<(&Path, ClientAuth)>,
    ) -> Result<Identity, TlsError> {
        let read = |file: &Path| {
            std::fs::read(file).map_err(|e| TlsError {
                file: file.to_path_buf(),
                reason: format!("cannot read it: {e}"),
            })
        };
        let identity = Identity {
            chain: read(certfile)?,
            key: read(keyfile)?,
            client_cas: match client {
                Some((cas, _)) => read(cas)?,
                None => Vec::new(),
            },
            client_auth: client.map_or(ClientAuth::None, |(_, auth)| auth),
        };
        identity.config().map_err(|(which, reason)| TlsError {
            file: match (which, client) {
                (Part::Key, _) => keyfile,
                (Part::ClientCas, Some((cas, _))) => cas,
                _ => certfile,
            }
            .to_path_buf(),
            reason,
        })?;
        Ok(identity)
    }

    /// An identity from PEM in memory (a development certificate), checked
    /// as [`Identity::load`] checks files.
    pub fn from_pem(chain: Vec<u8>, key: Vec<u8>) -> Result<Identity, String> {
        let identity = Identity {
            chain,
            key,
            client_cas: Vec::new(),
            client_auth: ClientAuth::None,
        };
        identity.config().map_err(|(_, reason)| reason)?;
        Ok(identity)
    }

    /// The rustls configuration of a server with this identity: TLS 1.2 and
    /// 1.3 with rustls's default (modern) suites, HTTP/2 offered first.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, String> {
        self.config().map(Arc::new).map_err(|(_, reason)| reason)
    }

    // ring rather than aws-lc-rs keeps every project's build free of a large
    // C library; the price is no post-quantum key exchange, hence `deprecated`.
    #[allow(deprecated)]
    fn config(&self) -> Result<ServerConfig, (Part, String)> {
        let chain = CertificateDer::pem_slice_iter(&self.chain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| (Part::Chain, format!("not a PEM certificate chain: {e}")))?;
        let Some(leaf) = chain.first() else {
            return Err((Part::Chain, "holds no PEM certificate".to_string()));
        };
        match not_after(leaf) {
            None => return Err((Part::Chain, "its first certificate does not parse".to_string())),
            Some(end) if end < std::time::SystemTime::now() => {
                return Err((
                    Part::Chain,
                    format!("the certificate expired at {}", crate::access_log::rfc3339(end)),
                ));
            }
            Some(_) => {}
        }
        let key = PrivateKeyDer::from_pem_slice(&self.key)
            .map_err(|e| (Part::Key, format!("not a PEM private key: {e}")))?;
        let provider = Arc::new(ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| (Part::Chain, e.to_string()))?;
        let builder = match self.client_auth {
            ClientAuth::None => builder.with_no_client_auth(),
            auth => builder.with_client_cert_verifier(self.client_verifier(auth, provider)?),
        };
        let mut config = builder.with_single_cert(chain, key).map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => (
                Part::Key,
                "this key does not belong to the certificate in certfile".to_string(),
            ),
            e => (Part::Key, e.to_string()),
        })?;
        config.alpn_protocols = PROTOCOLS.iter().map(|p| p.to_vec()).collect();
        Ok(config)
    }

    fn client_verifier(
        &self,
        auth: ClientAuth,
        provider: Arc<rustls::crypto::CryptoProvider>,
    ) -> Result<Arc<dyn ClientCertVerifier>, (Part, String)> {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&self.client_cas) {
            let cert = cert.map_err(|e| (Part::ClientCas, format!("not a PEM certificate: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| (Part::ClientCas, format!("not a CA certificate: {e}")))?;
        }
        if roots.is_empty() {
            return Err((Part::ClientCas, "holds no PEM certificate".to_string()));
        }
        let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
        let builder = match auth {
            ClientAuth::Optional => builder.allow_unauthenticated(),
            _ => builder,
        };
        builder.build().map_err(|e| (Part::ClientCas, e.to_string()))
    }

    /// The identity in a memory file a worker inherits (close-on-exec set:
    /// the spawner moves it to the descriptor the worker is told).
    pub fn to_memfd(&self) -> io::Result<OwnedFd> {
        // SAFETY: a NUL-terminated name and flags; the result is checked.
        let fd = unsafe { libc::memfd_create(c"rg-tls".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is owned by nothing else.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut file = File::from(owned);
        for part in [&self.chain, &self.key, &self.client_cas] {
            file.write_all(&(part.len() as u64).to_le_bytes())?;
            file.write_all(part)?;
        }
        file.write_all(&[self.client_auth as u8])?;
        file.rewind()?;
        Ok(file.into())
    }

    /// Reads the identity the master handed over at `fd`, and closes it.
    /// Every worker's descriptor shares one file offset: reads are `pread`s.
    pub fn from_fd(fd: RawFd) -> io::Result<Identity> {
        // SAFETY: the master passed this descriptor for this process alone;
        // taking it here closes it once read.
        let file = unsafe { File::from_raw_fd(fd) };
        let mut all = vec![0u8; usize::try_from(file.metadata()?.len()).unwrap_or(0)];
        file.read_exact_at(&mut all, 0)?;
        let bad = || io::Error::new(io::ErrorKind::InvalidData, "a truncated TLS identity");
        let mut rest = all.as_slice();
        let mut part = || -> io::Result<Vec<u8>> {
            let (len, after) = rest.split_first_chunk::<8>().ok_or_else(bad)?;
            let len = usize::try_from(u64::from_le_bytes(*len)).map_err(|_| bad())?;
            let (bytes, after) = after.split_at_checked(len).ok_or_else(bad)?;
            rest = after;
            Ok(bytes.to_vec())
        };
        let (chain, key, client_cas) = (part()?, part()?, part()?);
        let client_auth = match rest {
            [0] => ClientAuth::None,
            [1] => ClientAuth::Optional,
            [2] => ClientAuth::Required,
            _ => return Err(bad()),
        };
        Ok(Identity {
            chain,
            key,
            client_cas,
            client_auth,
        })
    }

    /// The descriptor number a worker finds in [`TLS_FD`].
    pub fn fd_from_env(value: &str) -> Option<RawFd> {
        value.parse().ok().filter(|fd: &RawFd| *fd > 2)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Chain,
    Key,
    ClientCas,
}
