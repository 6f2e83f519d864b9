//! `access_log_format` (Gunicorn's `%(h)s` atoms and Apache's `%h`): any
//! text gives a format or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rg_contract::access_log::AccessFormat;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(format) = AccessFormat::parse(text) {
        let _ = format.request_headers();
        let _ = format.times_requests();
    }
});
