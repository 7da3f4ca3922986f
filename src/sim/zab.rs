//! ZAB in the simulator: the leader role driving the real `LeaderCore`
//! and `plan_sync`, and a follower/observer role modelled on Java's
//! Learner, Follower and Observer.
//!
//! Leader and learner talk over a modelled TCP connection (`Stream`):
//! packets arrive in order and once; a lost packet breaks the connection,
//! which the receiver sees as a gap in the sequence numbers, as a reset
//! socket.
//!
//! **The learner seam.** `LearnerRole` is a stand-in for the `LearnerCore`
//! being extracted from quorum::learner (the follower/observer side of
//! sync and broadcast). Its inputs are the leader's packets (`on_zab`), a
//! completed fsync (`on_synced`), clients' writes and syncs, and the time
//! (`deadline`); its outputs are packets to the leader, records for the
//! disk with an fsync asked for (`Out::fsync`), txns applied (`Note::Applied`)
//! and replies to clients. Swapping in `LearnerCore` means feeding it those
//! same inputs from `on_zab`/`on_synced` and mapping its outputs to
//! `Out`; the simulator around it does not change.

use super::disk::{Record, SimDisk, Txn};
use super::node::{Msg, Note, Out, INIT_LIMIT, SYNC_LIMIT, TICK_MS};
use crate::jute::records::QuorumPacket;
use crate::jute::txn::{SetDataTxn, TxnBody, TxnHeader, TxnLogEntry};
use crate::quorum::leader::core::{LeaderCore, LearnerId, Limits, NewEpoch, NewLeaderAck, Output, Tick};
use crate::quorum::learner_handler::{plan_sync, History};
use crate::quorum::quorum_maj::QuorumMaj;
use crate::quorum::quorum_packet::{self as qp, packet};
use crate::server::request::Request;
use crate::zoo_defs::op_code;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// What travels on a leader-learner connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Zab {
    /// PROPOSAL, COMMIT, INFORM, SYNC, UPTODATE, DIFF, TRUNC, NEWLEADER,
    /// PING and ACK, as the cores make them.
    Pkt(QuorumPacket),
    /// SNAP and the streamed snapshot (the txns it holds).
    Snap(Vec<Txn>),
    /// FOLLOWERINFO or OBSERVERINFO.
    Info { accepted_epoch: i64, last_zxid: i64, observer: bool },
    LeaderInfo { epoch: i64 },
    /// `current_epoch` is -1 when the learner had accepted the epoch before.
    AckEpoch { current_epoch: i64, last_zxid: i64 },
    /// A client's write forwarded by a learner (REQUEST).
    Request { client: i64, cxid: i32 },
    /// A client's sync forwarded by a learner.
    Sync,
}

/// The log entry of a simulated txn: a setData by `client`.
pub fn entry(t: &Txn) -> TxnLogEntry {
    TxnLogEntry {
        hdr: TxnHeader { client_id: t.client, cxid: t.cxid, zxid: t.zxid, time: 0, r#type: op_code::SET_DATA },
        txn: Some(TxnBody::SetData(SetDataTxn { path: "/sim".into(), data: Some(Vec::new()), version: -1 })),
        digest: None,
    }
}

/// The simulated txn a PROPOSAL or INFORM carries.
fn txn_of(p: &QuorumPacket) -> Option<Txn> {
    let e = TxnLogEntry::from_bytes(p.data.as_deref()?).ok()?;
    Some(Txn { zxid: e.hdr.zxid, client: e.hdr.client_id, cxid: e.hdr.cxid })
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
    pub fn new(sid: i64, verifier: &QuorumMaj, disk: &mut SimDisk, now: u64, mutations: LeaderMutations, out: &mut Out) -> LeaderRole {
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
            h.stream.send(Zab::LeaderInfo { epoch: e }, out);
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
                        out.sends.push((client, Msg::SyncOk { cxid, zxid: self.last_applied_zxid() }));
                    }
                }
                Output::Send(id, p) => {
                    if let Some(h) = self.learners.get_mut(&id) {
                        h.stream.send(Zab::Pkt(p), out);
                    }
                }
                Output::Commit(r) => self.apply(r.zxid, out),
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
        if let (Zab::Info { accepted_epoch, observer, .. }, 0, false) = (&pkt, seq, self.learners.contains_key(&conn)) {
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
            self.core.identify_learner(conn, from, *observer);
            return match self.core.connecting(from, *accepted_epoch) {
                NewEpoch::Decided(e) => self.decide_epoch(e, disk, now, out),
                NewEpoch::Known(e) => {
                    let h = self.learners.get_mut(&conn).expect("just added");
                    h.stream.send(Zab::LeaderInfo { epoch: e }, out);
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
            Zab::AckEpoch { current_epoch, last_zxid } if phase == HPhase::EpochSent => {
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
            Tick::Ping(ids) => {
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

    /// The leader's logged history (for the end-of-seed check).
    pub fn log(&self) -> &[Txn] {
        &self.log
    }
}

/// Where a learner is in Learner.syncWithLeader and after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LPhase {
    /// FOLLOWERINFO sent; waiting for LEADERINFO.
    Discovery,
    /// ACKEPOCH sent; DIFF/TRUNC/SNAP and proposals arriving.
    Syncing,
    /// NEWLEADER received (acked once durable); waiting for UPTODATE.
    AwaitUpToDate,
    /// UPTODATE received: serving clients.
    Serving,
}

/// A follower or observer: a model of Java's Learner/Follower/Observer
/// (see the module doc for the seam where `LearnerCore` goes).
pub struct LearnerRole {
    pub leader: i64,
    observer: bool,
    stream: Stream,
    last_heard: u64,
    phase: LPhase,
    /// The txns logged (or, during sync, received), oldest first; the
    /// first `applied` are in the tree.
    log: Vec<Txn>,
    applied: usize,
    /// During sync: everything up to this zxid is committed.
    commit_mark: i64,
    /// The length of `log` a SNAP gave, written as a snapshot at NEWLEADER.
    snap: Option<usize>,
    /// Sync proposals, logged at NEWLEADER.
    sync_proposals: Vec<Txn>,
    /// Logged proposals whose ACK waits for the fsync.
    unacked: Vec<i64>,
    newleader_ack: Option<i64>,
    writes: BTreeSet<(i64, i32)>,
    syncs: VecDeque<(i64, i32)>,
}

impl LearnerRole {
    /// connectToLeader and registerWithLeader: FOLLOWERINFO/OBSERVERINFO
    /// with the accepted epoch and the last logged zxid.
    pub fn new(leader: i64, observer: bool, conn: u64, disk: &SimDisk, now: u64, out: &mut Out) -> LearnerRole {
        let log = disk.history();
        let mut stream = Stream::new(conn, leader);
        let last_zxid = log.last().map_or(0, |t| t.zxid);
        stream.send(Zab::Info { accepted_epoch: disk.accepted_epoch(), last_zxid, observer }, out);
        LearnerRole {
            leader,
            observer,
            stream,
            last_heard: now,
            phase: LPhase::Discovery,
            log,
            applied: 0,
            commit_mark: 0,
            snap: None,
            sync_proposals: Vec::new(),
            unacked: Vec::new(),
            newleader_ack: None,
            writes: BTreeSet::new(),
            syncs: VecDeque::new(),
        }
    }

    /// Whether it got UPTODATE and serves.
    pub fn serving(&self) -> bool {
        self.phase == LPhase::Serving
    }

    /// Without a packet from the leader by then, the learner gives up
    /// (initLimit ticks while syncing, syncLimit after).
    pub fn deadline(&self) -> u64 {
        let limit = if self.serving() { SYNC_LIMIT } else { INIT_LIMIT };
        self.last_heard + limit * TICK_MS
    }

    fn last_applied_zxid(&self) -> i64 {
        self.applied.checked_sub(1).map_or(0, |i| self.log[i].zxid)
    }

    fn apply_next(&mut self, out: &mut Out) {
        let t = self.log[self.applied];
        out.notes.push(Note::Applied { index: self.applied, txn: t });
        self.applied += 1;
        if self.writes.remove(&(t.client, t.cxid)) {
            out.sends.push((t.client, Msg::WriteOk { cxid: t.cxid, zxid: t.zxid }));
        }
    }

    /// Logs a proposal; its ACK leaves once it is durable.
    fn log_proposal(&mut self, t: Txn, disk: &mut SimDisk, out: &mut Out) {
        self.log.push(t);
        disk.append(Record::Txn(t));
        out.fsync = true;
        if !self.observer {
            self.unacked.push(t.zxid);
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
        match pkt {
            Zab::LeaderInfo { epoch } => {
                let accepted = disk.accepted_epoch();
                if epoch < accepted {
                    return Some(format!("Leaders epoch, {epoch} is less than accepted epoch, {accepted}"));
                }
                let current = if epoch > accepted {
                    disk.append(Record::AcceptedEpoch(epoch));
                    disk.sync();
                    disk.current_epoch()
                } else {
                    -1
                };
                let last_zxid = self.log.last().map_or(0, |t| t.zxid);
                self.stream.send(Zab::AckEpoch { current_epoch: current, last_zxid }, out);
                self.phase = LPhase::Syncing;
            }
            Zab::Snap(txns) => {
                self.snap = Some(txns.len());
                self.commit_mark = txns.last().map_or(0, |t| t.zxid);
                self.log = txns;
            }
            Zab::Pkt(p) => return self.on_packet(p, disk, out),
            _ => {}
        }
        None
    }

    fn on_packet(&mut self, p: QuorumPacket, disk: &mut SimDisk, out: &mut Out) -> Option<String> {
        let syncing = matches!(self.phase, LPhase::Discovery | LPhase::Syncing);
        match p.r#type {
            qp::DIFF => self.commit_mark = p.zxid,
            qp::TRUNC => {
                self.log.retain(|t| t.zxid <= p.zxid);
                disk.append(Record::Truncate(p.zxid));
                disk.sync();
                self.commit_mark = p.zxid;
            }
            qp::PROPOSAL => {
                let t = txn_of(&p)?;
                if syncing {
                    self.log.push(t);
                    self.sync_proposals.push(t);
                } else {
                    self.log_proposal(t, disk, out);
                }
            }
            qp::COMMIT => {
                if self.phase != LPhase::Serving {
                    self.commit_mark = self.commit_mark.max(p.zxid);
                } else {
                    return self.commit(p.zxid, out);
                }
            }
            qp::INFORM => {
                let t = txn_of(&p)?;
                self.log.push(t);
                if self.phase == LPhase::Serving {
                    self.apply_next(out);
                } else {
                    self.commit_mark = self.commit_mark.max(t.zxid);
                }
            }
            qp::NEWLEADER => {
                // The snapshot and the sync's proposals are logged and
                // currentEpoch written; the ACK waits for the fsync.
                if let Some(n) = self.snap.take() {
                    disk.append(Record::Snapshot(self.log[..n].to_vec()));
                }
                // Logged through the SyncThread, so each is acknowledged
                // (SendAckRequestProcessor) once durable.
                for t in std::mem::take(&mut self.sync_proposals) {
                    disk.append(Record::Txn(t));
                    if !self.observer {
                        self.unacked.push(t.zxid);
                    }
                }
                disk.append(Record::CurrentEpoch(qp::epoch_of(p.zxid)));
                out.fsync = true;
                self.newleader_ack = Some(p.zxid);
                self.phase = LPhase::AwaitUpToDate;
            }
            qp::UPTODATE => {
                while self.applied < self.log.len() && self.log[self.applied].zxid <= self.commit_mark {
                    self.apply_next(out);
                }
                self.phase = LPhase::Serving;
            }
            qp::SYNC => {
                if let Some((client, cxid)) = self.syncs.pop_front() {
                    out.sends.push((client, Msg::SyncOk { cxid, zxid: self.last_applied_zxid() }));
                }
            }
            qp::PING => self.stream.send(Zab::Pkt(packet(qp::PING, p.zxid, None)), out),
            _ => {}
        }
        None
    }

    /// FollowerZooKeeperServer.commit: the COMMIT must be for the next
    /// logged txn (Java exits otherwise).
    fn commit(&mut self, zxid: i64, out: &mut Out) -> Option<String> {
        match self.log.get(self.applied) {
            Some(t) if t.zxid == zxid => {
                self.apply_next(out);
                None
            }
            _ if zxid <= self.last_applied_zxid() => None,
            next => {
                out.notes.push(Note::Fatal(format!(
                    "Committing zxid 0x{zxid:x} but next pending txn 0x{:x}",
                    next.map_or(0, |t| t.zxid)
                )));
                Some("unmatched commit".into())
            }
        }
    }

    /// The fsync finished: the NEWLEADER ACK, then the proposals' ACKs.
    pub fn on_synced(&mut self, out: &mut Out) {
        if let Some(z) = self.newleader_ack.take() {
            self.stream.send(Zab::Pkt(packet(qp::ACK, z, None)), out);
        }
        for z in std::mem::take(&mut self.unacked) {
            self.stream.send(Zab::Pkt(packet(qp::ACK, z, None)), out);
        }
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
