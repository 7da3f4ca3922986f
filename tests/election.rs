//! Leader election across zkserver and Java 3.8 nodes: who gets elected,
//! that every node agrees, mixed ensembles, a node joining an established
//! ensemble, restarts, and the start-up refusals. A node's vote is read over
//! the election protocol itself (`probe_vote`) and from the
//! "Peer state changed" lines both servers log.

mod common;

use common::ensemble::{logged_states, probe_vote, Ensemble};
use common::{four_letter, wait_until, Flavor};
use std::time::Duration;
use zkserver::quorum::vote::ServerState;

const ELECTION_DEADLINE: Duration = Duration::from_secs(30);

/// Waits until every node in `sids` answers with a decided state for one
/// leader, which says LEADING while the others say FOLLOWING; returns it.
#[track_caller]
fn agreed_leader(ens: &Ensemble, sids: &[i64]) -> i64 {
    let mut last = Vec::new();
    let mut leader = None;
    let agreed = wait_until(ELECTION_DEADLINE, || {
        last = sids.iter().map(|sid| (*sid, probe_vote(&ens.node(*sid).election_addr()))).collect();
        leader = last.first().and_then(|(_, v)| v.map(|(_, l)| l));
        // The leader is one of `sids`: right after a leader is killed its
        // followers still name it until they notice.
        last.iter().all(|(sid, v)| {
            let Some(l) = leader.filter(|l| sids.contains(l)) else { return false };
            let want = if *sid == l { ServerState::Leading } else { ServerState::Following };
            *v == Some((want, l))
        })
    });
    assert!(agreed, "nodes {sids:?} did not agree on a leader: {last:?}\n{}", ens.logs());
    leader.unwrap_or_default()
}

/// As `agreed_leader`, and the leader must be `leader`.
#[track_caller]
fn assert_agree(ens: &Ensemble, sids: &[i64], leader: i64) {
    assert_eq!(agreed_leader(ens, sids), leader, "\n{}", ens.logs());
}

/// The last "Election decided" line of a zkserver node names `leader`.
#[track_caller]
fn assert_zkserver_logged_leader(ens: &Ensemble, sid: i64, leader: i64) {
    let log = ens.node(sid).log();
    let line = log.lines().rfind(|l| l.contains("Election decided: leader is server"));
    assert!(
        line.is_some_and(|l| l.contains(&format!("leader is server {leader} "))),
        "node {sid} logged {line:?}"
    );
}

#[test]
fn three_zkservers_elect_the_highest_sid() {
    let mut ens = Ensemble::new(&[Flavor::Zkserver; 3], &[]);
    ens.start_all();
    assert_agree(&ens, &[1, 2, 3], 3);
    for sid in 1..=3 {
        assert_zkserver_logged_leader(&ens, sid, 3);
        let want = if sid == 3 { "leading" } else { "following" };
        // Only that role, though perhaps more than once: on a loaded
        // machine a follower can give up dialling a leader still binding
        // its quorum port, and be elected into the same role again.
        let states = logged_states(&ens.node(sid).log());
        assert!(!states.is_empty() && states.iter().all(|s| s == want), "node {sid}: {states:?}");
        // Once synced, each node serves in its role.
        let addr = ens.node(sid).client_addr();
        let mode = if sid == 3 { "leader" } else { "follower" };
        let serving = wait_until(ELECTION_DEADLINE, || java_mode(&addr).as_deref() == Some(mode));
        assert!(serving, "node {sid} never served as {mode}\n{}", ens.logs());
        assert_eq!(four_letter(&addr, "ruok").unwrap(), "imok");
    }
    // The new leader's epoch 1 is accepted and current everywhere.
    for sid in 1..=3 {
        let snap = ens.node(sid).data_dir().join("version-2");
        assert_eq!(std::fs::read_to_string(snap.join("currentEpoch")).unwrap(), "1", "node {sid}");
        assert_eq!(std::fs::read_to_string(snap.join("acceptedEpoch")).unwrap(), "1", "node {sid}");
    }
}

#[test]
fn killed_zkservers_rejoin_the_same_decision() {
    let mut ens = Ensemble::new(&[Flavor::Zkserver; 3], &[]);
    ens.start_all();
    assert_agree(&ens, &[1, 2, 3], 3);
    // A follower comes back and learns the established leader.
    ens.kill9(1);
    ens.start(1);
    assert_agree(&ens, &[1, 2, 3], 3);
    assert_zkserver_logged_leader(&ens, 1, 3);
    // The leader dies: its followers elect one of them (the one with the
    // newest zxid, else the higher sid), and the old leader comes back as
    // a follower of the new one.
    ens.kill9(3);
    let leader = agreed_leader(&ens, &[1, 2]);
    ens.start(3);
    assert_agree(&ens, &[1, 2, 3], leader);
    assert_eq!(logged_states(&ens.node(3).log()), vec!["leading", "following"]);
}

/// Java's `srvr` once it serves: "Mode: leader" / "Mode: follower".
fn java_mode(addr: &str) -> Option<String> {
    let out = four_letter(addr, "srvr").ok()?;
    out.lines().find_map(|l| l.strip_prefix("Mode: ")).map(str::to_string)
}

#[test]
fn two_java_and_one_zkserver_agree() {
    // sid 1 is zkserver; the Java nodes 2 and 3 form the serving quorum.
    // zkserver starts within a millisecond, a JVM within seconds: had it
    // met Java 2 alone, the two would rightly elect 2, which only a Leader
    // role could later give up. So zkserver starts once both Java nodes
    // answer on their election ports (in their election or just after it).
    let mut ens = Ensemble::new(&[Flavor::Zkserver, Flavor::Java, Flavor::Java], &[]);
    ens.start(2);
    ens.start(3);
    let up = wait_until(ELECTION_DEADLINE, || {
        probe_vote(&ens.node(2).election_addr()).is_some() && probe_vote(&ens.node(3).election_addr()).is_some()
    });
    assert!(up, "the Java nodes' election ports never answered\n{}", ens.logs());
    ens.start(1);
    // Usually 3; 2 when the zkserver meets Java 2 before Java 3 has
    // reached it (then 3 joins their decision). Never zkserver 1, the
    // lowest sid.
    let leader = agreed_leader(&ens, &[1, 2, 3]);
    assert!(leader == 2 || leader == 3, "leader {leader}");
    let follower = 5 - leader;
    assert_zkserver_logged_leader(&ens, 1, leader);
    let serving = wait_until(ELECTION_DEADLINE, || {
        java_mode(&ens.node(leader).client_addr()).as_deref() == Some("leader")
            && java_mode(&ens.node(follower).client_addr()).as_deref() == Some("follower")
    });
    assert!(serving, "the Java nodes never served\n{}", ens.logs());
    assert!(logged_states(&ens.node(leader).log()).contains(&"leading".to_string()));
    assert!(logged_states(&ens.node(follower).log()).contains(&"following".to_string()));
    assert_eq!(logged_states(&ens.node(1).log()), vec!["following"]);
}

#[test]
fn one_java_and_two_zkservers_agree() {
    // The zkservers elect 3 before the JVM is up; the Java node (sid 2)
    // must accept their notifications and follow zkserver 3 (it cannot sync
    // with it yet, so it falls back to LOOKING and rejoins the same
    // decision).
    let mut ens = Ensemble::new(&[Flavor::Zkserver, Flavor::Java, Flavor::Zkserver], &[]);
    ens.start_all();
    assert_agree(&ens, &[1, 2, 3], 3);
    assert_zkserver_logged_leader(&ens, 1, 3);
    assert_zkserver_logged_leader(&ens, 3, 3);
    assert_eq!(logged_states(&ens.node(2).log()).first().map(String::as_str), Some("following"));
}

#[test]
fn zkserver_joining_an_established_java_ensemble_learns_its_leader() {
    // Java 1 and 2 form an ensemble (leader 2) before zkserver 3, the
    // highest sid, starts: it must follow 2, not take over.
    let mut ens = Ensemble::new(&[Flavor::Java, Flavor::Java, Flavor::Zkserver], &[]);
    ens.start(1);
    ens.start(2);
    let serving = wait_until(ELECTION_DEADLINE, || {
        java_mode(&ens.node(2).client_addr()).as_deref() == Some("leader")
            && java_mode(&ens.node(1).client_addr()).as_deref() == Some("follower")
    });
    assert!(serving, "the Java nodes never formed an ensemble\n{}", ens.logs());
    ens.start(3);
    assert_agree(&ens, &[1, 2, 3], 2);
    assert_zkserver_logged_leader(&ens, 3, 2);
    assert_eq!(logged_states(&ens.node(3).log()), vec!["following"]);
    // The Java ensemble never noticed a change of leader.
    assert_eq!(java_mode(&ens.node(2).client_addr()).as_deref(), Some("leader"));
}

/// Starts node 1 of a fresh zkserver ensemble after `setup` and returns its
/// exit code and log once it exits.
fn refused_start(extra: &[(&str, &str)], setup: impl FnOnce(&Ensemble)) -> (Option<i32>, String) {
    let mut ens = Ensemble::new(&[Flavor::Zkserver; 3], extra);
    setup(&ens);
    ens.start(1);
    let mut status = None;
    let exited = wait_until(Duration::from_secs(10), || {
        status = ens.node_mut(1).exit_status();
        status.is_some()
    });
    assert!(exited, "node 1 did not exit\n{}", ens.logs());
    (status.and_then(|s| s.code()), ens.node(1).log())
}

#[test]
fn bad_myid_and_election_alg_are_refused_as_java_does() {
    // Java: IllegalArgumentException "serverid two is not a number" -> 2.
    let (code, log) = refused_start(&[], |ens| {
        std::fs::write(ens.node(1).data_dir().join("myid"), "two\n").unwrap();
    });
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("\"two\" is not a server id"), "{log}");
    // Java: "myid file is missing" -> 2.
    let (code, log) = refused_start(&[], |ens| std::fs::remove_file(ens.node(1).data_dir().join("myid")).unwrap());
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("myid file is missing"), "{log}");
    // Java: RuntimeException "My id 7 not in the peer list" -> 1.
    let (code, log) = refused_start(&[], |ens| {
        std::fs::write(ens.node(1).data_dir().join("myid"), "7").unwrap();
    });
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("My id 7 not in the peer list"), "{log}");
    // Java: "Invalid electionAlg value. Only 3 is supported." -> 2.
    let (code, log) = refused_start(&[("electionAlg", "1")], |_| {});
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("electionAlg: \"1\" is not supported (only 3)"), "{log}");
}
