//! QuorumHierarchical: the quorum verifier of a membership with groups and
//! weights (`group.G=sid:sid...`, `weight.N=w`). A set of servers is a
//! quorum when, in more than half of the groups of non-zero weight, the
//! servers of the set hold more than half of the group's weight. Immutable
//! once built; shared, like QuorumMaj, by the QuorumPeer thread, the
//! election threads and the leader's ack counting.

use crate::quorum::quorum_peer_config::{QuorumServer, QuorumSpec};
use std::collections::{BTreeMap, HashSet};

/// A hierarchical quorum over groups of weighted servers.
#[derive(Debug, Clone)]
pub struct QuorumHierarchical {
    spec: QuorumSpec,
    /// Server id to its group.
    group_of: BTreeMap<i64, i64>,
    /// Group id to the sum of its servers' weights.
    group_weight: BTreeMap<i64, i64>,
    /// Groups whose weight is not zero (Java's numGroups once zero-weight
    /// groups are taken off).
    weighted_groups: usize,
}

impl QuorumHierarchical {
    /// The verifier for a membership; `spec.hierarchical` is expected (a
    /// spec without groups makes every set a non-quorum).
    pub fn new(spec: QuorumSpec) -> QuorumHierarchical {
        let mut group_of = BTreeMap::new();
        let mut group_weight: BTreeMap<i64, i64> = BTreeMap::new();
        for (gid, members) in &spec.groups {
            let total = group_weight.entry(*gid).or_insert(0);
            for sid in members {
                group_of.insert(*sid, *gid);
                *total = total.saturating_add(spec.weight(*sid));
            }
        }
        let weighted_groups = group_weight.values().filter(|w| **w != 0).count();
        QuorumHierarchical { spec, group_of, group_weight, weighted_groups }
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

    /// A voter's `weight.N` (1 when not given); 0 for anyone else. The
    /// election never backs a candidate of weight 0.
    pub fn weight(&self, sid: i64) -> i64 {
        if self.is_voter(sid) {
            self.spec.weight(sid)
        } else {
            0
        }
    }

    /// Whether the voters among `acks` hold more than half the weight of
    /// more than half of the weighted groups.
    pub fn contains_quorum(&self, acks: &HashSet<i64>) -> bool {
        let mut held: BTreeMap<i64, i64> = BTreeMap::new();
        for sid in acks.iter().filter(|sid| self.is_voter(**sid)) {
            if let Some(gid) = self.group_of.get(sid) {
                let w = held.entry(*gid).or_insert(0);
                *w = w.saturating_add(self.spec.weight(*sid));
            }
        }
        let majority_groups = held
            .iter()
            .filter(|(gid, w)| self.group_weight.get(gid).is_some_and(|total| **w > total / 2))
            .count();
        majority_groups > self.weighted_groups / 2
    }

    /// The membership version (the `version` key, hex).
    pub fn spec(&self) -> &QuorumSpec {
        &self.spec
    }

    pub fn version(&self) -> i64 {
        self.spec.version
    }

    /// The membership as Java's QuorumHierarchical.toString writes it
    /// (servers, groups, weights, version).
    pub fn config_string(&self) -> String {
        self.spec.to_config_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hier(lines: &[(&str, &str)]) -> QuorumHierarchical {
        let pairs: Vec<(String, String)> = lines.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        QuorumHierarchical::new(QuorumSpec::from_pairs(&pairs, false, false).expect("spec"))
    }

    fn q(h: &QuorumHierarchical, ids: &[i64]) -> bool {
        h.contains_quorum(&ids.iter().copied().collect())
    }

    #[test]
    fn three_groups_of_three() {
        // Java's HierarchicalQuorumTest layout: 9 servers in 3 groups.
        let mut lines = Vec::new();
        let names: Vec<String> = (1..=9).map(|i| format!("server.{i}")).collect();
        for n in &names {
            lines.push((n.as_str(), "h:1:2"));
        }
        lines.extend([("group.1", "1:2:3"), ("group.2", "4:5:6"), ("group.3", "7:8:9")]);
        let h = hier(&lines);
        assert!(q(&h, &[1, 2, 4, 5]), "two of three in two of three groups");
        assert!(!q(&h, &[1, 2, 3, 4]), "a whole group and one more is one group");
        assert!(!q(&h, &[1, 4, 7]), "one of three in every group");
        assert!(q(&h, &[1, 2, 4, 5, 7]));
        assert!(!q(&h, &[]));
    }

    #[test]
    fn weights_and_zero_weight_groups() {
        let h = hier(&[
            ("server.1", "h:1:2"),
            ("server.2", "h:1:2"),
            ("server.3", "h:1:2"),
            ("server.4", "h:1:2"),
            ("server.5", "h:1:2:observer"),
            ("group.1", "1:2"),
            ("group.2", "3"),
            ("group.3", "4"),
            ("weight.1", "3"),
            ("weight.4", "0"),
        ]);
        // Group 3 weighs nothing, so two weighted groups: both are needed.
        assert!(!q(&h, &[1, 2]));
        assert!(q(&h, &[1, 3]), "server 1 alone outweighs server 2");
        assert!(!q(&h, &[2, 3]), "1 of 4 is not more than half of group 1");
        assert!(!q(&h, &[1, 4, 5]), "a zero-weight group and an observer add nothing");
        assert_eq!(h.weight(1), 3);
        assert_eq!(h.weight(4), 0);
        assert_eq!(h.weight(5), 0, "an observer does not weigh");
        assert_eq!(h.voting_ids(), vec![1, 2, 3, 4]);
        assert!(h.config_string().contains("group.1=1:2\n"));
    }
}
