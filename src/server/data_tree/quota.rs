//! The tree's quota usage (Java's DataTree updateQuotaStat,
//! updateQuotaForPath, setupQuota, getMaxPrefixWithQuota): which paths
//! carry a quota (the trie of `zookeeper_limits` nodes) and the usage
//! written into each one's `zookeeper_stats` node as nodes and data come
//! and go. The limits and the stats text are `server::quotas`.
//!
//! Updated under the tree's write lock by the thread applying txns (or
//! loading a snapshot); read by Prep's quota check.

use super::digest::node_digest;
use super::{resolve, resolve_mut, subtree_counts, DataTree, TreeInner};
use crate::server::quotas::{self, StatsTrack};
use tracing::{error, warn};

impl TreeInner {
    /// The deepest path with a quota above or at `path`, if any.
    pub(super) fn max_prefix_with_quota(&self, path: &str) -> Option<String> {
        if self.quota_trie.is_empty() {
            return None;
        }
        let prefix = self.quota_trie.find_max_prefix(path);
        if prefix == "/" || prefix.is_empty() {
            None
        } else {
            Some(prefix)
        }
    }

    /// Replaces a node's data in place (quota stats), keeping data_size exact.
    fn rewrite_data(&mut self, path: &str, data: Vec<u8>) -> bool {
        let Some(node) = resolve_mut(&mut self.root, path) else {
            return false;
        };
        let old = node.data_len() as i64;
        let new = data.len() as i64;
        let before = node_digest(self.digest_enabled, path, node);
        let stat = node.stat();
        node.set_data(Some(&data), &stat);
        let after = node_digest(self.digest_enabled, path, node);
        self.swap_digest(before, after);
        self.data_size += new - old;
        true
    }

    /// Adds to the usage recorded in the stats node of quota root `prefix`.
    pub(super) fn update_quota_stat(&mut self, prefix: &str, bytes_diff: i64, count_diff: i64) {
        let stat_path = quotas::stat_path(prefix);
        let Some(node) = resolve(&self.root, &stat_path) else {
            error!("Missing node for stat {stat_path}");
            return;
        };
        let mut track = StatsTrack::parse(node.data().unwrap_or_default());
        // The stats text is client-writable: wrap like Java's longs rather
        // than overflow.
        track.set_count(track.count().wrapping_add(count_diff));
        track.set_bytes(track.bytes().wrapping_add(bytes_diff));
        self.rewrite_data(&stat_path, track.to_bytes());
    }

    /// Recounts the subtree at `path` into its quota stats node.
    pub(super) fn update_quota_for_path(&mut self, path: &str) {
        let (count, bytes) = resolve(&self.root, path).map_or((0, 0), subtree_counts);
        let mut track = StatsTrack::new();
        track.set_bytes(bytes);
        track.set_count(count);
        let stat_path = quotas::stat_path(path);
        if !self.rewrite_data(&stat_path, track.to_bytes()) {
            warn!("Missing quota stat node {stat_path}");
        }
    }

    /// After a load: every leaf `.../zookeeper_limits` under the quota root
    /// marks its path in the trie and gets its usage recounted.
    pub(super) fn setup_quota(&mut self) {
        let Some(quota_root) = resolve(&self.root, quotas::QUOTA_ZOOKEEPER) else {
            return;
        };
        let suffix = format!("/{}", quotas::LIMIT_NODE);
        let mut quota_roots = Vec::new();
        let mut stack = vec![(quotas::QUOTA_ZOOKEEPER.to_string(), quota_root)];
        while let Some((path, node)) = stack.pop() {
            if node.num_children() == 0 {
                if path.ends_with(&suffix) {
                    // Java cuts at the first "/zookeeper_limits".
                    let real = path.find(&suffix).and_then(|i| path.get(quotas::QUOTA_ZOOKEEPER.len()..i));
                    quota_roots.extend(real.map(str::to_string));
                }
                continue;
            }
            for child in node.children() {
                stack.push((format!("{path}/{}", child.name()), child));
            }
        }
        for real in quota_roots {
            self.update_quota_for_path(&real);
            self.quota_trie.add_path(&real);
        }
    }
}

impl DataTree {
    /// The deepest path at or above `path` that has a quota, if any
    /// (Prep's quota check reads its limits and stats nodes).
    pub fn max_prefix_with_quota(&self, path: &str) -> Option<String> {
        self.inner.read().max_prefix_with_quota(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::data_tree::tests::*;
    use crate::jute::txn::TxnBody;
    use crate::server::data_tree::CONFIG_NODE;
    use crate::zoo_defs::op_code;

    #[test]
    fn quotas_follow_creates_deletes_and_set_data() {
        let t = DataTree::new();
        create(&t, "/q", 1);
        set_data(&t, "/q", b"12345", 1, 2);
        create(&t, "/q/a", 3);
        // What setquota creates.
        create(&t, "/zookeeper/quota/q", 4);
        let limits = create_txn("/zookeeper/quota/q/zookeeper_limits", b"count=10,bytes=-1", false, -1);
        t.process_txn(&hdr(op_code::CREATE, 5), Some(&TxnBody::Create(limits)));
        let stats = create_txn("/zookeeper/quota/q/zookeeper_stats", b"count=0,bytes=0", false, -1);
        t.process_txn(&hdr(op_code::CREATE, 6), Some(&TxnBody::Create(stats)));
        assert_eq!(t.max_prefix_with_quota("/q/a/b").as_deref(), Some("/q"));
        assert_eq!(t.max_prefix_with_quota("/other"), None);
        let read = |t: &DataTree| {
            let data = t.get_data("/zookeeper/quota/q/zookeeper_stats", None).unwrap().0.unwrap();
            String::from_utf8(data).unwrap()
        };
        assert_eq!(read(&t), "count=2,bytes=5");

        let c = create_txn("/q/a/b", b"abc", false, -1);
        t.process_txn(&hdr(op_code::CREATE, 7), Some(&TxnBody::Create(c)));
        assert_eq!(read(&t), "count=3,bytes=8");
        set_data(&t, "/q/a", b"zz", 1, 8);
        assert_eq!(read(&t), "count=3,bytes=10");
        delete(&t, "/q/a/b", 9);
        assert_eq!(read(&t), "count=2,bytes=7");
        // The stats rewrite is counted in the data size.
        let size_now = t.approximate_data_size();
        let sum: i64 = ["/", "/zookeeper", "/zookeeper/quota", CONFIG_NODE].iter().map(|p| p.len() as i64).sum::<i64>()
            + "/q".len() as i64
            + 5
            + "/q/a".len() as i64
            + 2
            + "/zookeeper/quota/q".len() as i64
            + "/zookeeper/quota/q/zookeeper_limits".len() as i64
            + "count=10,bytes=-1".len() as i64
            + "/zookeeper/quota/q/zookeeper_stats".len() as i64
            + "count=2,bytes=7".len() as i64;
        assert_eq!(size_now, sum);

        // Removing the limits node ends the quota.
        delete(&t, "/zookeeper/quota/q/zookeeper_limits", 10);
        assert_eq!(t.max_prefix_with_quota("/q/a"), None);
        create(&t, "/q/x", 11);
        assert_eq!(read(&t), "count=2,bytes=7");

        // Stats text at the edge of i64 wraps instead of overflowing.
        create(&t, "/zookeeper/quota/q/zookeeper_limits", 12);
        let max = format!("count={},bytes=0", i64::MAX);
        set_data(&t, "/zookeeper/quota/q/zookeeper_stats", max.as_bytes(), 1, 13);
        create(&t, "/q/y", 14);
        assert_eq!(read(&t), format!("count={},bytes=0", i64::MIN));
    }
}

/// The per-namespace quota figures mntr and Prometheus export
/// (QuotaMetricsUtils): for each top-level namespace with a quota
/// somewhere below it, the summed limits (the hard limit if set, else the
/// soft one) and the summed usage.
#[derive(Debug, Default)]
pub struct QuotaMetrics {
    pub count_limit: Vec<(String, i64)>,
    pub bytes_limit: Vec<(String, i64)>,
    pub count_usage: Vec<(String, i64)>,
    pub bytes_usage: Vec<(String, i64)>,
}

impl DataTree {
    /// Walks /zookeeper/quota (read side only) for `QuotaMetrics`.
    pub fn quota_metrics(&self) -> QuotaMetrics {
        use std::collections::BTreeMap;
        let mut sums: [BTreeMap<String, i64>; 4] = Default::default();
        let mut stack = vec![quotas::QUOTA_ZOOKEEPER.to_string()];
        while let Some(dir) = stack.pop() {
            let Some(children) = self.peek_children(&dir) else { continue };
            for child in children {
                let path = format!("{dir}/{child}");
                let is_limit = child == quotas::LIMIT_NODE;
                let is_stat = child == quotas::STAT_NODE;
                if !is_limit && !is_stat {
                    stack.push(path);
                    continue;
                }
                let Some(real) = quotas::trim_quota_path(&dir) else { continue };
                let namespace = real.trim_start_matches('/').split('/').next().unwrap_or("").to_string();
                let Some(data) = self.peek_data(&path) else { continue };
                let st = StatsTrack::parse(&data);
                if is_limit {
                    let count = if st.count_hard_limit() > -1 { st.count_hard_limit() } else { st.count() };
                    let bytes = if st.byte_hard_limit() > -1 { st.byte_hard_limit() } else { st.bytes() };
                    *sums[0].entry(namespace.clone()).or_default() += count;
                    *sums[1].entry(namespace).or_default() += bytes;
                } else {
                    *sums[2].entry(namespace.clone()).or_default() += st.count();
                    *sums[3].entry(namespace).or_default() += st.bytes();
                }
            }
        }
        let [a, b, c, d] = sums;
        QuotaMetrics {
            count_limit: a.into_iter().collect(),
            bytes_limit: b.into_iter().collect(),
            count_usage: c.into_iter().collect(),
            bytes_usage: d.into_iter().collect(),
        }
    }
}
