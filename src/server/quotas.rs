//! Quotas and StatsTrack: where quota nodes live under /zookeeper/quota and
//! the `key=value` text they hold. The data tree keeps the
//! `zookeeper_stats` nodes up to date; PrepRequestProcessor reads the
//! `zookeeper_limits` nodes to enforce hard limits. Plain values and
//! functions, used by whichever thread holds the tree.

use std::collections::BTreeMap;
use std::fmt;

/// The node under which ZooKeeper keeps its own state.
pub const PROC_ZOOKEEPER: &str = "/zookeeper";
/// The root of the quota subtree.
pub const QUOTA_ZOOKEEPER: &str = "/zookeeper/quota";
/// The node that holds a quota's limits.
pub const LIMIT_NODE: &str = "zookeeper_limits";
/// The node that holds a quota's current usage.
pub const STAT_NODE: &str = "zookeeper_stats";

/// `/zookeeper/quota<path>`.
pub fn quota_path(path: &str) -> String {
    format!("{QUOTA_ZOOKEEPER}{path}")
}

/// `/zookeeper/quota<path>/zookeeper_limits`.
pub fn limit_path(path: &str) -> String {
    format!("{QUOTA_ZOOKEEPER}{path}/{LIMIT_NODE}")
}

/// `/zookeeper/quota<path>/zookeeper_stats`.
pub fn stat_path(path: &str) -> String {
    format!("{QUOTA_ZOOKEEPER}{path}/{STAT_NODE}")
}

/// The quota'd path a node under /zookeeper/quota stands for; `None` when
/// `quota_path` does not start with /zookeeper/quota.
pub fn trim_quota_path(quota_path: &str) -> Option<&str> {
    quota_path.strip_prefix(QUOTA_ZOOKEEPER)
}

/// The content of a limits or stats node: `count=<n>,bytes=<n>` optionally
/// followed by `=;key=value;...` for the other keys (the extra `=` keeps
/// pre-3.7 parsers reading only count and bytes). A missing key reads -1.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsTrack {
    stats: BTreeMap<String, i64>,
}

const COUNT: &str = "count";
const BYTES: &str = "bytes";
const COUNT_HARD_LIMIT: &str = "countHardLimit";
const BYTE_HARD_LIMIT: &str = "byteHardLimit";

impl StatsTrack {
    pub fn new() -> StatsTrack {
        StatsTrack::default()
    }

    /// Parses node data. Pairs are separated by runs of `,` or `;`; an empty
    /// value reads -1. Pairs that do not parse are skipped (Java throws).
    pub fn parse(data: &[u8]) -> StatsTrack {
        let text = String::from_utf8_lossy(data);
        let mut stats = BTreeMap::new();
        for pair in text.split([',', ';']).filter(|p| !p.is_empty()) {
            let mut kv = pair.split('=');
            let (Some(key), Some(value)) = (kv.next(), kv.next()) else {
                continue;
            };
            let value = if value.is_empty() { Ok(-1) } else { value.parse::<i64>() };
            if let Ok(v) = value {
                stats.insert(key.to_string(), v);
            }
        }
        StatsTrack { stats }
    }

    fn get(&self, key: &str) -> i64 {
        self.stats.get(key).copied().unwrap_or(-1)
    }

    fn set(&mut self, key: &str, value: i64) {
        self.stats.insert(key.to_string(), value);
    }

    pub fn count(&self) -> i64 {
        self.get(COUNT)
    }

    pub fn set_count(&mut self, v: i64) {
        self.set(COUNT, v)
    }

    pub fn bytes(&self) -> i64 {
        self.get(BYTES)
    }

    pub fn set_bytes(&mut self, v: i64) {
        self.set(BYTES, v)
    }

    pub fn count_hard_limit(&self) -> i64 {
        self.get(COUNT_HARD_LIMIT)
    }

    pub fn set_count_hard_limit(&mut self, v: i64) {
        self.set(COUNT_HARD_LIMIT, v)
    }

    pub fn byte_hard_limit(&self) -> i64 {
        self.get(BYTE_HARD_LIMIT)
    }

    pub fn set_byte_hard_limit(&mut self, v: i64) {
        self.set(BYTE_HARD_LIMIT, v)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
}

impl fmt::Display for StatsTrack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{COUNT}={},{BYTES}={}", self.count(), self.bytes())?;
        let mut others = self.stats.iter().filter(|(k, _)| *k != COUNT && *k != BYTES).peekable();
        if others.peek().is_some() {
            f.write_str("=")?;
        }
        for (k, v) in others {
            write!(f, ";{k}={v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(quota_path("/a"), "/zookeeper/quota/a");
        assert_eq!(limit_path("/a"), "/zookeeper/quota/a/zookeeper_limits");
        assert_eq!(stat_path("/a/b"), "/zookeeper/quota/a/b/zookeeper_stats");
        assert_eq!(trim_quota_path("/zookeeper/quota/a/b"), Some("/a/b"));
        assert_eq!(trim_quota_path("/zookeeper"), None);
    }

    #[test]
    fn text_round_trip() {
        let mut s = StatsTrack::new();
        assert_eq!(s.to_string(), "count=-1,bytes=-1");
        s.set_count(3);
        s.set_bytes(10);
        assert_eq!(s.to_string(), "count=3,bytes=10");
        s.set_byte_hard_limit(100);
        s.set_count_hard_limit(5);
        let text = "count=3,bytes=10=;byteHardLimit=100;countHardLimit=5";
        assert_eq!(s.to_string(), text);
        assert_eq!(StatsTrack::parse(text.as_bytes()), s);

        let old = StatsTrack::parse(b"count=-1,bytes=-1");
        assert_eq!((old.count(), old.bytes(), old.count_hard_limit()), (-1, -1, -1));
        let odd = StatsTrack::parse(b"count=,,bytes=x;junk;=4");
        assert_eq!((odd.count(), odd.bytes()), (-1, -1));
        assert_eq!(StatsTrack::parse(b""), StatsTrack::new());
    }
}
