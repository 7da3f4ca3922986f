//! The invariants, checked after every event from what the nodes report
//! (`Note`) and from their states, never from the cores' insides.

use super::node::{Node, Note, Role};
use crate::quorum::quorum_maj::QuorumMaj;
use crate::quorum::vote::ServerState;
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// What the checkers remember.
pub struct Checker {
    verifier: QuorumMaj,
    /// Per node, since its election started: sender -> leaders it named.
    heard: BTreeMap<i64, BTreeMap<i64, BTreeSet<i64>>>,
    /// (leadership term, session id) -> when its tracker last saw it alive.
    touched: BTreeMap<(u64, i64), u64>,
    pub violations: Vec<String>,
}

impl Checker {
    pub fn new(verifier: QuorumMaj) -> Checker {
        Checker { verifier, heard: BTreeMap::new(), touched: BTreeMap::new(), violations: Vec::new() }
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

/// The leader a quorum of live voters follows (itself included) while it
/// leads, if there is one.
pub fn established_leader(nodes: &BTreeMap<i64, Node>, verifier: &QuorumMaj) -> Option<i64> {
    nodes.values().filter(|n| n.up && n.state == ServerState::Leading).map(|n| n.sid).find(|leader| {
        let followers: HashSet<i64> = nodes
            .values()
            .filter(|n| n.up)
            .filter(|n| n.sid == *leader || matches!(&n.role, Role::Learning(l) if l.leader == *leader && l.has_heard_leader()))
            .map(|n| n.sid)
            .collect();
        verifier.contains_quorum(&followers)
    })
}
