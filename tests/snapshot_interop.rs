//! Data directories move between Java ZooKeeper 3.8 and zkserver: a tree
//! Java wrote (snapshots and logs, an ephemeral of a live session,
//! sequentials, ACLs) is served identically by zkserver, every Stat field
//! included, and back again; Java's own tools read zkserver's files.

mod common;

use common::*;
use std::process::Command;
use zkserver::client::ZkClient;
use zkserver::jute::multi::{MultiOperationRecord, Op};
use zkserver::jute::records::{Acl, CheckVersionRequest, CreateTtlRequest, DeleteRequest, Id, SetDataRequest};
use zkserver::jute::OutputArchive;
use zkserver::server::zoo_defs::{code, ids, op_code, perms, CreateMode};

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

/// A formatter report with its znode blocks and session lines in sorted
/// order (Java walks children in hash order).
fn normalise(report: &str) -> Vec<String> {
    let mut parts: Vec<String> = report.split("----\n").map(|b| {
        let mut lines: Vec<&str> = b.lines().collect();
        if lines.first().map(|l| l.starts_with("Session Details")).unwrap_or(false) {
            lines[1..].sort();
        }
        lines.join("\n")
    }).collect();
    parts.sort();
    parts
}

#[test]
fn snapshot_formatter_prints_what_java_prints() {
    let mut s = TestServer::start_with(Flavor::Zkserver, ServerOpts::default().cfg("snapCount", "10"));
    let c = s.client();
    build(&c, &s.addr(), "g");
    c.disconnect();
    s.stop();
    let snap = newest_snapshot(&s);
    for flag in [None, Some("-d")] {
        let mut java = Command::new("java");
        java.arg("-Duser.timezone=UTC").arg("-cp").arg(java_class_path()).arg("org.apache.zookeeper.server.SnapshotFormatter");
        let mut ours = Command::new(env!("CARGO_BIN_EXE_zkserver"));
        ours.arg("snapshot-formatter");
        if let Some(f) = flag {
            java.arg(f);
            ours.arg(f);
        }
        let java = java.arg(&snap).output().expect("run java SnapshotFormatter");
        let ours = ours.arg(&snap).output().expect("run zkserver snapshot-formatter");
        assert!(java.status.success() && ours.status.success(), "{flag:?}: {}", String::from_utf8_lossy(&ours.stderr));
        let (j, o) = (String::from_utf8_lossy(&java.stdout), String::from_utf8_lossy(&ours.stdout));
        assert_eq!(normalise(&o), normalise(&j), "{flag:?}\n--- ours\n{o}\n--- java\n{j}");
    }
}
