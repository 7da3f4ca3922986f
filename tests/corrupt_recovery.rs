//! Damaged data directories, side by side with Java 3.8: torn and corrupt
//! transaction-log tails, corrupt or missing snapshots, and snapshot / log
//! files in the wrong one of dataDir and dataLogDir.
//!
//! Each case damages a copy of a data directory that zkserver wrote, hands
//! identical copies to zkserver and to the Java server, and requires the
//! same outcome: the same tree (every node's data, Stat and ACL), or both
//! refusing to start. After a recovery each server must take a new write,
//! and a further restart must keep the recovered and the new data, so a
//! torn file left behind never spoils a later replay.
//!
//! What Java 3.8 does, and so zkserver:
//! - a log file's replay ends, with later files still replayed, at the end
//!   of the file, a zero or -1 length, or a missing end-of-record byte (a
//!   torn write); a checksum mismatch in a complete entry, an impossible
//!   length, a bad magic or a file shorter than its header refuses start-up;
//! - only snapshots that end in their seal are tried, newest first, the
//!   first that loads wins; sealed ones that all fail refuse start-up; no
//!   sealed one at all is "no snapshot": with logs present start-up refuses
//!   unless zookeeper.snapshot.trust.empty=true, which replays the logs alone;
//! - a separate dataLogDir holding a snapshot, or a dataDir holding a log,
//!   refuses start-up with exit code 3.
//!
//! Where zkserver does more than Java: a newest log file that is empty or
//! all zeros (created, maybe preallocated, but never fsynced, so it holds no
//! durable txn) refuses Java's start-up but is skipped by zkserver. A
//! complete entry whose checksum fails is refused wherever it stands, the
//! last entry of the newest file included, exactly as in Java: it may have
//! been acknowledged, and dropping it is left to `txn-log-toolkit`.
//!
//! Where zkserver refuses what Java serves: a replay whose zxids jump (the
//! next txn is neither the next counter of its epoch nor the first of a
//! later one), because a log file is missing or a torn-looking entry in the
//! middle of an older file cut off txns that later files build on. Java
//! replays around the hole and serves a tree no server ever had.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use zkserver::client::ZkClient;
use zkserver::jute::txn::TxnLogEntry;
use zkserver::zoo_defs::{ids, op_code, CreateMode};

/// The files of a `version-2` directory: name -> contents.
type Files = BTreeMap<String, Vec<u8>>;

/// A data directory zkserver wrote, kept in memory, and the tree it served.
struct Fixture {
    files: Files,
    tree: Tree,
}

/// Small preallocation (KB) so the log files are cheap to copy.
const PRE_ALLOC_KB: &str = "16";
/// FileHeader (16 bytes), then entries of checksum (8), length (4), body,
/// end-of-record byte.
const LOG_HEADER_LEN: usize = 16;
const ENTRY_PREFIX_LEN: usize = 12;

fn opts() -> ServerOpts {
    ServerOpts::default().prop("zookeeper.preAllocSize", PRE_ALLOC_KB)
}

/// About a dozen txns under `/<tag>`: creates with data, a sequential, a
/// changed and a deleted node.
fn batch(c: &ZkClient, tag: &str) {
    let open = ids::open_acl_unsafe();
    c.create(&format!("/{tag}"), Some(tag.as_bytes()), &open, CreateMode::Persistent).unwrap();
    for i in 0..8 {
        let data = format!("{tag} {i}");
        c.create(&format!("/{tag}/n{i}"), Some(data.as_bytes()), &open, CreateMode::Persistent).unwrap();
    }
    c.set_data(&format!("/{tag}/n1"), Some(b"changed"), -1).unwrap();
    c.delete(&format!("/{tag}/n2"), -1).unwrap();
    c.create(&format!("/{tag}/seq-"), None, &open, CreateMode::PersistentSequential).unwrap();
}

fn read_files(dir: &Path) -> Files {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().to_string_lossy().into_owned(), fs::read(e.path()).unwrap())
        })
        .collect()
}

fn install(dir: &Path, files: &Files) {
    fs::create_dir_all(dir).unwrap();
    for (name, bytes) in files {
        fs::write(dir.join(name), bytes).unwrap();
    }
}

/// `snapshot.0` and one `log.1`: a session's batch under /a, then
/// `/a/last`, the log's final entry (the session is left open, so no
/// closeSession follows it).
fn one_log() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let mut s = TestServer::start_with(Flavor::Zkserver, opts());
        let c = s.client();
        batch(&c, "a");
        c.create("/a/last", Some(b"the last txn"), &ids::open_acl_unsafe(), CreateMode::Persistent).unwrap();
        let tree = walk(&c);
        c.disconnect();
        s.stop();
        let files = read_files(&s.data_dir().join("version-2"));
        assert_eq!(files.keys().collect::<Vec<_>>(), ["log.1", "snapshot.0"]);
        let log = &files["log.1"];
        let last = *entries(log).last().unwrap();
        let entry = TxnLogEntry::from_bytes(&log[last.body()]).unwrap();
        assert_eq!(entry.hdr.r#type, op_code::CREATE, "the log ends with the create of /a/last");
        Fixture { files, tree }
    })
}

/// Three snapshots and the three logs after them: batch /a, a restart
/// (which snapshots), batch /b, a restart, batch /c, each batch from its
/// own session, closed.
fn three_snapshots() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let mut s = TestServer::start_with(Flavor::Zkserver, opts());
        for (i, tag) in ["a", "b", "c"].into_iter().enumerate() {
            if i > 0 {
                s.restart();
            }
            let c = s.client();
            batch(&c, tag);
            c.close().unwrap();
        }
        let c = s.client();
        let tree = walk(&c);
        c.close().unwrap();
        s.stop();
        let files = read_files(&s.data_dir().join("version-2"));
        assert_eq!(names(&files, "snapshot.").len(), 3, "{:?}", files.keys());
        assert_eq!(names(&files, "log.").len(), 3, "{:?}", files.keys());
        Fixture { files, tree }
    })
}

/// Where one entry sits in a log file.
#[derive(Debug, Clone, Copy)]
struct Entry {
    start: usize,
    body_len: usize,
}

impl Entry {
    fn body(&self) -> std::ops::Range<usize> {
        self.start + ENTRY_PREFIX_LEN..self.start + ENTRY_PREFIX_LEN + self.body_len
    }

    /// Offset of the end-of-record byte.
    fn eor(&self) -> usize {
        self.body().end
    }
}

/// The entries of an intact log file, up to the preallocated zeros.
fn entries(log: &[u8]) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut at = LOG_HEADER_LEN;
    while at + ENTRY_PREFIX_LEN <= log.len() {
        let len = i32::from_be_bytes(log[at + 8..at + 12].try_into().unwrap());
        if len <= 0 {
            break;
        }
        let e = Entry { start: at, body_len: len as usize };
        assert_eq!(log[e.eor()], b'B');
        out.push(e);
        at = e.eor() + 1;
    }
    out
}

/// The files whose name starts with `prefix`, ordered by the zxid in the
/// name.
fn names(files: &Files, prefix: &str) -> Vec<String> {
    let mut v: Vec<(i64, String)> = files
        .keys()
        .filter_map(|n| Some((i64::from_str_radix(n.strip_prefix(prefix)?, 16).ok()?, n.clone())))
        .collect();
    v.sort();
    v.into_iter().map(|(_, n)| n).collect()
}

/// A damaged directory: what goes into `<dataDir>/version-2` and, when the
/// case configures a separate dataLogDir, into `<dataLogDir>/version-2`.
struct Damaged {
    data: Files,
    log_dir: Option<Files>,
    opts: ServerOpts,
}

impl Damaged {
    fn new(files: Files) -> Damaged {
        Damaged { data: files, log_dir: None, opts: opts() }
    }
}

/// What one server made of a damaged directory.
#[derive(Debug)]
enum Outcome {
    /// It served this tree.
    Served(Tree),
    /// It exited during start-up with this code.
    Refused(Option<i32>),
}

/// One server's run on a damaged directory.
struct Run {
    flavor: Flavor,
    outcome: Outcome,
    /// Its output (log) up to the end of the run.
    log: String,
    /// After a recovery: the files in the log directory once a new write and
    /// a restart have gone by.
    log_files_after: Vec<String>,
}

/// Starts `flavor` on a copy of `d`. After a recovery it writes
/// `/after-recovery`, restarts, and checks that the tree is the recovered
/// one plus that node.
fn run(flavor: Flavor, d: &Damaged) -> Run {
    let log_dir = tempfile::Builder::new().prefix("zklogdir").tempdir().unwrap();
    let mut opts = d.opts.clone();
    if d.log_dir.is_some() {
        opts = opts.cfg("dataLogDir", &log_dir.path().display().to_string());
    }
    let mut s = TestServer::prepare(flavor, opts);
    install(&s.data_dir().join("version-2"), &d.data);
    let logs_at: PathBuf = match &d.log_dir {
        Some(files) => {
            install(&log_dir.path().join("version-2"), files);
            log_dir.path().join("version-2")
        }
        None => s.data_dir().join("version-2"),
    };
    let log = |s: &TestServer| fs::read_to_string(s.log_path()).unwrap_or_default();
    if let Err(status) = s.try_start() {
        return Run { flavor, outcome: Outcome::Refused(status.code()), log: log(&s), log_files_after: Vec::new() };
    }
    let c = s.client();
    let recovered = walk(&c);
    c.create("/after-recovery", Some(b"new"), &ids::open_acl_unsafe(), CreateMode::Persistent)
        .unwrap_or_else(|e| panic!("{flavor:?} takes no write after recovering: {e}"));
    let with_new = walk(&c);
    c.close().unwrap();
    s.restart();
    let c = s.client();
    assert_eq!(walk(&c), with_new, "{flavor:?}: a restart after the recovery lost data");
    c.close().unwrap();
    s.stop();
    let log_files_after = names(&read_files(&logs_at), "log.");
    Run { flavor, outcome: Outcome::Served(recovered), log: log(&s), log_files_after }
}

/// zkserver's and Java's runs on one damaged directory.
struct Runs {
    ours: Run,
    java: Run,
}

/// Runs `d` on zkserver and on Java (in parallel) and requires the same
/// outcome: equal trees (and the same log files after the follow-up write
/// and restart), or refusals with the same exit code.
fn same_as_java(d: &Damaged) -> Runs {
    let (ours, java) = std::thread::scope(|scope| {
        let java = scope.spawn(|| run(Flavor::Java, d));
        let ours = run(Flavor::Zkserver, d);
        (ours, java.join().expect("the Java run panicked"))
    });
    match (&ours.outcome, &java.outcome) {
        (Outcome::Served(a), Outcome::Served(b)) => {
            assert!(a == b, "zkserver and Java recovered different trees:\nzkserver {a:#?}\nJava {b:#?}");
            assert_eq!(
                ours.log_files_after, java.log_files_after,
                "zkserver and Java left different log files after the recovery, a write and a restart"
            );
        }
        (Outcome::Refused(a), Outcome::Refused(b)) => {
            assert_eq!(a, b, "zkserver and Java refused with different exit codes");
        }
        (a, b) => panic!(
            "zkserver {}, Java {}\n---- zkserver log ----\n{}\n---- Java log ----\n{}",
            describe(a),
            describe(b),
            tail(&ours.log),
            tail(&java.log)
        ),
    }
    assert_eq!((ours.flavor, java.flavor), (Flavor::Zkserver, Flavor::Java));
    Runs { ours, java }
}

/// Where zkserver does more than Java: a newest log file that never held a
/// durable txn (empty, or all zeros), which Java refuses to start on, is
/// skipped by zkserver. Java's refusal saying `java_says` is checked too, so
/// the divergence stays visible.
fn recovers_where_java_refuses(d: &Damaged, java_says: &str) -> Runs {
    let (ours, java) = std::thread::scope(|scope| {
        let java = scope.spawn(|| run(Flavor::Java, d));
        let ours = run(Flavor::Zkserver, d);
        (ours, java.join().expect("the Java run panicked"))
    });
    assert!(matches!(java.outcome, Outcome::Refused(_)), "Java {}", describe(&java.outcome));
    java.said(java_says);
    Runs { ours, java }
}

/// Where zkserver refuses what Java serves wrongly: Java must serve (a tree
/// that lacks txns) and zkserver refuse, saying `ours_says`.
fn refused_where_java_serves(d: &Damaged, ours_says: &str) -> Runs {
    let (ours, java) = std::thread::scope(|scope| {
        let java = scope.spawn(|| run(Flavor::Java, d));
        let ours = run(Flavor::Zkserver, d);
        (ours, java.join().expect("the Java run panicked"))
    });
    assert!(matches!(java.outcome, Outcome::Served(_)), "Java {}", describe(&java.outcome));
    assert!(matches!(ours.outcome, Outcome::Refused(_)), "zkserver {}", describe(&ours.outcome));
    ours.said(ours_says);
    Runs { ours, java }
}

fn describe(o: &Outcome) -> String {
    match o {
        Outcome::Served(t) => format!("served a tree of {} nodes", t.len()),
        Outcome::Refused(code) => format!("refused to start (exit code {code:?})"),
    }
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(25)..].join("\n")
}

impl Runs {
    /// The tree both recovered.
    #[track_caller]
    fn tree(&self) -> &Tree {
        match &self.ours.outcome {
            Outcome::Served(t) => t,
            o => panic!("expected a recovery, zkserver {}\n{}", describe(o), tail(&self.ours.log)),
        }
    }

    /// The log files zkserver left after the follow-up write and restart
    /// (Java left the same).
    fn log_files_after(&self) -> &[String] {
        &self.ours.log_files_after
    }

    /// Both refused, zkserver saying `ours` and Java `java` about why.
    #[track_caller]
    fn refused(&self, ours: &str, java: &str) {
        assert!(
            matches!(self.ours.outcome, Outcome::Refused(_)),
            "expected a refusal, zkserver {}",
            describe(&self.ours.outcome)
        );
        self.ours.said(ours);
        self.java.said(java);
    }

    /// zkserver logged `message` (a warning about the damage).
    #[track_caller]
    fn warned(&self, message: &str) {
        self.ours.said(message);
    }
}

impl Run {
    #[track_caller]
    fn said(&self, message: &str) {
        assert!(self.log.contains(message), "{:?}'s log lacks {message:?}:\n{}", self.flavor, tail(&self.log));
    }
}

/// `tree` is `full` without the nodes `lost`; every node but their parents
/// is unchanged.
#[track_caller]
fn assert_lost_only(tree: &Tree, full: &Tree, lost: &[&str]) {
    let want: Vec<&String> = full.keys().filter(|k| !lost.contains(&k.as_str())).collect();
    assert_eq!(tree.keys().collect::<Vec<_>>(), want);
    for (path, node) in tree {
        let parent_of_lost = lost.iter().any(|l| Path::new(l).parent() == Some(Path::new(path)));
        if !parent_of_lost {
            assert_eq!(node, &full[path], "{path} changed");
        }
    }
}

/// `one_log`'s files with `log.1` changed by `damage` (given the log and
/// its last entry).
fn damage_last(damage: impl FnOnce(&mut Vec<u8>, Entry)) -> Damaged {
    let mut files = one_log().files.clone();
    let log = files.get_mut("log.1").unwrap();
    let last = *entries(log).last().unwrap();
    damage(log, last);
    Damaged::new(files)
}

// ---- the transaction log's tail ----

#[test]
fn preallocated_zeros_after_the_last_entry_are_the_normal_end() {
    let fx = one_log();
    let ours = same_as_java(&Damaged::new(fx.files.clone()));
    assert_eq!(ours.tree(), &fx.tree);
    assert_eq!(ours.log_files_after(), after_one_log(fx.tree["/a/last"].1.czxid));
}

/// The log files once `run` has gone by on `one_log` recovered up to
/// `zxid`: `log.1`, then a new file for the session that writes after the
/// recovery (createSession, create, closeSession), and one for the session
/// after the restart.
fn after_one_log(zxid: i64) -> Vec<String> {
    ["log.1".to_string(), format!("log.{:x}", zxid + 1), format!("log.{:x}", zxid + 4)].into()
}

#[test]
fn a_log_cut_inside_its_last_entry_ends_before_it() {
    let ours = same_as_java(&damage_last(|log, last| log.truncate(last.body().start + last.body_len / 2)));
    assert_lost_only(ours.tree(), &one_log().tree, &["/a/last"]);
    ours.warned("is incomplete");
    // The torn log.1 stays; the next txn, with the lost one's zxid, starts
    // a new file, and the restart replays it without stopping at the tear.
    assert_eq!(ours.log_files_after(), after_one_log(one_log().tree["/a/last"].1.czxid - 1));
}

#[test]
fn a_log_cut_inside_the_last_entry_header_ends_before_it() {
    // Cut inside the length, after the whole checksum: the checksum is an
    // Adler-32 in a long, so its first bytes are zero, and a cut that kept
    // only zeros would be padding, the log's proper end (once in 256 runs).
    let ours = same_as_java(&damage_last(|log, last| log.truncate(last.start + 10)));
    assert_lost_only(ours.tree(), &one_log().tree, &["/a/last"]);
    ours.warned("is incomplete");
}

#[test]
fn a_torn_last_entry_inside_the_preallocated_zeros_ends_before_it() {
    // The write reached the disk only up to the middle of the body.
    let ours = same_as_java(&damage_last(|log, last| log[last.body().start + 3..].fill(0)));
    assert_lost_only(ours.tree(), &one_log().tree, &["/a/last"]);
    ours.warned("is incomplete");
}

#[test]
fn a_zero_length_last_entry_ends_the_log() {
    let ours = same_as_java(&damage_last(|log, last| log[last.start + 8..last.start + 12].fill(0)));
    assert_lost_only(ours.tree(), &one_log().tree, &["/a/last"]);
}

/// A complete last entry whose checksum fails, with only preallocated zeros
/// after it, may be media corruption of an acknowledged write: refused, as
/// Java refuses it, naming the file and the entry's offset.
#[test]
fn a_failed_checksum_on_the_last_entry_is_refused_like_java() {
    let mut at = 0;
    let ours = same_as_java(&damage_last(|log, last| {
        at = last.start;
        log[last.start + 7] ^= 0x40
    }));
    ours.refused(&format!("log.1: entry at offset {at} is corrupt"), "java.io.IOException: CRC check failed");
    ours.ours.said("txn-log-toolkit");
}

#[test]
fn a_log_file_that_is_only_a_header_adds_nothing() {
    let fx = one_log();
    let mut files = fx.files.clone();
    let next = format!("log.{:x}", fx.tree["/a/last"].1.czxid + 1);
    let header = fx.files["log.1"][..LOG_HEADER_LEN].to_vec();
    files.insert(next.clone(), header);
    let ours = same_as_java(&Damaged::new(files));
    assert_eq!(ours.tree(), &fx.tree);
    // The next write reuses the name: the header-only file is replaced.
    assert_eq!(ours.log_files_after(), after_one_log(fx.tree["/a/last"].1.czxid));
    assert_eq!(ours.log_files_after()[1], next);
}

#[test]
fn a_newest_log_file_of_zeros_adds_nothing_where_java_refuses() {
    let fx = one_log();
    let mut files = fx.files.clone();
    files.insert(format!("log.{:x}", fx.tree["/a/last"].1.czxid + 1), vec![0; 16 * 1024]);
    let ours = recovers_where_java_refuses(&Damaged::new(files), "has invalid magic number");
    assert_eq!(ours.tree(), &fx.tree);
    ours.warned("holds no header");
}

#[test]
fn an_empty_newest_log_file_adds_nothing_where_java_refuses() {
    let fx = one_log();
    let mut files = fx.files.clone();
    files.insert(format!("log.{:x}", fx.tree["/a/last"].1.czxid + 1), Vec::new());
    let ours = recovers_where_java_refuses(&Damaged::new(files), "java.io.EOFException");
    assert_eq!(ours.tree(), &fx.tree);
    assert_eq!(ours.log_files_after(), after_one_log(fx.tree["/a/last"].1.czxid));
}

#[test]
fn an_empty_log_file_before_a_newer_one_is_refused() {
    let fx = one_log();
    let mut files = fx.files.clone();
    let czxid = fx.tree["/a/last"].1.czxid;
    files.insert(format!("log.{:x}", czxid + 1), Vec::new());
    let mut later = fx.files["log.1"][..LOG_HEADER_LEN].to_vec();
    later.resize(1024, 0);
    files.insert(format!("log.{:x}", czxid + 2), later);
    same_as_java(&Damaged::new(files)).refused("too short for its 16-byte header", "java.io.EOFException");
}

// ---- damage in the middle of the logs, with later log files ----

/// `three_snapshots` with only `snapshot.0` left, so that recovery replays
/// all three logs; `damage` changes `log.1` (given its entries).
fn damage_first_of_three_logs(damage: impl FnOnce(&mut Vec<u8>, &[Entry])) -> Damaged {
    let mut files = three_snapshots().files.clone();
    files.retain(|name, _| !name.starts_with("snapshot.") || name == "snapshot.0");
    let log = files.get_mut("log.1").unwrap();
    let es = entries(log);
    damage(log, &es);
    Damaged::new(files)
}

#[test]
fn a_corrupt_middle_entry_with_later_log_files_is_refused() {
    // Entry 6 is the create of /a/n4; one of its body bytes is flipped.
    let ours = same_as_java(&damage_first_of_three_logs(|log, es| log[es[6].body().start + 20] ^= 0x01));
    ours.refused("CRC check failed", "java.io.IOException: CRC check failed");
}

/// A missing end-of-record byte ends a file's replay (a torn write), but
/// here whole txns follow in later files: what the rest of log.1 held is
/// lost, not torn. Java skips it and replays the later files, serving a tree
/// with /b and /c but without the rest of /a; zkserver refuses at the gap.
#[test]
fn a_missing_end_of_record_byte_in_the_middle_is_refused_where_java_skips_the_rest_of_that_file() {
    let runs = refused_where_java_serves(&damage_first_of_three_logs(|log, es| log[es[6].eor()] = 0), "has a gap");
    runs.ours.said("is incomplete");
    let Outcome::Served(java_tree) = &runs.java.outcome else { unreachable!() };
    assert!(java_tree.contains_key("/a/n3") && !java_tree.contains_key("/a/n4"), "{:?}", java_tree.keys());
    assert!(java_tree.contains_key("/c"), "{:?}", java_tree.keys());
}

/// A log file missing between two others (deleted by hand, lost): Java
/// replays around the hole and serves a tree without the missing txns,
/// reporting the later zxid as its own; zkserver refuses at the gap.
#[test]
fn a_missing_middle_log_file_is_refused_where_java_replays_around_it() {
    let mut files = three_snapshots().files.clone();
    files.retain(|name, _| !name.starts_with("snapshot.") || name == "snapshot.0");
    let logs = names(&files, "log.");
    files.remove(&logs[1]);
    let runs = refused_where_java_serves(&Damaged::new(files), "has a gap");
    let Outcome::Served(java_tree) = &runs.java.outcome else { unreachable!() };
    assert!(java_tree.contains_key("/c") && !java_tree.contains_key("/b"), "{:?}", java_tree.keys());
}

// ---- snapshots ----

/// `three_snapshots` with the snapshots chosen by `which` (names, oldest
/// first) changed by `damage`.
fn damage_snapshots(which: impl FnOnce(&[String]) -> Vec<String>, damage: impl Fn(&mut Vec<u8>)) -> Damaged {
    let mut files = three_snapshots().files.clone();
    for name in which(&names(&files, "snapshot.")) {
        damage(files.get_mut(&name).unwrap());
    }
    Damaged::new(files)
}

fn newest(snaps: &[String]) -> Vec<String> {
    snaps.last().cloned().into_iter().collect()
}

fn all(snaps: &[String]) -> Vec<String> {
    snaps.to_vec()
}

fn truncate_half(b: &mut Vec<u8>) {
    b.truncate(b.len() / 2);
}

/// Flips a byte of the seal's checksum; the file still ends in "/".
fn break_seal(b: &mut [u8]) {
    let at = b.len() - 13 + 7;
    b[at] ^= 0x10;
}

#[test]
fn a_truncated_newest_snapshot_falls_back_to_the_one_before() {
    let ours = same_as_java(&damage_snapshots(newest, truncate_half));
    assert_eq!(ours.tree(), &three_snapshots().tree);
}

#[test]
fn a_newest_snapshot_with_a_wrong_seal_falls_back_to_the_one_before() {
    let ours = same_as_java(&damage_snapshots(newest, |b| break_seal(b)));
    assert_eq!(ours.tree(), &three_snapshots().tree);
    ours.warned("problem reading snap file");
}

#[test]
fn all_snapshots_with_a_wrong_seal_are_refused() {
    let runs = same_as_java(&damage_snapshots(all, |b| break_seal(b)));
    // Sealed snapshots that all fail to load are an error, not "no snapshot".
    runs.refused("Not able to find valid snapshots", "Not able to find valid snapshots");
}

#[test]
fn all_snapshots_truncated_count_as_none_and_are_refused_next_to_logs() {
    same_as_java(&damage_snapshots(all, truncate_half)).refused(NO_SNAPSHOT, NO_SNAPSHOT);
}

#[test]
fn all_snapshots_truncated_with_trust_empty_replay_the_logs() {
    let mut d = damage_snapshots(all, truncate_half);
    d.opts = d.opts.prop("zookeeper.snapshot.trust.empty", "true");
    let ours = same_as_java(&d);
    assert_eq!(ours.tree(), &three_snapshots().tree);
}

/// What both servers say when logs have no snapshot to start from.
const NO_SNAPSHOT: &str = "No snapshot found, but there are log entries. Something is broken!";

fn without_snapshots() -> Damaged {
    let mut files = three_snapshots().files.clone();
    files.retain(|name, _| !name.starts_with("snapshot."));
    Damaged::new(files)
}

#[test]
fn logs_without_any_snapshot_are_refused() {
    same_as_java(&without_snapshots()).refused(NO_SNAPSHOT, NO_SNAPSHOT);
}

#[test]
fn logs_without_any_snapshot_are_replayed_with_trust_empty() {
    let mut d = without_snapshots();
    d.opts = d.opts.prop("zookeeper.snapshot.trust.empty", "true");
    let ours = same_as_java(&d);
    assert_eq!(ours.tree(), &three_snapshots().tree);
    ours.warned("This should only be allowed during upgrading");
}

// ---- dataDir and dataLogDir ----

/// `one_log` split between dataDir (snapshots) and a separate dataLogDir
/// (logs), then `mix` moves files between them.
fn split(mix: impl FnOnce(&mut Files, &mut Files)) -> Damaged {
    let (mut logs, mut snaps): (Files, Files) =
        one_log().files.clone().into_iter().partition(|(name, _)| name.starts_with("log."));
    mix(&mut snaps, &mut logs);
    Damaged { data: snaps, log_dir: Some(logs), opts: opts() }
}

#[test]
fn a_separate_data_log_dir_recovers_like_a_shared_one() {
    let ours = same_as_java(&split(|_, _| {}));
    assert_eq!(ours.tree(), &one_log().tree);
}

#[test]
fn a_snapshot_in_the_data_log_dir_is_refused() {
    let ours = same_as_java(&split(|snaps, logs| {
        let snap = snaps.remove("snapshot.0").unwrap();
        logs.insert("snapshot.0".into(), snap);
    }));
    ours.refused("holds snapshot file snapshot.0", "Log directory has snapshot files");
}

#[test]
fn a_log_in_the_data_dir_is_refused() {
    let ours = same_as_java(&split(|snaps, logs| {
        let log = logs.remove("log.1").unwrap();
        snaps.insert("log.1".into(), log);
    }));
    ours.refused("holds transaction log file log.1", "Snapshot directory has log files");
}
