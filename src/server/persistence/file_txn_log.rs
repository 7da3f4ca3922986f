//! The transaction log (Java's `FileTxnLog`), in ZooKeeper 3.8's on-disk
//! format, and its reader (`FileTxnIterator`).
//!
//! Layout of `<dataLogDir>/version-2/log.<zxid of the first txn, hex>`:
//!
//! ```text
//! FileHeader   int magic "ZKLG", int version 2, long dbid 0
//! entry*       long adler32(bytes), int len, bytes[len], byte 'B'
//!              bytes = TxnHeader + txn record [+ TxnDigest]
//! zeros        preallocated space up to the end of the file
//! ```
//!
//! A reader stops a file at the first entry that is not complete (end of
//! file, a zero or -1 length from the preallocated zeros, a missing
//! end-of-record byte): that is where the writer was when the process or the
//! machine stopped. It then goes on with the next file, because after a
//! restart the writer starts a new file instead of appending to the torn one.
//! A complete entry whose checksum does not match, an impossible length, or
//! a file too short for its header is corruption, not a torn write: the
//! reader fails there, naming the file and the entry's offset, as Java's
//! does, and start-up refuses to go on. That holds for the last entry of the
//! newest file too, even with only zeros after it: a complete entry may
//! have been acknowledged, so dropping it is left to an operator with
//! `zkserver txn-log-toolkit` (`-r` rewrites checksums, `-c -z` chops the
//! log). One exception, where Java refuses: a newest file that is empty or
//! all zeros is skipped. Its header goes out with its first fsync, so such
//! a file never held a durable txn; a crash between creating (and
//! preallocating) it and that fsync leaves one behind.
//!
//! A reader from a zxid starts at the newest file that can hold it and
//! passes over the entries below it without decoding them (each still read
//! whole and checksummed). The writer remembers where its latest appends
//! went (`resume_point`), so a reader of what it appended recently, such
//! as a role exit replaying the txns its tree lacks, starts right there.
//!
//! `FileTxnLog` is owned by the SyncRequestProcessor thread (one writer);
//! `TxnIterator`s may run on any thread, on their own file handles.

use super::file_padding::FilePadding;
use super::util::{self, LOG_FILE_PREFIX};
use crate::jute::records::FileHeader;
use crate::jute::txn::{TxnLogEntry, TxnLogEntryRef};
use crate::jute::{OutputArchive, Record};
use byteorder::{BigEndian, ByteOrder};
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tracing::{info, warn};

/// "ZKLG" read as a big-endian int.
pub const TXNLOG_MAGIC: i32 = 0x5a4b_4c47;
/// The log format version written in the file header.
pub const VERSION: i32 = 2;
/// Java's default `zookeeper.preAllocSize`: 64 MiB.
pub const DEFAULT_PRE_ALLOC_SIZE: u64 = 64 * 1024 * 1024;
/// Java's default `zookeeper.fsync.warningthresholdms`.
pub const DEFAULT_FSYNC_WARNING_THRESHOLD_MS: u64 = 1000;
/// FileHeader: magic, version, dbid.
const FILE_HEADER_LEN: u64 = 16;
/// Checksum (long) and length (int) in front of every entry.
const ENTRY_PREFIX_LEN: u64 = 12;
/// The end-of-record byte after every entry.
const EOR: u8 = b'B';
/// Appends are buffered about this much before they reach the kernel.
const WRITE_BUFFER_SIZE: usize = 64 * 1024;
const READ_BUFFER_SIZE: usize = 64 * 1024;

/// fsync figures for `mntr` and the admin commands, shared with other
/// threads (Java's FSYNC_TIME summary and fsyncThresholdExceedCount).
#[derive(Debug)]
pub struct FsyncStats {
    last_ms: AtomicI64,
    count: AtomicU64,
    total_ms: AtomicU64,
    min_ms: AtomicU64,
    max_ms: AtomicU64,
    threshold_exceeded: AtomicU64,
}

impl Default for FsyncStats {
    fn default() -> Self {
        FsyncStats {
            last_ms: AtomicI64::new(-1),
            count: AtomicU64::new(0),
            total_ms: AtomicU64::new(0),
            min_ms: AtomicU64::new(u64::MAX),
            max_ms: AtomicU64::new(0),
            threshold_exceeded: AtomicU64::new(0),
        }
    }
}

impl FsyncStats {
    fn record(&self, ms: u64, exceeded: bool) {
        crate::server::server_metrics::metrics().fsync_time.add(ms as i64);
        self.last_ms.store(i64::try_from(ms).unwrap_or(i64::MAX), Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.total_ms.fetch_add(ms, Ordering::Relaxed);
        self.min_ms.fetch_min(ms, Ordering::Relaxed);
        self.max_ms.fetch_max(ms, Ordering::Relaxed);
        if exceeded {
            self.threshold_exceeded.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Duration of the latest fsync in ms; -1 before the first one
    /// (Java's getTxnLogElapsedSyncTime).
    pub fn last_ms(&self) -> i64 {
        self.last_ms.load(Ordering::Relaxed)
    }

    /// Number of fsyncs done.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Sum of all fsync durations in ms.
    pub fn total_ms(&self) -> u64 {
        self.total_ms.load(Ordering::Relaxed)
    }

    /// Shortest fsync in ms (0 before the first one).
    pub fn min_ms(&self) -> u64 {
        match self.min_ms.load(Ordering::Relaxed) {
            u64::MAX => 0,
            v => v,
        }
    }

    /// Longest fsync in ms.
    pub fn max_ms(&self) -> u64 {
        self.max_ms.load(Ordering::Relaxed)
    }

    /// fsyncs slower than the warning threshold (mntr's
    /// fsync_threshold_exceed_count).
    pub fn threshold_exceed_count(&self) -> u64 {
        self.threshold_exceeded.load(Ordering::Relaxed)
    }

    pub fn reset_threshold_exceed_count(&self) {
        self.threshold_exceeded.store(0, Ordering::Relaxed);
    }
}

/// How many of the latest appends `FileTxnLog` remembers the position of.
const RESUME_POINTS: usize = 4096;

/// Where an append went, and the highest zxid appended before it.
struct AppendPoint {
    path: Arc<PathBuf>,
    offset: u64,
    max_zxid_before: i64,
}

/// The log file currently appended to.
struct CurrentLog {
    path: Arc<PathBuf>,
    file: File,
    /// Bytes written so far, buffered ones included.
    position: u64,
    padding: FilePadding,
}

impl CurrentLog {
    /// The file's size once everything buffered is written: the
    /// preallocated size, or more if entries ran past it.
    fn size(&self) -> u64 {
        self.padding.current_size().max(self.position)
    }
}

/// Writes the buffered entries to `file` and empties the buffer.
/// The checksum in front of each entry: Adler-32 of its bytes, as Java's
/// CheckedOutputStream, widened to the long the log stores.
pub fn checksum(bytes: &[u8]) -> i64 {
    i64::from(simd_adler32::adler32(&bytes))
}

fn write_out(file: &mut File, buffered: &mut OutputArchive) -> io::Result<()> {
    file.write_all(buffered.as_slice())?;
    buffered.clear();
    Ok(())
}

/// Appends transactions to `log.<zxid>` files and makes them durable.
pub struct FileTxnLog {
    log_dir: PathBuf,
    pre_alloc_size: u64,
    force_sync: bool,
    fsync_warning_threshold_ms: u64,
    last_zxid_seen: i64,
    /// The highest zxid in the log files when this writer was opened, when
    /// the owner knows it (`set_highest_zxid_before`).
    highest_zxid_before: Option<i64>,
    /// The latest appends, oldest first (for `resume_point`).
    append_points: VecDeque<AppendPoint>,
    current: Option<CurrentLog>,
    /// Files rolled away from since the last commit; they still need an
    /// fsync before the txns in them count as durable.
    rolled: Vec<File>,
    /// A log file was created since the directory was last fsynced.
    dir_sync_pending: bool,
    /// Sizes of the files rolled away from (Java's prevLogsRunningTotal).
    prev_logs_running_total: u64,
    /// Set by a failed write or fsync: the file may end in a partial entry
    /// (or the kernel may have dropped dirty pages), so appending more
    /// would put good entries behind a bad one. Every later call fails.
    failed: bool,
    stats: Arc<FsyncStats>,
    /// Entries appended to the current file and not yet written to it:
    /// each txn is serialised straight into this buffer, once.
    buffered: OutputArchive,
}

impl FileTxnLog {
    /// A writer for the log files of `log_dir` (the `version-2` directory,
    /// which must exist). Nothing is opened until the first append.
    pub fn new(
        log_dir: &Path,
        pre_alloc_size: u64,
        force_sync: bool,
        fsync_warning_threshold_ms: u64,
    ) -> FileTxnLog {
        FileTxnLog {
            log_dir: log_dir.to_path_buf(),
            pre_alloc_size,
            force_sync,
            fsync_warning_threshold_ms,
            last_zxid_seen: 0,
            highest_zxid_before: None,
            append_points: VecDeque::new(),
            current: None,
            rolled: Vec::new(),
            dir_sync_pending: false,
            prev_logs_running_total: 0,
            failed: false,
            stats: Arc::new(FsyncStats::default()),
            buffered: OutputArchive::with_capacity(WRITE_BUFFER_SIZE),
        }
    }

    /// The directory this log writes to.
    pub fn log_dir(&self) -> &Path {
        &self.log_dir
    }

    /// Appends one txn to the current log file, opening `log.<zxid>` on the
    /// first append after start-up or a roll. The entry is only buffered:
    /// it is durable once `commit` returns.
    ///
    /// A zxid not above the last one appended is logged with a warning and
    /// still written, as Java does (the reader replays it in file order).
    /// Returns `Ok(true)` once written; Java's `false` is for requests that
    /// carry no txn, which have no `TxnLogEntry` here.
    pub fn append<'a>(&mut self, entry: impl Into<TxnLogEntryRef<'a>>) -> io::Result<bool> {
        let entry = entry.into();
        self.check_usable()?;
        let zxid = entry.hdr.zxid;
        let max_zxid_before = self.last_zxid_seen;
        if zxid <= self.last_zxid_seen {
            warn!(
                "current zxid 0x{zxid:x} is <= last logged 0x{:x} (txn type {})",
                self.last_zxid_seen, entry.hdr.r#type
            );
        } else {
            self.last_zxid_seen = zxid;
        }
        let start = self.buffered.len();
        self.buffer_entry(entry)?;
        match self.write_entry(zxid, start) {
            Ok(offset) => {
                let path = Arc::clone(&self.current.as_ref().expect("a file was just written").path);
                if self.append_points.len() == RESUME_POINTS {
                    self.append_points.pop_front();
                }
                self.append_points.push_back(AppendPoint { path, offset, max_zxid_before });
                Ok(true)
            }
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }

    /// Serialises `entry` at the end of the buffer behind its checksum and
    /// length, with its end-of-record byte. A txn too large to log leaves
    /// the buffer as it was.
    fn buffer_entry(&mut self, entry: TxnLogEntryRef<'_>) -> io::Result<()> {
        let start = self.buffered.len();
        self.buffered.write_long(0);
        self.buffered.write_int(0);
        entry.serialize(&mut self.buffered);
        let body = &self.buffered.as_slice()[start + ENTRY_PREFIX_LEN as usize..];
        let Ok(len) = i32::try_from(body.len()) else {
            self.buffered.truncate(start);
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("txn 0x{:x} is too large to log", entry.hdr.zxid),
            ));
        };
        let crc = checksum(body);
        self.buffered.patch_long(start, crc);
        self.buffered.patch_int(start + 8, len);
        self.buffered.write_byte(EOR);
        Ok(())
    }

    /// Tells the writer the highest zxid the log files held when it was
    /// opened (what the replay before it found), so `highest_zxid_written`
    /// can answer.
    pub fn set_highest_zxid_before(&mut self, zxid: i64) {
        self.highest_zxid_before = Some(zxid);
    }

    /// The highest zxid in the log files: what they held when the writer was
    /// opened and what it has appended since (buffered entries included).
    /// `None` when the former was not given.
    pub fn highest_zxid_written(&self) -> Option<i64> {
        self.highest_zxid_before.map(|z| z.max(self.last_zxid_seen))
    }

    /// A place to start reading the txns at or above `start_zxid`: the
    /// latest append before which this writer appended nothing at or above
    /// it. Only files this writer created have recorded appends, so every
    /// entry before that place in its file is below `start_zxid`. `None`
    /// when the appends remembered do not reach back that far. Read only
    /// after `commit`, which writes the buffered entries out.
    pub fn resume_point(&self, start_zxid: i64) -> Option<ResumePoint> {
        let p = self.append_points.iter().rev().find(|p| p.max_zxid_before < start_zxid)?;
        Some(ResumePoint { path: p.path.as_ref().clone(), offset: p.offset })
    }

    /// Accounts the entry buffered from `start` on to the current file
    /// (opened for `zxid` if need be), writing the buffer out once it is
    /// full; returns the entry's offset in the file.
    fn write_entry(&mut self, zxid: i64, start: usize) -> io::Result<u64> {
        let cur = match self.current.take() {
            Some(cur) => cur,
            None => self.open_log(zxid)?,
        };
        let cur = self.current.insert(cur);
        cur.padding.pad_file(&cur.file, cur.position)?;
        let offset = cur.position;
        cur.position += (self.buffered.len() - start) as u64;
        if self.buffered.len() >= WRITE_BUFFER_SIZE {
            write_out(&mut cur.file, &mut self.buffered)?;
        }
        Ok(offset)
    }

    /// Creates `log.<zxid>` (replacing a leftover file of that name, which
    /// can only hold txns that were never acknowledged) and writes its header.
    fn open_log(&mut self, zxid: i64) -> io::Result<CurrentLog> {
        let path = self.log_dir.join(util::make_log_name(zxid));
        info!("creating new log file: {}", path.display());
        let file = File::options().write(true).create(true).truncate(true).open(&path)?;
        self.dir_sync_pending = true;
        let header = FileHeader { magic: TXNLOG_MAGIC, version: VERSION, dbid: 0 };
        // The header goes out before the file is grown, so the file never
        // has preallocated zeros where its magic should be.
        (&file).write_all(&header.to_bytes())?;
        Ok(CurrentLog {
            path: Arc::new(path),
            file,
            position: FILE_HEADER_LEN,
            padding: FilePadding::new(self.pre_alloc_size, FILE_HEADER_LEN),
        })
    }

    /// Writes out everything appended and, with `force_sync`, fdatasyncs
    /// every file written since the last commit (and the directory when a
    /// file was created), so the txns survive a crash or power cut.
    pub fn commit(&mut self) -> io::Result<()> {
        self.check_usable()?;
        let result = self.commit_inner();
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn commit_inner(&mut self) -> io::Result<()> {
        if let Some(cur) = self.current.as_mut() {
            write_out(&mut cur.file, &mut self.buffered)?;
        }
        if self.force_sync {
            for file in &self.rolled {
                self.sync_file(file)?;
            }
            if let Some(cur) = &self.current {
                self.sync_file(&cur.file)?;
            }
            if self.dir_sync_pending {
                util::sync_dir(&self.log_dir)?;
                self.dir_sync_pending = false;
            }
        }
        self.rolled.clear();
        Ok(())
    }

    fn sync_file(&self, file: &File) -> io::Result<()> {
        let start = Instant::now();
        file.sync_data()?;
        let ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let exceeded = ms > self.fsync_warning_threshold_ms;
        if exceeded {
            let size = file.metadata().map(|m| m.len()).unwrap_or(0);
            warn!(
                "fsync of the txn log took {ms} ms (threshold {} ms, file size {size} bytes) \
                 on thread {}; client latency suffers, check the log disk",
                self.fsync_warning_threshold_ms,
                std::thread::current().name().unwrap_or("?"),
            );
        }
        self.stats.record(ms, exceeded);
        Ok(())
    }

    /// Ends the current file: the next append starts `log.<its zxid>`. The
    /// old file is fsynced by the next commit.
    pub fn roll_log(&mut self) -> io::Result<()> {
        self.check_usable()?;
        if let Some(mut cur) = self.current.take() {
            let size = cur.size();
            if let Err(e) = write_out(&mut cur.file, &mut self.buffered) {
                self.failed = true;
                return Err(e);
            }
            self.prev_logs_running_total += size;
            self.rolled.push(cur.file);
        }
        Ok(())
    }

    /// The highest zxid in the log files on disk (Java's
    /// getLastLoggedZxid): read from the newest file holding a valid txn;
    /// -1 when there is none. Entries still buffered are not counted. A read
    /// error is logged and the zxid found so far returned.
    pub fn get_last_logged_zxid(&self) -> i64 {
        let files = match get_log_files(&self.log_dir, 0) {
            Ok(files) => files,
            Err(e) => {
                warn!("cannot list txn log directory {}: {e}", self.log_dir.display());
                return -1;
            }
        };
        for path in files.into_iter().rev() {
            let mut last = -1;
            for entry in TxnIterator::over_files(VecDeque::from([path]), i64::MIN) {
                match entry {
                    Ok(entry) => last = last.max(entry.hdr.zxid),
                    Err(e) => {
                        warn!("reading the txn log for its last zxid: {e}");
                        return last;
                    }
                }
            }
            if last != -1 {
                return last;
            }
        }
        -1
    }

    /// Writes out buffered entries and closes the files (no fsync, as in
    /// Java: call `commit` first for durability). A later append opens a
    /// new file.
    pub fn close(&mut self) -> io::Result<()> {
        self.rolled.clear();
        match self.current.take() {
            // After a failed write the buffer may hold the rest of a torn
            // entry: drop it rather than write it behind the tear.
            Some(_) if self.failed => {
                self.buffered.clear();
                Ok(())
            }
            Some(mut cur) => write_out(&mut cur.file, &mut self.buffered),
            None => Ok(()),
        }
    }

    /// Size of the file being written, preallocation included (what Java
    /// reports, from the file's length); 0 when no file is open.
    pub fn get_current_log_size(&self) -> u64 {
        self.current.as_ref().map_or(0, CurrentLog::size)
    }

    /// Path of the file being written, if any.
    pub fn current_log_file(&self) -> Option<&Path> {
        self.current.as_ref().map(|c| c.path.as_path())
    }

    /// Size of the files written since `set_total_log_size` (the
    /// SyncRequestProcessor's snapSizeLimitInKb check).
    pub fn get_total_log_size(&self) -> u64 {
        self.prev_logs_running_total + self.get_current_log_size()
    }

    /// Resets the running total, e.g. to 0 after a snapshot.
    pub fn set_total_log_size(&mut self, size: u64) {
        self.prev_logs_running_total = size;
    }

    /// Duration of the latest fsync in ms, -1 before the first.
    pub fn get_txn_log_sync_elapsed_time(&self) -> i64 {
        self.stats.last_ms()
    }

    /// The fsync figures, to hand to threads that report them.
    pub fn fsync_stats(&self) -> Arc<FsyncStats> {
        Arc::clone(&self.stats)
    }

    pub fn is_force_sync(&self) -> bool {
        self.force_sync
    }

    fn check_usable(&self) -> io::Result<()> {
        if self.failed {
            return Err(io::Error::other(format!(
                "txn log in {} is unusable after an earlier write or fsync error",
                self.log_dir.display()
            )));
        }
        Ok(())
    }
}

/// The log files of `log_dir` a reader from `zxid` needs, oldest first: the
/// newest file starting at or before `zxid` (it may hold `zxid`) and every
/// later one; all files when none starts that early (Java's getLogFiles).
pub fn get_log_files(log_dir: &Path, zxid: i64) -> io::Result<Vec<PathBuf>> {
    let files = util::sorted_data_dir_files(log_dir, LOG_FILE_PREFIX, true)?;
    let first = files.iter().rposition(|(fzxid, _)| *fzxid <= zxid).unwrap_or(0);
    Ok(files.into_iter().skip(first).map(|(_, path)| path).collect())
}

/// Every valid txn with zxid >= `start_zxid` in the log files of `log_dir`,
/// in file order (Java's FileTxnIterator). See the module doc for how torn
/// tails end a file. Entries below `start_zxid` are read and checked but
/// not decoded.
pub fn read_txns(log_dir: &Path, start_zxid: i64) -> io::Result<TxnIterator> {
    read_txns_resuming(log_dir, start_zxid, None)
}

/// `read_txns`, starting at `resume` when it is in the first file to read:
/// a position the writer recorded (`FileTxnLog::resume_point`) before which
/// that file holds no txn at or above `start_zxid`, so the entries before
/// it need not be read at all. Any other `resume` is ignored.
pub fn read_txns_resuming(log_dir: &Path, start_zxid: i64, resume: Option<&ResumePoint>) -> io::Result<TxnIterator> {
    let files = get_log_files(log_dir, start_zxid)?;
    let first_offset = resume.filter(|r| files.first() == Some(&r.path)).map(|r| r.offset);
    let mut it = TxnIterator::over_files(files.into(), start_zxid);
    it.first_offset = first_offset;
    Ok(it)
}

/// A place in a log file from which a reader of the txns at or above
/// `start_zxid` may begin: every entry before it in that file is below.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResumePoint {
    pub path: PathBuf,
    pub offset: u64,
}

/// Cuts the log after `zxid` for a TRUNC from the leader (FileTxnLog.truncate):
/// the file that holds `zxid` ends after its last txn <= `zxid`, and every
/// later log file is deleted; the directory is fsynced so the deletions
/// stay done. Errors when no log file reaches back that far.
pub fn truncate(log_dir: &Path, zxid: i64) -> io::Result<()> {
    let files = get_log_files(log_dir, zxid)?;
    let Some((first, later)) = files.split_first() else {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "No log files found to truncate! This could happen if you still have snapshots from an old setup \
             or log files were deleted accidentally or dataLogDir was changed in zoo.cfg.",
        ));
    };
    // Offset after the last txn to keep; None: the file keeps no txn.
    let mut cut_at = None;
    if let Some(mut reader) = LogFileReader::open(first.clone(), later.is_empty())? {
        while let Some(entry) = reader.next_entry()? {
            if entry.hdr.zxid > zxid {
                break;
            }
            cut_at = Some(reader.pos);
        }
    }
    match cut_at {
        Some(len) => {
            let f = OpenOptions::new().write(true).open(first)?;
            f.set_len(len)?;
            f.sync_all()?;
        }
        None => std::fs::remove_file(first)?,
    }
    for path in later {
        if let Err(e) = std::fs::remove_file(path) {
            warn!("Unable to delete {} while truncating the log: {e}", path.display());
        }
    }
    util::sync_dir(log_dir)
}

/// Iterator over logged txns. Yields `Err` (and then ends) for what is not
/// a torn tail: a file that cannot be read, a header with the wrong magic,
/// an intact entry (checksum right) that does not decode.
pub struct TxnIterator {
    files: VecDeque<PathBuf>,
    current: Option<LogFileReader>,
    start_zxid: i64,
    /// Where to begin in the first file, instead of its first entry.
    first_offset: Option<u64>,
    done: bool,
}

impl TxnIterator {
    fn over_files(files: VecDeque<PathBuf>, start_zxid: i64) -> TxnIterator {
        TxnIterator { files, current: None, start_zxid, first_offset: None, done: false }
    }

    fn advance(&mut self) -> io::Result<Option<TxnLogEntry>> {
        loop {
            let reader = match self.current.as_mut() {
                Some(reader) => reader,
                None => {
                    let Some(path) = self.files.pop_front() else {
                        return Ok(None);
                    };
                    let newest = self.files.is_empty();
                    let opened = match self.first_offset.take() {
                        Some(offset) => LogFileReader::open_at(path, newest, offset)?,
                        None => LogFileReader::open(path, newest)?,
                    };
                    match opened {
                        Some(reader) => self.current.insert(reader),
                        None => continue,
                    }
                }
            };
            match reader.next_entry_from(self.start_zxid)? {
                Some(entry) if entry.hdr.zxid >= self.start_zxid => return Ok(Some(entry)),
                Some(_) => {}
                None => self.current = None,
            }
        }
    }
}

impl Iterator for TxnIterator {
    type Item = io::Result<TxnLogEntry>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.advance() {
            Ok(Some(entry)) => Some(Ok(entry)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                self.current = None;
                Some(Err(e))
            }
        }
    }
}

/// Whether a whole file holds nothing but zero bytes.
fn all_zeros(path: &Path) -> io::Result<bool> {
    let mut reader = BufReader::with_capacity(READ_BUFFER_SIZE, File::open(path)?);
    let mut buf = vec![0u8; READ_BUFFER_SIZE];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            return Ok(true);
        }
        if buf[..n].iter().any(|b| *b != 0) {
            return Ok(false);
        }
    }
}

/// Reads the entries of one log file.
struct LogFileReader {
    path: PathBuf,
    reader: BufReader<File>,
    /// Offset of the next entry.
    pos: u64,
    /// File length when opened: bounds every allocation.
    len: u64,
    /// The last entry's bytes, reused from entry to entry.
    body: Vec<u8>,
}

/// The zxid in a log entry's bytes without decoding them: a TxnHeader
/// starts with clientId (long), cxid (int), zxid (long). `None` when the
/// bytes are too short to hold it (the decoder then says what is wrong).
fn body_zxid(body: &[u8]) -> Option<i64> {
    body.get(12..20).map(BigEndian::read_i64)
}

impl LogFileReader {
    /// Opens `path` and checks its header. A file too short to hold the
    /// header, or all zeros, is an error, as in Java -- unless it is the
    /// newest file: a crash right after creating it leaves one, holding no
    /// txn, and it is skipped (None) with a warning.
    fn open(path: PathBuf, newest: bool) -> io::Result<Option<LogFileReader>> {
        let file = File::open(&path)?;
        let len = file.metadata()?.len();
        if newest && (len < FILE_HEADER_LEN || all_zeros(&path)?) {
            warn!(
                "txn log {} is the newest and holds no header ({len} bytes, nothing but zeros): \
                 a log file created just before a crash; skipping it",
                path.display()
            );
            return Ok(None);
        }
        if len < FILE_HEADER_LEN {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "txn log {} is only {len} bytes, too short for its {FILE_HEADER_LEN}-byte header",
                    path.display()
                ),
            ));
        }
        let mut reader = BufReader::with_capacity(READ_BUFFER_SIZE, file);
        let mut header = [0u8; FILE_HEADER_LEN as usize];
        reader.read_exact(&mut header)?;
        let header =
            FileHeader::from_bytes(&header).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        if header.magic != TXNLOG_MAGIC {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "txn log {} has invalid magic number 0x{:08x} (expected 0x{TXNLOG_MAGIC:08x})",
                    path.display(),
                    header.magic
                ),
            ));
        }
        Ok(Some(LogFileReader { path, reader, pos: FILE_HEADER_LEN, len, body: Vec::new() }))
    }

    /// `open`, then goes straight to `offset`, which must be where an entry
    /// starts (or the end of the entries): a position the writer recorded.
    fn open_at(path: PathBuf, newest: bool, offset: u64) -> io::Result<Option<LogFileReader>> {
        let Some(mut reader) = LogFileReader::open(path, newest)? else {
            return Ok(None);
        };
        if offset < FILE_HEADER_LEN || offset > reader.len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("txn log {}: no entry can start at offset {offset}", reader.path.display()),
            ));
        }
        reader.reader.seek(SeekFrom::Start(offset))?;
        reader.pos = offset;
        Ok(Some(reader))
    }

    /// The next intact entry, or `None` at the end of the file's complete
    /// entries (warning when the end is a torn entry rather than the
    /// preallocated zeros or the end of the file); `Err` for a corrupt one.
    fn next_entry(&mut self) -> io::Result<Option<TxnLogEntry>> {
        self.next_entry_from(i64::MIN)
    }

    /// `next_entry`, passing over the entries whose zxid is below
    /// `start_zxid` without decoding them: each is still read whole and
    /// its checksum checked, so a corrupt or torn one is found as before;
    /// only its zxid is taken from the header's bytes.
    fn next_entry_from(&mut self, start_zxid: i64) -> io::Result<Option<TxnLogEntry>> {
        loop {
            let Some(offset) = self.next_body()? else {
                return Ok(None);
            };
            if matches!(body_zxid(&self.body), Some(zxid) if zxid < start_zxid) {
                continue;
            }
            return TxnLogEntry::from_bytes(&self.body).map(Some).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("txn log {}: intact entry at offset {offset} does not decode: {e}", self.path.display()),
                )
            });
        }
    }

    /// Reads the next intact entry's bytes (checksum checked, end-of-record
    /// byte removed) into `self.body` and returns the entry's offset;
    /// `None` at the end of the file's complete entries.
    fn next_body(&mut self) -> io::Result<Option<u64>> {
        let remaining = self.len.saturating_sub(self.pos);
        if remaining < ENTRY_PREFIX_LEN {
            let mut rest = Vec::new();
            (&mut self.reader).take(remaining).read_to_end(&mut rest)?;
            if rest.iter().any(|b| *b != 0) {
                self.torn("entry header cut short by the end of the file");
            }
            return Ok(None);
        }
        let mut prefix = [0u8; ENTRY_PREFIX_LEN as usize];
        if !self.read_fully(&mut prefix)? {
            return Ok(None);
        }
        let crc = BigEndian::read_i64(&prefix[..8]);
        let len = BigEndian::read_i32(&prefix[8..]);
        if len == 0 {
            // Preallocated zeros: the end of the log. A checksum in front of
            // a zero length is a write that stopped half way.
            if crc != 0 {
                self.torn("zero length after a checksum");
            }
            return Ok(None);
        }
        let body_len = match usize::try_from(len) {
            Ok(n) if n <= crate::jute::read_limit() => n,
            // Java reads a -1 length as a null buffer: the end of the file.
            _ if len == -1 => {
                self.torn("length -1");
                return Ok(None);
            }
            _ => return Err(self.corrupt(&format!("unreasonable length {len}"))),
        };
        // The body and its end-of-record byte must fit in the file.
        if body_len as u64 + 1 > remaining - ENTRY_PREFIX_LEN {
            self.torn(&format!("length {len} runs past the end of the file"));
            return Ok(None);
        }
        let mut body = std::mem::take(&mut self.body);
        body.clear();
        body.resize(body_len + 1, 0);
        let complete = self.read_fully(&mut body)?;
        self.body = body;
        if !complete {
            return Ok(None);
        }
        if self.body.pop() != Some(EOR) {
            self.torn("missing end-of-record byte (last transaction was partial)");
            return Ok(None);
        }
        if checksum(&self.body) != crc {
            return Err(self.corrupt("checksum mismatch, CRC check failed"));
        }
        let offset = self.pos;
        self.pos += ENTRY_PREFIX_LEN + body_len as u64 + 1;
        Ok(Some(offset))
    }

    /// Fills `buf`; `false` (with a warning) when the file ended first,
    /// which only happens if it shrank while being read.
    fn read_fully(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        match self.reader.read_exact(buf) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                self.torn("file ended inside the entry");
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    fn corrupt(&self, why: &str) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "txn log {}: entry at offset {} is corrupt ({why}); the log cannot be replayed past it. \
                 Inspect it with `zkserver txn-log-toolkit {}`; `-r` rewrites bad checksums, \
                 `-c -z <zxid>` keeps the txns up to a zxid",
                self.path.display(),
                self.pos,
                self.path.display()
            ),
        )
    }

    fn torn(&self, why: &str) {
        warn!(
            "txn log {}: entry at offset {} is incomplete ({why}), a torn write; \
             ignoring the rest of this file",
            self.path.display(),
            self.pos
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jute::records::{Acl, Id};
    use crate::jute::txn::*;
    use crate::server::persistence::syscall_trace::{assert_dir_synced_after, traced};
    use crate::zoo_defs::op_code;

    fn hdr(zxid: i64, ty: i32) -> TxnHeader {
        TxnHeader { client_id: 0x1234, cxid: zxid as i32, zxid, time: 1_700_000_000_000 + zxid, r#type: ty }
    }

    fn create(zxid: i64, path: &str) -> TxnLogEntry {
        TxnLogEntry {
            hdr: hdr(zxid, op_code::CREATE),
            txn: Some(TxnBody::Create(CreateTxn {
                path: path.into(),
                data: Some(vec![7; (zxid % 50) as usize]),
                acl: vec![Acl { perms: 31, id: Id::new("world", "anyone") }],
                ephemeral: false,
                parent_c_version: zxid as i32,
            })),
            digest: Some(TxnDigest { version: 2, tree_digest: zxid * 31 }),
        }
    }

    fn creates(zxids: std::ops::RangeInclusive<i64>) -> Vec<TxnLogEntry> {
        zxids.map(|z| create(z, &format!("/node{z}"))).collect()
    }

    /// One entry of every txn kind (and every opcode sharing a kind).
    #[test]
    fn every_kind_of_txn_knows_its_serialized_length() {
        for e in every_kind() {
            if let Some(t) = &e.txn {
                assert_eq!(t.serialized_len(), t.to_bytes().len(), "{t:?}");
            }
            assert_eq!(e.hdr.serialized_len(), e.hdr.to_bytes().len());
        }
    }

    fn every_kind() -> Vec<TxnLogEntry> {
        let acl = vec![Acl { perms: 1, id: Id::new("digest", "u:h") }];
        let bodies: Vec<(i32, Option<TxnBody>)> = vec![
            (op_code::CREATE_SESSION, Some(TxnBody::CreateSession(CreateSessionTxn { time_out: 30000 }))),
            (
                op_code::CREATE,
                Some(TxnBody::Create(CreateTxn {
                    path: "/a".into(),
                    data: None,
                    acl: acl.clone(),
                    ephemeral: true,
                    parent_c_version: 3,
                })),
            ),
            (
                op_code::CREATE2,
                Some(TxnBody::Create(CreateTxn {
                    path: "/b".into(),
                    data: Some(b"x".to_vec()),
                    acl: acl.clone(),
                    ephemeral: false,
                    parent_c_version: 4,
                })),
            ),
            (
                op_code::CREATE_TTL,
                Some(TxnBody::CreateTtl(CreateTtlTxn {
                    path: "/t".into(),
                    data: Some(vec![]),
                    acl: acl.clone(),
                    parent_c_version: 5,
                    ttl: 1000,
                })),
            ),
            (
                op_code::CREATE_CONTAINER,
                Some(TxnBody::CreateContainer(CreateContainerTxn {
                    path: "/c".into(),
                    data: Some(b"c".to_vec()),
                    acl: acl.clone(),
                    parent_c_version: 6,
                })),
            ),
            (op_code::DELETE, Some(TxnBody::Delete(DeleteTxn { path: "/a".into() }))),
            (op_code::DELETE_CONTAINER, Some(TxnBody::Delete(DeleteTxn { path: "/c".into() }))),
            (
                op_code::SET_DATA,
                Some(TxnBody::SetData(SetDataTxn {
                    path: "/b".into(),
                    data: Some(b"y".to_vec()),
                    version: 1,
                })),
            ),
            (
                op_code::RECONFIG,
                Some(TxnBody::SetData(SetDataTxn {
                    path: "/zookeeper/config".into(),
                    data: None,
                    version: -1,
                })),
            ),
            (op_code::SET_ACL, Some(TxnBody::SetAcl(SetAclTxn { path: "/b".into(), acl, version: 2 }))),
            (op_code::CHECK, Some(TxnBody::Check(CheckVersionTxn { path: "/b".into(), version: 2 }))),
            (op_code::ERROR, Some(TxnBody::Error(ErrorTxn { err: -101 }))),
            (
                op_code::MULTI,
                Some(TxnBody::Multi(MultiTxn {
                    txns: vec![
                        Txn { r#type: op_code::DELETE, data: DeleteTxn { path: "/b".into() }.to_bytes() },
                        Txn { r#type: op_code::ERROR, data: ErrorTxn { err: 0 }.to_bytes() },
                    ],
                })),
            ),
            (
                op_code::CLOSE_SESSION,
                Some(TxnBody::CloseSession(CloseSessionTxn { paths2_delete: vec!["/e".into()] })),
            ),
            // A closeSession from before CloseSessionTxn: header only.
            (op_code::CLOSE_SESSION, None),
        ];
        bodies
            .into_iter()
            .enumerate()
            .map(|(i, (ty, txn))| {
                let zxid = i as i64 + 1;
                // Digests on every other entry, and never behind a missing body.
                let digest =
                    (i % 2 == 0 && txn.is_some()).then_some(TxnDigest { version: 2, tree_digest: -zxid });
                TxnLogEntry { hdr: hdr(zxid, ty), txn, digest }
            })
            .collect()
    }

    fn write(dir: &Path, pre_alloc: u64, entries: &[TxnLogEntry]) -> FileTxnLog {
        let mut log = FileTxnLog::new(dir, pre_alloc, true, 1000);
        for e in entries {
            assert!(log.append(e).unwrap());
        }
        log.commit().unwrap();
        log
    }

    fn read_all(dir: &Path, start: i64) -> Vec<TxnLogEntry> {
        read_txns(dir, start).unwrap().map(|e| e.unwrap()).collect()
    }

    fn zxids(entries: &[TxnLogEntry]) -> Vec<i64> {
        entries.iter().map(|e| e.hdr.zxid).collect()
    }

    /// Offsets at which each entry of a freshly written single file starts.
    fn entry_offsets(entries: &[TxnLogEntry]) -> Vec<u64> {
        let mut at = FILE_HEADER_LEN;
        entries
            .iter()
            .map(|e| {
                let start = at;
                at += ENTRY_PREFIX_LEN + e.to_bytes().len() as u64 + 1;
                start
            })
            .collect()
    }

    #[test]
    fn every_txn_kind_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let entries = every_kind();
        let mut log = write(dir.path(), 0, &entries);
        log.close().unwrap();
        assert_eq!(read_all(dir.path(), 0), entries);
    }

    #[test]
    fn truncate_keeps_txns_up_to_the_zxid_and_drops_later_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = write(dir.path(), 0, &creates(1..=5));
        log.roll_log().unwrap();
        for e in creates(6..=8) {
            log.append(&e).unwrap();
        }
        log.commit().unwrap();
        log.close().unwrap();
        let (result, calls) = traced(|| truncate(dir.path(), 3));
        result.unwrap();
        assert_eq!(read_all(dir.path(), 0), creates(1..=3));
        assert!(!dir.path().join("log.6").exists());
        // The deletion must survive a crash: a leftover log.6 would be
        // replayed after the cut.
        assert_dir_synced_after(&calls, |c| c.starts_with("unlink") && c.contains("log.6"), dir.path());
        // Appending after the cut starts a new file that replay follows.
        let mut log = write(dir.path(), 0, &creates(4..=4));
        log.close().unwrap();
        assert_eq!(read_all(dir.path(), 0), creates(1..=4));
        assert!(truncate(tempfile::tempdir().unwrap().path(), 3).is_err());
    }

    #[test]
    fn exact_bytes_of_one_entry() {
        let dir = tempfile::tempdir().unwrap();
        let e = create(0x100000001, "/x");
        let mut log = write(dir.path(), 0, std::slice::from_ref(&e));
        log.close().unwrap();
        let bytes = std::fs::read(dir.path().join("log.100000001")).unwrap();
        let body = e.to_bytes();
        assert_eq!(&bytes[..16], &[b'Z', b'K', b'L', b'G', 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&bytes[16..24], &checksum(&body).to_be_bytes());
        assert_eq!(&bytes[24..28], &(body.len() as i32).to_be_bytes());
        assert_eq!(&bytes[28..28 + body.len()], &body[..]);
        assert_eq!(bytes[28 + body.len()..], [b'B']);
    }

    #[test]
    fn roll_makes_one_file_per_segment_and_reads_span_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = FileTxnLog::new(dir.path(), 65536, false, 1000);
        for e in creates(1..=3) {
            log.append(&e).unwrap();
        }
        log.roll_log().unwrap();
        for e in creates(4..=6) {
            log.append(&e).unwrap();
        }
        log.roll_log().unwrap();
        log.append(&create(0x7, "/z")).unwrap();
        log.commit().unwrap();
        assert_eq!(log.current_log_file(), Some(dir.path().join("log.7").as_path()));
        let names: Vec<String> = get_log_files(dir.path(), 0)
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["log.1", "log.4", "log.7"]);
        assert_eq!(zxids(&read_all(dir.path(), 0)), (1..=7).collect::<Vec<_>>());
        // Starting inside a file, at a file's first zxid, past the end.
        assert_eq!(zxids(&read_all(dir.path(), 5)), [5, 6, 7]);
        assert_eq!(zxids(&read_all(dir.path(), 4)), [4, 5, 6, 7]);
        assert_eq!(zxids(&read_all(dir.path(), 2)), (2..=7).collect::<Vec<_>>());
        assert!(read_all(dir.path(), 8).is_empty());
        // The reader only opens the files it needs.
        assert_eq!(get_log_files(dir.path(), 5).unwrap().len(), 2);
        assert_eq!(log.get_last_logged_zxid(), 7);
        // Three files, each one chunk past the header.
        assert_eq!(log.get_total_log_size(), 3 * (16 + 65536));
    }

    #[test]
    fn empty_or_missing_logs_read_as_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_all(dir.path(), 0).is_empty());
        let log = FileTxnLog::new(dir.path(), 0, false, 1000);
        assert_eq!(log.get_last_logged_zxid(), -1);
        assert_eq!(log.get_current_log_size(), 0);
        assert!(read_txns(&dir.path().join("missing"), 0).is_err());
    }

    #[test]
    fn preallocation_pads_with_zeros_in_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let chunk = 8192;
        let entries = creates(1..=3);
        let mut log = write(dir.path(), chunk, &entries);
        let path = dir.path().join("log.1");
        // Like Java: the header, then one chunk.
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 16 + chunk);
        assert_eq!(log.get_current_log_size(), 16 + chunk);
        let end = *entry_offsets(&entries).last().unwrap()
            + ENTRY_PREFIX_LEN
            + entries[2].to_bytes().len() as u64
            + 1;
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes[end as usize..].iter().all(|b| *b == 0));
        assert_eq!(read_all(dir.path(), 0), entries);

        // Writing on to within 4 KiB of the end grows the file by a chunk.
        let more = creates(4..=80);
        for e in &more {
            log.append(e).unwrap();
        }
        log.commit().unwrap();
        let len = std::fs::metadata(&path).unwrap().len();
        assert_eq!((len - 16) % chunk, 0);
        assert!(len > 16 + chunk);
        assert_eq!(log.get_current_log_size(), len);
        assert_eq!(read_all(dir.path(), 0).len(), 80);
    }

    #[test]
    fn an_entry_larger_than_a_chunk_still_lands_before_the_padding() {
        let dir = tempfile::tempdir().unwrap();
        let mut big = create(1, "/big");
        if let Some(TxnBody::Create(c)) = &mut big.txn {
            c.data = Some(vec![9; 20_000]);
        }
        let entries = vec![big, create(2, "/after"), create(3, "/after2")];
        write(dir.path(), 4096, &entries);
        let len = std::fs::metadata(dir.path().join("log.1")).unwrap().len();
        assert_eq!(len % 4096, 0, "rounded to the chunk once the writer ran past the end");
        assert_eq!(read_all(dir.path(), 0), entries);
    }

    /// Cuts the last entry at every byte: by truncating the file, and by
    /// zeroing its tail as a crash inside the preallocated area leaves it.
    #[test]
    fn torn_tail_at_every_offset_yields_exactly_the_complete_entries() {
        let dir = tempfile::tempdir().unwrap();
        let entries = creates(1..=4);
        write(dir.path(), 0, &entries);
        let path = dir.path().join("log.1");
        let good = std::fs::read(&path).unwrap();
        let last_start = *entry_offsets(&entries).last().unwrap() as usize;
        assert_eq!(read_all(dir.path(), 0), entries);
        for cut in last_start..good.len() {
            std::fs::write(&path, &good[..cut]).unwrap();
            assert_eq!(read_all(dir.path(), 0), entries[..3], "truncated at {cut}");
            let mut zeroed = good.clone();
            zeroed[cut..].fill(0);
            zeroed.extend_from_slice(&[0; 100]);
            std::fs::write(&path, &zeroed).unwrap();
            assert_eq!(read_all(dir.path(), 0), entries[..3], "zeroed from {cut}");
        }
    }

    /// The entries read before the iterator ends, and its error if it
    /// ended with one.
    fn read_until_error(dir: &Path) -> (Vec<TxnLogEntry>, Option<io::Error>) {
        let mut good = Vec::new();
        for r in read_txns(dir, 0).unwrap() {
            match r {
                Ok(e) => good.push(e),
                Err(e) => return (good, Some(e)),
            }
        }
        (good, None)
    }

    #[test]
    fn a_checksum_mismatch_is_an_error_after_the_entries_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let entries = creates(1..=5);
        write(dir.path(), 0, &entries);
        write(dir.path(), 0, &creates(6..=6));
        let path = dir.path().join("log.1");
        let good = std::fs::read(&path).unwrap();
        let third = entry_offsets(&entries)[2] as usize;
        for (what, at) in [("checksum", third + 3), ("body", third + 40)] {
            let mut bad = good.clone();
            bad[at] ^= 0x5a;
            std::fs::write(&path, &bad).unwrap();
            let (read, err) = read_until_error(dir.path());
            assert_eq!(read, entries[..2], "{what}");
            let err = err.unwrap_or_else(|| panic!("{what}: no error"));
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
            assert!(err.to_string().contains("CRC check failed"), "{err}");
        }
    }

    /// A complete last entry whose checksum fails may have been
    /// acknowledged: even with only preallocated zeros after it, in the
    /// newest file, it is corruption, named by file and offset, as in Java.
    #[test]
    fn a_failed_checksum_on_the_newest_files_last_entry_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let entries = creates(1..=4);
        write(dir.path(), 1024, &entries);
        let path = dir.path().join("log.1");
        let last = entry_offsets(&entries)[3] as usize;
        let mut bad = std::fs::read(&path).unwrap();
        assert!(bad[last + 1..].len() > 100 && bad[bad.len() - 100..].iter().all(|b| *b == 0), "preallocated");
        bad[last + 20] ^= 0x5a;
        std::fs::write(&path, &bad).unwrap();
        let (read, err) = read_until_error(dir.path());
        assert_eq!(read, entries[..3]);
        let err = err.expect("the bad last entry is an error");
        let msg = err.to_string();
        assert!(msg.contains("CRC check failed"), "{msg}");
        assert!(msg.contains(&format!("txn log {}: entry at offset {last} is corrupt", path.display())), "{msg}");
        assert!(msg.contains("txn-log-toolkit"), "{msg}");
        assert_eq!(std::fs::read(&path).unwrap(), bad, "the reader leaves the file alone");
    }

    #[test]
    fn an_empty_or_zeroed_newest_log_file_is_skipped_but_not_an_older_one() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), 0, &creates(1..=2));
        std::fs::write(dir.path().join("log.3"), b"").unwrap();
        assert_eq!(zxids(&read_all(dir.path(), 0)), [1, 2]);
        std::fs::write(dir.path().join("log.3"), vec![0u8; 4096]).unwrap();
        assert_eq!(zxids(&read_all(dir.path(), 0)), [1, 2]);
        write(dir.path(), 0, &creates(4..=4));
        let (read, err) = read_until_error(dir.path());
        assert_eq!(zxids(&read), [1, 2]);
        assert!(err.unwrap().to_string().contains("invalid magic"));
    }

    #[test]
    fn a_missing_end_of_record_byte_ends_that_file_only() {
        let dir = tempfile::tempdir().unwrap();
        let entries = creates(1..=5);
        write(dir.path(), 0, &entries);
        write(dir.path(), 0, &creates(6..=6));
        let path = dir.path().join("log.1");
        let good = std::fs::read(&path).unwrap();
        let offsets = entry_offsets(&entries);
        // The third entry's end-of-record byte is missing, or its length
        // changed so that a body byte sits where that byte should be.
        let mut no_eor = good.clone();
        no_eor[offsets[3] as usize - 1] = 0;
        let mut shorter = good.clone();
        shorter[offsets[2] as usize + 11] -= 1;
        for bad in [no_eor, shorter] {
            std::fs::write(&path, &bad).unwrap();
            assert_eq!(zxids(&read_all(dir.path(), 0)), [1, 2, 6]);
        }
    }

    #[test]
    fn huge_or_negative_lengths_are_errors_without_allocating_and_minus_one_ends_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let entries = creates(1..=2);
        write(dir.path(), 0, &entries);
        let path = dir.path().join("log.1");
        let good = std::fs::read(&path).unwrap();
        for len in [-1, i32::MAX, -2, i32::MIN, (crate::jute::read_limit() + 1) as i32] {
            let mut bad = good.clone();
            bad.extend_from_slice(&1i64.to_be_bytes());
            bad.extend_from_slice(&len.to_be_bytes());
            bad.extend_from_slice(&[b'B'; 64]);
            std::fs::write(&path, &bad).unwrap();
            let (read, err) = read_until_error(dir.path());
            assert_eq!(read, entries, "length {len}");
            match err {
                None => assert_eq!(len, -1),
                Some(e) => assert!(e.to_string().contains("unreasonable length"), "{len}: {e}"),
            }
        }
    }

    /// Random damage anywhere after the header never panics and never
    /// yields anything but a prefix of what was written.
    #[test]
    fn random_damage_yields_a_prefix_and_never_panics() {
        let dir = tempfile::tempdir().unwrap();
        let entries = every_kind();
        write(dir.path(), 4096, &entries);
        let path = dir.path().join("log.1");
        let good = std::fs::read(&path).unwrap();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rand = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for round in 0..400 {
            let mut bad = good.clone();
            for _ in 0..1 + rand(4) {
                let at = 16 + rand(bad.len() - 16);
                bad[at] = rand(256) as u8;
            }
            if round % 3 == 0 {
                bad.truncate(16 + rand(bad.len() - 16));
            }
            std::fs::write(&path, &bad).unwrap();
            let got: Vec<TxnLogEntry> = read_txns(dir.path(), 0).unwrap().filter_map(Result::ok).collect();
            assert_eq!(got[..], entries[..got.len()], "round {round}");
        }
    }

    #[test]
    fn bad_magic_and_files_shorter_than_a_header_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), 0, &creates(1..=2));
        std::fs::write(dir.path().join("log.3"), b"ZK").unwrap();
        write(dir.path(), 0, &creates(4..=4));
        let (read, err) = read_until_error(dir.path());
        assert_eq!(zxids(&read), [1, 2]);
        assert!(err.unwrap().to_string().contains("too short for its 16-byte header"));
        std::fs::remove_file(dir.path().join("log.3")).unwrap();
        assert_eq!(zxids(&read_all(dir.path(), 0)), [1, 2, 4]);

        let mut bad = std::fs::read(dir.path().join("log.4")).unwrap();
        bad[..4].copy_from_slice(b"ZKSN");
        std::fs::write(dir.path().join("log.4"), &bad).unwrap();
        let results: Vec<_> = read_txns(dir.path(), 0).unwrap().collect();
        assert_eq!(results.len(), 3);
        assert!(results[..2].iter().all(|r| r.is_ok()));
        let err = results[2].as_ref().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("invalid magic"), "{err}");
    }

    #[test]
    fn intact_entry_that_does_not_decode_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut odd = create(1, "/x");
        odd.hdr.r#type = 9999;
        write(dir.path(), 0, &[odd]);
        let results: Vec<_> = read_txns(dir.path(), 0).unwrap().collect();
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].as_ref().unwrap_err().kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn a_new_writer_after_a_torn_tail_starts_a_new_file_read_after_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let entries = creates(1..=5);
        write(dir.path(), 1 << 20, &entries);
        let path = dir.path().join("log.1");
        let mut bytes = std::fs::read(&path).unwrap();
        // The fifth entry was half written when the machine stopped.
        let fifth = entry_offsets(&entries)[4] as usize;
        bytes[fifth + 20..].fill(0);
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(read_all(dir.path(), 0), entries[..4]);

        let mut log = FileTxnLog::new(dir.path(), 1 << 20, true, 1000);
        assert_eq!(log.get_last_logged_zxid(), 4);
        let redo = vec![create(5, "/redo5"), create(6, "/six")];
        for e in &redo {
            log.append(e).unwrap();
        }
        log.commit().unwrap();
        assert!(dir.path().join("log.5").exists());
        let mut expected = entries[..4].to_vec();
        expected.extend(redo);
        assert_eq!(read_all(dir.path(), 0), expected);
        assert_eq!(log.get_last_logged_zxid(), 6);
    }

    #[test]
    fn a_lower_zxid_is_still_written_like_java() {
        let dir = tempfile::tempdir().unwrap();
        let entries = vec![create(5, "/a"), create(3, "/b"), create(6, "/c")];
        write(dir.path(), 0, &entries);
        assert_eq!(zxids(&read_all(dir.path(), 0)), [5, 3, 6]);
    }

    #[test]
    fn commit_fsyncs_and_counts_only_with_force_sync() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = FileTxnLog::new(dir.path(), 0, true, 60_000);
        let stats = log.fsync_stats();
        assert_eq!(log.get_txn_log_sync_elapsed_time(), -1);
        log.append(&create(1, "/a")).unwrap();
        log.roll_log().unwrap();
        log.append(&create(2, "/b")).unwrap();
        log.commit().unwrap();
        // The rolled file and the current one.
        assert_eq!(stats.count(), 2);
        assert!(log.get_txn_log_sync_elapsed_time() >= 0);
        log.commit().unwrap();
        assert_eq!(stats.count(), 3);
        assert_eq!(stats.threshold_exceed_count(), 0);

        let dir2 = tempfile::tempdir().unwrap();
        let mut lazy = FileTxnLog::new(dir2.path(), 0, false, 1000);
        lazy.append(&create(1, "/a")).unwrap();
        lazy.commit().unwrap();
        assert_eq!(lazy.fsync_stats().count(), 0);
        assert_eq!(read_all(dir2.path(), 0).len(), 1);
    }

    #[test]
    fn a_failed_write_makes_the_log_refuse_further_work() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("gone");
        let mut log = FileTxnLog::new(&missing, 0, false, 1000);
        assert!(log.append(&create(1, "/a")).is_err());
        std::fs::create_dir(&missing).unwrap();
        let err = log.append(&create(2, "/b")).unwrap_err();
        assert!(err.to_string().contains("unusable"), "{err}");
        assert!(log.commit().is_err());
    }

    /// One log entry's bytes (checksum, length, body, end-of-record).
    fn raw_entry(body: &[u8]) -> Vec<u8> {
        let mut out = checksum(&body).to_be_bytes().to_vec();
        out.extend_from_slice(&(body.len() as i32).to_be_bytes());
        out.extend_from_slice(body);
        out.push(EOR);
        out
    }

    #[test]
    fn entries_below_the_start_are_checked_but_not_decoded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.1");
        let header = FileHeader { magic: TXNLOG_MAGIC, version: VERSION, dbid: 0 };
        let mut bytes = header.to_bytes();
        bytes.extend(raw_entry(&create(1, "/a").to_bytes()));
        // Entry 2: intact (checksum right) but only clientId, cxid and zxid,
        // too short to decode.
        let mut short = vec![0u8; 12];
        short.extend_from_slice(&2i64.to_be_bytes());
        let short_at = bytes.len();
        bytes.extend(raw_entry(&short));
        for e in creates(3..=5) {
            bytes.extend(raw_entry(&e.to_bytes()));
        }
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(read_all(dir.path(), 3), creates(3..=5));
        let from_one: Vec<_> = read_txns(dir.path(), 1).unwrap().collect();
        assert_eq!(from_one.len(), 2);
        assert_eq!(from_one[0].as_ref().unwrap(), &create(1, "/a"));
        let err = from_one[1].as_ref().unwrap_err().to_string();
        assert!(err.contains("does not decode") && err.contains(&format!("offset {short_at}")), "{err}");
        // A bad checksum below the start is still corruption.
        bytes[short_at + 12 + 3] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let err = read_txns(dir.path(), 3).unwrap().find_map(Result::err).expect("an error");
        assert!(err.to_string().contains("CRC check failed"), "{err}");
    }

    /// What `read_txns_resuming` yields from the writer's resume point for
    /// `start`, and what a full read yields, as zxids or the error.
    fn both_reads(log: &FileTxnLog, dir: &Path, start: i64) -> (Result<Vec<i64>, String>, Result<Vec<i64>, String>) {
        let collect = |it: TxnIterator| -> Result<Vec<i64>, String> {
            it.map(|e| e.map(|e| e.hdr.zxid).map_err(|e| e.to_string())).collect()
        };
        let resume = log.resume_point(start);
        (
            collect(read_txns_resuming(dir, start, resume.as_ref()).unwrap()),
            collect(read_txns(dir, start).unwrap()),
        )
    }

    #[test]
    fn a_resume_point_reads_what_a_full_read_does_from_less_of_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let first = creates(1..=5);
        let mut log = write(dir.path(), 4096, &first);
        log.roll_log().unwrap();
        let second = creates(6..=9);
        for e in &second {
            log.append(e).unwrap();
        }
        log.commit().unwrap();
        assert_eq!(log.resume_point(0), None);
        assert_eq!(
            log.resume_point(4),
            Some(ResumePoint { path: dir.path().join("log.1"), offset: entry_offsets(&first)[3] })
        );
        assert_eq!(
            log.resume_point(8),
            Some(ResumePoint { path: dir.path().join("log.6"), offset: entry_offsets(&second)[2] })
        );
        // Past the last txn: its own entry, which holds nothing to read.
        assert_eq!(log.resume_point(20).unwrap().offset, entry_offsets(&second)[3]);
        for start in 0..=11 {
            let (resumed, full) = both_reads(&log, dir.path(), start);
            assert_eq!(resumed, full, "from {start}");
            assert_eq!(full.unwrap(), (start.max(1)..=9).collect::<Vec<_>>());
        }

        // A torn tail (a crash inside the last entry) ends both reads there.
        log.append(&create(10, "/ten")).unwrap();
        log.commit().unwrap();
        log.close().unwrap();
        let log6 = dir.path().join("log.6");
        let torn_at = entry_offsets(&creates(6..=10))[4] + 20;
        OpenOptions::new().write(true).open(&log6).unwrap().set_len(torn_at).unwrap();
        for start in [7, 9, 10] {
            let (resumed, full) = both_reads(&log, dir.path(), start);
            assert_eq!(resumed, full, "from {start}");
            assert_eq!(full.unwrap(), (start..=9).collect::<Vec<_>>());
        }

        // A corrupt entry after the resume point is found by both.
        let mut bytes = std::fs::read(&log6).unwrap();
        bytes[entry_offsets(&second)[3] as usize + 12 + 4] ^= 0xff;
        std::fs::write(&log6, &bytes).unwrap();
        let (resumed, full) = both_reads(&log, dir.path(), 8);
        assert_eq!(resumed, full);
        assert!(full.unwrap_err().contains("CRC check failed"));
    }

    #[test]
    fn a_resume_point_in_another_file_than_the_first_to_read_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = write(dir.path(), 0, &creates(1..=5));
        log.roll_log().unwrap();
        log.append(&create(6, "/six")).unwrap();
        log.commit().unwrap();
        let in_second = log.resume_point(6).unwrap();
        assert_eq!(in_second.path, dir.path().join("log.6"));
        let read = |start| -> Vec<i64> {
            read_txns_resuming(dir.path(), start, Some(&in_second)).unwrap().map(|e| e.unwrap().hdr.zxid).collect()
        };
        assert_eq!(read(2), vec![2, 3, 4, 5, 6]);
        assert_eq!(read(6), vec![6]);
    }

    #[test]
    fn the_writer_knows_the_highest_zxid_in_the_log_and_where_recent_appends_went() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = FileTxnLog::new(dir.path(), 0, false, 1000);
        assert_eq!(log.highest_zxid_written(), None);
        log.set_highest_zxid_before(7);
        assert_eq!(log.highest_zxid_written(), Some(7));
        log.append(&create(8, "/eight")).unwrap();
        assert_eq!(log.highest_zxid_written(), Some(8));
        // A zxid out of order does not lower it.
        log.append(&create(3, "/three")).unwrap();
        assert_eq!(log.highest_zxid_written(), Some(8));

        // Only the latest RESUME_POINTS appends are remembered.
        let dir = tempfile::tempdir().unwrap();
        let n = RESUME_POINTS as i64 + 10;
        let mut log = FileTxnLog::new(dir.path(), 0, false, 1000);
        for zxid in 1..=n {
            let hdr = hdr(zxid, op_code::CREATE_SESSION);
            log.append(&TxnLogEntry { hdr, txn: Some(TxnBody::CreateSession(CreateSessionTxn { time_out: 1 })), digest: None })
                .unwrap();
        }
        log.commit().unwrap();
        assert_eq!(log.resume_point(5), None);
        let resume = log.resume_point(n - 1).unwrap();
        let read: Vec<i64> =
            read_txns_resuming(dir.path(), n - 1, Some(&resume)).unwrap().map(|e| e.unwrap().hdr.zxid).collect();
        assert_eq!(read, vec![n - 1, n]);
    }
}
