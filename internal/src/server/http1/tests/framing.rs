//! Message framing: Content-Length, Transfer-Encoding, chunks and the
//! fields a trailer may not carry.

use super::{GUNICORN, Validator, Verdict, refused, verdict};

// Framing (RFC 9112 §6).

#[test]
fn content_length_and_transfer_encoding_together_are_400() {
    refused(
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    );
    refused(
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn bad_content_lengths_are_400() {
    for value in [
        "5, 5",
        "+5",
        "-5",
        "",
        " ",
        "5a",
        "0x5",
        "5 5",
        "1.0",
        "99999999999999999999",
    ] {
        refused(
            &format!("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {value}\r\n\r\n"),
            400,
        );
    }
    refused(
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
        400,
    );
}

#[test]
fn transfer_encodings_other_than_a_final_chunked_are_refused() {
    let te =
        |value: &str| format!("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {value}\r\n\r\n0\r\n\r\n");
    refused(&te("gzip"), 400);
    refused(&te("chunked, gzip"), 400);
    refused(&te("chunked, chunked"), 400);
    refused(&te(""), 400);
    refused(&te("chunked;x=1"), 400);
    refused(&te("chunked x"), 400);
    refused(&te("gzip, chunked"), 501);
    refused(&te("foo, chunked"), 501);
    refused(
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    );
    // No transfer coding at all in HTTP/1.0 (RFC 9112 §6.1).
    refused(
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn bad_chunk_sizes_are_400() {
    let body =
        |chunk: &str| format!("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{chunk}");
    for size in [
        "+5",
        "-5",
        " 5",
        "5 ",
        "5\t",
        "0x5",
        "g",
        "",
        "5 5",
        // Whitespace before an extension: RFC 9112's grammar allows it, h11
        // refuses it (the differential test found them apart).
        "5 ;x",
        "5\t;x",
        "10000000000000000",
    ] {
        refused(&body(&format!("{size}\r\nhello\r\n0\r\n\r\n")), 400);
    }
    // 16 hex digits fit a u64, leading zeros are no harm.
    assert_eq!(
        verdict(&body("00000000000000000\r\n\r\n")),
        Ok(body("00000000000000000\r\n\r\n").len())
    );
    let fits = body("ffffffffffffffff\r\n");
    assert_eq!(verdict(&fits), Ok(fits.len()));
}

#[test]
fn bare_cr_and_long_chunk_extensions_are_400() {
    let body =
        |chunk: &str| format!("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{chunk}");
    refused(&body("5;a\rb\r\nhello\r\n0\r\n\r\n"), 400);
    refused(&body("5\rhello\r\n0\r\n\r\n"), 400);
    refused(&body("5\nhello\r\n0\r\n\r\n"), 400);
    refused(&body("5\r\nhello\n0\r\n\r\n"), 400);
    refused(&body("5\r\nhelloX\r\n0\r\n\r\n"), 400);
    refused(
        &body(&format!("5;{}\r\nhello\r\n0\r\n\r\n", "e".repeat(5000))),
        400,
    );
}

// Trailers (RFC 9110 §6.5.1).

#[test]
fn framing_routing_and_auth_fields_are_refused_in_trailers() {
    for name in [
        "Content-Length",
        "Transfer-Encoding",
        "Host",
        "Content-Type",
        "Authorization",
        "Cookie",
        "Set-Cookie",
        "Content-Encoding",
        "Content-Range",
        "Trailer",
        "Cache-Control",
        "Expect",
        "Max-Forwards",
        "Pragma",
        "Range",
        "TE",
        "Connection",
        "Upgrade",
    ] {
        refused(
            &format!(
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n{name}: 1\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"
            ),
            400,
        );
    }
}

/// A request refused in its body says whether its head went on in an earlier
/// slice: only then may the application have been called for it, and its
/// answer stand instead of the refusal.
#[test]
fn a_refusal_in_a_body_says_whether_its_head_went_on() {
    let first = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    let second = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    let bad_trailer = "0\r\nX-Sum: 1\r\n folded\r\n\r\n";
    let refusal = |v: &mut Validator, bytes: &str| match v.feed(bytes.as_bytes()) {
        Verdict::Refuse {
            start, head_went_on, ..
        } => (start, head_went_on),
        other => panic!("not refused: {other:?}"),
    };
    let mut v = Validator::new(GUNICORN);
    let whole = format!("{first}{second}{bad_trailer}");
    assert_eq!(refusal(&mut v, &whole), (first.len(), false));
    let mut v = Validator::new(GUNICORN);
    assert_eq!(v.feed(format!("{first}{second}").as_bytes()), Verdict::Pass);
    assert_eq!(refusal(&mut v, bad_trailer), (0, true));
}
