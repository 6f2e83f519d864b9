//! The PROXY protocol header, versions 1 and 2: never a panic, and the
//! same end and client address whole and byte by byte.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(end) = rg_internal::fuzz::proxy_header(data) {
        assert!(end <= data.len());
    }
});
