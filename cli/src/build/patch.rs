//! `rg runserver`'s hot patches, rg's side: the binary crate's objects,
//! compiled by rustc alone, linked as a shared library whose every other
//! symbol resolves to the copy already in the process (the shared
//! runtime's, std's, the binary's own).
//! What the runtime does with it: `internal/src/hot_patch.rs`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use object::{Object as _, ObjectSection as _, ObjectSymbol as _, SectionKind};

/// A patch, linked.
#[derive(Debug)]
pub struct Patch {
    pub library: PathBuf,
    /// The binary crate's `main`, from the library's exported `main`.
    pub main_offset: i64,
}

/// Links `objects` (the crate `krate`) into `out` with the toolchain's
/// linker, found on `library_path`. It names no library: what it does not
/// define resolves, when it loads, to the copies the process already has,
/// and a name the process lacks fails the load, said in words (reading
/// the 30 MB shared runtime to check at link time cost 16 ms a save).
/// `Err`: why this save cannot be patched.
pub async fn link(
    objects: &[PathBuf],
    library_path: &OsStr,
    krate: &str,
    out: &Path,
) -> Result<Patch, String> {
    for object in objects {
        let data = std::fs::read(object).map_err(|e| format!("reading `{}`: {e}", object.display()))?;
        if let Some(name) = writable_static(&data, krate)? {
            return Err(format!(
                "`{name}` is a static of the binary crate, which a patch would start afresh"
            ));
        }
    }
    let dirs: Vec<PathBuf> = std::env::split_paths(library_path).collect();
    let mut cmd = linker(&dirs);
    cmd.arg("-o")
        .arg(out)
        .args(objects)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = cmd
        .output()
        .await
        .map_err(|e| format!("running the linker: {e}"))?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stderr);
        let first = said
            .lines()
            .find(|l| l.contains("error") || l.contains("undefined"));
        return Err(format!(
            "linking it failed: {}",
            first.unwrap_or("the linker gave no reason").trim()
        ));
    }
    let library = std::fs::read(out).map_err(|e| format!("reading `{}`: {e}", out.display()))?;
    let main_offset = main_offset(&library, krate)?;
    Ok(Patch {
        library: out.to_path_buf(),
        main_offset,
    })
}

/// The toolchain's own lld, called directly (20 ms less than through
/// `cc`), else `cc`. What the patch does not define (libc's functions
/// among them) is found in the process when it loads; its own functions
/// call each other, not the binary's old copies (`-Bsymbolic`); unwinding
/// through it needs its frame table (`--eh-frame-hdr`).
fn linker(library_dirs: &[PathBuf]) -> tokio::process::Command {
    let lld = library_dirs
        .iter()
        .map(|dir| dir.join("../bin/rust-lld"))
        .find(|lld| lld.is_file());
    match lld {
        Some(lld) => {
            let mut cmd = tokio::process::Command::new(lld);
            cmd.args([
                "-flavor",
                "gnu",
                "-shared",
                "-Bsymbolic",
                "--eh-frame-hdr",
                "-z",
                "noexecstack",
            ]);
            cmd
        }
        None => {
            let mut cmd = tokio::process::Command::new(std::env::var_os("CC").unwrap_or_else(|| "cc".into()));
            cmd.args(["-shared", "-Wl,-Bsymbolic"]);
            cmd
        }
    }
}

/// Whether `main.rs`'s `fn main` returns nothing or an `ExitCode`: the
/// runtime calls a patch's `main` as `fn()`, which reads either the same.
/// A larger return value (some `Result`s) would be written through a
/// pointer that call does not pass.
pub fn main_is_callable(source: &str) -> Result<(), String> {
    let at = source
        .find("fn main(")
        .ok_or("no `fn main` in the crate's root")?;
    let head = &source[at..];
    let signature = head[..head.find('{').unwrap_or(head.len())]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    match signature.as_str() {
        "fn main()" | "fn main() -> ExitCode" | "fn main() -> std::process::ExitCode" => Ok(()),
        other => Err(format!(
            "`{other}` returns what a patch's call of it cannot take (it takes `()` or an `ExitCode`)"
        )),
    }
}

/// `_ZN` + the crate's name as a path segment: how its legacy-mangled
/// symbols begin.
fn prefix(krate: &str) -> String {
    format!("_ZN{}{krate}", krate.len())
}

/// The first static of `krate` the object defines that can change at run
/// time (data, zeroed data or thread-local): the patch would have a copy
/// of its own, starting from its initial value.
fn writable_static(data: &[u8], krate: &str) -> Result<Option<String>, String> {
    let file = object::File::parse(data).map_err(|e| format!("reading the object: {e}"))?;
    let prefix = prefix(krate);
    for symbol in file.symbols().filter(|s| s.is_definition()) {
        let (Ok(name), Some(index)) = (symbol.name(), symbol.section_index()) else {
            continue;
        };
        let Ok(section) = file.section_by_index(index) else {
            continue;
        };
        let writable = matches!(
            section.kind(),
            SectionKind::Data
                | SectionKind::UninitializedData
                | SectionKind::Tls
                | SectionKind::UninitializedTls
        );
        if writable && name.starts_with(&prefix) {
            return Ok(Some(path_of(name)));
        }
    }
    Ok(None)
}

/// `why` with its mangled names (`_ZN...E`) read as paths.
pub fn readable(why: &str) -> String {
    why.split(' ')
        .map(|word| match word.starts_with("_ZN") {
            true => format!("`{}`", path_of(word)),
            false => word.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `a::b::C` from `_ZN1a1b1C17h0123456789abcdefE`, for messages.
fn path_of(mangled: &str) -> String {
    let mut rest = mangled.strip_prefix("_ZN").unwrap_or(mangled);
    let mut parts = Vec::new();
    while let Some(len_end) = rest.find(|c: char| !c.is_ascii_digit()).filter(|&i| i > 0) {
        let Ok(len) = rest[..len_end].parse::<usize>() else {
            break;
        };
        let Some(part) = rest.get(len_end..len_end + len) else {
            break;
        };
        parts.push(part);
        rest = &rest[len_end + len..];
    }
    if parts.last().is_some_and(|p| p.starts_with('h') && p.len() == 17) {
        parts.pop();
    }
    parts.join("::")
}

/// Where the crate's `main` is in `library`, from the exported `main`
/// (rustc's, which calls it through std's `lang_start`).
fn main_offset(library: &[u8], krate: &str) -> Result<i64, String> {
    let file = object::File::parse(library).map_err(|e| format!("reading the patch: {e}"))?;
    let ours = format!("{}4main17h", prefix(krate));
    let find = |wanted: &dyn Fn(&str) -> bool| {
        file.symbols()
            .find(|s| s.is_definition() && s.name().is_ok_and(wanted))
            .map(|s| s.address() as i64)
    };
    let exported = find(&|n| n == "main").ok_or("the patch has no `main`")?;
    let main = find(&|n| n.starts_with(&ours)).ok_or_else(|| format!("the patch has no `{krate}::main`"))?;
    Ok(main - exported)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mangled_names_read_as_paths() {
        assert_eq!(path_of("_ZN2hp4HITS17h0123456789abcdefE"), "hp::HITS");
        assert_eq!(
            path_of("_ZN4site5views7COUNTER17hfedcba9876543210E"),
            "site::views::COUNTER"
        );
        assert_eq!(prefix("site"), "_ZN4site");
        assert!(main_is_callable("mod a;\nfn main() -> std::process::ExitCode {\n rg::run(a::b)\n}").is_ok());
        assert!(main_is_callable("fn main() {}").is_ok());
        assert!(main_is_callable("fn main() -> Result<(), Error> {}").is_err());
        assert_eq!(
            readable("patch-2.so: undefined symbol: _ZN10serde_json5error10make_error17h8ce8035cb5230d7aE"),
            "patch-2.so: undefined symbol: `serde_json::error::make_error`"
        );
    }
}
