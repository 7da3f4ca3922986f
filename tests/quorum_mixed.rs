//! Mixed ensembles of zkserver and Java 3.8 nodes, with the leader on each
//! side in turn: 2 Java + 1 zkserver and 1 Java + 2 zkserver. Each run
//! starts with sid 3 leading, writes through every node, kills the leader
//! (kill -9) so that sid 2, of the other kind, takes over, writes again,
//! brings the dead node back (it must rejoin as a follower by DIFF), then
//! kills sid 2 so that sid 3 leads again and brings sid 2 back (by DIFF,
//! or by SNAP into an emptied data directory). Every acknowledged write
//! must be on every node at the end, and every node must hold the very
//! same tree (data, Stat and ACL of every node; of the node-local
//! /zookeeper/config, which each node writes with its own clock, the data,
//! version, mzxid and ACL).
//!
//! Session ownership (SESSIONMOVED) is checked on all-Java, all-zkserver
//! and both mixed ensembles alike.
//!
//! Who wins an election is made deterministic by letting every node reach
//! the same zxid before the leader is killed: the survivors then tie on
//! epoch and zxid, and the higher sid wins.

mod common;

use common::ensemble::Ensemble;
use common::{four_letter, walk, wait_until, Flavor};
use std::time::Duration;
use zkserver::client::{ConnectOptions, ZkClient, ZkError};
use zkserver::zoo_defs::{ids, CreateMode};

const DEADLINE: Duration = Duration::from_secs(40);

/// Java leaders sync an emptied learner by SNAP rather than by a DIFF read
/// from their txn log (QuorumPeerConfig maps the key to
/// zookeeper.snapshotSizeFactor; zkserver reads it the same way).
const NO_TXNLOG_DIFF: (&str, &str) = ("snapshotSizeFactor", "0");

const DIFF_LINE: &str = "Getting a diff from the leader";
const SNAP_LINE: &str = "Getting a snapshot from leader";

/// The lines of `srvr` starting with `key`, if the node serves.
fn srvr_field(ens: &Ensemble, sid: i64, key: &str) -> Option<String> {
    let out = four_letter(&ens.node(sid).client_addr(), "srvr").ok()?;
    out.lines().find_map(|l| l.strip_prefix(key)).map(str::to_string)
}

#[track_caller]
fn assert_leader(ens: &Ensemble, sids: &[i64], want: i64) {
    let got = ens.settled_leader(sids);
    assert_eq!(got, want, "leader among {sids:?} is {got}, expected {want}\n{}", ens.logs());
}

/// Waits until every node in `sids` reports the same last zxid (no
/// proposal in flight), so that the next election ties on zxid.
#[track_caller]
fn quiesce(ens: &Ensemble, sids: &[i64]) {
    let mut last = Vec::new();
    let ok = wait_until(DEADLINE, || {
        last = sids.iter().map(|s| srvr_field(ens, *s, "Zxid: ")).collect();
        last.iter().all(|z| z.is_some() && *z == last[0])
    });
    assert!(ok, "nodes {sids:?} do not settle on one zxid: {last:?}\n{}", ens.logs());
}


/// Through each node of `sids`: creates `/<tag>-<sid>` and overwrites a
/// shared `/<tag>`; each acknowledged write is recorded in `acked`.
fn write_through(ens: &Ensemble, sids: &[i64], tag: &str, acked: &mut Vec<(String, Vec<u8>)>) {
    let open = ids::open_acl_unsafe();
    for sid in sids {
        let c = ens.client(*sid);
        let path = format!("/{tag}-{sid}");
        let data = format!("{tag} via {sid}").into_bytes();
        c.create(&path, Some(&data), &open, CreateMode::Persistent)
            .unwrap_or_else(|e| panic!("create {path} through node {sid}: {e}\n{}", ens.logs()));
        acked.push((path, data.clone()));
        let shared = format!("/{tag}");
        match c.create(&shared, Some(&data), &open, CreateMode::Persistent) {
            Ok(_) => {}
            Err(e) if e.code() == zkserver::zoo_defs::code::NODE_EXISTS => {
                c.set_data(&shared, Some(&data), -1)
                    .unwrap_or_else(|e| panic!("setData {shared} through node {sid}: {e}\n{}", ens.logs()));
            }
            Err(e) => panic!("create {shared} through node {sid}: {e}\n{}", ens.logs()),
        }
        acked.retain(|(p, _)| *p != shared);
        acked.push((shared, data));
        c.close().unwrap_or_else(|e| panic!("close on node {sid}: {e}"));
    }
}


/// How often `line` occurs in the node's log (all its runs).
fn count(ens: &Ensemble, sid: i64, line: &str) -> usize {
    ens.node(sid).log().matches(line).count()
}

/// Starts `sid` again and asserts it rejoins under `leader`, syncing by
/// the kind of sync whose follower-side log line is `sync_line`.
#[track_caller]
fn rejoin(ens: &mut Ensemble, sid: i64, leader: i64, sync_line: &str) {
    let before = count(ens, sid, sync_line);
    ens.start(sid);
    assert_leader(ens, &[1, 2, 3], leader);
    assert!(
        count(ens, sid, sync_line) > before,
        "node {sid} did not sync with {sync_line:?} from node {leader}\n{}",
        ens.logs()
    );
}

/// The scenario of the module comment. Sids 2 and 3 must be of different
/// kinds. With `wipe_last`, sid 2's data directory is emptied before its
/// last return, so it syncs by SNAP.
fn leader_on_each_side(flavors: [Flavor; 3], wipe_last: bool) {
    assert_ne!(flavors[1], flavors[2]);
    let extra: &[(&str, &str)] = if wipe_last { &[NO_TXNLOG_DIFF] } else { &[] };
    let mut ens = Ensemble::new(&flavors, extra);
    let mut acked = Vec::new();

    // Sid 3 leads: it forms the first quorum with sid 1, sid 2 joins it.
    ens.start(3);
    ens.start(1);
    assert_leader(&ens, &[1, 3], 3);
    ens.start(2);
    assert_leader(&ens, &[1, 2, 3], 3);
    write_through(&ens, &[1, 2, 3], "a", &mut acked);
    for sid in [1, 2, 3] {
        ens.assert_has_all(sid, &acked);
    }

    // Kill -9 the leader: sids 1 and 2 tie on zxid, so 2 leads.
    quiesce(&ens, &[1, 2, 3]);
    ens.kill9(3);
    assert_leader(&ens, &[1, 2], 2);
    write_through(&ens, &[1, 2], "b", &mut acked);
    // The old leader comes back as a follower of the other kind's leader.
    rejoin(&mut ens, 3, 2, DIFF_LINE);
    write_through(&ens, &[1, 2, 3], "c", &mut acked);
    for sid in [1, 2, 3] {
        ens.assert_has_all(sid, &acked);
    }

    // And back: without sid 2, sid 3 leads again.
    quiesce(&ens, &[1, 2, 3]);
    ens.kill9(2);
    assert_leader(&ens, &[1, 3], 3);
    write_through(&ens, &[1, 3], "d", &mut acked);
    if wipe_last {
        std::fs::remove_dir_all(ens.node(2).data_dir().join("version-2")).expect("empty node 2's dataDir");
        rejoin(&mut ens, 2, 3, SNAP_LINE);
    } else {
        rejoin(&mut ens, 2, 3, DIFF_LINE);
    }
    write_through(&ens, &[1, 2, 3], "e", &mut acked);

    // Every acknowledged write everywhere, and one tree.
    for sid in [1, 2, 3] {
        ens.assert_has_all(sid, &acked);
    }
    let trees: Vec<_> = [1, 2, 3]
        .iter()
        .map(|sid| {
            let c = ens.client(*sid);
            c.sync("/").expect("sync");
            let t = walk(&c);
            let _ = c.close();
            t
        })
        .collect();
    // /zookeeper/config is node-local: every node, Java or zkserver, writes
    // the membership into it with its own clock. Its data and version must
    // agree; its times may not.
    let configs: Vec<_> = trees
        .iter()
        .map(|t| t.get("/zookeeper/config").map(|(data, stat, acl)| (data.clone(), stat.version, stat.mzxid, acl.clone())))
        .collect();
    let membership = configs[0].as_ref().and_then(|c| c.0.clone()).map(|d| String::from_utf8_lossy(&d).to_string());
    assert!(
        membership.as_deref().is_some_and(|m| m.starts_with("server.1=") && m.ends_with("version=0")),
        "node 1's /zookeeper/config: {membership:?}"
    );
    for (i, c) in configs.iter().enumerate().skip(1) {
        assert_eq!(c, &configs[0], "node {} and node 1 hold a different /zookeeper/config", i + 1);
    }
    let trees: Vec<_> = trees
        .into_iter()
        .map(|mut t| {
            t.remove("/zookeeper/config");
            t
        })
        .collect();
    for (i, t) in trees.iter().enumerate().skip(1) {
        for (path, node) in t.iter() {
            assert_eq!(Some(node), trees[0].get(path), "node {} and node 1 differ at {path}", i + 1);
        }
        assert_eq!(t.len(), trees[0].len(), "node {} and node 1 hold different node sets", i + 1);
    }
    assert!(trees[0].len() > acked.len(), "the walk missed nodes");
}

/// zkserver (sid 3) leads two Java nodes, then Java sid 2 leads, then the
/// zkserver again: the zkserver syncs from a Java leader by DIFF, and the
/// Java node from the zkserver leader by DIFF.
#[test]
fn two_java_one_zkserver() {
    leader_on_each_side([Flavor::Java, Flavor::Java, Flavor::Zkserver], false);
}

/// Java (sid 3) leads two zkservers, then zkserver sid 2 leads, then the
/// Java node again: the Java node syncs from a zkserver leader by DIFF,
/// and an emptied zkserver from the Java leader by SNAP.
#[test]
fn one_java_two_zkservers() {
    leader_on_each_side([Flavor::Zkserver, Flavor::Zkserver, Flavor::Java], true);
}

/// Session ownership, as the leader enforces it: a session opened on
/// follower 1 moves to follower 2, then to the leader (3), then back to
/// follower 1. Each time, a write still sent on the connection it left is
/// refused by the leader (SESSIONMOVED), and the server holding that
/// connection closes it unanswered: Java's FinalRequestProcessor turns the
/// code into a close, so the client sees the connection drop (checked on
/// an all-Java ensemble too). The refused writes never apply, and the
/// session, with its ephemeral, lives on where it moved.
fn session_moved(flavors: [Flavor; 3]) {
    let mut ens = Ensemble::new(&flavors, &[]);
    ens.start(3);
    ens.start(1);
    assert_leader(&ens, &[1, 3], 3);
    ens.start(2);
    assert_leader(&ens, &[1, 2, 3], 3);

    let first = ens.client(1);
    first
        .create("/owned", Some(b"1"), &ids::open_acl_unsafe(), CreateMode::Ephemeral)
        .expect("create on node 1");
    let (id, passwd) = (first.session_id(), first.session_passwd().to_vec());
    let mut left = first;
    let mut version = 0;
    for (to, data) in [(2, b"2"), (3, b"3"), (1, b"4")] {
        // One client, one xid counter: the new connection's xids follow
        // the two requests still to be sent on the old one. (Reused xids
        // would make a server match the old connection's refused write to
        // the new connection's pending request, as Java does too.)
        let mut opts = ConnectOptions::new(10_000);
        opts.session_id = id;
        opts.passwd = passwd.clone();
        opts.first_xid = left.next_xid() + 2;
        let here = ZkClient::connect_with(ens.node(to).client_addr().as_str(), &opts)
            .unwrap_or_else(|e| panic!("the session does not move to node {to}: {e}\n{}", ens.logs()));
        assert_eq!(here.session_id(), id);
        here.set_data("/owned", Some(data), version).expect("a write where the session is now");
        version += 1;
        // The connection it left: the write is refused and the connection
        // is closed.
        let stale = left.set_data("/owned", Some(b"stale"), -1);
        assert!(
            matches!(stale, Err(ZkError::Io(_))),
            "a write on the connection the session left (moving to node {to}) got {stale:?}\n{}",
            ens.logs()
        );
        assert!(left.exists("/owned", false).is_err(), "the old connection is still open");
        here.sync("/").expect("sync");
        let (got, st) = here.get_data("/owned", false).expect("getData");
        assert_eq!(got.as_deref(), Some(&data[..]), "the refused write applied");
        assert_eq!((st.version, st.ephemeral_owner), (version, id));
        left = here;
    }
    // The session is whole on every node.
    for sid in [1, 2, 3] {
        let c = ens.client(sid);
        c.sync("/").expect("sync");
        let (got, st) = c.get_data("/owned", false).expect("getData");
        assert_eq!((got.as_deref(), st.ephemeral_owner), (Some(&b"4"[..]), id), "node {sid}");
        let _ = c.close();
    }
    left.close().expect("close the moved session");
    let c = ens.client(2);
    c.sync("/").expect("sync");
    assert!(c.exists("/owned", false).expect("exists").is_none(), "the ephemeral outlived its session");
}

/// The behaviour of record: Java everywhere.
#[test]
fn session_moved_java_ensemble() {
    session_moved([Flavor::Java; 3]);
}

#[test]
fn session_moved_zkserver_ensemble() {
    session_moved([Flavor::Zkserver; 3]);
}

/// A zkserver leader refuses moved sessions of Java followers' clients.
#[test]
fn session_moved_zkserver_leader_java_followers() {
    session_moved([Flavor::Java, Flavor::Java, Flavor::Zkserver]);
}

/// zkserver followers close the connections a Java leader refused.
#[test]
fn session_moved_java_leader_zkserver_followers() {
    session_moved([Flavor::Zkserver, Flavor::Zkserver, Flavor::Java]);
}
