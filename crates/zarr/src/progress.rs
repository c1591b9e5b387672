//! Progress of a long transfer, shared between the workers doing it and whoever displays it:
//! two counters of bytes (planned and done), updated with relaxed atomics and read at any time.

use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes planned and bytes done of a save or restore. Totals grow as work is planned (a save of
/// several items plans each in turn), so `done <= total` holds at every read but `total` is
/// final only when the transfer has ended.
#[derive(Debug, Default)]
pub struct Progress {
    done: AtomicU64,
    total: AtomicU64,
}

impl Progress {
    /// Adds planned bytes.
    pub fn add_total(&self, bytes: u64) {
        self.total.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Adds finished bytes.
    pub fn add_done(&self, bytes: u64) {
        self.done.fetch_add(bytes, Ordering::Relaxed);
    }

    /// `(done, total)`; `done` is read first, so it never exceeds `total`.
    pub fn snapshot(&self) -> (u64, u64) {
        let done = self.done.load(Ordering::Relaxed);
        let total = self.total.load(Ordering::Relaxed);
        (done.min(total), total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_planned_and_finished_bytes() {
        let p = Progress::default();
        assert_eq!(p.snapshot(), (0, 0));
        p.add_total(100);
        p.add_done(40);
        p.add_total(20);
        assert_eq!(p.snapshot(), (40, 120));
    }
}
