//! LeaderCore: the decisions of the ZAB leader, as plain data: discovery
//! (the new epoch and the quorum that accepted it) and the broadcast
//! phase. It holds the outstanding proposals and their ack sets,
//! toBeApplied, lastProposed/lastCommitted, the learner syncs waiting for
//! a commit, the synced follower and observer lists, the NEWLEADER ack
//! quorum, and each learner's syncLimit deadline with the leader's tick.
//! Its methods take what happened (a learner's accepted epoch or
//! ACKEPOCH, a txn to propose, an ACK from sid S for
//! zxid Z, a learner synced, a packet heard, a half tick passed at time T)
//! and return what to do (packets for which learners, txns for the
//! CommitProcessor, learners to ping, "step down"). It touches no socket,
//! thread, lock or clock: `Leader` keeps it behind the broadcast lock and
//! its callers (the ProcessThread, the SyncThread, the LearnerHandler
//! threads, the CommitProcessor and the QuorumPeer thread's ping loop)
//! carry out its outputs while holding that lock, so packets reach each
//! learner's queue in the order the core decided them.

use crate::jute::records::QuorumPacket;
use crate::quorum::quorum_verifier::QuorumVerifier;
use crate::quorum::quorum_packet::{self as qp, packet};
use crate::quorum::synced_learner_tracker::SyncedLearnerTracker;
use crate::server::request::Request;
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::net::SocketAddr;
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
    /// A reconfig commits: `verifier` comes into force on this peer
    /// (processReconfig), `designated` is the leader the reconfig names.
    /// Comes before the COMMITANDACTIVATE packets.
    Activate { verifier: Arc<QuorumVerifier>, designated: i64 },
}

/// What a half tick of the ping loop calls for.
#[derive(Debug)]
pub enum Tick {
    /// Not yet time: call again at `next_ping_at`.
    Wait,
    /// Carry out these outputs (proposals an oracle let commit), then ping
    /// these learners (each checks its own transaction timeout).
    Ping(Vec<LearnerId>, Vec<Output>),
    /// The synced voters are no quorum: stop leading, for this reason.
    StepDown(String),
}

/// What a learner's (or the leader's own) accepted epoch did.
#[derive(Debug, PartialEq, Eq)]
pub enum NewEpoch {
    /// It completed the quorum: this is the new epoch, which the driver
    /// records as accepted before anyone learns it.
    Decided(i64),
    /// The epoch was decided before.
    Known(i64),
    /// Counted; no quorum (with the leader) yet.
    Waiting,
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

/// Discovery: the epochs learners accepted and who acknowledged the new
/// one. Counted against the configuration in force only, as Java does.
struct Discovery {
    /// One past the largest accepted epoch heard; -1 before any.
    epoch: i64,
    epoch_decided: bool,
    connecting: HashSet<i64>,
    /// The leader's (currentEpoch, last zxid): no learner may be ahead.
    leader_summary: (i64, i64),
    electing: HashSet<i64>,
    election_finished: bool,
    /// When the leader itself began waiting for the epoch (ms).
    wait_started_at: Option<u64>,
    /// The voters whose votes elected this leader (FastLeaderElection's
    /// leadingVoteSet), once the WorkerReceiver hands them over.
    vote_set: Option<HashSet<i64>>,
    /// A voter that elected us looks again: stop waiting for the epoch
    /// (Java's quitWaitForEpoch).
    quit_waiting: bool,
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
    verifiers: Vec<Arc<QuorumVerifier>>,
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
    discovery: Discovery,
    new_leader: NewLeader,
    /// The leader's tick (QuorumPeer.tick): one per tickTime of pinging.
    tick: i32,
    tick_skip: bool,
    next_ping_at: u64,
    /// False once a reconfig committed that designates another leader:
    /// nothing more commits here (Java's allowedToCommit).
    allowed_to_commit: bool,
    /// The simulator's deliberate mistake: a proposal commits on any
    /// one ACK (the leader's own, usually), fewer than a quorum.
    #[cfg(any(test, feature = "simulation"))]
    commit_on_a_minority: bool,
}

impl LeaderCore {
    /// A leader `my_id` under `verifiers` (the configuration in force,
    /// then a newer one being moved to, if any).
    pub fn new(my_id: i64, verifiers: Vec<Arc<QuorumVerifier>>, limits: Limits) -> LeaderCore {
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
            discovery: Discovery {
                epoch: -1,
                epoch_decided: false,
                connecting: HashSet::new(),
                leader_summary: (0, 0),
                electing: HashSet::new(),
                election_finished: false,
                wait_started_at: None,
                vote_set: None,
                quit_waiting: false,
            },
            new_leader,
            tick: 0,
            tick_skip: true,
            next_ping_at: 0,
            allowed_to_commit: true,
            #[cfg(any(test, feature = "simulation"))]
            commit_on_a_minority: false,
        }
    }

    /// Simulator mutation: a proposal commits once anyone (the leader
    /// itself, usually) has acked it, without a quorum.
    #[cfg(any(test, feature = "simulation"))]
    pub fn mutate_commit_on_a_minority(&mut self) {
        self.commit_on_a_minority = true;
    }

    /// Whether the proposal's acks are enough to commit it.
    fn enough_acks(&self, acks: &SyncedLearnerTracker) -> bool {
        #[cfg(any(test, feature = "simulation"))]
        if self.commit_on_a_minority {
            return acks.has_any_ack();
        }
        acks.has_all_quorums()
    }

    /// The configurations proposals need quorums of from now on: the one
    /// in force, then the one a reconfig (or NEWLEADER) is moving to.
    pub fn set_verifiers(&mut self, verifiers: Vec<Arc<QuorumVerifier>>) {
        self.verifiers = verifiers;
    }

    /// The configuration in force.
    pub fn verifier(&self) -> Option<&Arc<QuorumVerifier>> {
        self.verifiers.first()
    }

    /// Whether this leader may still commit (false once a committed
    /// reconfig designated another leader).
    pub fn allowed_to_commit(&self) -> bool {
        self.allowed_to_commit
    }

    /// A leader not designated by the configuration it starts under
    /// commits nothing.
    pub fn forbid_commits(&mut self) {
        self.allowed_to_commit = false;
    }

    /// isQuorumSynced: the leader (if it votes in `qv`) and the synced
    /// followers that vote in `qv` are a quorum of it.
    pub fn is_quorum_synced(&self, qv: &QuorumVerifier) -> bool {
        let mut ids: HashSet<i64> = self.forwarding.iter().map(|id| self.sid_of(*id)).filter(|s| qv.is_voter(*s)).collect();
        if qv.is_voter(self.my_id) {
            ids.insert(self.my_id);
        }
        qv.contains_quorum(&ids)
    }

    /// getDesignatedLeader for NEWLEADER: the leader once the configuration
    /// NEWLEADER carried comes into force.
    pub fn new_leader_designated_leader(&self) -> i64 {
        self.designated_leader(&self.new_leader.acks, self.new_leader.zxid)
    }

    /// getDesignatedLeader: the leader after the reconfig acked by `acks`
    /// (at `zxid`) commits: this one if it votes in the new configuration
    /// at the same quorum address, else the new voter that acked the
    /// reconfig and the most of the proposals after it (the lowest sid
    /// among equals).
    fn designated_leader(&self, acks: &SyncedLearnerTracker, zxid: i64) -> i64 {
        let Some(new) = self.verifiers.last() else { return self.my_id };
        let addrs = |q: &QuorumVerifier| q.all_members().get(&self.my_id).map(|s| s.addrs.clone());
        let current = self.verifiers.first().and_then(|q| addrs(q));
        if new.is_voter(self.my_id) && addrs(new) == current {
            return self.my_id;
        }
        let mut candidates: std::collections::BTreeSet<i64> =
            acks.ack_sets().last().map(|a| a.iter().copied().collect()).unwrap_or_default();
        candidates.remove(&self.my_id);
        let Some(mut best) = candidates.iter().next().copied() else { return self.my_id };
        for (_, later) in self.outstanding.range(zxid + 1..) {
            for acked in later.acks.ack_sets() {
                candidates.retain(|c| acked.contains(c));
                match candidates.iter().next() {
                    None => return best,
                    Some(c) => best = *c,
                }
                if candidates.len() == 1 {
                    return best;
                }
            }
        }
        best
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

    // ---- discovery ----

    /// Whether `sid` votes in the configuration in force.
    fn is_participant(&self, sid: i64) -> bool {
        self.verifiers.first().is_some_and(|v| v.is_voter(sid))
    }

    /// Whether `acks` holds the leader and a quorum of the configuration
    /// in force.
    fn leader_and_quorum(&self, acks: &HashSet<i64>) -> bool {
        acks.contains(&self.my_id) && self.verifiers.first().is_some_and(|v| v.contains_quorum(acks))
    }

    /// The leader's own (currentEpoch, last zxid), before learners report.
    pub fn set_leader_summary(&mut self, current_epoch: i64, last_zxid: i64) {
        self.discovery.leader_summary = (current_epoch, last_zxid);
    }

    /// getEpochToPropose's counting: `sid` (a learner's FOLLOWERINFO, or
    /// the leader itself) has accepted `last_accepted_epoch`. Once the
    /// leader and a quorum of voters have reported, the new epoch is one
    /// past the largest.
    pub fn connecting(&mut self, sid: i64, last_accepted_epoch: i64) -> NewEpoch {
        let participant = self.is_participant(sid);
        let d = &mut self.discovery;
        if d.epoch_decided {
            return NewEpoch::Known(d.epoch);
        }
        if last_accepted_epoch >= d.epoch {
            d.epoch = last_accepted_epoch + 1;
        }
        if participant {
            d.connecting.insert(sid);
        }
        if self.leader_and_quorum(&self.discovery.connecting) {
            self.discovery.epoch_decided = true;
            NewEpoch::Decided(self.discovery.epoch)
        } else {
            NewEpoch::Waiting
        }
    }

    /// The new epoch, once decided.
    pub fn new_epoch(&self) -> Option<i64> {
        self.discovery.epoch_decided.then_some(self.discovery.epoch)
    }

    /// The leader itself began waiting for a quorum's epochs at `now` (ms).
    pub fn epoch_wait_started(&mut self, now: u64) {
        self.discovery.wait_started_at = Some(now);
    }

    /// setLeadingVoteSet: the voters whose votes elected this leader.
    pub fn set_leading_vote_set(&mut self, sids: HashSet<i64>) {
        self.discovery.vote_set = Some(sids);
    }

    /// reportLookingSid: voter `sid` was heard LOOKING at `now`. With
    /// `max_wait_ms` ≥ 0, a leader still waiting for its epoch longer than
    /// that gives up when `sid` is one that elected it; true when it does
    /// (Java's quitLeading).
    pub fn report_looking_sid(&mut self, sid: i64, now: u64, max_wait_ms: i32) -> bool {
        let d = &mut self.discovery;
        let Some(started) = d.wait_started_at else { return false };
        if max_wait_ms < 0 || d.epoch_decided || d.quit_waiting {
            return false;
        }
        if !d.vote_set.as_ref().is_some_and(|v| v.contains(&sid)) {
            return false;
        }
        if now.saturating_sub(started) > max_wait_ms as u64 {
            d.quit_waiting = true;
        }
        d.quit_waiting
    }

    /// Whether the epoch wait was given up (see `report_looking_sid`).
    pub fn quit_waiting_for_epoch(&self) -> bool {
        self.discovery.quit_waiting
    }

    /// waitForEpochAck's counting: `sid` acknowledged the new epoch with
    /// its (currentEpoch, last zxid) (-1, -1 from a learner too old to
    /// say). `Ok(true)` once the leader and a quorum of voters have; an
    /// `Err` names a learner ahead of the leader, which must not lead.
    pub fn epoch_ack(&mut self, sid: i64, current_epoch: i64, last_zxid: i64) -> Result<bool, String> {
        if self.discovery.election_finished {
            return Ok(true);
        }
        if current_epoch != -1 {
            let (le, lz) = self.discovery.leader_summary;
            if current_epoch > le || (current_epoch == le && last_zxid > lz) {
                return Err(format!(
                    "Follower is ahead of the leader, leader summary: {le} (current epoch), {lz} (last zxid)"
                ));
            }
            if last_zxid != -1 && self.is_participant(sid) {
                self.discovery.electing.insert(sid);
            }
        }
        if self.leader_and_quorum(&self.discovery.electing) {
            self.discovery.election_finished = true;
        }
        Ok(self.discovery.election_finished)
    }

    /// Whether the leader and a quorum have acknowledged the new epoch.
    pub fn epoch_acked(&self) -> bool {
        self.discovery.election_finished
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

    /// The wall-clock time (ms) an outstanding proposal's txn was created.
    pub fn proposal_time(&self, zxid: i64) -> Option<i64> {
        self.outstanding.get(&zxid)?.request.as_ref()?.hdr.as_ref().map(|h| h.time)
    }

    /// processAck: `sid` (at `from`, a learner's address; `None` for the
    /// leader itself) has logged `zxid`. An ACK of NEWLEADER or
    /// UPTODATE (counter 0), of a committed or unknown zxid, or from a sid
    /// that does not vote changes nothing.
    pub fn ack(&mut self, sid: i64, zxid: i64, from: Option<SocketAddr>) -> Vec<Output> {
        let mut out = Vec::new();
        if !self.allowed_to_commit {
            return out;
        }
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
            warn!("Trying to commit future proposal: zxid 0x{zxid:x} from {from:?}");
            return out;
        };
        p.acks.add_ack(sid);
        self.try_to_commit(zxid, from, &mut out);
        out
    }

    /// tryToCommit: commits `zxid` once it has its quorums and nothing
    /// before it is outstanding, then each later one that already has its
    /// quorums.
    fn try_to_commit(&mut self, mut zxid: i64, from: Option<SocketAddr>, out: &mut Vec<Output>) {
        loop {
            if self.outstanding.contains_key(&(zxid - 1)) {
                return;
            }
            match self.outstanding.get(&zxid) {
                Some(p) if self.enough_acks(&p.acks) => {}
                _ => return,
            }
            let lc = self.last_committed;
            if zxid != lc + 1 && lc >= 0 && qp::epoch_of(zxid) == qp::epoch_of(lc) {
                warn!("Commiting zxid 0x{zxid:x} from {from:?} not first!");
                warn!("First is 0x{:x}", lc + 1);
            }
            let Some(p) = self.outstanding.get(&zxid) else { return };
            // A reconfig that failed in Prep is an error txn: a plain commit.
            let reconfig = p
                .request
                .as_ref()
                .and_then(|r| r.hdr.as_ref())
                .is_some_and(|h| h.r#type == crate::zoo_defs::op_code::RECONFIG);
            let designated = if reconfig { Some(self.designated_leader(&p.acks, zxid)) } else { None };
            let Some(mut p) = self.outstanding.remove(&zxid) else { return };
            self.last_committed = zxid;
            match (designated, self.verifiers.last().cloned()) {
                (Some(designated), Some(verifier)) => {
                    // The new configuration is in force from here on.
                    self.verifiers = vec![Arc::clone(&verifier)];
                    out.push(Output::Activate { verifier, designated });
                    if designated != self.my_id {
                        tracing::info!(
                            "Committing a reconfiguration; this leader is not the designated leader anymore, setting allowedToCommit=false"
                        );
                        self.allowed_to_commit = false;
                    }
                    let commit = packet(qp::COMMITANDACTIVATE, zxid, Some(designated.to_be_bytes().to_vec()));
                    out.extend(self.forwarding.iter().map(|f| Output::Send(*f, commit.clone())));
                    let mut data = designated.to_be_bytes().to_vec();
                    data.extend_from_slice(p.packet.data.as_deref().unwrap_or(&[]));
                    let inform = packet(qp::INFORMANDACTIVATE, zxid, Some(data));
                    out.extend(self.observing.iter().map(|o| Output::Send(*o, inform.clone())));
                }
                _ => {
                    let commit = packet(qp::COMMIT, zxid, None);
                    out.extend(self.forwarding.iter().map(|f| Output::Send(*f, commit.clone())));
                    let inform = packet(qp::INFORM, zxid, p.packet.data.clone());
                    out.extend(self.observing.iter().map(|o| Output::Send(*o, inform.clone())));
                }
            }
            self.to_be_applied.push_back(p.packet);
            if let Some(r) = p.request.take() {
                out.push(Output::Commit(r));
            }
            if let Some(waiting) = self.pending_syncs.remove(&zxid) {
                out.extend(waiting.into_iter().map(|h| Output::Send(h, packet(qp::SYNC, 0, None))));
            }
            if !self.allowed_to_commit {
                return;
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
        let mut out = Vec::new();
        if !self.tick_skip && !synced.has_all_quorums() {
            // A leader of two voters whose oracle says 1 goes on alone,
            // committing what it has outstanding (overrideQuorumDecision,
            // revalidateOutstandingProp).
            let no_followers = self.forwarding.is_empty();
            if !self.verifiers.first().is_some_and(|v| v.override_quorum_decision(no_followers)) {
                return Tick::StepDown(format!(
                    "Not sufficient followers synced, only synced with sids: [ {} ]",
                    synced.acks_to_string()
                ));
            }
            if let Some(&first) = self.outstanding.keys().next() {
                self.try_to_commit(first, None, &mut out);
            }
        }
        self.tick_skip = !self.tick_skip;
        Tick::Ping(self.learners.keys().copied().collect(), out)
    }
}

#[cfg(test)]
mod tests {
    //! Leader-side scenarios of Zab1_0Test (the epoch quorums, normal
    //! run, proposals acked out of order, observers, NEWLEADER before
    //! UPTODATE) and of the lead() ping loop, run against the core alone.

    use super::*;
    use crate::quorum::quorum_peer_config::QuorumSpec;
    use crate::zoo_defs::op_code;

    const E: i64 = 0x1_0000_0000;
    const LIMITS: Limits = Limits { tick_time: 2000, init_limit: 10, sync_limit: 5 };

    /// A majority verifier: `voters`, plus `observers`.
    fn maj(voters: &[i64], observers: &[i64]) -> Arc<QuorumVerifier> {
        let mut pairs: Vec<(String, String)> =
            voters.iter().map(|i| (format!("server.{i}"), format!("h:{}:{}", 1000 + 2 * i, 1001 + 2 * i))).collect();
        pairs.extend(
            observers.iter().map(|i| (format!("server.{i}"), format!("h:{}:{}:observer", 1000 + 2 * i, 1001 + 2 * i))),
        );
        Arc::new(QuorumVerifier::new(QuorumSpec::from_pairs(&pairs, false, false).expect("spec")))
    }

    /// (learner, packet type, zxid) for sends; (0, -1, zxid) for commits.
    fn seen(out: &[Output]) -> Vec<(LearnerId, i32, i64)> {
        out.iter()
            .map(|o| match o {
                Output::Send(id, p) => (*id, p.r#type, p.zxid),
                Output::Commit(r) => (0, -1, r.hdr.as_ref().map_or(0, |h| h.zxid)),
                Output::Activate { designated, .. } => (*designated as LearnerId, -2, 0),
            })
            .collect()
    }

    fn request(zxid: i64) -> Request {
        let mut r = Request::new(None, 0x42, (zxid & 0xff) as i32, op_code::CREATE, Vec::new(), Vec::new());
        r.hdr = Some(crate::jute::txn::TxnHeader { client_id: 0x42, cxid: 1, zxid, time: 0, r#type: op_code::CREATE });
        r.zxid = zxid;
        r
    }

    fn propose(c: &mut LeaderCore, zxid: i64) -> Vec<(LearnerId, i32, i64)> {
        seen(&c.propose(zxid, vec![zxid as u8; 3], request(zxid)).expect("proposed"))
    }

    /// A leader (sid 1) in epoch 1 whose learners (handler id, sid,
    /// observer) are synced: NEWLEADER acked by all, forwarding started.
    fn leading(verifiers: Vec<Arc<QuorumVerifier>>, learners: &[(LearnerId, i64, bool)]) -> LeaderCore {
        let mut c = LeaderCore::new(1, verifiers, LIMITS);
        c.start_epoch(E);
        c.new_leader_ack(1, E);
        for &(id, sid, observer) in learners {
            c.add_learner(id);
            c.identify_learner(id, sid, observer);
            assert!(c.start_forwarding(id, E).is_empty());
            c.new_leader_ack(sid, E);
        }
        assert!(c.new_leader_ack_quorum());
        c
    }

    fn three() -> LeaderCore {
        leading(vec![maj(&[1, 2, 3], &[])], &[(10, 2, false), (11, 3, false)])
    }

    #[test]
    fn the_commit_on_a_minority_mutation_commits_on_the_leaders_ack_alone() {
        // The simulator's deliberate mistake; a clean core waits for a quorum.
        let mut clean = three();
        propose(&mut clean, E + 1);
        assert!(seen(&clean.ack(1, E + 1, None)).is_empty());
        let mut mutated = three();
        mutated.mutate_commit_on_a_minority();
        propose(&mut mutated, E + 1);
        assert_eq!(seen(&mutated.ack(1, E + 1, None)), vec![(10, qp::COMMIT, E + 1), (11, qp::COMMIT, E + 1), (0, -1, E + 1)]);
    }

    #[test]
    fn the_new_epoch_waits_for_the_leader_itself() {
        // testLeaderInConnectingFollowers: two followers of three report
        // (a quorum without the leader); only the leader's own report,
        // with accepted epoch 5, decides epoch 6.
        let mut c = LeaderCore::new(1, vec![maj(&[1, 2, 3], &[])], LIMITS);
        assert_eq!(c.connecting(2, 0), NewEpoch::Waiting);
        assert_eq!(c.connecting(3, 0), NewEpoch::Waiting);
        assert_eq!(c.new_epoch(), None);
        assert_eq!(c.connecting(1, 5), NewEpoch::Decided(6));
        assert_eq!(c.connecting(3, 9), NewEpoch::Known(6), "decided: later reports change nothing");
        assert_eq!(c.new_epoch(), Some(6));
    }

    #[test]
    fn the_new_epoch_is_past_every_accepted_one() {
        // testLastAcceptedEpoch: the leader accepted 5 (epoch 6 so far); a
        // follower that accepted 6 pushes it to 7.
        let mut c = LeaderCore::new(1, vec![maj(&[1, 2, 3], &[4])], LIMITS);
        assert_eq!(c.connecting(1, 5), NewEpoch::Waiting);
        assert_eq!(c.connecting(4, 40), NewEpoch::Waiting, "an observer's epoch counts, its sid does not");
        assert_eq!(c.connecting(2, 6), NewEpoch::Decided(41));
        let mut c = LeaderCore::new(1, vec![maj(&[1, 2, 3], &[])], LIMITS);
        c.connecting(1, 5);
        assert_eq!(c.connecting(2, 6), NewEpoch::Decided(7));
    }

    #[test]
    fn a_voter_that_elected_us_looking_again_ends_the_epoch_wait() {
        let mut c = LeaderCore::new(1, vec![maj(&[1, 2, 3], &[])], LIMITS);
        assert!(!c.report_looking_sid(2, 10_000, 0), "not waiting yet");
        assert_eq!(c.connecting(1, 0), NewEpoch::Waiting);
        c.epoch_wait_started(1_000);
        c.set_leading_vote_set([1, 2].into_iter().collect());
        assert!(!c.report_looking_sid(2, 5_000, -1), "off by default");
        assert!(!c.report_looking_sid(3, 5_000, 100), "3 did not elect us");
        assert!(!c.report_looking_sid(2, 1_100, 100), "not waited longer than the limit");
        assert!(!c.quit_waiting_for_epoch());
        assert!(c.report_looking_sid(2, 1_101, 100));
        assert!(c.quit_waiting_for_epoch());
        assert!(!c.report_looking_sid(2, 1_200, 100), "quits once");

        let mut d = LeaderCore::new(1, vec![maj(&[1, 2, 3], &[])], LIMITS);
        d.epoch_wait_started(0);
        d.set_leading_vote_set([1, 2].into_iter().collect());
        d.connecting(1, 0);
        assert_eq!(d.connecting(2, 0), NewEpoch::Decided(1));
        assert!(!d.report_looking_sid(2, 10_000, 0), "the epoch is decided: nothing to quit");
    }

    #[test]
    fn the_epoch_acks_wait_for_the_leader_and_refuse_a_learner_ahead() {
        // testLeaderInElectingFollowers: followers alone do not finish.
        let mut c = LeaderCore::new(1, vec![maj(&[1, 2, 3], &[])], LIMITS);
        c.set_leader_summary(1, E + 5);
        assert_eq!(c.epoch_ack(2, 1, E + 5), Ok(false));
        assert_eq!(c.epoch_ack(3, 0, 7), Ok(false));
        assert!(!c.epoch_acked());
        // testLeaderBehind: a learner with a later epoch, or more of this
        // one, is refused.
        assert!(c.epoch_ack(3, 2, 0).unwrap_err().starts_with("Follower is ahead of the leader"));
        assert!(c.epoch_ack(3, 1, E + 6).is_err());
        // A learner too old to report (-1) is not counted.
        assert_eq!(c.epoch_ack(3, -1, -1), Ok(false));
        assert_eq!(c.epoch_ack(1, 1, E + 5), Ok(true));
        assert!(c.epoch_acked());
        assert_eq!(c.epoch_ack(3, 9, 0), Ok(true), "finished: nothing more is checked");
    }

    #[test]
    fn normal_run_proposes_to_followers_and_commits_on_a_quorum() {
        let mut c = three();
        assert_eq!(propose(&mut c, E + 1), vec![(10, qp::PROPOSAL, E + 1), (11, qp::PROPOSAL, E + 1)]);
        assert_eq!(c.last_proposed(), E + 1);
        assert!(c.ack(2, E + 1, None).is_empty(), "one follower alone is no quorum of three");
        assert_eq!(
            seen(&c.ack(1, E + 1, None)),
            vec![(10, qp::COMMIT, E + 1), (11, qp::COMMIT, E + 1), (0, -1, E + 1)],
            "the leader's own ACK completes the quorum"
        );
        assert!(c.ack(3, E + 1, None).is_empty(), "a late ACK of a committed zxid is ignored");
        assert_eq!(c.proposal_stats(), ProposalStats { last: 3, min: 3, max: 3 });
    }

    #[test]
    fn followers_alone_commit_without_the_leader() {
        let mut c = three();
        propose(&mut c, E + 1);
        c.ack(2, E + 1, None);
        assert_eq!(seen(&c.ack(3, E + 1, None)).len(), 3);
    }

    #[test]
    fn acks_out_of_order_commit_in_zxid_order() {
        let mut c = three();
        for z in 1..=3 {
            propose(&mut c, E + z);
        }
        c.ack(1, E + 3, None);
        assert!(c.ack(2, E + 3, None).is_empty(), "E+3 has a quorum but E+1 and E+2 are outstanding");
        c.ack(1, E + 2, None);
        assert!(c.ack(2, E + 2, None).is_empty(), "E+2 waits for E+1");
        c.ack(1, E + 1, None);
        let commits: Vec<_> = seen(&c.ack(2, E + 1, None)).into_iter().filter(|o| o.0 == 0).collect();
        assert_eq!(commits, vec![(0, -1, E + 1), (0, -1, E + 2), (0, -1, E + 3)]);
    }

    #[test]
    fn a_minority_never_commits() {
        let mut c = leading(
            vec![maj(&[1, 2, 3, 4, 5], &[9])],
            &[(10, 2, false), (11, 3, false), (12, 4, false), (13, 9, true)],
        );
        propose(&mut c, E + 1);
        // The leader, sid 2 twice, the observer, a stranger.
        for sid in [1, 2, 2, 9, 77] {
            assert!(c.ack(sid, E + 1, None).is_empty(), "sid {sid}");
        }
        assert_eq!(seen(&c.ack(4, E + 1, None)).iter().filter(|o| o.0 == 0).count(), 1);
    }

    #[test]
    fn acks_the_leader_cannot_use_are_ignored() {
        let mut c = three();
        assert!(c.ack(2, E + 1, None).is_empty(), "nothing outstanding");
        propose(&mut c, E + 1);
        assert!(c.ack(2, E, None).is_empty(), "NEWLEADER's ACK");
        assert!(c.ack(2, E + 7, None).is_empty(), "a zxid never proposed");
        assert!(c.ack(2, -1, None).is_empty());
        assert!(c.ack(2, i64::MAX, None).is_empty());
        c.ack(1, E + 1, None);
        assert_eq!(seen(&c.ack(2, E + 1, None)).len(), 3, "the proposal still commits");
    }

    #[test]
    fn observers_get_inform_not_proposal() {
        let mut c = leading(vec![maj(&[1, 2, 3], &[4])], &[(10, 2, false), (20, 4, true)]);
        assert_eq!(propose(&mut c, E + 1), vec![(10, qp::PROPOSAL, E + 1)]);
        c.ack(1, E + 1, None);
        let out = c.ack(2, E + 1, None);
        assert_eq!(seen(&out), vec![(10, qp::COMMIT, E + 1), (20, qp::INFORM, E + 1), (0, -1, E + 1)]);
        match &out[1] {
            Output::Send(_, p) => assert_eq!(p.data.as_deref(), Some(&[1u8, 1, 1][..]), "INFORM carries the txn"),
            o => panic!("{o:?}"),
        }
        assert_eq!((c.forwarding(), c.observing(), c.non_voting_followers()), (1, 1, 0));
    }

    #[test]
    fn newleader_ack_quorum_before_uptodate() {
        let mut c = LeaderCore::new(1, vec![maj(&[1, 2, 3], &[])], LIMITS);
        c.start_epoch(E);
        c.add_learner(10);
        c.identify_learner(10, 2, false);
        assert!(c.up_to_date(10).is_none(), "no UPTODATE before a quorum has NEWLEADER");
        assert_eq!(c.new_leader_ack(1, E), NewLeaderAck::Waiting);
        assert_eq!(c.new_leader_ack(2, 0x5_0000_0000), NewLeaderAck::Stale, "another epoch's NEWLEADER");
        assert_eq!(c.new_leader_ack(7, E), NewLeaderAck::Waiting, "not a voter");
        assert!(c.up_to_date(10).is_none());
        assert_eq!(c.new_leader_acks(), "1");
        assert_eq!(c.new_leader_ack(2, E), NewLeaderAck::QuorumFormed);
        assert_eq!(c.new_leader_ack(3, 0), NewLeaderAck::QuorumFormed, "once formed, later acks change nothing");
        assert_eq!(seen(&c.up_to_date(10).into_iter().collect::<Vec<_>>()), vec![(10, qp::UPTODATE, -1)]);
    }

    #[test]
    fn a_syncing_learner_gets_what_it_missed() {
        let mut c = three();
        propose(&mut c, E + 1);
        propose(&mut c, E + 2);
        c.ack(1, E + 1, None);
        c.ack(2, E + 1, None);
        // E+1 is committed but not applied, E+2 outstanding. A follower and
        // an observer synced up to E join.
        c.add_learner(12);
        c.identify_learner(12, 4, false);
        assert_eq!(
            seen(&c.start_forwarding(12, E)),
            vec![(12, qp::PROPOSAL, E + 1), (12, qp::COMMIT, E + 1), (12, qp::PROPOSAL, E + 2)]
        );
        c.add_learner(13);
        c.identify_learner(13, 5, true);
        assert_eq!(seen(&c.start_forwarding(13, E)), vec![(13, qp::PROPOSAL, E + 1), (13, qp::COMMIT, E + 1)]);
        assert_eq!(c.non_voting_followers(), 1, "sid 4 is not in the configuration");
        c.applied(E + 1);
        c.add_learner(14);
        c.identify_learner(14, 3, false);
        assert_eq!(seen(&c.start_forwarding(14, E + 1)), vec![(14, qp::PROPOSAL, E + 2)]);
        assert!(seen(&c.start_forwarding(99, E)).is_empty(), "a learner that left");
    }

    #[test]
    fn learner_sync_waits_for_earlier_writes() {
        let mut c = three();
        assert_eq!(seen(&c.sync(10)), vec![(10, qp::SYNC, 0)], "nothing outstanding: answered at once");
        propose(&mut c, E + 1);
        assert!(c.sync(10).is_empty());
        assert!(c.sync(11).is_empty());
        c.remove_learner(11);
        assert_eq!(c.num_pending_syncs(), 1, "a learner that left waits for nothing");
        c.ack(1, E + 1, None);
        let out = seen(&c.ack(2, E + 1, None));
        assert_eq!(out, vec![(10, qp::COMMIT, E + 1), (0, -1, E + 1), (10, qp::SYNC, 0)]);
        assert_eq!(c.num_pending_syncs(), 0);
    }

    #[test]
    fn zxid_rollover_steps_down() {
        let mut c = three();
        assert!(c.propose(E + 0xffff_ffff, vec![1], request(E + 0xffff_ffff)).is_err());
        assert_eq!(c.last_proposed(), E, "nothing proposed");
    }

    /// Runs half ticks from `start` (every tickTime/2 ms), calling `each`
    /// before each; returns the turn that stepped down, if any.
    fn half_ticks(c: &mut LeaderCore, turns: u32, mut each: impl FnMut(&mut LeaderCore)) -> Option<(u32, String)> {
        let half = (LIMITS.tick_time / 2) as u64;
        for turn in 1..=turns {
            each(c);
            let now = c.next_ping_at();
            assert!(matches!(c.tick(now - 1), Tick::Wait), "not due before tickTime/2");
            match c.tick(now) {
                Tick::StepDown(msg) => return Some((turn, msg)),
                Tick::Ping(ids, _) => assert_eq!(ids, c.learners.keys().copied().collect::<Vec<_>>()),
                Tick::Wait => panic!("due at {now}"),
            }
            assert_eq!(c.next_ping_at(), now + half);
        }
        None
    }

    #[test]
    fn an_oracle_lets_a_leader_without_followers_go_on_and_commit() {
        let dir = tempfile::tempdir().unwrap();
        let oracle = dir.path().join("oracle");
        std::fs::write(&oracle, "0").unwrap();
        let pairs = vec![("server.1".to_string(), "h:1:2".to_string()), ("server.2".to_string(), "h:3:4".to_string())];
        let spec = QuorumSpec::from_pairs(&pairs, false, false).expect("spec");
        let mut c = leading(vec![Arc::new(QuorumVerifier::with_oracle(spec, Some(&oracle)))], &[(10, 2, false)]);
        propose(&mut c, E + 1);
        assert!(seen(&c.ack(1, E + 1, None)).is_empty(), "the oracle says 0: no quorum alone");
        // The follower falls silent while still a follower: no oracle.
        c.start_pinging(1_000);
        c.heard_from(10);
        assert!(half_ticks(&mut c, 100, |_| {}).is_some(), "steps down");
        // Without followers, an oracle that says 1 keeps the leader going
        // and commits what it had outstanding.
        c.remove_learner(10);
        std::fs::write(&oracle, "1").unwrap();
        match c.tick(c.next_ping_at()) {
            Tick::Ping(_, out) => assert!(seen(&out).contains(&(0, -1, E + 1)), "committed: {:?}", seen(&out)),
            other => panic!("the oracle should keep it leading: {other:?}"),
        }
    }

    #[test]
    fn followers_silent_for_sync_limit_make_the_leader_step_down() {
        let mut c = three();
        c.start_pinging(1_000);
        c.heard_from(10);
        c.heard_from(11);
        // Heard at tick 0: synced until tick syncLimit (5). The tick moves
        // every other half tick, so the check at tick 6 (turn 12) fails.
        let (turn, msg) = half_ticks(&mut c, 100, |_| {}).expect("steps down");
        assert_eq!(turn, 2 * (LIMITS.sync_limit as u32 + 1));
        assert_eq!(msg, "Not sufficient followers synced, only synced with sids: [ 1 ]");
    }

    #[test]
    fn a_quorum_in_touch_keeps_the_leader() {
        let mut c = three();
        c.start_pinging(0);
        // Only sid 2 answers; with the leader that is a quorum of three.
        assert_eq!(half_ticks(&mut c, 200, |c| c.heard_from(10)), None);
        c.remove_learner(10);
        let (_, msg) = half_ticks(&mut c, 200, |_| {}).expect("sid 2 left");
        assert!(msg.ends_with("[ 1 ]"), "{msg}");
    }

    #[test]
    fn a_learner_still_syncing_counts_until_init_plus_sync_limit() {
        let mut c = LeaderCore::new(1, vec![maj(&[1, 2, 3], &[])], LIMITS);
        c.add_learner(10);
        c.identify_learner(10, 2, false);
        c.start_pinging(0);
        let (turn, msg) = half_ticks(&mut c, 100, |_| {}).expect("steps down");
        assert_eq!(turn, 2 * (LIMITS.init_limit + LIMITS.sync_limit + 1) as u32);
        assert!(msg.ends_with("[ 1 ]"), "{msg}");
    }

    #[test]
    fn during_a_reconfig_a_proposal_needs_both_quorums() {
        // Old config {1,2,3}; new config {1,4,5}.
        let verifiers = vec![maj(&[1, 2, 3], &[]), maj(&[1, 4, 5], &[])];
        let mut c = leading(verifiers, &[(10, 2, false), (11, 3, false), (12, 4, false), (13, 5, false)]);
        propose(&mut c, E + 1);
        c.ack(2, E + 1, None);
        assert!(c.ack(3, E + 1, None).is_empty(), "a quorum of the old config only");
        assert!(c.ack(4, E + 1, None).is_empty(), "one of the new config's three");
        assert_eq!(seen(&c.ack(5, E + 1, None)).iter().filter(|o| o.0 == 0).count(), 1);
        propose(&mut c, E + 2);
        c.ack(1, E + 2, None);
        c.ack(4, E + 2, None);
        assert!(c.ack(5, E + 2, None).is_empty(), "a quorum of the new config only");
        assert_eq!(seen(&c.ack(2, E + 2, None)).iter().filter(|o| o.0 == 0).count(), 1);
        // The synced check needs both too: only the old config answers.
        c.start_pinging(0);
        let (_, msg) = half_ticks(&mut c, 100, |c| {
            c.heard_from(10);
            c.heard_from(11);
        })
        .expect("the new config lost its quorum");
        assert_eq!(msg, "Not sufficient followers synced, only synced with sids: [ 1,2,3 / 1 ]");
    }

    /// A reconfig request (op reconfig) at `zxid`.
    fn reconfig_request(zxid: i64) -> Request {
        let mut r = request(zxid);
        r.op_type = op_code::RECONFIG;
        if let Some(h) = r.hdr.as_mut() {
            h.r#type = op_code::RECONFIG;
        }
        r
    }

    #[test]
    fn a_reconfig_commits_and_activates_with_both_quorums() {
        // Old {1,2,3} (4 observes); new {2,3,4}: the leader leaves.
        let verifiers = vec![maj(&[1, 2, 3], &[4]), maj(&[2, 3, 4], &[])];
        let mut c = leading(vec![Arc::clone(&verifiers[0])], &[(10, 2, false), (11, 3, false), (12, 4, true)]);
        assert!(c.is_quorum_synced(&verifiers[1]), "2 and 3 are synced followers");
        assert!(!c.is_quorum_synced(&maj(&[3, 4, 5], &[])), "4 is synced, but as an observer");
        assert!(c.is_quorum_synced(&maj(&[1, 2, 5], &[])));
        c.set_verifiers(verifiers.clone());
        c.propose(E + 1, vec![1; 3], reconfig_request(E + 1)).expect("proposed");
        propose(&mut c, E + 2);
        c.ack(1, E + 1, None);
        assert!(c.ack(2, E + 1, None).is_empty(), "no quorum of the new config yet");
        c.ack(2, E + 2, None);
        let out = c.ack(3, E + 1, None);
        let seen = seen(&out);
        // 1 is not in the new config: of 2 and 3, which acked the reconfig,
        // only 2 acked the proposal after it.
        assert_eq!(seen[0], (2, -2, 0), "designated leader 2: {seen:?}");
        assert!(seen.contains(&(10, qp::COMMITANDACTIVATE, E + 1)) && seen.contains(&(11, qp::COMMITANDACTIVATE, E + 1)));
        assert!(seen.contains(&(12, qp::INFORMANDACTIVATE, E + 1)));
        match out.iter().find_map(|o| match o {
            Output::Send(12, p) => Some(p.clone()),
            _ => None,
        }) {
            Some(p) => assert_eq!(p.data.as_deref(), Some(&[0, 0, 0, 0, 0, 0, 0, 2, 1, 1, 1][..])),
            None => panic!("no INFORMANDACTIVATE"),
        }
        assert!(!c.allowed_to_commit(), "the leader is not designated");
        assert!(c.ack(3, E + 2, None).is_empty(), "nothing commits after the leader was replaced");
        assert_eq!(c.verifier().map(|v| v.voting_ids()), Some(vec![2, 3, 4]));
    }

    #[test]
    fn newleader_during_a_reconfig_needs_both_quorums() {
        let mut c = LeaderCore::new(1, vec![maj(&[1, 2, 3], &[]), maj(&[1, 4, 5], &[])], LIMITS);
        c.start_epoch(E);
        assert_eq!(c.new_leader_ack(1, E), NewLeaderAck::Waiting);
        assert_eq!(c.new_leader_ack(2, E), NewLeaderAck::Waiting);
        assert_eq!(c.new_leader_ack(4, E), NewLeaderAck::QuorumFormed);
    }
}
