//! QuorumOracleMaj: the majority verifier with an oracle (`oraclePath`),
//! Java 3.8's tie breaker for an ensemble of two voters. When the voters
//! seen are no majority and the oracle is needed (before the leader first
//! reviews its followers, and whenever a leader of two voters has none),
//! the first byte of the oracle file decides: `1` makes this server alone a
//! quorum, anything else (or no file) does not. The need for the oracle is
//! shared by every clone of the verifier, as Java's one object is: the
//! leader's ping loop updates it, the election reads it.

use crate::quorum::quorum_maj::QuorumMaj;
use crate::quorum::quorum_peer_config::{QuorumServer, QuorumSpec};
use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tracing::{debug, warn};

/// A majority verifier that asks the oracle when it has no majority.
#[derive(Debug, Clone)]
pub struct QuorumOracleMaj {
    maj: QuorumMaj,
    oracle: PathBuf,
    need_oracle: Arc<AtomicBool>,
}

impl QuorumOracleMaj {
    /// The verifier over the `server.N` lines of `spec` (group and weight
    /// keys are ignored, as Java's QuorumOracleMaj ignores them).
    pub fn new(spec: QuorumSpec, oracle: &Path) -> Option<QuorumOracleMaj> {
        let spec = QuorumSpec { hierarchical: false, groups: BTreeMap::new(), weights: BTreeMap::new(), ..spec };
        let maj = QuorumMaj::new(spec)?;
        Some(QuorumOracleMaj { maj, oracle: oracle.to_path_buf(), need_oracle: Arc::new(AtomicBool::new(true)) })
    }

    pub fn is_voter(&self, sid: i64) -> bool {
        self.maj.is_voter(sid)
    }

    pub fn voting_ids(&self) -> Vec<i64> {
        self.maj.voting_ids()
    }

    pub fn all_members(&self) -> &BTreeMap<i64, QuorumServer> {
        self.maj.all_members()
    }

    pub fn weight(&self, sid: i64) -> i64 {
        self.maj.weight(sid)
    }

    pub fn spec(&self) -> &QuorumSpec {
        self.maj.spec()
    }

    pub fn version(&self) -> i64 {
        self.maj.version()
    }

    pub fn config_string(&self) -> String {
        self.maj.config_string()
    }

    /// A majority, or, with two voters or fewer and the oracle needed, the
    /// oracle's word.
    pub fn contains_quorum(&self, acks: &HashSet<i64>) -> bool {
        if self.maj.voting_ids().len() > 2 || self.maj.contains_quorum(acks) {
            return self.maj.contains_quorum(acks);
        }
        self.need_oracle() && self.ask_oracle()
    }

    /// Whether the oracle is needed (true until a leader finds followers).
    pub fn need_oracle(&self) -> bool {
        self.need_oracle.load(Ordering::Acquire)
    }

    /// updateNeedOracle: the oracle is needed when a leader of two voters
    /// has no follower.
    pub fn update_need_oracle(&self, no_followers: bool) -> bool {
        let need = no_followers && self.maj.voting_ids().len() == 2;
        self.need_oracle.store(need, Ordering::Release);
        need
    }

    /// askOracle: whether the oracle file starts with `1`.
    pub fn ask_oracle(&self) -> bool {
        let mut first = [0u8; 1];
        match std::fs::File::open(&self.oracle).and_then(|mut f| f.read_exact(&mut first)) {
            Ok(()) => {
                debug!("Oracle says:{}", char::from(first[0]));
                first[0] == b'1'
            }
            Err(e) => {
                warn!("cannot read the oracle {}: {e}", self.oracle.display());
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oracle(dir: &Path, says: &str, voters: usize) -> QuorumOracleMaj {
        let path = dir.join("oracle");
        std::fs::write(&path, says).unwrap();
        let pairs: Vec<(String, String)> =
            (1..=voters).map(|i| (format!("server.{i}"), format!("h:{}:{}", 2 * i, 2 * i + 1))).collect();
        QuorumOracleMaj::new(QuorumSpec::from_pairs(&pairs, false, false).unwrap(), &path).unwrap()
    }

    #[test]
    fn the_oracle_breaks_a_tie_of_two_only_while_needed() {
        let dir = tempfile::tempdir().unwrap();
        let yes = oracle(dir.path(), "1", 2);
        assert!(yes.contains_quorum(&HashSet::from([1, 2])));
        assert!(yes.contains_quorum(&HashSet::from([1])), "needed at first, and the oracle says 1");
        assert!(!yes.update_need_oracle(false), "a leader with a follower does not need it");
        assert!(!yes.contains_quorum(&HashSet::from([1])));
        assert!(yes.update_need_oracle(true));
        assert!(yes.clone().contains_quorum(&HashSet::from([2])), "clones share the need");
        std::fs::write(dir.path().join("oracle"), "0").unwrap();
        assert!(!yes.contains_quorum(&HashSet::from([1])));
        std::fs::remove_file(dir.path().join("oracle")).unwrap();
        assert!(!yes.ask_oracle(), "no oracle file says no");
    }

    #[test]
    fn three_voters_need_a_majority() {
        let dir = tempfile::tempdir().unwrap();
        let q = oracle(dir.path(), "1", 3);
        assert!(!q.contains_quorum(&HashSet::from([1])));
        assert!(q.contains_quorum(&HashSet::from([1, 3])));
    }
}
