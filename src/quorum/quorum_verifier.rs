//! QuorumVerifier: the quorum rule in force, a majority (QuorumMaj),
//! groups and weights (QuorumHierarchical) or a majority with an oracle
//! (QuorumOracleMaj), chosen as Java's QuorumPeerConfig does (`oraclePath`
//! makes it the oracle's, else any `group`/`weight` key hierarchical).
//! Immutable once built; shared by the QuorumPeer thread, the election
//! threads and the leader's ack counting.

use crate::quorum::quorum_hierarchical::QuorumHierarchical;
use crate::quorum::quorum_maj::QuorumMaj;
use crate::quorum::quorum_oracle_maj::QuorumOracleMaj;
use crate::quorum::quorum_peer_config::{QuorumServer, QuorumSpec};
use std::collections::{BTreeMap, HashSet};

/// The quorum verifier of a membership.
#[derive(Debug, Clone)]
pub enum QuorumVerifier {
    Majority(QuorumMaj),
    Hierarchical(QuorumHierarchical),
    Oracle(QuorumOracleMaj),
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

    /// The verifier of a membership with `oraclePath` set, or without.
    pub fn with_oracle(spec: QuorumSpec, oracle: Option<&std::path::Path>) -> QuorumVerifier {
        match oracle.and_then(|path| QuorumOracleMaj::new(spec.clone(), path)) {
            Some(q) => QuorumVerifier::Oracle(q),
            None => QuorumVerifier::new(spec),
        }
    }

    /// getNeedOracle: only an oracle verifier ever needs its oracle.
    pub fn need_oracle(&self) -> bool {
        matches!(self, QuorumVerifier::Oracle(q) if q.need_oracle())
    }

    /// askOracle: false but for an oracle that says 1.
    pub fn ask_oracle(&self) -> bool {
        matches!(self, QuorumVerifier::Oracle(q) if q.ask_oracle())
    }

    /// overrideQuorumDecision: a leader without its quorum may go on when
    /// it has no follower, two voters and an oracle that says 1.
    pub fn override_quorum_decision(&self, no_followers: bool) -> bool {
        matches!(self, QuorumVerifier::Oracle(q) if q.update_need_oracle(no_followers) && q.ask_oracle())
    }

    /// Whether `sid` votes (a participant).
    pub fn is_voter(&self, sid: i64) -> bool {
        match self {
            QuorumVerifier::Majority(q) => q.is_voter(sid),
            QuorumVerifier::Hierarchical(q) => q.is_voter(sid),
            QuorumVerifier::Oracle(q) => q.is_voter(sid),
        }
    }

    /// The voting members' ids, ascending.
    pub fn voting_ids(&self) -> Vec<i64> {
        match self {
            QuorumVerifier::Majority(q) => q.voting_ids(),
            QuorumVerifier::Hierarchical(q) => q.voting_ids(),
            QuorumVerifier::Oracle(q) => q.voting_ids(),
        }
    }

    /// Every member, voters and observers.
    pub fn all_members(&self) -> &BTreeMap<i64, QuorumServer> {
        match self {
            QuorumVerifier::Majority(q) => q.all_members(),
            QuorumVerifier::Hierarchical(q) => q.all_members(),
            QuorumVerifier::Oracle(q) => q.all_members(),
        }
    }

    /// A server's vote weight (0: never elected).
    pub fn weight(&self, sid: i64) -> i64 {
        match self {
            QuorumVerifier::Majority(q) => q.weight(sid),
            QuorumVerifier::Hierarchical(q) => q.weight(sid),
            QuorumVerifier::Oracle(q) => q.weight(sid),
        }
    }

    /// Whether the voters among `acks` are a quorum.
    pub fn contains_quorum(&self, acks: &HashSet<i64>) -> bool {
        match self {
            QuorumVerifier::Majority(q) => q.contains_quorum(acks),
            QuorumVerifier::Hierarchical(q) => q.contains_quorum(acks),
            QuorumVerifier::Oracle(q) => q.contains_quorum(acks),
        }
    }

    /// The membership version (the `version` key, hex).
    pub fn version(&self) -> i64 {
        match self {
            QuorumVerifier::Majority(q) => q.version(),
            QuorumVerifier::Hierarchical(q) => q.version(),
            QuorumVerifier::Oracle(q) => q.version(),
        }
    }

    /// The membership it decides over (what a reconfig starts from and
    /// what the dynamic config file holds).
    pub fn spec(&self) -> &QuorumSpec {
        match self {
            QuorumVerifier::Majority(q) => q.spec(),
            QuorumVerifier::Hierarchical(q) => q.spec(),
            QuorumVerifier::Oracle(q) => q.spec(),
        }
    }

    /// The membership as Java's verifier writes it: the config every
    /// election notification carries.
    pub fn config_string(&self) -> String {
        match self {
            QuorumVerifier::Majority(q) => q.config_string(),
            QuorumVerifier::Hierarchical(q) => q.config_string(),
            QuorumVerifier::Oracle(q) => q.config_string(),
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
