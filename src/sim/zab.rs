//! ZAB in the simulator: the leader role driving the real `LeaderCore`
//! and `plan_sync`, and the follower/observer role driving the real
//! `LearnerCore`.
//!
//! Leader and learner talk over a modelled TCP connection (`Stream`):
//! packets arrive in order and once; a lost packet breaks the connection,
//! which the receiver sees as a gap in the sequence numbers, as a reset
//! socket. The packets are the cores' own `QuorumPacket`s (FOLLOWERINFO,
//! LEADERINFO, ACKEPOCH, DIFF, ...); only the streamed snapshot after SNAP
//! and the requests a learner forwards for its clients are the
//! simulator's.
//!
//! `LearnerRole` is to `LearnerCore` what quorum::learner's QuorumPeer
//! thread is: it feeds in the leader's packets, the completions of the
//! disk work asked for (the fsync of `LogAndSync` after the simulated
//! disk's latency, `txns_durable`; a snapshot installed or taken at once)
//! and carries out the returned actions: disk records (`Out::fsync`),
//! txns applied (`Note::Applied`), packets, and replies to clients.

use super::disk::{Record, SimDisk, Txn};
use super::node::{Msg, Note, Out, INIT_LIMIT, SYNC_LIMIT, TICK_MS};
use crate::jute::records::QuorumPacket;
use crate::jute::txn::{SetDataTxn, TxnBody, TxnHeader, TxnLogEntry};
use crate::quorum::leader::core::{LeaderCore, LearnerId, Limits, NewEpoch, NewLeaderAck, Output, Tick};
use crate::quorum::learner::core::{Action, LearnerCore, LearnerState};
use crate::quorum::learner::ConnectRetries;
use crate::quorum::learner_handler::{plan_sync, History};
use crate::quorum::quorum_verifier::QuorumVerifier;
use crate::quorum::quorum_packet::{self as qp, packet, PROTOCOL_VERSION};
use crate::quorum::quorum_peer_config::LearnerType;
use crate::server::request::Request;
use crate::zoo_defs::op_code;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

/// What travels on a leader-learner connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Zab {
    /// A packet as the cores make it: FOLLOWERINFO, OBSERVERINFO,
    /// LEADERINFO, ACKEPOCH, DIFF, TRUNC, PROPOSAL, COMMIT, INFORM,
    /// NEWLEADER, UPTODATE, SYNC, PING and ACK.
    Pkt(QuorumPacket),
    /// SNAP and the streamed snapshot (the txns it holds).
    Snap(Vec<Txn>),
    /// A client's write forwarded by a learner (REQUEST).
    Request { client: i64, cxid: i32 },
    /// A client's sync forwarded by a learner.
    Sync,
}

impl Zab {
    /// Whether it opens a connection (FOLLOWERINFO or OBSERVERINFO).
    pub fn opens_a_connection(&self) -> bool {
        matches!(self, Zab::Pkt(p) if p.r#type == qp::FOLLOWERINFO || p.r#type == qp::OBSERVERINFO)
    }
}

/// connectToLeader's pause between tries (leaderConnectDelayDuringRetryMs);
/// how many are made is `ConnectRetries`'s rule.
const CONNECT_RETRY_DELAY: Duration = Duration::from_millis(100);

/// The log entry of a simulated txn: a setData by `client`.
pub fn entry(t: &Txn) -> TxnLogEntry {
    TxnLogEntry {
        hdr: TxnHeader { client_id: t.client, cxid: t.cxid, zxid: t.zxid, time: 0, r#type: op_code::SET_DATA },
        txn: Some(TxnBody::SetData(SetDataTxn { path: "/sim".into(), data: Some(Vec::new()), version: -1 })),
        digest: None,
    }
}

/// The simulated txn of a log entry.
fn txn_of_entry(e: &TxnLogEntry) -> Txn {
    Txn { zxid: e.hdr.zxid, client: e.hdr.client_id, cxid: e.hdr.cxid }
}

/// LEADERINFO of epoch `e`, with the protocol version as its data.
fn leader_info(e: i64) -> Zab {
    Zab::Pkt(packet(qp::LEADERINFO, qp::make_zxid(e, 0), Some(PROTOCOL_VERSION.to_be_bytes().to_vec())))
}

/// One end of a leader-learner connection.
#[derive(Debug)]
pub struct Stream {
    pub conn: u64,
    pub peer: i64,
    send_seq: u64,
    recv_seq: u64,
}

impl Stream {
    pub fn new(conn: u64, peer: i64) -> Stream {
        Stream { conn, peer, send_seq: 0, recv_seq: 0 }
    }

    fn send(&mut self, pkt: Zab, out: &mut Out) {
        out.sends.push((self.peer, Msg::Zab { conn: self.conn, seq: self.send_seq, pkt }));
        self.send_seq += 1;
    }

    /// Whether packet `seq` is the next one; a gap means the connection broke.
    fn receive(&mut self, seq: u64) -> bool {
        let next = seq == self.recv_seq;
        self.recv_seq += 1;
        next
    }
}

/// Where a LearnerHandler is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum HPhase {
    /// FOLLOWERINFO in; waiting for the epoch.
    Connecting,
    /// LEADERINFO sent.
    EpochSent,
    /// ACKEPOCH in; waiting for a quorum of them.
    EpochAcked,
    /// Sync and NEWLEADER queued; waiting for the learner's ACK.
    Synced,
    /// NEWLEADER acked; waiting for the leader to serve.
    AckedNewLeader,
    /// UPTODATE sent.
    UpToDate,
}

struct Handler {
    stream: Stream,
    sid: i64,
    phase: HPhase,
    peer_last_zxid: i64,
}

/// Deliberate mistakes of the leader role.
#[derive(Debug, Clone, Copy, Default)]
pub struct LeaderMutations {
    pub commit_on_a_minority: bool,
    pub skip_a_txn_in_a_diff: bool,
}

/// The leader: `LeaderCore` plus what Leader.lead and the LearnerHandler
/// threads keep around it.
pub struct LeaderRole {
    sid: i64,
    core: LeaderCore,
    mutations: LeaderMutations,
    /// The txns logged, oldest first; the first `applied` are in the tree.
    log: Vec<Txn>,
    applied: usize,
    epoch: Option<i64>,
    epoch_acked: bool,
    new_leader_zxid: i64,
    pub established: bool,
    /// Discovery and sync must finish by then (initLimit a phase).
    phase_deadline: u64,
    learners: BTreeMap<LearnerId, Handler>,
    /// Logged by the leader, its own ACK waiting for the fsync.
    unacked: Vec<i64>,
    /// Writes and syncs of clients connected to the leader.
    local_writes: BTreeSet<(i64, i32)>,
    local_syncs: VecDeque<(i64, i32)>,
}

/// The LearnerId of the leader's own clients' syncs.
const LOCAL: LearnerId = 0;

impl LeaderRole {
    /// lead(): loadData (the history on disk, snapshotted, so durable),
    /// then the leader's own FOLLOWERINFO.
    pub fn new(sid: i64, verifier: &QuorumVerifier, disk: &mut SimDisk, now: u64, mutations: LeaderMutations, out: &mut Out) -> LeaderRole {
        disk.sync();
        let log = disk.history();
        let limits = Limits { tick_time: TICK_MS as i32, init_limit: INIT_LIMIT as i32, sync_limit: SYNC_LIMIT as i32 };
        let mut core = LeaderCore::new(sid, vec![Arc::new(verifier.clone())], limits);
        if mutations.commit_on_a_minority {
            core.mutate_commit_on_a_minority();
        }
        core.set_leader_summary(disk.current_epoch(), log.last().map_or(0, |t| t.zxid));
        let mut l = LeaderRole {
            sid,
            core,
            mutations,
            applied: log.len(),
            log,
            epoch: None,
            epoch_acked: false,
            new_leader_zxid: 0,
            established: false,
            phase_deadline: now + INIT_LIMIT * TICK_MS,
            learners: BTreeMap::new(),
            unacked: Vec::new(),
            local_writes: BTreeSet::new(),
            local_syncs: VecDeque::new(),
        };
        let r = l.core.connecting(sid, disk.accepted_epoch());
        // Only a one-voter ensemble decides here; the simulator has none.
        if let NewEpoch::Decided(e) = r {
            let _ = l.decide_epoch(e, disk, now, out);
        }
        l
    }

    fn last_applied_zxid(&self) -> i64 {
        self.applied.checked_sub(1).map_or(0, |i| self.log[i].zxid)
    }

    /// The epoch is decided: acceptedEpoch is written, LEADERINFO goes to
    /// every learner waiting, and the leader acknowledges it itself.
    fn decide_epoch(&mut self, e: i64, disk: &mut SimDisk, now: u64, out: &mut Out) -> Option<String> {
        disk.append(Record::AcceptedEpoch(e));
        disk.sync();
        self.epoch = Some(e);
        self.phase_deadline = now + INIT_LIMIT * TICK_MS;
        for h in self.learners.values_mut().filter(|h| h.phase == HPhase::Connecting) {
            h.stream.send(leader_info(e), out);
            h.phase = HPhase::EpochSent;
        }
        let summary = (disk.current_epoch(), self.log.last().map_or(0, |t| t.zxid));
        let r = self.core.epoch_ack(self.sid, summary.0, summary.1);
        self.epoch_acked(r, disk, now, out)
    }

    /// What an ACKEPOCH (or the leader's own) did: once a quorum has
    /// acknowledged, currentEpoch is written, NEWLEADER's proposal starts
    /// and every learner that acknowledged is synced.
    fn epoch_acked(&mut self, r: Result<bool, String>, disk: &mut SimDisk, now: u64, out: &mut Out) -> Option<String> {
        match r {
            Err(why) => return Some(why),
            Ok(false) => return None,
            Ok(true) => {}
        }
        if !self.epoch_acked {
            self.epoch_acked = true;
            let e = self.epoch.expect("acknowledged an epoch");
            disk.append(Record::CurrentEpoch(e));
            disk.sync();
            self.new_leader_zxid = qp::make_zxid(e, 0);
            self.core.start_epoch(self.new_leader_zxid);
            self.phase_deadline = now + INIT_LIMIT * TICK_MS;
            if self.core.new_leader_ack(self.sid, self.new_leader_zxid) == NewLeaderAck::QuorumFormed {
                self.establish(now, out);
            }
        }
        let waiting: Vec<LearnerId> =
            self.learners.iter().filter(|(_, h)| h.phase == HPhase::EpochAcked).map(|(id, _)| *id).collect();
        for id in waiting {
            self.sync_learner(id, out);
        }
        None
    }

    /// LearnerHandler's sync: plan_sync decides DIFF, TRUNC or SNAP from
    /// the applied history (the committedLog), startForwarding queues what
    /// is in flight, then NEWLEADER.
    fn sync_learner(&mut self, id: LearnerId, out: &mut Out) {
        let Some(h) = self.learners.get(&id) else { return };
        let committed: Vec<TxnLogEntry> = self.log[..self.applied].iter().map(entry).collect();
        let history = History { committed: &committed, last_processed_zxid: self.last_applied_zxid() };
        let mut plan = plan_sync(h.sid, h.peer_last_zxid, &history, |_| None);
        if self.mutations.skip_a_txn_in_a_diff {
            plan.mutate_skip_a_txn_in_diff();
        }
        let h = self.learners.get_mut(&id).expect("a handler");
        if plan.need_snap {
            h.stream.send(Zab::Snap(self.log[..self.applied].to_vec()), out);
        }
        for p in plan.packets {
            h.stream.send(Zab::Pkt(p), out);
        }
        let outs = self.core.start_forwarding(id, plan.current_zxid);
        self.carry(outs, out);
        let h = self.learners.get_mut(&id).expect("a handler");
        h.stream.send(Zab::Pkt(packet(qp::NEWLEADER, self.new_leader_zxid, None)), out);
        h.phase = HPhase::Synced;
    }

    /// A quorum acked NEWLEADER: the leader serves, its history committed.
    fn establish(&mut self, now: u64, out: &mut Out) {
        self.established = true;
        self.core.start_pinging(now);
        out.notes.push(Note::Established { epoch: self.epoch.unwrap_or(0), history: self.log[..self.applied].to_vec() });
        let ready: Vec<LearnerId> =
            self.learners.iter().filter(|(_, h)| h.phase == HPhase::AckedNewLeader).map(|(id, _)| *id).collect();
        for id in ready {
            self.up_to_date(id, out);
        }
    }

    fn up_to_date(&mut self, id: LearnerId, out: &mut Out) {
        if let Some(Output::Send(_, p)) = self.core.up_to_date(id) {
            let h = self.learners.get_mut(&id).expect("a handler");
            h.stream.send(Zab::Pkt(p), out);
            h.phase = HPhase::UpToDate;
        }
    }

    /// Carries out the core's outputs as the broadcast lock's holder does.
    fn carry(&mut self, outs: Vec<Output>, out: &mut Out) {
        for o in outs {
            match o {
                Output::Send(LOCAL, _) => {
                    if let Some((client, cxid)) = self.local_syncs.pop_front() {
                        let epoch = self.epoch.unwrap_or(0);
                        out.sends.push((client, Msg::SyncOk { cxid, zxid: self.last_applied_zxid(), epoch }));
                    }
                }
                Output::Send(id, p) => {
                    if let Some(h) = self.learners.get_mut(&id) {
                        h.stream.send(Zab::Pkt(p), out);
                    }
                }
                Output::Commit(r) => self.apply(r.zxid, out),
                // The simulated ensemble never reconfigures.
                Output::Activate { .. } => {}
            }
        }
    }

    /// FinalRequestProcessor: the committed txn goes into the tree.
    fn apply(&mut self, zxid: i64, out: &mut Out) {
        let Some(t) = self.log.get(self.applied).copied().filter(|t| t.zxid == zxid) else {
            out.notes.push(Note::Fatal(format!("leader committed 0x{zxid:x}, not its next logged txn")));
            return;
        };
        let index = self.applied;
        self.applied += 1;
        self.core.applied(zxid);
        out.notes.push(Note::Committed { epoch: self.epoch.unwrap_or(0), index, txn: t });
        out.notes.push(Note::Applied { index, txn: t });
        if self.local_writes.remove(&(t.client, t.cxid)) {
            out.sends.push((t.client, Msg::WriteOk { cxid: t.cxid, zxid }));
        }
    }

    /// ProposalRequestProcessor and the SyncThread: the txn is proposed,
    /// logged, and acked by the leader once fsynced.
    fn propose(&mut self, client: i64, cxid: i32, disk: &mut SimDisk, out: &mut Out) -> Option<String> {
        let zxid = self.core.last_proposed() + 1;
        let t = Txn { zxid, client, cxid };
        let mut r = Request::new(None, client, cxid, op_code::SET_DATA, Vec::new(), Vec::new());
        let e = entry(&t);
        r.hdr = Some(e.hdr.clone());
        r.zxid = zxid;
        match self.core.propose(zxid, e.to_bytes(), r) {
            Err(why) => Some(why.to_string()),
            Ok(outs) => {
                self.log.push(t);
                disk.append(Record::Txn(t));
                out.fsync = true;
                self.unacked.push(zxid);
                self.carry(outs, out);
                None
            }
        }
    }

    /// The fsync finished: the leader's own ACKs.
    pub fn on_synced(&mut self, out: &mut Out) {
        for z in std::mem::take(&mut self.unacked) {
            let outs = self.core.ack(self.sid, z, None);
            self.carry(outs, out);
        }
    }

    /// A client of the leader writes.
    pub fn client_write(&mut self, client: i64, cxid: i32, disk: &mut SimDisk, out: &mut Out) -> Option<String> {
        if !self.established {
            out.sends.push((client, Msg::NotServing { cxid }));
            return None;
        }
        self.local_writes.insert((client, cxid));
        self.propose(client, cxid, disk, out)
    }

    /// A client of the leader syncs.
    pub fn client_sync(&mut self, client: i64, cxid: i32, out: &mut Out) {
        if !self.established {
            out.sends.push((client, Msg::NotServing { cxid }));
            return;
        }
        self.local_syncs.push_back((client, cxid));
        let outs = self.core.sync(LOCAL);
        self.carry(outs, out);
    }

    /// A packet from a learner; `Some(reason)` when the leader must stop.
    pub fn on_zab(&mut self, from: i64, conn: u64, seq: u64, pkt: Zab, disk: &mut SimDisk, now: u64, out: &mut Out) -> Option<String> {
        let info = match &pkt {
            Zab::Pkt(p) if p.r#type == qp::FOLLOWERINFO || p.r#type == qp::OBSERVERINFO => {
                Some((qp::epoch_of(p.zxid), p.r#type == qp::OBSERVERINFO))
            }
            _ => None,
        };
        if let (Some((accepted_epoch, observer)), 0, false) = (info, seq, self.learners.contains_key(&conn)) {
            // The learner's older connection is closed (it reconnects only
            // after leaving it): its handler ends.
            let old: Vec<LearnerId> = self.learners.iter().filter(|(_, h)| h.sid == from).map(|(id, _)| *id).collect();
            for id in old {
                self.learners.remove(&id);
                self.core.remove_learner(id);
            }
            let mut stream = Stream::new(conn, from);
            stream.recv_seq = 1;
            self.learners.insert(conn, Handler { stream, sid: from, phase: HPhase::Connecting, peer_last_zxid: 0 });
            self.core.add_learner(conn);
            self.core.identify_learner(conn, from, observer);
            return match self.core.connecting(from, accepted_epoch) {
                NewEpoch::Decided(e) => self.decide_epoch(e, disk, now, out),
                NewEpoch::Known(e) => {
                    let h = self.learners.get_mut(&conn).expect("just added");
                    h.stream.send(leader_info(e), out);
                    h.phase = HPhase::EpochSent;
                    None
                }
                NewEpoch::Waiting => None,
            };
        }
        let Some(h) = self.learners.get_mut(&conn) else { return None };
        if !h.stream.receive(seq) {
            self.learners.remove(&conn);
            self.core.remove_learner(conn);
            return None;
        }
        let (sid, phase) = (h.sid, h.phase);
        if phase >= HPhase::AckedNewLeader {
            self.core.heard_from(conn);
        }
        match pkt {
            Zab::Pkt(p) if p.r#type == qp::ACKEPOCH && phase == HPhase::EpochSent => {
                let Ok(current_epoch) = qp::decode_ack_epoch(p.data.as_deref()) else { return None };
                let last_zxid = p.zxid;
                h.peer_last_zxid = last_zxid;
                h.phase = HPhase::EpochAcked;
                let r = self.core.epoch_ack(sid, current_epoch, last_zxid);
                if self.epoch_acked {
                    // The quorum was there before: this one syncs now.
                    r.err()
                        .or_else(|| {
                            self.sync_learner(conn, out);
                            None
                        })
                } else {
                    self.epoch_acked(r, disk, now, out)
                }
            }
            Zab::Pkt(p) if p.r#type == qp::ACK => {
                if phase == HPhase::Synced && p.zxid == self.new_leader_zxid {
                    h.phase = HPhase::AckedNewLeader;
                    if self.core.new_leader_ack(sid, p.zxid) == NewLeaderAck::QuorumFormed {
                        if self.established {
                            self.up_to_date(conn, out);
                        } else {
                            self.establish(now, out);
                        }
                    }
                } else if phase >= HPhase::AckedNewLeader {
                    let outs = self.core.ack(sid, p.zxid, None);
                    self.carry(outs, out);
                }
                None
            }
            Zab::Request { client, cxid } if self.established => self.propose(client, cxid, disk, out),
            Zab::Sync if self.established => {
                let outs = self.core.sync(conn);
                self.carry(outs, out);
                None
            }
            _ => None,
        }
    }

    /// When the role next needs `tick`.
    pub fn next_wake(&self) -> u64 {
        if self.established {
            self.core.next_ping_at()
        } else {
            self.phase_deadline
        }
    }

    /// Discovery's and sync's initLimit, then lead()'s ping loop.
    pub fn tick(&mut self, now: u64, out: &mut Out) -> Option<String> {
        if !self.established {
            return (now >= self.phase_deadline).then(|| "Timeout while waiting for a quorum of learners".into());
        }
        match self.core.tick(now) {
            Tick::Wait => None,
            Tick::Ping(ids, outputs) => {
                self.carry(outputs, out);
                let last = self.core.last_proposed();
                for id in ids {
                    if let Some(h) = self.learners.get_mut(&id) {
                        h.stream.send(Zab::Pkt(packet(qp::PING, last, None)), out);
                    }
                }
                None
            }
            Tick::StepDown(why) => Some(why),
        }
    }

    /// The epoch it leads, once decided.
    pub fn epoch(&self) -> Option<i64> {
        self.epoch
    }

    /// The leader's logged history (for the end-of-seed check).
    pub fn log(&self) -> &[Txn] {
        &self.log
    }
}

/// Deliberate mistakes of the learner role (switches of `LearnerCore`).
#[derive(Debug, Clone, Copy, Default)]
pub struct LearnerMutations {
    pub ack_before_durable: bool,
    pub accept_older_newleader: bool,
    pub forget_to_ack_logged_proposals: bool,
}

/// A follower or observer: the real `LearnerCore`, driven as
/// quorum::learner's QuorumPeer thread drives it, with the disk work it
/// asks for done on the simulated disk and the SyncThread and
/// CommitProcessor around it.
pub struct LearnerRole {
    pub leader: i64,
    core: LearnerCore,
    observer: bool,
    stream: Stream,
    /// Connections refused so far, and when the next try is due.
    retries: ConnectRetries,
    retry_at: Option<u64>,
    last_heard: u64,
    /// NEWLEADER has been read: the leader must be heard within syncLimit
    /// from now on (initLimit before).
    after_newleader: bool,
    /// The tree: the txns applied, oldest first (the database loaded at
    /// the start, then what the sync and the commits apply).
    tree: Vec<Txn>,
    /// The first `reported` of `tree` were reported applied (the tree is
    /// reported once it serves).
    reported: usize,
    serving: bool,
    /// The snapshot streamed after SNAP, until the core asks to read it.
    snapshot: Option<Vec<Txn>>,
    /// The core waits for the fsync of its `LogAndSync` (`txns_durable`);
    /// packets meanwhile wait as they would in the socket.
    logging: bool,
    backlog: VecDeque<QuorumPacket>,
    /// Proposals the SyncThread logged, their ACKs (SendAckRequestProcessor)
    /// waiting for the fsync.
    unacked: Vec<i64>,
    writes: BTreeSet<(i64, i32)>,
    syncs: VecDeque<(i64, i32)>,
}

impl LearnerRole {
    /// follow/observe: the database loaded from the disk, then the
    /// connection to the leader (`stream`) and the core's
    /// FOLLOWERINFO/OBSERVERINFO.
    pub fn new(sid: i64, observer: bool, stream: Stream, disk: &SimDisk, now: u64, mutations: LearnerMutations, out: &mut Out) -> LearnerRole {
        let tree = disk.history();
        let mut core = LearnerCore::new(LearnerState {
            my_id: sid,
            learner_type: if observer { LearnerType::Observer } else { LearnerType::Participant },
            accepted_epoch: disk.accepted_epoch(),
            current_epoch: disk.current_epoch(),
            last_logged_zxid: tree.last().map_or(0, |t| t.zxid),
            config_version: 0,
        });
        if mutations.ack_before_durable {
            core.mutate_ack_before_durable();
        }
        if mutations.accept_older_newleader {
            core.mutate_accept_older_newleader();
        }
        if mutations.forget_to_ack_logged_proposals {
            core.mutate_forget_to_ack_logged_proposals();
        }
        let mut l = LearnerRole {
            leader: stream.peer,
            core,
            observer,
            stream,
            retries: ConnectRetries::default(),
            retry_at: None,
            last_heard: now,
            after_newleader: false,
            tree,
            reported: 0,
            serving: false,
            snapshot: None,
            logging: false,
            backlog: VecDeque::new(),
            unacked: Vec::new(),
            writes: BTreeSet::new(),
            syncs: VecDeque::new(),
        };
        l.register(out);
        l
    }

    /// The connection is up: the core's FOLLOWERINFO/OBSERVERINFO.
    fn register(&mut self, out: &mut Out) {
        for a in self.core.start() {
            if let Action::Send(p) = a {
                self.stream.send(Zab::Pkt(p), out);
            }
        }
    }

    /// Nothing listened on the leader's quorum port (it does not lead, or
    /// not yet): connectToLeader tries again a little later, a few times.
    pub fn refused(&mut self, conn: u64, now: u64) -> Option<String> {
        if conn != self.stream.conn || self.retry_at.is_some() {
            return None;
        }
        let Some(pause) = self.retries.after_failure(true, CONNECT_RETRY_DELAY) else {
            return Some("connectToLeader exceeded on retries".into());
        };
        self.retry_at = Some(now + pause.as_millis() as u64);
        None
    }

    /// The role's timers: a connection to try again, or the leader silent
    /// too long (`Some(reason)`: the learner gives up).
    pub fn on_wake(&mut self, now: u64, out: &mut Out) -> Option<String> {
        if self.retry_at.is_some_and(|t| t <= now) {
            self.retry_at = None;
            let conn = self.stream.conn + (1 << 48);
            self.stream = Stream::new(conn, self.leader);
            self.register(out);
        }
        (now >= self.deadline()).then(|| "no word from the leader within the limit".to_string())
    }

    /// Whether it got UPTODATE and serves.
    pub fn serving(&self) -> bool {
        self.serving
    }

    /// Without a packet from the leader by then, the learner gives up
    /// (initLimit ticks until NEWLEADER, syncLimit after).
    pub fn deadline(&self) -> u64 {
        let limit = if self.after_newleader { SYNC_LIMIT } else { INIT_LIMIT };
        self.last_heard + limit * TICK_MS
    }

    /// When the role next needs `on_wake`.
    pub fn next_wake(&self) -> u64 {
        self.retry_at.map_or(self.deadline(), |t| t.min(self.deadline()))
    }

    fn last_applied_zxid(&self) -> i64 {
        self.tree.last().map_or(0, |t| t.zxid)
    }

    /// A txn goes into the tree; once serving it is reported and its
    /// client answered.
    fn apply(&mut self, t: Txn, out: &mut Out) {
        self.tree.push(t);
        if self.serving {
            self.report_applied(out);
        }
    }

    fn report_applied(&mut self, out: &mut Out) {
        while self.reported < self.tree.len() {
            let t = self.tree[self.reported];
            out.notes.push(Note::Applied { index: self.reported, txn: t });
            self.reported += 1;
            if self.writes.remove(&(t.client, t.cxid)) {
                out.sends.push((t.client, Msg::WriteOk { cxid: t.cxid, zxid: t.zxid }));
            }
        }
    }

    /// A packet from the leader; `Some(reason)` when the learner gives up.
    pub fn on_zab(&mut self, from: i64, conn: u64, seq: u64, pkt: Zab, disk: &mut SimDisk, now: u64, out: &mut Out) -> Option<String> {
        if from != self.leader || conn != self.stream.conn {
            return None;
        }
        if !self.stream.receive(seq) {
            return Some("connection to the leader broken".into());
        }
        self.last_heard = now;
        let p = match pkt {
            Zab::Pkt(p) => p,
            Zab::Snap(txns) => {
                let zxid = txns.last().map_or(0, |t| t.zxid);
                self.snapshot = Some(txns);
                packet(qp::SNAP, zxid, None)
            }
            Zab::Request { .. } | Zab::Sync => return None,
        };
        if self.logging {
            self.backlog.push_back(p);
            return None;
        }
        self.feed(p, disk, out).err()
    }

    fn feed(&mut self, p: QuorumPacket, disk: &mut SimDisk, out: &mut Out) -> Result<(), String> {
        let newleader = p.r#type == qp::NEWLEADER;
        let actions = self.core.packet(p).map_err(|e| e.to_string())?;
        self.carry_out(actions, disk, out)?;
        self.after_newleader |= newleader;
        Ok(())
    }

    /// Carries out the core's actions in order, as quorum::learner's
    /// driver does, with the simulated disk; a completion the core asked
    /// for is fed back at once, except the fsync of `LogAndSync`, which
    /// takes the disk's latency (`on_synced`).
    fn carry_out(&mut self, actions: Vec<Action>, disk: &mut SimDisk, out: &mut Out) -> Result<(), String> {
        for action in actions {
            match action {
                Action::Send(p) => self.stream.send(Zab::Pkt(p), out),
                Action::WriteAcceptedEpoch(e) => {
                    disk.append(Record::AcceptedEpoch(e));
                    disk.sync();
                }
                Action::WriteCurrentEpoch(e) => {
                    disk.append(Record::CurrentEpoch(e));
                    disk.sync();
                }
                Action::ReadSnapshot(_) => {
                    self.tree = self.snapshot.take().ok_or("no snapshot streamed after SNAP")?;
                    let next = self.core.snapshot_installed().map_err(|e| e.to_string())?;
                    self.carry_out(next, disk, out)?;
                }
                Action::Truncate(zxid) => {
                    disk.append(Record::Truncate(zxid));
                    disk.sync();
                    self.tree.retain(|t| t.zxid <= zxid);
                }
                // The simulated ensemble's membership is fixed.
                Action::InitConfig
                | Action::StartServer(_)
                | Action::Revalidate(_)
                | Action::SeeConfig(_)
                | Action::ActivateConfig { .. } => {}
                Action::Apply(e) => self.apply(txn_of_entry(&e), out),
                Action::TakeSnapshot => {
                    disk.append(Record::Snapshot(self.tree.clone()));
                    disk.sync();
                    let next = self.core.snapshot_taken().map_err(|e| e.to_string())?;
                    self.carry_out(next, disk, out)?;
                }
                Action::LogAndSync(entries) => {
                    for e in &entries {
                        disk.append(Record::Txn(txn_of_entry(e)));
                    }
                    out.fsync = true;
                    self.logging = true;
                }
                Action::AnswerPing(p) => self.stream.send(Zab::Pkt(packet(qp::PING, p.zxid, None)), out),
                Action::LogRequest(e) => {
                    // The SyncThread logs it; the SendAckRequestProcessor
                    // acknowledges it once the fsync is done.
                    let t = txn_of_entry(&e);
                    disk.append(Record::Txn(t));
                    out.fsync = true;
                    self.unacked.push(t.zxid);
                }
                Action::Commit(e) => self.apply(txn_of_entry(&e), out),
                Action::CommitRequest(e) => {
                    // An observer logs it (syncEnabled) and applies it.
                    let t = txn_of_entry(&e);
                    disk.append(Record::Txn(t));
                    out.fsync = true;
                    self.apply(t, out);
                }
                Action::Sync => {
                    if let Some((client, cxid)) = self.syncs.pop_front() {
                        let epoch = self.core.new_epoch();
                        out.sends.push((client, Msg::SyncOk { cxid, zxid: self.last_applied_zxid(), epoch }));
                    }
                }
                Action::Serve => {
                    self.serving = true;
                    self.report_applied(out);
                }
            }
        }
        Ok(())
    }

    /// The fsync finished: the SyncThread's ACKs, the core's `txns_durable`
    /// if it waited for one, then the packets that waited meanwhile.
    pub fn on_synced(&mut self, disk: &mut SimDisk, out: &mut Out) -> Option<String> {
        for z in std::mem::take(&mut self.unacked) {
            if !self.observer {
                self.stream.send(Zab::Pkt(packet(qp::ACK, z, None)), out);
            }
        }
        if !self.logging {
            return None;
        }
        self.logging = false;
        let r = self.core.txns_durable().map_err(|e| e.to_string()).and_then(|next| self.carry_out(next, disk, out));
        if let Err(why) = r {
            return Some(why);
        }
        while !self.logging {
            let Some(p) = self.backlog.pop_front() else { break };
            if let Err(why) = self.feed(p, disk, out) {
                return Some(why);
            }
        }
        None
    }

    /// A client of this learner writes: the request goes to the leader.
    pub fn client_write(&mut self, client: i64, cxid: i32, out: &mut Out) {
        if !self.serving() {
            out.sends.push((client, Msg::NotServing { cxid }));
            return;
        }
        self.writes.insert((client, cxid));
        self.stream.send(Zab::Request { client, cxid }, out);
    }

    /// A client of this learner syncs: answered after the leader's SYNC.
    pub fn client_sync(&mut self, client: i64, cxid: i32, out: &mut Out) {
        if !self.serving() {
            out.sends.push((client, Msg::NotServing { cxid }));
            return;
        }
        self.syncs.push_back((client, cxid));
        self.stream.send(Zab::Sync, out);
    }
}
