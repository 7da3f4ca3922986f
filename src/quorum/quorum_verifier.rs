//! QuorumVerifier: the quorum rule in force, a majority (QuorumMaj) or
//! groups and weights (QuorumHierarchical), chosen as Java's
//! QuorumPeerConfig does (any `group`/`weight` key makes it hierarchical).
//! Immutable once built; shared by the QuorumPeer thread, the election
//! threads and the leader's ack counting.

use crate::quorum::quorum_hierarchical::QuorumHierarchical;
use crate::quorum::quorum_maj::QuorumMaj;
use crate::quorum::quorum_peer_config::{QuorumServer, QuorumSpec};
use std::collections::{BTreeMap, HashSet};

/// The quorum verifier of a membership.
#[derive(Debug, Clone)]
pub enum QuorumVerifier {
    Majority(QuorumMaj),
    Hierarchical(QuorumHierarchical),
}

impl From<QuorumMaj> for QuorumVerifier {
    fn from(maj: QuorumMaj) -> QuorumVerifier {
        QuorumVerifier::Majority(maj)
    }
}

impl QuorumVerifier {
    /// The verifier a membership calls for.
    pub fn new(spec: QuorumSpec) -> QuorumVerifier {
        if spec.hierarchical {
            return QuorumVerifier::Hierarchical(QuorumHierarchical::new(spec));
        }
        match QuorumMaj::new(spec.clone()) {
            Some(maj) => QuorumVerifier::Majority(maj),
            None => QuorumVerifier::Hierarchical(QuorumHierarchical::new(spec)),
        }
    }

    /// Whether `sid` votes (a participant).
    pub fn is_voter(&self, sid: i64) -> bool {
        match self {
            QuorumVerifier::Majority(q) => q.is_voter(sid),
            QuorumVerifier::Hierarchical(q) => q.is_voter(sid),
        }
    }

    /// The voting members' ids, ascending.
    pub fn voting_ids(&self) -> Vec<i64> {
        match self {
            QuorumVerifier::Majority(q) => q.voting_ids(),
            QuorumVerifier::Hierarchical(q) => q.voting_ids(),
        }
    }

    /// Every member, voters and observers.
    pub fn all_members(&self) -> &BTreeMap<i64, QuorumServer> {
        match self {
            QuorumVerifier::Majority(q) => q.all_members(),
            QuorumVerifier::Hierarchical(q) => q.all_members(),
        }
    }

    /// A server's vote weight (0: never elected).
    pub fn weight(&self, sid: i64) -> i64 {
        match self {
            QuorumVerifier::Majority(q) => q.weight(sid),
            QuorumVerifier::Hierarchical(q) => q.weight(sid),
        }
    }

    /// Whether the voters among `acks` are a quorum.
    pub fn contains_quorum(&self, acks: &HashSet<i64>) -> bool {
        match self {
            QuorumVerifier::Majority(q) => q.contains_quorum(acks),
            QuorumVerifier::Hierarchical(q) => q.contains_quorum(acks),
        }
    }

    /// The membership version (the `version` key, hex).
    pub fn version(&self) -> i64 {
        match self {
            QuorumVerifier::Majority(q) => q.version(),
            QuorumVerifier::Hierarchical(q) => q.version(),
        }
    }

    /// The membership as Java's verifier writes it: the config every
    /// election notification carries.
    pub fn config_string(&self) -> String {
        match self {
            QuorumVerifier::Majority(q) => q.config_string(),
            QuorumVerifier::Hierarchical(q) => q.config_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_keys_choose_the_hierarchical_rule() {
        let spec = |extra: &[(&str, &str)]| {
            let mut pairs = vec![("server.1".to_string(), "h:1:2".to_string()), ("server.2".to_string(), "h:3:4".to_string())];
            pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            QuorumSpec::from_pairs(&pairs, false, false).expect("spec")
        };
        assert!(matches!(QuorumVerifier::new(spec(&[])), QuorumVerifier::Majority(_)));
        let h = QuorumVerifier::new(spec(&[("group.1", "1"), ("group.2", "2"), ("weight.2", "0")]));
        assert!(matches!(h, QuorumVerifier::Hierarchical(_)));
        // Server 2's group weighs nothing: server 1 alone is a quorum.
        assert!(h.contains_quorum(&HashSet::from([1])));
        assert_eq!(h.weight(2), 0);
    }
}
