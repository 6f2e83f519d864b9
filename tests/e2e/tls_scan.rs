//! What a TLS scanner (sslyze) finds `rg serve` accepts: no protocol below
//! TLS 1.2, no weak cipher suite or curve, none of the attacks it knows.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::{Running, Serve};
use crate::tls::{Pki, tls_args};
use crate::tools;

#[test]
fn sslyze_finds_no_protocol_below_tls_1_2_and_no_weak_cipher_suite() {
    let pki = Pki::new();
    let (cert, key) = pki.server("one");
    let master = Serve::fixture().args(tls_args(&cert, &key)).start();
    let report = sslyze(master.port());
    let problems = tls_weaknesses(&report);
    assert!(
        problems.is_empty(),
        "sslyze {} against rg serve:\n  {}",
        report["sslyze_version"].as_str().unwrap_or("?"),
        problems.join("\n  ")
    );
}

/// The scan commands of sslyze that [`tls_weaknesses`] reads: the suites
/// of each protocol, then the curves and the attacks sslyze knows.
const SSLYZE_SCANS: [&str; 12] = [
    "--sslv2",
    "--sslv3",
    "--tlsv1",
    "--tlsv1_1",
    "--tlsv1_2",
    "--tlsv1_3",
    "--elliptic_curves",
    "--heartbleed",
    "--robot",
    "--compression",
    "--reneg",
    "--openssl_ccs",
];

/// sslyze, the TLS scanner from PyPI, run against `127.0.0.1:port`: its
/// report (`--json_out`).
fn sslyze(port: u16) -> Value {
    let python_path = tools::require_python_package("sslyze");
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("sslyze.json");
    // Mozilla's profile (on unless disabled) would add scans and judge the
    // test certificate; this test judges the report itself.
    let mut scan = Running::spawn(
        Command::new("python3")
            .args(["-m", "sslyze", "--quiet", "--mozilla_config", "disable"])
            .args(SSLYZE_SCANS)
            .arg(format!("--json_out={}", report.display()))
            .arg(format!("127.0.0.1:{port}"))
            .env("PYTHONPATH", &python_path),
    );
    // About six seconds, five of them the renegotiation scan waiting out
    // its timeout; a scan that hangs is killed when `scan` is dropped.
    let status = scan.wait_timeout(Duration::from_secs(120));
    assert!(
        status.is_some_and(|s| s.success()),
        "sslyze {}: {}{}",
        status.map_or("did not finish within 120 s".to_string(), |s| s.to_string()),
        scan.stdout(),
        scan.stderr()
    );
    let text = std::fs::read_to_string(&report).unwrap_or_else(|e| panic!("{}: {e}", report.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("sslyze's report: {e}: {text}"))
}

/// The protocols sslyze tries, by the key of their scan in its report.
const PROTOCOLS: [(&str, &str); 6] = [
    ("ssl_2_0_cipher_suites", "SSL 2.0"),
    ("ssl_3_0_cipher_suites", "SSL 3.0"),
    ("tls_1_0_cipher_suites", "TLS 1.0"),
    ("tls_1_1_cipher_suites", "TLS 1.1"),
    ("tls_1_2_cipher_suites", "TLS 1.2"),
    ("tls_1_3_cipher_suites", "TLS 1.3"),
];

/// The groups ECDHE may use: those of 128-bit security or more.
const STRONG_CURVES: [&str; 5] = ["X25519", "X448", "secp256r1", "secp384r1", "secp521r1"];

/// What is wrong in an sslyze report, a line each: nothing when the scan
/// reached the server and found TLS 1.2 and TLS 1.3 accepted and nothing
/// older, every suite accepted with forward secrecy and an AEAD, only
/// strong curves, and none of the attacks sslyze tries working.
fn tls_weaknesses(report: &Value) -> Vec<String> {
    let server = &report["server_scan_results"][0];
    if server["connectivity_status"] != "COMPLETED" || server["scan_status"] != "COMPLETED" {
        return vec![format!(
            "sslyze did not scan the server ({}, {}): {}",
            server["connectivity_status"],
            server["scan_status"],
            server["connectivity_error_trace"].as_str().unwrap_or_default()
        )];
    }
    let scans = &server["scan_result"];
    let mut problems = Vec::new();
    for (key, protocol) in PROTOCOLS {
        let Some(result) = scan_result(scans, key, &mut problems) else {
            continue;
        };
        let accepted = result["accepted_cipher_suites"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let modern = matches!(protocol, "TLS 1.2" | "TLS 1.3");
        if modern && accepted.is_empty() {
            // Each is accepted: without this, a scan that got nowhere would pass.
            problems.push(format!(
                "{protocol} is not accepted: sslyze got no suite of it through"
            ));
        }
        for suite in accepted {
            let name = suite["cipher_suite"]["name"].as_str().unwrap_or("?");
            if !modern {
                problems.push(format!("{protocol} is accepted, with {name}"));
                continue;
            }
            let why = suite_weaknesses(protocol, suite);
            if !why.is_empty() {
                problems.push(format!("{protocol} accepts {name}: {}", why.join(", ")));
            }
        }
    }
    if let Some(curves) = scan_result(scans, "elliptic_curves", &mut problems) {
        for curve in curves["supported_curves"].as_array().into_iter().flatten() {
            let name = curve["name"].as_str().unwrap_or("?");
            if !STRONG_CURVES.contains(&name) {
                problems.push(format!("ECDHE accepts the weak curve {name}"));
            }
        }
    }
    for (key, field) in [
        ("heartbleed", "is_vulnerable_to_heartbleed"),
        ("openssl_ccs_injection", "is_vulnerable_to_ccs_injection"),
        ("tls_compression", "supports_compression"),
        (
            "session_renegotiation",
            "is_vulnerable_to_client_renegotiation_dos",
        ),
    ] {
        if let Some(result) = scan_result(scans, key, &mut problems)
            && result[field] != false
        {
            problems.push(format!("{key}: {field} is {}", result[field]));
        }
    }
    if let Some(robot) = scan_result(scans, "robot", &mut problems) {
        let verdict = robot["robot_result"].as_str().unwrap_or_default();
        if !verdict.starts_with("NOT_VULNERABLE") {
            problems.push(format!("ROBOT: {}", robot["robot_result"]));
        }
    }
    problems
}

/// The result of the scan `key` in an sslyze report's `scan_result`, or a
/// problem when that scan did not complete.
fn scan_result<'a>(scans: &'a Value, key: &str, problems: &mut Vec<String>) -> Option<&'a Value> {
    let scan = &scans[key];
    if scan["status"] == "COMPLETED" {
        return Some(&scan["result"]);
    }
    problems.push(format!(
        "sslyze's {key} scan did not complete ({}): {}",
        scan["status"],
        scan["error_trace"].as_str().unwrap_or_default()
    ));
    None
}

/// Why a suite accepted with TLS 1.2 or 1.3 (an `accepted_cipher_suites`
/// entry) is weak: nothing when its key exchange is ephemeral, ECDHE in
/// TLS 1.2 (a TLS 1.3 suite does not name it; the curves are checked on
/// their own), and not anonymous, and its cipher an AEAD, in GCM or
/// ChaCha20-Poly1305, with a key of 128 bits or more.
fn suite_weaknesses(protocol: &str, suite: &Value) -> Vec<String> {
    let name = suite["cipher_suite"]["name"].as_str().unwrap_or_default();
    let mut why = Vec::new();
    if protocol != "TLS 1.3" && !name.contains("_ECDHE_") {
        why.push("no ECDHE key exchange".to_string());
    }
    if suite["ephemeral_key"].is_null() {
        why.push("no ephemeral key (no forward secrecy)".to_string());
    }
    if suite["cipher_suite"]["is_anonymous"] == true || name.contains("_anon_") {
        why.push("anonymous key exchange".to_string());
    }
    if !name.contains("_GCM_") && !name.contains("_CHACHA20_POLY1305_") {
        why.push("a cipher neither GCM nor ChaCha20-Poly1305".to_string());
    }
    for weak in ["CBC", "RC4", "3DES", "_DES_", "NULL", "EXPORT"] {
        if name.contains(weak) {
            why.push(weak.trim_matches('_').to_string());
        }
    }
    if let Some(bits) = suite["cipher_suite"]["key_size"]
        .as_u64()
        .filter(|&bits| bits < 128)
    {
        why.push(format!("a {bits}-bit key"));
    }
    why
}
