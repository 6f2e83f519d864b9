//! The metrics port's pages, answered from the loop's state at one moment.

use std::time::Instant;

use axum::http::StatusCode;

use super::Arbiter;
use crate::master::metrics::render::{self, Snapshot};
use crate::master::metrics::{Answer, Page};

impl Arbiter {
    /// The metrics port's question, answered from this moment's state.
    pub(super) fn answer(&self, page: Page) -> Answer {
        match page {
            Page::Health => Answer::text(StatusCode::OK, "ok\n"),
            Page::Ready if self.policy.is_ready() => Answer::text(StatusCode::OK, "ready\n"),
            Page::Ready if self.policy.phase().is_leaving() => {
                Answer::text(StatusCode::SERVICE_UNAVAILABLE, "stopping\n")
            }
            Page::Ready => Answer::text(StatusCode::SERVICE_UNAVAILABLE, "no worker is ready\n"),
            Page::Metrics => Answer {
                status: StatusCode::OK,
                body: render::prometheus(&self.snapshot()),
                content_type: "text/plain; version=0.0.4; charset=utf-8",
            },
            Page::Status => Answer::text(StatusCode::OK, render::status(&self.snapshot())),
        }
    }

    pub(super) fn snapshot(&self) -> Snapshot {
        let now = Instant::now();
        let workers = self
            .policy
            .workers(now)
            .into_iter()
            .map(|view| render::Worker {
                counts: view.pid.and_then(|pid| self.ledger.of(pid)).cloned(),
                rss: view.pid.and_then(|pid| self.ledger.rss_of(pid)),
                view,
            })
            .collect();
        Snapshot {
            master_pid: std::process::id(),
            uptime: now.duration_since(self.started),
            target: self.policy.target(),
            ready: self.policy.is_ready(),
            listening: self.sockets.names(),
            totals: self.ledger.totals(),
            served_by_gone: self.ledger.served_by_gone(),
            restarts: self.policy.restarts(),
            reload_failures: self.policy.reload_failures(),
            held: self.policy.held().map(str::to_string),
            workers,
            queues: self.sockets.queues(),
        }
    }
}
