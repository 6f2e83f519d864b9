//! The counts the workers report, kept so that totals survive recycling:
//! each worker's latest report while it lives, and the sum of the last
//! reports of the workers that are gone.

use std::collections::BTreeMap;

use rg_contract::stats::Counts;

/// Every worker's counts, and the totals of those gone.
#[derive(Debug, Default)]
pub struct Ledger {
    gone: Counts,
    live: BTreeMap<u32, Counts>,
    rss: BTreeMap<u32, u64>,
}

impl Ledger {
    /// A worker's report: its counts since it started.
    pub fn report(&mut self, pid: u32, counts: Counts) {
        self.live.insert(pid, counts);
    }

    /// A sample of a worker's resident memory.
    pub fn rss(&mut self, pid: u32, bytes: u64) {
        self.rss.insert(pid, bytes);
    }

    /// A worker exited: its last counts join the totals of those gone.
    pub fn exited(&mut self, pid: u32) {
        if let Some(last) = self.live.remove(&pid) {
            self.gone.add(&last);
        }
        self.rss.remove(&pid);
    }

    /// The last counts of a live worker.
    pub fn of(&self, pid: u32) -> Option<&Counts> {
        self.live.get(&pid)
    }

    /// Its last memory sample.
    pub fn rss_of(&self, pid: u32) -> Option<u64> {
        self.rss.get(&pid).copied()
    }

    /// Requests answered by workers that are gone.
    pub fn served_by_gone(&self) -> u64 {
        self.gone.served()
    }

    /// Everything so far: cumulative counts of every worker that ever
    /// reported, gauges summed over the live ones.
    pub fn totals(&self) -> Counts {
        let mut totals = self.gone.clone();
        for counts in self.live.values() {
            totals.add(counts);
            totals.in_flight += counts.in_flight;
            totals.connections += counts.connections;
        }
        totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(n: u64, in_flight: u64) -> Counts {
        let mut counts = Counts {
            in_flight,
            ..Counts::default()
        };
        counts.requests[0][0][1] = n;
        counts
    }

    #[test]
    fn totals_survive_workers_that_exit() {
        let mut ledger = Ledger::default();
        ledger.report(10, served(5, 1));
        ledger.report(11, served(3, 2));
        ledger.report(10, served(7, 0));
        assert_eq!(
            ledger.totals().served(),
            10,
            "the latest report replaces the last"
        );
        assert_eq!(ledger.totals().in_flight, 2);
        ledger.exited(10);
        ledger.exited(10);
        assert_eq!(ledger.totals().served(), 10, "counted once, after it is gone");
        assert_eq!(ledger.served_by_gone(), 7);
        ledger.report(12, served(1, 0));
        assert_eq!(ledger.totals().served(), 11);
        assert_eq!(ledger.of(10), None);
        assert_eq!(ledger.of(12).map(Counts::served), Some(1));
    }
}
