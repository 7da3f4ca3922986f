//! The order in which Java's hash tables hand out their members, for the
//! places where that order reaches clients or disk: a session's ephemeral
//! paths (a `HashSet<String>` in Java's DataTree: getEphemerals replies,
//! closeSession txns, the order a closed session's ephemerals are deleted
//! and their watches fire) and a connection's auth ids (a
//! `ConcurrentHashMap` key set: whoAmI replies, "auth" ACL expansion).
//!
//! Also the order of a node's children (a `HashSet<String>` in Java's
//! DataNode: getChildren replies), which DataNode computes with `bucket`,
//! `string_hash` and `grown_capacity`.
//!
//! A Java hash table walks its buckets in index order, and each bucket in
//! the order its members arrived. The bucket of a key is
//! `(h ^ (h >>> 16)) & (capacity - 1)` with `h` the key's `hashCode`. So the
//! order follows from the hashes, the table's capacity (which only grows),
//! and the insertion order. Not modelled: a bucket that grows past eight
//! members (Java then resizes or turns it into a tree), and the reordering
//! ConcurrentHashMap does when it grows past 12 members; neither happens at
//! the sizes these sets have in practice.
//!
//! Pure data structures: used by whichever thread owns the set.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// Java's `String.hashCode`: over UTF-16 code units, wrapping.
pub fn string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, u| h.wrapping_mul(31).wrapping_add(i32::from(u)))
}

/// The jute-generated `Id.hashCode` of (scheme, id).
pub fn id_hash(scheme: &str, id: &str) -> i32 {
    let h = 37i32.wrapping_mul(17).wrapping_add(string_hash(scheme));
    h.wrapping_mul(37).wrapping_add(string_hash(id))
}

/// The bucket of a key with hash `h` in a table of `capacity` (a power of
/// two) buckets.
pub fn bucket(h: i32, capacity: usize) -> usize {
    let spread = (h as u32) ^ ((h as u32) >> 16);
    spread as usize & (capacity - 1)
}

/// The default capacity of a Java hash table (allocated on first insert).
const DEFAULT_CAPACITY: usize = 16;

/// `HashMap.tableSizeFor`: the least power of two >= `c` (at least 1).
fn table_size_for(c: usize) -> usize {
    c.max(1).next_power_of_two()
}

/// The capacity of a Java hash table of `capacity` buckets once an insert
/// has brought it to `len` members: it doubles when the size passes 3/4
/// of it (the load factor), and never shrinks.
pub fn grown_capacity(capacity: usize, len: usize) -> usize {
    if len > capacity * 3 / 4 {
        capacity * 2
    } else {
        capacity
    }
}

/// A set of strings that iterates as a Java `HashSet<String>` with the
/// same history of inserts and removes would.
#[derive(Debug, Clone, Default)]
pub struct JavaHashSet {
    /// Each member with its insertion sequence number.
    members: HashMap<Box<str>, u64>,
    /// The table size; 0 until the first insert allocates it.
    capacity: usize,
    next_seq: u64,
    /// The members in the order a `java_clone` iterates in, computed on
    /// first use after a change (getEphemerals asks for it on every call).
    clone_order: OnceLock<Arc<[Box<str>]>>,
}

impl JavaHashSet {
    pub fn new() -> JavaHashSet {
        JavaHashSet::default()
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.members.contains_key(key)
    }

    /// Adds `key` (at the end of its bucket); false if it was there.
    pub fn insert(&mut self, key: &str) -> bool {
        if self.members.contains_key(key) {
            return false;
        }
        if self.capacity == 0 {
            self.capacity = DEFAULT_CAPACITY;
        }
        self.members.insert(key.into(), self.next_seq);
        self.next_seq += 1;
        self.capacity = grown_capacity(self.capacity, self.members.len());
        self.clone_order.take();
        true
    }

    pub fn remove(&mut self, key: &str) -> bool {
        let removed = self.members.remove(key).is_some();
        if removed {
            self.clone_order.take();
        }
        removed
    }

    /// The members in Java's iteration order.
    pub fn ordered(&self) -> Vec<&str> {
        let mut v: Vec<(usize, u64, &str)> =
            self.members.iter().map(|(k, &seq)| (bucket(string_hash(k), self.capacity), seq, &**k)).collect();
        v.sort_unstable();
        v.into_iter().map(|(_, _, k)| k).collect()
    }

    /// The table size of a `HashSet.clone()` of this set: sized for the
    /// current members (0 for none).
    fn clone_capacity(&self) -> usize {
        match self.members.len() {
            0 => 0,
            // Float arithmetic, as in HashMap.putMapEntries.
            n => table_size_for((n as f32 / 0.75 + 1.0) as usize),
        }
    }

    /// What Java's `HashSet.clone()` gives: a table sized for the current
    /// members, filled in this set's iteration order.
    pub fn java_clone(&self) -> JavaHashSet {
        let mut copy = JavaHashSet::new();
        copy.capacity = self.clone_capacity();
        for k in self.ordered() {
            copy.insert(k);
        }
        copy
    }

    /// The members in the order `java_clone().ordered()` gives, shared
    /// until the set next changes: the clone's buckets, each in this set's
    /// iteration order.
    pub fn clone_ordered(&self) -> Arc<[Box<str>]> {
        let order = self.clone_order.get_or_init(|| {
            let capacity = self.clone_capacity();
            let mut v: Vec<(usize, usize, &str)> = self
                .ordered()
                .into_iter()
                .enumerate()
                .map(|(i, k)| (bucket(string_hash(k), capacity), i, k))
                .collect();
            v.sort_unstable();
            v.into_iter().map(|(_, _, k)| Box::from(k)).collect()
        });
        Arc::clone(order)
    }
}

/// Orders a connection's auth ids (insertion order in, Java's iteration
/// order out), as a fresh `ConcurrentHashMap` key set would iterate them.
pub fn order_ids<T>(ids: &mut [T], scheme_and_id: impl Fn(&T) -> (&str, &str)) {
    let capacity = table_size_for(ids.len() * 4 / 3 + 1).max(DEFAULT_CAPACITY);
    // Stable: members of one bucket keep their insertion order.
    ids.sort_by_key(|x| {
        let (scheme, id) = scheme_and_id(x);
        bucket(id_hash(scheme, id), capacity)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_match_java() {
        // Known values of Java's String.hashCode.
        assert_eq!(string_hash(""), 0);
        assert_eq!(string_hash("a"), 97);
        assert_eq!(string_hash("hello"), 99162322);
        // Overflowing: "polygenelubricants".hashCode() == Integer.MIN_VALUE.
        assert_eq!(string_hash("polygenelubricants"), i32::MIN);
        // Non-BMP characters hash as their two UTF-16 units.
        assert_eq!(string_hash("\u{1F600}"), 0xD83D * 31 + 0xDE00);
        assert_eq!(id_hash("", ""), 17 * 37 * 37);
    }

    #[test]
    fn iteration_follows_buckets_then_insertion() {
        // Buckets 3 and 10 of 16; in the clone of 4 buckets, 3 and 2: the
        // order zkCli's getEphemerals shows on Java 3.8.
        let mut s = JavaHashSet::new();
        s.insert("/app/eph");
        s.insert("/app/eseq-0000000003");
        assert_eq!(s.ordered(), ["/app/eph", "/app/eseq-0000000003"]);
        assert_eq!(s.java_clone().ordered(), ["/app/eseq-0000000003", "/app/eph"]);
        assert_eq!(&*s.clone_ordered(), ["/app/eseq-0000000003".into(), "/app/eph".into()]);
        // Same bucket: insertion order, also after a remove and re-insert.
        let mut s = JavaHashSet::new();
        let (a, b) = ("Aa", "BB"); // equal Java hashes
        assert_eq!(string_hash(a), string_hash(b));
        s.insert(b);
        s.insert(a);
        assert_eq!(s.ordered(), [b, a]);
        s.remove(b);
        s.insert(b);
        assert_eq!(s.ordered(), [a, b]);
        assert!(!s.insert(a) && s.len() == 2 && s.contains(a));
    }

    #[test]
    fn capacity_grows_like_java_and_clones_are_sized_for_their_members() {
        let mut s = JavaHashSet::new();
        for i in 0..12 {
            s.insert(&format!("/n{i}"));
        }
        assert_eq!(s.capacity, 16);
        s.insert("/n12");
        assert_eq!(s.capacity, 32);
        for i in 0..12 {
            s.remove(&format!("/n{i}"));
        }
        assert_eq!(s.capacity, 32, "a Java table never shrinks");
        assert_eq!(s.java_clone().capacity, 2, "tableSizeFor(1 / 0.75 + 1)");
        assert_eq!(JavaHashSet::new().java_clone().capacity, 0);
    }

    #[test]
    fn clone_order_follows_changes() {
        let mut s = JavaHashSet::new();
        for i in 0..40 {
            s.insert(&format!("/e/n{i}"));
        }
        let check = |s: &JavaHashSet| {
            let clone = s.java_clone();
            let expected: Vec<&str> = clone.ordered();
            let got = s.clone_ordered();
            assert_eq!(got.iter().map(|k| &**k).collect::<Vec<_>>(), expected);
        };
        check(&s);
        s.remove("/e/n7");
        check(&s);
        s.insert("/e/n7");
        s.insert("/e/other");
        check(&s);
        assert!(JavaHashSet::new().clone_ordered().is_empty());
    }

    #[test]
    fn grown_capacity_doubles_past_three_quarters() {
        assert_eq!(grown_capacity(8, 6), 8);
        assert_eq!(grown_capacity(8, 7), 16);
        assert_eq!(grown_capacity(16, 12), 16);
        assert_eq!(grown_capacity(16, 13), 32);
    }

    #[test]
    fn auth_ids_in_java_order() {
        // Java 3.8's whoAmI after `addauth digest alice:secret` and
        // `addauth digest bob:bobpw` from 127.0.0.1.
        let mut ids = vec![
            ("ip", "127.0.0.1"),
            ("digest", "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E="),
            ("digest", "bob:0ezhUayTjEymfNB3K9C0+wkMLMo="),
        ];
        order_ids(&mut ids, |&(s, i)| (s, i));
        assert_eq!(ids.iter().map(|(s, _)| *s).collect::<Vec<_>>(), ["digest", "digest", "ip"]);
        assert!(ids[0].1.starts_with("alice"));
    }
}
