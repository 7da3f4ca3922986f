//! A node's simulated disk: records appended in order and a sync marker.
//! A crash keeps only what was synced, as a power cut does to a log whose
//! tail was never fsynced.

/// One record on a node's disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// A logged transaction.
    Txn { zxid: i64 },
    /// The currentEpoch file's new value.
    CurrentEpoch(i64),
}

/// Appended records, the first `synced` of them durable.
#[derive(Debug, Clone)]
pub struct SimDisk {
    records: Vec<Record>,
    synced: usize,
}

impl SimDisk {
    /// A disk whose records all survived an earlier life.
    pub fn with_history(records: Vec<Record>) -> SimDisk {
        let synced = records.len();
        SimDisk { records, synced }
    }

    pub fn append(&mut self, r: Record) {
        self.records.push(r);
    }

    /// fsync: everything appended so far is durable.
    pub fn sync(&mut self) {
        self.synced = self.records.len();
    }

    pub fn unsynced(&self) -> usize {
        self.records.len() - self.synced
    }

    /// A crash: the unsynced tail is gone.
    pub fn crash(&mut self) {
        self.records.truncate(self.synced);
    }

    /// The last logged zxid (0 for an empty log), as a restarting peer
    /// reads it.
    pub fn last_zxid(&self) -> i64 {
        self.records.iter().rev().find_map(|r| match r { Record::Txn { zxid } => Some(*zxid), _ => None }).unwrap_or(0)
    }

    /// The last currentEpoch written (0 when never).
    pub fn current_epoch(&self) -> i64 {
        self.records.iter().rev().find_map(|r| match r { Record::CurrentEpoch(e) => Some(*e), _ => None }).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crash_keeps_only_what_was_synced() {
        let mut d = SimDisk::with_history(vec![Record::CurrentEpoch(1), Record::Txn { zxid: 0x1_0000_0001 }]);
        d.append(Record::Txn { zxid: 0x1_0000_0002 });
        assert_eq!((d.last_zxid(), d.unsynced()), (0x1_0000_0002, 1));
        d.crash();
        assert_eq!((d.last_zxid(), d.current_epoch(), d.unsynced()), (0x1_0000_0001, 1, 0));
        d.append(Record::Txn { zxid: 0x1_0000_0002 });
        d.sync();
        d.crash();
        assert_eq!(d.last_zxid(), 0x1_0000_0002);
    }
}
