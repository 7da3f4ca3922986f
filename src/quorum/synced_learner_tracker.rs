//! SyncedLearnerTracker: the servers that acknowledged something (a
//! proposal, NEWLEADER, or being in touch within syncLimit), counted
//! against one quorum verifier or, during a reconfiguration, against the
//! old and the new one together. Plain data, owned by the `LeaderCore`
//! (under the leader's broadcast lock).

use crate::quorum::quorum_verifier::QuorumVerifier;
use std::collections::HashSet;
use std::sync::Arc;

/// One verifier and the voters of it heard from (Java's
/// QuorumVerifierAcksetPair).
#[derive(Debug, Clone)]
struct AckSet {
    verifier: Arc<QuorumVerifier>,
    acks: HashSet<i64>,
}

/// Ack sets for each verifier in force.
#[derive(Debug, Clone)]
pub struct SyncedLearnerTracker {
    sets: Vec<AckSet>,
}

impl SyncedLearnerTracker {
    /// A tracker that needs a quorum of every one of `verifiers`.
    pub fn new(verifiers: &[Arc<QuorumVerifier>]) -> SyncedLearnerTracker {
        SyncedLearnerTracker {
            sets: verifiers.iter().map(|v| AckSet { verifier: Arc::clone(v), acks: HashSet::new() }).collect(),
        }
    }

    /// Records `sid` in each set where it votes; a sid voting in none (an
    /// observer, a stranger) changes nothing.
    pub fn add_ack(&mut self, sid: i64) {
        for s in &mut self.sets {
            if s.verifier.is_voter(sid) {
                s.acks.insert(sid);
            }
        }
    }

    /// The voters of each verifier that acked, in the verifiers' order.
    pub fn ack_sets(&self) -> impl Iterator<Item = &HashSet<i64>> {
        self.sets.iter().map(|s| &s.acks)
    }

    /// Whether every verifier sees a quorum among its acks.
    pub fn has_all_quorums(&self) -> bool {
        self.sets.iter().all(|s| s.verifier.contains_quorum(&s.acks))
    }

    /// Whether any voter has acked (the simulator's commit-on-a-minority
    /// mutation commits on that).
    #[cfg(any(test, feature = "simulation"))]
    pub fn has_any_ack(&self) -> bool {
        self.sets.iter().any(|s| !s.acks.is_empty())
    }

    /// The ack sets as the leader's log lines print them: the sids of each
    /// set, ascending, joined by commas, the sets by " / ".
    pub fn acks_to_string(&self) -> String {
        self.sets
            .iter()
            .map(|s| {
                let mut ids: Vec<i64> = s.acks.iter().copied().collect();
                ids.sort_unstable();
                ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
            })
            .collect::<Vec<_>>()
            .join(" / ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quorum::quorum_peer_config::QuorumSpec;

    fn maj(ids: &[i64]) -> Arc<QuorumVerifier> {
        let pairs: Vec<(String, String)> =
            ids.iter().map(|i| (format!("server.{i}"), format!("h:{}:{}", 1000 + 2 * i, 1001 + 2 * i))).collect();
        Arc::new(QuorumVerifier::new(QuorumSpec::from_pairs(&pairs, false, false).expect("spec")))
    }

    #[test]
    fn one_verifier_needs_a_majority_of_its_voters() {
        let mut t = SyncedLearnerTracker::new(&[maj(&[1, 2, 3])]);
        t.add_ack(1);
        t.add_ack(7);
        assert!(!t.has_all_quorums());
        t.add_ack(1);
        assert!(!t.has_all_quorums(), "a duplicate counts once");
        t.add_ack(3);
        assert!(t.has_all_quorums());
        assert_eq!(t.acks_to_string(), "1,3");
    }

    #[test]
    fn two_verifiers_need_both() {
        let mut t = SyncedLearnerTracker::new(&[maj(&[1, 2, 3]), maj(&[3, 4, 5])]);
        t.add_ack(1);
        t.add_ack(2);
        assert!(!t.has_all_quorums(), "the new config has no quorum yet");
        t.add_ack(4);
        assert!(!t.has_all_quorums());
        t.add_ack(5);
        assert!(t.has_all_quorums());
        assert_eq!(t.acks_to_string(), "1,2 / 4,5");
    }
}
