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
//!
//! After a leader isolation the followers can also be told, by the old
//! leader still stepping down, that it leads: a follower whose leader's
//! quorum port is closed must be back in the election after a few tries
//! (Java: 5, 100 ms apart), not after initLimit ticks.

mod common;

use common::ensemble::{logged_states, probe_vote, Ensemble};
use common::partition::Cut;
use common::{wait_until, Flavor};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use zkserver::quorum::quorum_cnx_manager::{InitialMessage, PROTOCOL_VERSION_V1};
use zkserver::quorum::vote::ServerState;
use zkserver::client::{ConnectOptions, ZkClient};
use zkserver::jute::records::SetDataRequest;
use zkserver::zoo_defs::{ids, op_code, CreateMode};

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
    // The highest sid wins an election between two fresh nodes (a quorum
    // of two must agree, and both prefer the larger sid); the third joins
    // the established leader. Starting all three at once let a slow
    // (loaded) Java node 3 lose to nodes 1 and 2 agreeing on 2 first.
    ens.start(LEADER);
    let up = wait_until(DEADLINE, || probe_vote(&ens.node(LEADER).election_addr()).is_some());
    assert!(up, "node {LEADER} does not answer on its election port\n{}", ens.logs());
    ens.start(1);
    ens.wait_mode(LEADER, "leader");
    ens.start(2);
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

/// A stand-in for server `sid` on node 1's election port: it announces
/// itself, sends one vote in the 40-byte form (state, leader, zxid 0,
/// election round 1, peer epoch 1) and passes on every notification node 1
/// sends it as (state, election round).
fn fake_voter(ens: &Ensemble, sid: i64, state: ServerState, leader: i64) -> mpsc::Receiver<(i32, i64)> {
    let mut s = TcpStream::connect(ens.node(1).election_addr()).expect("dial node 1's election port");
    s.write_all(&InitialMessage::encode(PROTOCOL_VERSION_V1, sid, &ens.node(sid).election_addr())).expect("announce");
    let mut vote = (state as i32).to_be_bytes().to_vec();
    for v in [leader, 0, 1, 1] {
        vote.extend_from_slice(&v.to_be_bytes());
    }
    // The form's last four bytes, which receivers ignore.
    vote.extend_from_slice(&[0; 4]);
    let mut frame = (vote.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&vote);
    s.write_all(&frame).expect("send the vote");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || loop {
        let mut len = [0u8; 4];
        if s.read_exact(&mut len).is_err() {
            return;
        }
        let mut buf = vec![0u8; i32::from_be_bytes(len).clamp(0, 512 * 1024) as usize];
        if s.read_exact(&mut buf).is_err() || buf.len() < 28 {
            return;
        }
        let state = i32::from_be_bytes(buf[0..4].try_into().expect("4 bytes"));
        let round = i64::from_be_bytes(buf[20..28].try_into().expect("8 bytes"));
        if tx.send((state, round)).is_err() {
            return;
        }
    });
    rx
}

/// Node 1 alone with two stand-ins: server 3 says it leads and server 2
/// that it follows 3, so node 1 follows 3 as an established leader; but 3's
/// quorum port is closed. initLimit is 100 ticks (50 s): node 1 must give
/// up and start a new election round long before that.
fn follower_of_a_departed_leader_returns_to_the_election(flavor: Flavor) {
    let mut ens = Ensemble::new(&[flavor, Flavor::Zkserver, Flavor::Zkserver], &[]);
    ens.set_cfg(1, "initLimit", "100");
    ens.start(1);
    let up = wait_until(DEADLINE, || probe_vote(&ens.node(1).election_addr()).is_some());
    assert!(up, "node 1 does not answer on its election port\n{}", ens.logs());
    let follower = fake_voter(&ens, 2, ServerState::Following, 3);
    let leader = fake_voter(&ens, 3, ServerState::Leading, 3);
    let joined = wait_until(DEADLINE, || logged_states(&ens.node(1).log()).iter().any(|s| s == "following"));
    assert!(joined, "node 1 did not follow the announced leader\n{}", ens.logs());
    let t0 = Instant::now();
    // Well under initLimit × tickTime, far above five tries 100 ms apart.
    let bound = Duration::from_secs(20);
    let looking = ServerState::Looking as i32;
    let mut back = false;
    while !back && t0.elapsed() < bound {
        for rx in [&follower, &leader] {
            if let Ok((state, round)) = rx.recv_timeout(Duration::from_millis(100)) {
                back |= state == looking && round >= 2;
            }
        }
    }
    assert!(back, "node 1 was not back in the election {bound:?} after following a closed port\n{}", ens.logs());
    eprintln!("{flavor:?}: back in the election {} ms after deciding to follow", t0.elapsed().as_millis());
}

#[test]
fn zkserver_follower_of_a_departed_leader_returns_to_the_election() {
    follower_of_a_departed_leader_returns_to_the_election(Flavor::Zkserver);
}

/// The specification: a Java node gives up after its 5 tries.
#[test]
fn java_follower_of_a_departed_leader_returns_to_the_election() {
    follower_of_a_departed_leader_returns_to_the_election(Flavor::Java);
}
