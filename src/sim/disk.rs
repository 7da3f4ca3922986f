//! A node's simulated disk: records appended in order and a sync marker.
//! A crash keeps only what was synced, as a power cut does to a log whose
//! tail was never fsynced. The records stand for the files a peer keeps:
//! the txn log, snapshots, and the acceptedEpoch and currentEpoch files;
//! a restarting peer replays them (`history`, `accepted_epoch`,
//! `current_epoch`).

/// One transaction as the simulator identifies it: its zxid, the client
/// (session) that wrote it and that client's cxid. The initial histories
/// use client 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Txn {
    pub zxid: i64,
    pub client: i64,
    pub cxid: i32,
}

/// One record on a node's disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A txn appended to the txn log.
    Txn(Txn),
    /// The log cut back to this zxid (TRUNC).
    Truncate(i64),
    /// A snapshot: the whole history so far is this.
    Snapshot(Vec<Txn>),
    /// The acceptedEpoch file's new value.
    AcceptedEpoch(i64),
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

    /// The txns a peer loads (the newest snapshot, then the log after
    /// it, truncations applied), oldest first. A logged txn not after the
    /// last one is skipped, as loading a log past the snapshot does.
    pub fn history(&self) -> Vec<Txn> {
        let mut h: Vec<Txn> = Vec::new();
        for r in &self.records {
            match r {
                Record::Txn(t) => {
                    if h.last().is_none_or(|l| l.zxid < t.zxid) {
                        h.push(*t);
                    }
                }
                Record::Truncate(z) => h.retain(|t| t.zxid <= *z),
                Record::Snapshot(s) => h = s.clone(),
                Record::AcceptedEpoch(_) | Record::CurrentEpoch(_) => {}
            }
        }
        h
    }

    /// The last logged zxid (0 for an empty log), as a restarting peer
    /// reads it.
    pub fn last_zxid(&self) -> i64 {
        self.history().last().map_or(0, |t| t.zxid)
    }

    /// The last currentEpoch written (0 when never).
    pub fn current_epoch(&self) -> i64 {
        self.records.iter().rev().find_map(|r| match r { Record::CurrentEpoch(e) => Some(*e), _ => None }).unwrap_or(0)
    }

    /// The last acceptedEpoch written (0 when never).
    pub fn accepted_epoch(&self) -> i64 {
        self.records.iter().rev().find_map(|r| match r { Record::AcceptedEpoch(e) => Some(*e), _ => None }).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(zxid: i64) -> Txn {
        Txn { zxid, client: 0, cxid: 0 }
    }

    #[test]
    fn a_crash_keeps_only_what_was_synced() {
        let mut d = SimDisk::with_history(vec![Record::CurrentEpoch(1), Record::Txn(t(0x1_0000_0001))]);
        d.append(Record::Txn(t(0x1_0000_0002)));
        assert_eq!((d.last_zxid(), d.unsynced()), (0x1_0000_0002, 1));
        d.crash();
        assert_eq!((d.last_zxid(), d.current_epoch(), d.unsynced()), (0x1_0000_0001, 1, 0));
        d.append(Record::Txn(t(0x1_0000_0002)));
        d.sync();
        d.crash();
        assert_eq!(d.last_zxid(), 0x1_0000_0002);
    }

    #[test]
    fn truncations_and_snapshots_replay() {
        let mut d = SimDisk::with_history((1..=3).map(|c| Record::Txn(t(0x1_0000_0000 | c))).collect());
        d.append(Record::Truncate(0x1_0000_0001));
        d.append(Record::Txn(t(0x2_0000_0001)));
        assert_eq!(d.history(), vec![t(0x1_0000_0001), t(0x2_0000_0001)]);
        d.append(Record::Snapshot(vec![t(0x3_0000_0001)]));
        d.append(Record::AcceptedEpoch(4));
        assert_eq!((d.history(), d.accepted_epoch()), (vec![t(0x3_0000_0001)], 4));
    }
}
