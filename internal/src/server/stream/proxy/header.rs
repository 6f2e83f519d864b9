//! The PROXY protocol header's parser, versions 1 and 2, fed the
//! connection's first bytes as they come. From a proxy in `proxy_allow_ips`
//! the header is required, as the specification says (no guessing).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use rg_contract::settings::ProxyProtocol;

use crate::server::http1::Refusal;

/// Version 2's signature.
const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// Version 1's longest line, CRLF included.
const V1_MAX: usize = 107;
/// What is kept of a header: all of version 1's line, version 2's fixed
/// part and its longest addresses (IPv6); TLVs after them are skipped.
const KEPT: usize = 108;

/// Reads one header.
#[derive(Debug)]
pub(crate) struct ProxyHeader {
    mode: ProxyProtocol,
    buf: [u8; KEPT],
    len: usize,
    /// Version 2: the header's whole length, once its fixed part is read;
    /// `seen` counts its bytes, kept or skipped.
    total: usize,
    seen: usize,
}

/// What the header read so far says.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Proxied {
    /// More bytes are needed; all of these were part of the header.
    More,
    /// The header ended after `used` of these bytes; the client's address,
    /// when the proxy gave one (not for `LOCAL`, `UNKNOWN`, or families
    /// other than TCP over IPv4 and IPv6).
    Done { used: usize, source: Option<SocketAddr> },
}

fn bad(reason: &str) -> Refusal {
    Refusal {
        status: 400,
        reason: format!("Invalid PROXY protocol header: {reason}"),
    }
}

impl ProxyHeader {
    pub(crate) fn new(mode: ProxyProtocol) -> ProxyHeader {
        ProxyHeader {
            mode,
            buf: [0; KEPT],
            len: 0,
            total: 0,
            seen: 0,
        }
    }

    fn v1(&self) -> bool {
        self.buf[0] == b'P'
    }

    /// Reads the next bytes of the connection.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Result<Proxied, Refusal> {
        let mut used = 0;
        while used < bytes.len() {
            if self.total > 0 {
                // Version 2, after its fixed part: keep what fits, skip the rest.
                let take = (self.total - self.seen).min(bytes.len() - used);
                let keep = take.min(KEPT - self.len);
                self.buf[self.len..self.len + keep].copy_from_slice(&bytes[used..used + keep]);
                self.len += keep;
                self.seen += take;
                used += take;
                if self.seen == self.total {
                    return Ok(Proxied::Done {
                        used,
                        source: self.v2_source()?,
                    });
                }
                continue;
            }
            let b = bytes[used];
            used += 1;
            if self.len == 0 {
                let v1 = b == b'P' && matches!(self.mode, ProxyProtocol::V1 | ProxyProtocol::Auto);
                let v2 = b == b'\r' && matches!(self.mode, ProxyProtocol::V2 | ProxyProtocol::Auto);
                if !v1 && !v2 {
                    return Err(bad("expected at the start of the connection"));
                }
            }
            self.buf[self.len] = b;
            self.len += 1;
            self.seen += 1;
            if self.v1() {
                if self.len >= 2 && self.buf[self.len - 2..self.len] == *b"\r\n" {
                    return Ok(Proxied::Done {
                        used,
                        source: self.v1_source()?,
                    });
                }
                if self.len == V1_MAX {
                    return Err(bad("a version 1 line longer than 107 bytes"));
                }
            } else if self.len <= SIGNATURE.len() {
                if b != SIGNATURE[self.len - 1] {
                    return Err(bad("not the version 2 signature"));
                }
            } else if self.len == 16 {
                if self.buf[12] >> 4 != 2 || self.buf[12] & 0x0f > 1 {
                    return Err(bad("an unknown version 2 version or command"));
                }
                let length = usize::from(u16::from_be_bytes([self.buf[14], self.buf[15]]));
                self.total = 16 + length;
                if length == 0 {
                    return Ok(Proxied::Done {
                        used,
                        source: self.v2_source()?,
                    });
                }
            }
        }
        Ok(Proxied::More)
    }

    /// `PROXY TCP4 SRC DST SPORT DPORT\r\n`, `TCP6` alike, or `UNKNOWN ...`.
    fn v1_source(&self) -> Result<Option<SocketAddr>, Refusal> {
        let line = std::str::from_utf8(&self.buf[..self.len - 2]).map_err(|_| bad("not text"))?;
        let mut parts = line.split(' ');
        if parts.next() != Some("PROXY") {
            return Err(bad("a version 1 line must start with PROXY"));
        }
        let family = parts.next();
        if family == Some("UNKNOWN") {
            return Ok(None);
        }
        let parts: Vec<&str> = parts.collect();
        let [source, destination, source_port, destination_port] = parts[..] else {
            return Err(bad("a version 1 line has six fields"));
        };
        let (source, destination): (IpAddr, IpAddr) = match family {
            Some("TCP4") => (
                source
                    .parse::<Ipv4Addr>()
                    .map_err(|_| bad("not an IPv4 address"))?
                    .into(),
                destination
                    .parse::<Ipv4Addr>()
                    .map_err(|_| bad("not an IPv4 address"))?
                    .into(),
            ),
            Some("TCP6") => (
                source
                    .parse::<Ipv6Addr>()
                    .map_err(|_| bad("not an IPv6 address"))?
                    .into(),
                destination
                    .parse::<Ipv6Addr>()
                    .map_err(|_| bad("not an IPv6 address"))?
                    .into(),
            ),
            _ => return Err(bad("the protocol must be TCP4, TCP6 or UNKNOWN")),
        };
        let _ = destination;
        let port = |p: &str| -> Result<u16, Refusal> {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || (p.len() > 1 && p.starts_with('0')) {
                return Err(bad("not a port"));
            }
            p.parse().map_err(|_| bad("not a port"))
        };
        port(destination_port)?;
        Ok(Some(SocketAddr::new(source, port(source_port)?)))
    }

    fn v2_source(&self) -> Result<Option<SocketAddr>, Refusal> {
        // LOCAL: the proxy's own connection (a health check): no client.
        if self.buf[12] & 0x0f == 0 {
            return Ok(None);
        }
        let addresses = &self.buf[16..self.len];
        match self.buf[13] {
            // TCP over IPv4: 4 + 4 + 2 + 2 bytes.
            0x11 => {
                let Some(a) = addresses.get(..12) else {
                    return Err(bad("version 2 IPv4 addresses too short"));
                };
                let ip = Ipv4Addr::new(a[0], a[1], a[2], a[3]);
                Ok(Some(SocketAddr::new(ip.into(), u16::from_be_bytes([a[8], a[9]]))))
            }
            // TCP over IPv6: 16 + 16 + 2 + 2 bytes.
            0x21 => {
                let Some(a) = addresses.get(..36) else {
                    return Err(bad("version 2 IPv6 addresses too short"));
                };
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&a[..16]);
                let ip = Ipv6Addr::from(octets);
                Ok(Some(SocketAddr::new(
                    ip.into(),
                    u16::from_be_bytes([a[32], a[33]]),
                )))
            }
            // UNSPEC, UDP, unix sockets: no client address rg can use.
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` whole and byte by byte; both must agree.
    fn read(mode: ProxyProtocol, input: &[u8]) -> Result<Proxied, u16> {
        let whole = ProxyHeader::new(mode).feed(input).map_err(|r| r.status);
        let mut p = ProxyHeader::new(mode);
        let mut bytewise = Ok(Proxied::More);
        for (i, b) in input.iter().enumerate() {
            match p.feed(std::slice::from_ref(b)) {
                Ok(Proxied::More) => {}
                Ok(Proxied::Done { source, .. }) => {
                    bytewise = Ok(Proxied::Done { used: i + 1, source });
                    break;
                }
                Err(r) => {
                    bytewise = Err(r.status);
                    break;
                }
            }
        }
        assert_eq!(whole, bytewise, "{input:?}");
        whole
    }

    fn addr(s: &str) -> Option<SocketAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn version_1_gives_the_client_address() {
        let header = "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n";
        let line = format!("{header}GET / HTTP/1.1\r\n");
        assert_eq!(
            read(ProxyProtocol::Auto, line.as_bytes()),
            Ok(Proxied::Done {
                used: header.len(),
                source: addr("192.0.2.7:56324")
            })
        );
        let line = b"PROXY TCP6 2001:db8::7 2001:db8::1 56324 443\r\n";
        assert_eq!(
            read(ProxyProtocol::V1, line),
            Ok(Proxied::Done {
                used: line.len(),
                source: addr("[2001:db8::7]:56324")
            })
        );
        let line = b"PROXY UNKNOWN whatever\r\n";
        assert_eq!(
            read(ProxyProtocol::V1, line),
            Ok(Proxied::Done {
                used: line.len(),
                source: None
            })
        );
    }

    #[test]
    fn bad_version_1_lines_are_400() {
        for line in [
            &b"PROXY TCP4 192.0.2.7 198.51.100.1 56324\r\n"[..],
            b"PROXY TCP4 2001:db8::7 198.51.100.1 1 2\r\n",
            b"PROXY TCP6 192.0.2.7 198.51.100.1 1 2\r\n",
            b"PROXY TCP4 192.0.2.7 198.51.100.1 +1 2\r\n",
            b"PROXY TCP4 192.0.2.7 198.51.100.1 65536 2\r\n",
            b"PROXY TCP4  192.0.2.7 198.51.100.1 1 2\r\n",
            b"PROXY UDP4 192.0.2.7 198.51.100.1 1 2\r\n",
            b"PROXYTCP4 192.0.2.7 198.51.100.1 1 2\r\n",
            b"GET / HTTP/1.1\r\n",
        ] {
            assert_eq!(
                read(ProxyProtocol::Auto, line),
                Err(400),
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
        let long = format!("PROXY UNKNOWN {}\r\n", "x".repeat(100));
        assert_eq!(read(ProxyProtocol::V1, long.as_bytes()), Err(400));
        // Version 2 only: a version 1 line is refused.
        assert_eq!(read(ProxyProtocol::V2, b"PROXY UNKNOWN\r\n"), Err(400));
    }

    fn v2(command: u8, family: u8, addresses: &[u8]) -> Vec<u8> {
        let mut header = SIGNATURE.to_vec();
        header.push(0x20 | command);
        header.push(family);
        header.extend_from_slice(&u16::try_from(addresses.len()).unwrap().to_be_bytes());
        header.extend_from_slice(addresses);
        header
    }

    #[test]
    fn version_2_gives_the_client_address_and_skips_tlvs() {
        let mut ipv4 = vec![192, 0, 2, 7, 198, 51, 100, 1, 0xdc, 0x04, 0x01, 0xbb];
        ipv4.extend_from_slice(&[0x04, 0x00, 0x03, b'a', b'b', b'c']); // a TLV
        let mut header = v2(1, 0x11, &ipv4);
        let used = header.len();
        header.extend_from_slice(b"GET / HTTP/1.1\r\n");
        assert_eq!(
            read(ProxyProtocol::V2, &header),
            Ok(Proxied::Done {
                used,
                source: addr("192.0.2.7:56324")
            })
        );
        let mut ipv6 = [0u8; 36];
        ipv6[..16].copy_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
        ipv6[32..34].copy_from_slice(&56324u16.to_be_bytes());
        let mut long = ipv6.to_vec();
        long.extend_from_slice(&[0xee; 200]);
        let header = v2(1, 0x21, &long);
        assert_eq!(
            read(ProxyProtocol::Auto, &header),
            Ok(Proxied::Done {
                used: header.len(),
                source: addr("[2001:db8::7]:56324")
            })
        );
        // LOCAL: no client address.
        let header = v2(0, 0x00, &[]);
        assert_eq!(
            read(ProxyProtocol::Auto, &header),
            Ok(Proxied::Done {
                used: 16,
                source: None
            })
        );
    }

    #[test]
    fn bad_version_2_headers_are_400() {
        let mut wrong = v2(1, 0x11, &[0; 12]);
        wrong[5] = b'X';
        assert_eq!(read(ProxyProtocol::V2, &wrong), Err(400));
        let mut version = v2(1, 0x11, &[0; 12]);
        version[12] = 0x31;
        assert_eq!(read(ProxyProtocol::V2, &version), Err(400));
        assert_eq!(read(ProxyProtocol::V2, &v2(1, 0x11, &[0; 8])), Err(400));
        // Version 1 only: a version 2 header is refused.
        assert_eq!(read(ProxyProtocol::V1, &v2(1, 0x11, &[0; 12])), Err(400));
    }
}
