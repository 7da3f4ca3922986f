//! Elections of several `FastLeaderElectionCore`s in one test, joined by a tiny
//! deterministic message pump instead of sockets and threads: ZooKeeper's
//! own FastLeaderElection test scenarios (FLETest, FLELostMessageTest,
//! FLEBackwardElectionRoundTest, FLEMalformedNotificationMessageTest,
//! FLERestartTest, FLENewEpochTest) replayed on the cores.
//!
//! The pump is the seed of the ensemble simulator (issue 11). Each node is
//! what a peer's election threads hold: its core, its state and current
//! vote (QuorumPeer), and its election queue (recvqueue). A notification
//! travels as the WorkerSender would send it (bytes with the membership),
//! is parsed and answered as the WorkerReceiver does (`answer`), and queued
//! notifications are stepped as `look_for_leader` steps them. The network
//! has no latency and delivers in order; time (milliseconds) only moves
//! when nothing is in flight, straight to the earliest timeout. Peers that a test plays
//! by hand are sids without a node: what is sent to them is kept in
//! `outside`, and `inject` delivers what they say.

use super::core::{Decision, FastLeaderElectionCore, Outgoing, Step, Timing};
use super::{build_msg, Notification, FINALIZE_WAIT_MS};
use crate::quorum::quorum_verifier::QuorumVerifier;
use crate::quorum::quorum_peer_config::{LearnerType, QuorumSpec};
use crate::quorum::vote::{ServerState, Vote};
use std::collections::{BTreeMap, VecDeque};

/// A majority verifier over `voters` (and `observers`).
pub(super) fn verifier(voters: &[i64], observers: &[i64]) -> QuorumVerifier {
    let line = |sid: i64, kind: &str| {
        let port = 10_000 + 2 * sid;
        (format!("server.{sid}"), format!("127.0.0.1:{port}:{}{kind}", port + 1))
    };
    let mut pairs: Vec<(String, String)> = voters.iter().map(|s| line(*s, "")).collect();
    pairs.extend(observers.iter().map(|s| line(*s, ":observer")));
    QuorumVerifier::new(QuorumSpec::from_pairs(&pairs, false, false).expect("membership"))
}

/// Java's defaults: 200 ms doubling up to 60 s, finalizeWait 200 ms.
pub(super) fn java_timing() -> Timing {
    Timing { min_notification_interval_ms: 200, max_notification_interval_ms: 60_000, finalize_wait_ms: FINALIZE_WAIT_MS }
}

/// One peer as its election threads see it.
struct Node {
    core: FastLeaderElectionCore,
    state: ServerState,
    current: Vote,
    /// The election's queue (recvqueue).
    inbox: VecDeque<Notification>,
    wake_at: Option<u64>,
    last_zxid: i64,
    epoch: i64,
    up: bool,
}

/// Whether a message sent at a time by a sid is lost on the way.
type Loss = Box<dyn FnMut(u64, i64, &Outgoing) -> bool>;

/// The nodes, the wire between them and the clock.
struct Pump {
    now: u64,
    verifier: QuorumVerifier,
    nodes: BTreeMap<i64, Node>,
    wire: VecDeque<(i64, Outgoing)>,
    /// What nodes sent to peers played by the test: (from, message).
    outside: Vec<(i64, Outgoing)>,
    lost: Loss,
    /// Every decision: (when, who, what).
    decisions: Vec<(u64, i64, Decision)>,
}

impl Pump {
    fn new(verifier: QuorumVerifier) -> Pump {
        Pump {
            now: 0,
            verifier,
            nodes: BTreeMap::new(),
            wire: VecDeque::new(),
            outside: Vec::new(),
            lost: Box::new(|_, _, _| false),
            decisions: Vec::new(),
        }
    }

    /// A peer with its database's last zxid and its current epoch, not
    /// started yet: nothing reaches it until it first looks.
    fn add(&mut self, sid: i64, learner_type: LearnerType, last_zxid: i64, epoch: i64) {
        let core = FastLeaderElectionCore::new(sid, learner_type, self.verifier.clone(), java_timing());
        let node = Node {
            core,
            state: ServerState::Looking,
            current: Vote::initial(sid, last_zxid, epoch),
            inbox: VecDeque::new(),
            wake_at: None,
            last_zxid,
            epoch,
            up: false,
        };
        self.nodes.insert(sid, node);
    }

    /// A participant per sid, all with the same history.
    fn with_participants(sids: &[i64], last_zxid: i64, epoch: i64) -> Pump {
        let mut pump = Pump::new(verifier(sids, &[]));
        for sid in sids {
            pump.add(*sid, LearnerType::Participant, last_zxid, epoch);
        }
        pump
    }

    fn node(&mut self, sid: i64) -> &mut Node {
        self.nodes.get_mut(&sid).expect("node")
    }

    /// The peer goes LOOKING and starts an election (lookForLeader).
    fn look(&mut self, sid: i64) {
        let now = self.now;
        let n = self.node(sid);
        n.up = true;
        n.state = ServerState::Looking;
        let (zxid, epoch) = (n.last_zxid, n.epoch);
        let step = n.core.start(zxid, epoch, now);
        self.apply(sid, step);
    }

    /// The peer starts over as a new process: a new core (round 0) with
    /// the same history, looking.
    fn restart(&mut self, sid: i64, learner_type: LearnerType) {
        let core = FastLeaderElectionCore::new(sid, learner_type, self.verifier.clone(), java_timing());
        let n = self.node(sid);
        n.core = core;
        n.inbox.clear();
        self.look(sid);
    }

    /// The peer stops: its election ends and nothing reaches it.
    fn crash(&mut self, sid: i64) {
        let n = self.node(sid);
        n.up = false;
        n.wake_at = None;
        n.inbox.clear();
    }

    /// A notification from a peer the test plays.
    fn inject(&mut self, from: i64, msg: Outgoing) {
        self.wire.push_back((from, msg));
    }

    /// Carries out what a core asked, as `look_for_leader` does.
    fn apply(&mut self, sid: i64, step: Step) {
        let now = self.now;
        self.wire.extend(step.sends.into_iter().map(|m| (sid, m)));
        let n = self.node(sid);
        if let Some(q) = step.requeue {
            n.inbox.push_back(q);
        }
        n.wake_at = step.wake_at;
        if let Some(d) = step.decision {
            n.current = d.vote;
            n.state = d.state;
            n.inbox.clear();
            self.decisions.push((now, sid, d));
        }
    }

    /// One message reaches its destination's WorkerReceiver, in the bytes
    /// the WorkerSender makes of it.
    fn deliver(&mut self, from: i64, m: Outgoing) {
        if (self.lost)(self.now, from, &m) {
            return;
        }
        if !self.nodes.contains_key(&m.to) {
            self.outside.push((from, m));
            return;
        }
        let config = self.verifier.config_string().into_bytes();
        let bytes = build_msg(m.state, m.leader, m.zxid, m.election_epoch, m.peer_epoch, &config);
        self.receive_bytes(from, m.to, &bytes);
    }

    /// The WorkerReceiver of `to` gets `bytes` from `from`: what does not
    /// parse is skipped.
    fn receive_bytes(&mut self, from: i64, to: i64, bytes: &[u8]) {
        let Some(node) = self.nodes.get_mut(&to).filter(|n| n.up) else { return };
        let Ok(n) = Notification::parse(bytes, from) else { return };
        let receipt = node.core.answer(&n, node.state, &node.current);
        if receipt.to_election {
            node.inbox.push_back(n);
        }
        if let Some(reply) = receipt.reply {
            self.wire.push_back((to, reply));
        }
    }

    /// Runs until `until`: the wire first, then queued notifications
    /// (lowest sid first), then time jumps to the earliest timeout.
    fn run_until(&mut self, until: u64) {
        loop {
            if let Some((from, m)) = self.wire.pop_front() {
                self.deliver(from, m);
                continue;
            }
            let queued = self.nodes.iter().find(|(_, n)| n.up && n.wake_at.is_some() && !n.inbox.is_empty()).map(|(s, _)| *s);
            if let Some(sid) = queued {
                let now = self.now;
                let node = self.node(sid);
                let Some(n) = node.inbox.pop_front() else { continue };
                let step = node.core.receive(n, now);
                self.apply(sid, step);
                continue;
            }
            let next = self.nodes.iter().filter(|(_, n)| n.up).filter_map(|(s, n)| n.wake_at.map(|w| (w, *s))).min();
            match next {
                Some((at, sid)) if at <= until => {
                    self.now = self.now.max(at);
                    let now = self.now;
                    let step = self.node(sid).core.tick(now, true);
                    self.apply(sid, step);
                }
                _ => {
                    self.now = self.now.max(until);
                    return;
                }
            }
        }
    }

    fn run_for(&mut self, d: u64) {
        self.run_until(self.now + d);
    }

    fn state(&self, sid: i64) -> ServerState {
        self.nodes[&sid].state
    }

    fn leader_of(&self, sid: i64) -> i64 {
        self.nodes[&sid].current.id
    }
}

/// What a peer played by the test says to `to`.
fn said(to: i64, state: ServerState, leader: i64, zxid: i64, round: i64, peer_epoch: i64) -> Outgoing {
    Outgoing { to, leader, zxid, election_epoch: round, state, peer_epoch }
}

/// FLETest.testSingleElection/Double/Triple (runElection): seven peers
/// elect; in every round but the last the leader dies and the others look
/// again 100 ms after their decision. Each round ends with every live peer
/// agreeing on the live peer with the largest sid, leading or following.
fn run_election(rounds: i64) {
    let sids: Vec<i64> = (0..7).collect();
    let mut pump = Pump::with_participants(&sids, 0, 0);
    for sid in &sids {
        pump.look(*sid);
    }
    let mut alive = sids.clone();
    for round in 1..=rounds {
        pump.run_for(5_000);
        let expected = *alive.iter().max().expect("live peers");
        for sid in &alive {
            assert_eq!(pump.leader_of(*sid), expected, "round {round}: peer {sid}");
            let want = if *sid == expected { ServerState::Leading } else { ServerState::Following };
            assert_eq!(pump.state(*sid), want, "round {round}: peer {sid}");
        }
        if round < rounds {
            pump.crash(expected);
            alive.retain(|s| *s != expected);
            pump.run_for(100);
            for sid in &alive {
                pump.look(*sid);
            }
        }
    }
}

#[test]
fn single_election() {
    run_election(1);
}

#[test]
fn double_election() {
    run_election(2);
}

#[test]
fn triple_election() {
    run_election(3);
}

/// Three peers that all hear each other decide as soon as the exchange is
/// over: no better vote can come, so there is no finalizeWait.
#[test]
fn three_peers_that_all_hear_each_other_decide_at_once_and_are_quiet_afterwards() {
    let mut pump = Pump::with_participants(&[1, 2, 3], 0x1_0000_0004, 1);
    for sid in [1, 2, 3] {
        pump.look(sid);
    }
    pump.run_for(10_000);
    assert_eq!(pump.decisions.len(), 3);
    for (at, sid, d) in &pump.decisions {
        assert_eq!(*at, 0, "peer {sid} decides with every vote in");
        assert_eq!(d.vote, Vote::new(3, 0x1_0000_0004, 1, 1));
    }
    assert_eq!(pump.state(3), ServerState::Leading);
    assert!(pump.nodes.values().all(|n| n.wake_at.is_none()), "no timer left once decided");
}

/// Two of three peers started: the third, never connected, might still
/// bring a better vote, so they decide one finalizeWait after the exchange.
#[test]
fn two_peers_of_three_decide_after_the_finalize_wait() {
    let mut pump = Pump::with_participants(&[1, 2, 3], 0x1_0000_0004, 1);
    for sid in [1, 2] {
        pump.look(sid);
    }
    pump.run_for(10_000);
    assert_eq!(pump.decisions.len(), 2);
    for (at, sid, d) in &pump.decisions {
        assert_eq!(*at, FINALIZE_WAIT_MS, "peer {sid} decides one finalizeWait after the exchange");
        assert_eq!(d.vote, Vote::new(2, 0x1_0000_0004, 1, 1));
    }
}

#[test]
fn the_most_up_to_date_peer_wins_whatever_its_sid() {
    let mut pump = Pump::new(verifier(&[1, 2, 3], &[]));
    pump.add(1, LearnerType::Participant, 0x2_0000_0001, 2);
    pump.add(2, LearnerType::Participant, 0x1_0000_0009, 1);
    pump.add(3, LearnerType::Participant, 0x2_0000_0000, 2);
    for sid in [3, 2, 1] {
        pump.look(sid);
    }
    pump.run_for(5_000);
    assert_eq!(pump.state(1), ServerState::Leading);
    assert_eq!((pump.leader_of(2), pump.leader_of(3)), (1, 1));
}

/// FLETest.testJoin (ZOOKEEPER-975): a peer joining an established pair
/// follows its leader instead of taking over with its larger sid.
#[test]
fn a_joining_peer_follows_the_established_leader() {
    let mut pump = Pump::with_participants(&[0, 1, 2], 0, 0);
    pump.look(0);
    pump.look(1);
    pump.run_for(5_000);
    assert_eq!((pump.state(0), pump.state(1)), (ServerState::Following, ServerState::Leading));
    pump.look(2);
    pump.run_for(5_000);
    assert_eq!(pump.state(2), ServerState::Following);
    assert_eq!(pump.leader_of(2), 1);
}

/// FLETest.testJoinInconsistentEnsemble: the same, when one member of the
/// pair reports a vote from another round and zxid (ZOOKEEPER-1732).
#[test]
fn a_joining_peer_follows_an_ensemble_with_inconsistent_rounds() {
    let mut pump = Pump::with_participants(&[0, 1, 2], 0, 0);
    pump.look(0);
    pump.look(1);
    pump.run_for(5_000);
    let follower = pump.node(0);
    let v = follower.current;
    follower.current = Vote { zxid: v.zxid + 100, election_epoch: v.election_epoch + 100, ..v };
    pump.look(2);
    pump.run_for(5_000);
    assert_eq!(pump.state(2), ServerState::Following);
    assert_eq!(pump.leader_of(2), 1);
}

/// FLENewEpochTest: peers 1 and 2 elect, 2 leaves and 1 looks again in a
/// newer round; peer 0 then starts from round 1 and must still reach an
/// agreement with 1 (the round catches up through the notifications).
#[test]
fn a_peer_in_an_older_round_catches_up() {
    let mut pump = Pump::with_participants(&[0, 1, 2], 0, 0);
    pump.look(1);
    pump.look(2);
    pump.run_for(5_000);
    assert_eq!(pump.state(2), ServerState::Leading);
    pump.crash(2);
    pump.look(1);
    pump.run_for(1_000);
    assert_eq!(pump.nodes[&1].core.logical_clock(), 2);
    pump.look(0);
    pump.run_for(5_000);
    assert_eq!((pump.state(1), pump.state(0)), (ServerState::Leading, ServerState::Following));
    assert_eq!(pump.nodes[&0].core.logical_clock(), 2);
}

/// FLELostMessageTest: peer 1 hears a LOOKING vote for 0 in its round,
/// answers, then hears 0 follow it; the rest of 0's votes are lost. Peer 1
/// must lead.
#[test]
fn lost_message_still_elects() {
    let mut pump = Pump::new(verifier(&[0, 1, 2], &[]));
    pump.add(1, LearnerType::Participant, 0, 0);
    pump.look(1);
    pump.inject(0, said(1, ServerState::Looking, 0, 0, 1, 0));
    pump.run_for(1);
    assert!(pump.outside.iter().any(|(from, m)| *from == 1 && m.to == 0), "peer 1 answered");
    pump.inject(0, said(1, ServerState::Following, 1, 0, 1, 0));
    pump.run_for(5_000);
    assert_eq!(pump.state(1), ServerState::Leading);
}

/// FLEMalformedNotificationMessageTest: a message too short for any
/// version, one with a negative or too large config length, one whose
/// config is not a membership and one cut inside the peer epoch are all
/// skipped, and the election still ends on mock peer 1's valid votes: its
/// LOOKING vote for itself wins, and its FOLLOWING vote for 0, arriving
/// during the finalize wait, is no better.
#[test]
fn malformed_notifications_are_skipped() {
    let state = (ServerState::Looking as i32).to_be_bytes();
    let with_config_len = |len: i32| {
        let mut b = build_msg(ServerState::Looking, 0, 0, 0, 0, b"");
        b.truncate(40);
        b.extend_from_slice(&len.to_be_bytes());
        b
    };
    let mut bad_protocol = build_msg(ServerState::Looking, 1, 0, 0, 0, b"");
    bad_protocol.truncate(30);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("too short", [&state[..], &0i64.to_be_bytes()].concat()),
        ("negative config length", with_config_len(-123)),
        ("config length past the end", with_config_len(10_000)),
        ("bad protocol", bad_protocol),
    ];
    for (what, bytes) in &cases {
        assert!(Notification::parse(bytes, 1).is_err(), "{what} parses");
    }
    // A config we cannot read is only logged (Java's configFromString
    // failing); this one is a LOOKING vote of round 0, an older round.
    let unreadable = build_msg(ServerState::Looking, 1, 0, 0, 0, b"invalid config string");
    for (what, bytes) in cases.into_iter().chain([("not a membership", unreadable)]) {
        let mut pump = Pump::new(verifier(&[0, 1, 2], &[]));
        pump.add(0, LearnerType::Participant, 0, 0);
        pump.look(0);
        pump.receive_bytes(1, 0, &bytes);
        pump.inject(1, said(0, ServerState::Looking, 1, 0, 1, 0));
        pump.run_for(1);
        pump.inject(1, said(0, ServerState::Following, 0, 0, 1, 0));
        pump.run_for(5_000);
        assert_eq!(pump.decisions.len(), 1, "{what}");
        assert_eq!((pump.state(0), pump.leader_of(0)), (ServerState::Following, 1), "{what}");
    }
}

/// FLERestartTest: after the first election peer 0 restarts (a new
/// process, round 0 again) while 1 and 2 keep their decision; its new
/// election ends by joining them.
#[test]
fn a_restarted_peer_rejoins_the_decision() {
    let mut pump = Pump::with_participants(&[0, 1, 2], 0, 0);
    for sid in [0, 1, 2] {
        pump.look(sid);
    }
    pump.run_for(5_000);
    assert_eq!(pump.state(0), ServerState::Following);
    pump.restart(0, LearnerType::Participant);
    pump.run_for(5_000);
    assert_eq!(pump.decisions.iter().filter(|(_, sid, _)| *sid == 0).count(), 2);
    assert_eq!((pump.state(0), pump.leader_of(0)), (ServerState::Following, 2));
}

/// A failover: the leader (3) dies and its followers notice one after the
/// other. Peer 2's vote reaches peer 1 while 1 still follows, so 1 answers
/// it instead of counting it; then 1 looks and sends its worse vote. Peer
/// 2 sends its own back at once, so both decide then, with the dead
/// leader lost and no better vote to wait for: no notification timeout,
/// no finalizeWait.
#[test]
fn survivors_of_a_dead_leader_decide_at_once() {
    let mut pump = Pump::with_participants(&[1, 2, 3], 0x1_0000_0004, 1);
    for sid in [1, 2, 3] {
        pump.look(sid);
    }
    pump.run_for(5_000);
    assert_eq!(pump.state(3), ServerState::Leading);
    pump.crash(3);
    for sid in [1, 2] {
        pump.node(sid).core.set_lost_peers([3].into());
    }
    let died = pump.now;
    pump.look(2);
    pump.run_for(0);
    assert_eq!(pump.state(1), ServerState::Following, "1 has not noticed yet");
    pump.look(1);
    pump.run_for(5_000);
    let after: Vec<_> = pump.decisions.iter().filter(|(at, _, _)| *at >= died).collect();
    assert_eq!(after.len(), 2);
    for (at, sid, d) in after {
        assert_eq!((*at, d.vote.id), (died, 2), "peer {sid}");
    }
    assert_eq!((pump.state(1), pump.state(2)), (ServerState::Following, ServerState::Leading));
}

/// FLEBackwardElectionRoundTest (ZOOKEEPER-1514): a quorum following
/// peer 0 in round 1 makes it lead in round 1; the same notifications must
/// not make it lead again once it looks in round 2, since it would lead
/// with a round its followers do not share.
#[test]
fn notifications_from_an_older_round_do_not_elect_me() {
    let mut pump = Pump::new(verifier(&[0, 1, 2], &[]));
    pump.add(0, LearnerType::Participant, 0, 0);
    pump.look(0);
    for from in [1, 2] {
        pump.inject(from, said(0, ServerState::Following, 0, 0, 1, 1));
    }
    pump.run_for(5_000);
    assert_eq!(pump.state(0), ServerState::Leading);
    pump.look(0);
    for from in [1, 2] {
        pump.inject(from, said(0, ServerState::Following, 0, 0, 1, 1));
    }
    pump.run_for(5_000);
    assert_eq!(pump.state(0), ServerState::Looking, "still looking in round 2");
    assert_eq!(pump.decisions.len(), 1);
}

/// Everything peer 3 says in its first 1.4 s is lost: 1 and 2 elect 2
/// without it, and 3 follows 2 as soon as a resend gets through, at its
/// third notification timeout (200 + 400 + 800 ms).
#[test]
fn lost_notifications_are_resent_with_back_off() {
    let mut pump = Pump::with_participants(&[1, 2, 3], 0, 0);
    pump.lost = Box::new(|now, from, _| from == 3 && now < 1_400);
    for sid in [1, 2, 3] {
        pump.look(sid);
    }
    pump.run_for(20_000);
    let by_sid: BTreeMap<i64, (u64, Decision)> = pump.decisions.iter().map(|(at, sid, d)| (*sid, (*at, *d))).collect();
    assert_eq!(by_sid.len(), 3, "{:?}", pump.decisions);
    assert_eq!(by_sid[&2].1.state, ServerState::Leading);
    assert_eq!(by_sid[&1].0, 200);
    assert_eq!(by_sid[&3].0, 1_400);
    assert_eq!((by_sid[&3].1.vote.id, by_sid[&3].1.state), (2, ServerState::Following));
}

#[test]
fn a_lone_peer_backs_off_to_the_ceiling() {
    let mut pump = Pump::with_participants(&[1, 2, 3], 0, 0);
    pump.look(1);
    let mut gaps = Vec::new();
    let mut last = pump.nodes[&1].wake_at.expect("timer");
    assert_eq!(last, 200);
    for _ in 0..12 {
        pump.run_until(last);
        let next = pump.nodes[&1].wake_at.expect("timer");
        gaps.push(next - last);
        last = next;
    }
    assert_eq!(gaps, [400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000, 60000, 60000]);
    assert_eq!(pump.state(1), ServerState::Looking);
}

/// An observer learns the leader of a running ensemble from the answers
/// to its notifications (it is not a voter, so every peer answers it).
#[test]
fn an_observer_finds_the_leader() {
    let mut pump = Pump::new(verifier(&[1, 2, 3], &[4]));
    for sid in [1, 2, 3] {
        pump.add(sid, LearnerType::Participant, 0x1_0000_0002, 1);
    }
    pump.add(4, LearnerType::Observer, 0x1_0000_0002, 1);
    for sid in [1, 2, 3] {
        pump.look(sid);
    }
    pump.run_for(1_000);
    pump.look(4);
    pump.run_for(5_000);
    assert_eq!(pump.state(4), ServerState::Observing);
    assert_eq!(pump.leader_of(4), 3);
}
