//! The data directories as a whole (Java's `FileTxnSnapLog`): sets up
//! `<dataLogDir>/version-2` and `<dataDir>/version-2` (refusing either one
//! holding the other's files), replays the transaction log after the
//! loaded snapshot (`fast_forward_from_edits`) and hands out the log writer.
//!
//! Used by the thread that loads the database (start-up, or a learner
//! resyncing), then by the SyncRequestProcessor through its `FileTxnLog`.

use super::file_txn_log::{self, FileTxnLog, ResumePoint};
use super::util;
use crate::jute::txn::TxnLogEntry;
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tracing::{error, info};

/// Name of the format sub-directory under dataDir and dataLogDir.
pub const VERSION_DIR: &str = "version-2";

/// The snapshot and transaction log directories of one server.
#[derive(Debug)]
pub struct FileTxnSnapLog {
    /// `<dataLogDir>/version-2`: the transaction logs.
    data_log_dir: PathBuf,
    /// `<dataDir>/version-2`: the snapshots.
    data_dir: PathBuf,
}

impl FileTxnSnapLog {
    /// Creates both `version-2` directories when missing and checks that
    /// they are writable. When the two differ, the log directory must hold
    /// no snapshot and the snapshot directory no log (a swapped dataDir /
    /// dataLogDir in the config).
    pub fn new(data_log_dir: &Path, data_dir: &Path) -> io::Result<FileTxnSnapLog> {
        let data_log_dir = data_log_dir.join(VERSION_DIR);
        let data_dir = data_dir.join(VERSION_DIR);
        prepare_dir(&data_log_dir, "transaction log")?;
        prepare_dir(&data_dir, "snapshot")?;
        if data_log_dir != data_dir {
            if let Some(name) = first_file_named(&data_log_dir, util::is_snapshot_file_name)? {
                return Err(datadir_error(format!(
                    "transaction log directory {} holds snapshot file {name}: \
                     check that dataLogDir and dataDir are configured right",
                    data_log_dir.display()
                )));
            }
            if let Some(name) = first_file_named(&data_dir, util::is_log_file_name)? {
                return Err(datadir_error(format!(
                    "snapshot directory {} holds transaction log file {name}: \
                     check that dataLogDir and dataDir are configured right",
                    data_dir.display()
                )));
            }
        }
        Ok(FileTxnSnapLog { data_log_dir, data_dir })
    }

    /// `<dataDir>/version-2`, where snapshots live.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// `<dataLogDir>/version-2`, where transaction logs live.
    pub fn data_log_dir(&self) -> &Path {
        &self.data_log_dir
    }

    /// Replays every logged txn in log order, calling `apply` for each, and
    /// returns the highest zxid replayed (0 when the log is empty).
    pub fn restore(&self, apply: &mut dyn FnMut(&TxnLogEntry)) -> io::Result<i64> {
        self.fast_forward_from_edits(0, apply)
    }

    /// Replays the logged txns after `last_processed_zxid` (what the
    /// database already holds), returning the highest zxid now applied.
    ///
    /// The txns must follow each other (and `last_processed_zxid`) without
    /// a gap: the next counter of the same epoch, or the first txn of a later
    /// epoch. A gap means txns the database should hold are missing (a
    /// deleted log file, a fallback to an older snapshot across a SNAP
    /// sync), and replaying past it would serve, and report as its last
    /// zxid, a state no server ever had; it is an error where Java goes on
    /// silently. From an empty database (zxid 0, e.g. logs alone with
    /// zookeeper.snapshot.trust.empty) the first txn may be any.
    pub fn fast_forward_from_edits(
        &self,
        last_processed_zxid: i64,
        apply: &mut dyn FnMut(&TxnLogEntry),
    ) -> io::Result<i64> {
        self.fast_forward_from_edits_resuming(last_processed_zxid, None, apply)
    }

    /// `fast_forward_from_edits`, reading the first log file from `resume`
    /// (the log writer's `resume_point` for `last_processed_zxid + 1`)
    /// rather than from its start.
    pub fn fast_forward_from_edits_resuming(
        &self,
        last_processed_zxid: i64,
        resume: Option<&ResumePoint>,
        apply: &mut dyn FnMut(&TxnLogEntry),
    ) -> io::Result<i64> {
        let start = Instant::now();
        let mut highest = last_processed_zxid;
        let mut loaded = 0u64;
        let from = last_processed_zxid.saturating_add(1);
        for entry in file_txn_log::read_txns_resuming(&self.data_log_dir, from, resume)? {
            let entry = entry?;
            let zxid = entry.hdr.zxid;
            let first_from_scratch = loaded == 0 && last_processed_zxid == 0;
            if zxid > highest && !first_from_scratch && !follows(highest, zxid) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "txn log in {} has a gap: txn 0x{zxid:x} follows 0x{highest:x}, the txns between are \
                         missing; refusing to replay past it",
                        self.data_log_dir.display()
                    ),
                ));
            }
            if zxid < highest && highest != 0 {
                error!(
                    "txn log replay went backwards: highest zxid so far 0x{highest:x}, \
                     next txn 0x{zxid:x} (type {})",
                    entry.hdr.r#type
                );
            } else {
                highest = zxid;
            }
            apply(&entry);
            loaded += 1;
        }
        info!("{loaded} txns loaded in {} ms", start.elapsed().as_millis());
        Ok(highest)
    }

    /// The log files that may hold txns after `zxid`, oldest first (what a
    /// purge must keep for a snapshot at `zxid`).
    pub fn get_snapshot_logs(&self, zxid: i64) -> io::Result<Vec<PathBuf>> {
        file_txn_log::get_log_files(&self.data_log_dir, zxid)
    }

    /// The log writer for the SyncRequestProcessor. Open it after `restore`:
    /// its first append starts a new `log.<zxid>` file, so a torn tail left
    /// in an older file by a crash stays behind, unread (as Java does).
    pub fn create_txn_log(
        &self,
        pre_alloc_size: u64,
        force_sync: bool,
        fsync_warning_threshold_ms: u64,
    ) -> FileTxnLog {
        FileTxnLog::new(&self.data_log_dir, pre_alloc_size, force_sync, fsync_warning_threshold_ms)
    }
}

/// Whether txn `next` may directly follow txn `prev` in a log: the next
/// counter of the same epoch, or the first txn of a later epoch (a new
/// leader's proposals start at counter 1).
fn follows(prev: i64, next: i64) -> bool {
    let (prev_epoch, prev_counter) = (prev >> 32, prev & 0xffff_ffff);
    let (next_epoch, next_counter) = (next >> 32, next & 0xffff_ffff);
    (next_epoch == prev_epoch && next_counter == prev_counter + 1) || (next_epoch > prev_epoch && next_counter == 1)
}

fn datadir_error(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Creates `dir` (and its parents) if needed and checks we may write in it.
fn prepare_dir(dir: &Path, what: &str) -> io::Result<()> {
    if !dir.is_dir() {
        std::fs::create_dir_all(dir).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot create {what} directory {}: {e}", dir.display()))
        })?;
    }
    if !is_writable(dir) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("cannot write to {what} directory {}", dir.display()),
        ));
    }
    Ok(())
}

/// Whether this process may create files in `dir` (access(2) with W_OK,
/// like Java's File.canWrite).
fn is_writable(dir: &Path) -> bool {
    let Ok(c_path) = CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: c_path is a valid NUL-terminated string that outlives the call.
    unsafe { libc::access(c_path.as_ptr(), libc::W_OK) == 0 }
}

/// The name of some file in `dir` that `matches`, if any.
fn first_file_named(dir: &Path, matches: fn(&str) -> bool) -> io::Result<Option<String>> {
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        if let Some(name) = name.to_str() {
            if matches(name) {
                return Ok(Some(name.to_owned()));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jute::txn::{CreateSessionTxn, TxnBody, TxnHeader};
    use crate::zoo_defs::op_code;

    fn session(zxid: i64) -> TxnLogEntry {
        TxnLogEntry {
            hdr: TxnHeader { client_id: zxid, cxid: 0, zxid, time: 0, r#type: op_code::CREATE_SESSION },
            txn: Some(TxnBody::CreateSession(CreateSessionTxn { time_out: 4000 })),
            digest: None,
        }
    }

    fn replay(snap_log: &FileTxnSnapLog) -> (i64, Vec<i64>) {
        let mut seen = Vec::new();
        let last = snap_log.restore(&mut |e| seen.push(e.hdr.zxid)).unwrap();
        (last, seen)
    }

    #[test]
    fn creates_version_dirs_and_restores_an_empty_log() {
        let root = tempfile::tempdir().unwrap();
        let logs = root.path().join("logs");
        let snaps = root.path().join("snaps");
        let fts = FileTxnSnapLog::new(&logs, &snaps).unwrap();
        assert_eq!(fts.data_log_dir(), logs.join("version-2"));
        assert_eq!(fts.data_dir(), snaps.join("version-2"));
        assert!(fts.data_log_dir().is_dir() && fts.data_dir().is_dir());
        assert_eq!(replay(&fts), (0, vec![]));
    }

    #[test]
    fn restore_replays_everything_and_the_new_writer_continues_after_it() {
        let root = tempfile::tempdir().unwrap();
        let fts = FileTxnSnapLog::new(root.path(), root.path()).unwrap();
        let mut log = fts.create_txn_log(65536, true, 1000);
        for z in 1..=3 {
            log.append(&session(z)).unwrap();
        }
        log.commit().unwrap();
        log.close().unwrap();
        assert_eq!(replay(&fts), (3, vec![1, 2, 3]));

        // A restart: the next writer starts log.4 next to log.1.
        let mut log = fts.create_txn_log(65536, true, 1000);
        log.append(&session(4)).unwrap();
        log.commit().unwrap();
        assert!(fts.data_log_dir().join("log.4").is_file());
        assert_eq!(replay(&fts), (4, vec![1, 2, 3, 4]));
        let mut after = Vec::new();
        assert_eq!(fts.fast_forward_from_edits(2, &mut |e| after.push(e.hdr.zxid)).unwrap(), 4);
        assert_eq!(after, [3, 4]);
        assert_eq!(
            fts.get_snapshot_logs(3).unwrap(),
            [fts.data_log_dir().join("log.1"), fts.data_log_dir().join("log.4")]
        );
        assert_eq!(fts.get_snapshot_logs(4).unwrap(), [fts.data_log_dir().join("log.4")]);
    }

    #[test]
    fn a_restart_after_a_torn_tail_loses_nothing_committed() {
        let root = tempfile::tempdir().unwrap();
        let fts = FileTxnSnapLog::new(root.path(), root.path()).unwrap();
        let mut log = fts.create_txn_log(65536, true, 1000);
        for z in 1..=4 {
            log.append(&session(z)).unwrap();
        }
        log.commit().unwrap();
        // Entry 5 reaches the file only in part: the process died mid-write.
        log.append(&session(5)).unwrap();
        log.close().unwrap();
        let path = fts.data_log_dir().join("log.1");
        let mut bytes = std::fs::read(&path).unwrap();
        let end_of_4 = 16 + 4 * (12 + session(1).to_bytes().len() + 1);
        bytes[end_of_4 + 15..].fill(0);
        std::fs::write(&path, &bytes).unwrap();

        assert_eq!(replay(&fts), (4, vec![1, 2, 3, 4]));
        let mut log = fts.create_txn_log(65536, true, 1000);
        for z in 5..=6 {
            log.append(&session(z)).unwrap();
        }
        log.commit().unwrap();
        assert_eq!(replay(&fts), (6, vec![1, 2, 3, 4, 5, 6]));
    }

    /// Writes the txns `zxids` into one log file of a fresh data directory.
    fn logged(zxids: &[i64]) -> (tempfile::TempDir, FileTxnSnapLog) {
        let root = tempfile::tempdir().unwrap();
        let fts = FileTxnSnapLog::new(root.path(), root.path()).unwrap();
        let mut log = fts.create_txn_log(0, false, 1000);
        for z in zxids {
            log.append(&session(*z)).unwrap();
        }
        log.commit().unwrap();
        log.close().unwrap();
        (root, fts)
    }

    #[test]
    fn replay_refuses_a_gap_in_the_zxids() {
        let e1 = 0x1_0000_0000;
        let e3 = 0x3_0000_0000;
        // Contiguous within epochs, and a later epoch (not necessarily the
        // next one) starting at counter 1.
        let (_root, fts) = logged(&[e1 + 1, e1 + 2, e3 + 1, e3 + 2]);
        assert_eq!(replay(&fts), (e3 + 2, vec![e1 + 1, e1 + 2, e3 + 1, e3 + 2]));
        assert_eq!(fts.fast_forward_from_edits(e1 + 1, &mut |_| {}).unwrap(), e3 + 2);
        // From an empty database the first txn may be any.
        let (_root, fts) = logged(&[e3 + 5, e3 + 6]);
        assert_eq!(replay(&fts).0, e3 + 6);

        for (zxids, from, missing) in [
            // A txn missing inside an epoch.
            (vec![e1 + 1, e1 + 2, e1 + 4], 0, (e1 + 2, e1 + 4)),
            // The first txn after the snapshot missing.
            (vec![e1 + 1, e1 + 2, e1 + 4], e1 + 2, (e1 + 2, e1 + 4)),
            // The start of a later epoch missing.
            (vec![e1 + 1, e3 + 2], 0, (e1 + 1, e3 + 2)),
        ] {
            let (_root, fts) = logged(&zxids);
            let mut applied = Vec::new();
            let err = fts.fast_forward_from_edits(from, &mut |e| applied.push(e.hdr.zxid)).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
            let msg = err.to_string();
            assert!(msg.contains(&format!("txn 0x{:x} follows 0x{:x}", missing.1, missing.0)), "{msg}");
            assert!(!applied.contains(&missing.1), "{zxids:x?}: replayed past the gap");
        }
    }

    #[test]
    fn swapped_directories_are_refused_when_they_differ() {
        let root = tempfile::tempdir().unwrap();
        let logs = root.path().join("logs");
        let snaps = root.path().join("snaps");
        std::fs::create_dir_all(logs.join("version-2")).unwrap();
        std::fs::write(logs.join("version-2/snapshot.5"), b"").unwrap();
        let err = FileTxnSnapLog::new(&logs, &snaps).unwrap_err();
        assert!(err.to_string().contains("holds snapshot file snapshot.5"), "{err}");
        // The same directory for both may hold both.
        FileTxnSnapLog::new(&logs, &logs).unwrap();

        std::fs::remove_file(logs.join("version-2/snapshot.5")).unwrap();
        std::fs::write(snaps.join("version-2/log.1"), b"").unwrap();
        let err = FileTxnSnapLog::new(&logs, &snaps).unwrap_err();
        assert!(err.to_string().contains("holds transaction log file log.1"), "{err}");
    }

    #[test]
    fn a_data_dir_that_is_a_file_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("plain");
        std::fs::write(&file, b"").unwrap();
        let err = FileTxnSnapLog::new(&file, root.path()).unwrap_err();
        assert!(err.to_string().contains("cannot create transaction log directory"), "{err}");
    }
}
