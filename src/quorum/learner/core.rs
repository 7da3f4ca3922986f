//! LearnerCore: what a follower or an observer decides about the leader's
//! packets (Java's Learner.registerWithLeader and syncWithLeader, and
//! Follower.processPacket / Observer.processPacket with the pending
//! proposals of FollowerZooKeeperServer). It is driven by the QuorumPeer
//! thread (`quorum::learner::run`), which reads the packets, feeds them in
//! with the completions of the disk work the core asked for, and carries
//! out the returned `Action`s in order. No socket, thread, lock or clock.
//!
//! What is written when: acceptedEpoch before ACKEPOCH; at NEWLEADER the
//! snapshot (after a SNAP or TRUNC), then the proposals received during
//! the sync logged and fsynced, and only then currentEpoch and the ACK of
//! NEWLEADER; the proposals logged there are acknowledged one by one
//! after UPTODATE's ACK, and later proposals by the SyncThread once
//! durable.

use crate::jute::records::{LearnerInfo, QuorumPacket};
use crate::jute::txn::TxnLogEntry;
use crate::jute::{OutputArchive, Record};
use crate::quorum::quorum_packet::{self as packet, decode_txn, PROTOCOL_VERSION};
use crate::quorum::quorum_peer_config::LearnerType;
use std::collections::VecDeque;
use std::io;
use tracing::{error, info, warn};

/// Something the driver must do, in the order given.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Write a packet to the leader; consecutive sends may share a flush.
    Send(QuorumPacket),
    /// Write `acceptedEpoch`.
    WriteAcceptedEpoch(i64),
    /// Write `currentEpoch`.
    WriteCurrentEpoch(i64),
    /// Read the snapshot streamed after SNAP and install it at this zxid;
    /// then report `snapshot_installed`.
    ReadSnapshot(i64),
    /// Cut the log after this zxid and reload the database up to it.
    Truncate(i64),
    /// The sync has its starting state: record the configuration in the
    /// database (initConfigInZKDatabase).
    InitConfig,
    /// Apply a committed txn to the tree (during the sync, before NEWLEADER).
    Apply(TxnLogEntry),
    /// Take a snapshot of the tree; then report `snapshot_taken`.
    TakeSnapshot,
    /// Append these txns to the log and fsync it; then report `txns_durable`.
    LogAndSync(Vec<TxnLogEntry>),
    /// Start the role's server and take the new epoch into the vote.
    StartServer(i64),
    /// Answer a PING with the sessions touched since the last one.
    AnswerPing(QuorumPacket),
    /// Hand a proposal to the SyncThread (logged, then acknowledged).
    LogRequest(TxnLogEntry),
    /// A follower's committed proposal, to the CommitProcessor.
    Commit(TxnLogEntry),
    /// An observer's informed txn: logged if syncEnabled, and committed.
    CommitRequest(TxnLogEntry),
    /// The leader's SYNC for the oldest forwarded sync.
    Sync,
    /// The leader's answer to a REVALIDATE.
    Revalidate(QuorumPacket),
    /// Put the role's server behind the client port.
    Serve,
    /// A configuration was proposed (NEWLEADER's, or a reconfig proposal's
    /// txn data): it becomes the last seen one (setLastSeenQuorumVerifier).
    SeeConfig(Vec<u8>),
    /// A configuration comes into force (processReconfig), with the leader
    /// the reconfig designates and its zxid when the leader named them.
    /// If this peer's role or leader changes, the role ends once the
    /// actions after it are carried out ("changes proposed in reconfig").
    ActivateConfig { config: Vec<u8>, leader: Option<i64>, zxid: Option<i64> },
}

/// The new configuration a reconfig txn carries (its SetDataTxn's data).
fn reconfig_data(entry: &TxnLogEntry) -> Option<Vec<u8>> {
    match (&entry.txn, entry.hdr.r#type) {
        (Some(crate::jute::txn::TxnBody::SetData(t)), crate::zoo_defs::op_code::RECONFIG) => {
            Some(t.data.clone().unwrap_or_default())
        }
        _ => None,
    }
}

/// COMMITANDACTIVATE's data: the designated leader's sid.
fn designated_leader(qp: &QuorumPacket) -> io::Result<i64> {
    match qp.data.as_deref() {
        Some(d) if d.len() >= 8 => Ok(i64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])),
        _ => Err(bad_data(format!("packet type {} without the designated leader", qp.r#type))),
    }
}

/// INFORMANDACTIVATE's data: the designated leader's sid, then the txn.
fn decode_inform_and_activate(qp: &QuorumPacket) -> io::Result<(i64, TxnLogEntry)> {
    let leader = designated_leader(qp)?;
    let rest = qp.data.as_deref().map(|d| d[8..].to_vec());
    let entry = decode_txn(&QuorumPacket { r#type: qp.r#type, zxid: qp.zxid, data: rest, authinfo: Vec::new() })?;
    Ok((leader, entry))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not registered yet: waiting for LEADERINFO (or a pre-1.0 NEWLEADER).
    Registering,
    /// Registered: the next packet is DIFF, TRUNC or SNAP.
    SyncStart,
    /// SNAP read: waiting for the snapshot to be installed.
    InstallingSnapshot,
    /// Between DIFF/TRUNC/SNAP and UPTODATE.
    Syncing,
    /// NEWLEADER received: waiting for the snapshot.
    NewLeaderSnapshot,
    /// NEWLEADER received: waiting for the sync's proposals to be durable.
    NewLeaderLogging,
    /// UPTODATE received: following the leader's broadcast.
    Broadcast,
}

/// What the learner knows of itself when it connects.
#[derive(Debug, Clone, Copy)]
pub struct LearnerState {
    pub my_id: i64,
    pub learner_type: LearnerType,
    pub accepted_epoch: i64,
    pub current_epoch: i64,
    pub last_logged_zxid: i64,
    pub config_version: i64,
}

fn bad_data(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn ack(zxid: i64) -> QuorumPacket {
    QuorumPacket { r#type: packet::ACK, zxid, data: None, authinfo: Vec::new() }
}

/// The learner's side of ZAB for one connection to one leader.
pub struct LearnerCore {
    me: LearnerState,
    phase: Phase,
    /// The new epoch's first zxid (LEADERINFO's or NEWLEADER's).
    new_epoch_zxid: i64,
    /// The sync left a state the log does not hold (SNAP or TRUNC): it is
    /// snapshotted at NEWLEADER.
    snapshot_needed: bool,
    /// After NEWLEADER, commits during the sync wait for UPTODATE instead
    /// of being applied at once.
    write_to_txn_log: bool,
    /// Proposals (and INFORMs) received during the sync, not yet applied.
    not_committed: VecDeque<TxnLogEntry>,
    /// Zxids committed after NEWLEADER, applied after UPTODATE.
    committed: VecDeque<i64>,
    /// Proposals made durable at NEWLEADER, acknowledged after UPTODATE.
    logged: Vec<TxnLogEntry>,
    /// The newest proposal seen, to warn about gaps.
    last_queued: i64,
    /// The configuration NEWLEADER carried, activated at UPTODATE.
    new_leader_config: Option<Vec<u8>>,
    /// pendingTxns: a follower's proposals handed to the log, waiting for
    /// their COMMIT, in order.
    pending: VecDeque<TxnLogEntry>,
    /// The simulator's deliberate mistake: ACK a proposal on arrival,
    /// before its txn is durable.
    #[cfg(any(test, feature = "simulation"))]
    ack_before_durable: bool,
    /// The simulator's deliberate mistake: accept a leader whose epoch is
    /// older than the accepted one.
    #[cfg(any(test, feature = "simulation"))]
    accept_older_newleader: bool,
    /// The simulator's deliberate mistake: the proposals logged at
    /// NEWLEADER are never acknowledged (the wedge of issue 10).
    #[cfg(any(test, feature = "simulation"))]
    forget_logged_acks: bool,
}

impl LearnerCore {
    pub fn new(me: LearnerState) -> LearnerCore {
        LearnerCore {
            me,
            phase: Phase::Registering,
            new_epoch_zxid: 0,
            snapshot_needed: false,
            write_to_txn_log: false,
            not_committed: VecDeque::new(),
            committed: VecDeque::new(),
            logged: Vec::new(),
            last_queued: 0,
            new_leader_config: None,
            pending: VecDeque::new(),
            #[cfg(any(test, feature = "simulation"))]
            ack_before_durable: false,
            #[cfg(any(test, feature = "simulation"))]
            accept_older_newleader: false,
            #[cfg(any(test, feature = "simulation"))]
            forget_logged_acks: false,
        }
    }

    /// Simulator mutation: proposals are acknowledged as they arrive.
    #[cfg(any(test, feature = "simulation"))]
    pub fn mutate_ack_before_durable(&mut self) {
        self.ack_before_durable = true;
    }

    /// Simulator mutation: a LEADERINFO or NEWLEADER from an epoch older
    /// than the accepted one is taken.
    #[cfg(any(test, feature = "simulation"))]
    pub fn mutate_accept_older_newleader(&mut self) {
        self.accept_older_newleader = true;
    }

    /// Simulator mutation: the proposals made durable at NEWLEADER are not
    /// acknowledged after UPTODATE, so an established leader waiting for
    /// them never commits again.
    #[cfg(any(test, feature = "simulation"))]
    pub fn mutate_forget_to_ack_logged_proposals(&mut self) {
        self.forget_logged_acks = true;
    }

    #[cfg(any(test, feature = "simulation"))]
    fn forgets_logged_acks(&self) -> bool {
        self.forget_logged_acks
    }

    #[cfg(not(any(test, feature = "simulation")))]
    fn forgets_logged_acks(&self) -> bool {
        false
    }

    #[cfg(any(test, feature = "simulation"))]
    fn acks_on_arrival(&self) -> bool {
        self.ack_before_durable
    }

    #[cfg(not(any(test, feature = "simulation")))]
    fn acks_on_arrival(&self) -> bool {
        false
    }

    #[cfg(any(test, feature = "simulation"))]
    fn takes_older_epochs(&self) -> bool {
        self.accept_older_newleader
    }

    #[cfg(not(any(test, feature = "simulation")))]
    fn takes_older_epochs(&self) -> bool {
        false
    }

    fn is_follower(&self) -> bool {
        self.me.learner_type == LearnerType::Participant
    }

    /// The epoch the leader proposed (0 before LEADERINFO/NEWLEADER).
    pub fn new_epoch(&self) -> i64 {
        self.new_epoch_zxid >> 32
    }

    /// Whether UPTODATE has been received.
    pub fn is_serving(&self) -> bool {
        self.phase == Phase::Broadcast
    }

    /// The registration: FOLLOWERINFO or OBSERVERINFO with the accepted epoch.
    pub fn start(&mut self) -> Vec<Action> {
        let info = LearnerInfo {
            serverid: self.me.my_id,
            protocol_version: PROTOCOL_VERSION,
            config_version: self.me.config_version,
        };
        let r#type = if self.is_follower() { packet::FOLLOWERINFO } else { packet::OBSERVERINFO };
        vec![Action::Send(QuorumPacket {
            r#type,
            zxid: self.me.accepted_epoch << 32,
            data: Some(info.to_bytes()),
            authinfo: Vec::new(),
        })]
    }

    /// A packet from the leader. An error ends the role.
    pub fn packet(&mut self, qp: QuorumPacket) -> io::Result<Vec<Action>> {
        match self.phase {
            Phase::Registering => self.register(qp),
            Phase::SyncStart => self.sync_start(qp),
            Phase::Syncing => self.syncing(qp),
            Phase::Broadcast => self.broadcast(qp),
            Phase::InstallingSnapshot | Phase::NewLeaderSnapshot | Phase::NewLeaderLogging => {
                Err(io::Error::other(format!("packet type {} while waiting for the disk", qp.r#type)))
            }
        }
    }

    /// registerWithLeader's answer: LEADERINFO gets ACKEPOCH (acceptedEpoch
    /// written first when the epoch is new); a pre-1.0 leader's NEWLEADER
    /// skips it.
    fn register(&mut self, qp: QuorumPacket) -> io::Result<Vec<Action>> {
        let new_epoch = qp.zxid >> 32;
        let accepted = self.me.accepted_epoch;
        let mut actions = Vec::new();
        if qp.r#type == packet::LEADERINFO {
            let mut oa = OutputArchive::with_capacity(4);
            if new_epoch > accepted {
                oa.write_int(self.me.current_epoch as i32);
                self.me.accepted_epoch = new_epoch;
                actions.push(Action::WriteAcceptedEpoch(new_epoch));
            } else if new_epoch == accepted || self.takes_older_epochs() {
                oa.write_int(-1);
            } else {
                return Err(io::Error::other(format!("Leaders epoch, {new_epoch} is less than accepted epoch, {accepted}")));
            }
            actions.push(Action::Send(QuorumPacket {
                r#type: packet::ACKEPOCH,
                zxid: self.me.last_logged_zxid,
                data: Some(oa.into_inner()),
                authinfo: Vec::new(),
            }));
            self.new_epoch_zxid = new_epoch << 32;
        } else {
            if new_epoch > accepted {
                self.me.accepted_epoch = new_epoch;
                actions.push(Action::WriteAcceptedEpoch(new_epoch));
            }
            if qp.r#type != packet::NEWLEADER {
                return Err(io::Error::other("First packet should have been NEWLEADER"));
            }
            if new_epoch < self.me.accepted_epoch && !self.takes_older_epochs() {
                error!("Proposed leader epoch {new_epoch:x} is less than our accepted epoch {:x}", self.me.accepted_epoch);
                return Err(io::Error::other("Error: Epoch of leader is lower"));
            }
            self.new_epoch_zxid = qp.zxid;
        }
        self.phase = Phase::SyncStart;
        Ok(actions)
    }

    /// The first packet of the sync: DIFF, TRUNC or SNAP.
    fn sync_start(&mut self, qp: QuorumPacket) -> io::Result<Vec<Action>> {
        match qp.r#type {
            packet::DIFF => {
                info!("Getting a diff from the leader 0x{:x}", qp.zxid);
                self.snapshot_needed = false;
                self.begin_syncing();
                Ok(vec![Action::InitConfig])
            }
            packet::SNAP => {
                info!("Getting a snapshot from leader 0x{:x}", qp.zxid);
                self.phase = Phase::InstallingSnapshot;
                Ok(vec![Action::ReadSnapshot(qp.zxid)])
            }
            packet::TRUNC => {
                warn!("Truncating log to get in sync with the leader 0x{:x}", qp.zxid);
                self.snapshot_needed = true;
                self.begin_syncing();
                Ok(vec![Action::Truncate(qp.zxid), Action::InitConfig])
            }
            t => {
                error!("Got unexpected packet from leader: type {t}, exiting ... ");
                Err(bad_data(format!("unexpected packet type {t} to start the sync")))
            }
        }
    }

    fn begin_syncing(&mut self) {
        self.write_to_txn_log = !self.snapshot_needed;
        self.phase = Phase::Syncing;
    }

    /// The snapshot streamed after SNAP is installed.
    pub fn snapshot_installed(&mut self) -> io::Result<Vec<Action>> {
        if self.phase != Phase::InstallingSnapshot {
            return Err(io::Error::other("a snapshot was installed without a SNAP"));
        }
        self.snapshot_needed = true;
        self.begin_syncing();
        Ok(vec![Action::InitConfig])
    }

    /// The sync's packets until UPTODATE.
    fn syncing(&mut self, qp: QuorumPacket) -> io::Result<Vec<Action>> {
        match qp.r#type {
            packet::PROPOSAL => {
                let entry = decode_txn(&qp)?;
                let zxid = entry.hdr.zxid;
                if zxid != self.last_queued + 1 {
                    warn!("Got zxid 0x{zxid:x} expected 0x{:x}", self.last_queued + 1);
                }
                self.last_queued = zxid;
                let mut actions: Vec<Action> = reconfig_data(&entry).map(Action::SeeConfig).into_iter().collect();
                self.not_committed.push_back(entry);
                if self.is_follower() && self.acks_on_arrival() {
                    actions.push(Action::Send(ack(zxid)));
                }
                Ok(actions)
            }
            packet::COMMITANDACTIVATE => {
                let mut actions = Vec::new();
                if let Some(config) = self.not_committed.front().filter(|e| e.hdr.zxid == qp.zxid).and_then(reconfig_data) {
                    let leader = designated_leader(&qp)?;
                    actions.push(Action::ActivateConfig { config, leader: Some(leader), zxid: Some(qp.zxid) });
                }
                actions.extend(self.syncing(QuorumPacket { r#type: packet::COMMIT, ..qp })?);
                Ok(actions)
            }
            packet::INFORMANDACTIVATE => {
                let (leader, entry) = decode_inform_and_activate(&qp)?;
                let mut actions: Vec<Action> = reconfig_data(&entry)
                    .map(|config| Action::ActivateConfig { config, leader: Some(leader), zxid: Some(qp.zxid) })
                    .into_iter()
                    .collect();
                if self.write_to_txn_log {
                    self.not_committed.push_back(entry);
                    self.committed.push_back(qp.zxid);
                } else {
                    actions.push(Action::Apply(entry));
                }
                Ok(actions)
            }
            packet::COMMIT => {
                if self.write_to_txn_log {
                    self.committed.push_back(qp.zxid);
                    return Ok(Vec::new());
                }
                match self.not_committed.front() {
                    Some(e) if e.hdr.zxid == qp.zxid => Ok(self.not_committed.pop_front().map(Action::Apply).into_iter().collect()),
                    Some(e) => {
                        warn!("Committing 0x{:x}, but next proposal is 0x{:x}", qp.zxid, e.hdr.zxid);
                        Ok(Vec::new())
                    }
                    None => {
                        warn!("Committing 0x{:x} without seeing txn", qp.zxid);
                        Ok(Vec::new())
                    }
                }
            }
            packet::INFORM => {
                let entry = decode_txn(&qp)?;
                self.last_queued = entry.hdr.zxid;
                if self.write_to_txn_log {
                    self.not_committed.push_back(entry);
                    self.committed.push_back(qp.zxid);
                    Ok(Vec::new())
                } else {
                    Ok(vec![Action::Apply(entry)])
                }
            }
            packet::NEWLEADER => {
                let mut actions = Vec::new();
                if let Some(config) = qp.data.filter(|d| d.len() > 1) {
                    actions.push(Action::SeeConfig(config.clone()));
                    self.new_leader_config = Some(config);
                }
                if self.snapshot_needed {
                    self.phase = Phase::NewLeaderSnapshot;
                    actions.push(Action::TakeSnapshot);
                    return Ok(actions);
                }
                actions.extend(self.log_sync_proposals());
                Ok(actions)
            }
            packet::UPTODATE => self.up_to_date(),
            t => {
                warn!("Unexpected packet type {t} during the sync");
                Ok(Vec::new())
            }
        }
    }

    /// The snapshot asked for at NEWLEADER is on disk.
    pub fn snapshot_taken(&mut self) -> io::Result<Vec<Action>> {
        if self.phase != Phase::NewLeaderSnapshot {
            return Err(io::Error::other("a snapshot was taken that NEWLEADER did not ask for"));
        }
        Ok(self.log_sync_proposals())
    }

    /// NEWLEADER after its snapshot: a follower makes the sync's proposals
    /// durable before anything else; an observer logs nothing.
    fn log_sync_proposals(&mut self) -> Vec<Action> {
        if self.is_follower() {
            self.phase = Phase::NewLeaderLogging;
            let entries: Vec<TxnLogEntry> = self.not_committed.drain(..).collect();
            self.logged.extend(entries.iter().cloned());
            return vec![Action::LogAndSync(entries)];
        }
        self.accept_new_leader()
    }

    /// The txns of the last `LogAndSync` are fsynced.
    pub fn txns_durable(&mut self) -> io::Result<Vec<Action>> {
        if self.phase != Phase::NewLeaderLogging {
            return Err(io::Error::other("txns made durable that NEWLEADER did not ask for"));
        }
        Ok(self.accept_new_leader())
    }

    /// The sync is on disk: currentEpoch, then NEWLEADER's ACK.
    fn accept_new_leader(&mut self) -> Vec<Action> {
        self.me.current_epoch = self.new_epoch();
        self.write_to_txn_log = true;
        self.phase = Phase::Syncing;
        vec![Action::WriteCurrentEpoch(self.new_epoch()), Action::Send(ack(self.new_epoch_zxid))]
    }

    /// UPTODATE: ACK it, start serving, ACK the proposals logged at
    /// NEWLEADER, hand the rest of the sync to the processors.
    fn up_to_date(&mut self) -> io::Result<Vec<Action>> {
        let epoch = self.new_epoch();
        let mut actions: Vec<Action> = self
            .new_leader_config
            .take()
            .map(|config| Action::ActivateConfig { config, leader: None, zxid: None })
            .into_iter()
            .collect();
        actions.extend([Action::Send(ack(epoch << 32)), Action::StartServer(epoch)]);
        let not_committed = std::mem::take(&mut self.not_committed);
        let committed = std::mem::take(&mut self.committed);
        if self.is_follower() {
            // An established leader may still be waiting for these: nothing
            // after them can commit before they do.
            let logged = std::mem::take(&mut self.logged);
            if !self.acks_on_arrival() && !self.forgets_logged_acks() {
                actions.extend(logged.iter().map(|e| Action::Send(ack(e.hdr.zxid))));
            }
            self.pending.extend(logged);
            for e in not_committed {
                actions.push(self.log_request(e));
            }
            for zxid in committed {
                actions.extend(self.commit(zxid)?);
            }
        } else {
            let mut committed = committed;
            for e in not_committed {
                if committed.front() != Some(&e.hdr.zxid) {
                    warn!(
                        "Committing 0x{:x}, but next proposal is 0x{:x}",
                        committed.front().copied().unwrap_or(0),
                        e.hdr.zxid
                    );
                    continue;
                }
                committed.pop_front();
                actions.push(Action::CommitRequest(e));
            }
        }
        actions.push(Action::Serve);
        self.phase = Phase::Broadcast;
        Ok(actions)
    }

    /// logRequest: the proposal waits for its COMMIT (unless it is the
    /// epoch's first zxid, NEWLEADER's) and goes to the log.
    fn log_request(&mut self, entry: TxnLogEntry) -> Action {
        if entry.hdr.zxid & 0xffff_ffff != 0 {
            self.pending.push_back(entry.clone());
        }
        Action::LogRequest(entry)
    }

    /// commit: `zxid` must be the oldest pending proposal.
    fn commit(&mut self, zxid: i64) -> io::Result<Vec<Action>> {
        match self.pending.front() {
            None => {
                warn!("Committing 0x{zxid:x} without seeing txn");
                Ok(Vec::new())
            }
            Some(e) if e.hdr.zxid != zxid => {
                error!("Committing zxid 0x{zxid:x} but next pending txn 0x{:x}", e.hdr.zxid);
                Err(io::Error::other("a COMMIT does not match the next pending proposal"))
            }
            Some(_) => Ok(self.pending.pop_front().map(Action::Commit).into_iter().collect()),
        }
    }

    /// Follower.processPacket / Observer.processPacket after UPTODATE.
    fn broadcast(&mut self, qp: QuorumPacket) -> io::Result<Vec<Action>> {
        let follower = self.is_follower();
        match qp.r#type {
            packet::PING => Ok(vec![Action::AnswerPing(qp)]),
            packet::PROPOSAL if follower => {
                let entry = decode_txn(&qp)?;
                let zxid = entry.hdr.zxid;
                if self.last_queued != 0 && zxid != self.last_queued + 1 {
                    warn!("Got zxid 0x{zxid:x} expected 0x{:x}", self.last_queued + 1);
                }
                self.last_queued = zxid;
                let mut actions: Vec<Action> = reconfig_data(&entry).map(Action::SeeConfig).into_iter().collect();
                if self.acks_on_arrival() {
                    actions.push(Action::Send(ack(zxid)));
                }
                actions.push(self.log_request(entry));
                Ok(actions)
            }
            packet::COMMIT if follower => self.commit(qp.zxid),
            packet::COMMITANDACTIVATE if follower => {
                let leader = designated_leader(&qp)?;
                let mut actions: Vec<Action> = self
                    .pending
                    .front()
                    .filter(|e| e.hdr.zxid == qp.zxid)
                    .and_then(reconfig_data)
                    .map(|config| Action::ActivateConfig { config, leader: Some(leader), zxid: Some(qp.zxid) })
                    .into_iter()
                    .collect();
                actions.extend(self.commit(qp.zxid)?);
                Ok(actions)
            }
            packet::INFORM if !follower => Ok(vec![Action::CommitRequest(decode_txn(&qp)?)]),
            packet::INFORMANDACTIVATE if !follower => {
                let (leader, entry) = decode_inform_and_activate(&qp)?;
                let activate = reconfig_data(&entry)
                    .map(|config| Action::ActivateConfig { config, leader: Some(leader), zxid: Some(qp.zxid) });
                let mut actions = vec![Action::CommitRequest(entry)];
                actions.extend(activate);
                Ok(actions)
            }
            packet::PROPOSAL | packet::COMMIT | packet::INFORM | packet::COMMITANDACTIVATE | packet::INFORMANDACTIVATE => {
                warn!("Ignoring packet type {} not meant for a {:?}", qp.r#type, self.me.learner_type);
                Ok(Vec::new())
            }
            packet::UPTODATE => {
                error!("Received an UPTODATE message after the learner started");
                Ok(Vec::new())
            }
            packet::REVALIDATE => Ok(vec![Action::Revalidate(qp)]),
            packet::SYNC => Ok(vec![Action::Sync]),
            t => {
                warn!("Unknown packet type: {t}");
                Ok(Vec::new())
            }
        }
    }
}

#[cfg(test)]
mod tests;
