//! DatadirCleanupManager and PurgeTxnLog: the `PurgeTask` thread. Every
//! autopurge.purgeInterval hours (first at start-up) it keeps the newest
//! autopurge.snapRetainCount valid snapshots and the transaction logs they
//! need, and deletes older snapshots and logs. Off when purgeInterval <= 0.

use crate::server::persistence::file_snap;
use crate::server::persistence::file_txn_snap_log::FileTxnSnapLog;
use crate::server::persistence::util::{get_zxid_from_name, sync_dir, LOG_FILE_PREFIX, SNAPSHOT_FILE_PREFIX};
use crossbeam_channel::{bounded, RecvTimeoutError, Sender};
use parking_lot::Mutex;
use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

/// PurgeTxnLog.purge: keeps `retain` snapshots and the logs they need.
/// Returns the files deleted; the directories are fsynced after.
pub fn purge(snap_log: &FileTxnSnapLog, retain: usize) -> io::Result<Vec<PathBuf>> {
    let snaps = file_snap::find_n_valid_snapshots(snap_log.data_dir(), retain)?;
    let Some((least_zxid, _)) = snaps.last() else { return Ok(Vec::new()) };
    let least_zxid = *least_zxid;
    let retained_logs: HashSet<PathBuf> = snap_log.get_snapshot_logs(least_zxid)?.into_iter().collect();
    let mut doomed = Vec::new();
    collect_older(snap_log.data_log_dir(), LOG_FILE_PREFIX, least_zxid, &retained_logs, &mut doomed)?;
    collect_older(snap_log.data_dir(), SNAPSHOT_FILE_PREFIX, least_zxid, &HashSet::new(), &mut doomed)?;
    let mut deleted = Vec::new();
    for f in doomed {
        tracing::info!("Removing file: {}", f.display());
        match std::fs::remove_file(&f) {
            Ok(()) => deleted.push(f),
            Err(e) => tracing::warn!("Failed to remove {}: {e}", f.display()),
        }
    }
    if !deleted.is_empty() {
        sync_dir(snap_log.data_log_dir())?;
        sync_dir(snap_log.data_dir())?;
    }
    Ok(deleted)
}

fn collect_older(
    dir: &Path,
    prefix: &str,
    least_zxid: i64,
    keep: &HashSet<PathBuf>,
    out: &mut Vec<PathBuf>,
) -> io::Result<()> {
    for e in std::fs::read_dir(dir)?.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if !name.starts_with(&format!("{prefix}.")) {
            continue;
        }
        let path = e.path();
        if keep.contains(&path) {
            continue;
        }
        if let Some(z) = get_zxid_from_name(&name, prefix) {
            if z < least_zxid {
                out.push(path);
            }
        }
    }
    Ok(())
}

pub struct DatadirCleanupManager {
    stop: Mutex<Option<Sender<()>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl DatadirCleanupManager {
    /// Starts the PurgeTask when `purge_interval_hours > 0`.
    pub fn start(data_log_dir: &Path, data_dir: &Path, retain: i32, purge_interval_hours: i32) -> io::Result<Self> {
        let mgr = DatadirCleanupManager { stop: Mutex::new(None), thread: Mutex::new(None) };
        if purge_interval_hours <= 0 {
            tracing::info!("Purge task is not scheduled.");
            return Ok(mgr);
        }
        let snap_log = FileTxnSnapLog::new(data_log_dir, data_dir)?;
        let retain = retain.max(3) as usize;
        let interval = Duration::from_secs(purge_interval_hours as u64 * 3600);
        let (tx, rx) = bounded::<()>(1);
        let h = crate::server::zoo_keeper_critical_thread::spawn("PurgeTask".into(), move || loop {
            tracing::info!("Purge task started.");
            if let Err(e) = purge(&snap_log, retain) {
                tracing::error!("Error occurred while purging: {e}");
            }
            tracing::info!("Purge task completed.");
            match rx.recv_timeout(interval) {
                Err(RecvTimeoutError::Timeout) => continue,
                _ => break,
            }
        })?;
        *mgr.stop.lock() = Some(tx);
        *mgr.thread.lock() = Some(h);
        Ok(mgr)
    }

    pub fn shutdown(&self) {
        self.stop.lock().take();
        if let Some(h) = self.thread.lock().take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::persistence::file_snap::snapshot_name;
    use crate::server::persistence::syscall_trace::{assert_dir_synced_after, traced};
    use std::fs;

    #[test]
    fn keeps_the_newest_snapshots_and_the_logs_they_need() {
        let dir = tempfile::tempdir().unwrap();
        let snap_log = FileTxnSnapLog::new(dir.path(), dir.path()).unwrap();
        let v2 = snap_log.data_dir().to_path_buf();
        let dt = crate::server::data_tree::DataTree::new();
        for z in [0x0, 0x10, 0x20, 0x30, 0x40] {
            file_snap::serialize(&dt, &Default::default(), &v2.join(snapshot_name(z)), false, &|| true).unwrap();
        }
        // An unsealed newest snapshot does not count as one to keep.
        fs::write(v2.join(snapshot_name(0x50)), b"torn").unwrap();
        for z in [0x1, 0xa, 0x1a, 0x2a, 0x3a] {
            fs::write(v2.join(format!("log.{z:x}")), b"x").unwrap();
        }
        let (result, calls) = traced(|| purge(&snap_log, 3));
        result.unwrap();
        assert_dir_synced_after(&calls, |c| c.starts_with("unlink") && c.contains("snapshot.10"), &v2);
        let mut left: Vec<String> =
            fs::read_dir(&v2).unwrap().flatten().map(|e| e.file_name().to_string_lossy().to_string()).collect();
        left.sort();
        // Snapshots 0x20..0x40 stay, and log.1a (which holds 0x20's
        // successors) with everything after it.
        assert_eq!(
            left,
            ["log.1a", "log.2a", "log.3a", "snapshot.20", "snapshot.30", "snapshot.40", "snapshot.50"]
        );
    }

    /// Compressed snapshots count as snapshots, and go, like the others.
    #[test]
    fn compressed_snapshots_are_kept_and_purged_alike() {
        use crate::server::persistence::snap_stream::StreamMode;
        let dir = tempfile::tempdir().unwrap();
        let snap_log = FileTxnSnapLog::new(dir.path(), dir.path()).unwrap();
        let v2 = snap_log.data_dir().to_path_buf();
        let dt = crate::server::data_tree::DataTree::new();
        let modes = [StreamMode::Gzip, StreamMode::Checked, StreamMode::Snappy, StreamMode::Gzip, StreamMode::Snappy];
        for (z, mode) in [0x0, 0x10, 0x20, 0x30, 0x40].into_iter().zip(modes) {
            let name = file_snap::snapshot_name_with(z, mode);
            file_snap::serialize_with(&dt, &Default::default(), &v2.join(name), false, &|| true, mode).unwrap();
        }
        purge(&snap_log, 3).unwrap();
        let mut left: Vec<String> =
            fs::read_dir(&v2).unwrap().flatten().map(|e| e.file_name().to_string_lossy().to_string()).collect();
        left.sort();
        assert_eq!(left, ["snapshot.20.snappy", "snapshot.30.gz", "snapshot.40.snappy"]);
    }
}
