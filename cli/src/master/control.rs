//! The control socket, `control_socket`: a unix socket, mode 0600, on which
//! `rg ctl` asks the running master for its workers, stats and settings, or
//! to add, remove, reload, upgrade, reopen logs or stop (as Gunicorn's
//! `gunicorn.ctl`). One JSON object a line each way; every answer comes from
//! the master's loop, as the metrics port's pages do.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crate::master::metrics::ANSWER_WITHIN;

/// What `rg ctl` can ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// The workers, as `rg status` shows them.
    Workers,
    /// Counts, restarts, version, phase.
    Stats,
    /// The effective settings and where each came from.
    Config,
    /// More workers (TTIN this many times).
    Add(u32),
    /// Fewer workers (TTOU this many times).
    Remove(u32),
    /// HUP.
    Reload,
    /// USR2.
    Upgrade,
    /// USR1.
    ReopenLogs,
    /// TERM, or a stop now.
    Stop {
        /// Drain first.
        graceful: bool,
    },
}

/// Every command's name, as the protocol and `rg ctl` spell it.
pub const NAMES: &str = "workers, stats, config, add, remove, reload, upgrade, reopen-logs, stop";

impl Command {
    /// The command in one request line: `{"command": "add", "count": 2}`.
    pub fn parse(line: &str) -> Result<Command, String> {
        let request: Value = serde_json::from_str(line).map_err(|e| format!("not a JSON object: {e}"))?;
        let name = request
            .get("command")
            .and_then(Value::as_str)
            .ok_or("no \"command\" in the request")?;
        let count = || match request.get("count") {
            None => Ok(1),
            Some(n) => n
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| (1..=1024).contains(n))
                .ok_or_else(|| "\"count\" must be a whole number from 1 to 1024".to_string()),
        };
        Ok(match name {
            "workers" => Command::Workers,
            "stats" => Command::Stats,
            "config" => Command::Config,
            "add" => Command::Add(count()?),
            "remove" => Command::Remove(count()?),
            "reload" => Command::Reload,
            "upgrade" => Command::Upgrade,
            "reopen-logs" => Command::ReopenLogs,
            "stop" => Command::Stop {
                graceful: request.get("graceful").and_then(Value::as_bool).unwrap_or(true),
            },
            other => return Err(format!("unknown command `{other}`: {NAMES}")),
        })
    }
}

/// A question from the socket to the master's loop.
pub type Ask = (Command, oneshot::Sender<Value>);

/// The bound control socket, not yet served; removes its file when dropped.
#[derive(Debug)]
pub struct ControlSocket {
    listener: Option<std::os::unix::net::UnixListener>,
    path: PathBuf,
}

impl ControlSocket {
    /// Binds `path` with mode 0600. A socket file another master answers on
    /// is an error; one nobody answers on is left from a master that died,
    /// and is replaced.
    pub fn bind(path: &Path) -> Result<ControlSocket> {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!(
                "another rg serve answers on the control socket `{}`: stop it, or give this one another control_socket",
                path.display()
            );
        }
        if path.exists() {
            std::fs::remove_file(path)
                .with_context(|| format!("failed to remove the stale `{}`", path.display()))?;
        }
        // Created 0600 from the start: no moment when others could connect.
        // SAFETY: umask(2) cannot fail; the master has no other thread yet.
        let old = unsafe { libc::umask(0o177) };
        let bound = std::os::unix::net::UnixListener::bind(path);
        // SAFETY: as above.
        unsafe { libc::umask(old) };
        let listener =
            bound.with_context(|| format!("could not bind the control socket `{}`", path.display()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("failed to set the mode of `{}`", path.display()))?;
        listener.set_nonblocking(true)?;
        Ok(ControlSocket {
            listener: Some(listener),
            path: path.to_path_buf(),
        })
    }

    /// Starts serving (inside the master's runtime); the loop answers what
    /// comes out of the returned channel.
    pub fn serve(&mut self) -> Result<mpsc::Receiver<Ask>> {
        let (ask, questions) = mpsc::channel::<Ask>(16);
        let listener = UnixListener::from_std(
            self.listener
                .take()
                .context("the control socket is served once")?,
        )?;
        info!("Control socket at: {} (rg ctl)", self.path.display());
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        tokio::spawn(session(stream, ask.clone()));
                    }
                    Err(e) => {
                        warn!("the control socket stopped: {e}");
                        return;
                    }
                }
            }
        });
        Ok(questions)
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// One client: a request a line, an answer a line, until it hangs up.
async fn session(stream: UnixStream, ask: mpsc::Sender<Ask>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let answer = match Command::parse(&line) {
            Ok(command) => answer(&ask, command).await,
            Err(error) => json!({ "ok": false, "error": error }),
        };
        let mut text = answer.to_string();
        text.push('\n');
        if write.write_all(text.as_bytes()).await.is_err() {
            return;
        }
    }
}

async fn answer(ask: &mpsc::Sender<Ask>, command: Command) -> Value {
    let (reply, answer) = oneshot::channel();
    if ask.send((command, reply)).await.is_err() {
        return json!({ "ok": false, "error": "the master is stopping" });
    }
    match tokio::time::timeout(ANSWER_WITHIN, answer).await {
        Ok(Ok(value)) => value,
        _ => json!({
            "ok": false,
            "error": format!("the master's loop did not answer within {}s", ANSWER_WITHIN.as_secs())
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_command_and_says_what_is_wrong() {
        assert_eq!(Command::parse(r#"{"command":"workers"}"#), Ok(Command::Workers));
        assert_eq!(
            Command::parse(r#"{"command":"add","count":3}"#),
            Ok(Command::Add(3))
        );
        assert_eq!(Command::parse(r#"{"command":"remove"}"#), Ok(Command::Remove(1)));
        assert_eq!(
            Command::parse(r#"{"command":"stop","graceful":false}"#),
            Ok(Command::Stop { graceful: false })
        );
        assert_eq!(
            Command::parse(r#"{"command":"stop"}"#),
            Ok(Command::Stop { graceful: true })
        );
        for (line, why) in [
            ("stop", "not a JSON object"),
            (r#"{"cmd":"stop"}"#, "no \"command\""),
            (r#"{"command":"add","count":0}"#, "from 1 to 1024"),
            (
                r#"{"command":"restart"}"#,
                "unknown command `restart`: workers, stats",
            ),
        ] {
            let err = Command::parse(line).unwrap_err();
            assert!(err.contains(why), "{line}: {err}");
        }
    }

    #[tokio::test]
    async fn the_socket_is_the_owners_only_and_a_live_one_is_not_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rg.ctl");
        let mut socket = ControlSocket::bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let mut questions = socket.serve().unwrap();
        let err = ControlSocket::bind(&path).unwrap_err().to_string();
        assert!(err.contains("another rg serve answers"), "{err}");
        tokio::spawn(async move {
            while let Some((command, reply)) = questions.recv().await {
                let _ = reply.send(json!({ "ok": true, "asked": format!("{command:?}") }));
            }
        });
        let stream = UnixStream::connect(&path).await.unwrap();
        let (read, mut write) = stream.into_split();
        write
            .write_all(b"{\"command\":\"stats\"}\n{\"command\":\"nope\"}\n")
            .await
            .unwrap();
        let mut lines = BufReader::new(read).lines();
        let first: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
        assert_eq!(first["asked"], "Stats");
        let second: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
        assert_eq!(second["ok"], false);
        drop(socket);
        assert!(!path.exists(), "removed with the master");
    }
}
