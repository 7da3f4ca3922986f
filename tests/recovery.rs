//! Restart recovery: after a clean stop (SIGTERM) or a crash (SIGKILL) the
//! server comes back with the same tree (data, Stat and ACL of every node),
//! its zxid carries on, and sessions that had not expired are still there.

mod common;

use common::*;
use std::time::{Duration, Instant};
use zkserver::client::ZkClient;
use zkserver::zoo_defs::{event_type, ids, CreateMode};

/// Builds a tree with persistent, sequential and ephemeral nodes, several
/// data versions, a changed ACL and a deleted node; returns the session that
/// owns the ephemerals (left open) and the zxid of the last write.
fn build(s: &TestServer) -> (ZkClient, i64) {
    let open = ids::open_acl_unsafe();
    let c = s.client();
    c.create("/app", Some(b"root"), &open, CreateMode::Persistent).unwrap();
    c.create("/app/cfg", Some(b"v0"), &open, CreateMode::Persistent).unwrap();
    for v in 1..=3 {
        c.set_data("/app/cfg", Some(format!("v{v}").as_bytes()), -1).unwrap();
    }
    c.create("/app/null", None, &open, CreateMode::Persistent).unwrap();
    for _ in 0..4 {
        c.create("/app/job-", Some(b"j"), &open, CreateMode::PersistentSequential).unwrap();
    }
    c.delete("/app/job-0000000004", -1).unwrap();
    c.create("/app/ro", Some(b"ro"), &ids::read_acl_unsafe(), CreateMode::Persistent).unwrap();
    c.set_acl("/app/cfg", &open, 0).unwrap();
    c.create("/app/deep", None, &open, CreateMode::Persistent).unwrap();
    c.create("/app/deep/er", Some(&[0u8, 1, 2, 255]), &open, CreateMode::Persistent).unwrap();
    let live = s.client();
    live.create("/app/lock-", Some(b"me"), &open, CreateMode::EphemeralSequential).unwrap();
    live.create("/app/member", None, &open, CreateMode::Ephemeral).unwrap();
    let z = live.last_zxid();
    c.close().unwrap();
    (live, z + 1)
}

fn restart_keeps_everything(crash: bool) {
    let mut s = TestServer::start_default();
    let (live, last) = build(&s);
    let observer = s.client();
    let before = walk(&observer);
    assert!(before.contains_key("/app/member"));
    drop(observer);
    let (sid, pw) = (live.session_id(), live.session_passwd().to_vec());
    live.disconnect();
    if crash {
        s.kill9();
    } else {
        s.stop();
    }
    s.start_again();

    // the live session re-attaches and still owns its ephemerals
    let back = ZkClient::connect_with_session(s.addr(), 30000, sid, &pw).expect("session survived restart");
    assert_eq!(back.session_id(), sid);
    let after = walk(&back);
    assert_eq!(after, before, "tree differs after restart");
    assert_eq!(after["/app/member"].1.ephemeral_owner, sid);

    // the zxid carries on from where it stopped
    back.create("/app/after", None, &ids::open_acl_unsafe(), CreateMode::Persistent).unwrap();
    assert!(back.last_zxid() > last, "zxid {:#x} not after {last:#x}", back.last_zxid());
    assert_eq!(back.last_zxid() >> 32, last >> 32, "standalone restart keeps the epoch");
    // sequence numbers too
    assert_eq!(
        back.create("/app/job-", None, &ids::open_acl_unsafe(), CreateMode::PersistentSequential).unwrap(),
        "/app/job-0000000011"
    );
    back.close().unwrap();
    let w = s.client();
    assert_eq!(w.exists("/app/member", false).unwrap(), None);
}

/// Java writes its start-up snapshot before it serves: at 10M znodes half
/// of a restart. zkserver writes it on a SnapshotThread once clients are
/// served (with no dead session's ephemerals removed, the tree is the
/// newest snapshot plus the logs, which a crash would replay again), and a
/// stop waits for it to be in place.
#[test]
fn the_start_up_snapshot_is_written_beside_serving_and_a_stop_waits_for_it() {
    let mut s = TestServer::start_default();
    let (live, last) = build(&s);
    let before = walk(&live);
    live.disconnect();
    s.stop();
    s.start_again();
    let c = s.client();
    assert_eq!(walk(&c), before);
    c.disconnect();
    s.stop();
    let snapshot = s.data_dir().join("version-2").join(format!("snapshot.{last:x}"));
    assert!(snapshot.exists(), "no {} after the stop:\n{}", snapshot.display(), s.log_tail(30));
    let log = std::fs::read_to_string(s.log_path()).unwrap();
    let by: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(&format!("Snapshotting: 0x{last:x} ")))
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    assert_eq!(by, ["SnapshotThread"], "the start-up snapshot's log lines name these threads:\n{}", s.log_tail(30));
    s.start_again();
    assert_eq!(walk(&s.client()), before, "tree differs after a restart from the start-up snapshot");
}

#[test]
fn clean_stop_and_restart_keeps_the_tree_and_sessions() {
    restart_keeps_everything(false);
}

#[test]
fn kill_9_and_restart_keeps_every_acknowledged_write() {
    restart_keeps_everything(true);
}

#[test]
fn restart_with_many_snapshots_and_logs() {
    // snapCount=10: the server rolls its log and snapshots every few writes
    let mut s = TestServer::start(ServerOpts::default().cfg("snapCount", "10"));
    let c = s.client();
    let open = ids::open_acl_unsafe();
    c.create("/many", None, &open, CreateMode::Persistent).unwrap();
    for i in 0..60 {
        let p = format!("/many/n{i}");
        c.create(&p, Some(p.as_bytes()), &open, CreateMode::Persistent).unwrap();
        if i % 3 == 0 {
            c.set_data(&p, Some(b"changed"), -1).unwrap();
        }
        if i % 7 == 0 {
            c.delete(&p, -1).unwrap();
        }
    }
    let before = walk(&c);
    c.close().unwrap();
    let snaps = || {
        std::fs::read_dir(s.data_dir().join("version-2"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().starts_with("snapshot."))
                    .count()
            })
            .unwrap_or(0)
    };
    assert!(snaps() >= 2, "expected several snapshots with snapCount=10");
    s.kill9();
    s.start_again();
    let c = s.client();
    assert_eq!(walk(&c), before);
    c.close().unwrap();
}

#[test]
fn a_session_nobody_resumes_expires_after_restart() {
    let mut s = TestServer::start_default(); // tickTime 2000: min timeout 4000
    let owner = ZkClient::connect(s.addr(), 4000).unwrap();
    owner.create("/orphan", None, &ids::open_acl_unsafe(), CreateMode::Ephemeral).unwrap();
    owner.disconnect();
    s.stop();
    s.start_again();
    let w = s.client();
    // still there right after the restart: sessions are restored...
    assert!(w.exists("/orphan", true).unwrap().is_some(), "session lost on restart");
    // ...and expire on their own schedule
    let start = Instant::now();
    let ev = w.next_event(Duration::from_secs(20)).expect("ephemeral of the restored session expires");
    assert_eq!((ev.event_type, ev.path.as_str()), (event_type::NODE_DELETED, "/orphan"));
    assert!(start.elapsed() < Duration::from_secs(20));
}

#[test]
fn restart_twice_in_a_row() {
    let mut s = TestServer::start_default();
    let c = s.client();
    c.create("/twice", Some(b"1"), &ids::open_acl_unsafe(), CreateMode::Persistent).unwrap();
    c.close().unwrap();
    s.restart();
    let c = s.client();
    c.set_data("/twice", Some(b"2"), 0).unwrap();
    c.close().unwrap();
    s.restart();
    let c = s.client();
    let (data, st) = c.get_data("/twice", false).unwrap();
    assert_eq!((data.as_deref(), st.version), (Some(&b"2"[..]), 1));
    c.close().unwrap();
}

#[test]
fn autopurge_keeps_the_newest_snapshots_and_what_they_need() {
    // Many snapshots first, with purging off.
    let mut s = TestServer::start(ServerOpts::default().cfg("snapCount", "10"));
    let c = s.client();
    let open = ids::open_acl_unsafe();
    for i in 0..80 {
        c.create(&format!("/p{i}"), Some(b"x"), &open, CreateMode::Persistent).unwrap();
    }
    let before = walk(&c);
    c.close().unwrap();
    s.stop();
    let v2 = s.data_dir().join("version-2");
    let snapshots = || -> Vec<i64> {
        let mut v: Vec<i64> = std::fs::read_dir(&v2)
            .map(|d| {
                d.flatten()
                    .filter_map(|e| {
                        let n = e.file_name().to_string_lossy().to_string();
                        i64::from_str_radix(n.strip_prefix("snapshot.")?, 16).ok()
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    let old = snapshots();
    assert!(old.len() > 3, "several snapshots to purge: {old:?}");
    let doomed: Vec<i64> = old[..old.len() - 3].to_vec();
    // The purge task runs once at start-up. The server also writes a fresh
    // snapshot while starting (as Java does), so the purge keeps either the
    // 3 newest old ones or 2 of them and the fresh one.
    std::fs::write(
        s.cfg_path(),
        std::fs::read_to_string(s.cfg_path()).unwrap() + "autopurge.purgeInterval=1\nautopurge.snapRetainCount=3\n",
    )
    .unwrap();
    s.start_again();
    assert!(
        wait_until(Duration::from_secs(20), || {
            let now = snapshots();
            now.len() <= 4 && !now.iter().any(|z| doomed.contains(z))
        }),
        "older snapshots than the newest 3 of {old:?} purged: {:?}",
        snapshots()
    );
    let c = s.client();
    let after: Tree = walk(&c).into_iter().filter(|(p, _)| before.contains_key(p)).collect();
    assert_eq!(after, before);
    c.close().unwrap();
    // What is left still restores.
    s.stop();
    s.start_again();
    let c = s.client();
    assert_eq!(walk(&c).len(), before.len());
    c.close().unwrap();
}
