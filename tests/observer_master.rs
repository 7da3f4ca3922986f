//! observerMasterPort on real ensembles: a zkserver observer syncs from a
//! Java follower's ObserverMaster (not from the leader), reads what the
//! ensemble writes, writes through it reach every server, and when the
//! follower it uses dies it moves to another one, with Java and with
//! zkserver leaders. Each node listens on its own loopback address, so
//! that every voter can serve the same port.

mod common;

use common::ensemble::Ensemble;
use common::{four_letter, free_port, wait_until, Flavor};
use std::time::Duration;
use zkserver::zoo_defs::{ids, CreateMode};

const DEADLINE: Duration = Duration::from_secs(40);

/// One figure of node `sid`'s mntr, if it serves.
fn mntr(ens: &Ensemble, sid: i64, key: &str) -> Option<String> {
    let out = four_letter(&ens.node(sid).client_addr(), "mntr").ok()?;
    out.lines().find_map(|l| l.strip_prefix(&format!("zk_{key}\t")).map(str::to_string))
}

/// The voter observer `sid` syncs from, once it is one of `followers`.
#[track_caller]
fn wait_observer_master(ens: &Ensemble, sid: i64, followers: &[i64]) -> i64 {
    let mut seen = None;
    let ok = wait_until(DEADLINE, || {
        seen = mntr(ens, sid, "observer_master_id").and_then(|v| v.parse::<i64>().ok());
        seen.is_some_and(|m| followers.contains(&m))
    });
    assert!(ok, "observer {sid} syncs from {seen:?}, not one of {followers:?}\n{}", ens.logs());
    seen.unwrap_or(-1)
}

fn write(ens: &Ensemble, sid: i64, path: &str, acked: &mut Vec<(String, Vec<u8>)>) {
    ens.client(sid)
        .create(path, Some(b"v"), &ids::open_acl_unsafe(), CreateMode::Persistent)
        .unwrap_or_else(|e| panic!("create {path} through node {sid}: {e}\n{}", ens.logs()));
    acked.push((path.to_string(), b"v".to_vec()));
}

/// Voters 1-3 of `voters`, observer 4 (zkserver); `masters` are the voters
/// given observerMasterPort (the observer has it too). The observer must
/// sync from one of them, never from the leader.
fn observe_through_observer_masters(voters: [Flavor; 3], masters: &[i64], net: u8) {
    let mut ens = Ensemble::new_on_hosts(&[voters[0], voters[1], voters[2], Flavor::Zkserver], &[], net);
    ens.make_observer(4);
    let port = free_port().to_string();
    for &sid in masters.iter().chain(&[4]) {
        ens.set_cfg(sid, "observerMasterPort", &port);
    }
    ens.start_all();
    let leader = ens.settled_leader(&[1, 2, 3]);
    let followers: Vec<i64> = masters.iter().copied().filter(|s| *s != leader).collect();
    assert_eq!(followers.len(), 2, "leader {leader} should be the voter without the key\n{}", ens.logs());
    let master = wait_observer_master(&ens, 4, &followers);
    ens.wait_mode(4, "observer");
    // The follower serves the observer; the leader has no observer.
    let ok = wait_until(DEADLINE, || mntr(&ens, master, "synced_observers").as_deref() == Some("1"));
    assert!(ok, "follower {master} does not count the observer: {:?}\n{}", mntr(&ens, master, "synced_observers"), ens.logs());
    assert_eq!(mntr(&ens, leader, "synced_observers").as_deref(), Some("0"), "the leader serves the observer");

    let mut acked = Vec::new();
    write(&ens, leader, "/om-leader", &mut acked);
    write(&ens, 4, "/om-observer", &mut acked);
    for sid in 1..=4 {
        ens.assert_has_all(sid, &acked);
    }

    // The follower it syncs from dies: it moves to the other one.
    ens.kill9(master);
    let other: Vec<i64> = followers.iter().copied().filter(|s| *s != master).collect();
    wait_observer_master(&ens, 4, &other);
    write(&ens, 4, "/om-moved", &mut acked);
    for sid in [leader, other[0], 4] {
        ens.assert_has_all(sid, &acked);
    }
}

#[test]
fn a_zkserver_observer_syncs_from_java_followers_observer_masters() {
    // All three voters have the key; whichever leads, the observer uses a
    // follower.
    observe_through_observer_masters([Flavor::Java; 3], &[1, 2, 3], 211);
}

#[test]
fn a_java_follower_relays_a_zkserver_observer_to_a_zkserver_leader() {
    // From the same zxid the highest sid, zkserver 3 (without the key),
    // leads; the observer's requests reach it through a Java follower.
    observe_through_observer_masters([Flavor::Java, Flavor::Java, Flavor::Zkserver], &[1, 2], 212);
}
