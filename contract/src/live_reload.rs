//! The live-reload protocol of `rg runserver`, shared by the application
//! process (dev mode) and rg's own error page.
//!
//! Every HTML page gets [`SCRIPT`], which listens on [`PATH`]: an event
//! stream that sends the serving process's build id once ([`first_event`])
//! and then stays open until that process stops. When `rg runserver`
//! replaces the process, the stream ends, the browser reconnects (to the new
//! process, or to the error page while the build is broken), sees a
//! different id, and reloads.

/// The event stream's path.
pub const PATH: &str = "/__rg/reload";

/// The script injected into HTML pages: reload once the build id changes.
pub const SCRIPT: &str = r#"<script data-rg-live-reload>(function(){var seen=null;function connect(){var s=new EventSource("/__rg/reload");s.onmessage=function(e){if(seen===null){seen=e.data}else if(e.data!==seen){s.close();location.reload()}};}connect();})();</script>"#;

/// The stream's first (and only) event: `retry` short, so the browser
/// reconnects within 100 ms of a restart, then the build id.
pub fn first_event(build_id: &str) -> String {
    format!("retry: 100\ndata: {build_id}\n\n")
}

/// `html` with the script inserted before the last `</body>`, or appended.
pub fn with_script(html: &[u8]) -> Vec<u8> {
    let lower = html.to_ascii_lowercase();
    let at = lower
        .windows(7)
        .rposition(|w| w == b"</body>")
        .unwrap_or(html.len());
    let mut out = Vec::with_capacity(html.len() + SCRIPT.len());
    out.extend_from_slice(&html[..at]);
    out.extend_from_slice(SCRIPT.as_bytes());
    out.extend_from_slice(&html[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_goes_before_the_closing_body_tag() {
        let out = String::from_utf8(with_script(b"<html><BODY>hi</BODY></html>")).unwrap();
        assert!(
            out.starts_with("<html><BODY>hi<script data-rg-live-reload>"),
            "{out}"
        );
        assert!(out.ends_with("</script></BODY></html>"), "{out}");
        let out = String::from_utf8(with_script(b"<p>fragment")).unwrap();
        assert!(out.ends_with("</script>"));
    }
}
