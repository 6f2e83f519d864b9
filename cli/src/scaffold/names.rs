//! What a project may be called: a valid Cargo package name that does not
//! clash with the `rg` dependency every project has.

/// Rust keywords (all editions), which Cargo refuses as package names.
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate", "do", "dyn",
    "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let", "loop",
    "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return", "self", "Self",
    "static", "struct", "super", "trait", "true", "try", "type", "typeof", "unsafe", "unsized", "use",
    "virtual", "where", "while", "yield",
];

/// Names Cargo reserves or that would shadow a crate every project uses.
const RESERVED: &[&str] = &[
    "alloc",
    "core",
    "std",
    "proc_macro",
    "proc-macro",
    "test",
    "build",
    "deps",
    "examples",
    "incremental",
    "rg",
    "rg-runtime",
    "rg_runtime",
    "rg-contract",
    "rg_contract",
    "rg-internal",
    "rg_internal",
    "rg-dylib",
    "rg_dylib",
];

/// Windows device names, which Cargo refuses so a project can be checked out there.
const WINDOWS: &[&str] = &[
    "con", "prn", "aux", "nul", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8", "com9",
    "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
];

/// Checks `name` and says what is wrong with it, in the user's terms.
pub fn validate(name: &str) -> Result<(), String> {
    let Some(first) = name.chars().next() else {
        return Err("the project name is empty".into());
    };
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        let what = if bad.is_whitespace() {
            "a space".to_string()
        } else {
            format!("the character {bad:?}")
        };
        return Err(format!(
            "`{name}` contains {what}; a project name may only use letters, digits, `-` and `_`"
        ));
    }
    if first.is_ascii_digit() {
        return Err(format!(
            "`{name}` starts with a digit; a project name must start with a letter"
        ));
    }
    if first == '-' || first == '_' {
        return Err(format!(
            "`{name}` starts with `{first}`; a project name must start with a letter"
        ));
    }
    if KEYWORDS.contains(&name) {
        return Err(format!("`{name}` is a Rust keyword and cannot be a package name"));
    }
    if RESERVED.contains(&name) {
        return Err(format!(
            "`{name}` is reserved (by Cargo, the standard library, or rg's own runtime crate); pick another name"
        ));
    }
    if WINDOWS.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(format!(
            "`{name}` is a reserved device name on Windows; pick another name"
        ));
    }
    if name.len() > 64 {
        return Err(format!("`{name}` is longer than 64 characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn accepts_ordinary_names() {
        for name in ["mysite", "my-site", "my_site", "site2", "A"] {
            assert_eq!(validate(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn refuses_with_the_reason() {
        for (name, reason) in [
            ("", "empty"),
            ("9lives", "starts with a digit"),
            ("has space", "contains a space"),
            ("a/b", "the character '/'"),
            ("fn", "Rust keyword"),
            ("self", "Rust keyword"),
            ("test", "reserved"),
            ("rg", "reserved"),
            ("-x", "starts with `-`"),
            ("nul", "Windows"),
        ] {
            let err = validate(name).unwrap_err();
            assert!(err.contains(reason), "{name:?}: {err}");
        }
    }
}
