//! DigestCalculator: the per-node digest behind ZooKeeper 3.8's tree digest
//! (zookeeper.digest.enabled). A node's digest is the CRC-32 of its path
//! (the root as ""), its data, and nine stat fields packed big-endian
//! (czxid, mzxid, pzxid, ctime, mtime, version, cversion, aversion,
//! ephemeralOwner: 60 bytes). Nodes under "/zookeeper/" count as 0. The
//! tree digest is the wrapping sum of all node digests (Java's AdHash), so
//! a change moves it by new digest minus old. Used by DataTree (applying
//! txns, on the SyncThread/final path) and by PrepRequestProcessor (the
//! digest a txn will leave behind, logged with it).

use crate::jute::records::StatPersisted;

/// The digest scheme Java 3.8 writes (TxnDigest.version, ZxidDigest).
pub const DIGEST_VERSION: i32 = 2;

/// Subtree whose nodes are left out of the digest (quota stats change
/// locally on each server).
const EXCLUDED_SUBTREE: &str = "/zookeeper/";

/// A node's digest with the path and data already hashed, so the digest
/// for any stat costs only the 60 stat bytes (Prep recomputes a parent's
/// digest on every child change without copying its data).
#[derive(Clone, Default)]
pub struct NodeDigester {
    /// CRC state after path and data; None when the node does not count.
    prefix: Option<crc32fast::Hasher>,
}

impl std::fmt::Debug for NodeDigester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.prefix.is_some() { "NodeDigester" } else { "NodeDigester(none)" })
    }
}

impl NodeDigester {
    /// Hashes `path` and `data`; a digester that always answers 0 when
    /// digests are off or the path is under /zookeeper/.
    pub fn new(enabled: bool, path: &str, data: Option<&[u8]>) -> NodeDigester {
        if !enabled || path.starts_with(EXCLUDED_SUBTREE) {
            return NodeDigester { prefix: None };
        }
        let mut h = crc32fast::Hasher::new();
        // "/" and "" both name the root; the digest uses "".
        if path != "/" {
            h.update(path.as_bytes());
        }
        if let Some(d) = data {
            h.update(d);
        }
        NodeDigester { prefix: Some(h) }
    }

    /// The node's digest with stat `s` (0 for a node that does not count).
    pub fn digest(&self, s: &StatPersisted) -> i64 {
        let Some(prefix) = &self.prefix else {
            return 0;
        };
        let mut b = [0u8; 60];
        let longs = [s.czxid, s.mzxid, s.pzxid, s.ctime, s.mtime];
        for (i, v) in longs.iter().enumerate() {
            b[i * 8..i * 8 + 8].copy_from_slice(&v.to_be_bytes());
        }
        for (i, v) in [s.version, s.cversion, s.aversion].iter().enumerate() {
            b[40 + i * 4..44 + i * 4].copy_from_slice(&v.to_be_bytes());
        }
        b[52..60].copy_from_slice(&s.ephemeral_owner.to_be_bytes());
        let mut h = prefix.clone();
        h.update(&b);
        i64::from(h.finalize())
    }
}

/// The digest of one node.
pub fn calculate_digest(enabled: bool, path: &str, data: Option<&[u8]>, stat: &StatPersisted) -> i64 {
    NodeDigester::new(enabled, path, data).digest(stat)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat() -> StatPersisted {
        StatPersisted {
            czxid: 1,
            mzxid: 2,
            ctime: 3,
            mtime: 4,
            version: 5,
            cversion: 6,
            aversion: 7,
            ephemeral_owner: 8,
            pzxid: 9,
        }
    }

    #[test]
    fn crc_of_path_data_and_packed_stat() {
        let s = stat();
        let mut bytes = b"/a".to_vec();
        bytes.extend_from_slice(b"xyz");
        for v in [1i64, 2, 9, 3, 4] {
            bytes.extend_from_slice(&v.to_be_bytes());
        }
        for v in [5i32, 6, 7] {
            bytes.extend_from_slice(&v.to_be_bytes());
        }
        bytes.extend_from_slice(&8i64.to_be_bytes());
        assert_eq!(bytes.len(), 2 + 3 + 60);
        let expected = i64::from(crc32fast::hash(&bytes));
        assert_eq!(calculate_digest(true, "/a", Some(b"xyz"), &s), expected);
        assert!(expected > 0, "an unsigned 32-bit value, as Java's CRC32.getValue");
    }

    #[test]
    fn root_is_hashed_as_empty_path_and_null_data_as_empty() {
        let s = stat();
        assert_eq!(calculate_digest(true, "/", None, &s), calculate_digest(true, "", Some(b""), &s));
    }

    #[test]
    fn zookeeper_subtree_and_disabled_count_zero() {
        let s = stat();
        assert_eq!(calculate_digest(true, "/zookeeper/quota", None, &s), 0);
        assert_eq!(calculate_digest(false, "/a", None, &s), 0);
        // /zookeeper itself counts.
        assert_ne!(calculate_digest(true, "/zookeeper", None, &s), 0);
    }

    #[test]
    fn digester_reuses_the_hashed_prefix() {
        let d = NodeDigester::new(true, "/p", Some(b"data"));
        let mut s = stat();
        assert_eq!(d.digest(&s), calculate_digest(true, "/p", Some(b"data"), &s));
        s.cversion += 1;
        assert_eq!(d.digest(&s), calculate_digest(true, "/p", Some(b"data"), &s));
    }
}
