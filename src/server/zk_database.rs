//! ZKDatabase: the in-memory database (the DataTree and the committed
//! sessions) and its link to the data directory. Loaded once at start-up by
//! the main thread; afterwards the SyncThread appends and commits txns
//! through it and the FinalRequestProcessor applies them.

use crate::jute::txn::{TxnBody, TxnDigest, TxnHeader, TxnLogEntry};
use crate::server::data_tree::{DataTree, ProcessTxnResult};
use crate::server::persistence::file_snap;
use crate::server::persistence::file_txn_log::{self, FileTxnLog};
use crate::server::persistence::file_txn_snap_log::FileTxnSnapLog;
use crate::server::zoo_defs::op_code;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::io;

pub struct ZkDatabase {
    data_tree: DataTree,
    snap_log: FileTxnSnapLog,
    /// The open transaction log; used by the SyncThread only.
    txn_log: Mutex<Option<FileTxnLog>>,
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
                self.take_snapshot(&sessions)?;
            } else {
                tracing::warn!("No snapshot found, but there are log entries. This should only be allowed during upgrading.");
            }
        }
        let zxid = self.snap_log.fast_forward_from_edits(snap_zxid.unwrap_or(0), &mut |entry: &TxnLogEntry| {
            apply_session_events(&mut sessions, &entry.hdr, entry.txn.as_ref());
            dt.process_txn_checked(&entry.hdr, entry.txn.as_ref(), entry.digest.as_ref());
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
        Ok((sessions, zxid))
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

    /// Writes a (fuzzy) snapshot named after the last applied zxid.
    pub fn take_snapshot(&self, sessions: &HashMap<i64, i32>) -> io::Result<()> {
        let zxid = self.data_tree.last_processed_zxid();
        let path = self.snap_log.data_dir().join(file_snap::snapshot_name(zxid));
        tracing::info!("Snapshotting: 0x{:x} to {}", zxid, path.display());
        file_snap::serialize(&self.data_tree, sessions, &path, false)
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

    /// Applies a txn and checks the tree digest against the one it carries.
    pub fn process_txn(&self, hdr: &TxnHeader, txn: Option<&TxnBody>, digest: Option<&TxnDigest>) -> ProcessTxnResult {
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
