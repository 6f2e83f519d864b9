//! The `rg.toml` that `rg new` writes, the gunicorn.conf.py of rg:
//! generated from the settings schema, so it lists every setting with its
//! comment and its default, commented out, and cannot fall behind.

use rg_contract::settings::SETTINGS;

/// The file for project `name`.
pub fn render(name: &str) -> String {
    let mut out = format!(
        "# rg.toml: the server settings of {name}, the gunicorn.conf.py of rg.\n\
         #\n\
         # `rg serve` reads this file from the project directory (or the file given\n\
         # with -c). Every setting is listed with its default, commented out:\n\
         # uncomment a line to change it. RG_* environment variables override this\n\
         # file (the key in upper case: RG_WORKERS, RG_BIND, ...), and flags override\n\
         # both. `rg serve --print-config` shows the result and where each value came\n\
         # from; `rg serve --check-config` only checks it.\n"
    );
    for setting in SETTINGS {
        out.push('\n');
        for line in setting.doc.lines() {
            out.push_str(&format!("# {line}\n"));
        }
        out.push_str(&format!(
            "# {} = {}\n",
            setting.key,
            setting.toml_value(setting.default)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Uncommented, the file is valid TOML and every value in it is the
    /// schema's default, as `rg.toml` validation reads it.
    #[test]
    fn uncommented_it_is_every_default() {
        let text = render("site");
        let active: String = text
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| SETTINGS.iter().any(|s| l.starts_with(&format!("{} = ", s.key))))
            .map(|l| format!("{l}\n"))
            .collect();
        let table: toml::Table = active.parse().unwrap();
        assert_eq!(table.len(), SETTINGS.len());
        for setting in SETTINGS {
            let value = &table[setting.key];
            let text = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Array(items) => items
                    .iter()
                    .filter_map(|i| i.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                other => panic!("{}: {other:?}", setting.key),
            };
            assert_eq!(text, setting.default, "{}", setting.key);
        }
    }
}
