//! The live-reload protocol of `rg runserver`, shared by the application
//! process (dev mode) and rg's own error page.
//!
//! Every HTML page gets [`SCRIPT`], which listens on [`PATH`]: an event
//! stream that sends an id for what is being served ([`event`]) and then
//! stays open until that process stops. When `rg runserver` replaces the
//! process, the stream ends, the browser reconnects (to the new process, or
//! to the error page while the build is broken), sees a different id, and
//! reloads. When only a file the binary reads at run time changed (a
//! template, a stylesheet), rg sends the process [`RELOAD_SIGNAL`] instead
//! of rebuilding it, and the process sends a new id on the streams it has.

/// The event stream's path.
pub const PATH: &str = "/__rg/reload";

/// The script injected into HTML pages: reload once the build id changes.
pub const SCRIPT: &str = r#"<script data-rg-live-reload>(function(){var seen=null;function connect(){var s=new EventSource("/__rg/reload");s.onmessage=function(e){if(seen===null){seen=e.data}else if(e.data!==seen){s.close();location.reload()}};}connect();})();</script>"#;

/// The signal that asks a dev-mode process to reload the browsers that
/// show its pages, without a restart.
pub const RELOAD_SIGNAL: i32 = libc::SIGUSR2;

/// One event of the stream: `retry` short, so the browser reconnects
/// within 100 ms of a restart, then the id of what is served.
pub fn event(id: &str) -> String {
    format!("retry: 100\ndata: {id}\n\n")
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
