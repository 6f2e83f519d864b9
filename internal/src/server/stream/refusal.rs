//! Writing a refusal (a bad request, a PROXY header that is not one, a body
//! that timed out) after all hyper wrote, and telling the access log and
//! the metrics. The close lingers, as nginx's does: a close with unread
//! bytes resets the connection and can destroy the answer before it is read.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::{HeaderMap, Method, StatusCode, Version};
use rg_contract::access_log::{AccessFormat, AccessRecord};
use rg_contract::logging::ACCESS_TARGET;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tracing::debug;

use super::Io;
use crate::server::http1::Refusal;
use crate::server::stats::Stats;

/// How long, and how many bytes, a refused client may still send before
/// its connection is closed.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 256 * 1024;

/// Where a refusal is told: the access log (its format, when it is on)
/// and the metrics' counts (when the master asked for them).
#[derive(Debug, Clone)]
pub(crate) struct RefusalLog {
    pub(crate) format: Option<Arc<AccessFormat>>,
    /// The client, as the PROXY header named it or else the peer.
    pub(crate) client: Option<SocketAddr>,
    pub(crate) stats: Option<Arc<Stats>>,
}

impl RefusalLog {
    /// Logs `refused` (of a request with `method`, answered in `size`
    /// bytes), and counts it unless the application was called
    /// (`after_app`: its own answer was counted).
    pub(crate) fn refused(&self, method: &[u8], refused: &Refusal, size: usize, after_app: bool) {
        if let Some(stats) = self.stats.as_ref().filter(|_| !after_app) {
            stats.refused(method, refused.status);
        }
        let Some(format) = &self.format else {
            return;
        };
        let method =
            Method::from_bytes(method).unwrap_or_else(|_| Method::from_bytes(b"-").unwrap_or_default());
        let status = StatusCode::from_u16(refused.status).unwrap_or(StatusCode::BAD_REQUEST);
        let line = format.render(&AccessRecord {
            remote: self.client.map(|p| p.ip()),
            time: SystemTime::now(),
            method: &method,
            path_and_query: "-",
            version: Version::HTTP_11,
            status,
            bytes: Some(u64::try_from(size).unwrap_or(0)),
            duration: Duration::ZERO,
            request_headers: &[],
            response_headers: &HeaderMap::new(),
        });
        tracing::info!(target: ACCESS_TARGET, "{line}");
    }
}

/// Writes `response`, closes the sending side, and reads what the client
/// still sends for a while, so the response reaches it before the close.
pub(crate) async fn linger<T: Io>(mut stream: T, response: Vec<u8>) {
    let close = async {
        stream.write_all(&response).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        let mut read = 0;
        while read < LINGER_BYTES {
            match stream.read(&mut sink).await? {
                0 => break,
                n => read += n,
            }
        }
        Ok::<_, io::Error>(())
    };
    if let Ok(Err(e)) = tokio::time::timeout(LINGER, close).await {
        debug!("could not send a refusal: {e}");
    }
}

/// Writes `response` with [`linger`] from a destructor: in a task of its
/// own, when there is a runtime to run it.
pub(crate) fn linger_later<T: Io>(stream: T, response: Vec<u8>) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(linger(stream, response));
    }
}
