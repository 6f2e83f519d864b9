//! Differential test of message boundaries: generated and mutated requests
//! to `rg serve`, whose application mirrors what it received, against h11
//! (PyPI), an independent strict parser. `tests/e2e/differential.py` runs a
//! larger count by hand: `--cases 100000 --seed N` against any port.

use std::process::Command;

use serde_json::Value;

use crate::support::{Serve, workspace};
use crate::tools;

/// Cases in the suite's run: a few seconds; the script takes any count.
const CASES: u32 = 3000;

#[test]
fn rg_and_h11_agree_on_every_request_rg_accepts() {
    let python_path = tools::require_python_package("h11");
    let master = Serve::fixture().args(["-w", "1"]).start();
    let output = Command::new("python3")
        .arg(workspace().join("tests/e2e/differential.py"))
        .args([
            "--port",
            &master.port().to_string(),
            "--cases",
            &CASES.to_string(),
        ])
        .env("PYTHONPATH", &python_path)
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "no summary from differential.py ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert_eq!(summary["disagreements"], 0, "{summary:#}");
    assert!(output.status.success(), "{summary:#}");
    // Not vacuous: many cases reach the application and are compared (most
    // of the rest are mutated past what either parser takes).
    let agreed = summary["agreed"].as_u64().unwrap();
    assert!(
        agreed >= u64::from(CASES) / 5,
        "only {agreed} agreed: {summary:#}"
    );
    let compared = summary["requests_compared"].as_u64().unwrap();
    assert!(
        compared >= u64::from(CASES) / 2,
        "only {compared} compared: {summary:#}"
    );
    eprintln!("differential: {summary}");
}
