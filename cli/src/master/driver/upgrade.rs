//! USR2 in the master's loop: the new rg is checked off the loop, then the
//! master hands over and execs it; a master that was exec'd so takes the
//! workers over and rolls them as a HUP would.

use std::time::Instant;

use anyhow::Result;
use rg_contract::notify::Notification;
use tokio::sync::oneshot;
use tracing::{error, info};

use super::{Arbiter, policy_config};
use crate::master::policy::{Phase, Policy};
use crate::master::upgrade::{self, Handover};
use crate::process::notifications::Receiver;

impl Arbiter {
    /// Starts checking the new rg at the path this one was started as;
    /// the loop hands over once the check says yes. Returns what is
    /// checked, or why not now.
    pub(super) fn begin_upgrade(&mut self) -> Result<String, String> {
        let phase = self.policy.phase();
        if phase.is_leaving() {
            return Err("rg serve is stopping".into());
        }
        if phase != Phase::Running || self.upgrade.is_some() {
            return Err("a reload or an upgrade is in progress; try again once it is done".into());
        }
        let (exe, args) = (self.exe.clone(), self.args.clone());
        info!("Upgrading: checking the new rg at {}", exe.display());
        let (done, checked) = oneshot::channel();
        tokio::spawn(async move {
            let _ = done.send(upgrade::check(&exe, &args).await);
        });
        self.upgrade = Some(checked);
        Ok(self.exe.display().to_string())
    }

    /// The check's verdict: hand over and exec, or say why not and serve on.
    pub(super) fn finish_upgrade(&mut self, checked: Result<String, String>) {
        self.upgrade = None;
        let ours = env!("CARGO_PKG_VERSION");
        let version = match checked {
            Ok(version) if !self.policy.phase().is_leaving() => version,
            Ok(_) => return,
            Err(why) => {
                error!("Upgrade refused: {why}. rg {ours} serves on");
                let _ = self
                    .systemd
                    .send(&Notification::status(format!("Upgrade refused: {why}")));
                return;
            }
        };
        let handover = Handover {
            from_version: ours.to_string(),
            exe: self.exe.clone(),
            program: self.program.clone(),
            uptime: self.started.elapsed(),
            sockets: self.sockets.fds(),
            created: self.sockets.created().to_vec(),
            bound: self.sockets.bound().to_vec(),
            receiver: (self.receiver.fd(), self.receiver.path().to_path_buf()),
            policy: self.policy.handed(Instant::now()),
            failed: None,
        };
        info!(
            "Upgrading in place: rg {ours} -> rg {version}, master pid {}, handing over {} workers",
            std::process::id(),
            handover.policy.workers.len()
        );
        self.announce_reloading(&format!("Upgrading to rg {version}"));
        self.logs.errors.sync();
        let error = upgrade::exec(&self.args, &handover);
        error!(
            "Upgrade failed: could not exec {}: {error}. rg {ours} serves on",
            self.exe.display()
        );
        let failed = Notification::ready().with_status("Upgrade failed: could not exec the new rg");
        let _ = self.systemd.send(&failed);
    }

    /// Takes over from the master that exec'd this one: its notification
    /// socket, workers, counts and start time. A reload follows at once.
    pub fn adopt(mut self, handover: &Handover) -> Result<Arbiter> {
        // SAFETY: the descriptor was handed over for this, and nothing else
        // in this process has taken it.
        self.receiver = unsafe { Receiver::adopt(handover.receiver.0, handover.receiver.1.clone()) }?;
        let now = Instant::now();
        self.policy = Policy::adopt(policy_config(&self.settings), &handover.policy, now);
        self.started = now.checked_sub(handover.uptime).unwrap_or(now);
        self.exe = handover.exe.clone();
        self.adopted = true;
        let ours = env!("CARGO_PKG_VERSION");
        let workers = handover.policy.workers.len();
        match &handover.failed {
            None => info!(
                "Upgraded in place: rg {} -> rg {ours}, master pid {}, took over {workers} workers",
                handover.from_version,
                std::process::id()
            ),
            Some(why) => error!(
                "Upgrade failed, back on rg {ours} with {workers} workers: the new rg could not take over: {why}"
            ),
        }
        Ok(self)
    }
}
