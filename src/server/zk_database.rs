//! ZKDatabase: the in-memory database (the DataTree and the committed
//! sessions), the committedLog of recent proposals a leader syncs learners
//! from, and its link to the data directory. Loaded at start-up by the main
//! thread; afterwards the SyncThread appends and commits txns through it and
//! the FinalRequestProcessor applies them. In a quorum peer it outlives the
//! role servers: each role's ZooKeeperServer shares it, and a learner's sync
//! (SNAP, TRUNC, DIFF) rewrites it on the QuorumPeer thread.
//!
//! Snapshots (`take_snapshot`, from the SnapshotThread, start-up, a leader's
//! loadData or a learner's NEWLEADER) are written one at a time, under a
//! temporary name renamed into place, and each belongs to the tree it
//! started from: a SNAP or TRUNC that replaces the tree meanwhile makes it
//! stop and be deleted, never sealed as a mix of the two trees.

use crate::jute::txn::{TxnBody, TxnDigest, TxnHeader, TxnLogEntry, TxnLogEntryRef};
use crate::quorum::quorum_peer_config::system_properties::SystemProperties;
use crate::quorum::quorum_peer_config::ConfigError;
use crate::jute::{OutputArchive, StreamInput};
use crate::server::data_tree::{DataTree, ProcessTxnResult, TreeRestore, CONFIG_NODE};
use crate::server::persistence::file_snap;
use crate::server::persistence::snap_stream::StreamMode;
use crate::server::persistence::file_txn_log::{self, FileTxnLog};
use crate::server::persistence::file_txn_snap_log::FileTxnSnapLog;
use crate::server::persistence::util;
use crate::zoo_defs::op_code;
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
    /// Held by the one snapshot writer at a time.
    snapshot_writer: Mutex<()>,
    /// Counts tree replacements, odd while one is under way; a snapshot is
    /// renamed into place only under this lock and only if it is unchanged
    /// since the snapshot started.
    tree_generation: Mutex<u64>,
}

/// While alive, the tree is being replaced (`ZkDatabase::replacing_tree`).
struct TreeReplacement<'a>(&'a Mutex<u64>);

impl Drop for TreeReplacement<'_> {
    fn drop(&mut self) {
        *self.0.lock() += 1;
    }
}

/// A snapshot read off a leader's stream, not yet installed
/// (`ZkDatabase::read_snapshot_stream`).
pub struct StreamedSnapshot {
    sessions: HashMap<i64, i32>,
    tree: TreeRestore,
}

/// Settings for the transaction log writer and the data directory: the
/// system properties Java's FileTxnLog, FileTxnSnapLog and SnapStream read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnLogSettings {
    /// zookeeper.preAllocSize (KiB in the property) in bytes (default 64 MiB).
    pub pre_alloc_size: u64,
    /// zookeeper.forceSync: fsync the txn log unless it is `no`.
    pub force_sync: bool,
    /// zookeeper.fsync.warningthresholdms, else fsync.warningthresholdms
    /// (default 1000).
    pub fsync_warning_threshold_ms: u64,
    /// zookeeper.snapshot.trust.empty: accept logs without any snapshot.
    pub snapshot_trust_empty: bool,
    /// zookeeper.snapshot.compression.method: how new snapshots are stored
    /// ("", "gz" or "snappy", any case; SnapStream's streamMode).
    pub snapshot_compression: StreamMode,
}

impl TxnLogSettings {
    pub fn read(props: &SystemProperties) -> Result<TxnLogSettings, ConfigError> {
        let pre_alloc_kb = props.decimal_long("zookeeper.preAllocSize", 65536)?;
        let force_sync = props.equals("zookeeper.forceSync", "no") != Some(true);
        let fsync_warning_threshold_ms = props.long("zookeeper.fsync.warningthresholdms", 1000)?;
        // Read for their checks: zkserver neither rolls the log by size nor
        // leaves a missing data directory uncreated.
        props.long("zookeeper.txnLogSizeLimitInKb", -1)?;
        props.boolean("zookeeper.datadir.autocreate", true);
        props.boolean("zookeeper.db.autocreate", true);
        let snapshot_trust_empty = props.boolean("zookeeper.snapshot.trust.empty", false);
        // Java takes an unknown method for "" (uncompressed); a typo here
        // would silently leave snapshots uncompressed, so it refuses start-up.
        let snapshot_compression = match props.lookup("zookeeper.snapshot.compression.method") {
            None => StreamMode::Checked,
            Some((k, v)) => StreamMode::from_name(v)
                .ok_or_else(|| ConfigError::bad_value(k, v, "is not a snapshot compression method (gz, snappy or empty)"))?,
        };
        Ok(TxnLogSettings {
            pre_alloc_size: pre_alloc_kb.saturating_mul(1024).max(0) as u64,
            force_sync,
            fsync_warning_threshold_ms: fsync_warning_threshold_ms.max(0) as u64,
            snapshot_trust_empty,
            snapshot_compression,
        })
    }
}

/// The system properties Java's ZKDatabase reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZkDatabaseSettings {
    /// zookeeper.snapshotSizeFactor (default 0.33; > 1 falls back to it).
    pub snapshot_size_factor: f64,
    /// zookeeper.commitLogCount (default and minimum 500).
    pub commit_log_count: i32,
}

impl ZkDatabaseSettings {
    pub fn read(props: &SystemProperties) -> Result<ZkDatabaseSettings, ConfigError> {
        let mut snapshot_size_factor = props.double("zookeeper.snapshotSizeFactor", 0.33)?;
        if snapshot_size_factor > 1.0 {
            tracing::warn!("The configured zookeeper.snapshotSizeFactor is invalid, going to use the default 0.33");
            snapshot_size_factor = 0.33;
        }
        let mut commit_log_count = props.int("zookeeper.commitLogCount", 500)?;
        if commit_log_count < 500 {
            tracing::warn!(
                "The configured commitLogCount {commit_log_count} is less than the recommended 500, going to use the recommended one"
            );
            commit_log_count = 500;
        }
        Ok(ZkDatabaseSettings { snapshot_size_factor, commit_log_count })
    }
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
            snapshot_writer: Mutex::new(()),
            tree_generation: Mutex::new(0),
        }
    }

    /// Marks the tree as being replaced until the guard drops: a snapshot
    /// in progress is abandoned and none starts meanwhile.
    fn replacing_tree(&self) -> TreeReplacement<'_> {
        *self.tree_generation.lock() += 1;
        TreeReplacement(&self.tree_generation)
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
        // Known before the first snapshot is written (its compression).
        *self.log_settings.lock() = Some(log);
        let dt = &self.data_tree;
        let snap_dir = self.snap_log.data_dir();
        let m = crate::server::server_metrics::metrics();
        let init_started = std::time::Instant::now();
        let (snap_zxid, mut sessions) = match file_snap::deserialize(dt, snap_dir)? {
            Some((zxid, sessions)) => (Some(zxid), sessions),
            None => (None, HashMap::new()),
        };
        m.startup_snap_load_time.add(init_started.elapsed().as_millis() as i64);
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
                self.take_snapshot(false)?;
            } else {
                tracing::warn!("No snapshot found, but there are log entries. This should only be allowed during upgrading.");
            }
        }
        self.clear_committed_log();
        let replay_started = std::time::Instant::now();
        let mut replayed = 0i64;
        let zxid = self.snap_log.fast_forward_from_edits(snap_zxid.unwrap_or(0), &mut |entry: &TxnLogEntry| {
            replayed += 1;
            apply_session_events(&mut sessions, &entry.hdr, entry.txn.as_ref());
            dt.process_txn_checked(&entry.hdr, entry.txn.as_ref(), entry.digest.as_ref());
            self.add_committed_proposal(entry.as_ref());
        })?;
        m.startup_txns_loaded.add(replayed);
        m.startup_txns_load_time.add(replay_started.elapsed().as_millis() as i64);
        dt.set_last_processed_zxid(zxid);
        if let Some(pending) = dt.digest_from_loaded_snapshot() {
            tracing::warn!(
                "Highest txn zxid 0x{:x} is not covering the snapshot digest zxid 0x{:x}, which might lead to inconsistent state",
                zxid,
                pending.zxid
            );
        }
        let mut writer = self.snap_log.create_txn_log(log.pre_alloc_size, log.force_sync, log.fsync_warning_threshold_ms);
        // What the replay found is all the log holds beyond the tree's
        // starting point; the writer adds what it appends.
        writer.set_highest_zxid_before(zxid);
        *self.txn_log.lock() = Some(writer);
        *self.sessions.lock() = sessions.clone();
        {
            let _no_writer = self.snapshot_writer.lock();
            file_snap::remove_temp_snapshots(snap_dir)?;
        }
        m.db_init_time.add(init_started.elapsed().as_millis() as i64);
        Ok((sessions, zxid))
    }

    /// The committed sessions and their timeouts (getSessionWithTimeOuts).
    pub fn sessions_with_timeouts(&self) -> HashMap<i64, i32> {
        self.sessions.lock().clone()
    }

    /// getSessionCount: how many committed (global) sessions there are.
    pub fn session_count(&self) -> usize {
        self.sessions.lock().len()
    }

    /// Whether `id` is a committed (global) session.
    pub fn is_committed_session(&self, id: i64) -> bool {
        self.sessions.lock().contains_key(&id)
    }

    /// Records a txn just committed in the committedLog (addCommittedProposal),
    /// dropping the oldest past zookeeper.commitLogCount.
    pub fn add_committed_proposal(&self, entry: TxnLogEntryRef<'_>) {
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
        cl.proposals.push_back(entry.to_owned());
        cl.max_zxid = entry.hdr.zxid;
    }

    fn clear_committed_log(&self) {
        *self.committed_log.write() = CommittedLog::default();
    }

    /// Runs `f` on the committedLog (oldest first) while it is held still,
    /// as Java's logLock read side does for a learner's sync: a txn applied
    /// meanwhile waits in `add_committed_proposal` (so the leader keeps it
    /// on toBeApplied) until `f` returns. `f` must be quick (no disk I/O:
    /// the FinalRequestProcessor waits) and must not call back into the
    /// committedLog.
    pub fn with_committed_log<T>(&self, f: impl FnOnce(&[TxnLogEntry]) -> T) -> T {
        let cl = self.committed_log.read();
        let (a, b) = cl.proposals.as_slices();
        if b.is_empty() {
            f(a)
        } else {
            f(&cl.proposals.iter().cloned().collect::<Vec<_>>())
        }
    }

    /// getminCommittedLog: the oldest zxid in the committedLog (None if
    /// empty).
    pub fn min_committed_log(&self) -> Option<i64> {
        let cl = self.committed_log.read();
        (!cl.proposals.is_empty()).then_some(cl.min_zxid)
    }

    /// getmaxCommittedLog: the newest zxid in the committedLog (0 if empty).
    pub fn max_committed_log(&self) -> i64 {
        self.committed_log.read().max_zxid
    }

    /// getProposalsFromTxnLog: the logged txns after `start_zxid`, for a
    /// DIFF sync older than the committedLog. `None` when the log does not
    /// reach back to `start_zxid` (its first txn is later, so a txn would
    /// be missing) or when the txns add up to more than `size_limit` bytes
    /// (a SNAP is cheaper). As in Java, a `size_limit` of 0 means no limit
    /// and a negative one turns txn-log syncs off.
    pub fn proposals_from_txn_log(&self, start_zxid: i64, size_limit: i64) -> io::Result<Option<Vec<TxnLogEntry>>> {
        if size_limit < 0 {
            return Ok(None);
        }
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
            if entry.hdr.zxid < start_zxid {
                continue;
            }
            total = total.saturating_add(entry.to_bytes().len() as i64);
            if size_limit > 0 && total > size_limit {
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
    /// `zxid`, deletes the snapshots taken after it (they hold the txns
    /// cut; Java 3.8 keeps them and reloads from the newest), then reloads
    /// the database from disk. Returns the sessions and last zxid as
    /// `load_database` does.
    pub fn truncate_log(&self, zxid: i64) -> io::Result<(HashMap<i64, i32>, i64)> {
        let settings = self
            .log_settings
            .lock()
            .ok_or_else(|| io::Error::other("truncate_log before the database was loaded"))?;
        let _replacing = self.replacing_tree();
        let result = (|| {
            if let Some(mut l) = self.txn_log.lock().take() {
                l.close()?;
            }
            file_txn_log::truncate(self.snap_log.data_log_dir(), zxid)?;
            {
                let _no_writer = self.snapshot_writer.lock();
                file_snap::remove_snapshots_after(self.snap_log.data_dir(), zxid)?;
            }
            self.load_database(settings)
        })();
        if let Err(e) = &result {
            self.clear_after_failed_replay(e);
        }
        result
    }

    /// ZKDatabase.clear, after a TRUNC or a replay that failed part way
    /// (or a sync snapshot that could not be written): the tree, sessions
    /// and committedLog as they stood would hold txns the disk does not
    /// back, so they go.
    /// The database is left empty at zxid 0, with the txn log open for new
    /// txns: a learner in this state claims nothing, and its next sync is a
    /// SNAP of the leader's whole state. Call while replacing the tree.
    fn clear_after_failed_replay(&self, e: &io::Error) {
        tracing::error!("The database is not backed by the disk ({e}): clearing it; the next sync brings a snapshot");
        self.data_tree.clear();
        self.sessions.lock().clear();
        self.clear_committed_log();
        let mut log = self.txn_log.lock();
        if log.is_none() {
            if let Some(s) = *self.log_settings.lock() {
                *log = Some(self.snap_log.create_txn_log(s.pre_alloc_size, s.force_sync, s.fsync_warning_threshold_ms));
            }
        }
    }

    /// fastForwardDataBase: applies the txns logged after the last applied
    /// one (a learner logs proposals before they are committed), so a role
    /// change starts from everything the log holds. Returns the last zxid.
    /// A replay that fails part way clears the database, as Java does.
    ///
    /// Runs on every role exit, so it reads no more of the log than it
    /// must: nothing when the log writer knows the log holds no txn above
    /// the tree, and otherwise the log from the writer's record of where
    /// the first txn above the tree went (when it still remembers), rather
    /// than from the start of its file. Txns the tree already holds were
    /// checked when they were replayed or logged; only the rest are read.
    pub fn fast_forward_database(&self) -> io::Result<i64> {
        self.commit()?;
        let dt = &self.data_tree;
        let tree_zxid = dt.last_processed_zxid();
        let (highest_logged, resume) = match self.txn_log.lock().as_ref() {
            Some(l) => (l.highest_zxid_written(), l.resume_point(tree_zxid.saturating_add(1))),
            None => (None, None),
        };
        if matches!(highest_logged, Some(h) if h <= tree_zxid) {
            tracing::info!("0 txns loaded: the tree holds every logged txn (up to 0x{tree_zxid:x})");
            return Ok(tree_zxid);
        }
        let mut sessions = self.sessions.lock();
        let replayed = self.snap_log.fast_forward_from_edits_resuming(tree_zxid, resume.as_ref(), &mut |entry: &TxnLogEntry| {
            apply_session_events(&mut sessions, &entry.hdr, entry.txn.as_ref());
            dt.process_txn_checked(&entry.hdr, entry.txn.as_ref(), entry.digest.as_ref());
            self.add_committed_proposal(entry.as_ref());
        });
        drop(sessions);
        let zxid = match replayed {
            Ok(z) => z,
            Err(e) => {
                let _replacing = self.replacing_tree();
                self.clear_after_failed_replay(&e);
                return Err(e);
            }
        };
        dt.set_last_processed_zxid(zxid.max(dt.last_processed_zxid()));
        Ok(dt.last_processed_zxid())
    }

    /// deserializeSnapshot, first half, for a SNAP from the leader: reads
    /// the sessions and the tree (a snapshot file's body) straight off the
    /// stream, one record at a time, each length within the jute read
    /// limit. Leaves the stream right after the tree and the database as
    /// it was; `install_snapshot` makes the result the database.
    pub fn read_snapshot_stream<R: io::Read>(&self, r: &mut R) -> io::Result<StreamedSnapshot> {
        let mut input = StreamInput::new(r);
        let count = input.read_int()?;
        if count < 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("negative session count {count} in the snapshot")));
        }
        let mut sessions = HashMap::new();
        for _ in 0..count {
            let id = input.read_long()?;
            let timeout = input.read_int()?;
            sessions.insert(id, timeout);
        }
        let tree = self.data_tree.read_stream(&mut input)?;
        Ok(StreamedSnapshot { sessions, tree })
    }

    /// deserializeSnapshot, second half: the streamed tree and sessions
    /// replace the database's, whose last zxid becomes `zxid`.
    pub fn install_snapshot(&self, snap: StreamedSnapshot, zxid: i64) -> io::Result<()> {
        let _replacing = self.replacing_tree();
        self.data_tree
            .finish_restore(snap.tree)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("snapshot from the leader: {e}")))?;
        self.data_tree.set_last_processed_zxid(zxid);
        *self.sessions.lock() = snap.sessions;
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
    /// restored ones are deleted (killSession, no txn). True when any were.
    pub fn kill_dead_sessions(&self, sessions: &HashMap<i64, i32>) -> bool {
        let zxid = self.data_tree.last_processed_zxid();
        let mut killed = false;
        for sid in self.data_tree.sessions_with_ephemerals() {
            if !sessions.contains_key(&sid) {
                tracing::info!("Removing the ephemerals of dead session 0x{:x}", sid);
                let hdr = TxnHeader { client_id: sid, cxid: 0, zxid, time: 0, r#type: op_code::CLOSE_SESSION };
                self.data_tree.process_txn(&hdr, None);
                killed = true;
            }
        }
        killed
    }

    /// Writes a (fuzzy) snapshot of the tree and the committed sessions,
    /// named after the last applied zxid; `fsync` makes its contents durable
    /// before it gets its name (a learner's sync needs that). One writer at
    /// a time; it writes a temporary file and renames it, then fsyncs the
    /// directory. Fails with ErrorKind::Interrupted, leaving no file, when
    /// the tree is replaced (SNAP, TRUNC) before the snapshot is in place.
    pub fn take_snapshot(&self, fsync: bool) -> io::Result<()> {
        let _writer = self.snapshot_writer.lock();
        let started = *self.tree_generation.lock();
        let abandoned = || io::Error::new(io::ErrorKind::Interrupted, "snapshot abandoned: the tree was replaced");
        if started % 2 == 1 {
            return Err(abandoned());
        }
        // The zxid first, then the sessions (as Java's save does): a session
        // created after the zxid is read may be missing from the copy, and
        // replay from the zxid brings it back; copied the other way round,
        // a session created in between would be in neither.
        let zxid = self.data_tree.last_processed_zxid();
        let sessions = self.sessions_with_timeouts();
        let dir = self.snap_log.data_dir();
        let mode = self.log_settings.lock().map(|s| s.snapshot_compression).unwrap_or_default();
        let tmp = dir.join(file_snap::temp_snapshot_name_with(zxid, mode));
        let path = dir.join(file_snap::snapshot_name_with(zxid, mode));
        tracing::info!("Snapshotting: 0x{:x} to {}", zxid, path.display());
        let unchanged = || *self.tree_generation.lock() == started;
        let mut result = file_snap::serialize_with(&self.data_tree, &sessions, &tmp, fsync, &unchanged, mode);
        {
            let generation = self.tree_generation.lock();
            if *generation != started {
                result = Err(abandoned());
            } else if result.is_ok() {
                result = std::fs::rename(&tmp, &path);
            }
        }
        if let Err(e) = result {
            if let Err(rm) = std::fs::remove_file(&tmp) {
                if rm.kind() != io::ErrorKind::NotFound {
                    tracing::warn!("cannot remove the unfinished snapshot {}: {rm}", tmp.display());
                }
            }
            return Err(e);
        }
        util::sync_dir(dir)
    }

    /// The snapshot a learner takes at NEWLEADER after a SNAP or TRUNC,
    /// fsynced: until it is on disk nothing but memory holds the state the
    /// leader sent. If it fails, the database is cleared as after a failed
    /// replay (Java exits instead), so the peer never goes on advertising a
    /// state its disk does not have.
    pub fn take_sync_snapshot(&self) -> io::Result<()> {
        let result = self.take_snapshot(true);
        if let Err(e) = &result {
            let _replacing = self.replacing_tree();
            self.clear_after_failed_replay(e);
        }
        result
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
    pub fn append<'a>(&self, entry: impl Into<TxnLogEntryRef<'a>>) -> io::Result<bool> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jute::txn::CreateTxn;
    use crate::server::reference_counted_acl_cache::ReferenceCountedAclCache;
    use crate::server::persistence::syscall_trace::{assert_dir_synced_after, traced};
    use crate::zoo_defs::ids;
    use std::path::Path;

    #[test]
    fn settings_read_as_java_reads_them() {
        let read = |pairs: &[(&str, &str)]| TxnLogSettings::read(&SystemProperties::of(pairs));
        let s = read(&[]).unwrap();
        assert_eq!(
            s,
            TxnLogSettings {
                pre_alloc_size: 64 * 1024 * 1024,
                force_sync: true,
                fsync_warning_threshold_ms: 1000,
                snapshot_trust_empty: false,
                snapshot_compression: StreamMode::Checked,
            }
        );
        let s = read(&[("forceSync", "no"), ("preAllocSize", "1024"), ("snapshot.trust.empty", "true")]).unwrap();
        assert_eq!((s.force_sync, s.pre_alloc_size, s.snapshot_trust_empty), (false, 1024 * 1024, true));
        // zookeeper.fsync.warningthresholdms is preferred over the old name.
        assert_eq!(read(&[("fsync.warningthresholdms", "50")]).unwrap().fsync_warning_threshold_ms, 50);
        let s = read(&[("fsync.warningthresholdms", "50"), ("zookeeper.fsync.warningthresholdms", "60")]).unwrap();
        assert_eq!(s.fsync_warning_threshold_ms, 60);
        assert_eq!(read(&[("preAllocSize", "0x10")]).unwrap_err().to_string(), "preAllocSize: \"0x10\" is not a number");
        assert_eq!(read(&[("txnLogSizeLimitInKb", "x")]).unwrap_err().to_string(), "txnLogSizeLimitInKb: \"x\" is not a number");
        let method = |v| read(&[("zookeeper.snapshot.compression.method", v)]).map(|s| s.snapshot_compression);
        assert_eq!(method("gz"), Ok(StreamMode::Gzip));
        assert_eq!(method("SNAPPY"), Ok(StreamMode::Snappy));
        assert_eq!(method(""), Ok(StreamMode::Checked));
        let e = method("zip").unwrap_err().to_string();
        assert!(e.starts_with("zookeeper.snapshot.compression.method: \"zip\""), "{e}");

        let read = |pairs: &[(&str, &str)]| ZkDatabaseSettings::read(&SystemProperties::of(pairs));
        assert_eq!(read(&[]), Ok(ZkDatabaseSettings { snapshot_size_factor: 0.33, commit_log_count: 500 }));
        let s = read(&[("commitLogCount", "10"), ("snapshotSizeFactor", "2.5")]).unwrap();
        assert_eq!(s, ZkDatabaseSettings { snapshot_size_factor: 0.33, commit_log_count: 500 });
        assert_eq!(read(&[("snapshotSizeFactor", "abc")]).unwrap_err().to_string(), "snapshotSizeFactor: \"abc\" is not a number");
    }

    fn loaded(dir: &Path) -> ZkDatabase {
        let db = ZkDatabase::new(FileTxnSnapLog::new(dir, dir).unwrap(), false, true);
        let settings =
            TxnLogSettings { pre_alloc_size: 0, force_sync: false, fsync_warning_threshold_ms: 1000, snapshot_trust_empty: false, snapshot_compression: Default::default() };
        db.load_database(settings).unwrap();
        db
    }

    /// Applies creates of `/<tag>0..n`, each with `size` bytes of data.
    fn grow(db: &ZkDatabase, tag: &str, n: usize, size: usize) {
        let first = db.last_processed_zxid() + 1;
        for i in 0..n {
            let zxid = first + i as i64;
            let hdr = TxnHeader { client_id: 1, cxid: i as i32, zxid, time: 5, r#type: op_code::CREATE };
            let txn = TxnBody::Create(CreateTxn {
                path: format!("/{tag}{i}"),
                data: Some(vec![7; size]),
                acl: ids::open_acl_unsafe(),
                ephemeral: false,
                parent_c_version: i as i32 + 1,
            });
            db.process_txn(&hdr, Some(&txn), None);
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    /// The bytes a leader sends after SNAP for `db`: sessions and tree,
    /// then the signature.
    fn snap_stream(db: &ZkDatabase) -> (Vec<u8>, usize) {
        let mut out = Vec::new();
        db.serialize_snapshot(&mut out).unwrap();
        let body = out.len();
        let mut sig = OutputArchive::new();
        sig.write_string("BenWasHere");
        out.extend_from_slice(sig.as_slice());
        (out, body)
    }

    fn leader_db(dir: &Path) -> ZkDatabase {
        let db = loaded(dir);
        let hdr = TxnHeader { client_id: 0x77, cxid: 0, zxid: 1, time: 5, r#type: op_code::CREATE_SESSION };
        db.process_txn(&hdr, Some(&TxnBody::CreateSession(crate::jute::txn::CreateSessionTxn { time_out: 3000 })), None);
        grow(&db, "leader", 20, 300);
        db
    }

    #[test]
    fn a_snapshot_stream_is_read_record_by_record_and_installed_whole() {
        let (src_dir, dst_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let leader = leader_db(src_dir.path());
        let (stream, body) = snap_stream(&leader);
        let learner = loaded(dst_dir.path());
        grow(&learner, "mine", 3, 10);
        let mut r = &stream[..];
        let snap = learner.read_snapshot_stream(&mut r).unwrap();
        // Exactly the snapshot was consumed: the signature is next.
        assert_eq!(stream.len() - r.len(), body);
        assert_eq!(StreamInput::new(&mut r).read_string().unwrap(), "BenWasHere");
        // Nothing changed before the install.
        assert!(learner.data_tree().get_data("/mine0", None).is_ok());
        learner.install_snapshot(snap, 0x1234).unwrap();
        assert_eq!(learner.last_processed_zxid(), 0x1234);
        assert!(learner.data_tree().get_data("/mine0", None).is_err());
        assert_eq!(learner.data_tree().get_data("/leader19", None).unwrap().0, Some(vec![7; 300]));
        assert_eq!(learner.data_tree().node_count(), leader.data_tree().node_count());
        assert_eq!(learner.sessions_with_timeouts(), HashMap::from([(0x77, 3000)]));
    }

    #[test]
    fn a_snapshot_stream_cut_short_or_garbled_changes_nothing() {
        let (src_dir, dst_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (stream, body) = snap_stream(&leader_db(src_dir.path()));
        let learner = loaded(dst_dir.path());
        grow(&learner, "mine", 3, 10);
        let before = learner.last_processed_zxid();
        let unchanged = |what: &str| {
            assert_eq!(learner.last_processed_zxid(), before, "{what}");
            assert!(learner.data_tree().get_data("/mine2", None).is_ok(), "{what}");
            assert!(learner.data_tree().get_data("/leader0", None).is_err(), "{what}");
            assert!(learner.sessions_with_timeouts().is_empty(), "{what}");
        };
        for cut in (0..body).step_by(7).chain([body - 1]) {
            assert!(learner.read_snapshot_stream(&mut &stream[..cut]).is_err(), "a stream cut at {cut} of {body} bytes");
            unchanged(&format!("cut at {cut}"));
        }
        // A length past the jute bound, a negative session count and a
        // node whose parent never came are refused the same way.
        let mut huge = stream.clone();
        let first_path = 4 + 12 + 4; // session count, one session, ACL entry count
        let acl_table_len = {
            let mut r = &stream[first_path - 4..];
            ReferenceCountedAclCache::read_stream(&mut StreamInput::new(&mut r)).unwrap();
            stream.len() - r.len() - (first_path - 4)
        };
        let root_path_at = first_path - 4 + acl_table_len;
        huge[root_path_at..root_path_at + 4].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(learner.read_snapshot_stream(&mut &huge[..]).is_err());
        let mut negative = stream.clone();
        negative[..4].copy_from_slice(&(-5i32).to_be_bytes());
        assert!(learner.read_snapshot_stream(&mut &negative[..]).is_err());
        let mut orphan = OutputArchive::new();
        orphan.write_int(0);
        orphan.write_int(0);
        orphan.write_string("/no/parent");
        orphan.write_int(-1);
        orphan.write_long(-1);
        orphan.write_raw(&[0; 60]);
        assert!(learner.read_snapshot_stream(&mut orphan.as_slice()).is_err());
        // No root at all: read, but refused at the install.
        let mut rootless = OutputArchive::new();
        rootless.write_int(0);
        rootless.write_int(0);
        rootless.write_string("/");
        let snap = learner.read_snapshot_stream(&mut rootless.as_slice()).unwrap();
        assert!(learner.install_snapshot(snap, 99).is_err());
        unchanged("garbage");
    }

    /// Logs and applies creates of `/<tag>0..n` after the last zxid.
    fn log_and_apply(db: &ZkDatabase, tag: &str, n: usize) {
        let first = db.last_processed_zxid() + 1;
        for i in 0..n {
            let hdr = TxnHeader { client_id: 1, cxid: i as i32, zxid: first + i as i64, time: 5, r#type: op_code::CREATE };
            let txn = TxnBody::Create(CreateTxn {
                path: format!("/{tag}{i}"),
                data: Some(vec![1]),
                acl: ids::open_acl_unsafe(),
                ephemeral: false,
                parent_c_version: -1,
            });
            assert!(db.append(&TxnLogEntry { hdr: hdr.clone(), txn: Some(txn.clone()), digest: None }).unwrap());
            db.process_txn(&hdr, Some(&txn), None);
        }
        db.commit().unwrap();
    }

    #[test]
    fn the_txn_log_for_a_diff_starts_at_the_learners_zxid() {
        let dir = tempfile::tempdir().unwrap();
        let db = loaded(dir.path());
        log_and_apply(&db, "n", 10);
        let zxids = |limit| db.proposals_from_txn_log(4, limit).unwrap().map(|v| v.iter().map(|e| e.hdr.zxid).collect::<Vec<_>>());
        // The learner's own last txn comes first: the planner matches it.
        assert_eq!(zxids(0), Some((4..=10).collect()), "0: no size limit");
        assert_eq!(zxids(-1), None, "negative: no txn-log sync");
        assert_eq!(zxids(100), None, "over the size limit");
        assert_eq!(db.proposals_from_txn_log(0, 0).unwrap(), None, "the log does not reach back to zxid 0");
    }

    #[test]
    fn a_trunc_drops_the_snapshots_taken_after_its_zxid() {
        let dir = tempfile::tempdir().unwrap();
        let db = loaded(dir.path());
        log_and_apply(&db, "kept", 10);
        db.take_snapshot(true).unwrap();
        log_and_apply(&db, "cut", 5);
        db.take_snapshot(true).unwrap();
        let snaps = db.snap_log().data_dir().to_path_buf();
        assert!(names(&snaps).contains(&"snapshot.f".to_string()));
        let (result, calls) = traced(|| db.truncate_log(12));
        assert_eq!(result.unwrap().1, 12);
        assert_dir_synced_after(&calls, |c| c.starts_with("unlink") && c.contains("snapshot.f"), &snaps);
        assert!(!names(&snaps).contains(&"snapshot.f".to_string()), "{:?}", names(&snaps));
        assert!(names(&snaps).contains(&"snapshot.a".to_string()));
        let has = |p: &str| db.data_tree().get_data(p, None).is_ok();
        assert!(has("/kept9") && has("/cut0") && has("/cut1"));
        assert!(!has("/cut2") && !has("/cut4"), "the tree holds txns after the TRUNC");
        assert_eq!(db.last_processed_zxid(), 12);
    }

    /// Flips a byte in the body of the `n`th entry (from 0) of log file
    /// `path`, so that its checksum no longer matches.
    fn corrupt_entry(path: &Path, n: usize) {
        let mut bytes = std::fs::read(path).unwrap();
        let mut at = 16;
        for _ in 0..n {
            let len = i32::from_be_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
            at += 12 + len + 1;
        }
        bytes[at + 12 + 4] ^= 0xff;
        std::fs::write(path, bytes).unwrap();
    }

    fn the_log_file(db: &ZkDatabase) -> std::path::PathBuf {
        let logs = file_txn_log::get_log_files(db.snap_log().data_log_dir(), 0).unwrap();
        assert_eq!(logs.len(), 1, "{logs:?}");
        logs[0].clone()
    }

    /// Empty at zxid 0 (the new tree's five nodes), no sessions, and a txn
    /// log that takes new txns.
    #[track_caller]
    fn assert_cleared(db: &ZkDatabase) {
        assert_eq!(db.last_processed_zxid(), 0);
        assert_eq!(db.data_tree().node_count(), DataTree::new().node_count());
        assert!(db.sessions_with_timeouts().is_empty());
        let hdr = TxnHeader { client_id: 1, cxid: 1, zxid: 0x200000001, time: 5, r#type: op_code::CREATE_SESSION };
        let entry = TxnLogEntry { hdr, txn: Some(TxnBody::CreateSession(crate::jute::txn::CreateSessionTxn { time_out: 1 })), digest: None };
        assert!(db.append(&entry).unwrap());
        db.commit().unwrap();
    }

    #[test]
    fn a_replay_that_fails_part_way_clears_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = loaded(dir.path());
        log_and_apply(&db, "applied", 3);
        // Logged but not applied, as a learner's proposals before commit.
        for i in 0..5 {
            let hdr = TxnHeader { client_id: 1, cxid: i, zxid: 4 + i as i64, time: 5, r#type: op_code::CREATE };
            let txn = TxnBody::Create(CreateTxn {
                path: format!("/logged{i}"),
                data: None,
                acl: ids::open_acl_unsafe(),
                ephemeral: false,
                parent_c_version: -1,
            });
            assert!(db.append(&TxnLogEntry { hdr, txn: Some(txn), digest: None }).unwrap());
        }
        db.commit().unwrap();
        corrupt_entry(&the_log_file(&db), 5);
        assert!(db.fast_forward_database().is_err());
        // Not /logged0 and /logged1 applied on a tree still saying zxid 3.
        assert_cleared(&db);
    }

    /// Logs creates of `/<tag>0..n` after the last logged zxid `after`
    /// without applying them, as a learner logs proposals before their
    /// commit (or a leader those no quorum acknowledged).
    fn log_only(db: &ZkDatabase, tag: &str, after: i64, n: usize) {
        for i in 0..n {
            let hdr = TxnHeader { client_id: 1, cxid: i as i32, zxid: after + 1 + i as i64, time: 5, r#type: op_code::CREATE };
            let txn = TxnBody::Create(CreateTxn {
                path: format!("/{tag}{i}"),
                data: None,
                acl: ids::open_acl_unsafe(),
                ephemeral: false,
                parent_c_version: -1,
            });
            assert!(db.append(&TxnLogEntry { hdr, txn: Some(txn), digest: None }).unwrap());
        }
    }

    #[test]
    fn a_role_exit_applies_the_logged_txns_the_tree_lacks() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = loaded(dir.path());
            log_and_apply(&db, "before", 20);
            db.close();
        }
        // A restarted server: the writer did not write what the log holds.
        let db = loaded(dir.path());
        assert_eq!(db.last_processed_zxid(), 20);
        assert_eq!(db.fast_forward_database().unwrap(), 20);
        log_and_apply(&db, "applied", 30);
        log_only(&db, "pending", 50, 3);
        db.roll_log().unwrap();
        log_only(&db, "rolled", 53, 2);
        assert_eq!(db.fast_forward_database().unwrap(), 55);
        for p in ["/before19", "/applied29", "/pending0", "/pending2", "/rolled0", "/rolled1"] {
            assert!(db.data_tree().node_info(p).is_some(), "{p} missing");
        }
        let zxids: Vec<i64> = db.with_committed_log(|l| l.iter().map(|e| e.hdr.zxid).collect());
        assert_eq!(zxids[zxids.len() - 5..], [51, 52, 53, 54, 55]);
        // Nothing new: the same state, however often.
        assert_eq!(db.fast_forward_database().unwrap(), 55);
        assert_eq!(db.with_committed_log(|l| l.len()), zxids.len());
    }

    #[test]
    fn a_role_exit_reads_no_log_when_the_tree_holds_every_logged_txn() {
        let dir = tempfile::tempdir().unwrap();
        let db = loaded(dir.path());
        log_and_apply(&db, "n", 5);
        // A log that cannot be read: any replay would fail and clear the tree.
        let log = the_log_file(&db);
        let mut bytes = std::fs::read(&log).unwrap();
        bytes[0] ^= 0xff;
        std::fs::write(&log, &bytes).unwrap();
        assert_eq!(db.fast_forward_database().unwrap(), 5);
        assert!(db.data_tree().node_info("/n4").is_some());
        // With a txn the tree lacks it must read, and finds the damage.
        log_only(&db, "pending", 5, 1);
        assert!(db.fast_forward_database().is_err());
        assert_cleared(&db);
    }

    #[test]
    fn a_sync_snapshot_that_cannot_be_written_clears_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = loaded(dir.path());
        grow(&db, "from_the_leader", 5, 10);
        std::fs::remove_dir_all(db.snap_log().data_dir()).unwrap();
        assert!(db.take_sync_snapshot().is_err());
        assert_eq!(db.last_processed_zxid(), 0);
        assert_eq!(db.data_tree().node_count(), DataTree::new().node_count());
    }

    #[test]
    fn a_trunc_whose_reload_fails_clears_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = loaded(dir.path());
        log_and_apply(&db, "n", 10);
        corrupt_entry(&the_log_file(&db), 2);
        assert!(db.truncate_log(8).is_err());
        // Not the old tree, txns 9 and 10 included, with its log closed.
        assert_cleared(&db);
    }

    #[test]
    fn a_snapshot_is_written_under_a_temporary_name_then_renamed_and_the_directory_synced() {
        let dir = tempfile::tempdir().unwrap();
        let db = loaded(dir.path());
        grow(&db, "n", 10, 1024);
        let snaps = db.snap_log().data_dir().to_path_buf();
        let (result, calls) = traced(|| db.take_snapshot(true));
        result.unwrap();
        let opened = calls.iter().position(|c| c.starts_with("openat") && c.contains("/.snapshot.a.tmp\""));
        let renamed = calls.iter().position(|c| {
            c.starts_with("rename") && c.contains("/.snapshot.a.tmp\"") && c.contains("/snapshot.a\"")
        });
        assert!(matches!((opened, renamed), (Some(o), Some(r)) if o < r), "{}", calls.join("\n"));
        assert_dir_synced_after(&calls, |c| c.starts_with("rename"), &snaps);
        assert_eq!(names(&snaps), ["snapshot.0", "snapshot.a"]);
        assert_eq!(file_snap::find_n_valid_snapshots(&snaps, 5).unwrap()[0].0, 0xa);
    }

    #[test]
    fn snapshots_are_written_one_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let db = std::sync::Arc::new(loaded(dir.path()));
        grow(&db, "n", 100, 1024);
        let snaps = db.snap_log().data_dir().to_path_buf();
        let tmp = snaps.join(file_snap::temp_snapshot_name(db.last_processed_zxid()));
        // While one writer holds the write, a second one waits: it never
        // opens (and truncates) the file the first is writing.
        let guard = db.snapshot_writer.lock();
        let second = {
            let db = std::sync::Arc::clone(&db);
            std::thread::spawn(move || db.take_snapshot(false))
        };
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(!second.is_finished() && !tmp.exists(), "a second writer ran beside the first");
        drop(guard);
        second.join().unwrap().unwrap();
        assert_eq!(file_snap::find_n_valid_snapshots(&snaps, 5).unwrap()[0].0, db.last_processed_zxid());
    }

    /// A snapshot being written when a SNAP or TRUNC starts replacing the
    /// tree stops at its next chunk and never gets its name: it would seal
    /// a mix of the old tree and the new one. The test holds the
    /// generation lock once the temporary file exists, so the writer can
    /// neither write on nor rename until the replacement has begun.
    #[test]
    fn a_snapshot_in_progress_is_abandoned_when_the_tree_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let db = std::sync::Arc::new(loaded(dir.path()));
        grow(&db, "n", 64, 1 << 20);
        let snaps = db.snap_log().data_dir().to_path_buf();
        let zxid = db.last_processed_zxid();
        let tmp = snaps.join(file_snap::temp_snapshot_name(zxid));
        let writer = {
            let db = std::sync::Arc::clone(&db);
            std::thread::spawn(move || db.take_snapshot(false))
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !tmp.exists() {
            assert!(std::time::Instant::now() < deadline, "the snapshot never started");
            std::thread::yield_now();
        }
        let replacing = {
            let generation = db.tree_generation.lock();
            assert!(!writer.is_finished(), "the 64 MiB snapshot finished before the test could interrupt it");
            drop(generation);
            db.replacing_tree()
        };
        // It used to spin for ever: write_all retried the Interrupted
        // error that was meant to stop it.
        while !writer.is_finished() {
            assert!(std::time::Instant::now() < deadline, "the abandoned snapshot never stopped");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let result = writer.join().unwrap();
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::Interrupted);
        drop(replacing);
        assert_eq!(names(&snaps), ["snapshot.0"], "no partial or mixed snapshot is left");
        // Once the replacement is over, snapshots are taken again.
        db.take_snapshot(false).unwrap();
        assert_eq!(names(&snaps), ["snapshot.0".to_string(), file_snap::snapshot_name(zxid)]);
    }

    #[test]
    fn no_snapshot_starts_while_the_tree_is_replaced_and_leftovers_go_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let db = loaded(dir.path());
        grow(&db, "n", 5, 1024);
        let snaps = db.snap_log().data_dir().to_path_buf();
        {
            let _replacing = db.replacing_tree();
            assert_eq!(db.take_snapshot(false).unwrap_err().kind(), io::ErrorKind::Interrupted);
        }
        assert_eq!(names(&snaps), ["snapshot.0"]);
        // A crash mid-write leaves a temporary file; the next load removes it
        // and never reads it as a snapshot.
        std::fs::write(snaps.join(file_snap::temp_snapshot_name(0x99)), b"partial").unwrap();
        loaded(dir.path());
        assert_eq!(names(&snaps), ["snapshot.0"]);
    }
}
