//! The settings as flags of `rg serve`, generated from the schema: each
//! setting's long flag (and Gunicorn's short one), its help and its default
//! in `--help`. Values stay text here; they are parsed with every other
//! source in `config::load`, so a flag's error names the flag.

use clap::{Arg, ArgAction, ArgMatches, Command, FromArgMatches};
use rg_contract::settings::{Kind, SETTINGS};

/// The setting flags that were given, in schema order: key and value.
#[derive(Debug, Clone, Default)]
pub struct SettingFlags(pub Vec<(&'static str, String)>);

impl FromArgMatches for SettingFlags {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut flags = SettingFlags::default();
        flags.update_from_arg_matches(matches)?;
        Ok(flags)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        for setting in SETTINGS {
            if let Some(values) = matches.get_many::<String>(setting.key) {
                self.0.extend(values.map(|v| (setting.key, v.clone())));
            }
        }
        Ok(())
    }
}

impl clap::Args for SettingFlags {
    fn augment_args(cmd: Command) -> Command {
        SETTINGS.iter().fold(cmd, |cmd, setting| {
            let default = if setting.default.is_empty() {
                String::new()
            } else {
                format!(" [default: {}]", setting.default)
            };
            let mut arg = Arg::new(setting.key)
                .long(setting.flag.trim_start_matches("--"))
                .value_name(setting.value_name)
                .help(format!("{}{default}", setting.help))
                .action(match setting.kind {
                    Kind::List => ArgAction::Append,
                    _ => ArgAction::Set,
                });
            if let Some(short) = setting.short {
                arg = arg.short(short);
            }
            if let Some(alias) = setting.alias {
                arg = arg.alias(alias);
            }
            cmd.arg(arg)
        })
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}
