//! Quotas and StatsTrack: where quota nodes live under /zookeeper/quota and
//! the `key=value` text they hold. The data tree keeps the
//! `zookeeper_stats` nodes up to date; PrepRequestProcessor (with
//! zookeeper.enforceQuota) asks `breaches` whether a write would go past
//! the limits in `zookeeper_limits`. Plain values and functions, used by
//! whichever thread holds the tree.

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

/// Which of a quota's limits a write has to be checked against: (count,
/// bytes). A limit is set when its soft or its hard value is > -1, and only
/// a write that changes that measure is checked.
pub fn limits_to_check(limits: &StatsTrack, bytes_diff: i64, count_diff: i64) -> (bool, bool) {
    let count = count_diff != 0 && (limits.count() > -1 || limits.count_hard_limit() > -1);
    let bytes = bytes_diff != 0 && (limits.bytes() > -1 || limits.byte_hard_limit() > -1);
    (count, bytes)
}

/// One limit a write would go past.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaBreach {
    /// The warning the server logs.
    pub message: String,
    /// A hard limit: the write fails with QUOTAEXCEEDED. A soft one is only
    /// logged.
    pub hard: bool,
}

/// The limits of quota root `prefix` that a write adding `bytes_diff` bytes
/// and `count_diff` nodes to the usage in `current` would exceed, count
/// first, ending at the first hard one. For each measure the hard limit,
/// when set, replaces the soft one; usage equal to the limit is within it.
pub fn breaches(
    prefix: &str,
    limits: &StatsTrack,
    current: &StatsTrack,
    bytes_diff: i64,
    count_diff: i64,
) -> Vec<QuotaBreach> {
    let (check_count, check_bytes) = limits_to_check(limits, bytes_diff, count_diff);
    let mut out = Vec::new();
    if check_count {
        let new_count = current.count().saturating_add(count_diff);
        out.extend(breach(prefix, "count", "Count", new_count, limits.count(), limits.count_hard_limit()));
    }
    if check_bytes && !out.last().is_some_and(|b| b.hard) {
        let new_bytes = current.bytes().saturating_add(bytes_diff);
        out.extend(breach(prefix, "bytes", "Byte", new_bytes, limits.bytes(), limits.byte_hard_limit()));
    }
    out
}

/// Whether usage `new_value` of one measure passes its limit: the hard
/// one when set (> -1), else the soft one.
fn breach(prefix: &str, what: &str, limit_name: &str, new_value: i64, soft: i64, hard: i64) -> Option<QuotaBreach> {
    let is_hard = hard > -1;
    let limit = if is_hard { hard } else { soft };
    if new_value <= limit {
        return None;
    }
    let kind = if is_hard { "hard" } else { "soft" };
    Some(QuotaBreach {
        message: format!("Quota exceeded: {prefix} [current {what}={new_value}, {kind}{limit_name}Limit={limit}]"),
        hard: is_hard,
    })
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

    #[test]
    fn which_limits_apply() {
        let none = StatsTrack::parse(b"count=-1,bytes=-1");
        assert_eq!(limits_to_check(&none, 5, 1), (false, false));
        let soft_count = StatsTrack::parse(b"count=3,bytes=-1");
        assert_eq!(limits_to_check(&soft_count, 5, 1), (true, false));
        assert_eq!(limits_to_check(&soft_count, 5, 0), (false, false));
        let hard_bytes = StatsTrack::parse(b"count=-1,bytes=-1=;byteHardLimit=10");
        assert_eq!(limits_to_check(&hard_bytes, 5, 1), (false, true));
        assert_eq!(limits_to_check(&hard_bytes, 0, 1), (false, false));
        // A shrinking write is still checked (and passes unless already over).
        assert_eq!(limits_to_check(&hard_bytes, -5, 0), (false, true));
    }

    #[test]
    fn breaches_follow_soft_and_hard_limits() {
        let usage = StatsTrack::parse(b"count=2,bytes=10");
        // Soft count limit: reaching it is fine, passing it is only logged.
        let soft = StatsTrack::parse(b"count=3,bytes=-1");
        assert!(breaches("/q", &soft, &usage, 0, 1).is_empty());
        let over = StatsTrack::parse(b"count=2,bytes=-1");
        assert_eq!(
            breaches("/q", &over, &usage, 0, 1),
            [QuotaBreach { message: "Quota exceeded: /q [current count=3, softCountLimit=2]".into(), hard: false }]
        );
        // A hard limit replaces the soft one of the same measure.
        let hard = StatsTrack::parse(b"count=1,bytes=-1=;countHardLimit=3");
        assert!(breaches("/q", &hard, &usage, 0, 1).is_empty());
        let hard = StatsTrack::parse(b"count=10,bytes=-1=;countHardLimit=2");
        assert_eq!(
            breaches("/q", &hard, &usage, 4, 1),
            [QuotaBreach { message: "Quota exceeded: /q [current count=3, hardCountLimit=2]".into(), hard: true }]
        );
        // Soft count breach logged, then the hard byte limit refuses.
        let both = StatsTrack::parse(b"count=2,bytes=-1=;byteHardLimit=12");
        let b = breaches("/q", &both, &usage, 3, 1);
        assert_eq!(b.len(), 2);
        assert!(!b[0].hard);
        assert_eq!(
            b[1],
            QuotaBreach { message: "Quota exceeded: /q [current bytes=13, hardByteLimit=12]".into(), hard: true }
        );
        // A hard count breach stops before the bytes are looked at.
        let stop = StatsTrack::parse(b"count=-1,bytes=1=;countHardLimit=2");
        assert_eq!(breaches("/q", &stop, &usage, 3, 1).len(), 1);
        // setData that shrinks the data never breaches a byte limit it is under.
        let bytes = StatsTrack::parse(b"count=-1,bytes=-1=;byteHardLimit=10");
        assert!(breaches("/q", &bytes, &usage, -4, 0).is_empty());
    }
}
