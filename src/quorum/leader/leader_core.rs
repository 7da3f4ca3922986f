//! LeaderCore: the decisions of the ZAB leader's broadcast phase, as plain
//! data. It holds the outstanding proposals and their ack sets,
//! toBeApplied, lastProposed/lastCommitted, the learner syncs waiting for
//! a commit, the synced follower and observer lists, the NEWLEADER ack
//! quorum, and each learner's syncLimit deadline with the leader's tick.
//! Its methods take what happened (a txn to propose, an ACK from sid S for
//! zxid Z, a learner synced, a packet heard, a half tick passed at time T)
//! and return what to do (packets for which learners, txns for the
//! CommitProcessor, learners to ping, "step down"). It touches no socket,
//! thread, lock or clock: `Leader` keeps it behind the broadcast lock and
//! its callers (the ProcessThread, the SyncThread, the LearnerHandler
//! threads, the CommitProcessor and the QuorumPeer thread's ping loop)
//! carry out its outputs while holding that lock, so packets reach each
//! learner's queue in the order the core decided them.

use crate::jute::records::QuorumPacket;
use crate::quorum::quorum_maj::QuorumMaj;
use crate::quorum::quorum_packet::{self as qp, packet};
use crate::quorum::synced_learner_tracker::SyncedLearnerTracker;
use crate::server::request::Request;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use tracing::{debug, error, warn};

/// A learner connection, as the core knows it (one per LearnerHandler).
pub type LearnerId = u64;

/// What the driver carries out, in order.
#[derive(Debug)]
pub enum Output {
    /// Queue a packet on that learner's sender.
    Send(LearnerId, QuorumPacket),
    /// Hand a committed txn to the CommitProcessor.
    Commit(Request),
}

/// What a half tick of the ping loop calls for.
#[derive(Debug, PartialEq)]
pub enum Tick {
    /// Not yet time: call again at `next_ping_at`.
    Wait,
    /// Ping these learners (each checks its own transaction timeout).
    Ping(Vec<LearnerId>),
    /// The synced voters are no quorum: stop leading, for this reason.
    StepDown(String),
}

/// What an ACK of NEWLEADER did.
#[derive(Debug, PartialEq, Eq)]
pub enum NewLeaderAck {
    /// From another epoch: ignored.
    Stale,
    /// Counted; no quorum yet.
    Waiting,
    /// A quorum (of every verifier) has acked: the leader may serve.
    QuorumFormed,
}

/// The sizes of the proposals sent (BufferStats): -1 before the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProposalStats {
    pub last: i64,
    pub min: i64,
    pub max: i64,
}

/// The timing settings the core counts in: tickTime (ms), initLimit and
/// syncLimit (ticks).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub tick_time: i32,
    pub init_limit: i32,
    pub sync_limit: i32,
}

/// A txn proposed to the quorum and the voters that have logged it.
struct Proposal {
    packet: QuorumPacket,
    /// The txn, handed to the CommitProcessor once committed.
    request: Option<Request>,
    acks: SyncedLearnerTracker,
}

/// A connected learner.
struct Learner {
    /// -1 until its FOLLOWERINFO/OBSERVERINFO names it.
    sid: i64,
    observer: bool,
    /// The tick by which it must be heard from again to count as synced.
    tick_of_next_ack_deadline: i32,
}

/// The NEWLEADER proposal: who has logged everything up to it.
struct NewLeader {
    zxid: i64,
    acks: SyncedLearnerTracker,
    quorum_formed: bool,
}

/// The leader's broadcast state (see the module doc).
pub struct LeaderCore {
    my_id: i64,
    /// The configuration in force, then the one being moved to if any:
    /// proposals and the synced check need a quorum of each.
    verifiers: Vec<Arc<QuorumMaj>>,
    limits: Limits,
    outstanding: BTreeMap<i64, Proposal>,
    /// Committed proposals not yet applied by FinalRequestProcessor.
    to_be_applied: VecDeque<QuorumPacket>,
    last_committed: i64,
    last_proposed: i64,
    /// Learner syncs waiting for the proposal (by zxid) they came after.
    pending_syncs: BTreeMap<i64, Vec<LearnerId>>,
    learners: BTreeMap<LearnerId, Learner>,
    /// Synced followers, then synced observers, in the order they synced.
    forwarding: Vec<LearnerId>,
    observing: Vec<LearnerId>,
    proposal_stats: ProposalStats,
    new_leader: NewLeader,
    /// The leader's tick (QuorumPeer.tick): one per tickTime of pinging.
    tick: i32,
    tick_skip: bool,
    next_ping_at: u64,
}

impl LeaderCore {
    /// A leader `my_id` under `verifiers` (the configuration in force,
    /// then a newer one being moved to, if any).
    pub fn new(my_id: i64, verifiers: Vec<Arc<QuorumMaj>>, limits: Limits) -> LeaderCore {
        let new_leader = NewLeader { zxid: 0, acks: SyncedLearnerTracker::new(&verifiers), quorum_formed: false };
        LeaderCore {
            my_id,
            verifiers,
            limits,
            outstanding: BTreeMap::new(),
            to_be_applied: VecDeque::new(),
            last_committed: -1,
            last_proposed: 0,
            pending_syncs: BTreeMap::new(),
            learners: BTreeMap::new(),
            forwarding: Vec::new(),
            observing: Vec::new(),
            proposal_stats: ProposalStats { last: -1, min: -1, max: -1 },
            new_leader,
            tick: 0,
            tick_skip: true,
            next_ping_at: 0,
        }
    }

    // ---- figures ----

    pub fn last_proposed(&self) -> i64 {
        self.last_proposed
    }

    pub fn proposal_stats(&self) -> ProposalStats {
        self.proposal_stats
    }

    /// Synced followers, voting or not.
    pub fn forwarding(&self) -> usize {
        self.forwarding.len()
    }

    /// Synced followers that vote in none of the configurations.
    pub fn non_voting_followers(&self) -> usize {
        self.forwarding.iter().filter(|id| !self.is_voter(self.sid_of(**id))).count()
    }

    pub fn observing(&self) -> usize {
        self.observing.len()
    }

    /// Learner syncs waiting for a commit.
    pub fn num_pending_syncs(&self) -> usize {
        self.pending_syncs.values().map(Vec::len).sum()
    }

    fn sid_of(&self, id: LearnerId) -> i64 {
        self.learners.get(&id).map_or(-1, |l| l.sid)
    }

    fn is_voter(&self, sid: i64) -> bool {
        self.verifiers.iter().any(|v| v.is_voter(sid))
    }

    fn tracker(&self) -> SyncedLearnerTracker {
        SyncedLearnerTracker::new(&self.verifiers)
    }

    // ---- learners ----

    /// A LearnerHandler started: it has initLimit + syncLimit ticks to sync.
    pub fn add_learner(&mut self, id: LearnerId) {
        let deadline = self.tick + self.limits.init_limit + self.limits.sync_limit;
        self.learners.insert(id, Learner { sid: -1, observer: false, tick_of_next_ack_deadline: deadline });
    }

    /// Its FOLLOWERINFO/OBSERVERINFO said who it is.
    pub fn identify_learner(&mut self, id: LearnerId, sid: i64, observer: bool) {
        if let Some(l) = self.learners.get_mut(&id) {
            l.sid = sid;
            l.observer = observer;
        }
    }

    /// A packet arrived from the learner after its sync: it counts as
    /// synced for syncLimit more ticks.
    pub fn heard_from(&mut self, id: LearnerId) {
        let deadline = self.tick + self.limits.sync_limit;
        if let Some(l) = self.learners.get_mut(&id) {
            l.tick_of_next_ack_deadline = deadline;
        }
    }

    /// The learner is gone: no more packets, syncs or synced status.
    pub fn remove_learner(&mut self, id: LearnerId) {
        self.learners.remove(&id);
        self.forwarding.retain(|x| *x != id);
        self.observing.retain(|x| *x != id);
        for waiting in self.pending_syncs.values_mut() {
            waiting.retain(|x| *x != id);
        }
        self.pending_syncs.retain(|_, w| !w.is_empty());
    }

    /// startForwarding: the learner's sync packets (up to `last_seen`) are
    /// queued; it gets the committed-but-unapplied proposals after that
    /// (each with its COMMIT) and, a follower, the outstanding ones, then
    /// joins the broadcast lists.
    pub fn start_forwarding(&mut self, id: LearnerId, last_seen: i64) -> Vec<Output> {
        let mut out = Vec::new();
        let Some(observer) = self.learners.get(&id).map(|l| l.observer) else {
            warn!("Cannot forward to learner {id}: it has left");
            return out;
        };
        if self.last_proposed > last_seen {
            for p in self.to_be_applied.iter().filter(|p| p.zxid > last_seen) {
                out.push(Output::Send(id, p.clone()));
                out.push(Output::Send(id, packet(qp::COMMIT, p.zxid, None)));
            }
            if !observer {
                for p in self.outstanding.range(last_seen + 1..).map(|(_, p)| &p.packet) {
                    out.push(Output::Send(id, p.clone()));
                }
            }
        }
        if observer {
            self.observing.push(id);
        } else {
            self.forwarding.push(id);
        }
        out
    }

    // ---- NEWLEADER ----

    /// The new epoch is fixed: NEWLEADER carries `new_leader_zxid`, and
    /// proposals count on from it.
    pub fn start_epoch(&mut self, new_leader_zxid: i64) {
        self.last_proposed = new_leader_zxid;
        self.new_leader = NewLeader { zxid: new_leader_zxid, acks: self.tracker(), quorum_formed: false };
    }

    /// waitForNewLeaderAck's counting: `sid` (the leader itself included)
    /// has logged everything up to NEWLEADER `zxid`.
    pub fn new_leader_ack(&mut self, sid: i64, zxid: i64) -> NewLeaderAck {
        let n = &mut self.new_leader;
        if n.quorum_formed {
            return NewLeaderAck::QuorumFormed;
        }
        if zxid != n.zxid {
            error!("NEWLEADER ACK from sid: {sid} is from a different epoch - current 0x{:x} received 0x{zxid:x}", n.zxid);
            return NewLeaderAck::Stale;
        }
        n.acks.add_ack(sid);
        if n.acks.has_all_quorums() {
            n.quorum_formed = true;
            NewLeaderAck::QuorumFormed
        } else {
            NewLeaderAck::Waiting
        }
    }

    /// Whether a quorum has acked NEWLEADER.
    pub fn new_leader_ack_quorum(&self) -> bool {
        self.new_leader.quorum_formed
    }

    /// The sids that acked NEWLEADER, for the give-up message.
    pub fn new_leader_acks(&self) -> String {
        self.new_leader.acks.acks_to_string()
    }

    /// UPTODATE for a learner once the leader serves; never before a
    /// quorum has acked NEWLEADER.
    pub fn up_to_date(&self, id: LearnerId) -> Option<Output> {
        if !self.new_leader.quorum_formed {
            error!("UPTODATE for learner {id} before a quorum acked NEWLEADER: not sent");
            return None;
        }
        Some(Output::Send(id, packet(qp::UPTODATE, -1, None)))
    }

    // ---- broadcast ----

    /// propose: the PROPOSAL of `data` (a logged txn) at `zxid` for every
    /// synced follower. `Err` with the reason to step down when the zxid's
    /// counter has run out.
    pub fn propose(&mut self, zxid: i64, data: Vec<u8>, request: Request) -> Result<Vec<Output>, &'static str> {
        if qp::counter_of(zxid) == 0xffff_ffff {
            return Err("zxid lower 32 bits have rolled over, forcing re-election, and therefore new epoch start");
        }
        let size = data.len() as i64;
        let s = &mut self.proposal_stats;
        s.last = size;
        s.min = if s.min < 0 { size } else { s.min.min(size) };
        s.max = s.max.max(size);
        let pkt = packet(qp::PROPOSAL, zxid, Some(data));
        self.last_proposed = zxid;
        let out = self.forwarding.iter().map(|f| Output::Send(*f, pkt.clone())).collect();
        let acks = self.tracker();
        self.outstanding.insert(zxid, Proposal { packet: pkt, request: Some(request), acks });
        Ok(out)
    }

    /// processAck: `sid` has logged `zxid`. An ACK of NEWLEADER or
    /// UPTODATE (counter 0), of a committed or unknown zxid, or from a sid
    /// that does not vote changes nothing.
    pub fn ack(&mut self, sid: i64, zxid: i64, from: &str) -> Vec<Output> {
        let mut out = Vec::new();
        if qp::counter_of(zxid) == 0 {
            return out;
        }
        if self.outstanding.is_empty() {
            debug!("outstanding is 0");
            return out;
        }
        if self.last_committed >= zxid {
            debug!("proposal has already been committed, pzxid: 0x{:x} zxid: 0x{zxid:x}", self.last_committed);
            return out;
        }
        let Some(p) = self.outstanding.get_mut(&zxid) else {
            warn!("Trying to commit future proposal: zxid 0x{zxid:x} from {from}");
            return out;
        };
        p.acks.add_ack(sid);
        self.try_to_commit(zxid, from, &mut out);
        out
    }

    /// tryToCommit: commits `zxid` once it has its quorums and nothing
    /// before it is outstanding, then each later one that already has its
    /// quorums.
    fn try_to_commit(&mut self, mut zxid: i64, from: &str, out: &mut Vec<Output>) {
        loop {
            if self.outstanding.contains_key(&(zxid - 1)) {
                return;
            }
            match self.outstanding.get(&zxid) {
                Some(p) if p.acks.has_all_quorums() => {}
                _ => return,
            }
            let lc = self.last_committed;
            if zxid != lc + 1 && lc >= 0 && qp::epoch_of(zxid) == qp::epoch_of(lc) {
                warn!("Commiting zxid 0x{zxid:x} from {from} not first!");
                warn!("First is 0x{:x}", lc + 1);
            }
            let Some(mut p) = self.outstanding.remove(&zxid) else { return };
            self.last_committed = zxid;
            let commit = packet(qp::COMMIT, zxid, None);
            out.extend(self.forwarding.iter().map(|f| Output::Send(*f, commit.clone())));
            let inform = packet(qp::INFORM, zxid, p.packet.data.clone());
            out.extend(self.observing.iter().map(|o| Output::Send(*o, inform.clone())));
            self.to_be_applied.push_back(p.packet);
            if let Some(r) = p.request.take() {
                out.push(Output::Commit(r));
            }
            if let Some(waiting) = self.pending_syncs.remove(&zxid) {
                out.extend(waiting.into_iter().map(|h| Output::Send(h, packet(qp::SYNC, 0, None))));
            }
            zxid += 1;
        }
    }

    /// processSync: a learner's sync is answered (SYNC) once everything
    /// proposed before it is committed.
    pub fn sync(&mut self, id: LearnerId) -> Vec<Output> {
        if self.outstanding.is_empty() {
            return vec![Output::Send(id, packet(qp::SYNC, 0, None))];
        }
        self.pending_syncs.entry(self.last_proposed).or_default().push(id);
        Vec::new()
    }

    /// ToBeAppliedRequestProcessor's part: the txn at `zxid` is applied.
    pub fn applied(&mut self, zxid: i64) {
        match self.to_be_applied.front() {
            Some(p) if p.zxid == zxid => {
                self.to_be_applied.pop_front();
            }
            _ => error!("Committed request not found on toBeApplied: 0x{zxid:x}"),
        }
    }

    // ---- the ping loop ----

    /// When the ping loop is due next (ms on the driver's clock).
    pub fn next_ping_at(&self) -> u64 {
        self.next_ping_at
    }

    /// The leader serves from `now`: the first half tick ends tickTime/2
    /// later.
    pub fn start_pinging(&mut self, now: u64) {
        self.next_ping_at = now + self.half_tick();
    }

    fn half_tick(&self) -> u64 {
        (self.limits.tick_time / 2).max(1) as u64
    }

    /// One turn of lead()'s loop, every tickTime/2: every other turn the
    /// tick advances and the voters heard from within their deadline (the
    /// leader included) must still make a quorum of each configuration;
    /// then every learner is pinged.
    pub fn tick(&mut self, now: u64) -> Tick {
        if now < self.next_ping_at {
            return Tick::Wait;
        }
        self.next_ping_at = now + self.half_tick();
        if !self.tick_skip {
            self.tick += 1;
        }
        let mut synced = self.tracker();
        synced.add_ack(self.my_id);
        for l in self.learners.values() {
            if self.tick <= l.tick_of_next_ack_deadline {
                synced.add_ack(l.sid);
            }
        }
        if !self.tick_skip && !synced.has_all_quorums() {
            return Tick::StepDown(format!(
                "Not sufficient followers synced, only synced with sids: [ {} ]",
                synced.acks_to_string()
            ));
        }
        self.tick_skip = !self.tick_skip;
        Tick::Ping(self.learners.keys().copied().collect())
    }
}
