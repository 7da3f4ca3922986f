//! A deterministic simulation of an ensemble in one process: the real
//! protocol cores (`FastLeaderElectionCore`, `SessionTrackerCore` with its
//! `ExpiryQueue`, `LeaderCore` with `plan_sync`, and `LearnerCore`) driven
//! by simulated time, an in-memory network that delays, loses, duplicates,
//! reorders and partitions, simulated disks that lose unsynced writes on a
//! crash, crashes and restarts, and clients that keep sessions alive,
//! write and sync, or go quiet. One seed decides everything, so a seed
//! that breaks an invariant replays exactly.
//!
//! Compiled for tests and with the `simulation` feature only (the
//! `simulate` runner, scripts/simulate.sh); so are the cores' deliberate
//! mistakes (`Mutation`). See docs/architecture.md, "The simulator".

pub mod check;
pub mod disk;
pub mod net;
pub mod node;
pub mod rng;
pub mod zab;

use self::check::{established_leader, Checker, CXIDS_PER_CONNECTION};
use self::disk::{Record, SimDisk, Txn};
use self::net::{Network, Weather};
use self::node::{Msg, Mutations, Node, Note, Out, Role};
use self::zab::{LeaderMutations, LearnerMutations};
use self::rng::Rng;
use crate::quorum::quorum_verifier::QuorumVerifier;
use crate::quorum::quorum_peer_config::{LearnerType, QuorumSpec};
use crate::quorum::vote::ServerState;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// After the faults heal, a quorum must follow one leader, and a client
/// write commit, within this long (two of the election's longest
/// back-offs plus initLimit).
pub const LIVENESS_BOUND_MS: u64 = 2 * node::TIMING.max_notification_interval_ms + node::INIT_LIMIT * node::TICK_MS;

/// A deliberate protocol mistake the simulator must catch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutation {
    /// SessionTracker's ExpiryQueue buckets every session one tick early.
    ExpireSessionATickEarly,
    /// FastLeaderElection's termination predicates take a minority for a quorum.
    ElectWithoutAQuorum,
    /// LeaderCore commits a proposal on one ACK, fewer than a quorum.
    CommitOnAMinorityOfAcks,
    /// The leader's DIFF leaves out one txn (a PROPOSAL and its COMMIT).
    SkipATxnInADiff,
    /// LearnerCore acknowledges a proposal as it arrives, before it is durable.
    AckAProposalBeforeItIsDurable,
    /// LearnerCore takes a LEADERINFO of an epoch older than its accepted one.
    AcceptNewleaderFromAnOlderEpoch,
    /// LearnerCore never acknowledges the proposals it logged at NEWLEADER.
    ForgetToAckTheProposalsLoggedAtNewleader,
}

impl Mutation {
    pub const ALL: [Mutation; 7] = [
        Mutation::ExpireSessionATickEarly,
        Mutation::ElectWithoutAQuorum,
        Mutation::CommitOnAMinorityOfAcks,
        Mutation::SkipATxnInADiff,
        Mutation::AckAProposalBeforeItIsDurable,
        Mutation::AcceptNewleaderFromAnOlderEpoch,
        Mutation::ForgetToAckTheProposalsLoggedAtNewleader,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Mutation::ExpireSessionATickEarly => "expire-session-a-tick-early",
            Mutation::ElectWithoutAQuorum => "elect-without-a-quorum",
            Mutation::CommitOnAMinorityOfAcks => "commit-on-a-minority-of-acks",
            Mutation::SkipATxnInADiff => "skip-a-txn-in-a-diff",
            Mutation::AckAProposalBeforeItIsDurable => "ack-a-proposal-before-it-is-durable",
            Mutation::AcceptNewleaderFromAnOlderEpoch => "accept-newleader-from-an-older-epoch",
            Mutation::ForgetToAckTheProposalsLoggedAtNewleader => "forget-to-ack-the-proposals-logged-at-newleader",
        }
    }

    pub fn from_name(name: &str) -> Option<Mutation> {
        Mutation::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// A scripted fault schedule, run instead of a seed's random faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Issue 10's wedge: three voters; once a leader serves, its links to
    /// both followers are cut for `WEDGE_ISOLATION_MS`, a little less than
    /// syncLimit ticks, while its clients keep writing to it. It does not
    /// step down. Then its link to the first follower comes back: that one
    /// finds its connection broken and, the other still following the
    /// leader, rejoins the same leader (FastLeaderElection's
    /// out-of-election quorum), which queues its uncommitted proposals
    /// between DIFF and NEWLEADER. Once it serves, everything heals and
    /// the other follower rejoins the same way. The proposals must commit
    /// once the followers acknowledge them.
    Wedge,
}

/// The wedge: from when a serving leader is cut off (the first time one
/// serves), and for how long.
pub const WEDGE_ISOLATE_AT_MS: u64 = 20_000;
pub const WEDGE_ISOLATION_MS: u64 = node::SYNC_LIMIT * node::TICK_MS - 1_000;

/// What one seed did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub seed: u64,
    pub voters: usize,
    pub observers: usize,
    /// Simulated time run, in milliseconds.
    pub simulated_ms: u64,
    /// When the faults healed.
    pub heal_at_ms: u64,
    /// How long after the heal a quorum followed one leader.
    pub recovered_after_ms: Option<u64>,
    pub decisions: u64,
    /// Times a node decided to lead while another still led the same
    /// election round: FLE allows it (a vote overtaken after the finalize
    /// wait); ZAB's epochs must keep the two from both committing.
    pub same_round_leaders: u64,
    pub crashes: u64,
    pub partitions: u64,
    pub messages: u64,
    pub sessions_created: u64,
    pub sessions_expired: u64,
    /// Client writes acknowledged, and how many after the heal.
    pub writes_acked: u64,
    pub writes_acked_after_heal: u64,
    /// Txns committed (the committed history's length at the end).
    pub committed: u64,
    /// How long after the heal a client write was first acknowledged
    /// (with a quorum following one leader).
    pub write_after_heal_ms: Option<u64>,
    /// Syncs answered in an epoch older than the newest, before the
    /// client's own newest write (Java's sync is not a quorum operation).
    pub stale_syncs: u64,
    /// Every decision: (when, who, the leader it names).
    pub decided: Vec<(u64, i64, i64)>,
    /// The first violation stops the seed.
    pub violations: Vec<String>,
    /// Every event worth reading, when asked for.
    pub trace: Vec<String>,
}

/// Runs one seed; a panic anywhere is reported as a violation.
pub fn run(seed: u64, mutation: Option<Mutation>, trace: bool) -> Report {
    run_sim(Sim::new(seed, mutation, trace, None))
}

/// Runs a scripted scenario (its network delays and disks from seed 0).
pub fn run_scenario(scenario: Scenario, mutation: Option<Mutation>, trace: bool) -> Report {
    run_sim(Sim::new(0, mutation, trace, Some(scenario)))
}

fn run_sim(mut sim: Sim) -> Report {
    match catch_unwind(AssertUnwindSafe(|| sim.run())) {
        Ok(()) => sim.report,
        Err(e) => {
            let what = e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()));
            let mut report = std::mem::take(&mut sim.report);
            report.violations.push(format!("t={}ms: panic: {}", sim.now, what.unwrap_or_default()));
            report
        }
    }
}

#[derive(Debug)]
enum Event {
    Boot(i64),
    /// `link` numbers an election notification on its link.
    Deliver { from: i64, to: i64, msg: Msg, link: Option<u64> },
    /// A node's timer; stale unless `gen` is the node's latest.
    Wake { sid: i64, gen: u64 },
    ClientTick(usize),
    /// A client's next write or sync.
    ClientOp(usize),
    /// The next random fault.
    Chaos,
    /// Every fault ends; liveness is due within LIVENESS_BOUND_MS.
    Heal,
    /// Is a leader established yet?
    Probe,
    /// The wedge scenario cuts the serving leader off.
    IsolateLeader,
    /// The wedge scenario gives the leader back its link to the first
    /// follower: (leader, follower).
    WedgeRejoin(i64, i64),
    /// The wedge scenario heals once that follower serves again.
    WedgeWatch(i64, i64),
    /// A stalled node runs again.
    Resume(i64),
    /// Stale votes for a node that stalled, while it still leads.
    StaleVotes(i64),
    /// Every node loses power at once.
    PowerCut,
}

/// An event at a time; `seq` orders events at the same time by scheduling.
struct Scheduled {
    at: u64,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// A client: keeps one session alive on whichever server leads.
struct Client {
    addr: i64,
    timeout: i32,
    /// The server it asks for a session next.
    target: i64,
    /// (server, session id)
    session: Option<(i64, i64)>,
    last_reply: u64,
    /// Quiet until then (so its session expires).
    silent_until: u64,
    /// The server it writes and syncs through, and its connection number.
    op_target: i64,
    conn: i32,
    /// Requests sent on this connection.
    requests: i32,
    /// The write or sync in flight: (cxid, sent at, is a sync, the
    /// newest acknowledged zxid when it was sent).
    in_flight: Option<(i32, u64, bool, i64)>,
    /// The newest zxid of its writes acknowledged.
    newest_acked: i64,
    /// A scenario keeps it on this server.
    pinned: Option<i64>,
}

struct Sim {
    now: u64,
    rng: Rng,
    net: Network,
    verifier: QuorumVerifier,
    nodes: BTreeMap<i64, Node>,
    /// Each node's pending wake: (when, generation).
    wakes: BTreeMap<i64, (u64, u64)>,
    /// Stalled nodes (a long GC pause, a frozen VM) and until when: what
    /// arrives meanwhile waits, their timers wait too.
    stalled: BTreeMap<i64, u64>,
    clients: Vec<Client>,
    queue: BinaryHeap<Reverse<Scheduled>>,
    seq: u64,
    checker: Checker,
    heal_at: u64,
    end_at: u64,
    /// Faults come from a scenario's script, not from chance.
    scripted: bool,
    report: Report,
    tracing: bool,
}

/// More events than this in one seed (a few thousand is usual) is a
/// message storm or a livelock.
const MAX_EVENTS: u64 = 1_000_000;

/// The chance, per mille, that a commit during the faults is followed at
/// once by a power cut of the whole ensemble.
const POWER_CUT_AFTER_A_COMMIT: u64 = 10;

/// Client endpoints are numbered from here; nodes are 1..=n.
const FIRST_CLIENT: i64 = 100;

impl Sim {
    /// The ensemble of this seed: 3 or 5 voters, 0 to 2 observers, 3
    /// clients, each node with its own history on disk.
    fn new(seed: u64, mutation: Option<Mutation>, tracing: bool, scenario: Option<Scenario>) -> Sim {
        let mut rng = Rng::new(seed);
        let (voters, observers) = match scenario {
            Some(Scenario::Wedge) => (3, 0),
            None => (if rng.chance(500) { 3 } else { 5 }, rng.range(0, 2) as usize),
        };
        let total = (voters + observers) as i64;
        let pairs: Vec<(String, String)> = (1..=total)
            .map(|sid| {
                let kind = if sid > voters as i64 { ":observer" } else { "" };
                (format!("server.{sid}"), format!("127.0.0.1:{}:{}{kind}", 10_000 + 2 * sid, 10_001 + 2 * sid))
            })
            .collect();
        let spec = QuorumSpec::from_pairs(&pairs, false, false).expect("a valid membership");
        let verifier = QuorumVerifier::new(spec);
        let mutations = Mutations {
            expire_a_tick_early: mutation == Some(Mutation::ExpireSessionATickEarly),
            elect_without_a_quorum: mutation == Some(Mutation::ElectWithoutAQuorum),
            leader: LeaderMutations {
                commit_on_a_minority: mutation == Some(Mutation::CommitOnAMinorityOfAcks),
                skip_a_txn_in_a_diff: mutation == Some(Mutation::SkipATxnInADiff),
            },
            learner: LearnerMutations {
                ack_before_durable: mutation == Some(Mutation::AckAProposalBeforeItIsDurable),
                accept_older_newleader: mutation == Some(Mutation::AcceptNewleaderFromAnOlderEpoch),
                forget_to_ack_logged_proposals: mutation == Some(Mutation::ForgetToAckTheProposalsLoggedAtNewleader),
            },
        };
        let mut nodes = BTreeMap::new();
        for sid in 1..=total {
            // Histories a real ensemble can have: prefixes of one epoch-1 log.
            let mut records = vec![Record::AcceptedEpoch(1), Record::CurrentEpoch(1)];
            records.extend((1..=rng.range(0, 3) as i64).map(|c| Record::Txn(Txn { zxid: (1 << 32) | c, client: 0, cxid: 0 })));
            let learner_type = if sid > voters as i64 { LearnerType::Observer } else { LearnerType::Participant };
            let fsync_ms = rng.range(1, 20);
            nodes.insert(sid, Node::new(sid, learner_type, verifier.clone(), SimDisk::with_history(records), mutations, fsync_ms));
        }
        let clients = (0..3)
            .map(|i| Client {
                addr: FIRST_CLIENT + i,
                timeout: rng.range(2, 10) as i32 * node::TICK_MS as i32,
                target: rng.range(1, total as u64) as i64,
                session: None,
                last_reply: 0,
                silent_until: 0,
                op_target: rng.range(1, total as u64) as i64,
                conn: 1,
                requests: 0,
                in_flight: None,
                newest_acked: 0,
                pinned: None,
            })
            .collect();
        let heal_at = match scenario {
            Some(Scenario::Wedge) => WEDGE_ISOLATE_AT_MS + WEDGE_ISOLATION_MS,
            None => rng.range(30_000, 120_000),
        };
        let report = Report { seed, voters, observers, ..Report::default() };
        let mut sim = Sim {
            now: 0,
            rng,
            net: Network::default(),
            checker: Checker::new(verifier.clone()),
            verifier,
            nodes,
            wakes: BTreeMap::new(),
            stalled: BTreeMap::new(),
            clients,
            queue: BinaryHeap::new(),
            seq: 0,
            heal_at,
            end_at: heal_at + LIVENESS_BOUND_MS,
            scripted: scenario.is_some(),
            report,
            tracing,
        };
        for sid in 1..=total {
            let at = sim.rng.range(0, 2_000);
            sim.schedule(at, Event::Boot(sid));
        }
        for i in 0..sim.clients.len() {
            let at = sim.rng.range(0, 3_000);
            sim.schedule(at, Event::ClientTick(i));
            let at = sim.rng.range(0, 3_000);
            sim.schedule(at, Event::ClientOp(i));
        }
        match scenario {
            Some(Scenario::Wedge) => sim.schedule(WEDGE_ISOLATE_AT_MS, Event::IsolateLeader),
            None => {
                let first_fault = sim.rng.range(500, 5_000);
                sim.schedule(first_fault, Event::Chaos);
            }
        }
        if scenario.is_none() {
            sim.schedule(heal_at, Event::Heal);
        }
        sim.trace(|| format!("seed {seed}: {voters} voters, {observers} observers, faults until {heal_at}ms"));
        sim
    }

    fn schedule(&mut self, at: u64, event: Event) {
        self.seq += 1;
        self.queue.push(Reverse(Scheduled { at, seq: self.seq, event }));
    }

    fn trace(&mut self, line: impl FnOnce() -> String) {
        if self.tracing {
            let line = format!("{:>9}ms  {}", self.now, line());
            self.report.trace.push(line);
        }
    }

    fn run(&mut self) {
        let mut events = 0u64;
        while let Some(Reverse(s)) = self.queue.pop() {
            if s.at > self.end_at {
                break;
            }
            events += 1;
            if events > MAX_EVENTS {
                self.checker.violations.push(format!("t={}ms: more than {MAX_EVENTS} events: a storm or a livelock", s.at));
            }
            self.now = s.at;
            self.handle(s.event);
            if !self.checker.violations.is_empty() {
                for v in self.checker.violations.clone() {
                    self.trace(|| format!("VIOLATION {v}"));
                }
                self.report.violations = std::mem::take(&mut self.checker.violations);
                break;
            }
        }
        self.report.simulated_ms = self.now;
        self.report.heal_at_ms = self.heal_at;
        self.report.committed = self.checker.committed.len() as u64;
        self.report.writes_acked = self.checker.acked.len() as u64;
        self.report.writes_acked_after_heal = self.checker.acked.iter().filter(|(at, _)| *at >= self.heal_at).count() as u64;
        if self.report.violations.is_empty() && self.report.recovered_after_ms.is_some() {
            self.end_checks();
        }
    }

    /// Once recovered: every acknowledged write is in the serving
    /// leader's history.
    fn end_checks(&mut self) {
        if let Some(leader) = established_leader(&self.nodes, &self.verifier) {
            if let Role::Leading(l) = &self.nodes[&leader].role {
                let log = l.zab.log().to_vec();
                self.checker.acked_writes_present(self.now, leader, &log);
            }
        }
        for v in self.checker.violations.clone() {
            self.trace(|| format!("VIOLATION {v}"));
        }
        self.report.violations = std::mem::take(&mut self.checker.violations);
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Boot(sid) => self.boot(sid),
            Event::Deliver { from, to, msg, link } => {
                if !self.net.connected(from, to) || link.is_some_and(|n| !self.net.take_notification(from, to, n)) {
                    return;
                }
                if let Some(until) = self.stalled.get(&to).copied() {
                    // Read once it runs again, in the order it arrived.
                    self.schedule(until, Event::Deliver { from, to, msg, link });
                } else if to >= FIRST_CLIENT {
                    self.client_receives((to - FIRST_CLIENT) as usize, from, msg);
                } else if self.nodes[&to].up {
                    self.with_node(to, |n, now, out| n.on_message(from, msg, now, out));
                }
            }
            Event::Wake { sid, gen } => {
                if self.wakes.get(&sid).is_some_and(|(_, g)| *g == gen) {
                    self.wakes.remove(&sid);
                    if !self.stalled.contains_key(&sid) {
                        self.with_node(sid, |n, now, out| n.on_wake(now, out));
                    }
                }
            }
            Event::ClientTick(i) => self.client_tick(i),
            Event::ClientOp(i) => self.client_op(i),
            Event::Chaos => self.chaos(),
            Event::Heal => self.heal(),
            Event::Probe => self.probe(),
            Event::IsolateLeader => self.isolate_leader(),
            Event::WedgeRejoin(leader, first) => {
                self.trace(|| format!("node {leader} and node {first} are linked again"));
                self.net.restore_link(leader, first);
                self.wedge_watch(leader, first);
            }
            Event::WedgeWatch(leader, first) => self.wedge_watch(leader, first),
            Event::Resume(sid) => self.resume(sid),
            Event::StaleVotes(sid) => self.stale_leader(sid),
            Event::PowerCut => self.power_cut(),
        }
    }

    fn boot(&mut self, sid: i64) {
        if self.nodes[&sid].up {
            return;
        }
        self.trace(|| format!("node {sid} starts"));
        self.with_node(sid, |n, now, out| n.boot(now, out));
    }

    fn crash(&mut self, sid: i64) {
        let Some(n) = self.nodes.get_mut(&sid).filter(|n| n.up) else { return };
        let lost = n.disk.unsynced();
        n.crash();
        self.wakes.remove(&sid);
        self.stalled.remove(&sid);
        self.report.crashes += 1;
        self.trace(|| format!("node {sid} crashes, losing {lost} unsynced records"));
    }

    /// Runs `f` on node `sid`, then checks and carries out what it did.
    fn with_node(&mut self, sid: i64, f: impl FnOnce(&mut Node, u64, &mut Out)) {
        let now = self.now;
        let mut out = Out::default();
        let lost = self
            .nodes
            .values()
            .filter(|n| n.sid != sid && self.verifier.is_voter(n.sid) && (!n.up || !self.net.connected(sid, n.sid)))
            .map(|n| n.sid)
            .collect();
        let node = self.nodes.get_mut(&sid).expect("a node of the ensemble");
        node.set_lost_peers(lost);
        f(node, now, &mut out);
        if out.fsync {
            node.request_fsync(now);
        }
        let wake = node.next_wake(now);
        let committed = out.notes.iter().any(|n| matches!(n, Note::Committed { .. }));
        if committed && !self.scripted && now < self.heal_at && self.rng.chance(POWER_CUT_AFTER_A_COMMIT) {
            // Right after it: the replicas that acknowledged the txn must
            // have it on disk already.
            self.schedule(now, Event::PowerCut);
        }
        for note in &out.notes {
            self.checker.note(now, sid, note);
            match note {
                Note::Decided(d) => {
                    self.report.decisions += 1;
                    self.report.decided.push((now, sid, d.vote.id));
                    let round = d.vote.election_epoch;
                    let rival = self
                        .nodes
                        .values()
                        .find(|n| n.sid != sid && n.up && n.state == ServerState::Leading && n.current.election_epoch == round)
                        .map(|n| n.sid);
                    if let (ServerState::Leading, Some(other)) = (d.state, rival) {
                        self.report.same_round_leaders += 1;
                        self.trace(|| format!("node {sid} leads round 0x{round:x} while node {other} still does"));
                    }
                    let v = d.vote;
                    self.trace(|| {
                        format!(
                            "node {sid} decides {}: leader {}, zxid 0x{:x}, round 0x{:x}, peer epoch 0x{:x}",
                            d.state, v.id, v.zxid, v.election_epoch, v.peer_epoch
                        )
                    });
                }
                Note::RoleEnded(why) => self.trace(|| format!("node {sid} LOOKING again: {why}")),
                Note::Established { epoch, history } => {
                    self.trace(|| format!("node {sid} serves epoch 0x{epoch:x} with {} txns", history.len()))
                }
                Note::Committed { index, txn, .. } => self.trace(|| format!("node {sid} commits txn {index}: {txn:?}")),
                Note::Expired { id, .. } => {
                    self.report.sessions_expired += 1;
                    self.trace(|| format!("node {sid} expires session 0x{id:x}"));
                }
                _ => {}
            }
        }
        for (to, msg) in out.sends {
            self.send(sid, to, msg);
        }
        match wake {
            Some(at) if self.wakes.get(&sid).map(|(t, _)| *t) != Some(at) => {
                self.seq += 1;
                let gen = self.seq;
                self.wakes.insert(sid, (at, gen));
                self.schedule(at.max(now), Event::Wake { sid, gen });
            }
            Some(_) => {}
            None => {
                self.wakes.remove(&sid);
            }
        }
    }

    fn send(&mut self, from: i64, to: i64, msg: Msg) {
        self.report.messages += 1;
        if std::env::var_os("SIMULATE_TRACE_MESSAGES").is_some() && !matches!(msg, Msg::Election(_)) {
            self.trace(|| format!("{from} -> {to}: {msg:?}"));
        }
        if matches!(msg, Msg::Zab { .. } | Msg::Refused { .. } | Msg::Write { .. } | Msg::Sync { .. } | Msg::WriteOk { .. } | Msg::SyncOk { .. } | Msg::NotServing { .. }) {
            // A TCP connection: in order, once; a loss breaks it (a
            // client then times out and connects elsewhere).
            if let Some(delay) = self.net.route_stream(&mut self.rng, from, to, self.now) {
                self.schedule(self.now + delay, Event::Deliver { from, to, msg, link: None });
            }
            return;
        }
        let link = matches!(msg, Msg::Election(_)).then(|| self.net.enqueue_notification(from, to));
        for delay in self.net.route(&mut self.rng, from, to) {
            self.schedule(self.now + delay, Event::Deliver { from, to, msg: msg.clone(), link });
        }
    }

    fn random_node(&mut self) -> i64 {
        self.rng.range(1, self.nodes.len() as u64) as i64
    }

    fn client_tick(&mut self, i: usize) {
        let now = self.now;
        let c = &self.clients[i];
        let (addr, timeout) = (c.addr, c.timeout);
        let next = now + (timeout as u64 / 3).max(1);
        if now < c.silent_until {
            let at = c.silent_until;
            self.schedule(at, Event::ClientTick(i));
            return;
        }
        match c.session {
            Some((server, id)) if now <= c.last_reply + timeout as u64 => self.send(addr, server, Msg::Touch { id, timeout }),
            _ => {
                if self.clients[i].session.take().is_some() {
                    self.clients[i].target = self.random_node();
                }
                let target = self.clients[i].target;
                self.send(addr, target, Msg::CreateSession { timeout });
                // Ask another server next time unless this one answers.
                self.clients[i].target = self.random_node();
            }
        }
        self.schedule(next, Event::ClientTick(i));
    }

    /// A client writes or syncs through its server, one request at a
    /// time; it gives up on one unanswered for 3 s and connects elsewhere.
    fn client_op(&mut self, i: usize) {
        let now = self.now;
        let next = now + self.rng.range(100, 1_000);
        self.schedule(next, Event::ClientOp(i));
        if let Some((_, sent, _, _)) = self.clients[i].in_flight {
            if now < sent + 3_000 {
                return;
            }
            self.reconnect(i);
        }
        let sync = self.rng.chance(250);
        let c = &mut self.clients[i];
        c.requests += 1;
        let cxid = c.conn * CXIDS_PER_CONNECTION + c.requests;
        c.in_flight = Some((cxid, now, sync, c.newest_acked));
        let (addr, target) = (c.addr, c.op_target);
        self.send(addr, target, if sync { Msg::Sync { cxid } } else { Msg::Write { cxid } });
    }

    /// The client's connection is gone: a new one to a random server (or
    /// the one a scenario keeps it on).
    fn reconnect(&mut self, i: usize) {
        let target = match self.clients[i].pinned {
            Some(sid) => sid,
            None => self.random_node(),
        };
        let c = &mut self.clients[i];
        c.in_flight = None;
        c.op_target = target;
        c.conn += 1;
        c.requests = 0;
    }

    fn client_receives(&mut self, i: usize, from: i64, msg: Msg) {
        let now = self.now;
        let c = &mut self.clients[i];
        if let Msg::WriteOk { cxid, .. } | Msg::SyncOk { cxid, .. } | Msg::NotServing { cxid } = msg {
            if c.in_flight.is_none_or(|f| f.0 != cxid) || from != c.op_target {
                return;
            }
        }
        match msg {
            Msg::WriteOk { cxid, zxid } => {
                c.in_flight = None;
                c.newest_acked = c.newest_acked.max(zxid);
                let txn = Txn { zxid, client: c.addr, cxid };
                self.checker.acked(now, txn);
            }
            Msg::SyncOk { cxid, zxid, epoch } => {
                let (_, _, _, newest) = c.in_flight.take().expect("in flight");
                if zxid < newest && epoch < self.checker.newest_epoch() {
                    // A leader that does not know it was replaced (a
                    // stall) answers a sync from what it has, as Java's
                    // does: sync is not a quorum operation.
                    self.report.stale_syncs += 1;
                    let addr = c.addr;
                    self.trace(|| format!("client {addr} synced through node {from} of the stale epoch 0x{epoch:x}: 0x{zxid:x}, before its own write 0x{newest:x}"));
                } else if zxid < newest {
                    self.checker.violations.push(format!(
                        "t={now}ms: client {} synced through node {from} (cxid {cxid}), which has applied only up to 0x{zxid:x}, before its own write 0x{newest:x}",
                        c.addr
                    ));
                }
            }
            Msg::NotServing { .. } => self.reconnect(i),
            Msg::SessionCreated { id } => {
                c.session = Some((from, id));
                c.last_reply = now;
                self.report.sessions_created += 1;
            }
            Msg::TouchReply { alive } => {
                c.last_reply = now;
                if !alive {
                    c.session = None;
                }
            }
            Msg::NotLeader { hint } => {
                if c.session.is_some_and(|(s, _)| s == from) {
                    c.session = None;
                }
                if hint > 0 {
                    c.target = hint;
                }
            }
            _ => {}
        }
    }

    /// One random fault, and the next one, until the heal.
    fn chaos(&mut self) {
        if self.now >= self.heal_at {
            return;
        }
        let sids: Vec<i64> = self.nodes.keys().copied().collect();
        match self.rng.range(0, 10) {
            0 | 1 => {
                let sid = self.rng.pick(&sids);
                self.crash(sid);
            }
            2 | 3 => {
                let down: Vec<i64> = self.nodes.values().filter(|n| !n.up).map(|n| n.sid).collect();
                if !down.is_empty() {
                    let sid = self.rng.pick(&down);
                    self.boot(sid);
                }
            }
            4 => {
                let mut sides = BTreeMap::new();
                for e in sids.iter().copied().chain(self.clients.iter().map(|c| c.addr)) {
                    sides.insert(e, self.rng.range(0, 1) as u8);
                }
                self.report.partitions += 1;
                self.trace(|| format!("partition {sides:?}"));
                self.net.partition(sides);
            }
            5 => {
                if self.net.is_partitioned() {
                    self.trace(|| "the partition heals".into());
                    self.net.heal();
                }
            }
            6 | 7 => {
                let weather = Weather {
                    loss: self.rng.range(0, 300),
                    duplicate: self.rng.range(0, 100),
                    max_delay_ms: self.rng.pick(&[10, 50, 300, 1_000]),
                };
                self.trace(|| format!("weather {weather:?}"));
                self.net.weather = weather;
            }
            8 => {
                let i = self.rng.range(0, self.clients.len() as u64 - 1) as usize;
                let until = self.now + self.rng.range(0, 3 * self.clients[i].timeout as u64);
                self.trace(|| format!("client {i} is quiet until {until}ms"));
                self.clients[i].silent_until = until;
            }
            9 => {
                // Mostly a serving leader, for longer than syncLimit.
                let leaders: Vec<i64> = self
                    .nodes
                    .values()
                    .filter(|n| n.up && matches!(&n.role, Role::Leading(l) if l.zab.established))
                    .map(|n| n.sid)
                    .collect();
                let sid = if leaders.is_empty() || self.rng.chance(250) { self.rng.pick(&sids) } else { self.rng.pick(&leaders) };
                let until = self.now + self.rng.range(node::SYNC_LIMIT * node::TICK_MS, 2 * node::INIT_LIMIT * node::TICK_MS);
                if self.nodes[&sid].up && !self.stalled.contains_key(&sid) {
                    self.trace(|| format!("node {sid} stalls until {until}ms"));
                    self.stalled.insert(sid, until);
                    self.schedule(until, Event::Resume(sid));
                }
            }
            _ => {
                let sid = self.rng.pick(&sids);
                self.crash(sid);
                let at = self.now + self.rng.range(0, 1_000);
                self.schedule(at, Event::Boot(sid));
            }
        }
        let next = self.now + self.rng.range(200, 5_000);
        self.schedule(next, Event::Chaos);
    }

    /// The wedge: the serving leader's links to the other nodes are cut;
    /// the clients keep writing to the leader.
    fn isolate_leader(&mut self) {
        let Some(leader) = established_leader(&self.nodes, &self.verifier) else {
            if self.now > WEDGE_ISOLATE_AT_MS + LIVENESS_BOUND_MS {
                self.checker.violations.push(format!("t={}ms: the scenario found no serving leader to isolate", self.now));
            }
            self.schedule(self.now + 1_000, Event::IsolateLeader);
            return;
        };
        let others: Vec<i64> = self.nodes.keys().copied().filter(|s| *s != leader).collect();
        for sid in &others {
            self.net.cut_link(leader, *sid);
        }
        for c in &mut self.clients {
            c.pinned = Some(leader);
            c.target = leader;
        }
        for i in 0..self.clients.len() {
            if self.clients[i].op_target != leader {
                self.reconnect(i);
            }
        }
        self.report.partitions += 1;
        self.trace(|| format!("node {leader} is cut off from nodes {others:?}; its clients keep writing to it"));
        self.schedule(self.now + WEDGE_ISOLATION_MS, Event::WedgeRejoin(leader, others[0]));
        // The heal comes when the first follower serves again, or by then.
        self.heal_at = self.now + WEDGE_ISOLATION_MS + LIVENESS_BOUND_MS;
        self.end_at = self.heal_at + LIVENESS_BOUND_MS;
    }

    /// Everything heals once `first` has decided again and serves `leader`.
    fn wedge_watch(&mut self, leader: i64, first: i64) {
        let rejoined_at = self.heal_at - LIVENESS_BOUND_MS;
        let decided = self.report.decided.iter().any(|(at, sid, _)| *at >= rejoined_at && *sid == first);
        let back = decided && matches!(&self.nodes[&first].role, Role::Learning(l) if l.leader == leader && l.serving());
        if back || self.now >= self.heal_at {
            self.heal_at = self.now;
            self.end_at = self.heal_at + LIVENESS_BOUND_MS;
            self.heal();
        } else {
            self.schedule(self.now + 100, Event::WedgeWatch(leader, first));
        }
    }

    /// Every node loses power (what it had not synced is gone) and comes
    /// back within 10 s, each at its own time.
    fn power_cut(&mut self) {
        self.trace(|| "power cut".into());
        let sids: Vec<i64> = self.nodes.values().filter(|n| n.up).map(|n| n.sid).collect();
        for sid in sids {
            self.crash(sid);
            let at = self.now + self.rng.range(0, 10_000);
            self.schedule(at, Event::Boot(sid));
        }
    }

    /// A stalled node runs again: what waited arrives, its timers fire.
    /// A leader counts its ticks by turns of its loop, as Java's does, so
    /// one that stalled past syncLimit still leads for a while, though its
    /// followers have moved on to a newer epoch; meanwhile stale votes may
    /// bring some of them back (`stale_leader`).
    fn resume(&mut self, sid: i64) {
        if self.stalled.get(&sid).is_none_or(|until| *until > self.now) {
            return;
        }
        self.stalled.remove(&sid);
        self.trace(|| format!("node {sid} runs again"));
        self.with_node(sid, |n, now, out| n.on_wake(now, out));
        self.stale_leader(sid);
    }

    /// The epoch `n` serves as leader, if it does.
    fn serving_epoch(n: &Node) -> Option<i64> {
        match &n.role {
            Role::Leading(l) if n.up && l.zab.established => l.zab.epoch(),
            _ => None,
        }
    }

    /// A stale leader's followers come back: once `stale`, which stalled,
    /// serves as leader while another node serves a newer epoch, every
    /// node that does not lead follows `stale` on a coin's toss, as a vote
    /// taken from an old notification would make it (looked at every
    /// second while `stale` leads). ZAB keeps this safe: a learner refuses
    /// a leader of an epoch older than the one it accepted, and without
    /// those the stale leader has no quorum.
    fn stale_leader(&mut self, stale: i64) {
        if self.now >= self.heal_at || self.stalled.contains_key(&stale) {
            return;
        }
        let Some(epoch) = Self::serving_epoch(&self.nodes[&stale]) else { return };
        if !self.nodes.values().any(|n| Self::serving_epoch(n).is_some_and(|e| e > epoch)) {
            self.schedule(self.now + 1_000, Event::StaleVotes(stale));
            return;
        }
        let vote = self.nodes[&stale].current;
        let others: Vec<i64> = self
            .nodes
            .values()
            .filter(|n| n.up && n.sid != stale && !matches!(n.role, Role::Leading(_)))
            .map(|n| n.sid)
            .collect();
        for sid in others {
            if self.rng.chance(500) {
                self.trace(|| format!("node {sid} follows node {stale}, the stale leader of epoch 0x{epoch:x}"));
                self.with_node(sid, |n, now, out| n.follow(vote, now, out));
            }
        }
    }

    /// Every fault ends: calm network, every node up, clients talking.
    fn heal(&mut self) {
        self.trace(|| "faults heal: calm network, every node up".into());
        self.net.heal();
        self.net.weather = Weather::CALM;
        let down: Vec<i64> = self.nodes.values().filter(|n| !n.up).map(|n| n.sid).collect();
        for sid in down {
            self.boot(sid);
        }
        for c in &mut self.clients {
            c.silent_until = 0;
        }
        self.probe();
    }

    /// Liveness: once a quorum follows one leader, the seed runs on a
    /// little and ends; past the bound without one, it is a violation.
    fn probe(&mut self) {
        let leader = established_leader(&self.nodes, &self.verifier);
        if let (Some(leader), None) = (leader, self.report.recovered_after_ms) {
            let after = self.now - self.heal_at;
            self.report.recovered_after_ms = Some(after);
            self.trace(|| format!("node {leader} leads a quorum, {after}ms after the heal"));
        }
        let wrote = self.checker.acked.iter().any(|(at, _)| *at >= self.heal_at);
        if leader.is_some() && wrote {
            let after = self.now - self.heal_at;
            self.report.write_after_heal_ms = Some(after);
            self.trace(|| format!("a client write committed {after}ms after the heal"));
            self.end_at = self.now + 5_000;
        } else if self.now >= self.heal_at + LIVENESS_BOUND_MS {
            let states: Vec<String> = self.nodes.values().map(|n| format!("{}:{}->{}", n.sid, n.state, n.current.id)).collect();
            let what = if leader.is_none() { "no leader followed by a quorum" } else { "no client write committed" };
            self.checker.violations.push(format!(
                "t={}ms: {what} {}ms after the faults healed ({})",
                self.now,
                LIVENESS_BOUND_MS,
                states.join(" ")
            ));
        } else {
            self.schedule(self.now + 100, Event::Probe);
        }
    }
}

#[cfg(test)]
mod tests;
