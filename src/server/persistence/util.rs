//! File-name helpers shared by the transaction log and (next) the snapshots
//! (Java's persistence `Util`): `log.<zxid>` / `snapshot.<zxid>` names and
//! ordering data-directory files by the zxid in their name.
//!
//! Plain functions, called from whichever thread owns the directory.

use std::io;
use std::path::{Path, PathBuf};

/// Name prefix of transaction log files (`log.<zxid hex>`).
pub const LOG_FILE_PREFIX: &str = "log";

/// Name prefix of snapshot files (`snapshot.<zxid hex>[.ext]`).
pub const SNAPSHOT_FILE_PREFIX: &str = "snapshot";

/// `log.<zxid>`, the zxid in lower-case hex without padding (a negative zxid
/// prints as its 64-bit two's complement, as Java's `Long.toHexString` does).
pub fn make_log_name(zxid: i64) -> String {
    format!("{LOG_FILE_PREFIX}.{zxid:x}")
}

/// The zxid in a `<prefix>.<hex>[.anything]` file name, or `None` when the
/// name has another prefix or the second part is not a hex number that fits
/// a signed 64-bit zxid (Java returns -1 for those).
pub fn get_zxid_from_name(name: &str, prefix: &str) -> Option<i64> {
    let mut parts = name.split('.');
    if parts.next()? != prefix {
        return None;
    }
    let hex = parts.next()?;
    // from_str_radix accepts a leading sign; Java's parseLong does too, but a
    // signed file name is never one we wrote, so refuse it.
    if hex.starts_with(['+', '-']) {
        return None;
    }
    i64::from_str_radix(hex, 16).ok()
}

/// fsyncs the directory `dir`, so that files created, renamed or removed in
/// it stay so after a crash (fsyncing a file does not make its name durable).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io::Error::new(e.kind(), format!("cannot fsync directory {}: {e}", dir.display())))
}

/// Whether `name` looks like a transaction log file.
/// Java's AtomicFileWritingIdiom: `bytes` go to `<path>.tmp`, which is
/// fsynced and renamed over `path`, and the directory is fsynced so the new
/// name survives a crash. A failure leaves `path` as it was.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    sync_dir(path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")))
}

pub fn is_log_file_name(name: &str) -> bool {
    name.starts_with("log.")
}

/// Whether `name` looks like a snapshot file.
pub fn is_snapshot_file_name(name: &str) -> bool {
    name.starts_with("snapshot.")
}

/// The regular files of `dir` whose name is `<prefix>.<zxid>`, with their
/// zxid, sorted by zxid (ascending or descending). Other entries are skipped.
pub fn sorted_data_dir_files(dir: &Path, prefix: &str, ascending: bool) -> io::Result<Vec<(i64, PathBuf)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let Some(zxid) = get_zxid_from_name(&name, prefix) else {
            continue;
        };
        if entry.file_type()?.is_file() {
            files.push((zxid, entry.path()));
        }
    }
    files.sort_by_key(|(zxid, _)| *zxid);
    if !ascending {
        files.reverse();
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_names_round_trip() {
        assert_eq!(make_log_name(0x1_0000_0001), "log.100000001");
        assert_eq!(make_log_name(0xab), "log.ab");
        assert_eq!(get_zxid_from_name("log.100000001", LOG_FILE_PREFIX), Some(0x1_0000_0001));
        assert_eq!(get_zxid_from_name("snapshot.1f.snappy", SNAPSHOT_FILE_PREFIX), Some(0x1f));
        assert_eq!(get_zxid_from_name("log.xyz", LOG_FILE_PREFIX), None);
        assert_eq!(get_zxid_from_name("log.-1", LOG_FILE_PREFIX), None);
        assert_eq!(get_zxid_from_name("log", LOG_FILE_PREFIX), None);
        assert_eq!(get_zxid_from_name("snapshot.5", LOG_FILE_PREFIX), None);
        assert_eq!(get_zxid_from_name("log.ffffffffffffffffff", LOG_FILE_PREFIX), None);
    }

    #[test]
    fn sorts_by_zxid_not_by_name() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["log.a", "log.9", "log.100", "snapshot.5", "log.junk", "other"] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        std::fs::create_dir(dir.path().join("log.7")).unwrap();
        let asc: Vec<i64> = sorted_data_dir_files(dir.path(), LOG_FILE_PREFIX, true)
            .unwrap()
            .into_iter()
            .map(|(z, _)| z)
            .collect();
        assert_eq!(asc, vec![9, 10, 256]);
        let desc: Vec<i64> = sorted_data_dir_files(dir.path(), LOG_FILE_PREFIX, false)
            .unwrap()
            .into_iter()
            .map(|(z, _)| z)
            .collect();
        assert_eq!(desc, vec![256, 10, 9]);
    }
}
