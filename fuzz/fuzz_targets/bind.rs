//! `--bind` lists: what parses prints back as an address that parses to
//! the same bind. Host names are left out: they would be resolved.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rg_contract::Bind;

/// Whether parsing `item` could ask the resolver (a name, not an address).
fn resolves(item: &str) -> bool {
    let item = item.trim();
    if item.starts_with("unix:") || item.starts_with("fd://") || item.parse::<u16>().is_ok() {
        return false;
    }
    match item.rsplit_once(':') {
        Some((host, _)) => host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_err(),
        None => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.split(',').any(resolves) {
        return;
    }
    if let Ok(binds) = Bind::parse_list(text) {
        for bind in binds {
            let shown = bind.to_string();
            let again: Bind = shown
                .parse()
                .unwrap_or_else(|e| panic!("{shown:?} does not parse: {e}"));
            assert_eq!(again, bind, "{text:?} printed as {shown:?}");
        }
    }
});
