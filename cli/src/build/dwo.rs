//! Split debug info left behind: with `split-debuginfo = "unpacked"` each
//! compile of a crate writes a `.dwo` file per codegen unit, named for the
//! compile (`NAME.UNIT.SESSION.rcgu.dwo`), and rustc never removes older
//! ones: a day of saves leaves tens of thousands beside the binary.

use std::collections::HashMap;
use std::path::Path;
use std::time::SystemTime;

/// Compiles whose files stay: the newest two, so a debugger attached
/// after a save still finds the code it was in before.
const KEPT: usize = 2;

/// Removes the `.dwo` files of `output`'s crate (`deps/NAME-HASH`) from
/// all but its last compiles. What cannot be read or removed stays.
pub fn prune(output: &Path) {
    let (Some(dir), Some(name)) = (output.parent(), output.file_name().and_then(|n| n.to_str())) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut compiles: HashMap<String, (SystemTime, Vec<std::path::PathBuf>)> = HashMap::new();
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(session) = file.to_str().and_then(|f| session(f, name)) else {
            continue;
        };
        let modified = entry
            .metadata()
            .and_then(|m| m.modified())
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let compile = compiles
            .entry(session.to_string())
            .or_insert((SystemTime::UNIX_EPOCH, Vec::new()));
        compile.0 = compile.0.max(modified);
        compile.1.push(entry.path());
    }
    let mut compiles: Vec<_> = compiles.into_values().collect();
    compiles.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
    for (_, files) in compiles.into_iter().skip(KEPT) {
        for file in files {
            let _ = std::fs::remove_file(file);
        }
    }
}

/// The compile a `.dwo` file of crate `name` came from.
fn session<'a>(file: &'a str, name: &str) -> Option<&'a str> {
    let rest = file.strip_prefix(name)?.strip_prefix('.')?;
    let rest = rest.strip_suffix(".rcgu.dwo")?;
    let (_unit, session) = rest.split_once('.')?;
    (!session.contains('.')).then_some(session)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_crates_own_units_have_a_session() {
        let name = "hw-bfd4c3724d12aec2";
        assert_eq!(
            session("hw-bfd4c3724d12aec2.9hex5cfsn.0v6dhre.rcgu.dwo", name),
            Some("0v6dhre")
        );
        assert_eq!(
            session("hw-bfd4c3724d12aec2.9hex5cfsn.0v6dhre.rcgu.o", name),
            None
        );
        assert_eq!(
            session("hw-0000000000000000.9hex5cfsn.0v6dhre.rcgu.dwo", name),
            None
        );
        assert_eq!(session("hw-bfd4c3724d12aec2.d", name), None);
    }

    #[test]
    fn all_but_the_last_two_compiles_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let name = "app-1";
        let at = |s: u64| SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000 + s);
        for (n, session) in ["old", "mid", "new"].iter().enumerate() {
            for unit in ["u1", "u2"] {
                let path = dir.path().join(format!("{name}.{unit}.{session}.rcgu.dwo"));
                let file = std::fs::File::create(&path).unwrap();
                file.set_modified(at(n as u64)).unwrap();
            }
        }
        std::fs::write(dir.path().join("other-2.u1.old.rcgu.dwo"), "").unwrap();
        prune(&dir.path().join(name));
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "app-1.u1.mid.rcgu.dwo",
                "app-1.u1.new.rcgu.dwo",
                "app-1.u2.mid.rcgu.dwo",
                "app-1.u2.new.rcgu.dwo",
                "other-2.u1.old.rcgu.dwo"
            ]
        );
    }
}
