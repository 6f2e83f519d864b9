//! `--print-config`: the effective settings as TOML, each line saying
//! where its value came from, in the schema's order.

use rg_contract::settings::{self as schema, SETTINGS};

use super::Settings;

impl Settings {
    /// The effective settings as TOML, with origins as comments.
    pub fn render(&self) -> String {
        let mut out = String::from(
            "# Effective settings. Later sources win: default < rg.toml < RG_* environment < flags.\n",
        );
        if let Some(file) = &self.config_file {
            out.push_str(&format!("# Config file: {}\n", file.display()));
        }
        for setting in SETTINGS {
            let (value, origin) = &self.values[setting.key];
            // Counts are shown evaluated, with the expression after the origin.
            let evaluated = if setting.key == schema::WORKERS.key {
                Some(self.master.workers)
            } else if setting.key == schema::THREADS.key {
                Some(self.worker.threads)
            } else {
                None
            };
            let shown = match evaluated {
                Some(n) => n.to_string(),
                None => setting.toml_value(value),
            };
            let expression = match evaluated {
                Some(n) if value.trim() != n.to_string() => format!(" = {}", value.trim()),
                _ => String::new(),
            };
            out.push_str(&format!("\n# {}\n", setting.help));
            let line = format!("{} = {shown}", setting.key);
            out.push_str(&format!("{line:<40} # {origin}{expression}\n"));
        }
        out
    }
}
