//! ReferenceCountedACLCache: the data tree stores each distinct ACL list once
//! and gives nodes a `long` index into this table instead of the list itself.
//! Indexes, counts and the snapshot layout follow Java's, so snapshots stay
//! byte-compatible. Owned by the DataTree and only touched under its lock
//! (by whichever thread applies txns or serves reads).

use crate::jute::records::Acl;
use crate::jute::{InputArchive, JuteError, OutputArchive, StreamInput};
use crate::zoo_defs::ids;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, OnceLock};

/// The index that stands for OPEN_ACL_UNSAFE without a table entry (what
/// Java's cache hands out for a null ACL list; the built-in nodes use it).
pub const OPEN_UNSAFE_ACL_ID: i64 = -1;

/// An ACL list as a hash key (the jute records do not derive `Hash`).
#[derive(Clone, PartialEq, Eq)]
struct AclKey(Vec<Acl>);

impl Hash for AclKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.0.len());
        for acl in &self.0 {
            acl.perms.hash(state);
            acl.id.scheme.hash(state);
            acl.id.id.hash(state);
        }
    }
}

/// Hashes the cache's indexes with one multiply instead of SipHash: they
/// are handed out in sequence here or read from this server's own
/// snapshot, never chosen by a client, and every read looks one up.
#[derive(Default)]
struct IndexHasher(u64);

impl Hasher for IndexHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(self.0 ^ u64::from(b));
        }
    }

    fn write_i64(&mut self, i: i64) {
        self.write_u64(i as u64);
    }

    fn write_u64(&mut self, v: u64) {
        // Fibonacci hashing: spreads sequential indexes over every bit.
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// An ACL list and how many nodes use it. The list is shared so that a
/// change can carry its node's ACL to the watchers cheaply.
struct Entry {
    acls: Arc<Vec<Acl>>,
    uses: i64,
}

/// Two-way map between ACL lists and their indexes, with a reference count
/// per index; an index whose count drops to zero is forgotten.
#[derive(Default)]
pub struct ReferenceCountedAclCache {
    by_index: HashMap<i64, Entry, BuildHasherDefault<IndexHasher>>,
    acl_key_map: HashMap<AclKey, i64>,
    /// The highest index handed out or loaded so far.
    acl_index: i64,
}

impl ReferenceCountedAclCache {
    pub fn new() -> ReferenceCountedAclCache {
        ReferenceCountedAclCache::default()
    }

    /// The index for `acls`, allocating the next one for a list not seen
    /// before; counts one more use either way.
    pub fn convert_acls(&mut self, acls: &[Acl]) -> i64 {
        let key = AclKey(acls.to_vec());
        let index = match self.acl_key_map.get(&key) {
            Some(&i) => i,
            None => {
                self.acl_index += 1;
                let i = self.acl_index;
                self.by_index.insert(i, Entry { acls: Arc::new(key.0.clone()), uses: 0 });
                self.acl_key_map.insert(key, i);
                i
            }
        };
        self.add_usage(index);
        index
    }

    /// The ACL list behind `index`; `None` when the index is unknown (Java
    /// throws there).
    pub fn convert_long(&self, index: i64) -> Option<Vec<Acl>> {
        if index == OPEN_UNSAFE_ACL_ID {
            return Some(ids::open_acl_unsafe());
        }
        self.by_index.get(&index).map(|e| e.acls.as_ref().clone())
    }

    /// `convert_long` without copying the list: what a watch event carries
    /// to decide whether its watcher may read the node.
    pub fn shared(&self, index: i64) -> Option<Arc<Vec<Acl>>> {
        self.acls(index).cloned()
    }

    /// The ACL list behind `index`, borrowed from the table.
    pub fn acls(&self, index: i64) -> Option<&Arc<Vec<Acl>>> {
        if index == OPEN_UNSAFE_ACL_ID {
            static OPEN: OnceLock<Arc<Vec<Acl>>> = OnceLock::new();
            return Some(OPEN.get_or_init(|| Arc::new(ids::open_acl_unsafe())));
        }
        self.by_index.get(&index).map(|e| &e.acls)
    }

    /// Counts one more node using `index`; unknown indexes are ignored.
    pub fn add_usage(&mut self, index: i64) {
        self.add_usages(index, 1);
    }

    /// Counts `n` more nodes using `index` (a snapshot load counts runs of
    /// nodes with the same ACL at once); unknown indexes are ignored.
    pub fn add_usages(&mut self, index: i64, n: i64) {
        if index == OPEN_UNSAFE_ACL_ID {
            return;
        }
        if let Some(e) = self.by_index.get_mut(&index) {
            e.uses += n;
        }
    }

    /// Counts one node fewer using `index`, dropping the entry when no node
    /// uses it any more.
    pub fn remove_usage(&mut self, index: i64) {
        if index == OPEN_UNSAFE_ACL_ID {
            return;
        }
        let Some(e) = self.by_index.get_mut(&index) else {
            return;
        };
        e.uses -= 1;
        if e.uses <= 0 {
            self.forget(index);
        }
    }

    /// Drops every entry no node uses (after a snapshot load, whose table
    /// may hold lists of nodes deleted while it was written).
    pub fn purge_unused(&mut self) {
        let unused: Vec<i64> = self.by_index.iter().filter(|(_, e)| e.uses <= 0).map(|(&i, _)| i).collect();
        for index in unused {
            self.forget(index);
        }
    }

    fn forget(&mut self, index: i64) {
        if let Some(e) = self.by_index.remove(&index) {
            let acls = Arc::try_unwrap(e.acls).unwrap_or_else(|shared| shared.as_ref().clone());
            self.acl_key_map.remove(&AclKey(acls));
        }
    }

    /// Number of distinct ACL lists held.
    pub fn size(&self) -> usize {
        self.acl_key_map.len()
    }

    /// The use count of `index` (0 when unknown).
    pub fn reference_count(&self, index: i64) -> i64 {
        self.by_index.get(&index).map_or(0, |e| e.uses)
    }

    /// Writes the table as a snapshot holds it: an `int` entry count, then
    /// per entry the `long` index and the `vector<ACL>`. Entries go out in
    /// index order.
    pub fn serialize(&self, oa: &mut OutputArchive) {
        let mut entries: Vec<(i64, &Entry)> = self.by_index.iter().map(|(&i, e)| (i, e)).collect();
        entries.sort_unstable_by_key(|&(i, _)| i);
        oa.write_int(entries.len() as i32);
        for (index, e) in entries {
            oa.write_long(index);
            oa.write_vector(e.acls.as_slice());
        }
    }

    /// Replaces the table with one read from a snapshot. Every entry starts
    /// with no uses; the nodes read afterwards add theirs.
    pub fn deserialize(&mut self, ia: &mut InputArchive<'_>) -> Result<(), JuteError> {
        let mut loaded = Vec::new();
        let count = ia.read_int()?;
        for _ in 0..count.max(0) {
            let index = ia.read_long()?;
            let acls = ia.read_nullable_vector::<Acl>()?.ok_or(JuteError::MissingAcls)?;
            loaded.push((index, acls));
        }
        self.by_index.clear();
        self.acl_key_map.clear();
        for (index, acls) in loaded {
            self.add_loaded(index, acls);
        }
        Ok(())
    }

    /// Reads a table as `deserialize` does, from a stream: entry by entry,
    /// never sizing anything by a count it was sent.
    pub fn read_stream<R: std::io::Read>(input: &mut StreamInput<R>) -> std::io::Result<ReferenceCountedAclCache> {
        let mut cache = ReferenceCountedAclCache::new();
        let count = input.read_int()?;
        for _ in 0..count.max(0) {
            let index = input.read_long()?;
            let acls = input.read_nullable_vector::<Acl>()?.ok_or_else(|| StreamInput::<R>::invalid(JuteError::MissingAcls))?;
            cache.add_loaded(index, acls);
        }
        Ok(cache)
    }

    /// A table entry read from a snapshot, with no uses yet.
    fn add_loaded(&mut self, index: i64, acls: Vec<Acl>) {
        self.acl_index = self.acl_index.max(index);
        self.acl_key_map.insert(AclKey(acls.clone()), index);
        self.by_index.insert(index, Entry { acls: Arc::new(acls), uses: 0 });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jute::records::Id;
    use crate::zoo_defs::perms;

    fn acl(perms: i32, scheme: &str, id: &str) -> Vec<Acl> {
        vec![Acl { perms, id: Id::new(scheme, id) }]
    }

    #[test]
    fn same_list_same_index_and_counts() {
        let mut c = ReferenceCountedAclCache::new();
        let a = acl(perms::ALL, "world", "anyone");
        let b = acl(perms::READ, "digest", "u:p");
        assert_eq!(c.convert_acls(&a), 1);
        assert_eq!(c.convert_acls(&b), 2);
        assert_eq!(c.convert_acls(&a), 1);
        assert_eq!(c.size(), 2);
        assert_eq!(c.reference_count(1), 2);
        assert_eq!(c.convert_long(2), Some(b.clone()));
        assert_eq!(c.convert_long(OPEN_UNSAFE_ACL_ID), Some(ids::open_acl_unsafe()));
        assert_eq!(c.convert_long(99), None);
        assert_eq!(c.shared(2).as_deref(), Some(&b));
        assert_eq!(c.shared(OPEN_UNSAFE_ACL_ID).as_deref(), Some(&ids::open_acl_unsafe()));
        assert_eq!(c.shared(99), None);

        c.remove_usage(1);
        assert_eq!(c.convert_long(1), Some(a.clone()));
        c.remove_usage(1);
        assert_eq!(c.convert_long(1), None);
        assert_eq!(c.size(), 1);
        // Indexes are never reused.
        assert_eq!(c.convert_acls(&a), 3);
        // The special index is never counted or dropped.
        c.add_usage(OPEN_UNSAFE_ACL_ID);
        c.remove_usage(OPEN_UNSAFE_ACL_ID);
        c.remove_usage(42);
        assert_eq!(c.size(), 2);
    }

    #[test]
    fn serialize_round_trip_and_purge() {
        let mut c = ReferenceCountedAclCache::new();
        let a = acl(perms::ALL, "world", "anyone");
        let b = acl(perms::READ, "ip", "10.0.0.1");
        c.convert_acls(&a);
        c.convert_acls(&b);
        let mut oa = OutputArchive::new();
        c.serialize(&mut oa);
        let bytes = oa.into_inner();
        // count, then (index, vector) per entry in index order
        assert_eq!(&bytes[..4], &[0, 0, 0, 2]);
        assert_eq!(&bytes[4..12], &1i64.to_be_bytes());

        let mut d = ReferenceCountedAclCache::new();
        d.deserialize(&mut InputArchive::new(&bytes)).unwrap();
        assert_eq!(d.size(), 2);
        assert_eq!(d.convert_long(2), Some(b.clone()));
        assert_eq!(d.reference_count(1), 0);
        // The next new list continues after the highest loaded index.
        assert_eq!(d.convert_acls(&acl(perms::WRITE, "world", "anyone")), 3);
        d.add_usage(2);
        d.purge_unused();
        assert_eq!(d.convert_long(1), None);
        assert_eq!(d.convert_long(2), Some(b));
        assert_eq!(d.convert_long(3).map(|v| v.len()), Some(1));
    }

    #[test]
    fn truncated_table_is_an_error() {
        let mut c = ReferenceCountedAclCache::new();
        let bytes = [0, 0, 0, 5, 0, 0, 0, 0];
        assert!(c.deserialize(&mut InputArchive::new(&bytes)).is_err());
    }

    /// A file and the SNAP stream read an entry's ACL list alike, as Java:
    /// a null list (-1) is a bad snapshot, any other negative count an
    /// empty list.
    #[test]
    fn an_entry_with_a_null_acl_list_is_refused_either_way() {
        let entry = |count: i32| {
            let mut oa = OutputArchive::new();
            oa.write_int(1);
            oa.write_long(1);
            oa.write_int(count);
            oa.into_inner()
        };
        let b = entry(-1);
        let mut c = ReferenceCountedAclCache::new();
        assert_eq!(c.deserialize(&mut InputArchive::new(&b)), Err(JuteError::MissingAcls));
        let e = ReferenceCountedAclCache::read_stream(&mut StreamInput::new(&b[..])).err().unwrap();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        let b = entry(-2);
        c.deserialize(&mut InputArchive::new(&b)).unwrap();
        assert_eq!(c.size(), 1);
        assert_eq!(ReferenceCountedAclCache::read_stream(&mut StreamInput::new(&b[..])).unwrap().size(), 1);
    }
}
