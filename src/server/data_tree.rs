//! DataTree: the in-memory znode tree every server role keeps, with the
//! bookkeeping around it (ACL table, ephemerals per session, container and
//! TTL nodes, quota usage) and the two watch tables.
//!
//! Txns are applied by the single thread that runs FinalRequestProcessor
//! (or the snapshot/log loader at start-up); reads come from the request
//! threads. The tree sits behind one `RwLock`: reads share it, a txn holds
//! it exclusively while it changes the tree, and the watch events the txn
//! caused are delivered after it is released. Watches set by reads are
//! registered while the read lock is still held, so a change cannot slip
//! between the read and its watch.
//!
//! Nodes own their children by name (see DataNode), so a lookup walks the
//! path one component at a time and no full path is stored per node.

use crate::common::java_hash_order::JavaHashSet;
use crate::common::path_trie::PathTrie;
use crate::jute::records::{Acl, Stat, StatPersisted};
use crate::jute::txn::{MultiTxn, TxnBody, TxnHeader};
use crate::jute::{InputArchive, JuteError, OutputArchive, Record, StreamInput};
use crate::server::data_node::{DataNode, EphemeralType};
use crate::server::digest_calculator::{calculate_digest, NodeDigester, DIGEST_VERSION};
use crate::server::quotas::{self, StatsTrack};
use crate::server::reference_counted_acl_cache::{ReferenceCountedAclCache, OPEN_UNSAFE_ACL_ID};
use crate::server::watch_manager::{WatchManager, WatcherMode, WatchesSummary};
use crate::server::watcher::{WatchedEvent, Watcher};
use crate::server::zoo_defs::{code, event_type, ids, op_code, watcher_type};
use crate::jute::txn::TxnDigest;
use parking_lot::{Mutex, RwLock};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use tracing::{error, warn};

/// The node holding the ensemble's dynamic configuration (ZooDefs.CONFIG_NODE).
pub const CONFIG_NODE: &str = "/zookeeper/config";

/// What applying one txn did (Java's DataTree.ProcessTxnResult).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessTxnResult {
    pub client_id: i64,
    pub cxid: i32,
    pub zxid: i64,
    /// `code::*`; OK on success.
    pub err: i32,
    /// The header's type (`op_code::*`).
    pub op_type: i32,
    /// The created path for creates, else the request path ("" when none).
    pub path: String,
    /// The node's Stat after create2/createTTL/createContainer, setData and
    /// setACL.
    pub stat: Option<Stat>,
    /// One result per sub-txn of a multi.
    pub multi_result: Vec<ProcessTxnResult>,
}

/// What PrepRequestProcessor needs of a node (a copy, taken under the lock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub stat: StatPersisted,
    pub num_children: i32,
    pub acl: Vec<Acl>,
    /// Length of the node's data (0 for null data), for the quota check.
    pub data_len: usize,
}

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

/// A watch event decided under the tree lock, delivered after it, with the
/// ACL of the node it is about (the parent's for ChildrenChanged, the gone
/// node's for Deleted): only watchers that may READ that node hear of it.
enum Change {
    Created(String, Arc<Vec<Acl>>),
    Deleted(String, Arc<Vec<Acl>>),
    DataChanged(String, Arc<Vec<Acl>>),
    ChildrenChanged(String, Arc<Vec<Acl>>),
}

/// Resolves a path ("" and "/" both name the root, as in Java's node map).
fn resolve<'a>(root: &'a DataNode, path: &str) -> Option<&'a DataNode> {
    if path.is_empty() || path == "/" {
        return Some(root);
    }
    let mut node = root;
    for name in path.strip_prefix('/')?.split('/') {
        if name.is_empty() {
            return None;
        }
        node = node.child(name)?;
    }
    Some(node)
}

fn resolve_mut<'a>(root: &'a mut DataNode, path: &str) -> Option<&'a mut DataNode> {
    if path.is_empty() || path == "/" {
        return Some(root);
    }
    let mut node = root;
    for name in path.strip_prefix('/')?.split('/') {
        if name.is_empty() {
            return None;
        }
        node = node.child_mut(name)?;
    }
    Some(node)
}

/// (parent, last component) split at the last '/'; the root's children
/// have parent "". `None` when the parent part is not a well-formed path
/// (relative, or ending in '/' as in "//x"), which would otherwise resolve
/// to the wrong node.
fn split_path(path: &str) -> Option<(&str, &str)> {
    let i = path.rfind('/')?;
    let parent = &path[..i];
    if parent.ends_with('/') || !(parent.is_empty() || parent.starts_with('/')) {
        return None;
    }
    Some((parent, &path[i + 1..]))
}

/// The path child watches on a parent are registered under.
fn watch_path(parent: &str) -> &str {
    if parent.is_empty() {
        "/"
    } else {
        parent
    }
}

/// Java's per-node share of approximateDataSize: the path's length in
/// UTF-16 units (Java's String.length) plus the data length.
fn node_size(path: &str, data_len: usize) -> i64 {
    let path_len = if path.is_ascii() { path.len() } else { path.encode_utf16().count() };
    (path_len + data_len) as i64
}

/// DataTree.createStat: the stat of a node created by txn `zxid`.
pub fn create_stat(zxid: i64, time: i64, ephemeral_owner: i64) -> StatPersisted {
    StatPersisted {
        czxid: zxid,
        mzxid: zxid,
        ctime: time,
        mtime: time,
        version: 0,
        cversion: 0,
        aversion: 0,
        ephemeral_owner,
        pzxid: zxid,
    }
}

/// Number of nodes and data bytes in the subtree at `node` (itself included).
fn subtree_counts(node: &DataNode) -> (i64, i64) {
    let (mut count, mut bytes) = (0i64, 0i64);
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        count += 1;
        bytes += n.data_len() as i64;
        stack.extend(n.children());
    }
    (count, bytes)
}

/// The names of a node's children, packed into one string (snapshot
/// writing lists them per node; one allocation instead of one per name).
struct ChildNames {
    text: String,
    ends: Vec<usize>,
}

impl ChildNames {
    fn of(node: &DataNode) -> ChildNames {
        let mut names = ChildNames { text: String::new(), ends: Vec::with_capacity(node.num_children()) };
        for name in node.child_names() {
            names.text.push_str(name);
            names.ends.push(names.text.len());
        }
        names
    }

    /// Moves the last name onto the end of `out`; false when none is left.
    fn pop_onto(&mut self, out: &mut String) -> bool {
        let Some(end) = self.ends.pop() else {
            return false;
        };
        let start = self.ends.last().copied().unwrap_or(0);
        out.push_str(self.text.get(start..end).unwrap_or_default());
        self.text.truncate(start);
        true
    }
}

/// Everything behind the tree lock.
struct TreeInner {
    root: DataNode,
    /// Real nodes, the root included.
    node_count: usize,
    /// Sum of path length + data length over all nodes.
    data_size: i64,
    acl_cache: ReferenceCountedAclCache,
    /// Session id -> its ephemeral paths. As in Java, a session's set stays
    /// (possibly empty) until its closeSession; it iterates in the order
    /// Java's would (getEphemerals replies, closeSession txns).
    ephemerals: HashMap<i64, JavaHashSet>,
    containers: HashSet<Box<str>>,
    ttls: HashSet<Box<str>>,
    /// The paths that carry a quota.
    quota_trie: PathTrie,
    /// zookeeper.extendedTypesEnabled (TTL nodes).
    extended_types: bool,
    /// zookeeper.digest.enabled.
    digest_enabled: bool,
    /// The tree digest: wrapping sum of every node's digest (AdHash).
    digest: i64,
}

/// A node's digest as the tree holds it.
fn node_digest(enabled: bool, path: &str, node: &DataNode) -> i64 {
    calculate_digest(enabled, path, node.data(), &node.stat())
}

impl TreeInner {
    /// The ACL a watch event about a node is checked against: the node's
    /// list, or one granting nothing for an index missing from the table
    /// (a damaged snapshot).
    fn event_acl(&self, index: i64) -> Arc<Vec<Acl>> {
        self.acl_cache.shared(index).unwrap_or_else(|| Arc::new(vec![Acl { perms: 0, id: ids::anyone_id_unsafe() }]))
    }

    /// A tree holding only a root (empty data, open ACL).
    fn with_root(extended_types: bool, digest_enabled: bool) -> TreeInner {
        TreeInner {
            root: DataNode::new("", Some(&[]), OPEN_UNSAFE_ACL_ID, &StatPersisted::default()),
            node_count: 1,
            data_size: node_size("/", 0),
            acl_cache: ReferenceCountedAclCache::new(),
            ephemerals: HashMap::new(),
            containers: HashSet::new(),
            ttls: HashSet::new(),
            quota_trie: PathTrie::new(),
            extended_types,
            digest_enabled,
            digest: 0,
        }
    }

    /// The tree a fresh Java 3.8 server starts with: "/", "/zookeeper",
    /// "/zookeeper/quota" and "/zookeeper/config", all with empty data and
    /// zeroed stats; config is read-only for everyone, with aversion -1.
    fn initial(extended_types: bool, digest_enabled: bool) -> TreeInner {
        let mut t = TreeInner::with_root(extended_types, digest_enabled);
        let zeroed = StatPersisted::default();
        let empty = |name: &str| DataNode::new(name, Some(&[]), OPEN_UNSAFE_ACL_ID, &zeroed);
        let config_acl = t.acl_cache.convert_acls(&ids::read_acl_unsafe());
        let config = DataNode::new("config", Some(&[]), config_acl, &StatPersisted { aversion: -1, ..zeroed.clone() });
        let mut proc_node = empty("zookeeper");
        // Fresh nodes under a fresh parent: the names cannot clash.
        let _ = proc_node.add_child(empty("quota"));
        let _ = proc_node.add_child(config);
        let _ = t.root.add_child(proc_node);
        t.node_count += 3;
        t.data_size +=
            node_size(quotas::PROC_ZOOKEEPER, 0) + node_size(quotas::QUOTA_ZOOKEEPER, 0) + node_size(CONFIG_NODE, 0);
        t.digest = t.full_digest();
        t
    }

    /// The tree digest computed from scratch (the incremental one must
    /// always equal it).
    fn full_digest(&self) -> i64 {
        let mut sum = 0i64;
        let mut stack = vec![(String::new(), &self.root)];
        while let Some((path, node)) = stack.pop() {
            sum = sum.wrapping_add(node_digest(self.digest_enabled, &path, node));
            for child in node.children() {
                stack.push((format!("{path}/{}", child.name()), child));
            }
        }
        sum
    }

    /// Replaces digest `old` with `new` in the tree digest.
    fn swap_digest(&mut self, old: i64, new: i64) {
        self.digest = self.digest.wrapping_sub(old).wrapping_add(new);
    }

    fn ephemeral_type(&self, owner: i64) -> EphemeralType {
        EphemeralType::get(owner, self.extended_types)
    }

    fn track(&mut self, path: &str, owner: i64) {
        match self.ephemeral_type(owner) {
            EphemeralType::Container => {
                self.containers.insert(path.into());
            }
            EphemeralType::Ttl => {
                self.ttls.insert(path.into());
            }
            EphemeralType::Normal => {
                self.ephemerals.entry(owner).or_default().insert(path);
            }
            EphemeralType::Void => {}
        }
    }

    fn untrack(&mut self, path: &str, owner: i64) {
        match self.ephemeral_type(owner) {
            EphemeralType::Container => {
                self.containers.remove(path);
            }
            EphemeralType::Ttl => {
                self.ttls.remove(path);
            }
            EphemeralType::Normal => {
                if let Some(set) = self.ephemerals.get_mut(&owner) {
                    set.remove(path);
                }
            }
            EphemeralType::Void => {}
        }
    }

    /// The deepest path with a quota above or at `path`, if any.
    fn max_prefix_with_quota(&self, path: &str) -> Option<String> {
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
    fn update_quota_stat(&mut self, prefix: &str, bytes_diff: i64, count_diff: i64) {
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
    fn update_quota_for_path(&mut self, path: &str) {
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
    fn setup_quota(&mut self) {
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

    #[allow(clippy::too_many_arguments)]
    fn create_node(
        &mut self,
        path: &str,
        data: Option<&[u8]>,
        acl: &[Acl],
        ephemeral_owner: i64,
        parent_cversion: i32,
        zxid: i64,
        time: i64,
        changes: &mut Vec<Change>,
    ) -> Result<Stat, i32> {
        let (parent_path, name) = split_path(path).ok_or(code::NO_NODE)?;
        if name.is_empty() {
            return Err(if path == "/" { code::NODE_EXISTS } else { code::NO_NODE });
        }
        let parent = resolve_mut(&mut self.root, parent_path).ok_or(code::NO_NODE)?;
        let parent_acl = parent.acl();
        // Java counts the ACL before looking for a clash (so a replayed
        // create that fails still holds a reference); done the same way so
        // the ACL indexes handed out match Java's.
        let acl_index = self.acl_cache.convert_acls(acl);
        if parent.has_child(name) {
            return Err(code::NODE_EXISTS);
        }
        let enabled = self.digest_enabled;
        let parent_before = node_digest(enabled, parent_path, parent);
        let node = DataNode::new(name, data, acl_index, &create_stat(zxid, time, ephemeral_owner));
        let child_digest = node_digest(enabled, path, &node);
        let extended = self.extended_types;
        let stat = match parent.add_child(node) {
            Ok(child) => child.copy_stat(extended),
            Err(_) => return Err(code::NODE_EXISTS),
        };
        // The parent's stat changes after the child is in: a parent is
        // never a packed leaf, so this is cheap.
        let mut parent_stat = parent.stat();
        let cversion = if parent_cversion == -1 { parent_stat.cversion.wrapping_add(1) } else { parent_cversion };
        // A replayed create must not move cversion/pzxid backwards.
        if cversion > parent_stat.cversion {
            parent_stat.cversion = cversion;
            parent_stat.pzxid = zxid;
            parent.set_stat(&parent_stat);
        }
        let parent_after = node_digest(enabled, parent_path, parent);
        self.swap_digest(parent_before, parent_after.wrapping_add(child_digest));
        let data_len = data.map_or(0, <[u8]>::len);
        self.node_count += 1;
        self.data_size += node_size(path, data_len);
        self.track(path, ephemeral_owner);

        if parent_path.starts_with(quotas::QUOTA_ZOOKEEPER) {
            if let Some(real) = quotas::trim_quota_path(parent_path) {
                if name == quotas::LIMIT_NODE {
                    self.quota_trie.add_path(real);
                }
                if name == quotas::STAT_NODE {
                    self.update_quota_for_path(real);
                }
            }
        }
        if let Some(prefix) = self.max_prefix_with_quota(path) {
            self.update_quota_stat(&prefix, data_len as i64, 1);
        }
        changes.push(Change::Created(path.to_string(), self.event_acl(acl_index)));
        changes.push(Change::ChildrenChanged(watch_path(parent_path).to_string(), self.event_acl(parent_acl)));
        Ok(stat)
    }

    fn delete_node(&mut self, path: &str, zxid: i64, changes: &mut Vec<Change>) -> Result<(), i32> {
        let (parent_path, name) = split_path(path).ok_or(code::NO_NODE)?;
        if name.is_empty() {
            return Err(if path == "/" { code::BAD_ARGUMENTS } else { code::NO_NODE });
        }
        let parent = resolve_mut(&mut self.root, parent_path).ok_or(code::NO_NODE)?;
        let parent_acl = parent.acl();
        // Prep never lets a node with children be deleted; refuse rather
        // than drop a whole subtree behind the bookkeeping's back.
        if parent.child(name).is_some_and(|c| c.num_children() > 0) {
            return Err(code::NOT_EMPTY);
        }
        let enabled = self.digest_enabled;
        let parent_before = node_digest(enabled, parent_path, parent);
        let removed = parent.remove_child(name);
        // The parent's pzxid moves even when the child is already gone (a
        // replay over a fuzzy snapshot), but never backwards.
        let mut parent_stat = parent.stat();
        if zxid > parent_stat.pzxid {
            parent_stat.pzxid = zxid;
            parent.set_stat(&parent_stat);
        }
        let parent_after = node_digest(enabled, parent_path, parent);
        self.swap_digest(parent_before, parent_after);
        let node = removed.ok_or(code::NO_NODE)?;
        self.swap_digest(node_digest(enabled, path, &node), 0);
        let node_acl = self.event_acl(node.acl());
        self.acl_cache.remove_usage(node.acl());
        self.node_count -= 1;
        self.data_size -= node_size(path, node.data_len());
        self.untrack(path, node.stat().ephemeral_owner);

        if parent_path.starts_with(quotas::PROC_ZOOKEEPER) && name == quotas::LIMIT_NODE {
            if let Some(real) = quotas::trim_quota_path(parent_path) {
                self.quota_trie.delete_path(real);
            }
        }
        if let Some(prefix) = self.max_prefix_with_quota(path) {
            self.update_quota_stat(&prefix, -(node.data_len() as i64), -1);
        }
        changes.push(Change::Deleted(path.to_string(), node_acl));
        changes.push(Change::ChildrenChanged(watch_path(parent_path).to_string(), self.event_acl(parent_acl)));
        Ok(())
    }

    fn set_data(
        &mut self,
        path: &str,
        data: Option<&[u8]>,
        version: i32,
        zxid: i64,
        time: i64,
        changes: &mut Vec<Change>,
    ) -> Result<Stat, i32> {
        let node = resolve_mut(&mut self.root, path).ok_or(code::NO_NODE)?;
        let acl_index = node.acl();
        let old_len = node.data_len() as i64;
        let before = node_digest(self.digest_enabled, path, node);
        let mut stat = node.stat();
        stat.mtime = time;
        stat.mzxid = zxid;
        stat.version = version;
        node.set_data(data, &stat);
        let after = node_digest(self.digest_enabled, path, node);
        let stat = node.copy_stat(self.extended_types);
        self.swap_digest(before, after);
        let new_len = data.map_or(0, <[u8]>::len) as i64;
        if let Some(prefix) = self.max_prefix_with_quota(path) {
            self.update_quota_stat(&prefix, new_len - old_len, 0);
        }
        self.data_size += new_len - old_len;
        changes.push(Change::DataChanged(path.to_string(), self.event_acl(acl_index)));
        Ok(stat)
    }

    fn set_acl(&mut self, path: &str, acl: &[Acl], version: i32) -> Result<Stat, i32> {
        let node = resolve_mut(&mut self.root, path).ok_or(code::NO_NODE)?;
        // Release first, then convert, as Java does: re-setting a node's
        // only use of a list gives it a fresh index.
        self.acl_cache.remove_usage(node.acl());
        let before = node_digest(self.digest_enabled, path, node);
        let mut stat = node.stat();
        stat.aversion = version;
        node.set_stat(&stat);
        node.set_acl(self.acl_cache.convert_acls(acl));
        let after = node_digest(self.digest_enabled, path, node);
        let stat = node.copy_stat(self.extended_types);
        self.swap_digest(before, after);
        Ok(stat)
    }

    /// Raises a node's cversion (and sets its pzxid) when `new_cversion`
    /// is higher; -1 means one more than now. A trailing '/' is ignored.
    fn set_cversion_pzxid(&mut self, path: &str, new_cversion: i32, zxid: i64) -> Result<(), i32> {
        let path = path.strip_suffix('/').unwrap_or(path);
        let node = resolve_mut(&mut self.root, path).ok_or(code::NO_NODE)?;
        let mut stat = node.stat();
        let cversion = if new_cversion == -1 { stat.cversion.wrapping_add(1) } else { new_cversion };
        if cversion > stat.cversion {
            let before = node_digest(self.digest_enabled, path, node);
            stat.cversion = cversion;
            stat.pzxid = zxid;
            node.set_stat(&stat);
            let after = node_digest(self.digest_enabled, path, node);
            self.swap_digest(before, after);
        }
        Ok(())
    }

    /// Deletes a closed session's ephemerals: the paths its closeSession
    /// txn names (whoever owns them), then whatever else the tree still
    /// lists for the session.
    fn kill_session(&mut self, session: i64, zxid: i64, in_txn: Option<&[String]>, changes: &mut Vec<Change>) {
        let local = self.ephemerals.remove(&session);
        for path in in_txn.unwrap_or_default() {
            self.delete_ephemeral(session, path, zxid, changes);
        }
        let Some(mut local) = local else {
            return;
        };
        if let Some(paths) = in_txn {
            for p in paths {
                local.remove(p.as_str());
            }
            if !local.is_empty() {
                warn!(
                    "Unexpected extra paths under session 0x{session:x} which are not in txn 0x{zxid:x}: {:?}",
                    local.ordered()
                );
            }
        }
        let rest: Vec<String> = local.ordered().into_iter().map(str::to_string).collect();
        for path in rest {
            self.delete_ephemeral(session, &path, zxid, changes);
        }
    }

    fn delete_ephemeral(&mut self, session: i64, path: &str, zxid: i64, changes: &mut Vec<Change>) {
        if let Err(e) = self.delete_node(path, zxid, changes) {
            warn!("Ignoring error {e} for path {path} while removing ephemeral for dead session 0x{session:x}");
        }
    }

    /// Applies one txn (see `DataTree::process_txn`).
    fn apply(&mut self, hdr: &TxnHeader, txn: Option<&TxnBody>, changes: &mut Vec<Change>) -> ProcessTxnResult {
        let mut rc = ProcessTxnResult {
            client_id: hdr.client_id,
            cxid: hdr.cxid,
            zxid: hdr.zxid,
            err: code::OK,
            op_type: hdr.r#type,
            ..Default::default()
        };
        let (zxid, time) = (hdr.zxid, hdr.time);
        let outcome: Result<(), i32> = match (hdr.r#type, txn) {
            (op_code::CREATE | op_code::CREATE2, Some(TxnBody::Create(t))) => {
                rc.path = t.path.clone();
                let owner = if t.ephemeral { hdr.client_id } else { 0 };
                self.create_node(&t.path, t.data.as_deref(), &t.acl, owner, t.parent_c_version, zxid, time, changes)
                    .map(|stat| {
                        if hdr.r#type == op_code::CREATE2 {
                            rc.stat = Some(stat);
                        }
                    })
            }
            (op_code::CREATE_TTL, Some(TxnBody::CreateTtl(t))) => {
                rc.path = t.path.clone();
                match EphemeralType::ttl_to_ephemeral_owner(t.ttl) {
                    Some(owner) => self
                        .create_node(&t.path, t.data.as_deref(), &t.acl, owner, t.parent_c_version, zxid, time, changes)
                        .map(|stat| rc.stat = Some(stat)),
                    None => Err(code::BAD_ARGUMENTS),
                }
            }
            (op_code::CREATE_CONTAINER, Some(TxnBody::CreateContainer(t))) => {
                rc.path = t.path.clone();
                let owner = EphemeralType::CONTAINER_EPHEMERAL_OWNER;
                self.create_node(&t.path, t.data.as_deref(), &t.acl, owner, t.parent_c_version, zxid, time, changes)
                    .map(|stat| rc.stat = Some(stat))
            }
            (op_code::DELETE | op_code::DELETE_CONTAINER, Some(TxnBody::Delete(t))) => {
                rc.path = t.path.clone();
                self.delete_node(&t.path, zxid, changes)
            }
            (op_code::SET_DATA | op_code::RECONFIG, Some(TxnBody::SetData(t))) => {
                rc.path = t.path.clone();
                self.set_data(&t.path, t.data.as_deref(), t.version, zxid, time, changes)
                    .map(|stat| rc.stat = Some(stat))
            }
            (op_code::SET_ACL, Some(TxnBody::SetAcl(t))) => {
                rc.path = t.path.clone();
                self.set_acl(&t.path, &t.acl, t.version).map(|stat| rc.stat = Some(stat))
            }
            (op_code::CLOSE_SESSION, None) => {
                self.kill_session(hdr.client_id, zxid, None, changes);
                Ok(())
            }
            (op_code::CLOSE_SESSION, Some(TxnBody::CloseSession(t))) => {
                self.kill_session(hdr.client_id, zxid, Some(&t.paths2_delete), changes);
                Ok(())
            }
            (op_code::ERROR, Some(TxnBody::Error(t))) => {
                rc.err = t.err;
                Ok(())
            }
            (op_code::CHECK, Some(TxnBody::Check(t))) => {
                rc.path = t.path.clone();
                Ok(())
            }
            (op_code::MULTI, Some(TxnBody::Multi(m))) => {
                self.apply_multi(hdr, m, &mut rc, changes);
                Ok(())
            }
            (
                op_code::CREATE
                | op_code::CREATE2
                | op_code::CREATE_TTL
                | op_code::CREATE_CONTAINER
                | op_code::DELETE
                | op_code::DELETE_CONTAINER
                | op_code::SET_DATA
                | op_code::RECONFIG
                | op_code::SET_ACL
                | op_code::CLOSE_SESSION
                | op_code::ERROR
                | op_code::CHECK
                | op_code::MULTI,
                _,
            ) => {
                error!("txn 0x{:x} of type {} carries a body of another type", hdr.zxid, hdr.r#type);
                Err(code::MARSHALLING_ERROR)
            }
            // createSession and anything else leave the tree alone.
            _ => Ok(()),
        };
        if let Err(e) = outcome {
            rc.err = e;
        }
        // Replaying a create over a fuzzy snapshot can find the node already
        // there (re-created by another session after the parent was written
        // out); the parent's cversion/pzxid must still catch up.
        if hdr.r#type == op_code::CREATE && rc.err == code::NODE_EXISTS {
            if let Some(TxnBody::Create(t)) = txn {
                let parent = split_path(&rc.path).map_or("", |(p, _)| p);
                if let Err(e) = self.set_cversion_pzxid(parent, t.parent_c_version, zxid) {
                    error!("Failed to set parent cversion for: {parent}");
                    rc.err = e;
                }
            }
        }
        rc
    }

    /// A multi: each sub-txn is applied with the multi's header. When any
    /// sub-txn is an error, nothing is applied: the ones before it report
    /// OK and the ones after it RUNTIMEINCONSISTENCY. The multi's err is the
    /// first non-OK sub-result. Every sub-txn is decoded before any is
    /// applied, so one that cannot be decoded leaves the tree untouched
    /// (Java applies the ones before it and gives up on the rest).
    fn apply_multi(&mut self, hdr: &TxnHeader, m: &MultiTxn, rc: &mut ProcessTxnResult, changes: &mut Vec<Change>) {
        use crate::jute::txn::ErrorTxn;
        let mut bodies = Vec::with_capacity(m.txns.len());
        for sub in &m.txns {
            let allowed = matches!(
                sub.r#type,
                op_code::CREATE
                    | op_code::CREATE_TTL
                    | op_code::CREATE_CONTAINER
                    | op_code::DELETE
                    | op_code::DELETE_CONTAINER
                    | op_code::SET_DATA
                    | op_code::ERROR
                    | op_code::CHECK
            );
            let body = if allowed {
                TxnBody::deserialize(sub.r#type, &mut InputArchive::new(&sub.data))
            } else {
                Err(JuteError::UnknownTxnType(sub.r#type))
            };
            match body {
                Ok(Some(b)) => bodies.push(b),
                Ok(None) | Err(_) => {
                    error!("multi txn 0x{:x}: bad sub-txn of type {}; none of the multi is applied", hdr.zxid, sub.r#type);
                    rc.err = code::MARSHALLING_ERROR;
                    return;
                }
            }
        }
        let failed = m.txns.iter().any(|t| t.r#type == op_code::ERROR);
        let mut post_failed = false;
        for (sub, body) in m.txns.iter().zip(bodies) {
            if sub.r#type == op_code::ERROR {
                post_failed = true;
            }
            let (sub_type, body) = if failed && sub.r#type != op_code::ERROR {
                let err = if post_failed { code::RUNTIME_INCONSISTENCY } else { code::OK };
                (op_code::ERROR, TxnBody::Error(ErrorTxn { err }))
            } else {
                (sub.r#type, body)
            };
            let sub_hdr = TxnHeader { r#type: sub_type, ..hdr.clone() };
            let sub_rc = self.apply(&sub_hdr, Some(&body), changes);
            if sub_rc.err != code::OK && rc.err == code::OK {
                rc.err = sub_rc.err;
            }
            rc.multi_result.push(sub_rc);
        }
    }
}

/// One (path, node) pair of a snapshot, borrowed from the input.
#[derive(Debug)]
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
}

impl TreeRestore {
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
        t.digest = t.digest.wrapping_add(calculate_digest(t.digest_enabled, path, data, stat));
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
        parent.add_child(node).map(|_| ()).map_err(|_| TreeLoadError::Duplicate(path.into()))
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

/// The tree digest after one txn (DataTree.ZxidDigest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZxidDigest {
    pub zxid: i64,
    pub digest_version: i32,
    pub digest: i64,
}

impl ZxidDigest {
    /// What a snapshot holds when no txn has been applied yet.
    pub const EMPTY: ZxidDigest = ZxidDigest { zxid: 0, digest_version: DIGEST_VERSION, digest: 0 };

    pub fn serialize(&self, oa: &mut OutputArchive) {
        oa.write_long(self.zxid);
        oa.write_int(self.digest_version);
        oa.write_long(self.digest);
    }

    /// Reads one; version 1 stored the digest as a hex string.
    pub fn deserialize(ia: &mut InputArchive<'_>) -> Result<ZxidDigest, JuteError> {
        let zxid = ia.read_long()?;
        let digest_version = ia.read_int()?;
        let digest = if digest_version < 2 {
            let text = ia.read_string()?;
            u64::from_str_radix(&text, 16).map_or(0, |v| v as i64)
        } else {
            ia.read_long()?
        };
        Ok(ZxidDigest { zxid, digest_version, digest })
    }
}

/// How many digests the `hash` four-letter word can show, and which zxids
/// are recorded (every multiple of 128).
const DIGEST_LOG_LIMIT: usize = 1024;
const DIGEST_LOG_INTERVAL: i64 = 128;

/// The digest bookkeeping beside the tree (taken inside the tree's write
/// lock when a txn is applied, alone by readers).
#[derive(Default)]
struct DigestState {
    /// The digest a loaded snapshot recorded, until replay reaches its zxid
    /// (the tree is "fuzzy" until then and nothing is compared).
    from_loaded_snapshot: Option<ZxidDigest>,
    /// The digest after the newest applied txn.
    last_processed: Option<ZxidDigest>,
    /// Digests at zxids that are multiples of 128, oldest first.
    log: VecDeque<ZxidDigest>,
    first_mismatch_reported: bool,
}

/// The tree and its watches (see the module comment).
pub struct DataTree {
    inner: RwLock<TreeInner>,
    data_watches: WatchManager,
    child_watches: WatchManager,
    last_processed_zxid: AtomicI64,
    digests: Mutex<DigestState>,
    digest_mismatches: AtomicU64,
}

impl Default for DataTree {
    fn default() -> Self {
        DataTree::new()
    }
}

impl DataTree {
    /// The initial tree of Java 3.8 with Java's defaults: TTL nodes
    /// disabled, digests enabled.
    pub fn new() -> DataTree {
        DataTree::with_settings(false, true)
    }

    /// The initial tree; `extended_types_enabled` is
    /// zookeeper.extendedTypesEnabled (whether TTL owners are recognised),
    /// `digest_enabled` is zookeeper.digest.enabled.
    pub fn with_settings(extended_types_enabled: bool, digest_enabled: bool) -> DataTree {
        DataTree {
            inner: RwLock::new(TreeInner::initial(extended_types_enabled, digest_enabled)),
            data_watches: WatchManager::new(),
            child_watches: WatchManager::new(),
            last_processed_zxid: AtomicI64::new(0),
            digests: Mutex::new(DigestState::default()),
            digest_mismatches: AtomicU64::new(0),
        }
    }

    /// Empties the tree back to the nodes a new one has, at zxid 0 (Java's
    /// ZKDatabase.clear makes a new DataTree). Watches stay registered.
    pub fn clear(&self) {
        {
            let mut inner = self.inner.write();
            let (extended, digest) = (inner.extended_types, inner.digest_enabled);
            *inner = TreeInner::initial(extended, digest);
        }
        *self.digests.lock() = DigestState::default();
        self.last_processed_zxid.store(0, Ordering::SeqCst);
    }

    pub fn extended_types_enabled(&self) -> bool {
        self.inner.read().extended_types
    }

    /// Whether `path` is one of the nodes the server owns ("/", /zookeeper,
    /// /zookeeper/quota, /zookeeper/config), which clients may not delete.
    pub fn is_special_path(path: &str) -> bool {
        matches!(path, "/" | quotas::PROC_ZOOKEEPER | quotas::QUOTA_ZOOKEEPER | CONFIG_NODE)
    }

    /// Applies one txn of any kind and returns what it did. createSession
    /// leaves the tree alone; closeSession deletes the session's ephemerals
    /// (the txn's list when it has one, and whatever else the tree lists for
    /// `hdr.client_id`); an error txn reports its code; a multi applies its
    /// sub-txns. NONODE and NODEEXISTS come back in `err`; versions are not
    /// checked here (Prep did). Raises last_processed_zxid to `hdr.zxid`.
    /// Watches fire after the tree lock is released.
    pub fn process_txn(&self, hdr: &TxnHeader, txn: Option<&TxnBody>) -> ProcessTxnResult {
        self.process_txn_checked(hdr, txn, None)
    }

    /// process_txn, then the tree digest is compared with `digest`, the one
    /// the txn was logged (or proposed) with; a mismatch is counted and
    /// logged, never fatal.
    pub fn process_txn_checked(
        &self,
        hdr: &TxnHeader,
        txn: Option<&TxnBody>,
        digest: Option<&TxnDigest>,
    ) -> ProcessTxnResult {
        let mut changes = Vec::new();
        let rc = {
            let mut inner = self.inner.write();
            let rc = inner.apply(hdr, txn, &mut changes);
            self.last_processed_zxid.fetch_max(hdr.zxid, Ordering::SeqCst);
            if inner.digest_enabled {
                self.record_digest(hdr, inner.digest, digest);
            }
            rc
        };
        self.deliver(&changes, hdr.zxid);
        rc
    }

    /// After a txn: while a loaded snapshot's digest is pending, check it
    /// when its zxid comes up; otherwise remember the digest (and log every
    /// 128th), and compare it with the txn's own.
    fn record_digest(&self, hdr: &TxnHeader, tree_digest: i64, logged: Option<&TxnDigest>) {
        let zxid = hdr.zxid;
        let mut st = self.digests.lock();
        if let Some(pending) = st.from_loaded_snapshot {
            self.compare_snapshot_digest(&mut st, pending, zxid, tree_digest);
        } else {
            let zd = ZxidDigest { zxid, digest_version: DIGEST_VERSION, digest: tree_digest };
            st.last_processed = Some(zd);
            if zxid % DIGEST_LOG_INTERVAL == 0 {
                st.log.push_back(zd);
                if st.log.len() > DIGEST_LOG_LIMIT {
                    st.log.pop_front();
                }
            }
        }
        let Some(logged) = logged else { return };
        if st.from_loaded_snapshot.is_some() || logged.version != DIGEST_VERSION {
            return;
        }
        if logged.tree_digest != tree_digest {
            self.digest_mismatches.fetch_add(1, Ordering::Relaxed);
            if !st.first_mismatch_reported {
                st.first_mismatch_reported = true;
                error!(
                    "First digest mismatch on txn 0x{:x} (type {}): expected digest is {}, actual digest is {}",
                    zxid, hdr.r#type, logged.tree_digest, tree_digest
                );
            } else {
                warn!("Digests are not matching at zxid 0x{zxid:x}");
            }
        }
    }

    /// compareSnapshotDigests: at the snapshot digest's own zxid the tree
    /// must match it; either way the comparison is over then.
    fn compare_snapshot_digest(&self, st: &mut DigestState, pending: ZxidDigest, zxid: i64, tree_digest: i64) {
        if zxid == pending.zxid {
            if pending.digest_version != DIGEST_VERSION {
                tracing::info!(
                    "Digest version changed, local: {}, new: {}, skip comparing digest now.",
                    pending.digest_version,
                    DIGEST_VERSION
                );
            } else if tree_digest != pending.digest {
                self.digest_mismatches.fetch_add(1, Ordering::Relaxed);
                error!("Digests are not matching at the snapshot's zxid 0x{zxid:x}");
            }
            st.from_loaded_snapshot = None;
        } else if pending.zxid != 0 && zxid > pending.zxid {
            warn!("The txn 0x{:x} of snapshot digest does not exist.", pending.zxid);
        }
    }

    /// The tree digest now (0 when digests are off).
    pub fn tree_digest(&self) -> i64 {
        self.inner.read().digest
    }

    /// zookeeper.digest.enabled, as this tree was built.
    pub fn digest_enabled(&self) -> bool {
        self.inner.read().digest_enabled
    }

    /// The digest node `path` would have with `data` (Prep's precalculation
    /// starts from this).
    pub fn digester(&self, path: &str, data: Option<&[u8]>) -> NodeDigester {
        NodeDigester::new(self.digest_enabled(), path, data)
    }

    /// How many txns (or snapshot digests) did not match the tree.
    pub fn digest_mismatches(&self) -> u64 {
        self.digest_mismatches.load(Ordering::Relaxed)
    }

    /// The recorded digests, oldest first (the `hash` four-letter word).
    pub fn digest_log(&self) -> Vec<ZxidDigest> {
        self.digests.lock().log.iter().copied().collect()
    }

    /// The digest pending from a loaded snapshot, if replay has not reached
    /// its zxid.
    pub fn digest_from_loaded_snapshot(&self) -> Option<ZxidDigest> {
        self.digests.lock().from_loaded_snapshot
    }

    /// serializeZxidDigest: writes the newest txn's digest after a
    /// snapshot's seal; false (nothing written) when digests are off.
    pub fn serialize_zxid_digest(&self, oa: &mut OutputArchive) -> bool {
        if !self.digest_enabled() {
            return false;
        }
        self.digests.lock().last_processed.unwrap_or(ZxidDigest::EMPTY).serialize(oa);
        true
    }

    /// Records the digest read from a snapshot taken at `snap_zxid`, to be
    /// checked when replay reaches its zxid. An empty digest, or one older
    /// than the snapshot, is not checked.
    pub fn set_digest_from_snapshot(&self, zd: ZxidDigest, snap_zxid: i64) {
        let mut st = self.digests.lock();
        st.from_loaded_snapshot = None;
        if zd.zxid <= 0 {
            tracing::info!("The digest value is empty in snapshot");
            return;
        }
        tracing::info!(
            "The digest in the snapshot has digest version of {}, with zxid as 0x{:x}, and digest value as {}",
            zd.digest_version,
            zd.zxid,
            zd.digest
        );
        if zd.zxid < snap_zxid {
            tracing::info!(
                "The zxid of snapshot digest 0x{:x} is smaller than the known snapshot highest zxid, \
                 the snapshot started with zxid 0x{:x}. It will be invalid to use this snapshot digest \
                 associated with this zxid, will ignore comparing it.",
                zd.zxid,
                snap_zxid
            );
            return;
        }
        st.from_loaded_snapshot = Some(zd);
    }

    /// After a snapshot is loaded at `snap_zxid`: a digest taken at exactly
    /// that zxid is checked at once.
    pub fn compare_snapshot_digest_at_load(&self, snap_zxid: i64) {
        let tree_digest = self.tree_digest();
        let mut st = self.digests.lock();
        if let Some(pending) = st.from_loaded_snapshot {
            self.compare_snapshot_digest(&mut st, pending, snap_zxid, tree_digest);
        }
    }

    fn deliver(&self, changes: &[Change], zxid: i64) {
        for change in changes {
            match change {
                Change::Created(p, acl) => {
                    self.data_watches.trigger_watch(p, event_type::NODE_CREATED, zxid, acl, None);
                }
                Change::Deleted(p, acl) => {
                    // A watcher with both a data and a child watch here
                    // hears of the deletion once.
                    let told = self.data_watches.trigger_watch(p, event_type::NODE_DELETED, zxid, acl, None);
                    self.child_watches.trigger_watch(p, event_type::NODE_DELETED, zxid, acl, Some(&told));
                }
                Change::DataChanged(p, acl) => {
                    self.data_watches.trigger_watch(p, event_type::NODE_DATA_CHANGED, zxid, acl, None);
                }
                Change::ChildrenChanged(p, acl) => {
                    self.child_watches.trigger_watch(p, event_type::NODE_CHILDREN_CHANGED, zxid, acl, None);
                }
            }
        }
    }

    /// A copy of a node's persisted stat, child count and ACL. A node whose
    /// ACL index is missing from the table (a damaged snapshot) reads as
    /// permitting nothing.
    pub fn node_info(&self, path: &str) -> Option<NodeInfo> {
        let inner = self.inner.read();
        let node = resolve(&inner.root, path)?;
        let acl = inner.acl_cache.convert_long(node.acl()).unwrap_or_else(|| {
            error!("ACL index {} of {path} is not in the ACL table", node.acl());
            vec![Acl { perms: 0, id: ids::anyone_id_unsafe() }]
        });
        Some(NodeInfo {
            stat: node.stat(),
            num_children: node.num_children() as i32,
            acl,
            data_len: node.data_len(),
        })
    }

    /// setData outside any txn, on this server only (ZKDatabase's
    /// initConfigInZKDatabase writing /zookeeper/config): watches fire, the
    /// last processed zxid and the digest log stay as they are.
    pub fn set_data_locally(
        &self,
        path: &str,
        data: Option<&[u8]>,
        version: i32,
        zxid: i64,
        time: i64,
    ) -> Result<Stat, i32> {
        let mut changes = Vec::new();
        let stat = self.inner.write().set_data(path, data, version, zxid, time, &mut changes);
        self.deliver(&changes, zxid);
        stat
    }

    /// The digester of an existing node (its path and data hashed).
    pub fn node_digester(&self, path: &str) -> Option<NodeDigester> {
        let inner = self.inner.read();
        let node = resolve(&inner.root, path)?;
        Some(NodeDigester::new(inner.digest_enabled, path, node.data()))
    }

    /// getData: the data (None for null data) and Stat; sets a one-shot
    /// data watch when `watcher` is given and the node exists.
    pub fn get_data(&self, path: &str, watcher: Option<Arc<dyn Watcher>>) -> Result<(Option<Vec<u8>>, Stat), i32> {
        let inner = self.inner.read();
        let node = resolve(&inner.root, path).ok_or(code::NO_NODE)?;
        if let Some(w) = watcher {
            self.data_watches.add_watch(path, w, WatcherMode::Standard);
        }
        Ok((node.data().map(<[u8]>::to_vec), node.copy_stat(inner.extended_types)))
    }

    /// exists: the Stat. The watch is set whether or not the node exists;
    /// on a missing node it fires when the node is created.
    pub fn stat_node(&self, path: &str, watcher: Option<Arc<dyn Watcher>>) -> Result<Stat, i32> {
        let inner = self.inner.read();
        if let Some(w) = watcher {
            self.data_watches.add_watch(path, w, WatcherMode::Standard);
        }
        let node = resolve(&inner.root, path).ok_or(code::NO_NODE)?;
        Ok(node.copy_stat(inner.extended_types))
    }

    /// getChildren: the child names (in no particular order) and the Stat;
    /// sets a one-shot child watch when `watcher` is given and the node
    /// exists.
    pub fn get_children(&self, path: &str, watcher: Option<Arc<dyn Watcher>>) -> Result<(Vec<String>, Stat), i32> {
        let inner = self.inner.read();
        let node = resolve(&inner.root, path).ok_or(code::NO_NODE)?;
        if let Some(w) = watcher {
            self.child_watches.add_watch(path, w, WatcherMode::Standard);
        }
        let children = node.child_names().map(str::to_string).collect();
        Ok((children, node.copy_stat(inner.extended_types)))
    }

    /// getACL. MARSHALLINGERROR when the node's ACL index is missing from
    /// the table (Java fails the request the same way).
    pub fn get_acl(&self, path: &str) -> Result<(Vec<Acl>, Stat), i32> {
        let inner = self.inner.read();
        let node = resolve(&inner.root, path).ok_or(code::NO_NODE)?;
        let acl = inner.acl_cache.convert_long(node.acl()).ok_or_else(|| {
            error!("ACL index {} of {path} is not in the ACL table", node.acl());
            code::MARSHALLING_ERROR
        })?;
        Ok((acl, node.copy_stat(inner.extended_types)))
    }

    /// Number of nodes below `path` (all levels); 0 for a missing node.
    pub fn get_all_children_number(&self, path: &str) -> i32 {
        let inner = self.inner.read();
        if path == "/" {
            return inner.node_count as i32 - 1;
        }
        resolve(&inner.root, path).map_or(0, |n| subtree_counts(n).0 as i32 - 1)
    }

    /// A copy of one session's ephemeral paths, iterating as the copy Java
    /// hands out (`HashSet.clone`): closeSession's starting point.
    pub fn ephemeral_set(&self, session_id: i64) -> JavaHashSet {
        self.inner.read().ephemerals.get(&session_id).map(JavaHashSet::java_clone).unwrap_or_default()
    }

    /// The ephemeral paths of one session, in the order Java's getEphemerals
    /// lists them.
    pub fn get_ephemerals(&self, session_id: i64) -> Vec<String> {
        self.ephemeral_set(session_id).ordered().into_iter().map(str::to_string).collect()
    }

    /// Every session that has (or had, until its close) ephemerals, with its
    /// paths sorted (the "dump" four-letter word).
    pub fn ephemerals_by_session(&self) -> BTreeMap<i64, Vec<String>> {
        let inner = self.inner.read();
        inner
            .ephemerals
            .iter()
            .map(|(&session, set)| {
                let mut paths: Vec<String> = set.ordered().into_iter().map(str::to_string).collect();
                paths.sort_unstable();
                (session, paths)
            })
            .collect()
    }

    /// The sessions that have (or had, until their close) ephemerals, sorted.
    pub fn sessions_with_ephemerals(&self) -> Vec<i64> {
        let mut v: Vec<i64> = self.inner.read().ephemerals.keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// Number of ephemeral nodes.
    pub fn ephemerals_count(&self) -> usize {
        self.inner.read().ephemerals.values().map(JavaHashSet::len).sum()
    }

    /// Container node paths, sorted.
    pub fn containers(&self) -> Vec<String> {
        let mut v: Vec<String> = self.inner.read().containers.iter().map(|p| p.to_string()).collect();
        v.sort_unstable();
        v
    }

    /// TTL node paths, sorted.
    pub fn ttls(&self) -> Vec<String> {
        let mut v: Vec<String> = self.inner.read().ttls.iter().map(|p| p.to_string()).collect();
        v.sort_unstable();
        v
    }

    /// Java's getNodeCount: the nodes plus one, because Java's node map
    /// holds the root twice (as "" and "/"); 5 for a fresh tree.
    pub fn node_count(&self) -> usize {
        self.inner.read().node_count + 1
    }

    /// Path length plus data length summed over the nodes.
    pub fn approximate_data_size(&self) -> i64 {
        self.inner.read().data_size
    }

    pub fn last_processed_zxid(&self) -> i64 {
        self.last_processed_zxid.load(Ordering::SeqCst)
    }

    pub fn set_last_processed_zxid(&self, zxid: i64) {
        self.last_processed_zxid.store(zxid, Ordering::SeqCst);
    }

    /// The deepest path at or above `path` that has a quota, if any
    /// (Prep's quota check reads its limits and stats nodes).
    pub fn max_prefix_with_quota(&self, path: &str) -> Option<String> {
        self.inner.read().max_prefix_with_quota(path)
    }

    /// Number of distinct ACL lists in use.
    pub fn acl_cache_size(&self) -> usize {
        self.inner.read().acl_cache.size()
    }

    /// addWatch: a persistent (or persistent-recursive) watch on both data
    /// and children. `mode` is `add_watch_mode::*`; callers check it with
    /// `WatcherMode::from_add_watch_mode` first (an unknown mode is
    /// MARSHALLINGERROR in Java) — here it is logged and ignored.
    pub fn add_watch(&self, path: &str, watcher: Arc<dyn Watcher>, mode: i32) {
        let Some(mode) = WatcherMode::from_add_watch_mode(mode) else {
            warn!("addWatch with unknown mode {mode} on {path} ignored");
            return;
        };
        self.data_watches.add_watch(path, watcher.clone(), mode);
        self.child_watches.add_watch(path, watcher, mode);
    }

    /// setWatches on reconnect: for each watch the client had, tell it at
    /// once (zxid -1) what changed after `relative_zxid`, or register the
    /// watch again. Data watches: NodeDeleted if gone, NodeDataChanged if
    /// mzxid is newer. Exist watches: NodeCreated if the node now exists.
    /// Child watches: NodeDeleted if gone, NodeChildrenChanged if pzxid is
    /// newer. Persistent ones are simply registered again.
    #[allow(clippy::too_many_arguments)]
    pub fn set_watches(
        &self,
        relative_zxid: i64,
        data: &[String],
        exist: &[String],
        child: &[String],
        persistent: &[String],
        persistent_recursive: &[String],
        watcher: Arc<dyn Watcher>,
    ) {
        let mut now: Vec<WatchedEvent> = Vec::new();
        {
            let inner = self.inner.read();
            for path in data {
                match resolve(&inner.root, path) {
                    None => now.push(WatchedEvent::new(event_type::NODE_DELETED, path, -1)),
                    Some(n) if n.stat().mzxid > relative_zxid => {
                        now.push(WatchedEvent::new(event_type::NODE_DATA_CHANGED, path, -1))
                    }
                    Some(_) => {
                        self.data_watches.add_watch(path, watcher.clone(), WatcherMode::Standard);
                    }
                }
            }
            for path in exist {
                if resolve(&inner.root, path).is_some() {
                    now.push(WatchedEvent::new(event_type::NODE_CREATED, path, -1));
                } else {
                    self.data_watches.add_watch(path, watcher.clone(), WatcherMode::Standard);
                }
            }
            for path in child {
                match resolve(&inner.root, path) {
                    None => now.push(WatchedEvent::new(event_type::NODE_DELETED, path, -1)),
                    Some(n) if n.stat().pzxid > relative_zxid => {
                        now.push(WatchedEvent::new(event_type::NODE_CHILDREN_CHANGED, path, -1))
                    }
                    Some(_) => {
                        self.child_watches.add_watch(path, watcher.clone(), WatcherMode::Standard);
                    }
                }
            }
            for (paths, mode) in
                [(persistent, WatcherMode::Persistent), (persistent_recursive, WatcherMode::PersistentRecursive)]
            {
                for path in paths {
                    self.child_watches.add_watch(path, watcher.clone(), mode);
                    self.data_watches.add_watch(path, watcher.clone(), mode);
                }
            }
        }
        // As in Java, these catch-up events carry no ACL and are not
        // filtered: they tell no more than exists() would.
        for e in &now {
            watcher.process(e, None);
        }
    }

    /// checkWatches: whether the watcher has a watch of `watcher_type`
    /// (`watcher_type::*`) registered on exactly `path`.
    pub fn contains_watcher(&self, path: &str, watcher_type: i32, watcher_id: u64) -> bool {
        match watcher_type {
            watcher_type::CHILDREN => self.child_watches.contains_watcher(path, watcher_id),
            watcher_type::DATA => self.data_watches.contains_watcher(path, watcher_id),
            watcher_type::ANY => {
                self.child_watches.contains_watcher(path, watcher_id)
                    || self.data_watches.contains_watcher(path, watcher_id)
            }
            _ => false,
        }
    }

    /// removeWatches: drops the watcher's watches of `watcher_type` on
    /// `path`; false when there were none.
    pub fn remove_watch(&self, path: &str, watcher_type: i32, watcher_id: u64) -> bool {
        match watcher_type {
            watcher_type::CHILDREN => self.child_watches.remove_watch(path, watcher_id),
            watcher_type::DATA => self.data_watches.remove_watch(path, watcher_id),
            watcher_type::ANY => {
                let child = self.child_watches.remove_watch(path, watcher_id);
                let data = self.data_watches.remove_watch(path, watcher_id);
                child || data
            }
            _ => false,
        }
    }

    /// A connection closed: drops all its watches.
    pub fn remove_cnxn(&self, watcher_id: u64) {
        self.data_watches.remove_watcher(watcher_id);
        self.child_watches.remove_watcher(watcher_id);
    }

    /// Number of (path, watcher) pairs over both tables.
    pub fn watch_count(&self) -> usize {
        self.data_watches.size() + self.child_watches.size()
    }

    /// The wchs text (data watches only, as in Java), without the final
    /// newline the command adds.
    pub fn dump_watches_summary(&self) -> String {
        self.data_watches.summary_text()
    }

    /// The wchp (`by_path`) or wchc text for the data watches, as in Java.
    pub fn dump_watches(&self, by_path: bool) -> String {
        self.data_watches.dump_watches(by_path)
    }

    /// Admin "watch_summary": the data-watch table's counts (as Java).
    pub fn watches_summary(&self) -> WatchesSummary {
        self.data_watches.summary()
    }

    /// Admin "watches": session -> watched paths (data-watch table).
    pub fn watches_by_session(&self) -> BTreeMap<i64, Vec<String>> {
        self.data_watches.watches_by_session()
    }

    /// Admin "watches_by_path": path -> sessions (data-watch table).
    pub fn watches_by_path(&self) -> BTreeMap<String, Vec<i64>> {
        self.data_watches.watches_by_path()
    }

    /// Writes the tree as a Java snapshot holds it after the file header:
    /// the ACL table, then (path, node) for every node, depth first, the
    /// root as "", then the end marker "/". Like Java's this is fuzzy: the
    /// read lock is held for a batch of nodes (or bytes) at a time and
    /// nothing is written under it, so txns applied meanwhile may or may not
    /// show. A node's children are listed when the node is written;
    /// children created later are missed and deleted ones skipped (replay
    /// of the log from the snapshot's zxid repairs both, as in Java).
    pub fn serialize<W: Write>(&self, out: &mut W) -> io::Result<()> {
        const BATCH_NODES: usize = 1000;
        const BATCH_BYTES: usize = 1 << 20;
        let mut oa = OutputArchive::with_capacity(BATCH_BYTES + 64 * 1024);
        // The walk: `path` is the path of the last node written; `open`
        // has, per level of the walk, the path length of that level's node
        // (a prefix of `path`) and the names of its children still to write.
        let mut path = String::new();
        let mut open: Vec<(usize, ChildNames)> = Vec::new();
        {
            let inner = self.inner.read();
            inner.acl_cache.serialize(&mut oa);
            oa.write_string("");
            inner.root.serialize(&mut oa);
            open.push((0, ChildNames::of(&inner.root)));
        }
        while !open.is_empty() {
            {
                let inner = self.inner.read();
                // Find the open levels' nodes again (one lookup per level);
                // a level whose node went away meanwhile is dropped, with
                // everything under it.
                let mut nodes: Vec<&DataNode> = vec![&inner.root];
                for level in 1..open.len() {
                    let (start, end) = (open[level - 1].0 + 1, open[level].0);
                    let found = nodes.last().and_then(|n| n.child(path.get(start..end).unwrap_or_default()));
                    match found {
                        Some(n) => nodes.push(n),
                        None => {
                            open.truncate(level);
                            break;
                        }
                    }
                }
                let mut written = 0;
                while written < BATCH_NODES && oa.len() < BATCH_BYTES {
                    let (Some((len, names)), Some(&parent)) = (open.last_mut(), nodes.last()) else {
                        break;
                    };
                    path.truncate(*len);
                    path.push('/');
                    if !names.pop_onto(&mut path) {
                        open.pop();
                        nodes.pop();
                        continue;
                    }
                    let Some(child) = parent.child(path.get(*len + 1..).unwrap_or_default()) else {
                        continue; // deleted since its parent was written
                    };
                    oa.write_string(&path);
                    child.serialize(&mut oa);
                    written += 1;
                    if child.num_children() > 0 {
                        open.push((path.len(), ChildNames::of(child)));
                        nodes.push(child);
                    }
                }
            }
            out.write_all(oa.as_slice())?;
            oa.clear();
        }
        oa.write_string("/");
        out.write_all(oa.as_slice())
    }

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
        TreeRestore { inner, has_root: false, open: Vec::new(), open_path: String::new(), acl_run: (0, 0) }
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
    use crate::jute::records::Id;
    use crate::jute::txn::{
        CheckVersionTxn, CloseSessionTxn, CreateContainerTxn, CreateSessionTxn, CreateTtlTxn, CreateTxn, DeleteTxn,
        ErrorTxn, SetAclTxn, SetDataTxn, Txn,
    };
    use crate::jute::Record;
    use crate::server::watch_manager::tests::Recorder;
    use crate::server::zoo_defs::{add_watch_mode, event_type::*, perms};

    const SESSION: i64 = 0x55;

    fn hdr(ty: i32, zxid: i64) -> TxnHeader {
        TxnHeader { client_id: SESSION, cxid: 7, zxid, time: 1000 + zxid, r#type: ty }
    }

    fn create_txn(path: &str, data: &[u8], ephemeral: bool, parent_c_version: i32) -> CreateTxn {
        CreateTxn {
            path: path.into(),
            data: Some(data.to_vec()),
            acl: ids::open_acl_unsafe(),
            ephemeral,
            parent_c_version,
        }
    }

    fn create(t: &DataTree, path: &str, zxid: i64) -> ProcessTxnResult {
        t.process_txn(&hdr(op_code::CREATE, zxid), Some(&TxnBody::Create(create_txn(path, b"", false, -1))))
    }

    fn delete(t: &DataTree, path: &str, zxid: i64) -> ProcessTxnResult {
        t.process_txn(&hdr(op_code::DELETE, zxid), Some(&TxnBody::Delete(DeleteTxn { path: path.into() })))
    }

    fn set_data(t: &DataTree, path: &str, data: &[u8], version: i32, zxid: i64) -> ProcessTxnResult {
        let body = TxnBody::SetData(SetDataTxn { path: path.into(), data: Some(data.to_vec()), version });
        t.process_txn(&hdr(op_code::SET_DATA, zxid), Some(&body))
    }

    fn stat(t: &DataTree, path: &str) -> Stat {
        t.stat_node(path, None).unwrap()
    }

    fn sorted_children(t: &DataTree, path: &str) -> Vec<String> {
        let mut c = t.get_children(path, None).unwrap().0;
        c.sort();
        c
    }

    fn sub<R: Record>(ty: i32, body: &R) -> Txn {
        Txn { r#type: ty, data: body.to_bytes() }
    }

    fn multi(t: &DataTree, subs: Vec<Txn>, zxid: i64) -> ProcessTxnResult {
        t.process_txn(&hdr(op_code::MULTI, zxid), Some(&TxnBody::Multi(MultiTxn { txns: subs })))
    }

    fn ev(ty: i32, path: &str) -> (i32, String) {
        (ty, path.to_string())
    }

    fn digest_is_consistent(t: &DataTree) -> i64 {
        let inner = t.inner.read();
        assert_eq!(inner.digest, inner.full_digest(), "incremental digest drifted from the tree");
        inner.digest
    }

    #[test]
    fn tree_digest_follows_every_change_and_survives_a_snapshot() {
        let t = DataTree::new();
        // The fresh tree counts "/" (as "") and /zookeeper only.
        let zero = StatPersisted::default();
        let fresh = calculate_digest(true, "", Some(b""), &zero).wrapping_add(calculate_digest(true, "/zookeeper", None, &zero));
        assert_eq!(digest_is_consistent(&t), fresh);
        let mut zxid = 0;
        let mut step = |f: &dyn Fn(&DataTree, i64)| {
            zxid += 1;
            let before = t.tree_digest();
            f(&t, zxid);
            let after = digest_is_consistent(&t);
            (before, after)
        };
        step(&|t, z| assert_eq!(create(t, "/a", z).err, code::OK));
        step(&|t, z| assert_eq!(create(t, "/a/b", z).err, code::OK));
        step(&|t, z| assert_eq!(set_data(t, "/a/b", b"payload", 1, z).err, code::OK));
        step(&|t, z| assert_eq!(set_data(t, "/", b"root data", 1, z).err, code::OK));
        step(&|t, z| {
            let acl = TxnBody::SetAcl(SetAclTxn { path: "/a".into(), acl: ids::read_acl_unsafe(), version: 1 });
            assert_eq!(t.process_txn(&hdr(op_code::SET_ACL, z), Some(&acl)).err, code::OK);
        });
        step(&|t, z| {
            let eph = TxnBody::Create(create_txn("/a/e", b"x", true, -1));
            assert_eq!(t.process_txn(&hdr(op_code::CREATE, z), Some(&eph)).err, code::OK);
        });
        step(&|t, z| {
            let subs = vec![
                sub(op_code::CREATE, &create_txn("/m", b"1", false, -1)),
                sub(op_code::SET_DATA, &SetDataTxn { path: "/m".into(), data: None, version: 1 }),
                sub(op_code::DELETE, &DeleteTxn { path: "/a/b".into() }),
            ];
            assert_eq!(multi(t, subs, z).err, code::OK);
        });
        // A failed multi and a create that finds its node leave it alone
        // (but for the parent catching up).
        let (before, after) = step(&|t, z| {
            let subs = vec![
                sub(op_code::CREATE, &create_txn("/never", b"", false, -1)),
                sub(op_code::ERROR, &ErrorTxn { err: code::BAD_VERSION }),
            ];
            multi(t, subs, z);
        });
        assert_eq!(before, after);
        step(&|t, z| assert_eq!(create(t, "/a", z).err, code::NODE_EXISTS));
        step(&|t, z| {
            t.process_txn(&hdr(op_code::CLOSE_SESSION, z), None);
        });
        assert!(t.get_ephemerals(SESSION).is_empty());
        // Quota bookkeeping under /zookeeper/ never moves the digest.
        let before = t.tree_digest();
        step(&|t, z| assert_eq!(create(t, "/zookeeper/quota/m", z).err, code::OK));
        step(&|t, z| assert_eq!(create(t, "/zookeeper/quota/m/zookeeper_limits", z).err, code::OK));
        step(&|t, z| assert_eq!(create(t, "/zookeeper/quota/m/zookeeper_stats", z).err, code::OK));
        step(&|t, z| assert_eq!(set_data(t, "/m", b"grown", 2, z).err, code::OK));
        assert_ne!(before, t.tree_digest(), "/m itself counts");

        let mut bytes = Vec::new();
        t.serialize(&mut bytes).unwrap();
        let back = DataTree::new();
        back.deserialize(&mut InputArchive::new(&bytes)).unwrap();
        assert_eq!(digest_is_consistent(&back), t.tree_digest());

        let off = DataTree::with_settings(false, false);
        assert_eq!(create(&off, "/a", 1).err, code::OK);
        assert_eq!(off.tree_digest(), 0);
        assert!(!off.serialize_zxid_digest(&mut OutputArchive::new()));
    }

    #[test]
    fn digest_log_keeps_every_128th_zxid_and_mismatches_are_counted() {
        let t = DataTree::new();
        for z in 1..=300 {
            create(&t, &format!("/n{z}"), z);
        }
        let log = t.digest_log();
        assert_eq!(log.iter().map(|d| d.zxid).collect::<Vec<_>>(), [128, 256]);
        let right = TxnDigest { version: DIGEST_VERSION, tree_digest: 0 };
        let h = hdr(op_code::CREATE, 301);
        let body = TxnBody::Create(create_txn("/x", b"", false, -1));
        t.process_txn_checked(&h, Some(&body), Some(&right));
        assert_eq!(t.digest_mismatches(), 1);
        let expected = TxnDigest { version: DIGEST_VERSION, tree_digest: t.tree_digest() };
        let h = hdr(op_code::SET_DATA, 302);
        let same = TxnBody::SetData(SetDataTxn { path: "/x".into(), data: Some(b"v".to_vec()), version: 1 });
        // Work out the digest the change will leave, then apply it checked.
        let shadow = DataTree::new();
        let mut bytes = Vec::new();
        t.serialize(&mut bytes).unwrap();
        shadow.deserialize(&mut InputArchive::new(&bytes)).unwrap();
        shadow.process_txn(&h, Some(&same));
        let good = TxnDigest { version: DIGEST_VERSION, tree_digest: shadow.tree_digest() };
        assert_ne!(good, expected);
        t.process_txn_checked(&h, Some(&same), Some(&good));
        assert_eq!(t.digest_mismatches(), 1, "a right digest is not a mismatch");
        // Another digest version is not compared.
        let other = TxnDigest { version: 1, tree_digest: 5 };
        t.process_txn_checked(&hdr(op_code::CREATE, 303), Some(&TxnBody::Create(create_txn("/y", b"", false, -1))), Some(&other));
        assert_eq!(t.digest_mismatches(), 1);
    }

    #[test]
    fn a_snapshot_digest_is_checked_when_replay_reaches_its_zxid() {
        let t = DataTree::new();
        create(&t, "/a", 1);
        let at2 = {
            let probe = DataTree::new();
            create(&probe, "/a", 1);
            create(&probe, "/b", 2);
            probe.tree_digest()
        };
        t.set_digest_from_snapshot(ZxidDigest { zxid: 2, digest_version: DIGEST_VERSION, digest: at2 }, 1);
        t.compare_snapshot_digest_at_load(1);
        assert!(t.digest_from_loaded_snapshot().is_some(), "still fuzzy until zxid 2");
        create(&t, "/b", 2);
        assert!(t.digest_from_loaded_snapshot().is_none());
        assert_eq!(t.digest_mismatches(), 0);
        // A wrong one is counted; an empty or older one is ignored.
        t.set_digest_from_snapshot(ZxidDigest { zxid: 3, digest_version: DIGEST_VERSION, digest: 1 }, 2);
        create(&t, "/c", 3);
        assert_eq!(t.digest_mismatches(), 1);
        t.set_digest_from_snapshot(ZxidDigest::EMPTY, 3);
        assert!(t.digest_from_loaded_snapshot().is_none());
        t.set_digest_from_snapshot(ZxidDigest { zxid: 2, digest_version: DIGEST_VERSION, digest: 1 }, 3);
        assert!(t.digest_from_loaded_snapshot().is_none());
    }

    #[test]
    fn zxid_digest_round_trip_and_version_1_hex() {
        let zd = ZxidDigest { zxid: 0x1234, digest_version: 2, digest: 987654321 };
        let mut oa = OutputArchive::new();
        zd.serialize(&mut oa);
        assert_eq!(oa.as_slice().len(), 20);
        assert_eq!(ZxidDigest::deserialize(&mut InputArchive::new(oa.as_slice())).unwrap(), zd);
        let mut v1 = OutputArchive::new();
        v1.write_long(7);
        v1.write_int(1);
        v1.write_string("ff");
        let back = ZxidDigest::deserialize(&mut InputArchive::new(v1.as_slice())).unwrap();
        assert_eq!(back, ZxidDigest { zxid: 7, digest_version: 1, digest: 255 });
    }

    #[test]
    fn initial_tree_matches_java() {
        let t = DataTree::new();
        assert_eq!(t.node_count(), 5);
        assert_eq!(t.get_all_children_number("/"), 3);
        assert_eq!(t.get_all_children_number("/zookeeper"), 2);
        assert_eq!(t.approximate_data_size(), 44);
        assert_eq!(sorted_children(&t, "/"), ["zookeeper"]);
        assert_eq!(sorted_children(&t, "/zookeeper"), ["config", "quota"]);
        let (data, root) = t.get_data("/", None).unwrap();
        assert_eq!(data, Some(Vec::new()));
        assert_eq!(root, Stat { num_children: 1, cversion: -1, ..Default::default() });
        let config = t.node_info(CONFIG_NODE).unwrap();
        assert_eq!(config.stat.aversion, -1);
        assert_eq!(config.acl, ids::read_acl_unsafe());
        assert_eq!(t.get_acl("/").unwrap().0, ids::open_acl_unsafe());
        assert_eq!(t.acl_cache_size(), 1);
        assert!(DataTree::is_special_path("/zookeeper/quota"));
        assert!(!DataTree::is_special_path("/a"));
        assert_eq!(t.last_processed_zxid(), 0);
        t.set_last_processed_zxid(9);
        assert_eq!(t.last_processed_zxid(), 9);
    }

    #[test]
    fn create_sets_stats_and_parent_cversion() {
        let t = DataTree::new();
        let body = TxnBody::Create(create_txn("/a", b"xyz", false, 1));
        let rc = t.process_txn(&hdr(op_code::CREATE2, 5), Some(&body));
        assert_eq!((rc.client_id, rc.cxid, rc.zxid, rc.err, rc.op_type), (SESSION, 7, 5, code::OK, op_code::CREATE2));
        assert_eq!(rc.path, "/a");
        let expected = Stat {
            czxid: 5,
            mzxid: 5,
            ctime: 1005,
            mtime: 1005,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: 0,
            data_length: 3,
            num_children: 0,
            pzxid: 5,
        };
        assert_eq!(rc.stat, Some(expected.clone()));
        assert_eq!(stat(&t, "/a"), expected);
        assert_eq!(t.get_data("/a", None).unwrap().0.as_deref(), Some(&b"xyz"[..]));
        let root = t.node_info("/").unwrap();
        assert_eq!((root.stat.cversion, root.stat.pzxid, root.num_children), (1, 5, 2));
        // Clients see 2 * cversion - children: the fresh root (cversion 0,
        // one child) shows -1, as in Java; now 2 * 1 - 2.
        assert_eq!(stat(&t, "/").cversion, 0);
        assert_eq!(t.last_processed_zxid(), 5);
        assert_eq!(t.node_count(), 6);
        assert_eq!(t.approximate_data_size(), 44 + 2 + 3);

        // A plain create reports no stat; null data stays null.
        let mut c = create_txn("/a/b", b"", false, -1);
        c.data = None;
        let rc = t.process_txn(&hdr(op_code::CREATE, 6), Some(&TxnBody::Create(c)));
        assert_eq!(rc.stat, None);
        assert_eq!(t.get_data("/a/b", None).unwrap().0, None);
        let a = stat(&t, "/a");
        assert_eq!((a.cversion, a.pzxid, a.num_children, a.mzxid), (1, 6, 1, 5));
        assert_eq!(delete(&t, "/a/b", 7).err, code::OK);
        let a = stat(&t, "/a");
        assert_eq!((a.cversion, a.pzxid, a.num_children), (2, 7, 0));
        assert_eq!(t.get_all_children_number("/"), 4);
        assert_eq!(t.approximate_data_size(), 44 + 2 + 3);
    }

    #[test]
    fn sequential_parent_cversion() {
        let t = DataTree::new();
        create(&t, "/s", 1);
        // Prep names sequential nodes after the parent's cversion and sends
        // the cversion they produce; -1 means "one more".
        let pcv = |path: &str, pcv: i32, zxid: i64| {
            t.process_txn(&hdr(op_code::CREATE, zxid), Some(&TxnBody::Create(create_txn(path, b"", false, pcv))))
        };
        pcv("/s/n0000000000", 1, 2);
        pcv("/s/n0000000001", -1, 3);
        assert_eq!(t.node_info("/s").unwrap().stat.cversion, 2);
        // A replayed, lower parent cversion moves neither cversion nor pzxid.
        pcv("/s/x", 1, 4);
        let s = t.node_info("/s").unwrap().stat;
        assert_eq!((s.cversion, s.pzxid), (2, 3));
        assert_eq!(stat(&t, "/s").num_children, 3);
    }

    #[test]
    fn error_codes() {
        let t = DataTree::new();
        assert_eq!(create(&t, "/a/b", 1).err, code::NO_NODE);
        assert_eq!(create(&t, "/a", 2).err, code::OK);
        create(&t, "/a/b", 3);
        let c2 = TxnBody::Create(create_txn("/a", b"", false, -1));
        assert_eq!(t.process_txn(&hdr(op_code::CREATE2, 4), Some(&c2)).err, code::NODE_EXISTS);
        assert_eq!(delete(&t, "/nope", 5).err, code::NO_NODE);
        assert_eq!(delete(&t, "/x/y", 6).err, code::NO_NODE);
        assert_eq!(delete(&t, "/a", 7).err, code::NOT_EMPTY);
        assert_eq!(delete(&t, "/", 7).err, code::BAD_ARGUMENTS);
        assert_eq!(set_data(&t, "/nope", b"", 1, 8).err, code::NO_NODE);
        let acl = TxnBody::SetAcl(SetAclTxn { path: "/nope".into(), acl: ids::open_acl_unsafe(), version: 1 });
        assert_eq!(t.process_txn(&hdr(op_code::SET_ACL, 9), Some(&acl)).err, code::NO_NODE);
        assert_eq!(create(&t, "/", 9).err, code::NODE_EXISTS);
        assert_eq!(create(&t, "bad", 9).err, code::NO_NODE);
        assert_eq!(create(&t, "/a//b", 9).err, code::NO_NODE);
        assert_eq!(create(&t, "//b", 9).err, code::NO_NODE);
        assert_eq!(create(&t, "x/b", 9).err, code::NO_NODE);
        assert_eq!(delete(&t, "//a", 9).err, code::NO_NODE);
        assert!(t.stat_node("/a", None).is_ok());

        // Versions are Prep's business: setData stores what the txn says.
        let rc = set_data(&t, "/a", b"v", 42, 10);
        assert_eq!((rc.err, rc.stat.unwrap().version), (code::OK, 42));

        let ttl = TxnBody::CreateTtl(CreateTtlTxn {
            path: "/t".into(),
            data: None,
            acl: ids::open_acl_unsafe(),
            parent_c_version: -1,
            ttl: 0,
        });
        assert_eq!(t.process_txn(&hdr(op_code::CREATE_TTL, 11), Some(&ttl)).err, code::BAD_ARGUMENTS);

        let err = TxnBody::Error(ErrorTxn { err: code::NO_AUTH });
        let rc = t.process_txn(&hdr(op_code::ERROR, 12), Some(&err));
        assert_eq!((rc.err, rc.path.as_str()), (code::NO_AUTH, ""));
        let check = TxnBody::Check(CheckVersionTxn { path: "/a".into(), version: 3 });
        let rc = t.process_txn(&hdr(op_code::CHECK, 13), Some(&check));
        assert_eq!((rc.err, rc.path.as_str()), (code::OK, "/a"));
        // A body that does not match the header.
        assert_eq!(t.process_txn(&hdr(op_code::DELETE, 14), Some(&check)).err, code::MARSHALLING_ERROR);
        assert_eq!(t.process_txn(&hdr(op_code::SET_DATA, 14), None).err, code::MARSHALLING_ERROR);
        // createSession does nothing to the tree but still counts as applied.
        let cs = TxnBody::CreateSession(CreateSessionTxn { time_out: 3000 });
        assert_eq!(t.process_txn(&hdr(op_code::CREATE_SESSION, 15), Some(&cs)).err, code::OK);
        assert_eq!(t.last_processed_zxid(), 15);
        // An older zxid does not move it back.
        create(&t, "/late", 3);
        assert_eq!(t.last_processed_zxid(), 15);
        assert_eq!(t.node_count(), 8);
    }

    #[test]
    fn replayed_create_of_existing_node_fixes_parent_cversion() {
        let t = DataTree::new();
        create(&t, "/p", 1);
        create(&t, "/p/c", 2);
        let body = TxnBody::Create(create_txn("/p/c", b"", false, 5));
        let rc = t.process_txn(&hdr(op_code::CREATE, 9), Some(&body));
        assert_eq!(rc.err, code::NODE_EXISTS);
        let p = t.node_info("/p").unwrap().stat;
        assert_eq!((p.cversion, p.pzxid), (5, 9));
    }

    #[test]
    fn set_data_and_set_acl() {
        let t = DataTree::new();
        create(&t, "/a", 1);
        let rc = set_data(&t, "/a", b"hello", 1, 2);
        let s = rc.stat.unwrap();
        assert_eq!((s.mzxid, s.mtime, s.czxid, s.version, s.data_length), (2, 1002, 1, 1, 5));
        assert_eq!(t.approximate_data_size(), 44 + 2 + 5);
        let body = TxnBody::SetData(SetDataTxn { path: "/a".into(), data: None, version: 2 });
        t.process_txn(&hdr(op_code::SET_DATA, 3), Some(&body));
        assert_eq!(t.get_data("/a", None).unwrap().0, None);

        let digest = vec![Acl { perms: perms::READ, id: Id::new("digest", "u:x") }];
        let body = TxnBody::SetAcl(SetAclTxn { path: "/a".into(), acl: digest.clone(), version: 1 });
        let rc = t.process_txn(&hdr(op_code::SET_ACL, 4), Some(&body));
        assert_eq!(rc.stat.unwrap().aversion, 1);
        assert_eq!(t.get_acl("/a").unwrap().0, digest);
        assert_eq!(t.node_info("/a").unwrap().acl, digest);
        // Open ACL (index 2, from the create) is gone, the digest list is in.
        assert_eq!(t.acl_cache_size(), 2);
        // No setACL in mzxid.
        assert_eq!(stat(&t, "/a").mzxid, 3);
        // reconfig is applied like setData.
        let body =
            TxnBody::SetData(SetDataTxn { path: CONFIG_NODE.into(), data: Some(b"server.1=x".to_vec()), version: -1 });
        let rc = t.process_txn(&hdr(op_code::RECONFIG, 5), Some(&body));
        assert_eq!((rc.err, rc.path.as_str()), (code::OK, CONFIG_NODE));
        assert_eq!(t.get_data(CONFIG_NODE, None).unwrap().0.as_deref(), Some(&b"server.1=x"[..]));
    }

    #[test]
    fn ephemerals_and_close_session() {
        let t = DataTree::new();
        create(&t, "/e", 1);
        let eph = |path: &str, session: i64, zxid: i64| {
            let h = TxnHeader { client_id: session, ..hdr(op_code::CREATE, zxid) };
            t.process_txn(&h, Some(&TxnBody::Create(create_txn(path, b"", true, -1))))
        };
        eph("/e/a", 0x55, 2);
        eph("/e/b", 0x55, 3);
        eph("/e/c", 0x66, 4);
        eph("/e/d", 0x77, 5);
        assert_eq!(stat(&t, "/e/a").ephemeral_owner, 0x55);
        assert_eq!(t.get_ephemerals(0x55), ["/e/a", "/e/b"]);
        assert_eq!(t.sessions_with_ephemerals(), [0x55, 0x66, 0x77]);
        assert_eq!(t.ephemerals_count(), 4);
        assert!(t.get_ephemerals(0x99).is_empty());

        // Deleting the only ephemeral of a session keeps its (empty) entry.
        delete(&t, "/e/d", 6);
        let by_session = t.ephemerals_by_session();
        assert_eq!(by_session.len(), 3);
        assert_eq!(by_session[&0x77], Vec::<String>::new());

        // closeSession without a body: the tree's own list.
        let close = TxnHeader { client_id: 0x66, ..hdr(op_code::CLOSE_SESSION, 7) };
        assert_eq!(t.process_txn(&close, None).err, code::OK);
        assert!(t.node_info("/e/c").is_none());
        assert_eq!(t.ephemerals_by_session().len(), 2);

        // closeSession naming paths: those go (whoever owns them), then the
        // session's remaining ones.
        create(&t, "/e/p", 8);
        let close = TxnHeader { client_id: 0x55, ..hdr(op_code::CLOSE_SESSION, 9) };
        let body = TxnBody::CloseSession(CloseSessionTxn {
            paths2_delete: vec!["/e/a".into(), "/e/p".into(), "/e/zz".into()],
        });
        assert_eq!(t.process_txn(&close, Some(&body)).err, code::OK);
        assert!(sorted_children(&t, "/e").is_empty());
        assert_eq!(t.ephemerals_count(), 0);
        assert_eq!(t.ephemerals_by_session().keys().copied().collect::<Vec<_>>(), [0x77]);
        let e = t.node_info("/e").unwrap().stat;
        assert_eq!(e.pzxid, 9);
        assert_eq!(t.last_processed_zxid(), 9);
    }

    #[test]
    fn containers_and_ttls() {
        let t = DataTree::with_settings(true, true);
        assert!(t.extended_types_enabled() && !DataTree::new().extended_types_enabled());
        let body = TxnBody::CreateContainer(CreateContainerTxn {
            path: "/c".into(),
            data: Some(b"d".to_vec()),
            acl: ids::open_acl_unsafe(),
            parent_c_version: -1,
        });
        let rc = t.process_txn(&hdr(op_code::CREATE_CONTAINER, 1), Some(&body));
        assert_eq!(rc.stat.unwrap().ephemeral_owner, 0);
        assert_eq!(t.node_info("/c").unwrap().stat.ephemeral_owner, EphemeralType::CONTAINER_EPHEMERAL_OWNER);
        assert_eq!(t.containers(), ["/c"]);
        let body = TxnBody::CreateTtl(CreateTtlTxn {
            path: "/c/t".into(),
            data: None,
            acl: ids::open_acl_unsafe(),
            parent_c_version: -1,
            ttl: 500,
        });
        let rc = t.process_txn(&hdr(op_code::CREATE_TTL, 2), Some(&body));
        assert_eq!((rc.err, rc.stat.unwrap().ephemeral_owner), (code::OK, 0));
        let owner = t.node_info("/c/t").unwrap().stat.ephemeral_owner;
        assert_eq!(EphemeralType::ttl_value(owner), 500);
        assert_eq!(t.ttls(), ["/c/t"]);
        assert_eq!(t.ephemerals_count(), 0);
        let del = TxnBody::Delete(DeleteTxn { path: "/c/t".into() });
        t.process_txn(&hdr(op_code::DELETE, 3), Some(&del));
        let del = TxnBody::Delete(DeleteTxn { path: "/c".into() });
        assert_eq!(t.process_txn(&hdr(op_code::DELETE_CONTAINER, 4), Some(&del)).err, code::OK);
        assert!(t.containers().is_empty() && t.ttls().is_empty());
    }

    #[test]
    fn multi_applies_all_or_nothing() {
        let t = DataTree::new();
        create(&t, "/m", 1);
        let subs = vec![
            sub(op_code::CREATE, &create_txn("/m/a", b"1", false, -1)),
            sub(op_code::SET_DATA, &SetDataTxn { path: "/m".into(), data: Some(b"x".to_vec()), version: 1 }),
            sub(op_code::CHECK, &CheckVersionTxn { path: "/m".into(), version: 1 }),
            sub(op_code::DELETE, &DeleteTxn { path: "/m/a".into() }),
            sub(
                op_code::CREATE_CONTAINER,
                &CreateContainerTxn {
                    path: "/m/c".into(),
                    data: None,
                    acl: ids::open_acl_unsafe(),
                    parent_c_version: -1,
                },
            ),
        ];
        let rc = multi(&t, subs, 5);
        assert_eq!((rc.err, rc.op_type), (code::OK, op_code::MULTI));
        let types: Vec<i32> = rc.multi_result.iter().map(|r| r.op_type).collect();
        assert_eq!(
            types,
            [op_code::CREATE, op_code::SET_DATA, op_code::CHECK, op_code::DELETE, op_code::CREATE_CONTAINER]
        );
        assert!(rc.multi_result.iter().all(|r| r.zxid == 5 && r.err == code::OK));
        assert_eq!(rc.multi_result[0].path, "/m/a");
        assert_eq!(rc.multi_result[1].stat.as_ref().unwrap().version, 1);
        assert!(rc.multi_result[4].stat.is_some());
        assert_eq!(sorted_children(&t, "/m"), ["c"]);
        assert_eq!(t.last_processed_zxid(), 5);

        // One failed op: nothing applies; OK before it, RUNTIMEINCONSISTENCY after.
        let subs = vec![
            sub(op_code::CREATE, &create_txn("/m/b", b"", false, -1)),
            sub(op_code::ERROR, &ErrorTxn { err: code::NO_NODE }),
            sub(op_code::SET_DATA, &SetDataTxn { path: "/m".into(), data: None, version: 2 }),
        ];
        let rc = multi(&t, subs, 6);
        assert_eq!(rc.err, code::NO_NODE);
        let errs: Vec<i32> = rc.multi_result.iter().map(|r| r.err).collect();
        assert_eq!(errs, [code::OK, code::NO_NODE, code::RUNTIME_INCONSISTENCY]);
        assert!(rc.multi_result.iter().all(|r| r.op_type == op_code::ERROR));
        assert!(t.node_info("/m/b").is_none());
        assert_eq!(stat(&t, "/m").version, 1);

        // An op that cannot be in a multi (or does not decode) stops it
        // before anything is applied.
        let subs = vec![
            sub(op_code::CREATE, &create_txn("/m/d", b"", false, -1)),
            sub(op_code::SET_ACL, &SetAclTxn { path: "/m".into(), acl: vec![], version: 1 }),
            sub(op_code::CREATE, &create_txn("/m/e", b"", false, -1)),
        ];
        let rc = multi(&t, subs, 7);
        assert_eq!((rc.err, rc.multi_result.len()), (code::MARSHALLING_ERROR, 0));
        assert!(t.node_info("/m/d").is_none() && t.node_info("/m/e").is_none());
        let rc = multi(&t, vec![Txn { r#type: op_code::DELETE, data: vec![0, 0] }], 8);
        assert_eq!(rc.err, code::MARSHALLING_ERROR);
    }

    /// Each event carries the ACL its watchers' READ is checked against:
    /// the node's own for created/changed/deleted (the deleted node's list
    /// even when no other node uses it any more), the parent's for
    /// NodeChildrenChanged; catch-up events of setWatches carry none.
    #[test]
    fn events_carry_the_acl_of_the_node_they_are_about() {
        let t = DataTree::new();
        let w = Recorder::new(1);
        let secret = vec![Acl { perms: perms::ALL, id: Id::new("digest", "u1:x") }];
        let open = ids::open_acl_unsafe();
        t.add_watch("/", w.clone(), add_watch_mode::PERSISTENT_RECURSIVE);
        t.add_watch("/p", w.clone(), add_watch_mode::PERSISTENT);
        create(&t, "/p", 1);
        let mut txn = create_txn("/p/s", b"", false, -1);
        txn.acl = secret.clone();
        t.process_txn(&hdr(op_code::CREATE, 2), Some(&TxnBody::Create(txn)));
        set_data(&t, "/p/s", b"x", 1, 3);
        delete(&t, "/p/s", 4);
        assert_eq!(
            w.take(),
            [
                ev(NODE_CREATED, "/p"),
                ev(NODE_CREATED, "/p/s"),
                ev(NODE_CHILDREN_CHANGED, "/p"),
                ev(NODE_DATA_CHANGED, "/p/s"),
                ev(NODE_DELETED, "/p/s"),
                ev(NODE_CHILDREN_CHANGED, "/p"),
            ]
        );
        let s = Some(secret);
        let o = Some(open);
        assert_eq!(*w.acls.lock(), [o.clone(), s.clone(), o.clone(), s.clone(), s, o]);
        w.acls.lock().clear();
        t.set_watches(0, &["/gone".to_string()], &[], &[], &[], &[], w.clone());
        assert_eq!(w.take(), [ev(NODE_DELETED, "/gone")]);
        assert_eq!(*w.acls.lock(), [None]);
    }

    #[test]
    fn data_exists_and_child_watches() {
        let t = DataTree::new();
        let w = Recorder::new(1);
        // exists on a missing node: NoNode, but the watch is set.
        assert_eq!(t.stat_node("/a", Some(w.clone())), Err(code::NO_NODE));
        assert_eq!(t.get_data("/a", Some(w.clone())), Err(code::NO_NODE));
        assert_eq!(t.get_children("/", Some(w.clone())).map(|_| ()), Ok(()));
        assert_eq!(t.watch_count(), 2);
        create(&t, "/a", 3);
        assert_eq!(w.take(), [ev(NODE_CREATED, "/a"), ev(NODE_CHILDREN_CHANGED, "/")]);
        assert_eq!(w.events.lock().len(), 0);
        assert_eq!(t.watch_count(), 0);

        t.get_data("/a", Some(w.clone())).unwrap();
        set_data(&t, "/a", b"1", 1, 4);
        set_data(&t, "/a", b"2", 2, 5);
        let events = w.events.lock().clone();
        assert_eq!(events.len(), 1);
        assert_eq!((events[0].event_type, events[0].zxid), (NODE_DATA_CHANGED, 4));
        w.take();

        // Data + child watch on a deleted node: a single NodeDeleted.
        create(&t, "/a/b", 6);
        t.get_data("/a/b", Some(w.clone())).unwrap();
        t.get_children("/a/b", Some(w.clone())).unwrap();
        t.get_children("/a", Some(w.clone())).unwrap();
        let other = Recorder::new(2);
        t.get_children("/a/b", Some(other.clone())).unwrap();
        delete(&t, "/a/b", 7);
        assert_eq!(w.take(), [ev(NODE_DELETED, "/a/b"), ev(NODE_CHILDREN_CHANGED, "/a")]);
        assert_eq!(other.take(), [ev(NODE_DELETED, "/a/b")]);
        // setACL fires nothing.
        t.get_data("/a", Some(w.clone())).unwrap();
        let body = TxnBody::SetAcl(SetAclTxn { path: "/a".into(), acl: ids::read_acl_unsafe(), version: 1 });
        t.process_txn(&hdr(op_code::SET_ACL, 8), Some(&body));
        assert!(w.take().is_empty());
    }

    #[test]
    fn persistent_and_recursive_watches() {
        let t = DataTree::new();
        create(&t, "/p", 1);
        let p = Recorder::new(1);
        let r = Recorder::new(2);
        t.add_watch("/p", p.clone(), add_watch_mode::PERSISTENT);
        t.add_watch("/p", r.clone(), add_watch_mode::PERSISTENT_RECURSIVE);
        t.add_watch("/p", r.clone(), 99);
        assert_eq!(t.watch_count(), 4);
        create(&t, "/p/c", 2);
        set_data(&t, "/p", b"x", 1, 3);
        set_data(&t, "/p/c", b"x", 1, 4);
        create(&t, "/p/c/g", 5);
        delete(&t, "/p/c/g", 6);
        delete(&t, "/p/c", 7);
        assert_eq!(
            p.take(),
            [ev(NODE_CHILDREN_CHANGED, "/p"), ev(NODE_DATA_CHANGED, "/p"), ev(NODE_CHILDREN_CHANGED, "/p"),]
        );
        assert_eq!(
            r.take(),
            [
                ev(NODE_CREATED, "/p/c"),
                ev(NODE_DATA_CHANGED, "/p"),
                ev(NODE_DATA_CHANGED, "/p/c"),
                ev(NODE_CREATED, "/p/c/g"),
                ev(NODE_DELETED, "/p/c/g"),
                ev(NODE_DELETED, "/p/c"),
            ]
        );
        // Still there; deleting the watched node itself tells each once.
        delete(&t, "/p", 8);
        assert_eq!(p.take(), [ev(NODE_DELETED, "/p")]);
        assert_eq!(r.take(), [ev(NODE_DELETED, "/p")]);
        assert_eq!(t.watch_count(), 4);
        assert!(t.remove_watch("/p", watcher_type::ANY, 1));
        assert!(!t.remove_watch("/p", watcher_type::ANY, 1));
        t.remove_cnxn(2);
        assert_eq!(t.watch_count(), 0);
    }

    #[test]
    fn set_watches_on_reconnect() {
        let t = DataTree::new();
        create(&t, "/old", 1);
        create(&t, "/new", 1);
        set_data(&t, "/new", b"x", 1, 10);
        create(&t, "/kids", 2);
        create(&t, "/kids/k", 11);
        let w = Recorder::new(1);
        let s = |v: &[&str]| v.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        t.set_watches(
            5,
            &s(&["/old", "/new", "/gone"]),
            &s(&["/old", "/absent"]),
            &s(&["/old", "/kids", "/gone2"]),
            &s(&["/pp"]),
            &s(&["/rr"]),
            w.clone(),
        );
        let mut got = w.take();
        got.sort();
        let mut want = vec![
            ev(NODE_DATA_CHANGED, "/new"),
            ev(NODE_DELETED, "/gone"),
            ev(NODE_CREATED, "/old"),
            ev(NODE_CHILDREN_CHANGED, "/kids"),
            ev(NODE_DELETED, "/gone2"),
        ];
        want.sort();
        assert_eq!(got, want);
        assert!(w.events.lock().iter().all(|e| e.zxid == -1));
        assert!(t.contains_watcher("/old", watcher_type::DATA, 1));
        assert!(t.contains_watcher("/old", watcher_type::CHILDREN, 1));
        assert!(t.contains_watcher("/absent", watcher_type::DATA, 1));
        assert!(!t.contains_watcher("/absent", watcher_type::CHILDREN, 1));
        assert!(t.contains_watcher("/pp", watcher_type::ANY, 1));
        assert!(t.contains_watcher("/rr", watcher_type::CHILDREN, 1));
        assert!(!t.contains_watcher("/new", watcher_type::ANY, 1));
        // As in 3.8, another watcher's watch on the path counts too.
        assert!(t.contains_watcher("/old", watcher_type::DATA, 2));
        // /old (data + child), /absent, /pp and /rr in both tables.
        assert_eq!(t.watch_count(), 7);
        assert!(t.remove_watch("/old", watcher_type::DATA, 1));
        assert!(!t.remove_watch("/old", watcher_type::DATA, 1));
        assert!(t.remove_watch("/old", watcher_type::CHILDREN, 1));
        create(&t, "/rr", 12);
        create(&t, "/pp", 13);
        assert_eq!(w.take(), [ev(NODE_CREATED, "/rr"), ev(NODE_CREATED, "/pp")]);
    }

    #[test]
    fn admin_watch_reports() {
        let t = DataTree::new();
        create(&t, "/a", 1);
        let w = Recorder::new(1);
        t.get_data("/a", Some(w.clone())).unwrap();
        t.get_children("/a", Some(w.clone())).unwrap();
        assert_eq!(t.watches_summary(), WatchesSummary { num_connections: 1, num_paths: 1, total_watches: 1 });
        assert_eq!(t.watches_by_session(), [(0x101, vec!["/a".to_string()])].into());
        assert_eq!(t.watches_by_path(), [("/a".to_string(), vec![0x101])].into());
    }

    #[test]
    fn data_size_counts_paths_in_utf16_units() {
        let t = DataTree::new();
        // "é" is 2 bytes of UTF-8 but one UTF-16 unit; "𝄞" is 4 and 2.
        create(&t, "/é𝄞", 1);
        assert_eq!(t.approximate_data_size(), 44 + 4);
        delete(&t, "/é𝄞", 2);
        assert_eq!(t.approximate_data_size(), 44);
    }

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

    #[test]
    fn watch_dumps() {
        let t = DataTree::new();
        create(&t, "/a", 1);
        let w = Recorder::new(1);
        t.get_data("/a", Some(w.clone())).unwrap();
        t.stat_node("/b", Some(w.clone())).unwrap_err();
        t.get_children("/a", Some(w.clone())).unwrap();
        // Only data watches are dumped, as in Java.
        assert_eq!(t.dump_watches_summary(), "1 connections watching 2 paths\nTotal watches:2");
        assert_eq!(t.dump_watches(true), "/a\n\t0x101\n/b\n\t0x101\n");
        assert_eq!(t.dump_watches(false), "0x101\n\t/a\n\t/b\n");
    }

    /// A watcher that reads the tree from inside `process`: this only works
    /// because events are delivered after the tree lock is released.
    struct Reentrant {
        tree: Arc<DataTree>,
        seen: parking_lot::Mutex<Vec<Option<Vec<u8>>>>,
    }

    impl Watcher for Reentrant {
        fn watcher_id(&self) -> u64 {
            3
        }
        fn process(&self, e: &WatchedEvent, _: Option<&[Acl]>) {
            let data = self.tree.get_data(&e.path, None).ok().and_then(|(d, _)| d);
            self.seen.lock().push(data);
        }
    }

    #[test]
    fn watches_fire_outside_the_lock() {
        let tree = Arc::new(DataTree::new());
        create(&tree, "/a", 1);
        let w = Arc::new(Reentrant { tree: tree.clone(), seen: Default::default() });
        tree.get_data("/a", Some(w.clone())).unwrap();
        set_data(&tree, "/a", b"new", 1, 2);
        assert_eq!(*w.seen.lock(), [Some(b"new".to_vec())]);
    }

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
            for c in t.get_children(&p, None).unwrap().0 {
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

    /// Writes to memory, and at the first write (the first batch, written
    /// with the lock released) deletes both /x and /y with their children.
    struct DeleteMidway<'a> {
        tree: &'a DataTree,
        out: Vec<u8>,
        fired: bool,
    }

    impl Write for DeleteMidway<'_> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if !self.fired {
                self.fired = true;
                let mut zxid = 10_000;
                for top in ["/x", "/y"] {
                    for i in 0..2500 {
                        zxid += 1;
                        assert_eq!(delete(self.tree, &format!("{top}/{i}"), zxid).err, code::OK);
                    }
                    zxid += 1;
                    assert_eq!(delete(self.tree, top, zxid).err, code::OK);
                }
            }
            self.out.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn serialize_resumes_after_the_tree_changed() {
        let t = DataTree::new();
        let mut zxid = 0;
        for top in ["/x", "/y"] {
            zxid += 1;
            create(&t, top, zxid);
            for i in 0..2500 {
                zxid += 1;
                create(&t, &format!("{top}/{i}"), zxid);
            }
        }
        let mut w = DeleteMidway { tree: &t, out: Vec::new(), fired: false };
        t.serialize(&mut w).unwrap();
        assert_eq!(t.node_count(), 5);
        let back = DataTree::new();
        back.deserialize(&mut InputArchive::new(&w.out)).unwrap();
        // Whichever of /x and /y the walk met first was being written when
        // both went away: it keeps the children written before, the rest
        // of its subtree is dropped; the other one is skipped altogether.
        let present: Vec<&str> = ["/x", "/y"].into_iter().filter(|p| back.stat_node(p, None).is_ok()).collect();
        assert_eq!(present.len(), 1, "{present:?}");
        let written = back.get_all_children_number(present[0]);
        assert!((990..1000).contains(&written), "{written}");
        assert!(back.stat_node(CONFIG_NODE, None).is_ok());
        assert_eq!(back.node_count(), 5 + 1 + written as usize);
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

    #[test]
    fn serialize_spans_batches() {
        let t = DataTree::new();
        create(&t, "/n", 1);
        for i in 0..2500 {
            create(&t, &format!("/n/{i}"), 2 + i);
        }
        let mut bytes = Vec::new();
        t.serialize(&mut bytes).unwrap();
        let back = DataTree::new();
        back.deserialize(&mut InputArchive::new(&bytes)).unwrap();
        assert_eq!(back.node_count(), t.node_count());
        assert_eq!(back.get_all_children_number("/n"), 2500);
        assert_eq!(back.stat_node("/n", None), t.stat_node("/n", None));
    }
}
