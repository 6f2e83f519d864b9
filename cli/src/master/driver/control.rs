//! The master's answers to `rg ctl`, from the loop's own state: what it
//! shows is one moment of it, and what it does goes through the policy as
//! the matching signal would.

use serde_json::{Value, json};

use super::Arbiter;
use crate::master::control::Command;
use crate::master::policy::{Phase, Request, Restart};

impl Arbiter {
    /// The answer to `command`, and the requests it makes of the policy.
    pub(super) fn on_control(&mut self, command: Command) -> (Value, Vec<Request>) {
        let target = self.policy.target();
        match command {
            Command::Workers => (json!({ "ok": true, "workers": self.workers_json() }), vec![]),
            Command::Stats => (self.stats_json(), vec![]),
            Command::Config => {
                let settings: Vec<Value> = (self.settings.values.iter())
                    .map(|(key, (value, origin))| json!({ "key": key, "value": value, "origin": origin.to_string() }))
                    .collect();
                (json!({ "ok": true, "settings": settings }), vec![])
            }
            Command::Add(n) => (
                json!({ "ok": true, "target": target + n as usize }),
                vec![Request::Ttin; n as usize],
            ),
            Command::Remove(n) => (
                json!({ "ok": true, "target": target.saturating_sub(n as usize).max(1) }),
                vec![Request::Ttou; n as usize],
            ),
            Command::Reload => match self.reload() {
                Some(Request::ReloadFailed(why)) => (
                    json!({ "ok": false, "error": why }),
                    vec![Request::ReloadFailed(why)],
                ),
                Some(request) => (json!({ "ok": true }), vec![request]),
                None => (json!({ "ok": false, "error": "rg serve is stopping" }), vec![]),
            },
            Command::Upgrade => match self.begin_upgrade() {
                Ok(exe) => (json!({ "ok": true, "checking": exe }), vec![]),
                Err(why) => (json!({ "ok": false, "error": why }), vec![]),
            },
            Command::ReopenLogs => (json!({ "ok": true }), vec![Request::Usr1]),
            Command::Stop { graceful } => (
                json!({ "ok": true, "stopping": if graceful { "gracefully" } else { "now" } }),
                vec![if graceful { Request::Term } else { Request::Quit }],
            ),
        }
    }

    fn workers_json(&self) -> Vec<Value> {
        self.snapshot()
            .workers
            .iter()
            .map(|w| {
                json!({
                    "id": w.view.id,
                    "pid": w.view.pid,
                    "state": w.view.state,
                    "age_seconds": w.view.age.as_secs_f64(),
                    "heartbeat_age_seconds": w.view.heartbeat_age.as_secs_f64(),
                    "requests": w.counts.as_ref().map(|c| c.served()),
                    "in_flight": w.counts.as_ref().map(|c| c.in_flight),
                    "rss_bytes": w.rss,
                })
            })
            .collect()
    }

    fn stats_json(&self) -> Value {
        let s = self.snapshot();
        let restarts: serde_json::Map<String, Value> = Restart::ALL
            .iter()
            .map(|&why| (why.label().to_string(), json!(s.restarts.get(why))))
            .collect();
        json!({
            "ok": true,
            "version": env!("CARGO_PKG_VERSION"),
            "master_pid": s.master_pid,
            "uptime_seconds": s.uptime.as_secs_f64(),
            "phase": phase_name(self.policy.phase()),
            "ready": s.ready,
            "workers": s.workers.len(),
            "workers_ready": s.workers.iter().filter(|w| w.view.state == "ready").count(),
            "workers_desired": s.target,
            "application": self.program.display().to_string(),
            "listening": s.listening,
            "requests": s.totals.served(),
            "requests_by_gone_workers": s.served_by_gone,
            "in_flight": s.totals.in_flight,
            "connections": s.totals.connections,
            "restarts": restarts,
            "reload_failures": s.reload_failures,
            "held": s.held,
        })
    }
}

fn phase_name(phase: Phase) -> &'static str {
    match phase {
        Phase::Booting => "booting",
        Phase::Running => "running",
        Phase::Reloading => "reloading",
        Phase::Leaving { .. } => "leaving",
        Phase::Stopping { .. } => "stopping",
    }
}
