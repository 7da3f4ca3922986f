//! DataNode: one znode of the data tree — its data, its ACL index into the
//! ReferenceCountedAclCache, its persisted stat and its children, which it
//! owns by name (the tree is a tree of nodes, not a map of full paths, so a
//! node's name is stored once). Also EphemeralType, the meaning of
//! `ephemeral_owner`. Nodes live inside the DataTree and are only touched
//! under its lock.

use crate::jute::records::{Stat, StatPersisted};
use crate::jute::{InputArchive, JuteError, OutputArchive, Record};
use std::collections::HashMap;

/// What a node's `ephemeral_owner` says it is (Java's EphemeralType).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EphemeralType {
    /// 0: an ordinary persistent node.
    Void,
    /// A session id: an ephemeral node of that session.
    Normal,
    /// `CONTAINER_EPHEMERAL_OWNER`.
    Container,
    /// A TTL node (only recognised when extended types are enabled).
    Ttl,
}

impl EphemeralType {
    /// The ephemeral_owner of every container node.
    pub const CONTAINER_EPHEMERAL_OWNER: i64 = i64::MIN;
    /// The highest server id usable with extended types.
    pub const MAX_EXTENDED_SERVER_ID: i64 = 0xfe;

    const EXTENDED_MASK: i64 = 0xff00_0000_0000_0000_u64 as i64;
    const EXTENDED_BIT_TTL: i64 = 0;
    const RESERVED_BITS_MASK: i64 = 0x00ff_ff00_0000_0000;
    const RESERVED_BITS_SHIFT: u32 = 40;
    const EXTENDED_FEATURE_VALUE_MASK: i64 = !(Self::EXTENDED_MASK | Self::RESERVED_BITS_MASK);

    /// Classifies an ephemeral_owner. `extended_types_enabled` is
    /// zookeeper.extendedTypesEnabled; without it TTL owners read as
    /// session ids, as in Java. An extended owner with an unknown feature
    /// bit (Java throws) also reads as `Normal`.
    pub fn get(ephemeral_owner: i64, extended_types_enabled: bool) -> EphemeralType {
        if extended_types_enabled
            && ephemeral_owner & Self::EXTENDED_MASK == Self::EXTENDED_MASK
            && (ephemeral_owner & Self::RESERVED_BITS_MASK) >> Self::RESERVED_BITS_SHIFT == Self::EXTENDED_BIT_TTL
        {
            return EphemeralType::Ttl;
        }
        match ephemeral_owner {
            Self::CONTAINER_EPHEMERAL_OWNER => EphemeralType::Container,
            0 => EphemeralType::Void,
            _ => EphemeralType::Normal,
        }
    }

    /// The largest TTL (ms) a TTL node can carry.
    pub const fn max_ttl() -> i64 {
        Self::EXTENDED_FEATURE_VALUE_MASK
    }

    /// The ephemeral_owner of a TTL node with `ttl` ms; `None` unless
    /// 0 < ttl <= max_ttl().
    pub fn ttl_to_ephemeral_owner(ttl: i64) -> Option<i64> {
        if ttl <= 0 || ttl > Self::max_ttl() {
            return None;
        }
        Some(Self::EXTENDED_MASK | Self::EXTENDED_BIT_TTL | ttl)
    }

    /// The TTL (ms) encoded in a TTL node's ephemeral_owner.
    pub fn ttl_value(ephemeral_owner: i64) -> i64 {
        ephemeral_owner & Self::EXTENDED_FEATURE_VALUE_MASK
    }
}

/// One znode. `children` is `None` until the first child arrives, so a leaf
/// costs one pointer for it.
#[derive(Debug, Default)]
pub struct DataNode {
    /// `None` is the null data a client may create a node with.
    pub data: Option<Box<[u8]>>,
    /// Index into the tree's ReferenceCountedAclCache.
    pub acl: i64,
    pub stat: StatPersisted,
    // Boxed on purpose: a leaf pays 8 bytes here instead of an empty map's 48.
    #[allow(clippy::box_collection)]
    children: Option<Box<HashMap<Box<str>, DataNode>>>,
}

impl DataNode {
    pub fn new(data: Option<Box<[u8]>>, acl: i64, stat: StatPersisted) -> DataNode {
        DataNode { data, acl, stat, children: None }
    }

    /// Length of the data (0 for null data).
    pub fn data_len(&self) -> usize {
        self.data.as_ref().map_or(0, |d| d.len())
    }

    pub fn num_children(&self) -> usize {
        self.children.as_ref().map_or(0, |c| c.len())
    }

    /// The names of the children, in no particular order.
    pub fn child_names(&self) -> impl Iterator<Item = &str> {
        self.children.iter().flat_map(|c| c.keys().map(|k| &**k))
    }

    pub fn children(&self) -> impl Iterator<Item = (&str, &DataNode)> {
        self.children.iter().flat_map(|c| c.iter().map(|(k, v)| (&**k, v)))
    }

    pub fn child(&self, name: &str) -> Option<&DataNode> {
        self.children.as_ref()?.get(name)
    }

    pub fn child_mut(&mut self, name: &str) -> Option<&mut DataNode> {
        self.children.as_mut()?.get_mut(name)
    }

    pub fn has_child(&self, name: &str) -> bool {
        self.child(name).is_some()
    }

    /// Adds a child; gives the node back if the name is taken.
    pub fn add_child(&mut self, name: &str, node: DataNode) -> Result<&mut DataNode, DataNode> {
        let children = self.children.get_or_insert_with(Default::default);
        match children.entry(name.into()) {
            std::collections::hash_map::Entry::Occupied(_) => Err(node),
            std::collections::hash_map::Entry::Vacant(v) => Ok(v.insert(node)),
        }
    }

    /// Removes a child (with everything below it).
    pub fn remove_child(&mut self, name: &str) -> Option<DataNode> {
        let children = self.children.as_mut()?;
        let removed = children.remove(name);
        if children.is_empty() {
            self.children = None;
        }
        removed
    }

    /// The Stat a client sees. The stored cversion counts child creations;
    /// clients see creations plus deletions, i.e. 2 * cversion - children.
    /// Container and TTL owners read as 0.
    pub fn copy_stat(&self, extended_types_enabled: bool) -> Stat {
        let s = &self.stat;
        let num_children = self.num_children() as i32;
        let ephemeral_owner = match EphemeralType::get(s.ephemeral_owner, extended_types_enabled) {
            EphemeralType::Normal => s.ephemeral_owner,
            _ => 0,
        };
        Stat {
            czxid: s.czxid,
            mzxid: s.mzxid,
            ctime: s.ctime,
            mtime: s.mtime,
            version: s.version,
            cversion: s.cversion.wrapping_mul(2).wrapping_sub(num_children),
            aversion: s.aversion,
            ephemeral_owner,
            data_length: self.data_len() as i32,
            num_children,
            pzxid: s.pzxid,
        }
    }

    /// Writes the node as a snapshot holds it: data buffer (-1 for null),
    /// `long` acl index, StatPersisted. Children are not part of it.
    pub fn serialize(&self, oa: &mut OutputArchive) {
        match &self.data {
            None => oa.write_int(-1),
            Some(d) => oa.write_buffer(d),
        }
        oa.write_long(self.acl);
        self.stat.serialize(oa);
    }

    /// Reads a node written by `serialize` (without children).
    pub fn deserialize(ia: &mut InputArchive<'_>) -> Result<DataNode, JuteError> {
        let data = ia.read_nullable_buffer()?.map(Vec::into_boxed_slice);
        let acl = ia.read_long()?;
        let stat = StatPersisted::deserialize(ia)?;
        Ok(DataNode::new(data, acl, stat))
    }
}

/// Dropping a deep chain of nodes recursively could overflow the stack, so
/// descendants are unlinked into a work list and dropped one by one.
impl Drop for DataNode {
    fn drop(&mut self) {
        let Some(children) = self.children.take() else {
            return;
        };
        let mut pending: Vec<DataNode> = children.into_values().collect();
        while let Some(mut n) = pending.pop() {
            if let Some(grandchildren) = n.children.take() {
                pending.extend(grandchildren.into_values());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ephemeral_types() {
        assert_eq!(EphemeralType::get(0, false), EphemeralType::Void);
        assert_eq!(EphemeralType::get(0x1234, false), EphemeralType::Normal);
        assert_eq!(EphemeralType::get(i64::MIN, false), EphemeralType::Container);
        let ttl = EphemeralType::ttl_to_ephemeral_owner(5000).unwrap();
        assert_eq!(ttl as u64, 0xff00_0000_0000_1388);
        assert_eq!(EphemeralType::get(ttl, true), EphemeralType::Ttl);
        assert_eq!(EphemeralType::get(ttl, false), EphemeralType::Normal);
        assert_eq!(EphemeralType::ttl_value(ttl), 5000);
        assert_eq!(EphemeralType::max_ttl(), 0x0000_00ff_ffff_ffff);
        assert_eq!(EphemeralType::ttl_to_ephemeral_owner(0), None);
        assert_eq!(EphemeralType::ttl_to_ephemeral_owner(EphemeralType::max_ttl() + 1), None);
        // An unknown extended feature bit is not a TTL.
        assert_eq!(EphemeralType::get(0xff01_0000_0000_0001_u64 as i64, true), EphemeralType::Normal);
    }

    #[test]
    fn stat_and_children() {
        let stat = StatPersisted { czxid: 5, mzxid: 6, pzxid: 7, cversion: 3, ..Default::default() };
        let mut n = DataNode::new(Some(b"abc".to_vec().into_boxed_slice()), 1, stat);
        assert!(n.add_child("x", DataNode::default()).is_ok());
        assert!(n.add_child("x", DataNode::default()).is_err());
        n.add_child("y", DataNode::default()).unwrap();
        let s = n.copy_stat(false);
        assert_eq!((s.czxid, s.mzxid, s.pzxid), (5, 6, 7));
        assert_eq!(s.num_children, 2);
        assert_eq!(s.cversion, 4);
        assert_eq!(s.data_length, 3);
        let mut names: Vec<&str> = n.child_names().collect();
        names.sort();
        assert_eq!(names, ["x", "y"]);
        assert!(n.remove_child("x").is_some());
        assert!(n.remove_child("x").is_none());
        n.remove_child("y");
        assert_eq!(n.num_children(), 0);
        assert!(n.children.is_none());
    }

    #[test]
    fn serialize_round_trip() {
        let stat = StatPersisted { czxid: 1, ephemeral_owner: 9, ..Default::default() };
        for data in [None, Some(Vec::new()), Some(b"hi".to_vec())] {
            let n = DataNode::new(data.clone().map(Vec::into_boxed_slice), 4, stat.clone());
            let mut oa = OutputArchive::new();
            n.serialize(&mut oa);
            let bytes = oa.into_inner();
            let back = DataNode::deserialize(&mut InputArchive::new(&bytes)).unwrap();
            assert_eq!(back.data.as_deref().map(<[u8]>::to_vec), data);
            assert_eq!(back.acl, 4);
            assert_eq!(back.stat, stat);
        }
        assert!(DataNode::deserialize(&mut InputArchive::new(&[0, 0, 0, 9])).is_err());
    }

    #[test]
    fn node_stays_small() {
        // data 16 + acl 8 + stat 64 + children 8: the 1M-znode memory budget
        // rests on this.
        assert!(std::mem::size_of::<DataNode>() <= 96, "{}", std::mem::size_of::<DataNode>());
    }

    #[test]
    fn deep_chain_drops_without_recursion() {
        let mut root = DataNode::default();
        let mut cur = &mut root;
        for _ in 0..200_000 {
            cur = cur.add_child("a", DataNode::default()).unwrap();
        }
        drop(root);
    }
}
