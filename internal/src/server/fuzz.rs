//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`), not an API: each feeds a parser
//! that reads the network the bytes it is given, whole and in pieces, and panics where they disagree.

use rg_contract::settings::{Limits, ProxyProtocol};

use crate::server::http1::{Validator, Verdict};
use crate::server::stream::proxy::header::{Proxied, ProxyHeader};

/// Gunicorn's limits, which rg serve uses by default.
const LIMITS: Limits = Limits {
    request_line: 4094,
    request_fields: 100,
    request_field_size: 8190,
};

/// What the validator made of a connection's bytes: how many may go on
/// (all but those after a hold), the refusal's status, and the heads seen.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    pub passed: usize,
    pub refused: Option<u16>,
    pub heads: u32,
}

/// Feeds `input` to a new validator in the pieces `cuts` makes (positions,
/// taken in order and clamped), and says what it made of it.
fn validate(input: &[u8], cuts: &[usize]) -> Outcome {
    let mut v = Validator::new(LIMITS);
    let mut at = 0;
    for &cut in cuts.iter().chain([&input.len()]) {
        let end = cut.clamp(at, input.len());
        let piece = &input[at..end];
        match v.feed(piece) {
            Verdict::Pass => at = end,
            Verdict::Hold(n) => {
                assert!(n <= piece.len(), "a hold past its slice");
                return Outcome {
                    passed: at + n,
                    refused: None,
                    heads: v.heads(),
                };
            }
            Verdict::Refuse { start, refusal, .. } => {
                assert!(start <= piece.len(), "a refusal starting past its slice");
                assert!(
                    (400..600).contains(&refusal.status),
                    "refused with {}",
                    refusal.status
                );
                return Outcome {
                    passed: at + start,
                    refused: Some(refusal.status),
                    heads: v.heads(),
                };
            }
        }
    }
    Outcome {
        passed: input.len(),
        refused: None,
        heads: v.heads(),
    }
}

/// The validator's verdict on `input` must not depend on how it arrives:
/// whole, cut where `cuts` says, and byte by byte give the same answer.
/// A refusal's start may differ by where the refused request began being
/// seen, so only the status and the heads are compared for refusals.
pub fn http1(input: &[u8], cuts: &[usize]) -> Outcome {
    let whole = validate(input, &[]);
    let pieces = validate(input, cuts);
    let bytewise = validate(input, &(1..input.len()).collect::<Vec<_>>());
    for other in [&pieces, &bytewise] {
        assert_eq!(
            whole.refused,
            other.refused,
            "verdicts differ: {:?}",
            String::from_utf8_lossy(input)
        );
        assert_eq!(
            whole.heads,
            other.heads,
            "heads differ: {:?}",
            String::from_utf8_lossy(input)
        );
        if whole.refused.is_none() {
            assert_eq!(whole.passed, other.passed, "held at different bytes");
        }
    }
    whole
}

/// The PROXY protocol header parser, in `Auto` mode, fed `input` whole and
/// byte by byte: the same header end and source either way.
pub fn proxy_header(input: &[u8]) -> Option<usize> {
    let read = |pieces: &mut dyn Iterator<Item = &[u8]>| {
        let mut parser = ProxyHeader::new(ProxyProtocol::Auto);
        let mut offset = 0;
        for piece in pieces {
            match parser.feed(piece) {
                Ok(Proxied::More) => offset += piece.len(),
                Ok(Proxied::Done { used, source }) => {
                    assert!(used <= piece.len(), "used past its slice");
                    return Ok(Some((offset + used, source)));
                }
                Err(refusal) => return Err(refusal.status),
            }
        }
        Ok(None)
    };
    let whole = read(&mut std::iter::once(input));
    let bytewise = read(&mut input.chunks(1));
    assert_eq!(whole, bytewise, "whole and byte by byte differ: {input:?}");
    whole.ok().flatten().map(|(end, _)| end)
}
