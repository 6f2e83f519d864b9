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

use anyhow::{Result, anyhow};
use nix::unistd::{Gid, Group, Uid, User};

use crate::settings::Settings;

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
        let value = |key: &str| {
            let (value, origin) = &settings.values[key];
            (value.trim().to_string(), origin.to_string())
        };
        let (user, user_origin) = value("user");
        let (group, group_origin) = value("group");
        if user.is_empty() && group.is_empty() {
            return Ok(None);
        }
        let invalid = |key: &str, value: &str, origin: &str, reason: String| {
            anyhow!("{origin}: invalid {key} = {value:?}: {reason}")
        };
        let (uid, primary_gid) = if user.is_empty() {
            (Uid::effective().as_raw(), None)
        } else {
            let found = match user.parse::<u32>() {
                Ok(id) => User::from_uid(Uid::from_raw(id)).map(|u| u.map(|u| (id, Some(u.gid.as_raw())))),
                Err(_) => User::from_name(&user).map(|u| u.map(|u| (u.uid.as_raw(), Some(u.gid.as_raw())))),
            }
            .map_err(|e| invalid("user", &user, &user_origin, format!("could not look it up: {e}")))?;
            match (found, user.parse::<u32>()) {
                (Some(found), _) => found,
                // A numeric id with no entry in the user database is still an id.
                (None, Ok(id)) => (id, None),
                (None, Err(_)) => {
                    return Err(invalid("user", &user, &user_origin, "no such user".into()));
                }
            }
        };
        let gid = if group.is_empty() {
            match primary_gid {
                Some(gid) => gid,
                None if user.is_empty() => Gid::effective().as_raw(),
                None => {
                    return Err(invalid(
                        "user",
                        &user,
                        &user_origin,
                        "has no entry in the user database to take a group from; set group too".into(),
                    ));
                }
            }
        } else {
            match group.parse::<u32>() {
                Ok(id) => id,
                Err(_) => Group::from_name(&group)
                    .map_err(|e| {
                        invalid(
                            "group",
                            &group,
                            &group_origin,
                            format!("could not look it up: {e}"),
                        )
                    })?
                    .map(|g| g.gid.as_raw())
                    .ok_or_else(|| invalid("group", &group, &group_origin, "no such group".into()))?,
            }
        };
        let me = (Uid::effective().as_raw(), Gid::effective().as_raw());
        if me.0 != 0 && (uid, gid) != me {
            let (key, value, origin) = if uid != me.0 {
                ("user", &user, &user_origin)
            } else {
                ("group", &group, &group_origin)
            };
            return Err(invalid(
                key,
                value,
                origin,
                format!(
                    "switching workers to another user or group needs rg serve to run as root (it runs as uid {})",
                    me.0
                ),
            ));
        }
        Ok(Some(Owner { uid, gid }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{Sources, load};

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
