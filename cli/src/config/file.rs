//! Reading `rg.toml`: every top-level key must be a setting of the schema;
//! values become text, each with the line it was written on (from the
//! `toml` crate's spans), for errors and `--print-config`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use rg_contract::settings::{self as schema, Kind, SETTINGS};
use toml::Spanned;

use super::Origin;

/// The settings in the file at `path`: key, value as text, line.
pub fn read(path: &Path) -> Result<Vec<(&'static str, String, usize)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("failed to read `{}`", path.display()))?;
    let table: BTreeMap<Spanned<String>, toml::Value> = toml::from_str(&text)
        .map_err(|e| anyhow!("{}: not valid TOML: {}", path.display(), e.to_string().trim_end()))?;
    let mut out = Vec::new();
    for (name, value) in &table {
        let line = text[..name.span().start].matches('\n').count() + 1;
        let at = Origin::File(path.to_path_buf(), line);
        let name = name.get_ref();
        let Some(setting) = schema::find(name) else {
            let hint = closest(name)
                .map(|k| format!("; did you mean `{k}`?"))
                .unwrap_or_default();
            bail!("{at}: unknown setting `{name}`{hint} (`rg serve --help` lists them)");
        };
        let text = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) if setting.kind == Kind::List => items
                .iter()
                .map(|item| match item {
                    toml::Value::String(s) => Ok(s.clone()),
                    other => Err(anyhow!(
                        "{at}: `{name}` must be a list of strings, found {}",
                        other.type_str()
                    )),
                })
                .collect::<Result<Vec<_>>>()?
                .join(","),
            other => bail!(
                "{at}: `{name}` cannot be {} {}",
                article(other.type_str()),
                other.type_str()
            ),
        };
        out.push((setting.key, text, line));
    }
    Ok(out)
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// The known key nearest to a misspelt one, if any is near.
fn closest(name: &str) -> Option<&'static str> {
    SETTINGS
        .iter()
        .map(|s| (strsim::levenshtein(name, s.key), s.key))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, k)| k)
}
