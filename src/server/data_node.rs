//! DataNode: one znode of the data tree -- its name, data, ACL index into
//! the ReferenceCountedAclCache, persisted stat and children. The tree is a
//! tree of nodes, not a map of full paths: a parent's children table holds
//! its children themselves, keyed by the name each child carries, so a name
//! is stored once and no full path is stored at all. Also EphemeralType, the
//! meaning of `ephemeral_owner`. Nodes live inside the DataTree and are only
//! touched under its lock.
//!
//! Memory layout (most znodes are leaves, so leaves are what is squeezed):
//! - a leaf is one heap block: the name, the ACL index, a compact stat and
//!   the data, packed back to back (see `LeafView`); the table entry that
//!   points at it is 16 bytes. Changing a leaf writes a new block, which
//!   costs a copy of its data -- a setData copies the data anyway.
//! - a node with children (or that had some) is an `Inner`: its stat stays
//!   unpacked, since every child creation or deletion changes it, and its
//!   children sit in a hash table of 16-byte entries.
//!
//! The order getChildren lists children in is Java's: a Java DataNode keeps
//! them in a `HashSet<String>` (made with capacity 8), which iterates by
//! bucket (`java_hash_order::bucket` of the name's Java hash), and within a
//! bucket in the order the names arrived. An `Inner` tracks the capacity
//! that set would have; arrival order is creation order: the child's
//! czxid, and among children created by one multi (one zxid), the order
//! the `Inner` noted them in. (Not modelled: after a restart, a parent
//! whose set had grown larger than its children now need -- Java then
//! refills a smaller set in its snapshot's order -- or whose children
//! from one multi share a bucket; and buckets of more than eight names,
//! which Java turns into trees.) The listing is serialized once per change
//! of the children and shared by the replies.

use crate::common::java_hash_order::{bucket, grown_capacity, string_hash};
use crate::jute::records::{GetChildrenResponse, Stat, StatPersisted};
use crate::jute::{InputArchive, JuteError, OutputArchive, Record};
use crate::quorum::quorum_peer_config::system_properties::SystemProperties;
use hashbrown::HashTable;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, OnceLock};

/// The system properties Java's EphemeralType reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EphemeralTypeSettings {
    /// zookeeper.extendedTypesEnabled: TTL nodes (and the owner encoding
    /// that marks them).
    pub extended_types_enabled: bool,
    /// zookeeper.emulate353TTLNodes.
    pub emulate_353_ttl_nodes: bool,
}

impl EphemeralTypeSettings {
    pub fn read(props: &SystemProperties) -> EphemeralTypeSettings {
        EphemeralTypeSettings {
            extended_types_enabled: props.boolean("zookeeper.extendedTypesEnabled", false),
            emulate_353_ttl_nodes: props.boolean("zookeeper.emulate353TTLNodes", false),
        }
    }
}

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

/// One znode: a packed leaf or an `Inner` node (see the module comment).
pub struct DataNode(Repr);

enum Repr {
    /// The packed block described at `LeafView`.
    Leaf(Box<[u8]>),
    Inner(Box<Inner>),
}

/// The capacity of the children set Java's DataNode makes on the first child.
const JAVA_CHILDREN_CAPACITY: u32 = 8;

/// Listings of fewer children are built on every call rather than kept:
/// cheap to build, and not worth the memory on every small parent.
const LISTING_KEPT_FROM: usize = 16;

/// A node's children as a getChildren reply carries them: the jute
/// `vector<ustring>` of the names in Java's order (see the module comment).
/// Cheap to clone: a node keeps one and hands it to every reply until its
/// children change.
#[derive(Debug, Clone)]
pub struct ChildList(Arc<[u8]>);

impl ChildList {
    fn empty() -> ChildList {
        ChildList(Arc::from(0i32.to_be_bytes().as_slice()))
    }

    /// The serialized vector, as a reply writes it.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The serialized vector, shared.
    pub fn shared(&self) -> Arc<[u8]> {
        Arc::clone(&self.0)
    }

    /// How many names it holds.
    pub fn len(&self) -> usize {
        self.0.get(..4).and_then(|b| b.try_into().ok()).map_or(0, |b| i32::from_be_bytes(b).max(0) as usize)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The names' lengths summed, in bytes.
    pub fn name_bytes(&self) -> usize {
        self.0.len().saturating_sub(4 * (self.len() + 1))
    }

    /// The names, in order.
    pub fn names(&self) -> Vec<String> {
        // Written by `Inner::build_listing`: always well formed.
        GetChildrenResponse::from_bytes(&self.0).map(|r| r.children).unwrap_or_default()
    }
}

/// What has happened to a node's children table, for a listing of the
/// children made in pieces with the tree unlocked in between (snapshot
/// writing). A child stays in its slot until the table is rebuilt, so
/// while `moves` is unchanged a listing that resumes at the next slot
/// meets every child that stayed exactly once; after a rebuild it must
/// start again from slot 0. A name is met twice only if it was removed and
/// added again in between, which `removals` rules out when unchanged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChildrenEpoch {
    /// Rebuilds of the table (growth, shrinking, release when emptied).
    pub moves: u32,
    /// Children removed.
    pub removals: u32,
}

/// A node that has (or had) children.
struct Inner {
    children: HashTable<DataNode>,
    /// How the table has changed under a listing made in pieces (see
    /// `ChildrenEpoch`).
    epoch: ChildrenEpoch,
    /// The capacity Java's set of these children would have: 8 from the
    /// first child, doubling as Java's HashMap does, never shrinking.
    java_capacity: u32,
    /// The listing, kept (for `LISTING_KEPT_FROM` children or more) from
    /// the first read after a change of the children until the next one.
    listing: OnceLock<ChildList>,
    /// The nodes below this one, all levels (getAllChildrenNumber). A node
    /// counts the children it gains or loses with their subtrees; the tree
    /// tells the nodes above (`adjust_descendants`).
    descendants: u64,
    /// The czxid of the child added last, and how many children in a row
    /// arrived with it.
    last_czxid: i64,
    last_czxid_run: u32,
    /// The children that arrived with the same czxid as the child added
    /// before them (created by one multi), with their place in that run
    /// (1, 2, ...; the first of a run is not listed and counts as 0).
    same_zxid: Option<Box<HashMap<Box<str>, u32>>>,
    stat: StatPersisted,
    acl: i64,
    name: Box<str>,
    /// `None` is the null data a client may create a node with.
    data: Option<Box<[u8]>>,
}

impl Inner {
    /// Bookkeeping for `child` about to join the children (which it makes
    /// `len`): the capacity, the listing, the count below and the arrival
    /// order.
    fn child_joins(&mut self, child: &DataNode, len: usize) {
        self.java_capacity = grown_capacity(self.java_capacity as usize, len) as u32;
        self.listing.take();
        self.descendants += 1 + child.descendants();
        let czxid = child.czxid();
        if len > 1 && czxid == self.last_czxid {
            let place = self.last_czxid_run;
            self.same_zxid.get_or_insert_default().insert(child.name().into(), place);
            self.last_czxid_run += 1;
        } else {
            self.last_czxid = czxid;
            self.last_czxid_run = 1;
        }
    }

    /// Counts a rebuild of the children table if adding `more` children
    /// may cause one: the table rebuilds (moving every child to a new
    /// slot) only when it has no room left for them.
    fn note_growth(&mut self, more: usize) {
        if self.children.capacity() - self.children.len() < more {
            self.epoch.moves = self.epoch.moves.wrapping_add(1);
        }
    }

    /// Bookkeeping for a child that left.
    fn child_left(&mut self, child: &DataNode) {
        self.listing.take();
        self.descendants = self.descendants.saturating_sub(1 + child.descendants());
        if let Some(places) = &mut self.same_zxid {
            places.remove(child.name());
            if places.is_empty() {
                self.same_zxid = None;
            }
        }
    }

    fn build_listing(&self) -> ChildList {
        let capacity = self.java_capacity as usize;
        let place = |name: &str| self.same_zxid.as_ref().and_then(|p| p.get(name).copied()).unwrap_or(0);
        let mut keyed: Vec<(usize, i64, u32, &str)> = self
            .children
            .iter()
            .map(|c| {
                let name = c.name();
                (bucket(string_hash(name), capacity), c.czxid(), place(name), name)
            })
            .collect();
        keyed.sort_unstable();
        let size = 4 + keyed.iter().map(|(_, _, _, name)| 4 + name.len()).sum::<usize>();
        let mut oa = OutputArchive::with_capacity(size);
        oa.write_string_vector(keyed.into_iter().map(|(_, _, _, name)| name));
        ChildList(oa.into_inner().into())
    }

    fn listing(&self) -> ChildList {
        if self.children.len() < LISTING_KEPT_FROM {
            return self.build_listing();
        }
        self.listing.get_or_init(|| self.build_listing()).clone()
    }
}

/// Hashes child names: one randomly keyed SipHash for the whole process,
/// so clients cannot aim names at one bucket.
fn name_hash(name: &[u8]) -> u64 {
    static STATE: OnceLock<std::collections::hash_map::RandomState> = OnceLock::new();
    STATE.get_or_init(Default::default).hash_one(name)
}

fn rehash(node: &DataNode) -> u64 {
    name_hash(node.name_bytes())
}

// Bits of a leaf's flags byte: which data is null, and which stat fields
// differ from their usual value (mzxid and pzxid = czxid, mtime = ctime,
// the versions and the owner 0) and so follow in the block.
const NULL_DATA: u8 = 1;
const HAS_MZXID: u8 = 1 << 1;
const HAS_PZXID: u8 = 1 << 2;
const HAS_MTIME: u8 = 1 << 3;
const HAS_VERSION: u8 = 1 << 4;
const HAS_CVERSION: u8 = 1 << 5;
const HAS_AVERSION: u8 = 1 << 6;
const HAS_OWNER: u8 = 1 << 7;

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    (v >> 1) as i64 ^ -((v & 1) as i64)
}

/// Reads a block this module wrote. The block never leaves the node, so it
/// is always well formed; a short read still yields zeros, never a panic.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn byte(&mut self) -> u8 {
        let b = self.buf.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    fn varint(&mut self) -> u64 {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte();
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
        }
        v
    }

    fn signed(&mut self) -> i64 {
        unzigzag(self.varint())
    }

    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let s = self.buf.get(self.pos..self.pos.saturating_add(n)).unwrap_or_default();
        self.pos = self.pos.saturating_add(n);
        s
    }

    fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }
}

/// A leaf block unpacked. The block is: the name's length (varint) and the
/// name; the ACL index (zigzag varint); the flags byte; czxid and ctime
/// (zigzag varints); the fields the flags name, in the order mzxid, pzxid,
/// mtime, version, cversion, aversion (zigzag varints) and ephemeral owner
/// (8 bytes); then the data, to the end of the block. A fresh 100-byte
/// leaf takes about 120 bytes where the unpacked stat alone is 64.
struct LeafView<'a> {
    name: &'a [u8],
    acl: i64,
    stat: StatPersisted,
    data: Option<&'a [u8]>,
}

impl<'a> LeafView<'a> {
    fn name_of(block: &'a [u8]) -> &'a [u8] {
        let mut c = Cursor { buf: block, pos: 0 };
        let n = c.varint() as usize;
        c.bytes(n)
    }

    fn parse(block: &'a [u8]) -> LeafView<'a> {
        let mut c = Cursor { buf: block, pos: 0 };
        let n = c.varint() as usize;
        let name = c.bytes(n);
        let acl = c.signed();
        let flags = c.byte();
        let czxid = c.signed();
        let ctime = c.signed();
        let mut field = |bit: u8, default: i64| if flags & bit != 0 { c.signed() } else { default };
        let mzxid = field(HAS_MZXID, czxid);
        let pzxid = field(HAS_PZXID, czxid);
        let mtime = field(HAS_MTIME, ctime);
        let version = field(HAS_VERSION, 0) as i32;
        let cversion = field(HAS_CVERSION, 0) as i32;
        let aversion = field(HAS_AVERSION, 0) as i32;
        let ephemeral_owner = if flags & HAS_OWNER != 0 {
            let b = c.bytes(8);
            b.try_into().map_or(0, i64::from_be_bytes)
        } else {
            0
        };
        let stat = StatPersisted { czxid, mzxid, ctime, mtime, version, cversion, aversion, ephemeral_owner, pzxid };
        let data = if flags & NULL_DATA != 0 { None } else { Some(c.rest()) };
        LeafView { name, acl, stat, data }
    }

    /// Packs a leaf into a block of exactly its size (a block shrunk after
    /// the fact would leave a small free chunk beside every node).
    fn pack(name: &[u8], acl: i64, s: &StatPersisted, data: Option<&[u8]>) -> Box<[u8]> {
        let mut head = Scratch::default();
        head.varint(name.len() as u64);
        let mut meta = Scratch::default();
        meta.varint(zigzag(acl));
        let flags_at = meta.len;
        meta.byte(0);
        meta.varint(zigzag(s.czxid));
        meta.varint(zigzag(s.ctime));
        let mut flags = 0;
        for (bit, value, default) in [
            (HAS_MZXID, s.mzxid, s.czxid),
            (HAS_PZXID, s.pzxid, s.czxid),
            (HAS_MTIME, s.mtime, s.ctime),
            (HAS_VERSION, i64::from(s.version), 0),
            (HAS_CVERSION, i64::from(s.cversion), 0),
            (HAS_AVERSION, i64::from(s.aversion), 0),
        ] {
            if value != default {
                flags |= bit;
                meta.varint(zigzag(value));
            }
        }
        if s.ephemeral_owner != 0 {
            flags |= HAS_OWNER;
            for b in s.ephemeral_owner.to_be_bytes() {
                meta.byte(b);
            }
        }
        if data.is_none() {
            flags |= NULL_DATA;
        }
        if let Some(f) = meta.buf.get_mut(flags_at) {
            *f = flags;
        }
        let data = data.unwrap_or_default();
        let mut out = Vec::with_capacity(head.len + name.len() + meta.len + data.len());
        out.extend_from_slice(head.as_slice());
        out.extend_from_slice(name);
        out.extend_from_slice(meta.as_slice());
        out.extend_from_slice(data);
        out.into_boxed_slice()
    }
}

/// A stack buffer for a leaf's header: the ACL index, flags, eight
/// varints of at most 10 bytes and the 8-byte owner fit in 99 bytes.
struct Scratch {
    buf: [u8; 112],
    len: usize,
}

impl Default for Scratch {
    fn default() -> Scratch {
        Scratch { buf: [0; 112], len: 0 }
    }
}

impl Scratch {
    fn byte(&mut self, b: u8) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.byte(v as u8 | 0x80);
            v >>= 7;
        }
        self.byte(v as u8);
    }

    fn as_slice(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

impl DataNode {
    /// A node without children.
    pub fn new(name: &str, data: Option<&[u8]>, acl: i64, stat: &StatPersisted) -> DataNode {
        DataNode(Repr::Leaf(LeafView::pack(name.as_bytes(), acl, stat, data)))
    }

    fn name_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Leaf(b) => LeafView::name_of(b),
            Repr::Inner(i) => i.name.as_bytes(),
        }
    }

    /// The last component of the node's path ("" for the root).
    pub fn name(&self) -> &str {
        // Names are only ever stored from a &str.
        std::str::from_utf8(self.name_bytes()).unwrap_or_default()
    }

    /// `None` for null data.
    pub fn data(&self) -> Option<&[u8]> {
        match &self.0 {
            Repr::Leaf(b) => LeafView::parse(b).data,
            Repr::Inner(i) => i.data.as_deref(),
        }
    }

    /// Length of the data (0 for null data).
    pub fn data_len(&self) -> usize {
        self.data().map_or(0, <[u8]>::len)
    }

    /// Index into the tree's ReferenceCountedAclCache.
    pub fn acl(&self) -> i64 {
        match &self.0 {
            Repr::Leaf(b) => LeafView::parse(b).acl,
            Repr::Inner(i) => i.acl,
        }
    }

    pub fn stat(&self) -> StatPersisted {
        match &self.0 {
            Repr::Leaf(b) => LeafView::parse(b).stat,
            Repr::Inner(i) => i.stat.clone(),
        }
    }

    /// The zxid that created the node.
    pub fn czxid(&self) -> i64 {
        match &self.0 {
            Repr::Leaf(b) => LeafView::parse(b).stat.czxid,
            Repr::Inner(i) => i.stat.czxid,
        }
    }

    /// Replaces the stat.
    pub fn set_stat(&mut self, stat: &StatPersisted) {
        match &mut self.0 {
            Repr::Leaf(b) => {
                let v = LeafView::parse(b);
                *b = LeafView::pack(v.name, v.acl, stat, v.data);
            }
            Repr::Inner(i) => i.stat = stat.clone(),
        }
    }

    /// Replaces the ACL index.
    pub fn set_acl(&mut self, acl: i64) {
        match &mut self.0 {
            Repr::Leaf(b) => {
                let v = LeafView::parse(b);
                *b = LeafView::pack(v.name, acl, &v.stat, v.data);
            }
            Repr::Inner(i) => i.acl = acl,
        }
    }

    /// Replaces the data and the stat together.
    pub fn set_data(&mut self, data: Option<&[u8]>, stat: &StatPersisted) {
        match &mut self.0 {
            Repr::Leaf(b) => {
                let v = LeafView::parse(b);
                *b = LeafView::pack(v.name, v.acl, stat, data);
            }
            Repr::Inner(i) => {
                i.data = data.map(Box::from);
                i.stat = stat.clone();
            }
        }
    }

    /// The `Inner`, turning a leaf into one first (so never `None` in
    /// practice).
    fn inner_mut(&mut self) -> Option<&mut Inner> {
        if let Repr::Leaf(b) = &self.0 {
            let v = LeafView::parse(b);
            let inner = Inner {
                children: HashTable::new(),
                epoch: ChildrenEpoch::default(),
                java_capacity: JAVA_CHILDREN_CAPACITY,
                listing: OnceLock::new(),
                descendants: 0,
                last_czxid: 0,
                last_czxid_run: 0,
                same_zxid: None,
                stat: v.stat,
                acl: v.acl,
                name: std::str::from_utf8(v.name).unwrap_or_default().into(),
                data: v.data.map(Box::from),
            };
            self.0 = Repr::Inner(Box::new(inner));
        }
        match &mut self.0 {
            Repr::Inner(i) => Some(i),
            Repr::Leaf(_) => None,
        }
    }

    fn table(&self) -> Option<&HashTable<DataNode>> {
        match &self.0 {
            Repr::Leaf(_) => None,
            Repr::Inner(i) => Some(&i.children),
        }
    }

    /// The nodes below this one, all levels.
    pub fn descendants(&self) -> u64 {
        match &self.0 {
            Repr::Leaf(_) => 0,
            Repr::Inner(i) => i.descendants,
        }
    }

    /// Counts nodes added (`delta` > 0) or removed further down, below a
    /// child: the tree calls it on each node above a parent that changed.
    /// A leaf has nothing below it, so nothing to count.
    pub fn adjust_descendants(&mut self, delta: i64) {
        if let Repr::Inner(i) = &mut self.0 {
            i.descendants = i.descendants.saturating_add_signed(delta);
        }
    }

    pub fn num_children(&self) -> usize {
        self.table().map_or(0, HashTable::len)
    }

    /// The children as getChildren lists them, in Java's order.
    pub fn listing(&self) -> ChildList {
        match &self.0 {
            Repr::Inner(i) => i.listing(),
            Repr::Leaf(_) => ChildList::empty(),
        }
    }

    /// The children, in no particular order.
    pub fn children(&self) -> impl Iterator<Item = &DataNode> {
        self.table().into_iter().flat_map(HashTable::iter)
    }

    /// The names of the children, in no particular order.
    pub fn child_names(&self) -> impl Iterator<Item = &str> {
        self.children().map(DataNode::name)
    }

    /// How many slots the children table has: a listing in pieces
    /// (`child_names_in`) is done when it has passed them all.
    pub fn child_slots(&self) -> usize {
        self.table().map_or(0, HashTable::num_buckets)
    }

    /// The changes to the children table so far, to tell whether a listing
    /// in pieces was disturbed between two pieces.
    pub fn children_epoch(&self) -> ChildrenEpoch {
        match &self.0 {
            Repr::Leaf(_) => ChildrenEpoch::default(),
            Repr::Inner(i) => i.epoch,
        }
    }

    /// The names of the children in the table slots `slots` (a piece of a
    /// listing; slots past the end are ignored), in slot order.
    pub fn child_names_in(&self, slots: std::ops::Range<usize>) -> impl Iterator<Item = &str> {
        self.table().into_iter().flat_map(move |t| slots.clone().filter_map(|i| t.get_bucket(i))).map(DataNode::name)
    }

    pub fn child(&self, name: &str) -> Option<&DataNode> {
        let name = name.as_bytes();
        self.table()?.find(name_hash(name), |c| c.name_bytes() == name)
    }

    pub fn child_mut(&mut self, name: &str) -> Option<&mut DataNode> {
        let Repr::Inner(i) = &mut self.0 else {
            return None;
        };
        let name = name.as_bytes();
        i.children.find_mut(name_hash(name), |c| c.name_bytes() == name)
    }

    pub fn has_child(&self, name: &str) -> bool {
        self.child(name).is_some()
    }

    /// Adds a child under its own name; gives it back if the name is taken.
    pub fn add_child(&mut self, node: DataNode) -> Result<&mut DataNode, DataNode> {
        let Some(inner) = self.inner_mut() else {
            return Err(node);
        };
        let name = node.name_bytes();
        let hash = name_hash(name);
        if inner.children.find(hash, |c| c.name_bytes() == name).is_some() {
            return Err(node);
        }
        inner.child_joins(&node, inner.children.len() + 1);
        inner.note_growth(1);
        Ok(inner.children.insert_unique(hash, node, rehash).into_mut())
    }

    /// Adds many children at once, sizing the table for them (snapshot
    /// loading). On a name that is taken, gives back that child; the
    /// children before it stay added.
    pub fn add_children(&mut self, children: Vec<DataNode>) -> Result<(), DataNode> {
        if children.is_empty() {
            return Ok(());
        }
        let Some(inner) = self.inner_mut() else {
            return children.into_iter().next().map_or(Ok(()), Err);
        };
        inner.note_growth(children.len());
        inner.children.reserve(children.len(), rehash);
        for child in children {
            let name = child.name_bytes();
            let hash = name_hash(name);
            if inner.children.find(hash, |c| c.name_bytes() == name).is_some() {
                return Err(child);
            }
            inner.child_joins(&child, inner.children.len() + 1);
            inner.children.insert_unique(hash, child, rehash);
        }
        Ok(())
    }

    /// Removes a child (with everything below it). The node stays an
    /// `Inner` with an empty table; the table's memory is released.
    pub fn remove_child(&mut self, name: &str) -> Option<DataNode> {
        let Repr::Inner(i) = &mut self.0 else {
            return None;
        };
        let name = name.as_bytes();
        let entry = i.children.find_entry(name_hash(name), |c| c.name_bytes() == name).ok()?;
        let (removed, _) = entry.remove();
        i.child_left(&removed);
        i.epoch.removals = i.epoch.removals.wrapping_add(1);
        if i.children.is_empty() {
            i.children = HashTable::new();
            i.epoch.moves = i.epoch.moves.wrapping_add(1);
        } else if i.children.capacity() > 64 && i.children.len() < i.children.capacity() / 4 {
            i.children.shrink_to_fit(rehash);
            i.epoch.moves = i.epoch.moves.wrapping_add(1);
        }
        Some(removed)
    }

    /// The Stat a client sees. The stored cversion counts child creations;
    /// clients see creations plus deletions, i.e. 2 * cversion - children.
    /// Container and TTL owners read as 0.
    pub fn copy_stat(&self, extended_types_enabled: bool) -> Stat {
        let s = self.stat();
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
    /// `long` acl index, StatPersisted. Name and children are not part of it.
    pub fn serialize(&self, oa: &mut OutputArchive) {
        let (data, acl, stat) = match &self.0 {
            Repr::Leaf(b) => {
                let v = LeafView::parse(b);
                (v.data, v.acl, v.stat)
            }
            Repr::Inner(i) => (i.data.as_deref(), i.acl, i.stat.clone()),
        };
        match data {
            None => oa.write_int(-1),
            Some(d) => oa.write_buffer(d),
        }
        oa.write_long(acl);
        stat.serialize(oa);
    }

    /// Reads a node written by `serialize`; it gets the name "".
    pub fn deserialize(ia: &mut InputArchive<'_>) -> Result<DataNode, JuteError> {
        let data = ia.read_nullable_buffer_ref()?;
        let acl = ia.read_long()?;
        let stat = StatPersisted::deserialize(ia)?;
        Ok(DataNode::new("", data, acl, &stat))
    }
}

impl std::fmt::Debug for DataNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataNode")
            .field("name", &self.name())
            .field("acl", &self.acl())
            .field("stat", &self.stat())
            .field("data_len", &self.data_len())
            .field("num_children", &self.num_children())
            .finish()
    }
}

/// Dropping a deep chain of nodes recursively could overflow the stack, so
/// descendants are unlinked into a work list and dropped one by one, each
/// with an empty table.
impl Drop for Inner {
    fn drop(&mut self) {
        if self.children.is_empty() {
            return;
        }
        let mut pending: Vec<DataNode> = self.children.drain().collect();
        while let Some(mut n) = pending.pop() {
            if let Repr::Inner(i) = &mut n.0 {
                pending.extend(i.children.drain());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ephemeral_type_settings_are_off_unless_set() {
        let s = EphemeralTypeSettings::read(&SystemProperties::of(&[]));
        assert!(!s.extended_types_enabled && !s.emulate_353_ttl_nodes);
        let s = EphemeralTypeSettings::read(&SystemProperties::of(&[("extendedTypesEnabled", "true")]));
        assert!(s.extended_types_enabled);
    }

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

    fn leaf(name: &str) -> DataNode {
        DataNode::new(name, Some(b""), -1, &StatPersisted::default())
    }

    #[test]
    fn stat_and_children() {
        let stat = StatPersisted { czxid: 5, mzxid: 6, pzxid: 7, cversion: 3, ..Default::default() };
        let mut n = DataNode::new("n", Some(b"abc"), 1, &stat);
        assert!(n.add_child(leaf("x")).is_ok());
        assert!(n.add_child(leaf("x")).is_err());
        n.add_child(leaf("y")).unwrap();
        let s = n.copy_stat(false);
        assert_eq!((s.czxid, s.mzxid, s.pzxid), (5, 6, 7));
        assert_eq!(s.num_children, 2);
        assert_eq!(s.cversion, 4);
        assert_eq!(s.data_length, 3);
        // Turning into a node with children kept everything else.
        assert_eq!((n.name(), n.data(), n.acl(), n.stat()), ("n", Some(&b"abc"[..]), 1, stat));
        let mut names: Vec<&str> = n.child_names().collect();
        names.sort();
        assert_eq!(names, ["x", "y"]);
        assert_eq!(n.child("y").map(DataNode::name), Some("y"));
        assert!(n.child("z").is_none() && !n.has_child("z"));
        assert!(n.remove_child("x").is_some());
        assert!(n.remove_child("x").is_none());
        n.remove_child("y");
        assert_eq!(n.num_children(), 0);
        assert_eq!(n.child_names().count(), 0);
        // A leaf has no children to find or remove.
        let mut l = leaf("l");
        assert!(l.child_mut("x").is_none() && l.remove_child("x").is_none());
    }

    /// Orders printed by Java 17's `HashSet<String>(8)` after the same
    /// history (each child's czxid is its arrival).
    #[test]
    fn listing_in_java_order() {
        let mut zxid = 0;
        let mut child = |name: &str| {
            zxid += 1;
            DataNode::new(name, None, -1, &StatPersisted { czxid: zxid, ..Default::default() })
        };
        let mut p = leaf("p");
        for i in 0..30 {
            p.add_child(child(&format!("n{i}"))).unwrap();
        }
        for n in ["n3", "n10", "n17"] {
            p.remove_child(n).unwrap();
        }
        for n in ["n3", "x", "BB", "Aa"] {
            p.add_child(child(n)).unwrap();
        }
        let java = "BB,Aa,n0,n1,n2,n3,n4,n5,n6,n7,n8,n9,n12,n11,n14,n13,n16,n15,n18,n19,n21,n20,n23,n22,n25,n24,n27,n26,n29,n28,x";
        assert_eq!(p.listing().names().join(","), java);
        // Kept while unchanged, rebuilt after a change.
        assert!(Arc::ptr_eq(&p.listing().0, &p.listing().0));
        p.remove_child("x").unwrap();
        assert_eq!(p.listing().names().join(","), java.trim_end_matches(",x"));

        let mut q = leaf("q");
        for n in ["zookeeper", "a", "b", "\u{e9}t\u{e9}", "\u{1F600}"] {
            q.add_child(child(n)).unwrap();
        }
        assert_eq!(q.listing().names().join(","), "\u{1F600},a,b,zookeeper,\u{e9}t\u{e9}");

        // One multi's children share a czxid; Java lists those of one
        // bucket as they arrived ("m9" before "m11" in 32 buckets).
        let mut m = leaf("m");
        for name in ["a", "b"] {
            m.add_child(child(name)).unwrap();
        }
        let multi = StatPersisted { czxid: 1000, ..Default::default() };
        for i in 0..20 {
            m.add_child(DataNode::new(&format!("m{i}"), None, -1, &multi)).unwrap();
        }
        let java = "a,b,m0,m1,m2,m3,m4,m5,m6,m7,m8,m9,m11,m10,m13,m12,m15,m14,m17,m16,m19,m18";
        assert_eq!(m.listing().names().join(","), java);
        m.remove_child("m9").unwrap();
        m.add_child(DataNode::new("m9", None, -1, &StatPersisted { czxid: 1001, ..Default::default() })).unwrap();
        assert_eq!(m.listing().names().join(","), java.replace("m9,", "").replace("m11,", "m11,m9,"));

        // The set never shrinks: 100 children grew it to 256 buckets.
        let mut r = leaf("r");
        r.add_children((0..100).map(|i| child(&format!("child-{i:06}"))).collect()).unwrap();
        for i in 0..90 {
            r.remove_child(&format!("child-{i:06}")).unwrap();
        }
        let java = "child-000093,child-000092,child-000091,child-000090,child-000097,child-000096,child-000095,child-000094,child-000099,child-000098";
        assert_eq!(r.listing().names().join(","), java);
        let l = r.listing();
        assert_eq!((l.len(), l.name_bytes()), (10, 120));
        assert_eq!(leaf("l").listing().as_bytes(), [0, 0, 0, 0]);
    }

    #[test]
    fn descendants_count_subtrees() {
        let mut sub = leaf("s");
        sub.add_children(vec![leaf("x"), leaf("y")]).unwrap();
        sub.child_mut("x").unwrap().add_child(leaf("z")).unwrap();
        // x counted z itself; s hears of it from the tree.
        sub.adjust_descendants(1);
        assert_eq!(sub.descendants(), 3);
        let mut p = leaf("p");
        p.add_child(sub).unwrap();
        p.add_child(leaf("q")).unwrap();
        assert_eq!(p.descendants(), 5);
        p.remove_child("s").unwrap();
        assert_eq!(p.descendants(), 1);
        let mut l = leaf("l");
        l.adjust_descendants(3);
        assert_eq!(l.descendants(), 0);
    }

    #[test]
    fn add_children_sizes_once_and_refuses_a_clash() {
        let mut n = leaf("p");
        n.add_children((0..100).map(|i| leaf(&i.to_string())).collect()).unwrap();
        assert_eq!(n.num_children(), 100);
        let dup = n.add_children(vec![leaf("x"), leaf("7")]).unwrap_err();
        assert_eq!(dup.name(), "7");
        assert!(n.has_child("x"));
        assert!(n.add_children(Vec::new()).is_ok());
    }

    /// Every field of the stat, the ACL index and the data survive packing,
    /// at their usual values and at the edges of their types.
    #[test]
    fn packed_leaves_are_exact() {
        let usual = StatPersisted {
            czxid: 0x1_0000_0005,
            mzxid: 0x1_0000_0005,
            ctime: 1_780_000_000_123,
            mtime: 1_780_000_000_123,
            pzxid: 0x1_0000_0005,
            ..Default::default()
        };
        let edges = StatPersisted {
            czxid: i64::MIN,
            mzxid: i64::MAX,
            ctime: -1,
            mtime: i64::MIN,
            version: i32::MIN,
            cversion: i32::MAX,
            aversion: -1,
            ephemeral_owner: i64::MIN,
            pzxid: 0,
        };
        let session = StatPersisted { ephemeral_owner: 0x1234_5678_9abc, version: 7, ..usual.clone() };
        let big = vec![0xa5; 70_000];
        for stat in [usual, edges, session, StatPersisted::default()] {
            for data in [None, Some(&b""[..]), Some(&b"\x00\x80\xff"[..]), Some(&big[..])] {
                for (name, acl) in [("", -1), ("n", 0), ("\u{e9}\u{1d11e}", i64::MAX), ("long-name-".repeat(20).as_str(), i64::MIN)] {
                    let n = DataNode::new(name, data, acl, &stat);
                    assert_eq!((n.name(), n.data(), n.acl(), n.stat()), (name, data, acl, stat.clone()));
                }
            }
        }
    }

    #[test]
    fn changes_keep_the_rest() {
        let stat = StatPersisted { czxid: 3, mzxid: 3, pzxid: 3, ctime: 9, mtime: 9, ..Default::default() };
        let mut n = DataNode::new("a", Some(b"one"), 2, &stat);
        let mut parent = leaf("p");
        for node in [&mut n, parent.add_child(DataNode::new("c", Some(b"one"), 2, &stat)).unwrap()] {
            let changed = StatPersisted { mzxid: 4, mtime: 10, version: 1, ..stat.clone() };
            node.set_data(Some(b"two!"), &changed);
            assert_eq!((node.data(), node.acl(), node.stat()), (Some(&b"two!"[..]), 2, changed.clone()));
            node.set_acl(5);
            assert_eq!((node.data(), node.acl(), node.stat()), (Some(&b"two!"[..]), 5, changed));
            let again = StatPersisted { aversion: 1, ..stat.clone() };
            node.set_stat(&again);
            assert_eq!((node.data(), node.acl(), node.stat()), (Some(&b"two!"[..]), 5, again));
            node.set_data(None, &stat);
            assert_eq!((node.data(), node.data_len()), (None, 0));
        }
        // A parent turned leaf-to-inner keeps working the same way.
        parent.child_mut("c").unwrap().add_child(leaf("g")).unwrap();
        assert_eq!(parent.child("c").unwrap().data(), None);
    }

    #[test]
    fn serialize_round_trip() {
        let stat = StatPersisted { czxid: 1, ephemeral_owner: 9, ..Default::default() };
        for data in [None, Some(Vec::new()), Some(b"hi".to_vec())] {
            let n = DataNode::new("x", data.as_deref(), 4, &stat);
            let mut oa = OutputArchive::new();
            n.serialize(&mut oa);
            let bytes = oa.into_inner();
            let back = DataNode::deserialize(&mut InputArchive::new(&bytes)).unwrap();
            assert_eq!(back.data().map(<[u8]>::to_vec), data);
            assert_eq!(back.acl(), 4);
            assert_eq!(back.stat(), stat);
            assert_eq!(back.name(), "");
        }
        assert!(DataNode::deserialize(&mut InputArchive::new(&[0, 0, 0, 9])).is_err());
    }

    #[test]
    fn node_stays_small() {
        // The table entry per child: the 1M-znode memory budget rests on it.
        assert_eq!(std::mem::size_of::<DataNode>(), 16);
        // A fresh leaf with 100 bytes of data packs into 117 bytes, which
        // glibc serves from a 128-byte chunk.
        let stat = crate::server::data_tree::create_stat(0x1_0000_0005, 1_780_000_000_123, 0);
        let Repr::Leaf(block) = &DataNode::new("999", Some(&[7; 100]), 1, &stat).0 else {
            panic!("a new node is a leaf");
        };
        assert_eq!(block.len(), 117);
    }

    #[test]
    fn deep_chain_drops_without_recursion() {
        let mut root = leaf("");
        let mut cur = &mut root;
        for _ in 0..200_000 {
            cur = cur.add_child(leaf("a")).unwrap();
        }
        drop(root);
    }
}
