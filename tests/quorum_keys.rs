//! Quorum keys Java 3.8 honours, on real ensembles: a hierarchical quorum
//! (`group.N`) of one Java and two zkserver nodes elects, replicates, and
//! stops serving when a majority of the servers survives but not a majority
//! of the groups; a leader given zookeeper.leader.maxTimeToWaitForEpoch
//! quits waiting for its epoch when a voter that elected it looks again.

mod common;

use common::ensemble::Ensemble;
use common::{four_letter, wait_until, Flavor};
use std::time::Duration;
use zkserver::zoo_defs::{ids, CreateMode};

const DEADLINE: Duration = Duration::from_secs(40);

#[test]
fn hierarchical_quorum_needs_a_majority_of_groups() {
    // Group 1 is servers 1 and 2, group 2 is server 3: a quorum needs
    // server 3 and one of the others.
    let groups = [("group.1", "1:2"), ("group.2", "3")];
    let mut ens = Ensemble::new(&[Flavor::Java, Flavor::Zkserver, Flavor::Zkserver], &groups);
    ens.start_all();
    ens.settled_leader(&[1, 2, 3]);

    let mut acked = Vec::new();
    for sid in [1, 2, 3] {
        let c = ens.client(sid);
        let path = format!("/h-{sid}");
        c.create(&path, Some(b"v"), &ids::open_acl_unsafe(), CreateMode::Persistent)
            .unwrap_or_else(|e| panic!("create {path} through node {sid}: {e}\n{}", ens.logs()));
        acked.push((path, b"v".to_vec()));
    }
    for sid in [1, 2, 3] {
        ens.assert_has_all(sid, &acked);
    }

    // Servers 1 and 2 are two of three, but only one of the two groups.
    ens.kill9(3);
    let stopped = wait_until(DEADLINE, || ens.mode(1).is_none() && ens.mode(2).is_none());
    assert!(stopped, "servers 1 and 2 still serve without group 2: {:?} {:?}\n{}", ens.mode(1), ens.mode(2), ens.logs());

    ens.start(3);
    ens.settled_leader(&[1, 2, 3]);
    for sid in [1, 2, 3] {
        ens.assert_has_all(sid, &acked);
    }
}

/// The names of a process's threads.
fn thread_names(pid: u32) -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return Vec::new() };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .map(|n| n.trim().to_string())
        .collect()
}

#[track_caller]
fn wait_log(ens: &Ensemble, sid: i64, text: &str) {
    let ok = wait_until(DEADLINE, || ens.node(sid).log().contains(text));
    assert!(ok, "node {sid} never logged {text:?}\n{}", ens.logs());
}

/// Files of node `sid`'s txn log directory whose names start with `prefix`.
fn version2_files(ens: &Ensemble, sid: i64, prefix: &str) -> usize {
    let dir = ens.node(sid).data_dir().join("version-2");
    std::fs::read_dir(dir)
        .map(|d| d.flatten().filter(|e| e.file_name().to_string_lossy().starts_with(prefix)).count())
        .unwrap_or(0)
}

#[test]
fn learner_and_leader_keys_on_a_mixed_ensemble() {
    // Servers 1 (Java) and 2 (zkserver) vote, 3 (zkserver) observes; from
    // the same zxid the higher sid, 2, leads.
    let mut ens = Ensemble::new(&[Flavor::Java, Flavor::Zkserver, Flavor::Zkserver], &[("jvm.pause.monitor", "true")]);
    ens.make_observer(3);
    ens.set_cfg(3, "syncEnabled", "false");
    for (k, v) in [
        ("zookeeper.learner.asyncSending", "true"),
        ("zookeeper.learner.closeSocketAsync", "true"),
        ("zookeeper.leader.closeSocketAsync", "true"),
        ("zookeeper.forceSnapshotSync", "true"),
        ("zookeeper.observer.reconnectDelayMs", "300"),
        ("zookeeper.quorumCnxnTimeoutMs", "3000"),
        ("leader.nodelay", "false"),
        ("zookeeper.testingonly.initialZxid", "4096"),
        ("zookeeper.forward_learner_requests_to_commit_processor_disabled", "true"),
    ] {
        ens.set_system_property(k, v);
    }
    ens.start_all();
    assert_eq!(ens.settled_leader(&[1, 2]), 2, "{}", ens.logs());
    ens.wait_mode(3, "observer");

    // forceSnapshotSync: both learners, at the leader's zxid already, get
    // a SNAP rather than an empty DIFF.
    wait_log(&ens, 1, "Getting a snapshot from leader");
    wait_log(&ens, 3, "Getting a snapshot from leader");
    // observer.reconnectDelayMs: the observer waited before it connected.
    wait_log(&ens, 3, "before reconnecting with the leader");
    // learner.asyncSending: the observer writes through its LearnerSender;
    // jvm.pause.monitor: the monitor runs.
    let pid = ens.pid(3).expect("observer runs");
    let names = thread_names(pid);
    assert!(names.iter().any(|n| n == "LearnerSender:3"), "no LearnerSender thread: {names:?}");
    assert!(names.iter().any(|n| n == "JvmPauseMonitor"), "no JvmPauseMonitor thread: {names:?}");

    // Writes through each node (the observer's go to the leader through
    // its LearnerSender) reach every node.
    let mut acked = Vec::new();
    for sid in [1, 2, 3] {
        let c = ens.client(sid);
        let path = format!("/k-{sid}");
        c.create(&path, Some(b"v"), &ids::open_acl_unsafe(), CreateMode::Persistent)
            .unwrap_or_else(|e| panic!("create {path} through node {sid}: {e}\n{}", ens.logs()));
        acked.push((path, b"v".to_vec()));
    }
    for sid in [1, 2, 3] {
        ens.assert_has_all(sid, &acked);
    }
    // forward_learner_requests_to_commit_processor_disabled: the writes
    // learners forwarded went to the leader's CommitProcessor only as
    // commits.
    let mntr = four_letter(&ens.node(2).client_addr(), "mntr").expect("mntr");
    let skipped = mntr
        .lines()
        .find_map(|l| l.strip_prefix("zk_requests_not_forwarded_to_commit_processor\t"))
        .and_then(|v| v.trim().parse::<u64>().ok());
    assert!(skipped.is_some_and(|n| n >= 2), "learners' writes were forwarded: {skipped:?}");
    // testingonly.initialZxid: the epoch's counter started at 4096.
    let (_, st) = ens.client(1).get_data("/k-1", false).expect("get /k-1");
    assert!(st.czxid & 0xffff_ffff > 4096, "czxid 0x{:x}", st.czxid);
    // syncEnabled=false: the observer keeps no txn log; the leader does.
    assert!(version2_files(&ens, 2, "log.") > 0, "the leader has no txn log");
    assert_eq!(version2_files(&ens, 3, "log."), 0, "the observer logged txns with syncEnabled=false");

    // The observer comes back after a kill (the leader closing its old
    // socket on a CloseSocketThread) and catches up.
    ens.kill9(3);
    ens.start(3);
    ens.wait_mode(3, "observer");
    ens.assert_has_all(3, &acked);
}

#[test]
fn an_oracle_lets_one_of_two_servers_go_on_alone() {
    // Two voters: zkserver 1, whose oracle says 1, and Java 2, whose
    // oracle says 0.
    let mut ens = Ensemble::new(&[Flavor::Zkserver, Flavor::Java], &[]);
    for (sid, says) in [(1, "1"), (2, "0")] {
        let oracle = ens.node(sid).data_dir().join("oracle");
        std::fs::write(&oracle, says).expect("write oracle");
        ens.set_cfg(sid, "oraclePath", &oracle.display().to_string());
    }
    let mut acked = Vec::new();
    let write = |ens: &Ensemble, sid: i64, path: &str, acked: &mut Vec<(String, Vec<u8>)>| {
        ens.client(sid)
            .create(path, Some(b"v"), &ids::open_acl_unsafe(), CreateMode::Persistent)
            .unwrap_or_else(|e| panic!("create {path} through node {sid}: {e}\n{}", ens.logs()));
        acked.push((path.to_string(), b"v".to_vec()));
    };

    // Alone, server 1 elects itself on its oracle's word and commits alone.
    ens.start(1);
    ens.wait_mode(1, "leader");
    write(&ens, 1, "/o-alone", &mut acked);

    // Server 2, its oracle saying 0, follows the leader it hears from.
    ens.start(2);
    ens.wait_mode(2, "follower");
    write(&ens, 2, "/o-both", &mut acked);
    ens.assert_has_all(2, &acked);

    // Server 1 goes on when its follower dies, and takes it back.
    ens.kill9(2);
    write(&ens, 1, "/o-alone-again", &mut acked);
    assert_eq!(ens.mode(1).as_deref(), Some("leader"));
    ens.start(2);
    ens.wait_mode(2, "follower");
    ens.assert_has_all(2, &acked);

    // Alone, server 2 may not go on: its oracle says 0.
    ens.kill9(1);
    let stopped = wait_until(DEADLINE, || ens.mode(2).is_none());
    assert!(stopped, "server 2 serves alone against its oracle\n{}", ens.logs());
}

#[test]
fn a_leader_quits_waiting_for_its_epoch_when_a_voter_looks_again() {
    // Servers 1 and 2 of three: 2 leads, but 1 has 2's quorum port wrong,
    // so it cannot connect and looks again. With
    // zookeeper.leader.maxTimeToWaitForEpoch=0, leader 2 gives up at once
    // instead of waiting out initLimit (30 s here), as Java does. The same
    // with a Java leader, side by side.
    let ensembles: Vec<Ensemble> = [Flavor::Zkserver, Flavor::Java]
        .into_iter()
        .map(|leader| {
            let mut ens = Ensemble::new(&[Flavor::Zkserver, leader, Flavor::Zkserver], &[]);
            for sid in [1, 2] {
                ens.set_cfg(sid, "initLimit", "60");
            }
            let n2 = ens.node(2);
            let wrong = format!("127.0.0.1:{}:{}", common::free_port(), n2.election_port);
            ens.set_cfg(1, "server.2", &wrong);
            ens.set_system_property("zookeeper.leader.maxTimeToWaitForEpoch", "0");
            ens.start(1);
            ens.start(2);
            ens
        })
        .collect();
    for ens in &ensembles {
        wait_log(ens, 2, "Quit leading due to voter changed mind.");
        wait_log(ens, 2, "Timeout while waiting for epoch from quorum");
    }
}
