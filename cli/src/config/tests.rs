//! The layering of sources, origins, and the errors a user meets.

use super::*;
use rg_contract::settings::WorkerSettings;
use std::collections::HashMap;
use std::time::Duration;

fn load_with(file: Option<&str>, env: &[(&str, &str)], flags: &[(&'static str, &str)]) -> Result<Settings> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rg.toml");
    if let Some(text) = file {
        std::fs::write(&path, text).unwrap();
    }
    let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let sources = Sources {
        explicit_file: None,
        default_file: Some(path),
        flags: flags.iter().map(|(k, v)| (*k, v.to_string())).collect(),
    };
    load(&sources, |k| env.get(k).cloned())
}

#[test]
fn later_sources_win_and_remember_where_they_came_from() {
    let s = load_with(
        Some("workers = 3\nthreads = 2\ntimeout = 10\n"),
        &[("RG_THREADS", "4"), ("RG_BACKLOG", "64")],
        &[("timeout", "5")],
    )
    .unwrap();
    assert_eq!(s.master.workers, 3);
    assert!(matches!(&s.values["workers"].1, Origin::File(_, 1)));
    assert_eq!(s.worker.threads, 4);
    assert_eq!(s.values["threads"].1, Origin::Env("RG_THREADS".into()));
    assert_eq!(s.worker.timeout, Duration::from_secs(5));
    assert_eq!(s.values["timeout"].1, Origin::Flag("--timeout".into()));
    assert_eq!(s.worker.backlog, 64);
    assert_eq!(s.values["graceful_timeout"].1, Origin::Default);
    let printed = s.render();
    assert!(printed.contains("threads = 4"), "{printed}");
    assert!(printed.contains("# environment RG_THREADS"), "{printed}");
    assert!(printed.contains("# flag --timeout"), "{printed}");
}

#[test]
fn expressions_and_lists() {
    let s = load_with(
        Some("workers = \"cpu_count * 2 + 1\"\nbind = [\"127.0.0.1:9000\", \"unix:/tmp/a.sock\"]\n"),
        &[],
        &[("bind", "[::1]:9001"), ("bind", "127.0.0.1:9002")],
    )
    .unwrap();
    assert_eq!(s.master.workers, num_cpus::get() * 2 + 1);
    assert_eq!(s.worker.bind.len(), 2, "flags replace the file's list");
    assert!(s.render().contains("workers = "), "{}", s.render());
}

#[test]
fn errors_name_the_key_the_value_and_the_place() {
    type Case<'a> = (
        Option<&'a str>,
        &'a [(&'a str, &'a str)],
        &'a [(&'static str, &'a str)],
        &'a str,
    );
    let cases: &[Case<'_>] = &[
        (
            Some("workers = 0\n"),
            &[],
            &[],
            "rg.toml:1: invalid workers = \"0\": must be from 1",
        ),
        (
            Some("# c\nworkrs = 2\n"),
            &[],
            &[],
            "rg.toml:2: unknown setting `workrs`; did you mean `workers`?",
        ),
        (
            Some("bind = \"nowhere\"\n"),
            &[],
            &[],
            "rg.toml:1: invalid bind = \"nowhere\"",
        ),
        (Some("timeout = [1]\n"), &[], &[], "`timeout` cannot be an array"),
        (Some("workers = \n"), &[], &[], "not valid TOML"),
        (
            None,
            &[("RG_WORKERS", "many")],
            &[],
            "environment RG_WORKERS: invalid workers = \"many\"",
        ),
        (
            None,
            &[],
            &[("access_log_format", "%Z")],
            "flag --access-logformat: invalid access_log_format = \"%Z\": unknown directive %Z",
        ),
        (
            None,
            &[],
            &[("log_level", "loud")],
            "flag --log-level: invalid log_level",
        ),
        (None, &[], &[("unix_socket_mode", "999")], "octal"),
    ];
    for (file, env, flags, needle) in cases {
        let err = format!("{:#}", load_with(*file, env, flags).unwrap_err());
        assert!(err.contains(needle), "expected {needle:?} in {err:?}");
    }
}

#[test]
fn workers_get_only_what_differs_from_their_own_defaults() {
    let s = load_with(None, &[], &[]).unwrap();
    let env = s.worker_env();
    // Alone a worker uses every CPU; under rg serve, one thread.
    assert_eq!(env, [("RG_THREADS".to_string(), "1".to_string())]);
    let s = load_with(
        Some("keepalive = 9\nbind = \"127.0.0.1:1\"\n"),
        &[],
        &[("keepalive", "5")],
    )
    .unwrap();
    assert_eq!(
        s.worker_env().len(),
        1,
        "keepalive set back to its default is not passed"
    );
    let s = load_with(Some("body_min_rate = 100\n"), &[], &[]).unwrap();
    assert!(
        s.worker_env()
            .iter()
            .any(|(k, v)| k == "RG_BODY_MIN_RATE" && v == "100")
    );
}

/// What rg gives its workers is what their own reader accepts.
#[test]
fn the_worker_env_parses_in_the_worker() {
    let s = load_with(Some("threads = 2\nkeepalive = 9\n"), &[], &[]).unwrap();
    let env: HashMap<String, String> = s.worker_env().into_iter().collect();
    let worker = WorkerSettings::from_lookup(|k| env.get(k).cloned()).unwrap();
    assert_eq!(worker.threads, 2);
    assert_eq!(worker.keepalive, Duration::from_secs(9));
}

#[test]
fn the_metrics_port_needs_an_address_of_its_own() {
    let off = load_with(None, &[], &[]).unwrap();
    assert_eq!(off.master.metrics_bind, None, "off by default");
    let on = load_with(Some("metrics_bind = \"127.0.0.1:9100\"\n"), &[], &[]).unwrap();
    assert_eq!(on.master.metrics_bind, Some("127.0.0.1:9100".parse().unwrap()));

    let same = load_with(
        Some("bind = \"0.0.0.0:8000\"\nmetrics_bind = \"127.0.0.1:8000\"\n"),
        &[],
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(same.contains("rg.toml:2"), "{same}");
    assert!(
        same.contains("invalid metrics_bind = \"127.0.0.1:8000\""),
        "{same}"
    );
    assert!(
        same.contains("also a serving address (bind = 0.0.0.0:8000)"),
        "{same}"
    );

    let bad = load_with(None, &[("RG_METRICS_BIND", "localhost:metrics")], &[])
        .unwrap_err()
        .to_string();
    assert!(bad.contains("environment RG_METRICS_BIND"), "{bad}");
    assert!(bad.contains("invalid metrics_bind"), "{bad}");
    let fd = load_with(None, &[], &[("metrics_bind", "fd://3")])
        .unwrap_err()
        .to_string();
    assert!(
        fd.contains("flag --metrics-bind") && fd.contains("fd:// is for serving sockets"),
        "{fd}"
    );
}

#[test]
fn insecure_bind_is_a_list_of_its_own_addresses() {
    let none = load_with(None, &[], &[]).unwrap();
    assert!(none.master.insecure_bind.is_empty(), "none by default");
    let two = load_with(
        Some("insecure_bind = [\"unix:/run/app.sock\", \"127.0.0.1:8080\"]\n"),
        &[],
        &[],
    )
    .unwrap();
    assert_eq!(two.master.insecure_bind.len(), 2);

    let same = load_with(
        None,
        &[],
        &[("bind", "0.0.0.0:8443"), ("insecure_bind", "127.0.0.1:8443")],
    )
    .unwrap_err()
    .to_string();
    assert!(same.contains("invalid insecure_bind"), "{same}");
    assert!(same.contains("also in bind (0.0.0.0:8443)"), "{same}");
    let metrics = load_with(
        None,
        &[],
        &[
            ("insecure_bind", "127.0.0.1:9100"),
            ("metrics_bind", "127.0.0.1:9100"),
        ],
    )
    .unwrap_err()
    .to_string();
    assert!(metrics.contains("also a serving address"), "{metrics}");
}
