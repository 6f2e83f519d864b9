//! Every setting's parser, as `rg.toml`, `RG_*` variables and flags feed
//! it, on any text: an error or a value, never a panic. The bind settings
//! are the `bind` target's (their host names would be resolved).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rg_contract::settings;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for setting in settings::SETTINGS {
        if !setting.key.contains("bind") {
            let _ = setting.check(text);
        }
    }
    let _ = settings::expr::eval(text, 2);
});
