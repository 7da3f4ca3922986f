//! ZKDatabase: the in-memory database (the DataTree and the committed
//! sessions), the committedLog of recent proposals a leader syncs learners
//! from, and its link to the data directory. Loaded at start-up by the main
//! thread; afterwards the SyncThread appends and commits txns through it and
//! the FinalRequestProcessor applies them. In a quorum peer it outlives the
//! role servers: each role's ZooKeeperServer shares it, and a learner's sync
//! (SNAP, TRUNC, DIFF) rewrites it on the QuorumPeer thread.

use crate::jute::txn::{TxnBody, TxnDigest, TxnHeader, TxnLogEntry};
use crate::jute::{InputArchive, OutputArchive};
use crate::server::data_tree::{DataTree, ProcessTxnResult, CONFIG_NODE};
use crate::server::persistence::file_snap;
use crate::server::persistence::file_txn_log::{self, FileTxnLog};
use crate::server::persistence::file_txn_snap_log::FileTxnSnapLog;
use crate::server::zoo_defs::op_code;
use parking_lot::{Mutex, RwLock};
use std::collections::{HashMap, VecDeque};
use std::io;

/// zookeeper.commitLogCount's default: proposals kept for DIFF syncs.
pub const DEFAULT_COMMIT_LOG_COUNT: usize = 500;

/// The recent committed txns, oldest first, with the zxid range they cover
/// (ZKDatabase.committedLog, minCommittedLog, maxCommittedLog).
#[derive(Debug, Default)]
struct CommittedLog {
    proposals: VecDeque<TxnLogEntry>,
    min_zxid: i64,
    max_zxid: i64,
}

pub struct ZkDatabase {
    data_tree: DataTree,
    snap_log: FileTxnSnapLog,
    /// The open transaction log; used by the SyncThread only.
    txn_log: Mutex<Option<FileTxnLog>>,
    /// The settings the log was opened with (to reopen it after a TRUNC).
    log_settings: Mutex<Option<TxnLogSettings>>,
    /// Committed sessions and their timeouts (sessionsWithTimeouts): what a
    /// snapshot stores, kept in step with the txns applied to the tree.
    sessions: Mutex<HashMap<i64, i32>>,
    committed_log: RwLock<CommittedLog>,
    commit_log_count: usize,
}

/// Settings for the transaction log writer.
#[derive(Debug, Clone, Copy)]
pub struct TxnLogSettings {
    pub pre_alloc_size: u64,
    pub force_sync: bool,
    pub fsync_warning_threshold_ms: u64,
    /// zookeeper.snapshot.trust.empty: accept logs without any snapshot.
    pub snapshot_trust_empty: bool,
}

impl ZkDatabase {
    /// `extended_types_enabled` and `digest_enabled` are
    /// zookeeper.extendedTypesEnabled and zookeeper.digest.enabled.
    pub fn new(snap_log: FileTxnSnapLog, extended_types_enabled: bool, digest_enabled: bool) -> ZkDatabase {
        ZkDatabase {
            data_tree: DataTree::with_settings(extended_types_enabled, digest_enabled),
            snap_log,
            txn_log: Mutex::new(None),
            log_settings: Mutex::new(None),
            sessions: Mutex::new(HashMap::new()),
            committed_log: RwLock::new(CommittedLog::default()),
            commit_log_count: DEFAULT_COMMIT_LOG_COUNT,
        }
    }

    pub fn data_tree(&self) -> &DataTree {
        &self.data_tree
    }

    pub fn snap_log(&self) -> &FileTxnSnapLog {
        &self.snap_log
    }

    /// loadDataBase (FileTxnSnapLog.restore): the newest valid snapshot,
    /// then the logged txns after it. Returns the sessions that were open
    /// (id -> timeout) and the last zxid. An empty data directory gets its
    /// first snapshot (snapshot.0) as Java writes it.
    pub fn load_database(&self, log: TxnLogSettings) -> io::Result<(HashMap<i64, i32>, i64)> {
        let dt = &self.data_tree;
        let snap_dir = self.snap_log.data_dir();
        let (snap_zxid, mut sessions) = match file_snap::deserialize(dt, snap_dir)? {
            Some((zxid, sessions)) => (Some(zxid), sessions),
            None => (None, HashMap::new()),
        };
        if snap_zxid.is_none() {
            let logs = file_txn_log::get_log_files(self.snap_log.data_log_dir(), 0)?;
            if !logs.is_empty() && !log.snapshot_trust_empty {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "No snapshot found, but there are log entries. Something is broken! \
                     (set zookeeper.snapshot.trust.empty=true to load the logs alone)",
                ));
            }
            if logs.is_empty() {
                self.take_snapshot(&sessions, false)?;
            } else {
                tracing::warn!("No snapshot found, but there are log entries. This should only be allowed during upgrading.");
            }
        }
        self.clear_committed_log();
        let zxid = self.snap_log.fast_forward_from_edits(snap_zxid.unwrap_or(0), &mut |entry: &TxnLogEntry| {
            apply_session_events(&mut sessions, &entry.hdr, entry.txn.as_ref());
            dt.process_txn_checked(&entry.hdr, entry.txn.as_ref(), entry.digest.as_ref());
            self.add_committed_proposal(entry);
        })?;
        dt.set_last_processed_zxid(zxid);
        if let Some(pending) = dt.digest_from_loaded_snapshot() {
            tracing::warn!(
                "Highest txn zxid 0x{:x} is not covering the snapshot digest zxid 0x{:x}, which might lead to inconsistent state",
                zxid,
                pending.zxid
            );
        }
        *self.txn_log.lock() =
            Some(self.snap_log.create_txn_log(log.pre_alloc_size, log.force_sync, log.fsync_warning_threshold_ms));
        *self.log_settings.lock() = Some(log);
        *self.sessions.lock() = sessions.clone();
        Ok((sessions, zxid))
    }

    /// The committed sessions and their timeouts (getSessionWithTimeOuts).
    pub fn sessions_with_timeouts(&self) -> HashMap<i64, i32> {
        self.sessions.lock().clone()
    }

    /// Whether `id` is a committed (global) session.
    pub fn is_committed_session(&self, id: i64) -> bool {
        self.sessions.lock().contains_key(&id)
    }

    /// Records a txn just committed in the committedLog (addCommittedProposal),
    /// dropping the oldest past zookeeper.commitLogCount.
    pub fn add_committed_proposal(&self, entry: &TxnLogEntry) {
        let mut cl = self.committed_log.write();
        if cl.proposals.len() >= self.commit_log_count {
            cl.proposals.pop_front();
            if let Some(first) = cl.proposals.front() {
                cl.min_zxid = first.hdr.zxid;
            }
        }
        if cl.proposals.is_empty() {
            cl.min_zxid = entry.hdr.zxid;
            cl.max_zxid = entry.hdr.zxid;
        }
        cl.proposals.push_back(entry.clone());
        cl.max_zxid = entry.hdr.zxid;
    }

    fn clear_committed_log(&self) {
        *self.committed_log.write() = CommittedLog::default();
    }

    /// The committedLog, oldest first (a copy).
    pub fn committed_log(&self) -> Vec<TxnLogEntry> {
        self.committed_log.read().proposals.iter().cloned().collect()
    }

    /// getminCommittedLog: the oldest zxid in the committedLog (0 if empty).
    pub fn min_committed_log(&self) -> i64 {
        self.committed_log.read().min_zxid
    }

    /// getmaxCommittedLog: the newest zxid in the committedLog (0 if empty).
    pub fn max_committed_log(&self) -> i64 {
        self.committed_log.read().max_zxid
    }

    /// getProposalsFromTxnLog: the logged txns after `start_zxid`, for a
    /// DIFF sync older than the committedLog. `None` when the log does not
    /// reach back to `start_zxid` (its first txn is later, so a txn would
    /// be missing) or when the txns add up to more than `size_limit` bytes
    /// (a SNAP is cheaper; a negative limit means no limit).
    pub fn proposals_from_txn_log(&self, start_zxid: i64, size_limit: i64) -> io::Result<Option<Vec<TxnLogEntry>>> {
        // Flush what the SyncThread appended so the reader sees it.
        self.commit()?;
        let mut out = Vec::new();
        let mut total: i64 = 0;
        let mut first = true;
        for entry in file_txn_log::read_txns(self.snap_log.data_log_dir(), start_zxid)? {
            let entry = entry?;
            if first {
                first = false;
                if entry.hdr.zxid > start_zxid {
                    return Ok(None);
                }
            }
            if entry.hdr.zxid <= start_zxid {
                continue;
            }
            total = total.saturating_add(entry.to_bytes().len() as i64);
            if size_limit >= 0 && total > size_limit {
                return Ok(None);
            }
            out.push(entry);
        }
        if first {
            return Ok(None);
        }
        Ok(Some(out))
    }

    /// truncateLog for a TRUNC from the leader: cuts the txn log after
    /// `zxid`, then reloads the database from disk. Returns the sessions
    /// and last zxid as `load_database` does.
    pub fn truncate_log(&self, zxid: i64) -> io::Result<(HashMap<i64, i32>, i64)> {
        let settings = self
            .log_settings
            .lock()
            .ok_or_else(|| io::Error::other("truncate_log before the database was loaded"))?;
        if let Some(mut l) = self.txn_log.lock().take() {
            l.close()?;
        }
        file_txn_log::truncate(self.snap_log.data_log_dir(), zxid)?;
        self.load_database(settings)
    }

    /// fastForwardDataBase: applies the txns logged after the last applied
    /// one (a learner logs proposals before they are committed), so a role
    /// change starts from everything the log holds. Returns the last zxid.
    pub fn fast_forward_database(&self) -> io::Result<i64> {
        self.commit()?;
        let dt = &self.data_tree;
        let mut sessions = self.sessions.lock();
        let zxid = self.snap_log.fast_forward_from_edits(dt.last_processed_zxid(), &mut |entry: &TxnLogEntry| {
            apply_session_events(&mut sessions, &entry.hdr, entry.txn.as_ref());
            dt.process_txn_checked(&entry.hdr, entry.txn.as_ref(), entry.digest.as_ref());
            self.add_committed_proposal(entry);
        })?;
        dt.set_last_processed_zxid(zxid.max(dt.last_processed_zxid()));
        Ok(dt.last_processed_zxid())
    }

    /// deserializeSnapshot for a SNAP from the leader: replaces the tree and
    /// the sessions with the snapshot in `buf` (sessions, then the tree, as
    /// a snapshot file's body) and sets the last zxid to `zxid`.
    pub fn load_snapshot_stream(&self, buf: &[u8], zxid: i64) -> io::Result<()> {
        let mut ia = InputArchive::new(buf);
        let bad = |e: String| io::Error::new(io::ErrorKind::InvalidData, format!("snapshot from the leader: {e}"));
        let count = ia.read_int().map_err(|e| bad(e.to_string()))?;
        if count < 0 || count as usize > ia.remaining() / 12 {
            return Err(bad(format!("unreasonable session count {count}")));
        }
        let mut sessions = HashMap::with_capacity(count as usize);
        for _ in 0..count {
            let id = ia.read_long().map_err(|e| bad(e.to_string()))?;
            let to = ia.read_int().map_err(|e| bad(e.to_string()))?;
            sessions.insert(id, to);
        }
        self.data_tree.deserialize(&mut ia).map_err(|e| bad(format!("{e:?}")))?;
        self.data_tree.set_last_processed_zxid(zxid);
        *self.sessions.lock() = sessions;
        self.clear_committed_log();
        Ok(())
    }

    /// serializeSnapshot as a leader streams it to a learner: the committed
    /// sessions, then the tree.
    pub fn serialize_snapshot<W: std::io::Write>(&self, out: &mut W) -> io::Result<()> {
        let sessions = self.sessions_with_timeouts();
        let mut oa = OutputArchive::with_capacity(4 + sessions.len() * 12);
        oa.write_int(sessions.len() as i32);
        for (id, to) in &sessions {
            oa.write_long(*id);
            oa.write_int(*to);
        }
        out.write_all(oa.as_slice())?;
        self.data_tree.serialize(out)
    }

    /// loadData's clean-up: ephemerals whose session is not among the
    /// restored ones are deleted (killSession, no txn).
    pub fn kill_dead_sessions(&self, sessions: &HashMap<i64, i32>) {
        let zxid = self.data_tree.last_processed_zxid();
        for sid in self.data_tree.sessions_with_ephemerals() {
            if !sessions.contains_key(&sid) {
                tracing::info!("Removing the ephemerals of dead session 0x{:x}", sid);
                let hdr = TxnHeader { client_id: sid, cxid: 0, zxid, time: 0, r#type: op_code::CLOSE_SESSION };
                self.data_tree.process_txn(&hdr, None);
            }
        }
    }

    /// Writes a (fuzzy) snapshot named after the last applied zxid; `fsync`
    /// makes it durable before returning (a learner's sync needs that).
    pub fn take_snapshot(&self, sessions: &HashMap<i64, i32>, fsync: bool) -> io::Result<()> {
        let zxid = self.data_tree.last_processed_zxid();
        let path = self.snap_log.data_dir().join(file_snap::snapshot_name(zxid));
        tracing::info!("Snapshotting: 0x{:x} to {}", zxid, path.display());
        file_snap::serialize(&self.data_tree, sessions, &path, fsync)
    }

    /// Starts a new log file with the next txn (done at each snapshot).
    pub fn roll_log(&self) -> io::Result<()> {
        match self.txn_log.lock().as_mut() {
            Some(l) => l.roll_log(),
            None => Ok(()),
        }
    }

    /// Appends a txn to the log (not yet durable). False if the log refused
    /// it as not newer than what it holds.
    pub fn append(&self, entry: &TxnLogEntry) -> io::Result<bool> {
        match self.txn_log.lock().as_mut() {
            Some(l) => l.append(entry),
            None => Err(io::Error::other("transaction log is not open")),
        }
    }

    /// Makes everything appended so far durable (flush + fsync).
    pub fn commit(&self) -> io::Result<()> {
        match self.txn_log.lock().as_mut() {
            Some(l) => l.commit(),
            None => Ok(()),
        }
    }

    pub fn close(&self) {
        if let Some(mut l) = self.txn_log.lock().take() {
            if let Err(e) = l.close() {
                tracing::warn!("closing the transaction log failed: {e}");
            }
        }
    }

    /// Size in bytes of the transaction log being written.
    pub fn txn_log_size(&self) -> u64 {
        self.txn_log.lock().as_ref().map(|l| l.get_current_log_size()).unwrap_or(0)
    }

    /// initConfigInZKDatabase: /zookeeper/config holds the ensemble's
    /// membership (`config`, as QuorumMaj prints it) at zxid `version`,
    /// written locally by each quorum peer with its own clock.
    pub fn init_config_in_zk_database(&self, config: &str, version: i64) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        if let Err(e) = self.data_tree.set_data_locally(CONFIG_NODE, Some(config.as_bytes()), -1, version, now) {
            tracing::error!("configuration node missing - should not happen (error {e})");
        }
    }

    /// Applies a txn and checks the tree digest against the one it carries;
    /// session txns update the committed sessions too.
    pub fn process_txn(&self, hdr: &TxnHeader, txn: Option<&TxnBody>, digest: Option<&TxnDigest>) -> ProcessTxnResult {
        apply_session_events(&mut self.sessions.lock(), hdr, txn);
        self.data_tree.process_txn_checked(hdr, txn, digest)
    }

    pub fn last_processed_zxid(&self) -> i64 {
        self.data_tree.last_processed_zxid()
    }
}

/// What replay does for session txns before applying them to the tree
/// (FileTxnSnapLog.processTransaction).
fn apply_session_events(sessions: &mut HashMap<i64, i32>, hdr: &TxnHeader, txn: Option<&TxnBody>) {
    match (hdr.r#type, txn) {
        (op_code::CREATE_SESSION, Some(TxnBody::CreateSession(t))) => {
            sessions.insert(hdr.client_id, t.time_out);
        }
        (op_code::CLOSE_SESSION, _) => {
            sessions.remove(&hdr.client_id);
        }
        _ => {}
    }
}
