//! Restoring a snapshot's tree (Java's DataTree.deserialize, with the
//! reading side of SerializeUtils and FileSnap): the nodes are read into
//! a tree of their own, parent first, and swapped in whole only once the
//! last one is in, so a snapshot that breaks off changes nothing.
//!
//! Run by whichever thread loads a snapshot: the main thread at start-up,
//! the QuorumPeer thread for a learner's SNAP or TRUNC, the snapshot
//! tools; nothing is shared until the install.

use super::{adjust_ancestors, node_size, resolve, resolve_mut, split_path, DataTree, TreeInner};
use crate::jute::records::StatPersisted;
use crate::jute::{InputArchive, JuteError, Record, StreamInput};
use crate::server::data_node::DataNode;
use crate::server::digest_calculator::calculate_digest;
use crate::server::reference_counted_acl_cache::ReferenceCountedAclCache;
use std::fmt;
use std::io;

/// Why a snapshot's tree could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeLoadError {
    Jute(JuteError),
    /// A node came before its parent.
    MissingParent(String),
    /// A path that is not absolute or has an empty component.
    BadPath(String),
    /// The same path twice.
    Duplicate(String),
    /// No root node at all.
    NoRoot,
}

impl fmt::Display for TreeLoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TreeLoadError::Jute(e) => write!(f, "bad snapshot record: {e}"),
            TreeLoadError::MissingParent(p) => write!(f, "Invalid Datatree, unable to find parent of {p}"),
            TreeLoadError::BadPath(p) => write!(f, "Invalid Datatree, bad path {p:?}"),
            TreeLoadError::Duplicate(p) => write!(f, "Invalid Datatree, {p} appears twice"),
            TreeLoadError::NoRoot => write!(f, "Invalid Datatree, no root node"),
        }
    }
}

impl std::error::Error for TreeLoadError {}

impl From<JuteError> for TreeLoadError {
    fn from(e: JuteError) -> Self {
        TreeLoadError::Jute(e)
    }
}

/// One (path, node) pair of a snapshot, borrowed from the input.
#[derive(Debug, Clone)]
pub struct NodeRecord<'a> {
    /// The root is "".
    pub path: &'a str,
    pub data: Option<&'a [u8]>,
    pub acl: i64,
    pub stat: StatPersisted,
}

/// Reads the next (path, node) pair of a snapshot's tree; `None` at the
/// end marker "/". Reads nothing that outlives `ia`'s input, so a caller
/// that ran out of input can retry from the same position with more.
pub fn read_node_record<'a>(ia: &mut InputArchive<'a>) -> Result<Option<NodeRecord<'a>>, JuteError> {
    let path = ia.read_str_ref()?;
    if path == "/" {
        return Ok(None);
    }
    let data = ia.read_nullable_buffer_ref()?;
    let acl = ia.read_long()?;
    let stat = StatPersisted::deserialize(ia)?;
    Ok(Some(NodeRecord { path, data, acl, stat }))
}

/// The length of a StatPersisted record: czxid, mzxid, ctime, mtime
/// (longs), version, cversion, aversion (ints), ephemeralOwner, pzxid.
const STAT_PERSISTED_LEN: usize = 60;

/// A node of a snapshot being loaded whose subtree is still being read.
struct OpenNode {
    node: DataNode,
    /// Its children read so far; they join it when it closes, in one
    /// table sized for all of them.
    children: Vec<DataNode>,
    /// Length of its path, a prefix of `TreeRestore::open_path`.
    path_len: usize,
}

/// A snapshot being loaded: nodes arrive parent first (the root as path
/// ""), then `DataTree::finish_restore` installs the result. Built by
/// `DataTree::begin_restore`; run by whichever thread loads the snapshot,
/// with nothing shared until the install.
///
/// Snapshots list a node's whole subtree right after it (Java and
/// `DataTree::serialize` write depth first), so the loader keeps the chain
/// of nodes whose subtree is being read as detached, owned nodes: a new
/// node is a child of the innermost one (no walk from the root), and a node
/// joins its parent when a path outside its subtree comes. Any other
/// parent-first order still loads: the open chain is then closed into the
/// tree and the parent looked up from the root.
pub struct TreeRestore {
    inner: TreeInner,
    has_root: bool,
    /// Open nodes, outermost first. The outermost one's parent is already
    /// in the tree.
    open: Vec<OpenNode>,
    /// The innermost open node's path; the other open nodes' paths are its
    /// prefixes.
    open_path: String,
    /// A run of nodes with the same ACL index (index, count), counted in
    /// the ACL table at once.
    acl_run: (i64, i64),
    /// The caller computes the nodes' digests and adds them with
    /// `add_digests` (a snapshot load does it on another core).
    digests_from_caller: bool,
}

impl TreeRestore {
    /// From now on `add` leaves the nodes' digests (`calculate_digest`)
    /// to the caller, who adds their sum with `add_digests`.
    pub fn take_digests_from_caller(&mut self) {
        self.digests_from_caller = true;
    }

    /// Adds the sum of some nodes' digests to the tree digest.
    pub fn add_digests(&mut self, sum: i64) {
        self.inner.digest = self.inner.digest.wrapping_add(sum);
    }

    /// Adds one node as a snapshot holds it.
    pub fn add(&mut self, rec: NodeRecord<'_>) -> Result<(), TreeLoadError> {
        let NodeRecord { path, data, acl, stat } = rec;
        if path.is_empty() {
            if self.has_root {
                return Err(TreeLoadError::Duplicate("/".into()));
            }
            self.inner.root = DataNode::new("", data, acl, &stat);
            self.inner.data_size = node_size("/", data.map_or(0, <[u8]>::len));
            self.has_root = true;
            self.count(path, data, acl, &stat);
            return Ok(());
        }
        if !self.has_root {
            return Err(TreeLoadError::MissingParent(path.into()));
        }
        let Some((parent_path, name)) = split_path(path).filter(|&(p, n)| !n.is_empty() && !p.ends_with('/')) else {
            return Err(TreeLoadError::BadPath(path.into()));
        };
        while let Some(top) = self.open.last() {
            if self.open_path.get(..top.path_len) == Some(parent_path) {
                break;
            }
            self.close_innermost()?;
        }
        if self.open.is_empty() && resolve(&self.inner.root, parent_path).is_none() {
            return Err(TreeLoadError::MissingParent(path.into()));
        }
        self.open.push(OpenNode { node: DataNode::new(name, data, acl, &stat), children: Vec::new(), path_len: path.len() });
        // The innermost open node is the parent, so its path is a prefix.
        self.open_path.clear();
        self.open_path.push_str(path);
        self.inner.node_count += 1;
        self.inner.data_size += node_size(path, data.map_or(0, <[u8]>::len));
        self.inner.track(path, stat.ephemeral_owner);
        self.count(path, data, acl, &stat);
        Ok(())
    }

    /// The bookkeeping every loaded node adds to: digest and ACL uses.
    fn count(&mut self, path: &str, data: Option<&[u8]>, acl: i64, stat: &StatPersisted) {
        let t = &mut self.inner;
        if !self.digests_from_caller {
            t.digest = t.digest.wrapping_add(calculate_digest(t.digest_enabled, path, data, stat));
        }
        if self.acl_run.0 == acl {
            self.acl_run.1 += 1;
        } else {
            let (index, n) = std::mem::replace(&mut self.acl_run, (acl, 1));
            t.acl_cache.add_usages(index, n);
        }
    }

    /// Closes the innermost open node: its children join it, and it joins
    /// its parent (the next open node, or the tree).
    fn close_innermost(&mut self) -> Result<(), TreeLoadError> {
        let Some(done) = self.open.pop() else {
            return Ok(());
        };
        let path = self.open_path.get(..done.path_len).unwrap_or_default();
        let mut node = done.node;
        if let Err(dup) = node.add_children(done.children) {
            return Err(TreeLoadError::Duplicate(format!("{path}/{}", dup.name())));
        }
        if let Some(parent) = self.open.last_mut() {
            parent.children.push(node);
            return Ok(());
        }
        let parent_path = split_path(path).map_or("", |(p, _)| p);
        let parent =
            resolve_mut(&mut self.inner.root, parent_path).ok_or_else(|| TreeLoadError::MissingParent(path.into()))?;
        let added = 1 + node.descendants() as i64;
        parent.add_child(node).map_err(|_| TreeLoadError::Duplicate(path.into()))?;
        adjust_ancestors(&mut self.inner.root, parent_path, added);
        Ok(())
    }

    /// Closes every open node and counts the last ACL run.
    fn close_all(&mut self) -> Result<(), TreeLoadError> {
        while !self.open.is_empty() {
            self.close_innermost()?;
        }
        let (index, n) = std::mem::take(&mut self.acl_run);
        self.inner.acl_cache.add_usages(index, n);
        Ok(())
    }
}

impl DataTree {
    /// Reads what `serialize` (or Java) wrote and replaces the tree with it;
    /// watches are kept. last_processed_zxid is the caller's to set.
    pub fn deserialize(&self, ia: &mut InputArchive<'_>) -> Result<(), TreeLoadError> {
        let mut acl_cache = ReferenceCountedAclCache::new();
        acl_cache.deserialize(ia)?;
        let mut restore = self.begin_restore(acl_cache);
        while let Some(rec) = read_node_record(ia)? {
            restore.add(rec)?;
        }
        self.finish_restore(restore)
    }

    /// DataTree.deserialize from a stream (the snapshot a leader sends
    /// after SNAP): the ACL table, then each node read straight off `input`
    /// into a tree of its own, one record in memory at a time. The result
    /// is installed only by `finish_restore`, so a stream that breaks off
    /// or holds garbage changes nothing.
    pub fn read_stream<R: io::Read>(&self, input: &mut StreamInput<R>) -> io::Result<TreeRestore> {
        let bad = |e: String| io::Error::new(io::ErrorKind::InvalidData, e);
        let acl_cache = ReferenceCountedAclCache::read_stream(input)?;
        let mut restore = self.begin_restore(acl_cache);
        loop {
            let path = input.read_string()?;
            if path == "/" {
                return Ok(restore);
            }
            let data = input.read_nullable_buffer()?;
            let acl = input.read_long()?;
            let stat = input.read_array::<STAT_PERSISTED_LEN>()?;
            let stat = StatPersisted::deserialize(&mut InputArchive::new(&stat)).map_err(|e| bad(e.to_string()))?;
            restore.add(NodeRecord { path: &path, data: data.as_deref(), acl, stat }).map_err(|e| bad(e.to_string()))?;
        }
    }

    /// Starts loading a snapshot whose ACL table has been read into
    /// `acl_cache`; feed nodes with `TreeRestore::add_node`.
    pub fn begin_restore(&self, acl_cache: ReferenceCountedAclCache) -> TreeRestore {
        let (extended, digest) = {
            let cur = self.inner.read();
            (cur.extended_types, cur.digest_enabled)
        };
        let mut inner = TreeInner::with_root(extended, digest);
        inner.acl_cache = acl_cache;
        TreeRestore {
            inner,
            has_root: false,
            open: Vec::new(),
            open_path: String::new(),
            acl_run: (0, 0),
            digests_from_caller: false,
        }
    }

    /// Installs a loaded snapshot: rebuilds the quota trie and stats, drops
    /// ACL lists no node uses, and swaps the tree in.
    pub fn finish_restore(&self, mut restore: TreeRestore) -> Result<(), TreeLoadError> {
        if !restore.has_root {
            return Err(TreeLoadError::NoRoot);
        }
        restore.close_all()?;
        let mut inner = restore.inner;
        inner.setup_quota();
        inner.acl_cache.purge_unused();
        *self.inner.write() = inner;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::data_tree::tests::*;
    use crate::jute::records::{Acl, Id, StatPersisted};
    use crate::jute::txn::{CreateContainerTxn, CreateTtlTxn, SetAclTxn, TxnBody};
    use crate::jute::{InputArchive, OutputArchive};
    use crate::server::data_node::DataNode;
    use crate::server::data_tree::create_stat;
    
    use crate::server::reference_counted_acl_cache::ReferenceCountedAclCache;
    
    
    
    use crate::zoo_defs::{ids, op_code, perms};
    
    

    #[test]
    fn deep_trees_do_not_recurse() {
        let t = DataTree::new();
        let mut path = String::new();
        for i in 0..3_000 {
            path.push_str("/d");
            create(&t, &path, 1 + i);
        }
        assert_eq!(t.get_all_children_number("/d"), 2_999);
        let mut bytes = Vec::new();
        t.serialize(&mut bytes).unwrap();
        let back = DataTree::new();
        back.deserialize(&mut InputArchive::new(&bytes)).unwrap();
        assert_eq!(back.node_count(), t.node_count());
        assert!(back.node_info(&path).is_some());
    }

    fn sample_tree() -> DataTree {
        let t = DataTree::with_settings(true, true);
        create(&t, "/a", 1);
        set_data(&t, "/a", b"data-a", 1, 2);
        let mut c = create_txn("/a/eph", b"e", true, -1);
        c.acl = vec![Acl { perms: perms::READ, id: Id::new("ip", "10.0.0.1") }];
        t.process_txn(&hdr(op_code::CREATE, 3), Some(&TxnBody::Create(c)));
        let mut n = create_txn("/a/null", b"", false, -1);
        n.data = None;
        t.process_txn(&hdr(op_code::CREATE, 4), Some(&TxnBody::Create(n)));
        let body = TxnBody::CreateContainer(CreateContainerTxn {
            path: "/box".into(),
            data: None,
            acl: ids::open_acl_unsafe(),
            parent_c_version: -1,
        });
        t.process_txn(&hdr(op_code::CREATE_CONTAINER, 5), Some(&body));
        let body = TxnBody::CreateTtl(CreateTtlTxn {
            path: "/box/ttl".into(),
            data: None,
            acl: ids::open_acl_unsafe(),
            parent_c_version: -1,
            ttl: 100,
        });
        t.process_txn(&hdr(op_code::CREATE_TTL, 6), Some(&body));
        create(&t, "/zookeeper/quota/a", 7);
        for (name, data) in [("zookeeper_limits", "count=5,bytes=-1"), ("zookeeper_stats", "count=0,bytes=0")] {
            let c = create_txn(&format!("/zookeeper/quota/a/{name}"), data.as_bytes(), false, -1);
            t.process_txn(&hdr(op_code::CREATE, 8), Some(&TxnBody::Create(c)));
        }
        // An ACL list no node uses any more.
        create(&t, "/gone", 9);
        let body = TxnBody::SetAcl(SetAclTxn { path: "/gone".into(), acl: ids::read_acl_unsafe(), version: 1 });
        t.process_txn(&hdr(op_code::SET_ACL, 10), Some(&body));
        delete(&t, "/gone", 11);
        t
    }

    fn all_paths(t: &DataTree) -> Vec<String> {
        let mut out = vec!["/".to_string()];
        let mut i = 0;
        while i < out.len() {
            let p = out[i].clone();
            for c in t.get_children(&p, None).unwrap().0.names() {
                out.push(if p == "/" { format!("/{c}") } else { format!("{p}/{c}") });
            }
            i += 1;
        }
        out.sort();
        out
    }

    #[test]
    fn snapshot_round_trip() {
        let t = sample_tree();
        let mut bytes = Vec::new();
        t.serialize(&mut bytes).unwrap();
        // The ACL table comes first, then the root under the path "".
        let mut ia = InputArchive::new(&bytes);
        let mut acls = ReferenceCountedAclCache::new();
        acls.deserialize(&mut ia).unwrap();
        assert_eq!(acls.size(), 3);
        assert_eq!(ia.read_string().unwrap(), "");
        assert!(bytes.ends_with(&[0, 0, 0, 1, b'/']));

        let back = DataTree::with_settings(true, true);
        back.deserialize(&mut InputArchive::new(&bytes)).unwrap();
        assert_eq!(all_paths(&back), all_paths(&t));
        for p in all_paths(&t) {
            assert_eq!(back.get_data(&p, None), t.get_data(&p, None), "{p}");
            assert_eq!(back.get_acl(&p), t.get_acl(&p), "{p}");
        }
        assert_eq!(back.node_count(), t.node_count());
        assert_eq!(back.approximate_data_size(), t.approximate_data_size());
        assert_eq!(back.ephemerals_by_session(), [(SESSION, vec!["/a/eph".to_string()])].into());
        assert_eq!(back.containers(), ["/box"]);
        assert_eq!(back.ttls(), ["/box/ttl"]);
        assert_eq!(back.max_prefix_with_quota("/a/x").as_deref(), Some("/a"));
        let stats = back.get_data("/zookeeper/quota/a/zookeeper_stats", None).unwrap().0.unwrap();
        assert_eq!(stats, b"count=3,bytes=7");
        // The unused read-only list was purged; the rest keep their indexes.
        assert_eq!(back.acl_cache_size(), 3);
        // And the loaded tree writes out the same content.
        let mut again = Vec::new();
        back.serialize(&mut again).unwrap();
        assert_eq!(again.len(), bytes.len());
    }

    #[test]
    fn bad_snapshots_are_refused() {
        let t = DataTree::new();
        let node_bytes = |path: &str| {
            let mut oa = OutputArchive::new();
            oa.write_string(path);
            DataNode::new("", None, 0, &StatPersisted::default()).serialize(&mut oa);
            oa.into_inner()
        };
        let snapshot = |paths: &[&str]| {
            let mut oa = OutputArchive::new();
            oa.write_int(0);
            let mut v = oa.into_inner();
            for p in paths {
                v.extend(node_bytes(p));
            }
            let mut end = OutputArchive::new();
            end.write_string("/");
            v.extend(end.into_inner());
            v
        };
        let load = |b: &[u8]| t.deserialize(&mut InputArchive::new(b));
        assert_eq!(load(&snapshot(&[])), Err(TreeLoadError::NoRoot));
        assert_eq!(load(&snapshot(&["/a"])), Err(TreeLoadError::MissingParent("/a".into())));
        assert_eq!(load(&snapshot(&["", "/a/b"])), Err(TreeLoadError::MissingParent("/a/b".into())));
        assert_eq!(load(&snapshot(&["", "/a", "/a"])), Err(TreeLoadError::Duplicate("/a".into())));
        assert_eq!(load(&snapshot(&["", ""])), Err(TreeLoadError::Duplicate("/".into())));
        assert_eq!(load(&snapshot(&["", "x"])), Err(TreeLoadError::BadPath("x".into())));
        assert_eq!(load(&snapshot(&["", "/a/"])), Err(TreeLoadError::BadPath("/a/".into())));
        let full = snapshot(&["", "/a"]);
        assert!(matches!(load(&full[..full.len() - 3]), Err(TreeLoadError::Jute(_))));
        // Failed loads leave the tree alone.
        assert_eq!(t.node_count(), 5);
        load(&full).unwrap();
        assert_eq!(t.node_count(), 3);
        assert_eq!(all_paths(&t), ["/", "/a"]);
    }

    #[test]
    fn restore_takes_any_parent_first_order() {
        let node = |oa: &mut OutputArchive, path: &str, zxid: i64| {
            oa.write_string(path);
            let stat = create_stat(zxid, zxid * 10, 0);
            DataNode::new("", Some(path.as_bytes()), -1, &stat).serialize(oa);
        };
        let snapshot = |paths: &[&str]| {
            let mut oa = OutputArchive::new();
            oa.write_int(0);
            for (i, p) in paths.iter().enumerate() {
                node(&mut oa, p, i as i64 + 1);
            }
            oa.write_string("/");
            oa.into_inner()
        };
        // Breadth first, and back into a subtree closed long before.
        let order = ["", "/a", "/b", "/a/1", "/b/1", "/a/2", "/a/1/z", "/c", "/b/1/q", "/a/1/y"];
        let t = DataTree::new();
        t.deserialize(&mut InputArchive::new(&snapshot(&order))).unwrap();
        let mut want: Vec<String> = order.iter().map(|p| if p.is_empty() { "/".into() } else { p.to_string() }).collect();
        want.sort();
        assert_eq!(all_paths(&t), want);
        for (i, p) in order.iter().enumerate().skip(1) {
            let (data, stat) = t.get_data(p, None).unwrap();
            assert_eq!((data.as_deref(), stat.czxid), (Some(p.as_bytes()), i as i64 + 1));
        }
        assert_eq!(t.get_all_children_number("/a"), 4);
        assert_eq!(digest_is_consistent(&t), t.tree_digest());
        // Clashes are found however far apart the two are.
        let load = |paths: &[&str]| DataTree::new().deserialize(&mut InputArchive::new(&snapshot(paths)));
        assert_eq!(load(&["", "/a", "/b", "/a"]), Err(TreeLoadError::Duplicate("/a".into())));
        assert_eq!(load(&["", "/a", "/a/1", "/b", "/a/1"]), Err(TreeLoadError::Duplicate("/a/1".into())));
        assert_eq!(load(&["", "/a", "/a/1", "/a/1/k", "/a/2", "/a/1"]), Err(TreeLoadError::Duplicate("/a/1".into())));
        assert_eq!(load(&["", "/a", "/b", "/a/1", "/c/1"]), Err(TreeLoadError::MissingParent("/c/1".into())));
    }
}
