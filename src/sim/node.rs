//! One simulated peer: what its QuorumPeer, election threads and role hold,
//! driven by the simulator's events instead of threads.
//!
//! LOOKING runs the real `FastLeaderElectionCore`: notifications travel as
//! the WorkerSender's bytes, the WorkerReceiver's `answer` decides what the
//! election gets, and each `Step` is carried out as `look_for_leader` does.
//! A decision starts a role (`Role`), and a role that ends sends the peer
//! back to LOOKING, as QuorumPeer's main loop does.
//!
//! The roles are ZAB's (`sim::zab`): the leader drives the real
//! `LeaderCore` and `plan_sync`, and runs the real `SessionTrackerCore`
//! for the clients' sessions; a follower or observer drives the real
//! `LearnerCore`.

use super::disk::{SimDisk, Txn};
use super::zab::{LeaderMutations, LeaderRole, LearnerMutations, LearnerRole, Stream, Zab};
use crate::quorum::fast_leader_election::core::{Decision, FastLeaderElectionCore, Outgoing, Step, Timing};
use crate::quorum::fast_leader_election::{build_msg, Notification};
use crate::quorum::quorum_verifier::QuorumVerifier;
use crate::quorum::quorum_peer_config::LearnerType;
use crate::quorum::vote::{ServerState, Vote};
use crate::server::session_tracker_impl::SessionTrackerCore;
use std::collections::{BTreeSet, VecDeque};

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
    /// A packet on a leader-learner connection (`conn`), numbered in order.
    Zab { conn: u64, seq: u64, pkt: Zab },
    /// Nothing listens on the quorum port: the connection is refused.
    Refused { conn: u64 },
    /// Client to server: a write (setData) with this cxid.
    Write { cxid: i32 },
    /// Client to server: sync, then read the last applied zxid.
    Sync { cxid: i32 },
    WriteOk { cxid: i32, zxid: i64 },
    /// The sync is done; the server has applied up to `zxid`.
    /// `epoch` is the leader's whose SYNC it waited for.
    SyncOk { cxid: i32, zxid: i64, epoch: i64 },
    /// The server serves no clients now.
    NotServing { cxid: i32 },
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
    pub leader: LeaderMutations,
    pub learner: LearnerMutations,
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
    RoleEnded(String),
    /// The session tracker of leadership `term` saw the session alive at now.
    Touched { term: u64, id: i64 },
    /// The session tracker of leadership `term` expired the session.
    Expired { term: u64, id: i64, timeout: i32 },
    /// A quorum acked NEWLEADER of `epoch`: the leader serves, and its
    /// history is committed.
    Established { epoch: i64, history: Vec<Txn> },
    /// The leader of `epoch` committed `txn`, the `index`th of the history.
    Committed { epoch: i64, index: usize, txn: Txn },
    /// The replica applied `txn` as the `index`th txn of its tree.
    Applied { index: usize, txn: Txn },
    /// Something a correct peer never does (Java exits).
    Fatal(String),
}

/// What a call asks the simulator to do.
#[derive(Debug, Default)]
pub struct Out {
    pub sends: Vec<(i64, Msg)>,
    pub notes: Vec<Note>,
    /// Records were appended: fsync them one disk latency from now.
    pub fsync: bool,
}

/// The role a decision started.
pub enum Role {
    /// Running an election.
    Looking,
    Leading(Box<Leading>),
    /// Following or observing.
    Learning(Box<LearnerRole>),
}

/// A leader: ZAB's leader role and the session tracker.
pub struct Leading {
    /// Which leadership this is, for the session checker.
    pub term: u64,
    pub zab: LeaderRole,
    sessions: SessionTrackerCore,
}

/// One peer.
pub struct Node {
    pub sid: i64,
    pub learner_type: LearnerType,
    pub up: bool,
    pub disk: SimDisk,
    verifier: QuorumVerifier,
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
    /// Learner connections opened, for their ids.
    conns: u64,
    /// The voters it cannot reach now, as the simulator last said: its
    /// election takes them for lost (QuorumCnxManager's broken connections).
    lost: BTreeSet<i64>,
}

impl Node {
    /// A peer that has not started yet; `fsync_ms` is its disk's latency.
    pub fn new(sid: i64, learner_type: LearnerType, verifier: QuorumVerifier, disk: SimDisk, mutations: Mutations, fsync_ms: u64) -> Node {
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
            conns: 0,
            lost: BTreeSet::new(),
        }
    }

    fn new_core(sid: i64, learner_type: LearnerType, verifier: &QuorumVerifier, mutations: Mutations) -> FastLeaderElectionCore {
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
        self.fle.set_lost_peers(self.lost.clone());
        self.look(now, out);
    }

    /// The voters this peer cannot reach now (down, or cut off from it):
    /// its election stops waiting for their votes.
    pub fn set_lost_peers(&mut self, lost: BTreeSet<i64>) {
        self.lost = lost.clone();
        self.fle.set_lost_peers(lost);
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
                let zab = LeaderRole::new(self.sid, &self.verifier, &mut self.disk, now, self.mutations.leader, out);
                Role::Leading(Box::new(Leading { term, zab, sessions }))
            }
            ServerState::Following | ServerState::Observing => {
                self.conns += 1;
                let conn = ((self.sid as u64) << 32) | self.conns;
                let observer = d.state == ServerState::Observing;
                let stream = Stream::new(conn, d.vote.id);
                Role::Learning(Box::new(LearnerRole::new(self.sid, observer, stream, &self.disk, now, self.mutations.learner, out)))
            }
            ServerState::Looking => Role::Looking,
        };
        self.on_wake(now, out);
    }

    /// The fault of a stale vote: the peer leaves what it does and follows
    /// the leader `vote` names, as if its election had decided so.
    pub fn follow(&mut self, vote: Vote, now: u64, out: &mut Out) {
        let state = if self.learner_type == LearnerType::Observer { ServerState::Observing } else { ServerState::Following };
        self.current = vote;
        self.state = state;
        self.inbox.clear();
        self.election_wake = None;
        self.start_role(Decision { vote, state }, now, out);
    }

    /// Records were appended: they are fsynced one disk latency later.
    pub fn request_fsync(&mut self, now: u64) {
        self.sync_at.get_or_insert(now + self.fsync_ms);
    }

    fn end_role(&mut self, why: String, now: u64, out: &mut Out) {
        out.notes.push(Note::RoleEnded(why));
        self.look(now, out);
    }

    /// When this node next needs `on_wake`.
    pub fn next_wake(&self, now: u64) -> Option<u64> {
        let role = match &self.role {
            Role::Looking => None,
            Role::Leading(l) => Some(l.zab.next_wake().min(now + l.sessions.wait_time(now))),
            Role::Learning(l) => Some(l.next_wake()),
        };
        [self.election_wake, role, self.sync_at].into_iter().flatten().min()
    }

    /// Timers due at `now`: fsync, the election's timeout, the role's duties.
    pub fn on_wake(&mut self, now: u64, out: &mut Out) {
        if self.sync_at.is_some_and(|t| t <= now) {
            self.disk.sync();
            self.sync_at = None;
            let ended = match &mut self.role {
                Role::Leading(l) => {
                    l.zab.on_synced(out);
                    None
                }
                Role::Learning(l) => l.on_synced(&mut self.disk, out),
                Role::Looking => None,
            };
            if let Some(why) = ended {
                self.end_role(why, now, out);
            }
        }
        if self.state == ServerState::Looking {
            if self.election_wake.is_some_and(|t| t <= now) {
                let step = self.fle.tick(now, true);
                self.apply(step, now, out);
            }
            return;
        }
        let ended = match &mut self.role {
            Role::Looking => None,
            Role::Leading(l) => {
                for (id, timeout) in l.sessions.expire(now) {
                    out.notes.push(Note::Expired { term: l.term, id, timeout });
                    l.sessions.remove_session(id);
                }
                l.zab.tick(now, out)
            }
            Role::Learning(l) => l.on_wake(now, out),
        };
        if let Some(why) = ended {
            self.end_role(why, now, out);
        }
    }

    /// A message from endpoint `from`.
    pub fn on_message(&mut self, from: i64, msg: Msg, now: u64, out: &mut Out) {
        match msg {
            Msg::Election(bytes) => self.on_notification(from, &bytes, now, out),
            Msg::Zab { conn, seq, pkt } if seq == 0 && pkt.opens_a_connection() && !matches!(self.role, Role::Leading(_)) => {
                // Only a leader listens on the quorum port.
                out.sends.push((from, Msg::Refused { conn }));
            }
            Msg::Refused { conn } => {
                let ended = match &mut self.role {
                    Role::Learning(l) => l.refused(conn, now),
                    _ => None,
                };
                if let Some(why) = ended {
                    self.end_role(why, now, out);
                }
            }
            Msg::Zab { conn, seq, pkt } => {
                let ended = match &mut self.role {
                    Role::Leading(l) => l.zab.on_zab(from, conn, seq, pkt, &mut self.disk, now, out),
                    Role::Learning(l) => l.on_zab(from, conn, seq, pkt, &mut self.disk, now, out),
                    Role::Looking => None,
                };
                if let Some(why) = ended {
                    self.end_role(why, now, out);
                }
            }
            Msg::Write { cxid } => {
                let ended = match &mut self.role {
                    Role::Leading(l) => l.zab.client_write(from, cxid, &mut self.disk, out),
                    Role::Learning(l) => {
                        l.client_write(from, cxid, out);
                        None
                    }
                    Role::Looking => {
                        out.sends.push((from, Msg::NotServing { cxid }));
                        None
                    }
                };
                if let Some(why) = ended {
                    self.end_role(why, now, out);
                }
            }
            Msg::Sync { cxid } => match &mut self.role {
                Role::Leading(l) => l.zab.client_sync(from, cxid, out),
                Role::Learning(l) => l.client_sync(from, cxid, out),
                Role::Looking => out.sends.push((from, Msg::NotServing { cxid })),
            },
            Msg::CreateSession { timeout } => match &mut self.role {
                Role::Leading(l) => {
                    let id = l.sessions.create_session(timeout, now);
                    out.notes.push(Note::Touched { term: l.term, id });
                    out.sends.push((from, Msg::SessionCreated { id }));
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
            Msg::SessionCreated { .. }
            | Msg::TouchReply { .. }
            | Msg::NotLeader { .. }
            | Msg::WriteOk { .. }
            | Msg::SyncOk { .. }
            | Msg::NotServing { .. } => {}
        }
    }

    fn leader_hint(&self) -> i64 {
        match &self.role {
            Role::Learning(l) => l.leader,
            _ => -1,
        }
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
