//! QuorumMaj: the majority quorum verifier over the parsed membership
//! (`server.N` lines). Decides which servers vote and whether a set of them
//! is a quorum. Immutable once built; shared by the QuorumPeer thread and
//! the election threads.

use crate::quorum::quorum_peer_config::{QuorumServer, QuorumSpec};
use std::collections::{BTreeMap, HashSet};

/// A majority quorum: more than half of the voting members.
#[derive(Debug, Clone)]
pub struct QuorumMaj {
    spec: QuorumSpec,
    /// Half the number of voting members, rounded down.
    half: usize,
}

impl QuorumMaj {
    /// The verifier for a membership; `None` for a hierarchical one (groups
    /// and weights), which needs Java's QuorumHierarchical instead.
    pub fn new(spec: QuorumSpec) -> Option<QuorumMaj> {
        if spec.hierarchical {
            return None;
        }
        let half = spec.voting_members().count() / 2;
        Some(QuorumMaj { spec, half })
    }

    /// Whether `sid` votes (a participant).
    pub fn is_voter(&self, sid: i64) -> bool {
        self.spec.voting_members().any(|s| s.id == sid)
    }

    /// The voting members' ids, ascending.
    pub fn voting_ids(&self) -> Vec<i64> {
        self.spec.voting_members().map(|s| s.id).collect()
    }

    /// Every member, voters and observers.
    pub fn all_members(&self) -> &BTreeMap<i64, QuorumServer> {
        &self.spec.servers
    }

    /// A server's weight: 1 for a voter, 0 otherwise (QuorumMaj.getWeight
    /// is 1 for all; a non-voter never reaches it in Java's use).
    pub fn weight(&self, sid: i64) -> i64 {
        i64::from(self.is_voter(sid))
    }

    /// Whether the voters among `acks` are a majority of the voting members
    /// (SyncedLearnerTracker only counts voters, then QuorumMaj compares).
    pub fn contains_quorum(&self, acks: &HashSet<i64>) -> bool {
        acks.iter().filter(|sid| self.is_voter(**sid)).count() > self.half
    }

    /// The membership this verifier was built from.
    pub fn spec(&self) -> &QuorumSpec {
        &self.spec
    }

    /// The membership version (the `version` key, hex).
    pub fn version(&self) -> i64 {
        self.spec.version
    }

    /// The membership as Java's QuorumMaj.toString writes it: the config
    /// every election notification carries.
    pub fn config_string(&self) -> String {
        self.spec.to_config_string()
    }
}

/// The `version=` value of a membership string as notifications carry it
/// (hex); `None` when the string has none or it does not parse.
pub fn version_of_config_string(config: &str) -> Option<i64> {
    config
        .lines()
        .filter_map(|l| l.trim().strip_prefix("version="))
        .next_back()
        .and_then(|v| i64::from_str_radix(v.trim(), 16).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn maj(lines: &[(&str, &str)]) -> QuorumMaj {
        let pairs: Vec<(String, String)> = lines.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        QuorumMaj::new(QuorumSpec::from_pairs(&pairs, false, false).expect("spec")).expect("majority")
    }

    #[test]
    fn majority_of_voters() {
        let q = maj(&[("server.1", "h:1:2"), ("server.2", "h:3:4"), ("server.3", "h:5:6"), ("server.4", "h:7:8:observer")]);
        assert_eq!(q.voting_ids(), vec![1, 2, 3]);
        assert!(!q.contains_quorum(&HashSet::from([1])));
        assert!(!q.contains_quorum(&HashSet::from([1, 4, 9])), "observers and strangers do not count");
        assert!(q.contains_quorum(&HashSet::from([1, 3])));
        assert_eq!(q.weight(4), 0);
        assert_eq!(q.weight(2), 1);
    }

    #[test]
    fn config_string_round_trip() {
        let q = maj(&[("server.1", "127.0.0.1:1:2"), ("server.2", "127.0.0.1:3:4"), ("version", "1f")]);
        assert_eq!(version_of_config_string(&q.config_string()), Some(0x1f));
        assert_eq!(version_of_config_string("server.1=h:1:2:participant"), None);
        assert_eq!(version_of_config_string("version=zz"), None);
    }

    #[test]
    fn hierarchical_is_not_majority() {
        let pairs = vec![("server.1".to_string(), "h:1:2".to_string()), ("group.1".to_string(), "1".to_string())];
        assert!(QuorumMaj::new(QuorumSpec::from_pairs(&pairs, false, false).expect("spec")).is_none());
    }
}
