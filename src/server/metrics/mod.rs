//! The metrics library (Java's org.apache.zookeeper.metrics and
//! server.metric): counters, summaries and their keyed sets, kept in
//! process-wide statics (`server::server_metrics::ServerMetrics`) and read
//! by `mntr` (in DefaultMetricsProvider's layout) and by the Prometheus
//! provider (`prometheus`).
//!
//! Recording never locks and never allocates once a set has seen its key:
//! a counter is one relaxed atomic add; a summary is a count, a sum, a
//! min, a max and one histogram bucket, each a relaxed atomic (min and max
//! only write when they change). Keyed sets find their member through a
//! per-thread cache and take the set's lock only the first time a thread
//! meets a key. Java's DefaultMetricsProvider works the same way but keeps
//! a reservoir of samples for its percentiles; its Prometheus provider
//! hands each observation to a worker thread. Here quantiles come from the
//! histogram: log-linear buckets (8 per power of two), so a quantile is
//! exact below 16 and within 1/16 of the true value above, over everything
//! recorded since start-up or the last reset (Java's Prometheus summaries
//! look at a sliding 10 minute window).

pub mod monitor;
pub mod prometheus;

use parking_lot::RwLock;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// MetricsContext.DetailLevel: an ADVANCED summary reports more quantiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetailLevel {
    Basic,
    Advanced,
}

/// Counter (SimpleCounter): a value that only grows, until a reset.
pub struct Counter {
    name: &'static str,
    value: AtomicU64,
}

impl Counter {
    pub fn new(name: &'static str) -> Counter {
        Counter { name, value: AtomicU64::new(0) }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    #[inline]
    pub fn add(&self, delta: u64) {
        self.value.fetch_add(delta, Ordering::Relaxed);
    }

    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    pub fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }

    pub fn reset(&self) {
        self.value.store(0, Ordering::Relaxed);
    }
}

/// Buckets: values 0..16 exactly, then 8 buckets per power of two up to
/// 2^63; negative values count in bucket 0.
const SUB_BUCKETS: usize = 8;
const LINEAR: usize = 16;
const BUCKETS: usize = LINEAR + (63 - 4 + 1) * SUB_BUCKETS;

#[inline]
fn bucket_of(v: i64) -> usize {
    if v < LINEAR as i64 {
        return v.max(0) as usize;
    }
    let v = v as u64;
    let exp = 63 - v.leading_zeros() as usize; // >= 4
    let sub = ((v >> (exp - 3)) & (SUB_BUCKETS as u64 - 1)) as usize;
    LINEAR + (exp - 4) * SUB_BUCKETS + sub
}

/// The middle of a bucket (what a quantile falling in it reports).
fn bucket_value(b: usize) -> f64 {
    if b < LINEAR {
        return b as f64;
    }
    let exp = (b - LINEAR) / SUB_BUCKETS + 4;
    let sub = (b - LINEAR) % SUB_BUCKETS;
    let width = 1u64 << (exp - 3);
    let low = (1u64 << exp) + sub as u64 * width;
    low as f64 + (width as f64 - 1.0) / 2.0
}

/// Summary (AvgMinMaxCounter, plus AvgMinMaxPercentileCounter's
/// percentiles when ADVANCED).
pub struct Summary {
    name: String,
    level: DetailLevel,
    sum: AtomicI64,
    min: AtomicI64,
    max: AtomicI64,
    buckets: Box<[AtomicU64]>,
}

/// What a summary holds at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct SummarySnapshot {
    pub count: u64,
    pub sum: i64,
    pub min: i64,
    pub max: i64,
}

impl SummarySnapshot {
    /// getAvg: the mean, 0 with no samples.
    pub fn avg(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }
}

impl Summary {
    pub fn new(name: impl Into<String>, level: DetailLevel) -> Summary {
        Summary {
            name: name.into(),
            level,
            sum: AtomicI64::new(0),
            min: AtomicI64::new(i64::MAX),
            max: AtomicI64::new(i64::MIN),
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    pub fn basic(name: &'static str) -> Summary {
        Summary::new(name, DetailLevel::Basic)
    }

    pub fn advanced(name: &'static str) -> Summary {
        Summary::new(name, DetailLevel::Advanced)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn level(&self) -> DetailLevel {
        self.level
    }

    /// Summary.add: one observation.
    #[inline]
    pub fn add(&self, value: i64) {
        // The count is the buckets' total (read side), one atomic less here.
        self.sum.fetch_add(value, Ordering::Relaxed);
        if value < self.min.load(Ordering::Relaxed) {
            self.min.fetch_min(value, Ordering::Relaxed);
        }
        if value > self.max.load(Ordering::Relaxed) {
            self.max.fetch_max(value, Ordering::Relaxed);
        }
        self.buckets[bucket_of(value)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> SummarySnapshot {
        let count: u64 = self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum();
        if count == 0 {
            return SummarySnapshot::default();
        }
        SummarySnapshot {
            count,
            sum: self.sum.load(Ordering::Relaxed),
            min: self.min.load(Ordering::Relaxed),
            max: self.max.load(Ordering::Relaxed),
        }
    }

    /// The values at these quantiles (each in 0..=1), NaN for an empty
    /// summary, each clamped to the observed min and max.
    pub fn quantiles(&self, qs: &[f64]) -> Vec<f64> {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return vec![f64::NAN; qs.len()];
        }
        let snap = self.snapshot();
        qs.iter()
            .map(|&q| {
                let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
                let mut seen = 0;
                for (b, &c) in counts.iter().enumerate() {
                    seen += c;
                    if seen >= rank {
                        let v = bucket_value(b);
                        return v.clamp(snap.min.min(snap.max) as f64, snap.max as f64);
                    }
                }
                snap.max as f64
            })
            .collect()
    }

    pub fn reset(&self) {
        self.sum.store(0, Ordering::Relaxed);
        self.min.store(i64::MAX, Ordering::Relaxed);
        self.max.store(i64::MIN, Ordering::Relaxed);
        for b in self.buckets.iter() {
            b.store(0, Ordering::Relaxed);
        }
    }
}

/// Gives each keyed set a slot in the per-thread caches.
static NEXT_SET_SLOT: AtomicUsize = AtomicUsize::new(0);

/// A thread's view of one keyed set: the member it used last (most
/// updates repeat the key, and a string compare beats hashing it) and every
/// member it has used.
struct ThreadSetCache<T> {
    last: Option<(Box<str>, Arc<T>)>,
    all: HashMap<Box<str>, Arc<T>>,
}

impl<T> Default for ThreadSetCache<T> {
    fn default() -> Self {
        ThreadSetCache { last: None, all: HashMap::new() }
    }
}

impl<T> ThreadSetCache<T> {
    /// The member for `key`, from this cache or else `fetch` (then kept).
    #[inline]
    fn get(&mut self, key: &str, fetch: impl FnOnce() -> Arc<T>) -> &T {
        let hit = matches!(&self.last, Some((k, _)) if &**k == key);
        if !hit {
            let member = match self.all.get(key) {
                Some(m) => Arc::clone(m),
                None => {
                    let m = fetch();
                    self.all.insert(key.into(), Arc::clone(&m));
                    m
                }
            };
            self.last = Some((key.into(), member));
        }
        &self.last.as_ref().expect("just set").1
    }
}

thread_local! {
    static SET_CACHE: RefCell<Vec<ThreadSetCache<Summary>>> = const { RefCell::new(Vec::new()) };
    static COUNTER_SET_CACHE: RefCell<Vec<ThreadSetCache<Counter>>> = const { RefCell::new(Vec::new()) };
}

/// SummarySet (AvgMinMaxCounterSet / AvgMinMaxPercentileCounterSet): one
/// summary per key, named `<key>_<name>` in mntr and labelled
/// `key="<key>"` in Prometheus.
pub struct SummarySet {
    name: &'static str,
    level: DetailLevel,
    slot: usize,
    members: RwLock<HashMap<Box<str>, Arc<Summary>>>,
}

impl SummarySet {
    pub fn new(name: &'static str, level: DetailLevel) -> SummarySet {
        SummarySet { name, level, slot: NEXT_SET_SLOT.fetch_add(1, Ordering::Relaxed), members: RwLock::new(HashMap::new()) }
    }

    pub fn basic(name: &'static str) -> SummarySet {
        SummarySet::new(name, DetailLevel::Basic)
    }

    pub fn advanced(name: &'static str) -> SummarySet {
        SummarySet::new(name, DetailLevel::Advanced)
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn level(&self) -> DetailLevel {
        self.level
    }

    fn member(&self, key: &str) -> Arc<Summary> {
        if let Some(s) = self.members.read().get(key) {
            return Arc::clone(s);
        }
        let mut w = self.members.write();
        Arc::clone(
            w.entry(key.into()).or_insert_with(|| Arc::new(Summary::new(format!("{key}_{}", self.name), self.level))),
        )
    }

    /// SummarySet.add.
    #[inline]
    pub fn add(&self, key: &str, value: i64) {
        SET_CACHE.with(|c| {
            let mut c = c.borrow_mut();
            if c.len() <= self.slot {
                c.resize_with(self.slot + 1, ThreadSetCache::default);
            }
            c[self.slot].get(key, || self.member(key)).add(value);
        })
    }

    /// (key, summary), sorted by key.
    pub fn members(&self) -> Vec<(String, Arc<Summary>)> {
        let mut v: Vec<_> = self.members.read().iter().map(|(k, s)| (k.to_string(), Arc::clone(s))).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    pub fn reset(&self) {
        for s in self.members.read().values() {
            s.reset();
        }
    }
}

/// CounterSet (SimpleCounterSet): one counter per key.
pub struct CounterSet {
    name: &'static str,
    slot: usize,
    members: RwLock<HashMap<Box<str>, Arc<Counter>>>,
}

impl CounterSet {
    pub fn new(name: &'static str) -> CounterSet {
        CounterSet { name, slot: NEXT_SET_SLOT.fetch_add(1, Ordering::Relaxed), members: RwLock::new(HashMap::new()) }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn add(&self, key: &str, delta: u64) {
        COUNTER_SET_CACHE.with(|c| {
            let mut c = c.borrow_mut();
            if c.len() <= self.slot {
                c.resize_with(self.slot + 1, ThreadSetCache::default);
            }
            let fetch = || {
                let mut w = self.members.write();
                Arc::clone(w.entry(key.into()).or_insert_with(|| Arc::new(Counter::new(self.name))))
            };
            c[self.slot].get(key, fetch).add(delta);
        })
    }

    pub fn members(&self) -> Vec<(String, u64)> {
        let mut v: Vec<_> = self.members.read().iter().map(|(k, c)| (k.to_string(), c.get())).collect();
        v.sort();
        v
    }

    pub fn reset(&self) {
        for c in self.members.read().values() {
            c.reset();
        }
    }
}

/// Java's String.hashCode of an ASCII (or any BMP) name.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
}

/// The order a java.util.concurrent.ConcurrentHashMap iterates these keys
/// after they were put in this order (none removed): the map is replayed,
/// bins, resizes and all (a resize splits each bin in two and reverses the
/// nodes ahead of the bin's last run, as ConcurrentHashMap.transfer does).
/// That is the order DefaultMetricsProvider's dump, and so mntr, prints
/// each kind of metric in.
pub fn java_hash_order<T>(items: Vec<(String, T)>) -> Vec<(String, T)> {
    let spread = |k: &str| {
        let h = java_string_hash(k);
        (h ^ ((h as u32) >> 16) as i32) & 0x7fff_ffff
    };
    let hashes: Vec<i32> = items.iter().map(|(k, _)| spread(k)).collect();
    let mut table: Vec<Vec<usize>> = vec![Vec::new(); 16];
    let mut size_ctl = 12usize;
    for (i, h) in hashes.iter().enumerate() {
        let n = table.len();
        table[*h as usize & (n - 1)].push(i);
        if i + 1 >= size_ctl {
            let mut next: Vec<Vec<usize>> = vec![Vec::new(); n * 2];
            for (b, bin) in table.iter().enumerate() {
                let Some(&first) = bin.first() else { continue };
                let bit = |k: usize| hashes[k] as usize & n;
                // The last run: the longest tail of nodes bound for one half.
                let mut run_bit = bit(first);
                let mut last_run = 0;
                for (pos, &k) in bin.iter().enumerate().skip(1) {
                    if bit(k) != run_bit {
                        run_bit = bit(k);
                        last_run = pos;
                    }
                }
                let (mut low, mut high): (Vec<usize>, Vec<usize>) = (Vec::new(), Vec::new());
                if run_bit == 0 {
                    low.extend(&bin[last_run..]);
                } else {
                    high.extend(&bin[last_run..]);
                }
                for &k in &bin[..last_run] {
                    if bit(k) == 0 {
                        low.insert(0, k);
                    } else {
                        high.insert(0, k);
                    }
                }
                next[b] = low;
                next[b + n] = high;
            }
            table = next;
            size_ctl = table.len() - (table.len() >> 2);
        }
    }
    let mut slots: Vec<Option<(String, T)>> = items.into_iter().map(Some).collect();
    table.into_iter().flatten().filter_map(|i| slots[i].take()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_in_order() {
        let mut last = 0;
        for v in (0..5000i64).chain([1 << 40, i64::MAX]) {
            let b = bucket_of(v);
            assert!(b >= last && b < BUCKETS, "{v}");
            last = b;
            let mid = bucket_value(b);
            assert!((mid - v as f64).abs() <= (v as f64 / 16.0).max(0.0) + 0.5, "{v} -> {mid}");
        }
    }

    #[test]
    fn summary_figures_and_quantiles() {
        let s = Summary::advanced("t");
        assert!(s.quantiles(&[0.5])[0].is_nan());
        for v in 1..=100 {
            s.add(v);
        }
        let snap = s.snapshot();
        assert_eq!((snap.count, snap.sum, snap.min, snap.max), (100, 5050, 1, 100));
        let q = s.quantiles(&[0.5, 0.9, 0.99]);
        assert!((q[0] - 50.0).abs() <= 4.0 && (q[1] - 90.0).abs() <= 6.0 && (q[2] - 99.0).abs() <= 7.0, "{q:?}");
        s.reset();
        assert_eq!(s.snapshot().count, 0);
    }

    #[test]
    fn sets_keep_one_member_per_key() {
        let set = SummarySet::new("read_per_namespace", DetailLevel::Basic);
        set.add("a", 3);
        set.add("a", 5);
        set.add("b", 1);
        let m = set.members();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].1.name(), "a_read_per_namespace");
        assert_eq!(m[0].1.snapshot().sum, 8);
    }

    #[test]
    fn java_hash_matches_string_hash_code() {
        assert_eq!(java_string_hash("fsynctime"), "fsynctime".encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32)));
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("ab"), 97 * 31 + 98);
    }
}
