//! One simulated peer: what its QuorumPeer, election threads and role hold,
//! driven by the simulator's events instead of threads.
//!
//! LOOKING runs the real `FastLeaderElectionCore`: notifications travel as
//! the WorkerSender's bytes, the WorkerReceiver's `answer` decides what the
//! election gets, and each `Step` is carried out as `look_for_leader` does.
//! A decision starts a role (`Role`), and a role that ends sends the peer
//! back to LOOKING, as QuorumPeer's main loop does.
//!
//! The roles are stand-ins until `LeaderCore` (quorum::leader::core) and a
//! learner-sync core are plugged in: a leader pings every
//! member each half tick and gives up without a quorum of voters heard
//! within syncLimit ticks (initLimit at first), a learner gives up without
//! a ping for that long, and the leader runs the real `SessionTrackerCore`
//! for the clients' sessions, logging each createSession on its disk.
//! `LeaderCore` and a learner-sync core replace `Leading` and `Learning`.

use super::disk::{Record, SimDisk};
use crate::quorum::fast_leader_election::core::{Decision, FastLeaderElectionCore, Outgoing, Step, Timing};
use crate::quorum::fast_leader_election::{build_msg, Notification};
use crate::quorum::quorum_maj::QuorumMaj;
use crate::quorum::quorum_peer_config::LearnerType;
use crate::quorum::vote::{ServerState, Vote};
use crate::server::session_tracker_impl::SessionTrackerCore;
use std::collections::{BTreeMap, HashSet, VecDeque};

/// zoo.cfg's tickTime, initLimit and syncLimit in the simulation.
pub const TICK_MS: u64 = 2_000;
pub const INIT_LIMIT: u64 = 10;
pub const SYNC_LIMIT: u64 = 5;

/// The election's timers: Java's defaults.
pub const TIMING: Timing = Timing { min_notification_interval_ms: 200, max_notification_interval_ms: 60_000, finalize_wait_ms: 200 };

/// What travels between endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// A notification as the WorkerSender writes it.
    Election(Vec<u8>),
    /// Leader to member: "I lead".
    Ping,
    /// Member to leader: "I follow you".
    PingAck,
    /// Client to server: open a session.
    CreateSession { timeout: i32 },
    SessionCreated { id: i64 },
    /// Client to server: a request on the session (it touches it).
    Touch { id: i64, timeout: i32 },
    /// Whether the touched session is alive.
    TouchReply { alive: bool },
    /// This server does not lead; `hint` is the leader it follows (or -1).
    NotLeader { hint: i64 },
}

/// Enabled deliberate mistakes in this node's cores.
#[derive(Debug, Clone, Copy)]
pub struct Mutations {
    pub expire_a_tick_early: bool,
    pub elect_without_a_quorum: bool,
}

/// What a node did that the checkers want to see.
#[derive(Debug, Clone)]
pub enum Note {
    /// An election began (its heard votes start afresh).
    ElectionStarted,
    /// The WorkerReceiver handed a notification to the election.
    ToElection(Notification),
    Decided(Decision),
    /// The role ended: back to LOOKING.
    RoleEnded(&'static str),
    /// The session tracker of leadership `term` saw the session alive at now.
    Touched { term: u64, id: i64 },
    /// The session tracker of leadership `term` expired the session.
    Expired { term: u64, id: i64, timeout: i32 },
}

/// What a call asks the simulator to do.
#[derive(Debug, Default)]
pub struct Out {
    pub sends: Vec<(i64, Msg)>,
    pub notes: Vec<Note>,
}

/// The role a decision started.
pub enum Role {
    /// Running an election.
    Looking,
    Leading(Leading),
    /// Following or observing `leader`.
    Learning(Learning),
}

/// A leader's stand-in state (LeaderCore's place).
pub struct Leading {
    /// Which leadership this is, for the session checker.
    pub term: u64,
    since: u64,
    next_ping: u64,
    /// When each member last acknowledged a ping.
    heard: BTreeMap<i64, u64>,
    sessions: SessionTrackerCore,
}

/// A follower's or observer's stand-in state (the learner-sync core's place).
pub struct Learning {
    pub leader: i64,
    since: u64,
    last_ping: Option<u64>,
}

impl Learning {
    /// Whether a ping from the leader has arrived.
    pub fn has_heard_leader(&self) -> bool {
        self.last_ping.is_some()
    }
}

/// One peer.
pub struct Node {
    pub sid: i64,
    pub learner_type: LearnerType,
    pub up: bool,
    pub disk: SimDisk,
    verifier: QuorumMaj,
    mutations: Mutations,
    fle: FastLeaderElectionCore,
    pub state: ServerState,
    /// The vote the peer stands by (QuorumPeer.currentVote).
    pub current: Vote,
    pub role: Role,
    /// The election's queue (recvqueue).
    inbox: VecDeque<Notification>,
    election_wake: Option<u64>,
    /// When the disk's unsynced tail will be fsynced.
    sync_at: Option<u64>,
    fsync_ms: u64,
}

impl Node {
    /// A peer that has not started yet; `fsync_ms` is its disk's latency.
    pub fn new(sid: i64, learner_type: LearnerType, verifier: QuorumMaj, disk: SimDisk, mutations: Mutations, fsync_ms: u64) -> Node {
        let fle = Self::new_core(sid, learner_type, &verifier, mutations);
        Node {
            sid,
            learner_type,
            up: false,
            current: Vote::initial(sid, disk.last_zxid(), disk.current_epoch()),
            disk,
            verifier,
            mutations,
            fle,
            state: ServerState::Looking,
            role: Role::Looking,
            inbox: VecDeque::new(),
            election_wake: None,
            sync_at: None,
            fsync_ms,
        }
    }

    fn new_core(sid: i64, learner_type: LearnerType, verifier: &QuorumMaj, mutations: Mutations) -> FastLeaderElectionCore {
        let mut core = FastLeaderElectionCore::new(sid, learner_type, verifier.clone(), TIMING);
        if mutations.elect_without_a_quorum {
            core.mutate_elect_without_a_quorum();
        }
        core
    }

    /// The process starts (again): a new election core, round 0, and the
    /// peer looks for a leader with what its disk holds.
    pub fn boot(&mut self, now: u64, out: &mut Out) {
        self.up = true;
        self.fle = Self::new_core(self.sid, self.learner_type, &self.verifier, self.mutations);
        self.look(now, out);
    }

    /// The process dies: its memory is gone and so is its disk's unsynced tail.
    pub fn crash(&mut self) {
        self.up = false;
        self.disk.crash();
        self.role = Role::Looking;
        self.state = ServerState::Looking;
        self.inbox.clear();
        self.election_wake = None;
        self.sync_at = None;
    }

    /// LOOKING: lookForLeader starts.
    fn look(&mut self, now: u64, out: &mut Out) {
        self.state = ServerState::Looking;
        self.role = Role::Looking;
        self.inbox.clear();
        out.notes.push(Note::ElectionStarted);
        let step = self.fle.start(self.disk.last_zxid(), self.disk.current_epoch(), now);
        self.apply(step, now, out);
    }

    /// Carries out an election step as `look_for_leader` does.
    fn apply(&mut self, step: Step, now: u64, out: &mut Out) {
        for m in &step.sends {
            self.send_notification(m, out);
        }
        if let Some(n) = step.requeue {
            self.inbox.push_back(n);
        }
        self.election_wake = step.wake_at;
        if let Some(d) = step.decision {
            self.current = d.vote;
            self.state = d.state;
            self.inbox.clear();
            out.notes.push(Note::Decided(d));
            self.start_role(d, now, out);
        }
    }

    /// What the WorkerSender makes of a queued notification.
    fn send_notification(&self, m: &Outgoing, out: &mut Out) {
        let config = self.verifier.config_string().into_bytes();
        out.sends.push((m.to, Msg::Election(build_msg(m.state, m.leader, m.zxid, m.election_epoch, m.peer_epoch, &config))));
    }

    fn start_role(&mut self, d: Decision, now: u64, out: &mut Out) {
        self.role = match d.state {
            ServerState::Leading => {
                let term = ((self.sid as u64) << 40) | now;
                let mut sessions = SessionTrackerCore::new(TICK_MS as i32, (self.sid << 56) | ((now as i64 & 0xff_ffff) << 24), now);
                if self.mutations.expire_a_tick_early {
                    sessions.mutate_expire_a_tick_early();
                }
                Role::Leading(Leading { term, since: now, next_ping: now, heard: BTreeMap::new(), sessions })
            }
            ServerState::Following | ServerState::Observing => Role::Learning(Learning { leader: d.vote.id, since: now, last_ping: None }),
            ServerState::Looking => Role::Looking,
        };
        self.on_wake(now, out);
    }

    fn end_role(&mut self, why: &'static str, now: u64, out: &mut Out) {
        out.notes.push(Note::RoleEnded(why));
        self.look(now, out);
    }

    /// When this node next needs `on_wake`.
    pub fn next_wake(&self, now: u64) -> Option<u64> {
        let role = match &self.role {
            Role::Looking => None,
            Role::Leading(l) => Some(l.next_ping.min(now + l.sessions.wait_time(now))),
            Role::Learning(l) => Some(Self::learner_deadline(l)),
        };
        [self.election_wake, role, self.sync_at].into_iter().flatten().min()
    }

    fn learner_deadline(l: &Learning) -> u64 {
        match l.last_ping {
            None => l.since + INIT_LIMIT * TICK_MS,
            Some(t) => t + SYNC_LIMIT * TICK_MS,
        }
    }

    /// Timers due at `now`: fsync, the election's timeout, the role's duties.
    pub fn on_wake(&mut self, now: u64, out: &mut Out) {
        if self.sync_at.is_some_and(|t| t <= now) {
            self.disk.sync();
            self.sync_at = None;
        }
        if self.state == ServerState::Looking {
            if self.election_wake.is_some_and(|t| t <= now) {
                let step = self.fle.tick(now, true);
                self.apply(step, now, out);
            }
            return;
        }
        let members: Vec<i64> = self.verifier.all_members().keys().copied().filter(|s| *s != self.sid).collect();
        let mut ended = None;
        match &mut self.role {
            Role::Looking => {}
            Role::Leading(l) => {
                for (id, timeout) in l.sessions.expire(now) {
                    out.notes.push(Note::Expired { term: l.term, id, timeout });
                    l.sessions.remove_session(id);
                }
                if l.next_ping <= now {
                    for to in members {
                        out.sends.push((to, Msg::Ping));
                    }
                    l.next_ping = now + TICK_MS / 2;
                    let limit = if now < l.since + INIT_LIMIT * TICK_MS { INIT_LIMIT } else { SYNC_LIMIT };
                    let mut synced: HashSet<i64> = l.heard.iter().filter(|(_, t)| now <= **t + SYNC_LIMIT * TICK_MS).map(|(s, _)| *s).collect();
                    synced.insert(self.sid);
                    if now >= l.since + limit * TICK_MS && !self.verifier.contains_quorum(&synced) {
                        ended = Some("not sufficient followers synced");
                    }
                }
            }
            Role::Learning(l) => {
                if now >= Self::learner_deadline(l) {
                    ended = Some("no word from the leader within the limit");
                }
            }
        }
        if let Some(why) = ended {
            self.end_role(why, now, out);
        }
    }

    /// A message from endpoint `from`.
    pub fn on_message(&mut self, from: i64, msg: Msg, now: u64, out: &mut Out) {
        match msg {
            Msg::Election(bytes) => self.on_notification(from, &bytes, now, out),
            Msg::Ping => {
                if let Role::Learning(l) = &mut self.role {
                    if l.leader == from {
                        l.last_ping = Some(now);
                        out.sends.push((from, Msg::PingAck));
                    }
                }
            }
            Msg::PingAck => {
                if let Role::Leading(l) = &mut self.role {
                    l.heard.insert(from, now);
                }
            }
            Msg::CreateSession { timeout } => match &mut self.role {
                Role::Leading(l) => {
                    let id = l.sessions.create_session(timeout, now);
                    out.notes.push(Note::Touched { term: l.term, id });
                    out.sends.push((from, Msg::SessionCreated { id }));
                    self.log_txn(now);
                }
                _ => out.sends.push((from, Msg::NotLeader { hint: self.leader_hint() })),
            },
            Msg::Touch { id, timeout } => match &mut self.role {
                Role::Leading(l) => {
                    let alive = l.sessions.touch_session(id, timeout, now);
                    if alive {
                        out.notes.push(Note::Touched { term: l.term, id });
                    }
                    out.sends.push((from, Msg::TouchReply { alive }));
                }
                _ => out.sends.push((from, Msg::NotLeader { hint: self.leader_hint() })),
            },
            Msg::SessionCreated { .. } | Msg::TouchReply { .. } | Msg::NotLeader { .. } => {}
        }
    }

    fn leader_hint(&self) -> i64 {
        match &self.role {
            Role::Learning(l) => l.leader,
            _ => -1,
        }
    }

    /// Appends a txn after the last logged zxid, in the current epoch; it
    /// is fsynced one disk latency later unless the node crashes first.
    fn log_txn(&mut self, now: u64) {
        let (epoch, last) = (self.disk.current_epoch(), self.disk.last_zxid());
        let zxid = if last >> 32 == epoch { last + 1 } else { (epoch << 32) | 1 };
        self.disk.append(Record::Txn { zxid });
        self.sync_at.get_or_insert(now + self.fsync_ms);
    }

    /// The WorkerReceiver: parse, ask the core, queue for the election
    /// and/or answer; then the election takes what is queued.
    fn on_notification(&mut self, from: i64, bytes: &[u8], now: u64, out: &mut Out) {
        let Ok(n) = Notification::parse(bytes, from) else { return };
        let receipt = self.fle.answer(&n, self.state, &self.current);
        if let Some(r) = &receipt.reply {
            self.send_notification(r, out);
        }
        if receipt.to_election {
            out.notes.push(Note::ToElection(n.clone()));
            self.inbox.push_back(n);
            while self.state == ServerState::Looking {
                let Some(n) = self.inbox.pop_front() else { break };
                let step = self.fle.receive(n, now);
                self.apply(step, now, out);
            }
        }
    }
}
