//! The invariants, checked after every event from what the nodes report
//! (`Note`) and from their states, never from the cores' insides.

use super::disk::Txn;
use super::node::{Node, Note, Role};
use crate::quorum::quorum_verifier::QuorumVerifier;
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// What the checkers remember.
pub struct Checker {
    verifier: QuorumVerifier,
    /// Per node, since its election started: sender -> leaders it named.
    heard: BTreeMap<i64, BTreeMap<i64, BTreeSet<i64>>>,
    /// (leadership term, session id) -> when its tracker last saw it alive.
    touched: BTreeMap<(u64, i64), u64>,
    /// The committed history, as leaders established and committed it.
    pub committed: Vec<Txn>,
    /// zxid -> its place in `committed`.
    position: BTreeMap<i64, usize>,
    /// epoch -> the leader that committed in it.
    epoch_leader: BTreeMap<i64, i64>,
    /// (client, connection) -> the last request number committed.
    session_order: BTreeMap<(i64, i32), i32>,
    /// Client writes acknowledged, and when.
    pub acked: Vec<(u64, Txn)>,
    pub violations: Vec<String>,
}

/// A client's cxid is its connection number times this plus the request
/// number on that connection.
pub const CXIDS_PER_CONNECTION: i32 = 10_000;

impl Checker {
    pub fn new(verifier: QuorumVerifier) -> Checker {
        Checker {
            verifier,
            heard: BTreeMap::new(),
            touched: BTreeMap::new(),
            committed: Vec::new(),
            position: BTreeMap::new(),
            epoch_leader: BTreeMap::new(),
            session_order: BTreeMap::new(),
            acked: Vec::new(),
            violations: Vec::new(),
        }
    }

    /// At most one leader commits in an epoch.
    fn one_leader_per_epoch(&mut self, now: u64, sid: i64, epoch: i64) {
        match self.epoch_leader.get(&epoch) {
            Some(other) if *other != sid => self.violations.push(format!(
                "t={now}ms: node {sid} commits in epoch 0x{epoch:x}, where node {other} committed"
            )),
            Some(_) => {}
            None => {
                self.epoch_leader.insert(epoch, sid);
            }
        }
    }

    /// `txn` becomes the `index`th committed txn (or already is).
    fn commit(&mut self, now: u64, sid: i64, index: usize, txn: Txn) {
        match self.committed.get(index) {
            Some(t) if *t == txn => {}
            Some(t) => self.violations.push(format!(
                "t={now}ms: node {sid} committed {txn:?} as txn {index}, which was committed as {t:?}: a committed txn lost or reordered"
            )),
            None if index == self.committed.len() => {
                if txn.client != 0 {
                    let key = (txn.client, txn.cxid / CXIDS_PER_CONNECTION);
                    let n = txn.cxid % CXIDS_PER_CONNECTION;
                    if self.session_order.get(&key).is_some_and(|last| *last >= n) {
                        self.violations.push(format!(
                            "t={now}ms: client {} request {n} committed after its request {} on the same connection",
                            txn.client, self.session_order[&key]
                        ));
                    }
                    self.session_order.insert(key, n);
                }
                self.position.insert(txn.zxid, index);
                self.committed.push(txn);
            }
            None => self.violations.push(format!(
                "t={now}ms: node {sid} committed {txn:?} as txn {index}, but only {} are committed: a gap",
                self.committed.len()
            )),
        }
    }

    /// The newest epoch in which a leader established itself or committed.
    pub fn newest_epoch(&self) -> i64 {
        self.epoch_leader.keys().next_back().copied().unwrap_or(0)
    }

    /// A client's write was acknowledged: it must be committed.
    pub fn acked(&mut self, now: u64, txn: Txn) {
        if self.position.get(&txn.zxid).is_none_or(|i| self.committed[*i] != txn) {
            self.violations.push(format!("t={now}ms: client {} was told {txn:?} is written, but it is not committed", txn.client));
        }
        self.acked.push((now, txn));
    }

    /// After recovery, the serving leader's history holds every
    /// acknowledged write.
    pub fn acked_writes_present(&mut self, now: u64, leader: i64, log: &[Txn]) {
        for (at, txn) in &self.acked {
            let found = log.binary_search_by_key(&txn.zxid, |t| t.zxid).is_ok_and(|i| log[i] == *txn);
            if !found {
                self.violations.push(format!(
                    "t={now}ms: {txn:?}, acknowledged at {at}ms, is not in the history of leader {leader} after recovery"
                ));
                return;
            }
        }
    }

    /// What node `sid` did at `now`.
    pub fn note(&mut self, now: u64, sid: i64, note: &Note) {
        match note {
            Note::ElectionStarted => {
                self.heard.insert(sid, BTreeMap::new());
            }
            Note::ToElection(n) => {
                self.heard.entry(sid).or_default().entry(n.sid).or_default().insert(n.leader);
            }
            Note::Decided(d) => {
                // No leader without a quorum: the voters whose notifications
                // reached this election and named the leader must be a
                // quorum, whichever predicate ended it.
                let backers: HashSet<i64> = self
                    .heard
                    .get(&sid)
                    .into_iter()
                    .flatten()
                    .filter(|(_, leaders)| leaders.contains(&d.vote.id))
                    .map(|(from, _)| *from)
                    .collect();
                if !self.verifier.contains_quorum(&backers) {
                    let mut b: Vec<i64> = backers.into_iter().collect();
                    b.sort_unstable();
                    self.violations.push(format!(
                        "t={now}ms: node {sid} decided {} for leader {} in round 0x{:x} with only {b:?} naming it: no quorum",
                        d.state, d.vote.id, d.vote.election_epoch
                    ));
                }
            }
            Note::RoleEnded(_) => {}
            Note::Established { epoch, history } => {
                // A leader that stalled may count its quorum of NEWLEADER
                // ACKs only after a newer epoch committed more: its
                // history must agree with the committed one, not hold it
                // all (its followers have moved on; it commits nothing
                // more). Any other leader must hold it all.
                let stale = *epoch < self.newest_epoch();
                self.one_leader_per_epoch(now, sid, *epoch);
                let common = history.len().min(self.committed.len());
                let agrees = history[..common] == self.committed[..common];
                let keeps = agrees && (stale || history.len() >= self.committed.len());
                if !keeps {
                    let i = self.committed.iter().zip(history).position(|(a, b)| a != b).unwrap_or(history.len());
                    self.violations.push(format!(
                        "t={now}ms: node {sid} leads epoch 0x{epoch:x} with a history that lacks committed txn {i} ({:?}; it has {:?}): a committed txn lost",
                        self.committed[i],
                        history.get(i)
                    ));
                    return;
                }
                for (i, t) in history.iter().enumerate().skip(self.committed.len()) {
                    self.commit(now, sid, i, *t);
                }
            }
            Note::Committed { epoch, index, txn } => {
                self.one_leader_per_epoch(now, sid, *epoch);
                self.commit(now, sid, *index, *txn);
            }
            Note::Applied { index, txn } => {
                if self.committed.get(*index) != Some(txn) {
                    self.violations.push(format!(
                        "t={now}ms: node {sid} applied {txn:?} as txn {index}, but the committed one is {:?}: its history is no prefix of the committed one",
                        self.committed.get(*index)
                    ));
                }
            }
            Note::Fatal(what) => self.violations.push(format!("t={now}ms: node {sid}: {what}")),
            Note::Touched { term, id } => {
                self.touched.insert((*term, *id), now);
            }
            Note::Expired { term, id, timeout } => {
                // A session touched at t with timeout T expires strictly
                // after t + T, never sooner.
                match self.touched.get(&(*term, *id)) {
                    Some(t) if now > t + *timeout as u64 => {}
                    Some(t) => self.violations.push(format!(
                        "t={now}ms: node {sid} expired session 0x{id:x} last touched at {t}ms with timeout {timeout}ms: {}ms early",
                        t + *timeout as u64 + 1 - now
                    )),
                    None => self.violations.push(format!("t={now}ms: node {sid} expired session 0x{id:x} it never saw")),
                }
            }
        }
    }
}

/// The leader a quorum of live voters follows (itself included, the
/// learners up to date) while it serves, if there is one.
pub fn established_leader(nodes: &BTreeMap<i64, Node>, verifier: &QuorumVerifier) -> Option<i64> {
    nodes.values().filter(|n| n.up && matches!(&n.role, Role::Leading(l) if l.zab.established)).map(|n| n.sid).find(|leader| {
        let followers: HashSet<i64> = nodes
            .values()
            .filter(|n| n.up)
            .filter(|n| n.sid == *leader || matches!(&n.role, Role::Learning(l) if l.leader == *leader && l.serving()))
            .map(|n| n.sid)
            .collect();
        verifier.contains_quorum(&followers)
    })
}
