//! The two facts rg reads from a certificate's DER itself, with a small
//! walker rather than an X.509 library every project would compile: when
//! it expires (checked before a worker starts), and its subject, as RFC
//! 4514 text (`CN=alice,O=Example\, Corp,C=FR`), given to the application.

use std::time::{Duration, SystemTime};

/// The validity and the subject of the DER certificate `der`.
fn validity_and_subject(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let (certificate, _) = tlv(der, SEQUENCE)?;
    let (mut tbs, _) = tlv(certificate, SEQUENCE)?;
    // The version, explicitly tagged [0], is there from version 2 on.
    if tbs.first() == Some(&0xa0) {
        tbs = tlv(tbs, 0xa0)?.1;
    }
    // The serial number, the signature algorithm, the issuer.
    for tag in [INTEGER, SEQUENCE, SEQUENCE] {
        tbs = tlv(tbs, tag)?.1;
    }
    let (validity, rest) = tlv(tbs, SEQUENCE)?;
    let (subject, _) = tlv(rest, SEQUENCE)?;
    Some((validity, subject))
}

/// When the DER certificate `der` stops being valid (its `notAfter`).
pub fn not_after(der: &[u8]) -> Option<SystemTime> {
    let (validity, _) = validity_and_subject(der)?;
    let (_, rest) = time(validity)?;
    let (not_after, _) = time(rest)?;
    Some(not_after)
}

/// A UTCTime or GeneralizedTime at the start of `input` (in UTC, as RFC
/// 5280 requires), and what follows it.
fn time(input: &[u8]) -> Option<(SystemTime, &[u8])> {
    let (text, rest, utc) = match tlv(input, UTC_TIME) {
        Some((text, rest)) => (text, rest, true),
        None => tlv(input, GENERALIZED_TIME).map(|(text, rest)| (text, rest, false))?,
    };
    let text = std::str::from_utf8(text).ok()?.strip_suffix('Z')?;
    let number = |s: Option<&str>| s?.parse::<i64>().ok();
    let (year, digits) = if utc {
        let yy = number(text.get(..2))?;
        // RFC 5280: 50-99 are 19xx, 00-49 20xx.
        (if yy >= 50 { 1900 + yy } else { 2000 + yy }, text.get(2..)?)
    } else {
        (number(text.get(..4))?, text.get(4..)?)
    };
    if digits.len() != 10 {
        return None;
    }
    let field = |i: usize| number(digits.get(i..i + 2));
    let (month, day) = (field(0)?, field(2)?);
    let (hour, minute, second) = (field(4)?, field(6)?, field(8)?);
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).ok()?);
    Some((at, rest))
}

/// Days since 1970-01-01 of a date in the proleptic Gregorian calendar
/// (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The subject of the DER certificate `der`; `None` if it does not parse.
pub fn subject(der: &[u8]) -> Option<String> {
    let (_, mut name) = validity_and_subject(der)?;
    let mut rdns = Vec::new();
    while !name.is_empty() {
        let (mut set, rest) = tlv(name, SET)?;
        name = rest;
        let mut rdn = Vec::new();
        while !set.is_empty() {
            let (pair, rest) = tlv(set, SEQUENCE)?;
            set = rest;
            let (oid, value) = tlv(pair, OID)?;
            let (text, _) = tlv(value, *value.first()?)?;
            rdn.push(format!(
                "{}={}",
                attribute(oid),
                escape(&String::from_utf8_lossy(text))
            ));
        }
        rdns.push(rdn.join("+"));
    }
    // RFC 4514 writes the most specific name first.
    rdns.reverse();
    Some(rdns.join(","))
}

const INTEGER: u8 = 0x02;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
const OID: u8 = 0x06;
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;

/// The contents of the DER element at the start of `input` if its tag is
/// `tag`, and what follows it.
fn tlv(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&first, rest) = input.split_first()?;
    if first != tag {
        return None;
    }
    let (&len, mut rest) = rest.split_first()?;
    let len = if len < 0x80 {
        usize::from(len)
    } else {
        let bytes = usize::from(len & 0x7f);
        if bytes == 0 || bytes > 4 {
            return None;
        }
        let (digits, after) = rest.split_at_checked(bytes)?;
        rest = after;
        digits.iter().fold(0usize, |n, &d| n << 8 | usize::from(d))
    };
    let (contents, after) = rest.split_at_checked(len)?;
    Some((contents, after))
}

/// RFC 4514's short name of an attribute type, or its dotted OID.
fn attribute(oid: &[u8]) -> String {
    let short = match oid {
        [0x55, 0x04, 0x03] => "CN",
        [0x55, 0x04, 0x06] => "C",
        [0x55, 0x04, 0x07] => "L",
        [0x55, 0x04, 0x08] => "ST",
        [0x55, 0x04, 0x09] => "STREET",
        [0x55, 0x04, 0x0a] => "O",
        [0x55, 0x04, 0x0b] => "OU",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => "DC",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01] => "UID",
        _ => return dotted(oid),
    };
    short.to_string()
}

fn dotted(oid: &[u8]) -> String {
    let mut arcs = Vec::new();
    let mut value: u64 = 0;
    for &b in oid {
        value = value << 7 | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (value / 40).min(2);
                arcs.push(first);
                arcs.push(value - first * 40);
            } else {
                arcs.push(value);
            }
            value = 0;
        }
    }
    arcs.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
}

/// RFC 4514 §2.4: the characters a value escapes.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        let edge = (i == 0 && (c == ' ' || c == '#')) || (i + 1 == value.chars().count() && c == ' ');
        if edge || matches!(c, '"' | '+' | ',' | ';' | '<' | '>' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;

    use super::*;

    /// Made with `openssl req -x509 -subj "/C=FR/O=Example, Corp/CN=alice"`,
    /// whose `-nameopt RFC2253` prints the subject below.
    const ALICE: &str = "-----BEGIN CERTIFICATE-----
MIIBvzCCAWWgAwIBAgIURSqhD3WOGGGAgU2HAMHDfAzFpagwCgYIKoZIzj0EAwIw
NTELMAkGA1UEBhMCRlIxFjAUBgNVBAoMDUV4YW1wbGUsIENvcnAxDjAMBgNVBAMM
BWFsaWNlMB4XDTI2MTIwNTEyMjQxOVoXDTM2MTIwMjEyMjQxOVowNTELMAkGA1UE
BhMCRlIxFjAUBgNVBAoMDUV4YW1wbGUsIENvcnAxDjAMBgNVBAMMBWFsaWNlMFkw
EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEJEuupXA9AiHSCgrvkdpBoWep0rzN1/g6
HBL19oXp90IMsQwYwvlChh2ZrSoSxlRQd+83X+CSZrWT30hvXbaYXaNTMFEwHQYD
VR0OBBYEFJP/ClLtg74JaLj+Yvvl9WvtNht9MB8GA1UdIwQYMBaAFJP/ClLtg74J
aLj+Yvvl9WvtNht9MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIh
ALyRauSPuA8p6hQmSlrUkxboBFNQM3/FOLMgdn1jOpSLAiB61wLVHCMGc1XVfjq7
ig7yX2d4RE6h6vi1XzxRCHW/SA==
-----END CERTIFICATE-----";

    #[test]
    fn the_subject_reads_as_openssl_prints_it() {
        let der = CertificateDer::from_pem_slice(ALICE.as_bytes()).unwrap();
        assert_eq!(subject(&der).as_deref(), Some("CN=alice,O=Example\\, Corp,C=FR"));
    }

    #[test]
    fn the_end_of_validity_reads_as_openssl_prints_it() {
        // `openssl x509 -noout -enddate`: notAfter=Dec  2 12:24:19 2036 GMT
        let der = CertificateDer::from_pem_slice(ALICE.as_bytes()).unwrap();
        let at = not_after(&der).unwrap();
        assert_eq!(
            at.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(),
            2_111_833_459
        );
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn what_is_not_a_certificate_has_no_subject() {
        let der = CertificateDer::from_pem_slice(ALICE.as_bytes()).unwrap();
        assert_eq!(subject(&der[..40]), None);
        assert_eq!(subject(b""), None);
        assert_eq!(dotted(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d]), "1.2.840.113549");
    }
}
