//! FileSnap: snapshots in Java 3.8's format. `snapshot.<zxid hex>` holds a
//! FileHeader (magic ZKSN, version 2, dbid -1), the sessions (count, then
//! id and timeout each), the DataTree (ACL table, then path/node pairs ended
//! by "/"), and a seal: the Adler-32 of everything before it as a long,
//! then the string "/". With zookeeper.digest.enabled (the default), as in
//! Java 3.8, the tree digest of the newest applied txn follows (zxid,
//! digest version, digest) with a second seal over everything before it;
//! older readers stop at the first seal.
//! Written by the `SnapshotThread` while writers continue (a fuzzy
//! snapshot), read by the main thread at start-up, streamed both ways: the
//! file is never held in memory whole. A snapshot is written under a
//! temporary name (`temp_snapshot_name`) that neither this server's nor
//! Java's restore and purge take for a snapshot, and `ZkDatabase` renames it
//! into place once it is whole.
//! With zookeeper.snapshot.compression.method those bytes are stored
//! through gzip or snappy-java (`snapshot.<zxid>.gz`, `.snappy`, see
//! `snap_stream`); every snapshot is read the way its name says.

use crate::jute::records::FileHeader;
use crate::jute::{InputArchive, JuteError, OutputArchive, Record};
use crate::server::data_tree::{read_node_record, DataTree, NodeRecord, ZxidDigest};
use crate::server::digest_calculator::calculate_digest;
use crate::server::reference_counted_acl_cache::ReferenceCountedAclCache;
use crate::server::persistence::snap_stream::{self, SnapOutput, StreamMode};
use crate::server::persistence::util::{self, get_zxid_from_name, sorted_data_dir_files, SNAPSHOT_FILE_PREFIX};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// "ZKSN" as a big-endian int.
pub const SNAP_MAGIC: i32 = 0x5a4b_534e;
pub const VERSION: i32 = 2;
pub const DB_ID: i64 = -1;
/// How many of the newest snapshots start-up tries before giving up.
const SNAPSHOTS_TO_TRY: usize = 100;

/// The file name of an uncompressed snapshot taken at `zxid`.
pub fn snapshot_name(zxid: i64) -> String {
    snapshot_name_with(zxid, StreamMode::Checked)
}

/// Util.makeSnapshotName: `snapshot.<zxid>` plus the method's extension.
pub fn snapshot_name_with(zxid: i64, mode: StreamMode) -> String {
    format!("{}.{:x}{}", SNAPSHOT_FILE_PREFIX, zxid, mode.file_extension())
}

/// The name a snapshot at `zxid` is written under until it is complete:
/// hidden, and not starting with `snapshot.`, so that no restore or purge,
/// ours or Java's, counts it as a snapshot or deletes it while it grows.
pub fn temp_snapshot_name(zxid: i64) -> String {
    temp_snapshot_name_with(zxid, StreamMode::Checked)
}

/// `temp_snapshot_name` for a snapshot written with `mode`.
pub fn temp_snapshot_name_with(zxid: i64, mode: StreamMode) -> String {
    format!(".{}.tmp", snapshot_name_with(zxid, mode))
}

/// Whether `name` is one of `temp_snapshot_name`'s.
fn is_temp_snapshot_name(name: &str) -> bool {
    name.strip_prefix('.')
        .and_then(|n| n.strip_suffix(".tmp"))
        .is_some_and(|n| get_zxid_from_name(n, SNAPSHOT_FILE_PREFIX).is_some())
}

/// Deletes the temporary files of snapshots that a crash or an abandoned
/// write left in `snap_dir`. Call only while no snapshot is being written.
pub fn remove_temp_snapshots(snap_dir: &Path) -> io::Result<()> {
    let mut removed = false;
    for entry in std::fs::read_dir(snap_dir)? {
        let entry = entry?;
        if entry.file_name().to_str().is_some_and(is_temp_snapshot_name) {
            tracing::info!("Removing the unfinished snapshot {}", entry.path().display());
            std::fs::remove_file(entry.path())?;
            removed = true;
        }
    }
    if removed {
        util::sync_dir(snap_dir)?;
    }
    Ok(())
}

/// Deletes the snapshots of `snap_dir` taken after `zxid` (a TRUNC to
/// `zxid` drops the txns they hold), then fsyncs the directory. Call only
/// while no snapshot is being written.
pub fn remove_snapshots_after(snap_dir: &Path, zxid: i64) -> io::Result<()> {
    let mut removed = false;
    for (snap_zxid, path) in sorted_data_dir_files(snap_dir, SNAPSHOT_FILE_PREFIX, true)? {
        if snap_zxid > zxid {
            tracing::warn!("Removing {}: it holds txns after 0x{zxid:x}, which the leader truncated", path.display());
            std::fs::remove_file(&path)?;
            removed = true;
        }
    }
    if removed {
        util::sync_dir(snap_dir)?;
    }
    Ok(())
}

/// The file under a snapshot's BufWriter: each chunk written first asks
/// `keep_going`, and the write fails once it says no, so a snapshot of a
/// tree being replaced stops early. Not with ErrorKind::Interrupted, which
/// `write_all` takes as "try again": the writer would spin for ever.
///
/// The writeback is paced: every `WRITEBACK_CHUNK` bytes the chunk just
/// written is sent to the disk and the one before it waited for, so the
/// snapshot never has more than two chunks queued at the disk and the
/// transaction log's fsyncs are not stuck behind hundreds of MiB flushed at
/// once (by the final fsync or the kernel's writeback).
struct Abandonable<'a> {
    file: File,
    keep_going: &'a dyn Fn() -> bool,
    written: u64,
    /// The bytes before `sent` have been sent to the disk, those before
    /// `settled` waited for.
    sent: u64,
    settled: u64,
}

/// How many bytes of a snapshot are sent to the disk at a time.
const WRITEBACK_CHUNK: u64 = 4 << 20;

impl<'a> Abandonable<'a> {
    fn new(file: File, keep_going: &'a dyn Fn() -> bool) -> Abandonable<'a> {
        Abandonable { file, keep_going, written: 0, sent: 0, settled: 0 }
    }

    /// Waits for the chunk sent last, then sends the one just written.
    /// Only a hint to the kernel: an error is left to the fsync (or the
    /// next read) to report.
    fn pace_writeback(&mut self) {
        use std::os::fd::AsRawFd;
        let fd = self.file.as_raw_fd();
        let range = |from: u64, to: u64| (from as libc::off64_t, (to - from) as libc::off64_t);
        let wait = libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WRITE | libc::SYNC_FILE_RANGE_WAIT_AFTER;
        let (waited, sent) = (range(self.settled, self.sent), range(self.sent, self.written));
        // SAFETY: sync_file_range only reads the descriptor, which `file`
        // keeps open.
        unsafe {
            if waited.1 > 0 {
                libc::sync_file_range(fd, waited.0, waited.1, wait);
            }
            libc::sync_file_range(fd, sent.0, sent.1, libc::SYNC_FILE_RANGE_WRITE);
        }
        (self.settled, self.sent) = (self.sent, self.written);
    }
}

impl Write for Abandonable<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !(self.keep_going)() {
            return Err(io::Error::other("snapshot abandoned: the tree was replaced"));
        }
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.written - self.sent >= WRITEBACK_CHUNK {
            self.pace_writeback();
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Forwards writes and keeps the Adler-32 of everything written.
struct CheckedWriter<W: Write> {
    inner: W,
    sum: simd_adler32::Adler32,
}

impl<W: Write> Write for CheckedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sum.write(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes an uncompressed snapshot (`serialize_with`).
pub fn serialize(
    dt: &DataTree,
    sessions: &HashMap<i64, i32>,
    path: &Path,
    fsync: bool,
    keep_going: &dyn Fn() -> bool,
) -> io::Result<()> {
    serialize_with(dt, sessions, path, fsync, keep_going, StreamMode::Checked)
}

/// Writes a snapshot of `dt` and `sessions` to `path` (a new file), its
/// bytes stored as `mode` says; fsyncs it when asked. Stops with an error,
/// leaving the file partial, as soon as `keep_going` says no (asked every
/// 64 KiB of output).
pub fn serialize_with(
    dt: &DataTree,
    sessions: &HashMap<i64, i32>,
    path: &Path,
    fsync: bool,
    keep_going: &dyn Fn() -> bool,
    mode: StreamMode,
) -> io::Result<()> {
    let file = Abandonable::new(File::create(path)?, keep_going);
    let out = SnapOutput::new(file, mode);
    let mut w = CheckedWriter { inner: BufWriter::with_capacity(64 * 1024, out), sum: simd_adler32::Adler32::new() };
    let mut oa = OutputArchive::with_capacity(64 + sessions.len() * 12);
    FileHeader { magic: SNAP_MAGIC, version: VERSION, dbid: DB_ID }.serialize(&mut oa);
    oa.write_int(sessions.len() as i32);
    for (id, timeout) in sessions {
        oa.write_long(*id);
        oa.write_int(*timeout);
    }
    w.write_all(oa.as_slice())?;
    dt.serialize(&mut w)?;
    seal(&mut w)?;
    let mut digest = OutputArchive::with_capacity(20);
    if dt.serialize_zxid_digest(&mut digest) {
        w.write_all(digest.as_slice())?;
        seal(&mut w)?;
    }
    w.flush()?;
    let file = w.inner.into_inner().map_err(|e| e.into_error())?.finish()?;
    if fsync {
        file.file.sync_all()?;
    }
    Ok(())
}

/// SnapStream.sealStream: the Adler-32 of everything written so far, then "/".
fn seal<W: Write>(w: &mut CheckedWriter<W>) -> io::Result<()> {
    let mut seal = OutputArchive::with_capacity(16);
    seal.write_long(i64::from(w.sum.finish()));
    seal.write_string("/");
    w.write_all(seal.as_slice())
}

/// Reads a snapshot front to back through a window of the file, keeping
/// the Adler-32 of every byte consumed so far (SnapStream's
/// CheckedInputStream), so a seal can be checked where it stands without
/// holding the file in memory. Records are parsed from the window with the
/// ordinary `InputArchive`; one that runs past the window's end is parsed
/// again once more of the file is in.
struct SnapReader {
    /// The snapshot's uncompressed bytes: the file itself, or a
    /// decompressor over it.
    src: Box<dyn Read>,
    /// The window is `buf[start..end]`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes of an uncompressed file not yet read into `buf`; None for a
    /// compressed one, whose length is known only at its end.
    unread: Option<u64>,
    /// A compressed stream has ended.
    ended: bool,
    sum: simd_adler32::Adler32,
}

/// The window's starting size; it grows (doubling) only for a record that
/// does not fit.
const WINDOW: usize = 1 << 20;

impl SnapReader {
    fn new(src: Box<dyn Read>, len: Option<u64>) -> SnapReader {
        SnapReader {
            src,
            buf: vec![0; WINDOW],
            start: 0,
            end: 0,
            unread: len,
            ended: false,
            sum: simd_adler32::Adler32::new(),
        }
    }

    fn window(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or_default()
    }

    /// Bytes of an uncompressed file not consumed yet, read or not.
    fn remaining(&self) -> Option<u64> {
        self.unread.map(|u| (self.end - self.start) as u64 + u)
    }

    /// Whether every byte has been consumed.
    fn at_end(&mut self) -> io::Result<bool> {
        Ok(self.start == self.end && !self.fill()?)
    }

    /// The Adler-32 of everything consumed so far.
    fn checksum(&self) -> i64 {
        i64::from(self.sum.finish())
    }

    /// The window, and the checksum for the caller to add what it consumes
    /// of it to before `skip_summed`.
    fn window_and_sum(&mut self) -> (&[u8], &mut simd_adler32::Adler32) {
        (self.buf.get(self.start..self.end).unwrap_or_default(), &mut self.sum)
    }

    /// Consumes `n` bytes of the window that the caller has added to the
    /// checksum.
    fn skip_summed(&mut self, n: usize) {
        self.start += n.min(self.end - self.start);
    }

    /// Consumes `n` bytes of the window.
    fn consume(&mut self, n: usize) {
        let n = n.min(self.end - self.start);
        self.sum.write(self.buf.get(self.start..self.start + n).unwrap_or_default());
        self.start += n;
    }

    /// Reads more of the file into the window; false when all of it is in.
    fn fill(&mut self) -> io::Result<bool> {
        if self.unread == Some(0) || self.ended {
            return Ok(false);
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            let grown = self.buf.len().saturating_mul(2);
            self.buf.resize(grown, 0);
        }
        let mut room = self.buf.len() - self.end;
        if let Some(unread) = self.unread {
            room = room.min(usize::try_from(unread).unwrap_or(usize::MAX));
        }
        let n = loop {
            match self.src.read(&mut self.buf[self.end..self.end + room]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r?,
            }
        };
        if n == 0 {
            if self.unread.is_some() {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "snapshot file shrank while being read"));
            }
            self.ended = true;
            return Ok(false);
        }
        self.end += n;
        if let Some(unread) = self.unread.as_mut() {
            *unread -= n as u64;
        }
        Ok(true)
    }

    /// Parses one record from the window (refilling it as needed) and
    /// consumes it. `parse` may run more than once, so it must not have
    /// effects before it succeeds.
    fn parse<T>(&mut self, path: &Path, mut parse: impl FnMut(&mut InputArchive<'_>) -> Result<T, JuteError>) -> io::Result<T> {
        loop {
            let mut ia = InputArchive::new(self.window());
            match parse(&mut ia) {
                Ok(v) => {
                    let used = ia.position();
                    self.consume(used);
                    return Ok(v);
                }
                Err(e) => {
                    if !(needs_more_input(&e) && self.fill()?) {
                        return Err(bad(path, e));
                    }
                }
            }
        }
    }

    /// Consumes bytes (into the checksum) until only the last `keep` of
    /// the stream are left; false when it holds fewer than that.
    fn skip_to_last(&mut self, keep: usize) -> io::Result<bool> {
        loop {
            let in_window = self.end - self.start;
            if in_window > keep {
                self.consume(in_window - keep);
            }
            if !self.fill()? {
                return Ok(self.end - self.start == keep);
            }
        }
    }

    /// SnapStream.checkSealIntegrity: a seal whose value is the checksum of
    /// everything before it, then "/".
    fn check_seal(&mut self, path: &Path) -> io::Result<()> {
        let expected = self.checksum();
        let (val, slash) = self.parse(path, |ia| Ok((ia.read_long()?, ia.read_str_ref()? == "/")))?;
        if val != expected || !slash {
            return Err(bad(path, "CRC corruption"));
        }
        Ok(())
    }
}

/// Adds `bytes` to the snapshot's checksum and returns the sum of the
/// digests of `records`, the nodes they hold (0 with digests off).
fn sum_and_digest(sum: &mut simd_adler32::Adler32, bytes: &[u8], records: &[NodeRecord<'_>], digests: bool) -> i64 {
    sum.write(bytes);
    if !digests {
        return 0;
    }
    records.iter().fold(0i64, |d, rec| d.wrapping_add(calculate_digest(true, rec.path, rec.data, &rec.stat)))
}

/// Whether a parse error may only mean the record goes on past the window
/// (a vector's count is checked against the bytes present).
fn needs_more_input(e: &JuteError) -> bool {
    matches!(e, JuteError::Eof { .. } | JuteError::UnreasonableLength(_))
}

/// The length of a seal: the long checksum and the string "/".
const SEAL_LEN: usize = 13;

/// SnapStream.isValidSnapshot: long enough and ending in the "/" seal.
fn looks_sealed(file: &File, len: u64) -> bool {
    use std::os::unix::fs::FileExt;
    let mut tail = [0u8; 5];
    len >= 13 + 16 && file.read_exact_at(&mut tail, len - 5).is_ok() && tail == [0, 0, 0, 1, b'/']
}

fn bad(path: &Path, why: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{}: {why}", path.display()))
}

/// Loads one snapshot file into `dt`, streaming it; returns its sessions.
/// Checked as it is read: the seal after the tree where it stands, the
/// digest's seal likewise, and the file's last seal over every byte before
/// it (whatever lies between). The tree is swapped in only when all of it
/// has loaded and every check passed. A tree digest after the first seal
/// is handed to `dt`, to be checked when replay reaches its zxid.
pub fn load(dt: &DataTree, path: &Path) -> io::Result<HashMap<i64, i32>> {
    let file = File::open(path)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let mut r = match StreamMode::of_file_name(name) {
        StreamMode::Checked => {
            let len = file.metadata()?.len();
            if !looks_sealed(&file, len) {
                return Err(bad(path, "not a complete snapshot (no seal)"));
            }
            SnapReader::new(Box::new(file), Some(len))
        }
        mode => SnapReader::new(snap_stream::compressed_input(file, mode).map_err(|e| bad(path, e))?, None),
    };
    let hdr = r.parse(path, FileHeader::deserialize)?;
    if hdr.magic != SNAP_MAGIC {
        return Err(bad(path, format!("mismatching magic headers {} != {}", hdr.magic, SNAP_MAGIC)));
    }
    let count = r.parse(path, |ia| ia.read_int())?;
    if count < 0 || r.remaining().is_some_and(|left| count as u64 > left / 12) {
        return Err(bad(path, format!("unreasonable session count {count}")));
    }
    // A compressed file's count is checked only by reading the sessions:
    // reserve little up front, the map grows with what is really there.
    let reserve = if r.remaining().is_some() { count as usize } else { (count as usize).min(1024) };
    let mut sessions = HashMap::with_capacity(reserve);
    for _ in 0..count {
        let (id, to) = r.parse(path, |ia| Ok((ia.read_long()?, ia.read_int()?)))?;
        sessions.insert(id, to);
    }
    let acl_cache = r.parse(path, |ia| {
        let mut c = ReferenceCountedAclCache::new();
        c.deserialize(ia)?;
        Ok(c)
    })?;
    let mut restore = dt.begin_restore(acl_cache);
    restore.take_digests_from_caller();
    let digests = dt.digest_enabled();
    loop {
        // The window's whole records, up to the end marker.
        let (window, sum) = r.window_and_sum();
        let mut ia = InputArchive::new(window);
        let mut records = Vec::new();
        let mut used = 0;
        let (ended, stopped) = loop {
            match read_node_record(&mut ia) {
                Ok(Some(rec)) => records.push(rec),
                Ok(None) => break (true, None),
                Err(e) => break (false, Some(e)),
            }
            used = ia.position();
        };
        if ended {
            used = ia.position();
        }
        // The checksum and the node digests of these bytes are worked out
        // on another core while this one builds the tree from them.
        let bytes = window.get(..used).unwrap_or_default();
        let (added, digest) = std::thread::scope(|scope| -> io::Result<_> {
            let helper = std::thread::Builder::new()
                .name("SnapLoadCheck".into())
                .spawn_scoped(scope, || sum_and_digest(sum, bytes, &records, digests))?;
            let added = records.iter().try_for_each(|rec| restore.add(rec.clone()));
            Ok((added, helper.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))))
        })?;
        added.map_err(|e| bad(path, e))?;
        restore.add_digests(digest);
        r.skip_summed(used);
        if ended {
            break;
        }
        if let Some(e) = stopped {
            if !(needs_more_input(&e) && r.fill()?) {
                return Err(bad(path, e));
            }
        }
    }
    r.check_seal(path)?;
    let mut digest = None;
    if dt.digest_enabled() && !r.at_end()? {
        digest = Some(r.parse(path, ZxidDigest::deserialize)?);
        r.check_seal(path)?;
    }
    // Whatever else follows is only covered by the last seal.
    if !r.at_end()? {
        if !r.skip_to_last(SEAL_LEN)? {
            return Err(bad(path, "CRC corruption"));
        }
        r.check_seal(path)?;
    }
    dt.finish_restore(restore).map_err(|e| bad(path, e))?;
    if let Some(zd) = digest {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        dt.set_digest_from_snapshot(zd, get_zxid_from_name(name, SNAPSHOT_FILE_PREFIX).unwrap_or(0));
    }
    Ok(sessions)
}

/// findNValidSnapshots: the newest `n` snapshots whose file ends in a seal
/// (only the tail is read; at least 10 bytes, as Java asks), or for a
/// compressed one starts with its format's magic, newest first.
pub fn find_n_valid_snapshots(snap_dir: &Path, n: usize) -> io::Result<Vec<(i64, PathBuf)>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut out = Vec::new();
    for (zxid, path) in sorted_data_dir_files(snap_dir, SNAPSHOT_FILE_PREFIX, false)? {
        if out.len() >= n {
            break;
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let mode = StreamMode::of_file_name(name);
        if mode != StreamMode::Checked {
            if snap_stream::compressed_looks_valid(&path, mode) {
                out.push((zxid, path));
            }
            continue;
        }
        let sealed = (|| -> io::Result<bool> {
            let mut f = File::open(&path)?;
            let len = f.metadata()?.len();
            if len < 10 {
                return Ok(false);
            }
            f.seek(SeekFrom::End(-5))?;
            let mut tail = [0u8; 5];
            f.read_exact(&mut tail)?;
            Ok(tail == [0, 0, 0, 1, b'/'])
        })()
        .unwrap_or(false);
        if sealed {
            out.push((zxid, path));
        }
    }
    Ok(out)
}

/// FileSnap.deserialize: loads the newest snapshot that validates, falling
/// back to older ones. Only files that end in a seal are tried, so None when
/// the directory holds none (no snapshot, or only truncated ones: start-up
/// then treats the directory as holding no snapshot, like Java); an error
/// when every sealed one fails to load.
pub fn deserialize(dt: &DataTree, snap_dir: &Path) -> io::Result<Option<(i64, HashMap<i64, i32>)>> {
    let snaps = find_n_valid_snapshots(snap_dir, SNAPSHOTS_TO_TRY)?;
    if snaps.is_empty() {
        return Ok(None);
    }
    for (_, path) in &snaps {
        tracing::info!("Reading snapshot {}", path.display());
        match load(dt, path) {
            Ok(sessions) => {
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                let zxid = get_zxid_from_name(name, SNAPSHOT_FILE_PREFIX).unwrap_or(0);
                dt.set_last_processed_zxid(zxid);
                dt.compare_snapshot_digest_at_load(zxid);
                return Ok(Some((zxid, sessions)));
            }
            Err(e) => tracing::warn!("problem reading snap file {}: {e}", path.display()),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        format!("Not able to find valid snapshots in {}", snap_dir.display()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use crate::jute::txn::{CreateTxn, TxnBody, TxnHeader};
    use crate::zoo_defs::{ids, op_code};

    fn tree_with(n: usize) -> DataTree {
        let dt = DataTree::new();
        for i in 0..n {
            let hdr = TxnHeader { client_id: 1, cxid: i as i32, zxid: i as i64 + 1, time: 5, r#type: op_code::CREATE };
            let txn = TxnBody::Create(CreateTxn {
                path: format!("/n{i}"),
                data: Some(vec![i as u8; 10]),
                acl: ids::open_acl_unsafe(),
                ephemeral: false,
                parent_c_version: i as i32 + 1,
            });
            dt.process_txn(&hdr, Some(&txn));
        }
        dt
    }

    #[test]
    fn round_trip_and_fallback_past_a_corrupt_newest() {
        let dir = tempfile::tempdir().unwrap();
        let dt = tree_with(50);
        let sessions: HashMap<i64, i32> = [(7, 3000), (9, 4000)].into_iter().collect();
        serialize(&dt, &sessions, &dir.path().join(snapshot_name(0x32)), true, &|| true).unwrap();
        let loaded = DataTree::new();
        let (zxid, s) = deserialize(&loaded, dir.path()).unwrap().unwrap();
        assert_eq!((zxid, s), (0x32, sessions.clone()));
        assert_eq!(loaded.node_count(), dt.node_count());
        assert_eq!(loaded.get_data("/n7", None).unwrap(), dt.get_data("/n7", None).unwrap());

        // A newer snapshot with a flipped byte is skipped for the older one.
        let newer = dir.path().join(snapshot_name(0x40));
        serialize(&tree_with(60), &sessions, &newer, true, &|| true).unwrap();
        let mut bytes = fs::read(&newer).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        fs::write(&newer, bytes).unwrap();
        let loaded = DataTree::new();
        let (zxid, _) = deserialize(&loaded, dir.path()).unwrap().unwrap();
        assert_eq!(zxid, 0x32);
        assert_eq!(loaded.node_count(), dt.node_count());
    }

    /// gz and snappy snapshots: named with their extension, read by it,
    /// the digest's seal included; a corrupt or truncated one is passed
    /// over for an older snapshot of any kind.
    #[test]
    fn compressed_snapshots_round_trip_and_fall_back() {
        for mode in [StreamMode::Gzip, StreamMode::Snappy] {
            let dir = tempfile::tempdir().unwrap();
            // Larger than the reader's window once uncompressed.
            let dt = tree_with(40_000);
            let sessions: HashMap<i64, i32> = [(7, 3000)].into_iter().collect();
            let name = snapshot_name_with(0x30, mode);
            assert!(name.ends_with(mode.file_extension()) && name.starts_with("snapshot.30."));
            serialize_with(&dt, &sessions, &dir.path().join(&name), true, &|| true, mode).unwrap();
            let loaded = DataTree::new();
            assert_eq!(deserialize(&loaded, dir.path()).unwrap().unwrap(), (0x30, sessions.clone()));
            assert_eq!(loaded.node_count(), dt.node_count());
            assert_eq!(loaded.get_data("/n39999", None).unwrap(), dt.get_data("/n39999", None).unwrap());

            for damage in 0..3 {
                let newer = dir.path().join(snapshot_name_with(0x40, mode));
                serialize_with(&tree_with(60), &sessions, &newer, true, &|| true, mode).unwrap();
                let mut bytes = fs::read(&newer).unwrap();
                match damage {
                    0 => bytes.truncate(bytes.len() - 9),
                    1 => {
                        let mid = bytes.len() / 2;
                        bytes[mid] ^= 0xff;
                    }
                    _ => bytes[0] ^= 0xff,
                }
                fs::write(&newer, bytes).unwrap();
                let loaded = DataTree::new();
                let zxid = deserialize(&loaded, dir.path()).unwrap().unwrap().0;
                // A flipped bit in a compressed stream can leave what it
                // decompresses to unchanged (a copy now pointing at equal
                // bytes); then the checksums hold and the snapshot is whole.
                let intact = damage == 1 && zxid == 0x40 && loaded.node_count() == tree_with(60).node_count();
                assert!(zxid == 0x30 || intact, "{mode:?} damage {damage}: loaded {zxid:#x}");
            }
        }
    }

    /// Records that straddle the read window, and one larger than it.
    #[test]
    fn streams_a_snapshot_larger_than_its_window() {
        let dir = tempfile::tempdir().unwrap();
        let dt = DataTree::new();
        let mut zxid = 0;
        let mut create = |path: String, len: usize| {
            zxid += 1;
            let hdr = TxnHeader { client_id: 1, cxid: 0, zxid, time: 5, r#type: op_code::CREATE };
            let txn = TxnBody::Create(CreateTxn {
                path,
                data: Some(vec![zxid as u8; len]),
                acl: ids::open_acl_unsafe(),
                ephemeral: false,
                parent_c_version: -1,
            });
            assert_eq!(dt.process_txn(&hdr, Some(&txn)).err, 0);
        };
        create("/p".into(), 10);
        for i in 0..5000 {
            create(format!("/p/{i}"), 997);
        }
        // Larger than the window, within the jute read limit.
        create("/big".into(), WINDOW + WINDOW / 2 + 5);
        let path = dir.path().join(snapshot_name(zxid));
        let sessions: HashMap<i64, i32> = (0..5000).map(|i| (i, 30_000)).collect();
        serialize(&dt, &sessions, &path, false, &|| true).unwrap();
        assert!(fs::metadata(&path).unwrap().len() > 6 * WINDOW as u64);
        let loaded = DataTree::new();
        let (_, back) = deserialize(&loaded, dir.path()).unwrap().unwrap();
        assert_eq!(back, sessions);
        assert_eq!(loaded.node_count(), dt.node_count());
        assert_eq!(loaded.tree_digest(), dt.tree_digest());
        assert_eq!(loaded.approximate_data_size(), dt.approximate_data_size());
        assert_eq!(loaded.get_data("/big", None).unwrap(), dt.get_data("/big", None).unwrap());
        assert_eq!(loaded.get_data("/p/2999", None).unwrap(), dt.get_data("/p/2999", None).unwrap());

        // A flipped byte anywhere fails the load and leaves the tree alone.
        let good = fs::read(&path).unwrap();
        for at in [20, WINDOW - 1, WINDOW, good.len() / 2, good.len() - 13 - 33 - 1, good.len() - 20, good.len() - 7] {
            let mut bytes = good.clone();
            bytes[at] ^= 0x40;
            fs::write(&path, &bytes).unwrap();
            let fresh = DataTree::new();
            assert!(load(&fresh, &path).is_err(), "flip at {at}");
            assert_eq!(fresh.node_count(), 5, "flip at {at}");
        }
    }

    #[test]
    fn the_tree_digest_follows_the_seal_under_a_second_seal() {
        let dir = tempfile::tempdir().unwrap();
        let dt = tree_with(20);
        let path = dir.path().join(snapshot_name(20));
        serialize(&dt, &HashMap::new(), &path, false, &|| true).unwrap();
        let bytes = fs::read(&path).unwrap();
        // ... seal, then zxid, digest version, digest, then a second seal
        // whose checksum covers everything before it, the first seal too.
        let tail = &bytes[bytes.len() - 13 - 20 - 13..];
        assert_eq!(&tail[8..13], &[0, 0, 0, 1, b'/']);
        let mut ia = InputArchive::new(&tail[13..33]);
        let zd = ZxidDigest::deserialize(&mut ia).unwrap();
        assert_eq!(zd, ZxidDigest { zxid: 20, digest_version: 2, digest: dt.tree_digest() });
        let mut sum = simd_adler32::Adler32::new();
        sum.write(&bytes[..bytes.len() - 13]);
        assert_eq!(&bytes[bytes.len() - 13..bytes.len() - 5], &i64::from(sum.finish()).to_be_bytes());

        // Loaded at its own zxid, the digest is checked at once and agrees.
        let loaded = DataTree::new();
        assert_eq!(deserialize(&loaded, dir.path()).unwrap().unwrap().0, 20);
        assert!(loaded.digest_from_loaded_snapshot().is_none());
        assert_eq!((loaded.tree_digest(), loaded.digest_mismatches()), (dt.tree_digest(), 0));

        // A damaged digest fails the second seal.
        let mut bad = bytes.clone();
        let at = bad.len() - 13 - 1;
        bad[at] ^= 1;
        fs::write(&path, &bad).unwrap();
        assert!(deserialize(&DataTree::new(), dir.path()).is_err());
        // Without digests nothing follows the first seal.
        let off = DataTree::with_settings(false, false);
        serialize(&off, &HashMap::new(), &path, false, &|| true).unwrap();
        let plain = fs::read(&path).unwrap();
        assert_eq!(&plain[plain.len() - 5..], &[0, 0, 0, 1, b'/']);
        assert!(deserialize(&DataTree::new(), dir.path()).is_ok());
    }

    #[test]
    fn truncated_snapshots_count_as_none_and_sealed_garbage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(snapshot_name(1));
        serialize(&tree_with(5), &HashMap::new(), &path, false, &|| true).unwrap();
        let good = fs::read(&path).unwrap();
        for cut in [0, 3, 10, good.len() / 2, good.len() - 1] {
            fs::write(&path, &good[..cut]).unwrap();
            assert!(deserialize(&DataTree::new(), dir.path()).unwrap().is_none(), "cut at {cut}");
        }
        let mut sealed_garbage = vec![0x5a; 200];
        sealed_garbage.extend_from_slice(&[0, 0, 0, 1, b'/']);
        for bytes in [sealed_garbage, vec![0, 0, 0, 0, 0, 0, 0, 1, b'/'], good[..10].to_vec()] {
            fs::write(&path, &bytes).unwrap();
            let sealed = bytes.len() >= 10 && bytes.ends_with(&[0, 0, 0, 1, b'/']);
            match deserialize(&DataTree::new(), dir.path()) {
                Err(e) => assert!(sealed && e.to_string().contains("Not able to find valid snapshots"), "{e}"),
                Ok(r) => assert!(!sealed && r.is_none()),
            }
        }
    }
}
