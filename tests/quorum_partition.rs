//! Liveness after a partition heals, on real 3-node ensembles (zkserver,
//! Java, mixed): the leader's quorum connections are silenced while a
//! write is in flight, both followers time out one after the other and
//! rejoin the same leader, which is still leading and hands them its
//! uncommitted proposal during the sync. Writes must commit again soon
//! after: a follower acknowledges the proposals it logged while syncing.
//!
//! The members get different syncLimits so the order of events does not
//! depend on luck: follower 1 gives up after 1 s, follower 2 after 2 s
//! (each rejoins while the other still follows), and the leader tolerates
//! 10 s of silence, so it keeps leading throughout.

mod common;

use common::ensemble::{logged_states, probe_vote, Ensemble};
use common::partition::Cut;
use common::{wait_until, Flavor};
use std::time::{Duration, Instant};
use zkserver::client::{ConnectOptions, ZkClient};
use zkserver::jute::records::SetDataRequest;
use zkserver::server::zoo_defs::{ids, op_code, CreateMode};

const DEADLINE: Duration = Duration::from_secs(60);
const LEADER: i64 = 3;

fn times_following(ens: &Ensemble, sid: i64) -> usize {
    logged_states(&ens.node(sid).log()).iter().filter(|s| *s == "following").count()
}

/// A session on the leader whose calls wait at most `DEADLINE`.
fn leader_client(ens: &Ensemble) -> ZkClient {
    let mut opts = ConnectOptions::new(30_000);
    opts.reply_timeout = DEADLINE;
    ZkClient::connect_with(ens.node(LEADER).client_addr().as_str(), &opts).expect("session on the leader")
}

fn set_data(path: &str, data: &[u8]) -> SetDataRequest {
    SetDataRequest { path: path.to_string(), data: Some(data.to_vec()), version: -1 }
}

/// Runs the scenario of the module comment; returns how long no write
/// committed (from the cut to the in-flight write's reply).
fn followers_rejoin_with_a_write_in_flight(flavors: [Flavor; 3]) -> Duration {
    let mut ens = Ensemble::new(&flavors, &[]);
    ens.set_cfg(1, "syncLimit", "2");
    ens.set_cfg(2, "syncLimit", "4");
    ens.set_cfg(LEADER, "syncLimit", "20");
    // The highest sid, up first, wins the first election.
    ens.start(LEADER);
    let up = wait_until(DEADLINE, || probe_vote(&ens.node(LEADER).election_addr()).is_some());
    assert!(up, "node {LEADER} does not answer on its election port\n{}", ens.logs());
    ens.start(1);
    ens.start(2);
    ens.wait_mode(LEADER, "leader");
    ens.wait_mode(1, "follower");
    ens.wait_mode(2, "follower");
    let c = ens.client(LEADER);
    c.create("/w", Some(b"0"), &ids::open_acl_unsafe(), CreateMode::Persistent).expect("create /w");
    let writer = leader_client(&ens);
    let probe = leader_client(&ens);
    let joined = [times_following(&ens, 1), times_following(&ens, 2)];
    let leader_states = logged_states(&ens.node(LEADER).log()).len();

    let quorum_port = ens.node(LEADER).quorum_port;
    let t0 = Instant::now();
    let (silenced, cut) = Cut::established_to(quorum_port);
    assert_eq!(silenced, 2, "expected one quorum connection per follower\n{}", ens.logs());
    // Proposed while no follower can hear it: the rejoining followers get
    // it in their sync.
    writer.send(op_code::SET_DATA, &set_data("/w", b"in flight")).expect("send the in-flight write");

    let rejoined = wait_until(DEADLINE, || times_following(&ens, 1) > joined[0] && times_following(&ens, 2) > joined[1]);
    assert!(rejoined, "the followers did not rejoin\n{}", ens.logs());
    let in_flight = writer.recv();
    let stalled = t0.elapsed();
    assert!(
        matches!(&in_flight, Ok(r) if r.header.err == 0),
        "the write in flight at the cut never committed: {:?}\n{}",
        in_flight.map(|r| r.header),
        ens.logs()
    );
    let after = probe.submit(op_code::SET_DATA, &set_data("/w", b"after"));
    assert!(matches!(&after, Ok(r) if r.header.err == 0), "a new write did not commit: {after:?}\n{}", ens.logs());
    drop(cut);

    // The scenario is the one meant: the same leader throughout.
    assert_eq!(ens.mode(LEADER).as_deref(), Some("leader"));
    let states = logged_states(&ens.node(LEADER).log());
    assert!(!states[leader_states..].contains(&"looking".to_string()), "the leader stepped down: {states:?}");
    for sid in [1, 2] {
        let f = ens.client(sid);
        f.sync("/").expect("sync");
        assert_eq!(f.get_data("/w", false).expect("read /w").0.as_deref(), Some(&b"after"[..]), "node {sid}");
    }
    eprintln!("{flavors:?}: no write committed for {} ms after the cut", stalled.as_millis());
    stalled
}

#[test]
fn zkserver_followers_ack_the_proposals_of_their_sync() {
    followers_rejoin_with_a_write_in_flight([Flavor::Zkserver; 3]);
}

#[test]
fn zkserver_followers_of_a_java_leader_ack_the_proposals_of_their_sync() {
    followers_rejoin_with_a_write_in_flight([Flavor::Zkserver, Flavor::Zkserver, Flavor::Java]);
}

/// The specification, for comparison: Java followers of a Java leader.
#[test]
fn java_ensemble_recovers_from_the_same_partition() {
    followers_rejoin_with_a_write_in_flight([Flavor::Java; 3]);
}
