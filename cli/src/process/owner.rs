//! Whom the workers run as: Gunicorn's `user` and `group`.
//!
//! The master may need root for what it does once (bind port 80, create a
//! socket in /run); the application never should. With `user` (and
//! optionally `group`) set, the master keeps its own identity and starts
//! every worker as that user, with no supplementary groups, and hands
//! the unix socket files it creates to them. Names are resolved when
//! `rg serve` starts or reloads, not when settings are read, so a
//! production `user` in `rg.toml` never gets in the way of `rg runserver`
//! on a laptop that has no such user.

use anyhow::Result;
use nix::unistd::{Gid, Group, Uid, User};

use crate::config::Settings;

/// The identity workers take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

impl Owner {
    /// The owner `settings` ask for: `None` when neither `user` nor `group`
    /// is set. Errors name the setting and where its value came from.
    pub fn from_settings(settings: &Settings) -> Result<Option<Owner>> {
        let user = settings.master.user.as_str();
        let group = settings.master.group.as_str();
        if user.is_empty() && group.is_empty() {
            return Ok(None);
        }
        let (uid, primary_gid) = if user.is_empty() {
            (Uid::effective().as_raw(), Some(Gid::effective().as_raw()))
        } else {
            lookup_user(user).map_err(|reason| settings.invalid("user", &reason))?
        };
        let gid = if group.is_empty() {
            primary_gid.ok_or_else(|| {
                settings.invalid(
                    "user",
                    "has no entry in the user database to take a group from; set group too",
                )
            })?
        } else {
            lookup_group(group).map_err(|reason| settings.invalid("group", &reason))?
        };
        let me = (Uid::effective().as_raw(), Gid::effective().as_raw());
        if me.0 != 0 && (uid, gid) != me {
            let key = if uid != me.0 { "user" } else { "group" };
            return Err(settings.invalid(
                key,
                &format!(
                    "switching workers to another user or group needs rg serve to run as root (it runs as uid {})",
                    me.0
                ),
            ));
        }
        Ok(Some(Owner { uid, gid }))
    }
}

/// The uid and primary gid of a user name or uid. A numeric uid with no
/// entry in the user database is still a uid, without a group.
fn lookup_user(user: &str) -> Result<(u32, Option<u32>), String> {
    let id = user.parse::<u32>().ok();
    let entry = match id {
        Some(id) => User::from_uid(Uid::from_raw(id)),
        None => User::from_name(user),
    }
    .map_err(|e| format!("could not look it up: {e}"))?;
    match (entry, id) {
        (Some(entry), _) => Ok((entry.uid.as_raw(), Some(entry.gid.as_raw()))),
        (None, Some(id)) => Ok((id, None)),
        (None, None) => Err("no such user".into()),
    }
}

/// The gid of a group name or gid.
fn lookup_group(group: &str) -> Result<u32, String> {
    if let Ok(id) = group.parse::<u32>() {
        return Ok(id);
    }
    Group::from_name(group)
        .map_err(|e| format!("could not look it up: {e}"))?
        .map(|g| g.gid.as_raw())
        .ok_or_else(|| "no such group".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Sources, load};

    fn owner(flags: &[(&'static str, &str)]) -> Result<Option<Owner>> {
        let sources = Sources {
            flags: flags.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            ..Sources::default()
        };
        Owner::from_settings(&load(&sources, |_| None)?)
    }

    #[test]
    fn nothing_set_is_no_switch() {
        assert_eq!(owner(&[]).unwrap(), None);
    }

    #[test]
    fn a_user_brings_its_primary_group() {
        // root exists everywhere; switching to it is allowed only as root.
        let result = owner(&[("user", "root")]);
        if Uid::effective().is_root() {
            assert_eq!(result.unwrap(), Some(Owner { uid: 0, gid: 0 }));
            assert_eq!(
                owner(&[("user", "0"), ("group", "123")]).unwrap(),
                Some(Owner { uid: 0, gid: 123 })
            );
        } else {
            let err = result.unwrap_err().to_string();
            assert!(err.contains("needs rg serve to run as root"), "{err}");
        }
    }

    #[test]
    fn unknown_names_are_errors_naming_the_setting() {
        let err = owner(&[("user", "no-such-user-here")]).unwrap_err().to_string();
        assert_eq!(
            err,
            "flag --user: invalid user = \"no-such-user-here\": no such user"
        );
        let err = owner(&[("group", "no-such-group-here")]).unwrap_err().to_string();
        assert!(
            err.contains("invalid group = \"no-such-group-here\": no such group"),
            "{err}"
        );
        let err = owner(&[("user", "4000123")]).unwrap_err().to_string();
        assert!(err.contains("set group too"), "{err}");
    }
}
