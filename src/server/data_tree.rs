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
//!
//! This file keeps the tree and its operations; the seams around it have
//! modules of their own: `digest` (the tree digest and its checks),
//! `ephemerals` (the ephemeral, container and TTL registries), `watches`
//! (the watch tables and event delivery), `quota` (quota usage),
//! `serialize` (writing a snapshot) and `restore` (loading one).

mod digest;
mod ephemerals;
mod quota;
mod restore;
mod serialize;
mod watches;

pub use digest::ZxidDigest;
pub use restore::{read_node_record, NodeRecord, TreeLoadError, TreeRestore};

use digest::{node_digest, DigestState};
use watches::Change;

use crate::common::java_hash_order::JavaHashSet;
use crate::common::path_trie::PathTrie;
use crate::jute::records::{Acl, Stat, StatPersisted};
use crate::jute::txn::{MultiTxn, TxnBody, TxnHeader};
use crate::jute::{InputArchive, JuteError};
use crate::server::data_node::{ChildList, DataNode, EphemeralType};
use crate::server::quotas;
use crate::server::reference_counted_acl_cache::{ReferenceCountedAclCache, OPEN_UNSAFE_ACL_ID};
use crate::server::watch_manager::{WatchManager, WatcherMode};
use crate::watcher::Watcher;
use crate::zoo_defs::{code, ids, op_code};
use crate::jute::txn::TxnDigest;
use parking_lot::{Mutex, RwLock};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
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
    /// The node's ACL list, shared with the ACL cache rather than copied.
    pub acl: Arc<Vec<Acl>>,
    /// Length of the node's data (0 for null data), for the quota check.
    pub data_len: usize,
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

/// Tells each node above the node at `parent_path` (the root down to its
/// parent) that `delta` nodes came or went below it; the node at
/// `parent_path` counted them itself as its child came or went.
fn adjust_ancestors(root: &mut DataNode, parent_path: &str, delta: i64) {
    let mut node = root;
    for name in parent_path.split('/').filter(|n| !n.is_empty()) {
        node.adjust_descendants(delta);
        let Some(next) = node.child_mut(name) else { return };
        node = next;
    }
}

/// PathUtils.getTopNamespace: the first component of a path ("a" for
/// "/a/b"), none for "/".
pub fn top_namespace(path: &str) -> Option<&str> {
    path.split('/').nth(1).filter(|n| !n.is_empty())
}

/// DataTree.STAT_OVERHEAD_BYTES: what a Stat adds to a read's bytes.
const STAT_OVERHEAD_BYTES: i64 = 6 * 8 + 5 * 4;

/// updateReadStat: read_per_namespace, the bytes a read returned.
fn update_read_stat(path: &str, bytes: i64) {
    if let Some(ns) = top_namespace(path) {
        crate::server::server_metrics::metrics().read_per_namespace.add(ns, path.len() as i64 + bytes + STAT_OVERHEAD_BYTES);
    }
}

/// updateWriteStat: write_per_namespace, the bytes a write stored.
fn update_write_stat(path: &str, bytes: i64) {
    if let Some(ns) = top_namespace(path) {
        crate::server::server_metrics::metrics().write_per_namespace.add(ns, path.len() as i64 + bytes);
    }
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

impl TreeInner {
    /// `node_info` of `node`, found at `path`.
    fn info_of(&self, node: &DataNode, path: &str) -> NodeInfo {
        let acl = Arc::clone(self.acl_of(node, path));
        NodeInfo { stat: node.stat(), num_children: node.num_children() as i32, acl, data_len: node.data_len() }
    }

    /// The ACL list of `node`, found at `path`. An index missing from the
    /// table is logged and reads as a list that grants nothing.
    fn acl_of(&self, node: &DataNode, path: &str) -> &Arc<Vec<Acl>> {
        self.acl_cache.acls(node.acl()).unwrap_or_else(|| {
            error!("ACL index {} of {path} is not in the ACL table", node.acl());
            static NOTHING: OnceLock<Arc<Vec<Acl>>> = OnceLock::new();
            NOTHING.get_or_init(|| Arc::new(vec![Acl { perms: 0, id: ids::anyone_id_unsafe() }]))
        })
    }

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
        adjust_ancestors(&mut self.root, parent_path, 1);
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
        update_write_stat(path, data_len as i64);
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
        adjust_ancestors(&mut self.root, parent_path, -1 - node.descendants() as i64);
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
        update_write_stat(path, 0);
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
        update_write_stat(path, new_len);
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

    /// A copy of a node's persisted stat, child count and ACL. A node whose
    /// ACL index is missing from the table (a damaged snapshot) reads as
    /// permitting nothing.
    pub fn node_info(&self, path: &str) -> Option<NodeInfo> {
        let inner = self.inner.read();
        let node = resolve(&inner.root, path)?;
        Some(inner.info_of(node, path))
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

    /// getData: the data (None for null data) and Stat; sets a one-shot
    /// data watch when `watcher` is given and the node exists.
    pub fn get_data(&self, path: &str, watcher: Option<Arc<dyn Watcher>>) -> Result<(Option<Vec<u8>>, Stat), i32> {
        self.get_data_checked(path, watcher, |_| Ok(()))
    }

    /// `get_data` for a client: `check` sees the node's ACL list in the
    /// same lookup, and its refusal is the answer (no watch is set).
    pub fn get_data_checked(
        &self,
        path: &str,
        watcher: Option<Arc<dyn Watcher>>,
        check: impl FnOnce(&[Acl]) -> Result<(), i32>,
    ) -> Result<(Option<Vec<u8>>, Stat), i32> {
        let inner = self.inner.read();
        let node = resolve(&inner.root, path).ok_or(code::NO_NODE)?;
        check(inner.acl_of(node, path))?;
        if let Some(w) = watcher {
            self.data_watches.add_watch(path, w, WatcherMode::Standard);
        }
        update_read_stat(path, node.data_len() as i64);
        Ok((node.data().map(<[u8]>::to_vec), node.copy_stat(inner.extended_types)))
    }

    /// A node's data, read for the server's own bookkeeping (quota checks
    /// and figures): no watch, and not counted in read_per_namespace.
    pub fn peek_data(&self, path: &str) -> Option<Vec<u8>> {
        let inner = self.inner.read();
        resolve(&inner.root, path).and_then(|n| n.data().map(<[u8]>::to_vec))
    }

    /// A node's child names, as `peek_data`.
    pub fn peek_children(&self, path: &str) -> Option<Vec<String>> {
        let inner = self.inner.read();
        resolve(&inner.root, path).map(|n| n.child_names().map(str::to_string).collect())
    }

    /// exists: the Stat. The watch is set whether or not the node exists;
    /// on a missing node it fires when the node is created.
    pub fn stat_node(&self, path: &str, watcher: Option<Arc<dyn Watcher>>) -> Result<Stat, i32> {
        self.stat_node_checked(path, watcher, |_| Ok(()))
    }

    /// `stat_node` for a client: `check` sees an existing node's ACL list
    /// in the same lookup, and its refusal is the answer (no watch is set).
    pub fn stat_node_checked(
        &self,
        path: &str,
        watcher: Option<Arc<dyn Watcher>>,
        check: impl FnOnce(&[Acl]) -> Result<(), i32>,
    ) -> Result<Stat, i32> {
        let inner = self.inner.read();
        let node = resolve(&inner.root, path);
        if let Some(node) = node {
            check(inner.acl_of(node, path))?;
        }
        if let Some(w) = watcher {
            self.data_watches.add_watch(path, w, WatcherMode::Standard);
        }
        let node = node.ok_or(code::NO_NODE)?;
        update_read_stat(path, 0);
        Ok(node.copy_stat(inner.extended_types))
    }

    /// getChildren: the children, serialized in Java's order (see
    /// DataNode), and the Stat; sets a one-shot child watch when `watcher`
    /// is given and the node exists.
    pub fn get_children(&self, path: &str, watcher: Option<Arc<dyn Watcher>>) -> Result<(ChildList, Stat), i32> {
        self.get_children_checked(path, watcher, |_| Ok(()))
    }

    /// `get_children` for a client: `check` sees the node's ACL list in
    /// the same lookup, and its refusal is the answer (no watch is set).
    pub fn get_children_checked(
        &self,
        path: &str,
        watcher: Option<Arc<dyn Watcher>>,
        check: impl FnOnce(&[Acl]) -> Result<(), i32>,
    ) -> Result<(ChildList, Stat), i32> {
        let inner = self.inner.read();
        let node = resolve(&inner.root, path).ok_or(code::NO_NODE)?;
        check(inner.acl_of(node, path))?;
        if let Some(w) = watcher {
            self.child_watches.add_watch(path, w, WatcherMode::Standard);
        }
        let children = node.listing();
        let stat = node.copy_stat(inner.extended_types);
        drop(inner);
        update_read_stat(path, children.name_bytes() as i64);
        Ok((children, stat))
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
        resolve(&inner.root, path).map_or(0, |n| n.descendants() as i32)
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

    /// Number of distinct ACL lists in use.
    pub fn acl_cache_size(&self) -> usize {
        self.inner.read().acl_cache.size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jute::records::Id;
    use crate::jute::txn::{
        CheckVersionTxn, CreateContainerTxn, CreateSessionTxn, CreateTtlTxn, CreateTxn, DeleteTxn,
        ErrorTxn, SetAclTxn, SetDataTxn, Txn,
    };
    use crate::jute::Record;
    
    use crate::zoo_defs::perms;

    pub(super) const SESSION: i64 = 0x55;

    pub(super) fn hdr(ty: i32, zxid: i64) -> TxnHeader {
        TxnHeader { client_id: SESSION, cxid: 7, zxid, time: 1000 + zxid, r#type: ty }
    }

    pub(super) fn create_txn(path: &str, data: &[u8], ephemeral: bool, parent_c_version: i32) -> CreateTxn {
        CreateTxn {
            path: path.into(),
            data: Some(data.to_vec()),
            acl: ids::open_acl_unsafe(),
            ephemeral,
            parent_c_version,
        }
    }

    pub(super) fn create(t: &DataTree, path: &str, zxid: i64) -> ProcessTxnResult {
        t.process_txn(&hdr(op_code::CREATE, zxid), Some(&TxnBody::Create(create_txn(path, b"", false, -1))))
    }

    pub(super) fn delete(t: &DataTree, path: &str, zxid: i64) -> ProcessTxnResult {
        t.process_txn(&hdr(op_code::DELETE, zxid), Some(&TxnBody::Delete(DeleteTxn { path: path.into() })))
    }

    pub(super) fn set_data(t: &DataTree, path: &str, data: &[u8], version: i32, zxid: i64) -> ProcessTxnResult {
        let body = TxnBody::SetData(SetDataTxn { path: path.into(), data: Some(data.to_vec()), version });
        t.process_txn(&hdr(op_code::SET_DATA, zxid), Some(&body))
    }

    pub(super) fn stat(t: &DataTree, path: &str) -> Stat {
        t.stat_node(path, None).unwrap()
    }

    pub(super) fn sorted_children(t: &DataTree, path: &str) -> Vec<String> {
        let mut c = t.get_children(path, None).unwrap().0.names();
        c.sort();
        c
    }

    pub(super) fn sub<R: Record>(ty: i32, body: &R) -> Txn {
        Txn { r#type: ty, data: body.to_bytes() }
    }

    pub(super) fn multi(t: &DataTree, subs: Vec<Txn>, zxid: i64) -> ProcessTxnResult {
        t.process_txn(&hdr(op_code::MULTI, zxid), Some(&TxnBody::Multi(MultiTxn { txns: subs })))
    }

    pub(super) fn ev(ty: i32, path: &str) -> (i32, String) {
        (ty, path.to_string())
    }

    /// Checks the incremental bookkeeping against the tree: the digest,
    /// and every node's count of the nodes below it. Returns the digest.
    pub(super) fn digest_is_consistent(t: &DataTree) -> i64 {
        let inner = t.inner.read();
        assert_eq!(inner.digest, inner.full_digest(), "incremental digest drifted from the tree");
        let mut stack = vec![&inner.root];
        while let Some(n) = stack.pop() {
            assert_eq!(n.descendants() as i64, subtree_counts(n).0 - 1, "count below {n:?}");
            stack.extend(n.children());
        }
        assert_eq!(inner.root.descendants() as usize, inner.node_count - 1);
        inner.digest
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
        assert_eq!(*config.acl, ids::read_acl_unsafe());
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
        assert_eq!(*t.node_info("/a").unwrap().acl, digest);
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

    #[test]
    fn data_size_counts_paths_in_utf16_units() {
        let t = DataTree::new();
        // "é" is 2 bytes of UTF-8 but one UTF-16 unit; "𝄞" is 4 and 2.
        create(&t, "/é𝄞", 1);
        assert_eq!(t.approximate_data_size(), 44 + 4);
        delete(&t, "/é𝄞", 2);
        assert_eq!(t.approximate_data_size(), 44);
    }
}
