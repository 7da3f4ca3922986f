//! Data directories move between Java ZooKeeper 3.8 and zkserver: a tree
//! Java wrote (snapshots and logs, an ephemeral of a live session,
//! sequentials, ACLs) is served identically by zkserver, every Stat field
//! included, and back again; Java's own tools read zkserver's files, and
//! `zkserver snapshot-formatter` prints what Java's SnapshotFormatter
//! prints, byte for byte, in all three modes. With
//! zookeeper.snapshot.compression.method=gz or snappy each opens the
//! other's compressed snapshots.

mod common;

use common::*;
use std::process::Command;
use zkserver::client::ZkClient;
use zkserver::jute::multi::{MultiOperationRecord, Op};
use zkserver::jute::records::{Acl, CheckVersionRequest, CreateTtlRequest, DeleteRequest, Id, SetDataRequest};
use zkserver::jute::OutputArchive;
use zkserver::zoo_defs::{code, ids, op_code, perms, CreateMode};

fn multi(c: &ZkClient, ops: Vec<Op>) -> i32 {
    let mut oa = OutputArchive::new();
    MultiOperationRecord { ops }.serialize(&mut oa);
    c.submit_bytes(op_code::MULTI, oa.as_slice()).unwrap().header.err
}

fn create_op(path: &str, data: &[u8]) -> Op {
    let req = CreateTtlRequest { path: path.into(), data: Some(data.to_vec()), acl: ids::open_acl_unsafe(), flags: 0, ttl: -1 };
    Op::Create { op_type: op_code::CREATE, req }
}

/// zk_digest_mismatches_count from mntr: txns (and snapshot digests) whose
/// logged tree digest differed from the tree the server built.
fn digest_mismatches(s: &TestServer) -> u64 {
    let mntr = four_letter(&s.addr(), "mntr").unwrap();
    let line = mntr.lines().find(|l| l.starts_with("zk_digest_mismatches_count\t")).expect("mntr reports digest mismatches");
    line.split('\t').nth(1).unwrap().trim().parse().unwrap()
}

/// Writes a varied tree; returns the session that owns the ephemeral.
fn build(c: &ZkClient, addr: &str, tag: &str) {
    let open = ids::open_acl_unsafe();
    c.create(&format!("/{tag}"), Some(b"root"), &open, CreateMode::Persistent).unwrap();
    for i in 0..25 {
        let mode = if i % 4 == 0 { CreateMode::PersistentSequential } else { CreateMode::Persistent };
        c.create(&format!("/{tag}/n{i}-"), Some(format!("value {i}").as_bytes()), &open, mode).unwrap();
    }
    c.create(&format!("/{tag}/null"), None, &open, CreateMode::Persistent).unwrap();
    c.set_data(&format!("/{tag}/n1-"), Some(b"changed"), -1).unwrap();
    c.set_data(&format!("/{tag}/n1-"), Some(b"changed again"), 1).unwrap();
    c.delete(&format!("/{tag}/n2-"), -1).unwrap();
    let ip_acl = vec![Acl { perms: perms::ALL, id: Id::new("ip", "127.0.0.1") }];
    c.create(&format!("/{tag}/ip"), Some(b"ip only"), &ip_acl, CreateMode::Persistent).unwrap();
    c.set_acl(&format!("/{tag}/n3-"), &ids::read_acl_unsafe(), -1).unwrap();
    c.create(&format!("/{tag}/eph"), Some(b"mine"), &open, CreateMode::Ephemeral).unwrap();
    c.create(&format!("/{tag}/box"), None, &open, CreateMode::Container).unwrap();
    c.create(&format!("/{tag}/box/item"), Some(b"i"), &open, CreateMode::Persistent).unwrap();
    c.set_data("/", Some(b"root data"), -1).unwrap();
    let ok = vec![
        create_op(&format!("/{tag}/m"), b"m"),
        Op::SetData(SetDataRequest { path: format!("/{tag}/m"), data: Some(b"mm".to_vec()), version: 0 }),
        create_op(&format!("/{tag}/m/child"), b""),
        Op::Delete(DeleteRequest { path: format!("/{tag}/n5-"), version: -1 }),
    ];
    assert_eq!(multi(c, ok), code::OK);
    let failing = vec![
        create_op(&format!("/{tag}/never"), b""),
        Op::Check(CheckVersionRequest { path: format!("/{tag}/m"), version: 99 }),
    ];
    // A failed multi is still answered OK; the per-op results say why.
    assert_eq!(multi(c, failing), code::OK);
    assert!(c.delete(&format!("/{tag}/missing"), -1).is_err());
    // Another session's ephemerals go with its closeSession.
    let other = ZkClient::connect(addr, 30000).unwrap();
    other.create(&format!("/{tag}/gone1"), None, &open, CreateMode::Ephemeral).unwrap();
    other.create(&format!("/{tag}/m/gone2"), Some(b"x"), &open, CreateMode::EphemeralSequential).unwrap();
    other.close().unwrap();
}

fn newest_snapshot(s: &TestServer) -> std::path::PathBuf {
    let dir = s.data_dir().join("version-2");
    let mut snaps: Vec<(i64, std::path::PathBuf)> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let zxid = i64::from_str_radix(name.strip_prefix("snapshot.")?, 16).ok()?;
            Some((zxid, e.path()))
        })
        .collect();
    snaps.sort();
    snaps.pop().expect("a snapshot").1
}

fn hand_over(from: Flavor, to: Flavor) {
    // snapCount=10: several snapshots and rolled logs, and txns after the
    // newest snapshot that must be replayed.
    let mut s = TestServer::start_with(from, ServerOpts::default().cfg("snapCount", "10"));
    let c = s.client();
    build(&c, &s.addr(), "t");
    let before = walk(&c);
    // Every txn's tree digest, as logged, is the tree the server built.
    assert_eq!(digest_mismatches(&s), 0, "{from:?} disagrees with its own digests");
    let (sid, pw) = (c.session_id(), c.session_passwd().to_vec());
    c.disconnect();
    s.switch_to(to);
    // The live session is still known: reattach to it.
    let c = ZkClient::connect_with_session(s.addr(), 30000, sid, &pw).expect("session survives the hand-over");
    assert_eq!(walk(&c), before, "{from:?} -> {to:?}");
    // Replaying the other server's logs reproduced every digest it logged
    // (and the one its snapshot holds).
    assert_eq!(digest_mismatches(&s), 0, "{to:?} computes other digests than {from:?}");
    c.close().unwrap();
}

/// The snapshot file names in the data directory.
fn snapshot_names(s: &TestServer) -> Vec<String> {
    let dir = s.data_dir().join("version-2");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("snapshot."))
        .collect();
    names.sort();
    names
}

/// One server writes compressed snapshots, the other starts from the
/// newest of them (its log says it read it) and serves the same tree, then
/// writes its own start-up snapshot compressed the same way.
fn compressed_hand_over(from: Flavor, to: Flavor, method: &str) {
    let opts = ServerOpts::default().prop("zookeeper.snapshot.compression.method", method);
    let mut s = TestServer::start_with(from, opts.clone().cfg("snapCount", "10"));
    let c = s.client();
    build(&c, &s.addr(), "z");
    // Closed first, so its ephemeral is gone from both sides.
    c.close().unwrap();
    let c = s.client();
    let before = walk(&c);
    c.close().unwrap();
    s.stop();
    let written = snapshot_names(&s);
    let ext = format!(".{method}");
    assert!(written.len() >= 3, "{from:?} wrote {written:?}");
    assert!(written.iter().all(|n| n.ends_with(&ext)), "{from:?} with {method}: {written:?}");
    let newest = newest_compressed(&s, &ext);
    // Both servers append to one log: what `to` wrote starts here.
    let switched = std::fs::metadata(s.log_path()).map_or(0, |m| m.len() as usize);
    s.switch_to(to);
    assert!(
        std::fs::read_to_string(s.log_path()).unwrap().contains(&format!("Reading snapshot {}", newest.display())),
        "{to:?} did not start from {}:\n{}",
        newest.display(),
        s.log_tail(40)
    );
    let c = s.client();
    assert_eq!(walk(&c), before, "{from:?} -> {to:?} with {method}");
    assert_eq!(digest_mismatches(&s), 0, "{to:?} computes other digests than {from:?}");
    c.close().unwrap();
    s.stop();
    // Its start-up snapshot (which may replace one of the same zxid), as
    // its log names it: the file's mtime cannot tell, since the kernel's
    // coarse clock may date it before a fast start-up began.
    let now = snapshot_names(&s);
    let log = std::fs::read_to_string(s.log_path()).unwrap();
    let written: Vec<&str> = log
        .get(switched..)
        .unwrap_or(&log)
        .lines()
        .filter_map(|l| l.split_once("Snapshotting: ")?.1.rsplit_once('/').map(|(_, name)| name))
        .collect();
    let fresh = !written.is_empty() && written.iter().all(|n| now.iter().any(|have| have == n));
    assert!(fresh && now.iter().all(|n| n.ends_with(&ext)), "{to:?} with {method}: wrote {written:?}, has {now:?}");
}

/// The newest snapshot whose name ends in `ext`.
fn newest_compressed(s: &TestServer, ext: &str) -> std::path::PathBuf {
    let zxid = |n: &str| i64::from_str_radix(n.strip_prefix("snapshot.")?.strip_suffix(ext)?, 16).ok();
    let best = snapshot_names(s).into_iter().filter_map(|n| Some((zxid(&n)?, n))).max().expect("a compressed snapshot");
    s.data_dir().join("version-2").join(best.1)
}

#[test]
fn java_gz_snapshots_open_in_zkserver() {
    compressed_hand_over(Flavor::Java, Flavor::Zkserver, "gz");
}

#[test]
fn zkserver_gz_snapshots_open_in_java() {
    compressed_hand_over(Flavor::Zkserver, Flavor::Java, "gz");
}

#[test]
fn java_snappy_snapshots_open_in_zkserver() {
    compressed_hand_over(Flavor::Java, Flavor::Zkserver, "snappy");
}

#[test]
fn zkserver_snappy_snapshots_open_in_java() {
    compressed_hand_over(Flavor::Zkserver, Flavor::Java, "snappy");
}

#[test]
fn an_unknown_compression_method_refuses_start_up_naming_the_key() {
    let opts = ServerOpts::default().prop("zookeeper.snapshot.compression.method", "zip");
    let mut s = TestServer::prepare(Flavor::Zkserver, opts);
    assert!(s.try_start().is_err(), "started with method zip");
    let log = s.log_tail(20);
    assert!(log.contains("zookeeper.snapshot.compression.method") && log.contains("zip"), "{log}");
}

#[test]
fn java_data_dir_is_served_identically_by_zkserver() {
    hand_over(Flavor::Java, Flavor::Zkserver);
}

#[test]
fn zkserver_data_dir_is_served_identically_by_java() {
    hand_over(Flavor::Zkserver, Flavor::Java);
}

#[test]
fn java_snapshot_formatter_reads_zkserver_snapshots() {
    let mut s = TestServer::start_with(Flavor::Zkserver, ServerOpts::default().cfg("snapCount", "10"));
    let c = s.client();
    build(&c, &s.addr(), "f");
    c.disconnect();
    s.stop();
    let snap = newest_snapshot(&s);
    let out = Command::new("java")
        .arg("-cp")
        .arg(java_class_path())
        .arg("org.apache.zookeeper.server.SnapshotFormatter")
        .arg(&snap)
        .output()
        .expect("run java SnapshotFormatter (apt-get install -y zookeeper)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "SnapshotFormatter failed: {}\n{}", text, String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("Session Details (sid, timeout, ephemeralCount):"), "{text}");
    assert!(text.contains("Last zxid:"), "{text}");
    assert!(text.contains("/f/n1-"), "{text}");
}

/// Java's SnapshotFormatter, printing times in UTC as ours does (its JSON
/// mode needs Jackson, which the server's class path leaves out).
fn java_formatter(args: &[&str], snap: &std::path::Path) -> std::process::Output {
    let jackson = "/usr/share/java/jackson-core.jar";
    assert!(std::path::Path::new(jackson).exists(), "{jackson} missing: apt-get install -y libjackson2-core-java");
    Command::new("java")
        .env("LC_ALL", "C.UTF-8")
        .args(["-Duser.timezone=UTC", "-Dfile.encoding=UTF-8", "-cp"])
        .arg(format!("{}:{jackson}", java_class_path()))
        .arg("org.apache.zookeeper.server.SnapshotFormatter")
        .args(args)
        .arg(snap)
        .output()
        .expect("run java SnapshotFormatter (apt-get install -y zookeeper)")
}

/// The JSON report with its timestamp (the time of the run) zeroed.
fn without_timestamp(json: &str) -> String {
    let key = "\"timestamp\":";
    match json.find(key) {
        Some(at) => {
            let digits = json[at + key.len()..].bytes().take_while(u8::is_ascii_digit).count();
            format!("{}0{}", &json[..at + key.len()], &json[at + key.len() + digits..])
        }
        None => json.to_string(),
    }
}

/// Our formatter and Java's print the same bytes in every mode, children
/// and sessions in the same (Java hash) order. Returns our reports.
fn formatters_agree(snap: &std::path::Path) -> Vec<String> {
    let mut reports = Vec::new();
    for args in [&[][..], &["-d"], &["-json"]] {
        let java = java_formatter(args, snap);
        let ours = Command::new(env!("CARGO_BIN_EXE_zkserver"))
            .arg("snapshot-formatter")
            .args(args)
            .arg(snap)
            .output()
            .expect("run zkserver snapshot-formatter");
        let (j, o) = (String::from_utf8_lossy(&java.stdout), String::from_utf8_lossy(&ours.stdout));
        assert!(
            java.status.success() && ours.status.success(),
            "{args:?}: {}\n{}",
            String::from_utf8_lossy(&java.stderr),
            String::from_utf8_lossy(&ours.stderr)
        );
        let (j, o) = if args == ["-json"] { (without_timestamp(&j), without_timestamp(&o)) } else { (j.into(), o.into()) };
        for (n, (jl, ol)) in j.lines().zip(o.lines()).enumerate() {
            assert_eq!(ol, jl, "{args:?} line {}", n + 1);
        }
        assert_eq!(o, j, "{args:?}");
        reports.push(o);
    }
    reports
}

/// A tree for the formatters: `build`'s, plus a directory big enough to
/// grow Java's child set several times, and names JSON must escape.
fn build_for_formatters(c: &ZkClient, addr: &str) {
    build(c, addr, "g");
    let open = ids::open_acl_unsafe();
    c.create("/wide", None, &open, CreateMode::Persistent).unwrap();
    for i in 0..150 {
        c.create(&format!("/wide/c{i}"), Some(&vec![b'x'; i]), &open, CreateMode::Persistent).unwrap();
    }
    for name in ["quo\"te", "back\\slash", "\u{e9}t\u{e9} \u{fc}", "a,b}%"] {
        c.create(&format!("/g/{name}"), Some(name.as_bytes()), &open, CreateMode::Persistent).unwrap();
    }
}

#[test]
fn snapshot_formatter_prints_what_java_prints() {
    for flavor in [Flavor::Zkserver, Flavor::Java] {
        let mut s = TestServer::start_with(flavor, ServerOpts::default());
        let c = s.client();
        build_for_formatters(&c, &s.addr());
        // A second session with ephemerals of its own: two session lines.
        let c2 = s.client();
        c2.create("/g/eph2", None, &ids::open_acl_unsafe(), CreateMode::Ephemeral).unwrap();
        c.disconnect();
        c2.disconnect();
        // The snapshot taken when the server starts again holds it all.
        s.stop();
        s.start_again();
        s.stop();
        let reports = formatters_agree(&newest_snapshot(&s));
        let (plain, json) = (&reports[0], &reports[2]);
        assert!(plain.contains("\n/wide/c149\n") && plain.contains("\n/g/box\n"), "{flavor:?}: {plain}");
        assert!(plain.contains("  ephemeralOwner = 0x8000000000000000\n"), "{flavor:?}: {plain}");
        let sessions = plain.split("Session Details (sid, timeout, ephemeralCount):\n").nth(1).unwrap_or_default();
        assert_eq!(sessions.lines().filter(|l| l.ends_with(", 1")).count(), 2, "{flavor:?}: {sessions}");
        assert!(json.contains(r#"{"name":"quo\"te","asize":6,"#), "{flavor:?}: {json}");
        assert!(json.contains(r#"{"name":"back\\slash","#), "{flavor:?}: {json}");
    }
}

/// Java's SnapshotFormatter reads a compressed snapshot through SnapStream;
/// ours prints the same for zkserver's gz and snappy snapshots.
#[test]
fn snapshot_formatter_reads_compressed_snapshots_as_java_does() {
    for method in ["gz", "snappy"] {
        let opts = ServerOpts::default().prop("zookeeper.snapshot.compression.method", method);
        let mut s = TestServer::start_with(Flavor::Zkserver, opts);
        let c = s.client();
        build_for_formatters(&c, &s.addr());
        c.disconnect();
        s.stop();
        s.start_again();
        s.stop();
        let reports = formatters_agree(&newest_compressed(&s, &format!(".{method}")));
        assert!(reports[0].contains("\n/wide/c149\n"), "{method}: {}", reports[0]);
    }
}
