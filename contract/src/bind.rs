//! Bind addresses, as users write them: `HOST:PORT`, `[V6]:PORT`, `PORT`,
//! `unix:PATH` and `fd://N`.
//!
//! One parser for the whole project: the worker reads `RG_BIND` with it, and
//! `rg serve` and `rg runserver` read `--bind`, `rg.toml` and their
//! positional addresses with it, so an address means the same everywhere.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::str::FromStr;

use crate::Error;

/// Where to listen.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Bind {
    /// A TCP address, IPv4 or IPv6.
    Tcp(SocketAddr),
    /// A unix domain socket at this path.
    Unix(PathBuf),
    /// An already-listening socket on this file descriptor.
    Fd(i32),
}

/// The default address of every mode, as in Gunicorn and Django.
pub const DEFAULT_BIND: Bind = Bind::Tcp(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8000));

impl FromStr for Bind {
    type Err = Error;

    /// Parses one address. A bare port means `127.0.0.1:PORT`; a host name is
    /// resolved once, here, to its first address.
    fn from_str(s: &str) -> Result<Self, Error> {
        let err = |reason: &str| Error::BindSyntax {
            value: s.to_string(),
            reason: reason.to_string(),
        };
        let s_trim = s.trim();
        if let Some(path) = s_trim.strip_prefix("unix:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(err("`unix:` needs a path, e.g. unix:/run/mysite.sock"));
            }
            if path.contains('\0') {
                return Err(err("a unix socket path cannot hold a NUL byte"));
            }
            return Ok(Bind::Unix(PathBuf::from(path)));
        }
        if let Some(n) = s_trim.strip_prefix("fd://") {
            return match n.parse::<i32>() {
                Ok(fd) if fd >= 0 => Ok(Bind::Fd(fd)),
                _ => Err(err("`fd://` needs a file descriptor number, e.g. fd://3")),
            };
        }
        if s_trim.is_empty() {
            return Err(err("empty address"));
        }
        if let Ok(port) = s_trim.parse::<u16>() {
            return Ok(Bind::Tcp(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)));
        }
        if let Ok(addr) = s_trim.parse::<SocketAddr>() {
            return Ok(Bind::Tcp(addr));
        }
        let Some((host, port)) = s_trim.rsplit_once(':') else {
            return Err(err("expected HOST:PORT, [IPV6]:PORT, PORT, unix:PATH or fd://N"));
        };
        if host.contains(':') && !host.starts_with('[') {
            return Err(err("an IPv6 address needs brackets, e.g. [::1]:8000"));
        }
        let Ok(port) = port.parse::<u16>() else {
            return Err(err("the port must be a number from 0 to 65535"));
        };
        if host.is_empty() {
            return Err(err("missing host before the port, e.g. 127.0.0.1:8000"));
        }
        match (host, port).to_socket_addrs() {
            Ok(mut addrs) => match addrs.next() {
                Some(addr) => Ok(Bind::Tcp(addr)),
                None => Err(err("the host name has no address")),
            },
            Err(e) => Err(err(&format!("cannot resolve host {host:?}: {e}"))),
        }
    }
}

impl fmt::Display for Bind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bind::Tcp(addr) => write!(f, "{addr}"),
            // `unix://` is read as a prefix: a path starting `//` keeps it.
            Bind::Unix(path) if path.as_os_str().as_encoded_bytes().starts_with(b"//") => {
                write!(f, "unix://{}", path.display())
            }
            Bind::Unix(path) => write!(f, "unix:{}", path.display()),
            Bind::Fd(fd) => write!(f, "fd://{fd}"),
        }
    }
}

impl Bind {
    /// Parses a comma-separated list, as `RG_BIND` holds it.
    pub fn parse_list(s: &str) -> Result<Vec<Bind>, Error> {
        let binds = s
            .split(',')
            .filter(|part| !part.trim().is_empty())
            .map(str::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if binds.is_empty() {
            return Err(Error::BindSyntax {
                value: s.to_string(),
                reason: "no address given".into(),
            });
        }
        Ok(binds)
    }

    /// The URL a person would open for this address, if it has one.
    pub fn url(&self) -> Option<String> {
        match self {
            Bind::Tcp(addr) => {
                let host = match addr.ip() {
                    ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_string(),
                    ip if ip.is_unspecified() => "[::1]".to_string(),
                    IpAddr::V6(ip) => format!("[{ip}]"),
                    IpAddr::V4(ip) => ip.to_string(),
                };
                Some(format!("http://{host}:{}/", addr.port()))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!("127.0.0.1:8000".parse::<Bind>().unwrap(), DEFAULT_BIND);
        assert_eq!("8000".parse::<Bind>().unwrap(), DEFAULT_BIND);
        assert_eq!(
            "[::1]:9000".parse::<Bind>().unwrap(),
            Bind::Tcp("[::1]:9000".parse().unwrap())
        );
        assert_eq!(
            "0.0.0.0:80".parse::<Bind>().unwrap(),
            Bind::Tcp("0.0.0.0:80".parse().unwrap())
        );
        assert_eq!(
            "unix:/run/x.sock".parse::<Bind>().unwrap(),
            Bind::Unix("/run/x.sock".into())
        );
        assert_eq!(
            "unix:///run/x.sock".parse::<Bind>().unwrap(),
            Bind::Unix("/run/x.sock".into())
        );
        assert_eq!("fd://3".parse::<Bind>().unwrap(), Bind::Fd(3));
        let localhost = "localhost:8000".parse::<Bind>().unwrap();
        assert!(matches!(localhost, Bind::Tcp(a) if a.ip().is_loopback() && a.port() == 8000));
    }

    #[test]
    fn refuses_malformed_addresses_with_a_reason() {
        for (input, needle) in [
            ("", "empty"),
            ("unix:", "needs a path"),
            ("fd://x", "file descriptor number"),
            ("::1:8000", "brackets"),
            ("127.0.0.1:99999", "port"),
            ("127.0.0.1", "expected HOST:PORT"),
            (":8000", "missing host"),
            ("unix:/tmp/a\0b.sock", "NUL byte"),
        ] {
            let err = input.parse::<Bind>().unwrap_err().to_string();
            assert!(err.contains(needle), "{input:?} gave {err:?}");
        }
    }

    #[test]
    fn parses_lists_and_round_trips() {
        let binds = Bind::parse_list("127.0.0.1:8000, unix:/tmp/a.sock").unwrap();
        assert_eq!(binds.len(), 2);
        assert_eq!(binds[1].to_string(), "unix:/tmp/a.sock");
        assert!(Bind::parse_list(" , ").is_err());
        // Found by the `bind` fuzz target: `//run` printed as `unix://run`
        // read back as the relative path `run`.
        let doubled = "unix:////run/x.sock".parse::<Bind>().unwrap();
        assert_eq!(doubled.to_string().parse::<Bind>().unwrap(), doubled);
        assert_eq!(
            Bind::Tcp("0.0.0.0:8000".parse().unwrap()).url().unwrap(),
            "http://127.0.0.1:8000/"
        );
    }
}
