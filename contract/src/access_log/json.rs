//! The access log as one JSON object per request, for log pipelines that
//! read fields instead of parsing lines.

use super::AccessRecord;
use super::append::version_str;
use super::time::rfc3339;

/// The line: the request's fields by name, the time to the millisecond.
pub(super) fn render_json(r: &AccessRecord<'_>) -> String {
    let (path, query) = match r.path_and_query.split_once('?') {
        Some((p, q)) => (p, q),
        None => (r.path_and_query, ""),
    };
    serde_json::json!({
        "time": rfc3339(r.time),
        "remote_addr": r.remote.map(|ip| ip.to_string()),
        "method": r.method.as_str(),
        "path": path,
        "query": query,
        "protocol": version_str(r.version),
        "status": r.status.as_u16(),
        "bytes": r.bytes,
        "duration_ms": r.duration.as_secs_f64() * 1000.0,
        "referer": r.request_header(0),
        "user_agent": r.request_header(1),
        "pid": std::process::id(),
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, Method};

    use crate::access_log::AccessFormat;
    use crate::access_log::record::tests::record;

    #[test]
    fn json_lines_parse_back() {
        let resp = HeaderMap::new();
        let line = AccessFormat::Json.render(&record(&[], &resp, &Method::GET));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["status"], 200);
        assert_eq!(v["path"], "/a b");
        assert_eq!(v["time"], "2000-10-10T13:55:36.000Z");
    }
}
