//! DataTree: the in-memory znode tree, its ephemeral/container/TTL
//! registries, ACL cache and quota bookkeeping, plus the two watch tables
//! (data/exists watches and child watches).
//!
//! Txns are applied by the one thread that runs FinalRequestProcessor (or a
//! snapshot/log restore); reads come from the request-serving threads. The
//! tree sits behind one RwLock; watches fire only after it is released.
//! Reads that set a watch register it while still holding the read lock, so
//! a change cannot slip in between the read and the registration.

use crate::common::path_trie::PathTrie;
use crate::jute::records::{Acl, Id, Stat, StatPersisted};
use crate::jute::txn::{TxnBody, TxnHeader};
use crate::jute::{InputArchive, JuteError, OutputArchive};
use crate::server::data_node::{DataNode, EphemeralType};
use crate::server::quotas::{self, StatsTrack};
use crate::server::reference_counted_acl_cache::{ReferenceCountedAclCache, OPEN_UNSAFE_ACL_ID};
use crate::server::watch_manager::{parent_path, WatchManager, WatcherMode};
use crate::server::watcher::{WatchedEvent, Watcher};
use crate::server::zoo_defs::{code, event_type, ids, op_code, watcher_type};
use parking_lot::RwLock;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// The dynamic configuration node (ZooDefs.CONFIG_NODE).
pub const CONFIG_NODE: &str = "/zookeeper/config";

/// The outcome of applying one txn (Java's DataTree.ProcessTxnResult).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessTxnResult {
    pub client_id: i64,
    pub cxid: i32,
    pub zxid: i64,
    /// `code::*`, OK on success.
    pub err: i32,
    /// The txn header's type (for a multi's parts: the part's type, `error`
    /// for parts of a failed multi).
    pub op_type: i32,
    /// The created path for creates, else the request path ("" when none).
    pub path: String,
    /// The node's Stat after create2/createTTL/createContainer, setData and
    /// setACL.
    pub stat: Option<Stat>,
    /// One result per part of a multi.
    pub multi_result: Vec<ProcessTxnResult>,
}

/// What PrepRequestProcessor needs of a node (a copy, taken under the lock).
/// `stat.cversion` is the stored count of child creations and
/// `stat.ephemeral_owner` the raw owner (container/TTL markers included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub stat: StatPersisted,
    pub num_children: i32,
    pub acl: Vec<Acl>,
}

/// Why a snapshot could not be loaded into the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreError {
    Jute(JuteError),
    /// A node came before its parent (or before the root).
    MissingParent(String),
    /// A path that is not absolute or has an empty component.
    BadPath(String),
    /// The same path twice.
    Duplicate(String),
}

impl fmt::Display for RestoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestoreError::Jute(e) => write!(f, "snapshot unreadable: {e}"),
            RestoreError::MissingParent(p) => write!(f, "Invalid Datatree, unable to find parent of path {p}"),
            RestoreError::BadPath(p) => write!(f, "Invalid Datatree, malformed path {p:?}"),
            RestoreError::Duplicate(p) => write!(f, "Invalid Datatree, path {p} appears twice"),
        }
    }
}

impl std::error::Error for RestoreError {}

impl From<JuteError> for RestoreError {
    fn from(e: JuteError) -> Self {
        RestoreError::Jute(e)
    }
}

/// A watch trigger recorded while the tree lock is held and fired after.
enum Fire {
    Created(String),
    Deleted(String),
    DataChanged(String),
}

/// Splits "/a/b" into ("/a", "b") and "/a" into ("/", "a"); `None` for "/"
/// and for paths that are not absolute or have an empty component.
fn split_path(path: &str) -> Option<(&str, &str)> {
    if path == "/" || components(path).is_none() {
        return None;
    }
    let slash = path.rfind('/')?;
    let parent = if slash == 0 { "/" } else { &path[..slash] };
    Some((parent, &path[slash + 1..]))
}

/// The components of an absolute path ("/" has none); `None` when the path
/// is not absolute or has an empty component.
fn components(path: &str) -> Option<impl Iterator<Item = &str>> {
    let rest = path.strip_prefix('/')?;
    let empty = rest.is_empty();
    if !empty && rest.split('/').any(str::is_empty) {
        return None;
    }
    Some(rest.split('/').filter(move |_| !empty))
}

fn lookup<'a>(root: &'a DataNode, path: &str) -> Option<&'a DataNode> {
    let mut node = root;
    for c in components(path)? {
        node = node.child(c)?;
    }
    Some(node)
}

fn lookup_mut<'a>(root: &'a mut DataNode, path: &str) -> Option<&'a mut DataNode> {
    let mut node = root;
    for c in components(path)? {
        node = node.child_mut(c)?;
    }
    Some(node)
}

/// A string's length as Java counts it (UTF-16 units).
fn java_len(s: &str) -> i64 {
    if s.is_ascii() {
        s.len() as i64
    } else {
        s.encode_utf16().count() as i64
    }
}

/// Java's per-node contribution to the approximate data size.
fn node_size(path: &str, data_len: usize) -> i64 {
    java_len(path) + data_len as i64
}

fn create_stat(zxid: i64, time: i64, ephemeral_owner: i64) -> StatPersisted {
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

/// What a node whose ACL index is missing from the cache is given: nobody
/// but a super user may do anything with it.
fn deny_all_acl() -> Vec<Acl> {
    vec![Acl { perms: 0, id: Id::new("world", "anyone") }]
}

/// Everything behind the tree lock.
struct TreeState {
    root: DataNode,
    /// Real nodes, the root included.
    node_count: usize,
    /// Sum of path length + data length over all nodes (Java's nodeDataSize).
    data_size: i64,
    /// Session id -> paths of its ephemeral nodes. As in Java, a session's
    /// (possibly empty) entry stays until the session closes.
    ephemerals: HashMap<i64, HashSet<String>>,
    containers: HashSet<String>,
    ttls: HashSet<String>,
    acl_cache: ReferenceCountedAclCache,
    /// Paths that have a quota.
    quota_trie: PathTrie,
    extended_types_enabled: bool,
}

impl TreeState {
    /// The tree Java's constructor builds: "/", "/zookeeper",
    /// "/zookeeper/quota" and "/zookeeper/config" (the last readable by
    /// anyone, writable by nobody but super; aversion -1).
    fn new(extended_types_enabled: bool) -> TreeState {
        let empty = || DataNode::new(Some(Box::default()), OPEN_UNSAFE_ACL_ID, StatPersisted::default());
        let mut root = empty();
        let mut acl_cache = ReferenceCountedAclCache::new();
        let mut config = empty();
        config.acl = acl_cache.convert_acls(&ids::read_acl_unsafe());
        config.stat.aversion = -1;
        let mut proc_node = empty();
        let _ = proc_node.add_child("quota", empty());
        let _ = proc_node.add_child("config", config);
        let _ = root.add_child("zookeeper", proc_node);
        let data_size = ["/", quotas::PROC_ZOOKEEPER, quotas::QUOTA_ZOOKEEPER, CONFIG_NODE]
            .iter()
            .map(|p| node_size(p, 0))
            .sum();
        TreeState {
            root,
            node_count: 4,
            data_size,
            ephemerals: HashMap::new(),
            containers: HashSet::new(),
            ttls: HashSet::new(),
            acl_cache,
            quota_trie: PathTrie::new(),
            extended_types_enabled,
        }
    }

    /// An empty tree for a snapshot to fill: only a placeholder root.
    fn empty(extended_types_enabled: bool) -> TreeState {
        TreeState {
            root: DataNode::default(),
            node_count: 0,
            data_size: 0,
            ephemerals: HashMap::new(),
            containers: HashSet::new(),
            ttls: HashSet::new(),
            acl_cache: ReferenceCountedAclCache::new(),
            quota_trie: PathTrie::new(),
            extended_types_enabled,
        }
    }

    fn acls_of(&self, node: &DataNode) -> Vec<Acl> {
        self.acl_cache.convert_long(node.acl).unwrap_or_else(|| {
            tracing::error!("ACL index {} of a node is not in the ACL cache; denying access", node.acl);
            deny_all_acl()
        })
    }

    /// Puts a new node's path in the ephemeral/container/TTL registry its
    /// owner calls for.
    fn register_owner(&mut self, path: &str, owner: i64) {
        match EphemeralType::get(owner, self.extended_types_enabled) {
            EphemeralType::Container => {
                self.containers.insert(path.to_string());
            }
            EphemeralType::Ttl => {
                self.ttls.insert(path.to_string());
            }
            EphemeralType::Normal => {
                self.ephemerals.entry(owner).or_default().insert(path.to_string());
            }
            EphemeralType::Void => {}
        }
    }

    fn unregister_owner(&mut self, path: &str, owner: i64) {
        match EphemeralType::get(owner, self.extended_types_enabled) {
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

    /// The deepest quota root above (or at) `path`, if any.
    fn max_prefix_with_quota(&self, path: &str) -> Option<String> {
        let prefix = self.quota_trie.find_max_prefix(path);
        (prefix != "/" && !prefix.is_empty()).then_some(prefix)
    }

    /// Adds to the usage recorded in a quota's zookeeper_stats node. Like
    /// Java, this rewrites the data without touching the node's stat.
    fn update_quota_stat(&mut self, quota_root: &str, bytes_diff: i64, count_diff: i64) {
        let stat_path = quotas::stat_path(quota_root);
        let Some(node) = lookup_mut(&mut self.root, &stat_path) else {
            tracing::error!("Missing node for stat {stat_path}");
            return;
        };
        let old = node.data.as_deref().unwrap_or_default();
        let mut track = StatsTrack::parse(old);
        track.set_count(track.count() + count_diff);
        track.set_bytes(track.bytes() + bytes_diff);
        let old_len = node.data_len();
        node.data = Some(track.to_string().into_bytes().into_boxed_slice());
        self.data_size += node.data_len() as i64 - old_len as i64;
    }

    /// Recounts the nodes and bytes below (and at) `path` into its quota's
    /// stats node.
    fn update_quota_for_path(&mut self, path: &str) {
        let (mut count, mut bytes) = (0i64, 0i64);
        if let Some(start) = lookup(&self.root, path) {
            let mut pending = vec![start];
            while let Some(n) = pending.pop() {
                count += 1;
                bytes += n.data_len() as i64;
                pending.extend(n.children().map(|(_, c)| c));
            }
        }
        let stat_path = quotas::stat_path(path);
        let Some(node) = lookup_mut(&mut self.root, &stat_path) else {
            tracing::warn!("Missing quota stat node {stat_path}");
            return;
        };
        let mut track = StatsTrack::default();
        track.set_bytes(bytes);
        track.set_count(count);
        let old_len = node.data_len();
        node.data = Some(track.to_string().into_bytes().into_boxed_slice());
        self.data_size += node.data_len() as i64 - old_len as i64;
    }

    /// Rebuilds the quota trie and every stats node from the limit nodes
    /// under /zookeeper/quota (after a snapshot load).
    fn setup_quota(&mut self) {
        let mut limited = Vec::new();
        if let Some(quota_root) = lookup(&self.root, quotas::QUOTA_ZOOKEEPER) {
            let mut pending = vec![(quotas::QUOTA_ZOOKEEPER.to_string(), quota_root)];
            while let Some((path, node)) = pending.pop() {
                if node.num_children() == 0 {
                    let suffix = format!("/{}", quotas::LIMIT_NODE);
                    if let Some(real) = path.strip_suffix(&suffix) {
                        if let Some(real) = real.strip_prefix(quotas::QUOTA_ZOOKEEPER) {
                            if !real.is_empty() {
                                limited.push(real.to_string());
                            }
                        }
                    }
                    continue;
                }
                for (name, child) in node.children() {
                    pending.push((format!("{path}/{name}"), child));
                }
            }
        }
        for real in limited {
            self.update_quota_for_path(&real);
            self.quota_trie.add_path(&real);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn create_node(
        &mut self,
        path: &str,
        data: &Option<Vec<u8>>,
        acl: &[Acl],
        ephemeral_owner: i64,
        parent_cversion: i32,
        zxid: i64,
        time: i64,
        fires: &mut Vec<Fire>,
    ) -> Result<Stat, i32> {
        let (parent_path, name) = split_path(path).ok_or(code::BAD_ARGUMENTS)?;
        let extended = self.extended_types_enabled;
        let parent = lookup_mut(&mut self.root, parent_path).ok_or(code::NO_NODE)?;
        // Java counts the ACL use before the exists check, so a replayed
        // create that finds its node keeps the same cache indexes.
        let acl_index = self.acl_cache.convert_acls(acl);
        if parent.has_child(name) {
            return Err(code::NODE_EXISTS);
        }
        let new_cversion = if parent_cversion == -1 { parent.stat.cversion + 1 } else { parent_cversion };
        // A replay over a fuzzy snapshot must never move these backwards.
        if new_cversion > parent.stat.cversion {
            parent.stat.cversion = new_cversion;
            parent.stat.pzxid = zxid;
        }
        let data_len = data.as_ref().map_or(0, Vec::len);
        let node = DataNode::new(
            data.as_ref().map(|d| d.clone().into_boxed_slice()),
            acl_index,
            create_stat(zxid, time, ephemeral_owner),
        );
        let stat = match parent.add_child(name, node) {
            Ok(child) => child.copy_stat(extended),
            Err(_) => return Err(code::NODE_EXISTS),
        };
        self.node_count += 1;
        self.data_size += node_size(path, data_len);
        self.register_owner(path, ephemeral_owner);

        if let Some(quota_sub) = parent_path.strip_prefix(quotas::QUOTA_ZOOKEEPER) {
            if !quota_sub.is_empty() {
                if name == quotas::LIMIT_NODE {
                    self.quota_trie.add_path(quota_sub);
                }
                if name == quotas::STAT_NODE {
                    self.update_quota_for_path(quota_sub);
                }
            }
        }
        if let Some(prefix) = self.max_prefix_with_quota(path) {
            self.update_quota_stat(&prefix, data_len as i64, 1);
        }
        fires.push(Fire::Created(path.to_string()));
        Ok(stat)
    }

    fn delete_node(&mut self, path: &str, zxid: i64, fires: &mut Vec<Fire>) -> Result<(), i32> {
        let Some((parent_path, name)) = split_path(path) else {
            return Err(if path == "/" { code::BAD_ARGUMENTS } else { code::NO_NODE });
        };
        let parent = lookup_mut(&mut self.root, parent_path).ok_or(code::NO_NODE)?;
        // Java moves the parent's pzxid forward even when the child turns
        // out to be gone already (a replay over a fuzzy snapshot).
        if zxid > parent.stat.pzxid {
            parent.stat.pzxid = zxid;
        }
        let mut node = parent.remove_child(name).ok_or(code::NO_NODE)?;
        let data_len = node.data_len();
        self.forget_node(path, &node);
        // Prep never deletes a node with children; if a replay does, its
        // descendants go with it and leave no stale bookkeeping behind.
        let mut pending: Vec<(String, DataNode)> = node
            .take_children()
            .into_iter()
            .map(|(n, c)| (format!("{path}/{n}"), c))
            .collect();
        while let Some((p, mut n)) = pending.pop() {
            self.forget_node(&p, &n);
            pending.extend(n.take_children().into_iter().map(|(cn, c)| (format!("{p}/{cn}"), c)));
        }

        if name == quotas::LIMIT_NODE && parent_path.starts_with(quotas::PROC_ZOOKEEPER) {
            if let Some(real) = parent_path.get(quotas::QUOTA_ZOOKEEPER.len()..) {
                if !real.is_empty() {
                    self.quota_trie.delete_path(real);
                }
            }
        }
        if let Some(prefix) = self.max_prefix_with_quota(path) {
            self.update_quota_stat(&prefix, -(data_len as i64), -1);
        }
        fires.push(Fire::Deleted(path.to_string()));
        Ok(())
    }

    /// Drops the bookkeeping of one removed node.
    fn forget_node(&mut self, path: &str, node: &DataNode) {
        self.acl_cache.remove_usage(node.acl);
        self.node_count = self.node_count.saturating_sub(1);
        self.data_size -= node_size(path, node.data_len());
        self.unregister_owner(path, node.stat.ephemeral_owner);
    }

    fn set_data(
        &mut self,
        path: &str,
        data: &Option<Vec<u8>>,
        version: i32,
        zxid: i64,
        time: i64,
        fires: &mut Vec<Fire>,
    ) -> Result<Stat, i32> {
        let extended = self.extended_types_enabled;
        let node = lookup_mut(&mut self.root, path).ok_or(code::NO_NODE)?;
        let old_len = node.data_len() as i64;
        node.data = data.as_ref().map(|d| d.clone().into_boxed_slice());
        node.stat.mtime = time;
        node.stat.mzxid = zxid;
        node.stat.version = version;
        let stat = node.copy_stat(extended);
        let new_len = node.data_len() as i64;
        self.data_size += new_len - old_len;
        if let Some(prefix) = self.max_prefix_with_quota(path) {
            self.update_quota_stat(&prefix, new_len - old_len, 0);
        }
        fires.push(Fire::DataChanged(path.to_string()));
        Ok(stat)
    }

    fn set_acl(&mut self, path: &str, acl: &[Acl], version: i32) -> Result<Stat, i32> {
        let node = lookup_mut(&mut self.root, path).ok_or(code::NO_NODE)?;
        self.acl_cache.remove_usage(node.acl);
        node.stat.aversion = version;
        node.acl = self.acl_cache.convert_acls(acl);
        Ok(node.copy_stat(self.extended_types_enabled))
    }

    /// Raises a node's cversion (and pzxid with it); -1 means "one more".
    fn set_cversion_pzxid(&mut self, path: &str, new_cversion: i32, zxid: i64) -> Result<(), i32> {
        let node = lookup_mut(&mut self.root, path).ok_or(code::NO_NODE)?;
        let new_cversion = if new_cversion == -1 { node.stat.cversion + 1 } else { new_cversion };
        if new_cversion > node.stat.cversion {
            node.stat.cversion = new_cversion;
            node.stat.pzxid = zxid;
        }
        Ok(())
    }

    /// Deletes a closed session's ephemerals: the txn's list when it has
    /// one, then whatever else the tree still holds for the session.
    fn kill_session(&mut self, session: i64, zxid: i64, in_txn: Option<&[String]>, fires: &mut Vec<Fire>) {
        let local = self.ephemerals.remove(&session);
        if let Some(paths) = in_txn {
            self.delete_ephemerals(session, zxid, paths.iter(), fires);
        }
        let Some(mut local) = local else {
            return;
        };
        if let Some(paths) = in_txn {
            for p in paths {
                local.remove(p);
            }
            if !local.is_empty() {
                tracing::warn!(
                    "Unexpected extra paths under session 0x{session:x} which are not in txn 0x{zxid:x}: {local:?}"
                );
            }
        }
        self.delete_ephemerals(session, zxid, local.iter(), fires);
    }

    fn delete_ephemerals<'a>(
        &mut self,
        session: i64,
        zxid: i64,
        paths: impl Iterator<Item = &'a String>,
        fires: &mut Vec<Fire>,
    ) {
        for path in paths {
            match self.delete_node(path, zxid, fires) {
                Ok(()) => tracing::debug!("Deleting ephemeral node {path} for session 0x{session:x}"),
                Err(_) => tracing::warn!(
                    "Ignoring NoNodeException for path {path} while removing ephemeral for dead session 0x{session:x}"
                ),
            }
        }
    }

    /// Applies one txn (or one part of a multi).
    fn apply(&mut self, hdr: &TxnHeader, txn: Option<&TxnBody>, fires: &mut Vec<Fire>) -> ProcessTxnResult {
        let mut rc = ProcessTxnResult {
            client_id: hdr.client_id,
            cxid: hdr.cxid,
            zxid: hdr.zxid,
            op_type: hdr.r#type,
            ..Default::default()
        };
        let (zxid, time) = (hdr.zxid, hdr.time);
        let outcome: Result<(), i32> = match (hdr.r#type, txn) {
            (op_code::CREATE | op_code::CREATE2, Some(TxnBody::Create(t))) => {
                rc.path = t.path.clone();
                let owner = if t.ephemeral { hdr.client_id } else { 0 };
                self.create_node(&t.path, &t.data, &t.acl, owner, t.parent_c_version, zxid, time, fires)
                    .map(|s| {
                        if hdr.r#type == op_code::CREATE2 {
                            rc.stat = Some(s);
                        }
                    })
            }
            (op_code::CREATE_TTL, Some(TxnBody::CreateTtl(t))) => {
                rc.path = t.path.clone();
                match EphemeralType::ttl_to_ephemeral_owner(t.ttl) {
                    None => Err(code::BAD_ARGUMENTS),
                    Some(owner) => self
                        .create_node(&t.path, &t.data, &t.acl, owner, t.parent_c_version, zxid, time, fires)
                        .map(|s| rc.stat = Some(s)),
                }
            }
            (op_code::CREATE_CONTAINER, Some(TxnBody::CreateContainer(t))) => {
                rc.path = t.path.clone();
                let owner = EphemeralType::CONTAINER_EPHEMERAL_OWNER;
                self.create_node(&t.path, &t.data, &t.acl, owner, t.parent_c_version, zxid, time, fires)
                    .map(|s| rc.stat = Some(s))
            }
            (op_code::DELETE | op_code::DELETE_CONTAINER, Some(TxnBody::Delete(t))) => {
                rc.path = t.path.clone();
                self.delete_node(&t.path, zxid, fires)
            }
            (op_code::SET_DATA | op_code::RECONFIG, Some(TxnBody::SetData(t))) => {
                rc.path = t.path.clone();
                self.set_data(&t.path, &t.data, t.version, zxid, time, fires).map(|s| rc.stat = Some(s))
            }
            (op_code::SET_ACL, Some(TxnBody::SetAcl(t))) => {
                rc.path = t.path.clone();
                self.set_acl(&t.path, &t.acl, t.version).map(|s| rc.stat = Some(s))
            }
            (op_code::CLOSE_SESSION, Some(TxnBody::CloseSession(t))) => {
                self.kill_session(hdr.client_id, zxid, Some(&t.paths2_delete), fires);
                Ok(())
            }
            (op_code::CLOSE_SESSION, None) => {
                self.kill_session(hdr.client_id, zxid, None, fires);
                Ok(())
            }
            (op_code::CREATE_SESSION, _) => Ok(()),
            (op_code::ERROR, Some(TxnBody::Error(t))) => Err(t.err),
            (op_code::CHECK, Some(TxnBody::Check(t))) => {
                rc.path = t.path.clone();
                Ok(())
            }
            (op_code::MULTI, Some(TxnBody::Multi(m))) => {
                self.apply_multi(hdr, m, &mut rc, fires);
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
                | op_code::ERROR
                | op_code::CHECK
                | op_code::MULTI,
                _,
            ) => {
                tracing::warn!("txn 0x{:x} of type {} has a missing or mismatched body", hdr.zxid, hdr.r#type);
                Err(code::MARSHALLING_ERROR)
            }
            // Like Java, any other type changes nothing.
            _ => Ok(()),
        };
        if let Err(e) = outcome {
            rc.err = e;
        }

        // A create replayed over a fuzzy snapshot may find its node already
        // there (re-created by another session after the parent was
        // written); the parent's cversion/pzxid must still move forward.
        if hdr.r#type == op_code::CREATE && rc.err == code::NODE_EXISTS {
            if let Some(TxnBody::Create(t)) = txn {
                if let Some((parent, _)) = split_path(&rc.path) {
                    if let Err(e) = self.set_cversion_pzxid(parent, t.parent_c_version, zxid) {
                        tracing::error!("Failed to set parent cversion for: {parent}");
                        rc.err = e;
                    }
                }
            }
        }
        rc
    }

    /// Applies a multi's parts in order. If any part is an error txn the
    /// whole multi failed in Prep: no part is applied, parts before the
    /// first error report OK and parts after it RUNTIMEINCONSISTENCY.
    fn apply_multi(
        &mut self,
        hdr: &TxnHeader,
        multi: &crate::jute::txn::MultiTxn,
        rc: &mut ProcessTxnResult,
        fires: &mut Vec<Fire>,
    ) {
        let failed = multi.txns.iter().any(|t| t.r#type == op_code::ERROR);
        let mut post_failed = false;
        for sub in &multi.txns {
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
            let decoded = if allowed {
                TxnBody::deserialize(sub.r#type, &mut InputArchive::new(&sub.data))
            } else {
                Err(JuteError::UnknownTxnType(sub.r#type))
            };
            let body = match decoded {
                Ok(Some(b)) => b,
                Ok(None) | Err(_) => {
                    tracing::warn!("multi txn 0x{:x} has an undecodable part of type {}", hdr.zxid, sub.r#type);
                    if rc.err == code::OK {
                        rc.err = code::MARSHALLING_ERROR;
                    }
                    return;
                }
            };
            if sub.r#type == op_code::ERROR {
                post_failed = true;
            }
            let (sub_type, body) = if failed && sub.r#type != op_code::ERROR {
                let err = if post_failed { code::RUNTIME_INCONSISTENCY } else { code::OK };
                (op_code::ERROR, TxnBody::Error(crate::jute::txn::ErrorTxn { err }))
            } else {
                (sub.r#type, body)
            };
            let sub_hdr = TxnHeader { r#type: sub_type, ..hdr.clone() };
            let sub_rc = self.apply(&sub_hdr, Some(&body), fires);
            if sub_rc.err != code::OK && rc.err == code::OK {
                rc.err = sub_rc.err;
            }
            rc.multi_result.push(sub_rc);
        }
    }

    /// Adds one node read from a snapshot. The root ("") must come first
    /// and every parent before its children.
    fn restore_node(&mut self, path: &str, node: DataNode, root_seen: &mut bool) -> Result<(), RestoreError> {
        self.acl_cache.add_usage(node.acl);
        if path.is_empty() {
            if *root_seen {
                return Err(RestoreError::Duplicate("/".to_string()));
            }
            *root_seen = true;
            self.node_count += 1;
            self.data_size += node_size("/", node.data_len());
            self.root.data = node.data.clone();
            self.root.acl = node.acl;
            self.root.stat = node.stat.clone();
            return Ok(());
        }
        let (parent_path, name) = split_path(path).ok_or_else(|| RestoreError::BadPath(path.to_string()))?;
        if !*root_seen {
            return Err(RestoreError::MissingParent(path.to_string()));
        }
        let parent = lookup_mut(&mut self.root, parent_path).ok_or_else(|| {
            if components(parent_path).is_none() {
                RestoreError::BadPath(path.to_string())
            } else {
                RestoreError::MissingParent(path.to_string())
            }
        })?;
        let owner = node.stat.ephemeral_owner;
        let data_len = node.data_len();
        if parent.add_child(name, node).is_err() {
            return Err(RestoreError::Duplicate(path.to_string()));
        }
        self.node_count += 1;
        self.data_size += node_size(path, data_len);
        self.register_owner(path, owner);
        Ok(())
    }
}

/// The znode tree and its watch tables (see the module comment).
pub struct DataTree {
    state: RwLock<TreeState>,
    data_watches: WatchManager,
    child_watches: WatchManager,
    last_processed_zxid: AtomicI64,
    extended_types_enabled: bool,
}

impl Default for DataTree {
    fn default() -> Self {
        DataTree::new()
    }
}

impl DataTree {
    /// A fresh tree ("/", "/zookeeper", "/zookeeper/quota",
    /// "/zookeeper/config") with extended ephemeral types (TTL nodes) off,
    /// Java's default.
    pub fn new() -> DataTree {
        DataTree::with_extended_types(false)
    }

    /// A fresh tree; `extended_types_enabled` is
    /// zookeeper.extendedTypesEnabled, without which TTL owners are not
    /// recognised as TTL nodes (Java's EphemeralType.get).
    pub fn with_extended_types(extended_types_enabled: bool) -> DataTree {
        DataTree {
            state: RwLock::new(TreeState::new(extended_types_enabled)),
            data_watches: WatchManager::new(),
            child_watches: WatchManager::new(),
            last_processed_zxid: AtomicI64::new(0),
            extended_types_enabled,
        }
    }

    pub fn extended_types_enabled(&self) -> bool {
        self.extended_types_enabled
    }

    /// Applies one txn of any kind and reports the outcome. createSession
    /// changes nothing; closeSession deletes the session's ephemerals (those
    /// the txn lists, then any others the tree knows of); an error txn sets
    /// `err`; a multi applies its parts in order. Version checks are Prep's
    /// job: this applies what the txn says. Raises last_processed_zxid, then
    /// fires the watches after the tree lock is released.
    pub fn process_txn(&self, hdr: &TxnHeader, txn: Option<&TxnBody>) -> ProcessTxnResult {
        let mut fires = Vec::new();
        let rc = {
            let mut state = self.state.write();
            let rc = state.apply(hdr, txn, &mut fires);
            self.last_processed_zxid.fetch_max(rc.zxid, Ordering::SeqCst);
            rc
        };
        self.fire(fires, hdr.zxid);
        rc
    }

    fn fire(&self, fires: Vec<Fire>, zxid: i64) {
        for f in fires {
            match f {
                Fire::Created(path) => {
                    self.data_watches.trigger_watch(&path, event_type::NODE_CREATED, zxid, None);
                    let parent = parent_path(&path).unwrap_or("/");
                    self.child_watches.trigger_watch(parent, event_type::NODE_CHILDREN_CHANGED, zxid, None);
                }
                Fire::Deleted(path) => {
                    let told = self.data_watches.trigger_watch(&path, event_type::NODE_DELETED, zxid, None);
                    self.child_watches.trigger_watch(&path, event_type::NODE_DELETED, zxid, Some(&told));
                    let parent = parent_path(&path).unwrap_or("/");
                    self.child_watches.trigger_watch(parent, event_type::NODE_CHILDREN_CHANGED, zxid, None);
                }
                Fire::DataChanged(path) => {
                    self.data_watches.trigger_watch(&path, event_type::NODE_DATA_CHANGED, zxid, None);
                }
            }
        }
    }

    pub fn node_info(&self, path: &str) -> Option<NodeInfo> {
        let state = self.state.read();
        let node = lookup(&state.root, path)?;
        Some(NodeInfo {
            stat: node.stat.clone(),
            num_children: node.num_children() as i32,
            acl: state.acls_of(node),
        })
    }

    /// getData; a watcher gets a one-shot data watch (only when the node
    /// exists).
    pub fn get_data(&self, path: &str, watcher: Option<Arc<dyn Watcher>>) -> Result<(Option<Vec<u8>>, Stat), i32> {
        let state = self.state.read();
        let node = lookup(&state.root, path).ok_or(code::NO_NODE)?;
        if let Some(w) = watcher {
            self.data_watches.add_watch(path, w, WatcherMode::Standard);
        }
        Ok((node.data.as_ref().map(|d| d.to_vec()), node.copy_stat(self.extended_types_enabled)))
    }

    /// exists; a watcher gets a one-shot data watch whether or not the node
    /// exists (so it hears of the node's creation).
    pub fn stat_node(&self, path: &str, watcher: Option<Arc<dyn Watcher>>) -> Result<Stat, i32> {
        let state = self.state.read();
        if let Some(w) = watcher {
            self.data_watches.add_watch(path, w, WatcherMode::Standard);
        }
        let node = lookup(&state.root, path).ok_or(code::NO_NODE)?;
        Ok(node.copy_stat(self.extended_types_enabled))
    }

    /// getChildren / getChildren2 (names in no particular order); a watcher
    /// gets a one-shot child watch (only when the node exists).
    pub fn get_children(&self, path: &str, watcher: Option<Arc<dyn Watcher>>) -> Result<(Vec<String>, Stat), i32> {
        let state = self.state.read();
        let node = lookup(&state.root, path).ok_or(code::NO_NODE)?;
        if let Some(w) = watcher {
            self.child_watches.add_watch(path, w, WatcherMode::Standard);
        }
        let names = node.child_names().map(str::to_string).collect();
        Ok((names, node.copy_stat(self.extended_types_enabled)))
    }

    pub fn get_acl(&self, path: &str) -> Result<(Vec<Acl>, Stat), i32> {
        let state = self.state.read();
        let node = lookup(&state.root, path).ok_or(code::NO_NODE)?;
        Ok((state.acls_of(node), node.copy_stat(self.extended_types_enabled)))
    }

    /// Number of nodes below `path` (all depths, the node itself excluded);
    /// 0 for a missing node. For "/" the system nodes count too.
    pub fn get_all_children_number(&self, path: &str) -> i32 {
        let state = self.state.read();
        if path == "/" {
            return state.node_count.saturating_sub(1) as i32;
        }
        let Some(start) = lookup(&state.root, path) else {
            return 0;
        };
        let mut count = 0usize;
        let mut pending: Vec<&DataNode> = start.children().map(|(_, c)| c).collect();
        while let Some(n) = pending.pop() {
            count += 1;
            pending.extend(n.children().map(|(_, c)| c));
        }
        count as i32
    }

    /// The paths of a session's ephemeral nodes, sorted.
    pub fn get_ephemerals(&self, session_id: i64) -> Vec<String> {
        let state = self.state.read();
        let mut v: Vec<String> =
            state.ephemerals.get(&session_id).map(|s| s.iter().cloned().collect()).unwrap_or_default();
        v.sort();
        v
    }

    /// Session -> its ephemeral paths (sorted), for the "dump" 4lw. A
    /// session whose ephemerals were all deleted still appears, empty, until
    /// it closes (as in Java).
    pub fn ephemerals_by_session(&self) -> BTreeMap<i64, Vec<String>> {
        let state = self.state.read();
        state
            .ephemerals
            .iter()
            .map(|(&s, paths)| {
                let mut v: Vec<String> = paths.iter().cloned().collect();
                v.sort();
                (s, v)
            })
            .collect()
    }

    /// The sessions that have (or had) ephemeral nodes.
    pub fn sessions_with_ephemerals(&self) -> Vec<i64> {
        let mut v: Vec<i64> = self.state.read().ephemerals.keys().copied().collect();
        v.sort_unstable();
        v
    }

    pub fn ephemerals_count(&self) -> usize {
        self.state.read().ephemerals.values().map(HashSet::len).sum()
    }

    /// Container node paths, sorted.
    pub fn containers(&self) -> Vec<String> {
        let mut v: Vec<String> = self.state.read().containers.iter().cloned().collect();
        v.sort();
        v
    }

    /// TTL node paths, sorted.
    pub fn ttls(&self) -> Vec<String> {
        let mut v: Vec<String> = self.state.read().ttls.iter().cloned().collect();
        v.sort();
        v
    }

    /// Java's getNodeCount: the nodes plus one, because Java's node map
    /// holds the root twice (under "" and "/"); a fresh tree says 5.
    pub fn node_count(&self) -> usize {
        self.state.read().node_count + 1
    }

    /// Sum over all nodes of path length (UTF-16 units) + data length.
    pub fn approximate_data_size(&self) -> i64 {
        self.state.read().data_size
    }

    /// Number of distinct ACL lists in use.
    pub fn acl_cache_size(&self) -> usize {
        self.state.read().acl_cache.size()
    }

    pub fn last_processed_zxid(&self) -> i64 {
        self.last_processed_zxid.load(Ordering::SeqCst)
    }

    pub fn set_last_processed_zxid(&self, zxid: i64) {
        self.last_processed_zxid.store(zxid, Ordering::SeqCst);
    }

    /// addWatch: a persistent (or persistent-recursive) watch on `path`, in
    /// both tables. The node need not exist. An unknown mode is ignored
    /// (Prep refuses it).
    pub fn add_watch(&self, path: &str, watcher: Arc<dyn Watcher>, mode: i32) {
        let Some(mode) = WatcherMode::from_add_watch_mode(mode) else {
            tracing::warn!("addWatch with unknown mode {mode} ignored");
            return;
        };
        self.data_watches.add_watch(path, watcher.clone(), mode);
        self.child_watches.add_watch(path, watcher, mode);
    }

    /// setWatches/setWatches2 after a reconnect: tells the watcher at once
    /// of what changed after `relative_zxid` (data and child watches on a
    /// missing node get NodeDeleted, exist watches on a present node get
    /// NodeCreated) and registers the rest. Immediate events carry zxid -1.
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
            let state = self.state.read();
            for path in data {
                match lookup(&state.root, path) {
                    None => now.push(WatchedEvent::new(event_type::NODE_DELETED, path, -1)),
                    Some(n) if n.stat.mzxid > relative_zxid => {
                        now.push(WatchedEvent::new(event_type::NODE_DATA_CHANGED, path, -1))
                    }
                    Some(_) => {
                        self.data_watches.add_watch(path, watcher.clone(), WatcherMode::Standard);
                    }
                }
            }
            for path in exist {
                if lookup(&state.root, path).is_some() {
                    now.push(WatchedEvent::new(event_type::NODE_CREATED, path, -1));
                } else {
                    self.data_watches.add_watch(path, watcher.clone(), WatcherMode::Standard);
                }
            }
            for path in child {
                match lookup(&state.root, path) {
                    None => now.push(WatchedEvent::new(event_type::NODE_DELETED, path, -1)),
                    Some(n) if n.stat.pzxid > relative_zxid => {
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
        for e in &now {
            watcher.process(e);
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

    /// A connection closed: forget all its watches.
    pub fn remove_cnxn(&self, watcher_id: u64) {
        self.data_watches.remove_watcher(watcher_id);
        self.child_watches.remove_watcher(watcher_id);
    }

    /// Data and child watches together ((path, watcher) pairs).
    pub fn watch_count(&self) -> usize {
        self.data_watches.size() + self.child_watches.size()
    }

    /// The wchs text. Like Java it describes the data-watch table only and
    /// has no trailing newline (the command prints one).
    pub fn dump_watches_summary(&self) -> String {
        self.data_watches.summary_text()
    }

    /// The wchp (`by_path`) / wchc text, data-watch table only (as Java).
    pub fn dump_watches(&self, by_path: bool) -> String {
        self.data_watches.dump_watches(by_path)
    }

    /// Admin "watch_summary": (connections, paths, total watches) of the
    /// data-watch table.
    pub fn watches_summary(&self) -> crate::server::watch_manager::WatchesSummary {
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

    /// Writes the tree as a snapshot holds it: the ACL table, then each node
    /// as (path, node) parents first — the root under "" — then "/" as the
    /// end mark. Holds the read lock throughout, so the image is consistent
    /// (writers wait).
    pub fn serialize(&self, oa: &mut OutputArchive) {
        let state = self.state.read();
        state.acl_cache.serialize(oa);
        let mut pending: Vec<(String, &DataNode)> = vec![(String::new(), &state.root)];
        while let Some((path, node)) = pending.pop() {
            oa.write_string(&path);
            node.serialize(oa);
            for (name, child) in node.children() {
                pending.push((format!("{path}/{name}"), child));
            }
        }
        oa.write_string("/");
    }

    /// Replaces the tree with one read from a snapshot (the layout
    /// `serialize` writes), then rebuilds the quota trie and stats nodes and
    /// drops unused ACLs. Watches are kept. On error the tree is unchanged.
    pub fn deserialize(&self, ia: &mut InputArchive<'_>) -> Result<(), RestoreError> {
        let mut fresh = TreeState::empty(self.extended_types_enabled);
        fresh.acl_cache.deserialize(ia)?;
        let mut root_seen = false;
        loop {
            let path = ia.read_string()?;
            if path == "/" {
                break;
            }
            let node = DataNode::deserialize(ia)?;
            fresh.restore_node(&path, node, &mut root_seen)?;
        }
        if !root_seen {
            return Err(RestoreError::MissingParent("/".to_string()));
        }
        fresh.setup_quota();
        fresh.acl_cache.purge_unused();
        *self.state.write() = fresh;
        Ok(())
    }
}


#[cfg(test)]
mod tests {
    use super::*;
    use crate::jute::records::Id;
    use crate::jute::txn::{
        CheckVersionTxn, CloseSessionTxn, CreateContainerTxn, CreateSessionTxn, CreateTtlTxn, CreateTxn,
        DeleteTxn, ErrorTxn, MultiTxn, SetAclTxn, SetDataTxn, Txn,
    };
    use crate::jute::Record;
    use crate::server::watch_manager::tests::Recorder;
    use crate::server::zoo_defs::{add_watch_mode, event_type::*, perms};

    const SESSION: i64 = 0x1234;

    fn hdr(op: i32, zxid: i64) -> TxnHeader {
        TxnHeader { client_id: SESSION, cxid: 7, zxid, time: zxid * 1000, r#type: op }
    }

    /// The parent cversion Prep would put in a create txn.
    fn next_cversion(dt: &DataTree, path: &str) -> i32 {
        let (parent, _) = split_path(path).unwrap();
        dt.node_info(parent).map_or(-1, |n| n.stat.cversion + 1)
    }

    fn create_txn(dt: &DataTree, path: &str, data: &[u8], ephemeral: bool) -> CreateTxn {
        CreateTxn {
            path: path.to_string(),
            data: Some(data.to_vec()),
            acl: ids::open_acl_unsafe(),
            ephemeral,
            parent_c_version: next_cversion(dt, path),
        }
    }

    fn create(dt: &DataTree, path: &str, data: &[u8], zxid: i64) -> ProcessTxnResult {
        let t = create_txn(dt, path, data, false);
        dt.process_txn(&hdr(op_code::CREATE2, zxid), Some(&TxnBody::Create(t)))
    }

    fn create_ephemeral(dt: &DataTree, path: &str, session: i64, zxid: i64) -> ProcessTxnResult {
        let t = create_txn(dt, path, b"", true);
        let h = TxnHeader { client_id: session, ..hdr(op_code::CREATE, zxid) };
        dt.process_txn(&h, Some(&TxnBody::Create(t)))
    }

    fn delete(dt: &DataTree, path: &str, zxid: i64) -> ProcessTxnResult {
        dt.process_txn(&hdr(op_code::DELETE, zxid), Some(&TxnBody::Delete(DeleteTxn { path: path.to_string() })))
    }

    fn set_data(dt: &DataTree, path: &str, data: &[u8], version: i32, zxid: i64) -> ProcessTxnResult {
        let t = SetDataTxn { path: path.to_string(), data: Some(data.to_vec()), version };
        dt.process_txn(&hdr(op_code::SET_DATA, zxid), Some(&TxnBody::SetData(t)))
    }

    fn stat(dt: &DataTree, path: &str) -> Stat {
        dt.stat_node(path, None).unwrap()
    }

    fn children(dt: &DataTree, path: &str) -> Vec<String> {
        let mut c = dt.get_children(path, None).unwrap().0;
        c.sort();
        c
    }

    fn sub(op: i32, body: &dyn Fn(&mut OutputArchive)) -> Txn {
        let mut oa = OutputArchive::new();
        body(&mut oa);
        Txn { r#type: op, data: oa.into_inner() }
    }

    #[test]
    fn fresh_tree_is_javas() {
        let dt = DataTree::new();
        assert_eq!(dt.node_count(), 5);
        assert_eq!(dt.get_all_children_number("/"), 3);
        assert_eq!(dt.get_all_children_number("/zookeeper"), 2);
        assert_eq!(dt.approximate_data_size(), 44);
        assert_eq!(children(&dt, "/"), ["zookeeper"]);
        assert_eq!(children(&dt, "/zookeeper"), ["config", "quota"]);
        let root = stat(&dt, "/");
        assert_eq!(root, Stat { cversion: -1, num_children: 1, ..Default::default() });
        assert_eq!(stat(&dt, "/zookeeper").cversion, -2);
        let (acl, config) = dt.get_acl("/zookeeper/config").unwrap();
        assert_eq!(acl, ids::read_acl_unsafe());
        assert_eq!(config.aversion, -1);
        assert_eq!(dt.get_acl("/").unwrap().0, ids::open_acl_unsafe());
        assert_eq!(dt.acl_cache_size(), 1);
        assert_eq!(dt.get_data("/zookeeper", None).unwrap().0, Some(Vec::new()));
        assert_eq!(dt.last_processed_zxid(), 0);
        assert_eq!(dt.get_data("/nope", None), Err(code::NO_NODE));
        assert_eq!(dt.get_data("", None), Err(code::NO_NODE));
        assert_eq!(dt.get_data("/zookeeper/", None), Err(code::NO_NODE));
        assert_eq!(dt.get_data("zookeeper", None), Err(code::NO_NODE));
    }

    #[test]
    fn create_sets_stats_and_parent() {
        let dt = DataTree::new();
        let rc = create(&dt, "/a", b"hello", 0x10);
        assert_eq!(rc.err, code::OK);
        assert_eq!((rc.path.as_str(), rc.op_type, rc.client_id, rc.cxid, rc.zxid), ("/a", 15, SESSION, 7, 0x10));
        let s = rc.stat.unwrap();
        assert_eq!((s.czxid, s.mzxid, s.pzxid), (0x10, 0x10, 0x10));
        assert_eq!((s.ctime, s.mtime), (16_000, 16_000));
        assert_eq!((s.version, s.cversion, s.aversion, s.ephemeral_owner), (0, 0, 0, 0));
        assert_eq!((s.data_length, s.num_children), (5, 0));
        assert_eq!(stat(&dt, "/a"), s);
        let root = stat(&dt, "/");
        assert_eq!((root.num_children, root.pzxid, root.cversion), (2, 0x10, 0));
        assert_eq!(dt.node_info("/").unwrap().stat.cversion, 1);
        assert_eq!(dt.get_data("/a", None).unwrap().0, Some(b"hello".to_vec()));
        assert_eq!(dt.node_count(), 6);
        assert_eq!(dt.approximate_data_size(), 44 + 2 + 5);
        assert_eq!(dt.last_processed_zxid(), 0x10);

        // Plain create reports no stat; null data stays null.
        let t = CreateTxn { data: None, ..create_txn(&dt, "/a/b", b"", false) };
        let rc = dt.process_txn(&hdr(op_code::CREATE, 0x11), Some(&TxnBody::Create(t)));
        assert_eq!((rc.err, rc.stat), (code::OK, None));
        assert_eq!(dt.get_data("/a/b", None).unwrap().0, None);
        assert_eq!(stat(&dt, "/a/b").data_length, 0);
        assert_eq!(dt.get_all_children_number("/a"), 1);
        assert_eq!(dt.get_all_children_number("/missing"), 0);
    }

    #[test]
    fn create_errors() {
        let dt = DataTree::new();
        assert_eq!(create(&dt, "/x/y", b"", 1).err, code::NO_NODE);
        assert_eq!(create(&dt, "/a", b"", 2).err, code::OK);
        let rc = create(&dt, "/a", b"", 3);
        assert_eq!((rc.err, rc.path.as_str(), rc.stat), (code::NODE_EXISTS, "/a", None));
        for bad in ["a", "/a/", "//b"] {
            let t = CreateTxn { path: bad.to_string(), ..create_txn(&dt, "/q", b"", false) };
            let rc = dt.process_txn(&hdr(op_code::CREATE, 4), Some(&TxnBody::Create(t)));
            assert_ne!(rc.err, code::OK, "{bad}");
        }
        assert_eq!(dt.node_count(), 6);
        assert_eq!(dt.last_processed_zxid(), 4);
    }

    #[test]
    fn replayed_create_that_exists_still_moves_parent_cversion() {
        let dt = DataTree::new();
        create(&dt, "/p", b"", 1);
        create(&dt, "/p/c", b"", 2);
        assert_eq!(dt.node_info("/p").unwrap().stat.cversion, 1);
        let t = CreateTxn { parent_c_version: 5, ..create_txn(&dt, "/p/c", b"", false) };
        let rc = dt.process_txn(&hdr(op_code::CREATE, 9), Some(&TxnBody::Create(t.clone())));
        assert_eq!(rc.err, code::NODE_EXISTS);
        let p = dt.node_info("/p").unwrap().stat;
        assert_eq!((p.cversion, p.pzxid), (5, 9));
        // Only for `create`, not create2.
        let t2 = CreateTxn { parent_c_version: 8, ..t };
        let rc = dt.process_txn(&hdr(op_code::CREATE2, 10), Some(&TxnBody::Create(t2)));
        assert_eq!(rc.err, code::NODE_EXISTS);
        assert_eq!(dt.node_info("/p").unwrap().stat.cversion, 5);
    }

    #[test]
    fn sequential_cversion_rules() {
        let dt = DataTree::new();
        create(&dt, "/s", b"", 1);
        // Prep names sequential children after the parent's stored cversion.
        for (i, zxid) in (2..5).enumerate() {
            let cv = dt.node_info("/s").unwrap().stat.cversion;
            assert_eq!(cv, i as i32);
            let name = format!("/s/n{cv:010}");
            assert_eq!(create(&dt, &name, b"", zxid).err, code::OK);
        }
        assert_eq!(children(&dt, "/s"), ["n0000000000", "n0000000001", "n0000000002"]);
        delete(&dt, "/s/n0000000001", 5);
        // Deletes leave the stored count alone; clients see creates + deletes.
        let info = dt.node_info("/s").unwrap();
        assert_eq!((info.stat.cversion, info.num_children, info.stat.pzxid), (3, 2, 5));
        assert_eq!(stat(&dt, "/s").cversion, 4);
        // -1 (an old-format txn) means "one more"; a smaller value (a replay)
        // changes nothing.
        let t = CreateTxn { parent_c_version: -1, ..create_txn(&dt, "/s/x", b"", false) };
        dt.process_txn(&hdr(op_code::CREATE, 6), Some(&TxnBody::Create(t)));
        assert_eq!(dt.node_info("/s").unwrap().stat.cversion, 4);
        let t = CreateTxn { parent_c_version: 1, ..create_txn(&dt, "/s/y", b"", false) };
        dt.process_txn(&hdr(op_code::CREATE, 7), Some(&TxnBody::Create(t)));
        let s = dt.node_info("/s").unwrap().stat;
        assert_eq!((s.cversion, s.pzxid), (4, 6));
    }

    #[test]
    fn delete_and_its_errors() {
        let dt = DataTree::new();
        create(&dt, "/a", b"abc", 1);
        let acl = vec![Acl { perms: perms::READ, id: Id::new("digest", "u:x") }];
        let t = CreateTxn { acl: acl.clone(), ..create_txn(&dt, "/a/b", b"", false) };
        dt.process_txn(&hdr(op_code::CREATE, 2), Some(&TxnBody::Create(t)));
        assert_eq!(dt.acl_cache_size(), 3);
        let rc = delete(&dt, "/a/b", 3);
        assert_eq!((rc.err, rc.path.as_str(), rc.op_type), (code::OK, "/a/b", op_code::DELETE));
        assert_eq!(dt.acl_cache_size(), 2);
        assert_eq!(stat(&dt, "/a").num_children, 0);
        assert_eq!(stat(&dt, "/a").pzxid, 3);
        // A missing child is NONODE, but the parent's pzxid still advances.
        assert_eq!(delete(&dt, "/a/b", 4).err, code::NO_NODE);
        assert_eq!(stat(&dt, "/a").pzxid, 4);
        assert_eq!(delete(&dt, "/zz/b", 5).err, code::NO_NODE);
        assert_eq!(delete(&dt, "/", 6).err, code::BAD_ARGUMENTS);
        let rc = dt.process_txn(
            &hdr(op_code::DELETE_CONTAINER, 7),
            Some(&TxnBody::Delete(DeleteTxn { path: "/a".into() })),
        );
        assert_eq!(rc.err, code::OK);
        assert_eq!(dt.node_count(), 5);
        assert_eq!(dt.approximate_data_size(), 44);
    }

    #[test]
    fn deleting_a_node_with_children_cleans_up_below() {
        let dt = DataTree::new();
        create(&dt, "/a", b"", 1);
        create(&dt, "/a/b", b"12", 2);
        create_ephemeral(&dt, "/a/b/e", 77, 3);
        assert_eq!(delete(&dt, "/a", 4).err, code::OK);
        assert_eq!(dt.node_count(), 5);
        assert_eq!(dt.approximate_data_size(), 44);
        assert_eq!(dt.ephemerals_count(), 0);
        assert_eq!(dt.get_data("/a/b", None), Err(code::NO_NODE));
    }

    #[test]
    fn set_data_and_set_acl() {
        let dt = DataTree::new();
        create(&dt, "/a", b"x", 1);
        // Versions are Prep's business: the txn's version is stored as is.
        let rc = set_data(&dt, "/a", b"longer", 42, 2);
        assert_eq!((rc.err, rc.path.as_str()), (code::OK, "/a"));
        let s = rc.stat.unwrap();
        assert_eq!((s.version, s.mzxid, s.mtime, s.czxid, s.data_length), (42, 2, 2000, 1, 6));
        assert_eq!(dt.approximate_data_size(), 44 + 2 + 6);
        assert_eq!(set_data(&dt, "/nope", b"", 1, 3).err, code::NO_NODE);
        let rc = dt.process_txn(
            &hdr(op_code::SET_DATA, 4),
            Some(&TxnBody::SetData(SetDataTxn { path: "/a".into(), data: None, version: 43 })),
        );
        assert_eq!(rc.stat.unwrap().data_length, 0);
        assert_eq!(dt.get_data("/a", None).unwrap().0, None);

        let acl = vec![Acl { perms: perms::ALL, id: Id::new("ip", "127.0.0.1") }];
        let t = SetAclTxn { path: "/a".into(), acl: acl.clone(), version: 3 };
        let rc = dt.process_txn(&hdr(op_code::SET_ACL, 5), Some(&TxnBody::SetAcl(t)));
        assert_eq!((rc.err, rc.stat.as_ref().map(|s| s.aversion)), (code::OK, Some(3)));
        // setACL does not touch mzxid.
        assert_eq!(rc.stat.unwrap().mzxid, 4);
        assert_eq!(dt.get_acl("/a").unwrap().0, acl);
        assert_eq!(dt.node_info("/a").unwrap().acl, acl);
        // The open ACL of /a is no longer used by anyone.
        assert_eq!(dt.acl_cache_size(), 2);
        let t = SetAclTxn { path: "/b".into(), acl, version: 1 };
        assert_eq!(dt.process_txn(&hdr(op_code::SET_ACL, 6), Some(&TxnBody::SetAcl(t))).err, code::NO_NODE);

        // reconfig is a setData of /zookeeper/config.
        let t = SetDataTxn { path: CONFIG_NODE.into(), data: Some(b"server.1=x".to_vec()), version: 1 };
        assert_eq!(dt.process_txn(&hdr(op_code::RECONFIG, 7), Some(&TxnBody::SetData(t))).err, code::OK);
        assert_eq!(dt.get_data(CONFIG_NODE, None).unwrap().0.unwrap(), b"server.1=x");
    }

    #[test]
    fn ephemerals_and_close_session() {
        let dt = DataTree::new();
        create(&dt, "/app", b"", 1);
        create_ephemeral(&dt, "/app/e1", 0x55, 2);
        create_ephemeral(&dt, "/app/e2", 0x55, 3);
        create_ephemeral(&dt, "/app/f", 0x66, 4);
        assert_eq!(stat(&dt, "/app/e1").ephemeral_owner, 0x55);
        assert_eq!(dt.node_info("/app/e1").unwrap().stat.ephemeral_owner, 0x55);
        assert_eq!(dt.get_ephemerals(0x55), ["/app/e1", "/app/e2"]);
        assert_eq!(dt.ephemerals_count(), 3);
        assert_eq!(dt.sessions_with_ephemerals(), [0x55, 0x66]);

        let w = Recorder::new(1);
        dt.get_data("/app/e1", Some(w.clone())).unwrap();
        // The txn lists only e1; e2 is deleted too (the tree's own list).
        let close = CloseSessionTxn { paths2_delete: vec!["/app/e1".into()] };
        let h = TxnHeader { client_id: 0x55, ..hdr(op_code::CLOSE_SESSION, 5) };
        let rc = dt.process_txn(&h, Some(&TxnBody::CloseSession(close)));
        assert_eq!((rc.err, rc.path.as_str()), (code::OK, ""));
        assert_eq!(children(&dt, "/app"), ["f"]);
        assert_eq!(w.take(), [(NODE_DELETED, "/app/e1".to_string())]);
        assert!(dt.get_ephemerals(0x55).is_empty());
        assert_eq!(stat(&dt, "/app").pzxid, 5);

        // Old-format closeSession (no body): the tree's list.
        let h = TxnHeader { client_id: 0x66, ..hdr(op_code::CLOSE_SESSION, 6) };
        assert_eq!(dt.process_txn(&h, None).err, code::OK);
        assert!(children(&dt, "/app").is_empty());
        assert_eq!(dt.ephemerals_count(), 0);
        assert!(dt.ephemerals_by_session().is_empty());

        // Deleting an ephemeral leaves the session's (empty) entry, as Java.
        create_ephemeral(&dt, "/app/g", 0x77, 7);
        delete(&dt, "/app/g", 8);
        assert_eq!(dt.ephemerals_by_session(), BTreeMap::from([(0x77, vec![])]));

        // A listed path that is already gone is skipped.
        let close = CloseSessionTxn { paths2_delete: vec!["/app/gone".into()] };
        let h = TxnHeader { client_id: 0x77, ..hdr(op_code::CLOSE_SESSION, 9) };
        assert_eq!(dt.process_txn(&h, Some(&TxnBody::CloseSession(close))).err, code::OK);

        let cs = TxnBody::CreateSession(CreateSessionTxn { time_out: 30000 });
        let rc = dt.process_txn(&hdr(op_code::CREATE_SESSION, 10), Some(&cs));
        assert_eq!(rc.err, code::OK);
        assert_eq!(dt.node_count(), 6);
        assert_eq!(dt.last_processed_zxid(), 10);
    }

    #[test]
    fn containers_and_ttls() {
        let dt = DataTree::with_extended_types(true);
        let t = CreateContainerTxn {
            path: "/c".into(),
            data: Some(b"d".to_vec()),
            acl: ids::open_acl_unsafe(),
            parent_c_version: 1,
        };
        let rc = dt.process_txn(&hdr(op_code::CREATE_CONTAINER, 1), Some(&TxnBody::CreateContainer(t)));
        assert_eq!(rc.err, code::OK);
        assert_eq!(rc.stat.unwrap().ephemeral_owner, 0);
        assert_eq!(dt.node_info("/c").unwrap().stat.ephemeral_owner, EphemeralType::CONTAINER_EPHEMERAL_OWNER);
        assert_eq!(dt.containers(), ["/c"]);

        let ttl = |path: &str, ttl: i64| CreateTtlTxn {
            path: path.into(),
            data: None,
            acl: ids::open_acl_unsafe(),
            parent_c_version: -1,
            ttl,
        };
        let rc = dt.process_txn(&hdr(op_code::CREATE_TTL, 2), Some(&TxnBody::CreateTtl(ttl("/t", 500))));
        assert_eq!(rc.err, code::OK);
        assert_eq!(rc.stat.unwrap().ephemeral_owner, 0);
        let owner = dt.node_info("/t").unwrap().stat.ephemeral_owner;
        assert_eq!(EphemeralType::ttl_value(owner), 500);
        assert_eq!(dt.ttls(), ["/t"]);
        assert_eq!(dt.ephemerals_count(), 0);
        let rc = dt.process_txn(&hdr(op_code::CREATE_TTL, 3), Some(&TxnBody::CreateTtl(ttl("/u", 0))));
        assert_eq!(rc.err, code::BAD_ARGUMENTS);

        delete(&dt, "/c", 4);
        delete(&dt, "/t", 5);
        assert!(dt.containers().is_empty());
        assert!(dt.ttls().is_empty());

        // Without extended types Java reads a TTL owner as a session id.
        let plain = DataTree::new();
        plain.process_txn(&hdr(op_code::CREATE_TTL, 1), Some(&TxnBody::CreateTtl(ttl("/t", 500))));
        assert!(plain.ttls().is_empty());
        assert_eq!(plain.ephemerals_count(), 1);
    }

    #[test]
    fn error_check_and_malformed_txns() {
        let dt = DataTree::new();
        let rc = dt.process_txn(&hdr(op_code::ERROR, 1), Some(&TxnBody::Error(ErrorTxn { err: code::BAD_VERSION })));
        assert_eq!((rc.err, rc.op_type), (code::BAD_VERSION, op_code::ERROR));
        let check = CheckVersionTxn { path: "/zookeeper".into(), version: 3 };
        let rc = dt.process_txn(&hdr(op_code::CHECK, 2), Some(&TxnBody::Check(check)));
        assert_eq!((rc.err, rc.path.as_str()), (code::OK, "/zookeeper"));
        let del = TxnBody::Delete(DeleteTxn { path: "/zookeeper".into() });
        assert_eq!(dt.process_txn(&hdr(op_code::SET_DATA, 3), Some(&del)).err, code::MARSHALLING_ERROR);
        assert_eq!(dt.process_txn(&hdr(op_code::CREATE, 4), None).err, code::MARSHALLING_ERROR);
        assert_eq!(dt.last_processed_zxid(), 4);
        // The zxid never goes backwards.
        dt.process_txn(&hdr(op_code::CREATE_SESSION, 2), None);
        assert_eq!(dt.last_processed_zxid(), 4);
        dt.set_last_processed_zxid(1);
        assert_eq!(dt.last_processed_zxid(), 1);
    }

    #[test]
    fn multi_applies_every_part() {
        let dt = DataTree::new();
        create(&dt, "/old", b"", 1);
        let c = create_txn(&dt, "/m", b"1", false);
        let txns = vec![
            sub(op_code::CREATE, &|oa| c.serialize(oa)),
            sub(op_code::SET_DATA, &|oa| {
                SetDataTxn { path: "/m".into(), data: Some(b"22".to_vec()), version: 1 }.serialize(oa)
            }),
            sub(op_code::DELETE, &|oa| DeleteTxn { path: "/old".into() }.serialize(oa)),
            sub(op_code::CHECK, &|oa| CheckVersionTxn { path: "/m".into(), version: 1 }.serialize(oa)),
        ];
        let w = Recorder::new(1);
        dt.stat_node("/m", Some(w.clone())).unwrap_err();
        let rc = dt.process_txn(&hdr(op_code::MULTI, 2), Some(&TxnBody::Multi(MultiTxn { txns })));
        assert_eq!(rc.err, code::OK);
        let kinds: Vec<(i32, i32, &str)> =
            rc.multi_result.iter().map(|r| (r.op_type, r.err, r.path.as_str())).collect();
        assert_eq!(
            kinds,
            [
                (op_code::CREATE, 0, "/m"),
                (op_code::SET_DATA, 0, "/m"),
                (op_code::DELETE, 0, "/old"),
                (op_code::CHECK, 0, "/m")
            ]
        );
        assert!(rc.multi_result.iter().all(|r| r.zxid == 2 && r.cxid == 7 && r.client_id == SESSION));
        assert_eq!(rc.multi_result[1].stat.as_ref().unwrap().version, 1);
        assert_eq!(dt.get_data("/m", None).unwrap().0.unwrap(), b"22");
        assert_eq!(dt.stat_node("/old", None), Err(code::NO_NODE));
        assert_eq!(w.take(), [(NODE_CREATED, "/m".to_string())]);
    }

    #[test]
    fn failed_multi_applies_nothing() {
        let dt = DataTree::new();
        let c = create_txn(&dt, "/m", b"", false);
        let txns = vec![
            sub(op_code::CREATE, &|oa| c.serialize(oa)),
            sub(op_code::ERROR, &|oa| ErrorTxn { err: code::NO_NODE }.serialize(oa)),
            sub(op_code::DELETE, &|oa| DeleteTxn { path: "/x".into() }.serialize(oa)),
        ];
        let rc = dt.process_txn(&hdr(op_code::MULTI, 3), Some(&TxnBody::Multi(MultiTxn { txns })));
        assert_eq!(rc.err, code::NO_NODE);
        let parts: Vec<(i32, i32)> = rc.multi_result.iter().map(|r| (r.op_type, r.err)).collect();
        assert_eq!(
            parts,
            [(op_code::ERROR, code::OK), (op_code::ERROR, code::NO_NODE), (op_code::ERROR, code::RUNTIME_INCONSISTENCY)]
        );
        assert_eq!(dt.stat_node("/m", None), Err(code::NO_NODE));
        assert_eq!(dt.last_processed_zxid(), 3);
    }

    #[test]
    fn multi_part_failing_during_replay_and_garbage_parts() {
        let dt = DataTree::new();
        let c = create_txn(&dt, "/m", b"", false);
        let txns = vec![
            sub(op_code::CREATE, &|oa| c.serialize(oa)),
            sub(op_code::DELETE, &|oa| DeleteTxn { path: "/gone".into() }.serialize(oa)),
        ];
        let rc = dt.process_txn(&hdr(op_code::MULTI, 1), Some(&TxnBody::Multi(MultiTxn { txns })));
        assert_eq!(rc.err, code::NO_NODE);
        assert!(dt.stat_node("/m", None).is_ok());

        let txns = vec![Txn { r#type: op_code::DELETE, data: vec![0, 0] }];
        let rc = dt.process_txn(&hdr(op_code::MULTI, 2), Some(&TxnBody::Multi(MultiTxn { txns })));
        assert_eq!(rc.err, code::MARSHALLING_ERROR);
        let txns = vec![sub(op_code::SET_ACL, &|oa| {
            SetAclTxn { path: "/m".into(), acl: vec![], version: 1 }.serialize(oa)
        })];
        let rc = dt.process_txn(&hdr(op_code::MULTI, 3), Some(&TxnBody::Multi(MultiTxn { txns })));
        assert_eq!((rc.err, rc.multi_result.len()), (code::MARSHALLING_ERROR, 0));
    }

    #[test]
    fn one_shot_watches() {
        let dt = DataTree::new();
        let w = Recorder::new(1);
        // exists on a missing node still registers.
        assert_eq!(dt.stat_node("/a", Some(w.clone())), Err(code::NO_NODE));
        assert!(dt.contains_watcher("/a", watcher_type::DATA, 1));
        // getData/getChildren on a missing node do not.
        assert_eq!(dt.get_children("/b", Some(w.clone())), Err(code::NO_NODE));
        assert_eq!(dt.get_data("/b", Some(w.clone())), Err(code::NO_NODE));
        assert_eq!(dt.watch_count(), 1);
        dt.get_children("/", Some(w.clone())).unwrap();
        create(&dt, "/a", b"", 5);
        let got = w.events.lock().clone();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], WatchedEvent::new(NODE_CREATED, "/a", 5));
        assert_eq!(got[1], WatchedEvent::new(NODE_CHILDREN_CHANGED, "/", 5));
        w.take();
        create(&dt, "/b", b"", 6);
        assert!(w.take().is_empty());
        assert_eq!(dt.watch_count(), 0);

        dt.get_data("/a", Some(w.clone())).unwrap();
        set_data(&dt, "/a", b"v", 1, 7);
        set_data(&dt, "/a", b"v", 2, 8);
        assert_eq!(w.take(), [(NODE_DATA_CHANGED, "/a".to_string())]);

        // Data + child watch on a deleted node: one NodeDeleted.
        let p = Recorder::new(2);
        dt.get_data("/a", Some(w.clone())).unwrap();
        dt.get_children("/a", Some(w.clone())).unwrap();
        dt.get_children("/", Some(p.clone())).unwrap();
        delete(&dt, "/a", 9);
        assert_eq!(w.take(), [(NODE_DELETED, "/a".to_string())]);
        assert_eq!(p.take(), [(NODE_CHILDREN_CHANGED, "/".to_string())]);
        assert_eq!(dt.watch_count(), 0);

        // A child watch alone hears NodeDeleted; a data watch does not hear
        // child changes.
        create(&dt, "/k", b"", 10);
        dt.get_children("/k", Some(w.clone())).unwrap();
        dt.get_data("/b", Some(p.clone())).unwrap();
        create(&dt, "/b/x", b"", 11);
        assert!(p.take().is_empty());
        delete(&dt, "/k", 12);
        assert_eq!(w.take(), [(NODE_DELETED, "/k".to_string())]);
    }

    #[test]
    fn persistent_watches() {
        let dt = DataTree::new();
        let w = Recorder::new(1);
        dt.add_watch("/p", w.clone(), add_watch_mode::PERSISTENT);
        assert_eq!(dt.watch_count(), 2);
        create(&dt, "/p", b"", 1);
        set_data(&dt, "/p", b"1", 1, 2);
        set_data(&dt, "/p", b"2", 2, 3);
        create(&dt, "/p/c", b"", 4);
        create(&dt, "/p/c/d", b"", 5);
        delete(&dt, "/p/c/d", 6);
        delete(&dt, "/p/c", 7);
        delete(&dt, "/p", 8);
        let s = |t: i32, p: &str| (t, p.to_string());
        assert_eq!(
            w.take(),
            [
                s(NODE_CREATED, "/p"),
                s(NODE_DATA_CHANGED, "/p"),
                s(NODE_DATA_CHANGED, "/p"),
                s(NODE_CHILDREN_CHANGED, "/p"),
                s(NODE_CHILDREN_CHANGED, "/p"),
                s(NODE_DELETED, "/p"),
            ]
        );
        assert_eq!(dt.watch_count(), 2);
        assert!(dt.contains_watcher("/p", watcher_type::CHILDREN, 1));
        assert!(dt.remove_watch("/p", watcher_type::ANY, 1));
        assert!(!dt.remove_watch("/p", watcher_type::ANY, 1));
        assert_eq!(dt.watch_count(), 0);
    }

    #[test]
    fn persistent_recursive_watches() {
        let dt = DataTree::new();
        let w = Recorder::new(1);
        dt.add_watch("/r", w.clone(), add_watch_mode::PERSISTENT_RECURSIVE);
        create(&dt, "/r", b"", 1);
        create(&dt, "/r/a", b"", 2);
        create(&dt, "/r/a/b", b"", 3);
        set_data(&dt, "/r/a", b"x", 1, 4);
        delete(&dt, "/r/a/b", 5);
        create(&dt, "/other", b"", 6);
        let s = |t: i32, p: &str| (t, p.to_string());
        assert_eq!(
            w.take(),
            [
                s(NODE_CREATED, "/r"),
                s(NODE_CREATED, "/r/a"),
                s(NODE_CREATED, "/r/a/b"),
                s(NODE_DATA_CHANGED, "/r/a"),
                s(NODE_DELETED, "/r/a/b"),
            ]
        );
        // A one-shot watch of the same watcher below: still one event.
        dt.get_data("/r/a", Some(w.clone())).unwrap();
        delete(&dt, "/r/a", 7);
        assert_eq!(w.take(), [s(NODE_DELETED, "/r/a")]);
        dt.remove_cnxn(1);
        assert_eq!(dt.watch_count(), 0);
        create(&dt, "/r/z", b"", 8);
        assert!(w.take().is_empty());
    }

    #[test]
    fn invalid_watch_arguments() {
        let dt = DataTree::new();
        let w = Recorder::new(1);
        dt.add_watch("/p", w.clone(), 7);
        assert_eq!(dt.watch_count(), 0);
        dt.get_data("/", Some(w)).unwrap();
        assert!(!dt.contains_watcher("/", 9, 1));
        assert!(!dt.remove_watch("/", 9, 1));
        assert!(dt.contains_watcher("/", watcher_type::ANY, 1));
        assert!(!dt.contains_watcher("/", watcher_type::CHILDREN, 1));
        assert!(!dt.contains_watcher("/", watcher_type::DATA, 2));
        assert!(dt.remove_watch("/", watcher_type::DATA, 1));
    }

    #[test]
    fn set_watches_after_reconnect() {
        let dt = DataTree::new();
        create(&dt, "/same", b"", 1);
        create(&dt, "/changed", b"", 2);
        create(&dt, "/kids", b"", 3);
        create(&dt, "/kids/k", b"", 5);
        set_data(&dt, "/changed", b"x", 1, 6);
        let w = Recorder::new(1);
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        dt.set_watches(
            4,
            &v(&["/same", "/changed", "/gone"]),
            &v(&["/same", "/absent"]),
            &v(&["/kids", "/same", "/gone2"]),
            &v(&["/pers"]),
            &v(&["/rec"]),
            w.clone(),
        );
        let s = |t: i32, p: &str| (t, p.to_string());
        let mut got = w.take();
        got.sort();
        let mut want = vec![
            s(NODE_DATA_CHANGED, "/changed"),
            s(NODE_DELETED, "/gone"),
            s(NODE_CREATED, "/same"),
            s(NODE_CHILDREN_CHANGED, "/kids"),
            s(NODE_DELETED, "/gone2"),
        ];
        want.sort();
        assert_eq!(got, want);
        assert!(dt.contains_watcher("/same", watcher_type::DATA, 1));
        assert!(dt.contains_watcher("/absent", watcher_type::DATA, 1));
        assert!(dt.contains_watcher("/same", watcher_type::CHILDREN, 1));
        assert!(!dt.contains_watcher("/kids", watcher_type::CHILDREN, 1));
        set_data(&dt, "/same", b"y", 1, 7);
        create(&dt, "/absent", b"", 8);
        create(&dt, "/rec", b"", 9);
        create(&dt, "/rec/deep", b"", 10);
        create(&dt, "/pers", b"", 11);
        create(&dt, "/pers/child", b"", 12);
        assert_eq!(
            w.take(),
            [
                s(NODE_DATA_CHANGED, "/same"),
                s(NODE_CREATED, "/absent"),
                s(NODE_CREATED, "/rec"),
                s(NODE_CREATED, "/rec/deep"),
                s(NODE_CREATED, "/pers"),
                s(NODE_CHILDREN_CHANGED, "/pers"),
            ]
        );
    }

    #[test]
    fn watch_dumps_cover_data_watches() {
        let dt = DataTree::new();
        let a = Recorder::new(1);
        let b = Recorder::new(2);
        dt.get_data("/zookeeper", Some(a.clone())).unwrap();
        dt.stat_node("/x", Some(b.clone())).unwrap_err();
        dt.get_children("/", Some(b.clone())).unwrap();
        assert_eq!(dt.dump_watches_summary(), "2 connections watching 2 paths\nTotal watches:2");
        assert_eq!(dt.dump_watches(true), "/x\n\t0x102\n/zookeeper\n\t0x101\n");
        assert_eq!(dt.dump_watches(false), "0x101\n\t/zookeeper\n0x102\n\t/x\n");
        assert_eq!(dt.watch_count(), 3);
        assert_eq!(dt.watches_by_path().get("/x"), Some(&vec![0x102]));
        assert_eq!(dt.watches_summary().total_watches, 2);
        assert_eq!(dt.watches_by_session().len(), 2);
    }

    #[test]
    fn quotas_track_usage() {
        let dt = DataTree::new();
        create(&dt, "/q", b"ab", 1);
        create(&dt, "/q/x", b"cde", 2);
        create(&dt, "/zookeeper/quota/q", b"", 3);
        create(&dt, "/zookeeper/quota/q/zookeeper_limits", b"count=10,bytes=-1", 4);
        create(&dt, "/zookeeper/quota/q/zookeeper_stats", b"count=0,bytes=0", 5);
        let stats = || {
            let d = dt.get_data("/zookeeper/quota/q/zookeeper_stats", None).unwrap().0.unwrap();
            String::from_utf8(d).unwrap()
        };
        assert_eq!(stats(), "count=2,bytes=5");
        create(&dt, "/q/y", b"1234", 6);
        create(&dt, "/q/y/z", b"", 7);
        assert_eq!(stats(), "count=4,bytes=9");
        set_data(&dt, "/q/x", b"c", 1, 8);
        assert_eq!(stats(), "count=4,bytes=7");
        delete(&dt, "/q/y/z", 9);
        assert_eq!(stats(), "count=3,bytes=7");
        create(&dt, "/qq", b"zzz", 10);
        assert_eq!(stats(), "count=3,bytes=7");
        // The stats rewrite leaves the stats node's own stat alone.
        assert_eq!(stat(&dt, "/zookeeper/quota/q/zookeeper_stats").mzxid, 5);
        let size_before = dt.approximate_data_size();
        delete(&dt, "/zookeeper/quota/q/zookeeper_limits", 11);
        create(&dt, "/q/w", b"12", 12);
        assert_eq!(stats(), "count=3,bytes=7");
        assert_eq!(dt.approximate_data_size(), size_before - 35 - 17 + 4 + 2);
    }

    fn snapshot(dt: &DataTree) -> Vec<u8> {
        let mut oa = OutputArchive::new();
        dt.serialize(&mut oa);
        oa.into_inner()
    }

    #[test]
    fn snapshot_round_trip() {
        let dt = DataTree::with_extended_types(true);
        create(&dt, "/a", b"data", 1);
        create(&dt, "/a/b", b"", 2);
        create_ephemeral(&dt, "/a/e", 0x99, 3);
        let acl = vec![Acl { perms: perms::READ, id: Id::new("digest", "u:h") }];
        let t = SetAclTxn { path: "/a/b".into(), acl: acl.clone(), version: 1 };
        dt.process_txn(&hdr(op_code::SET_ACL, 4), Some(&TxnBody::SetAcl(t)));
        let c = CreateContainerTxn { path: "/c".into(), data: None, acl: ids::open_acl_unsafe(), parent_c_version: 3 };
        dt.process_txn(&hdr(op_code::CREATE_CONTAINER, 5), Some(&TxnBody::CreateContainer(c)));
        let t = CreateTtlTxn { path: "/t".into(), data: None, acl: ids::open_acl_unsafe(), parent_c_version: 4, ttl: 9 };
        dt.process_txn(&hdr(op_code::CREATE_TTL, 6), Some(&TxnBody::CreateTtl(t)));
        create(&dt, "/zookeeper/quota/a", b"", 7);
        create(&dt, "/zookeeper/quota/a/zookeeper_limits", b"count=5,bytes=-1", 8);
        create(&dt, "/zookeeper/quota/a/zookeeper_stats", b"", 9);
        let bytes = snapshot(&dt);
        // The root goes first under "", after the ACL table.
        let mut ia = InputArchive::new(&bytes);
        ReferenceCountedAclCache::new().deserialize(&mut ia).unwrap();
        assert_eq!(ia.read_string().unwrap(), "");

        let back = DataTree::with_extended_types(true);
        let w = Recorder::new(1);
        back.get_data("/zookeeper", Some(w.clone())).unwrap();
        back.deserialize(&mut InputArchive::new(&bytes)).unwrap();
        assert_eq!(back.node_count(), dt.node_count());
        assert_eq!(back.approximate_data_size(), dt.approximate_data_size());
        assert_eq!(back.acl_cache_size(), dt.acl_cache_size());
        for p in ["/", "/a", "/a/b", "/a/e", "/c", "/t", "/zookeeper", "/zookeeper/config", "/zookeeper/quota/a"] {
            assert_eq!(back.get_data(p, None), dt.get_data(p, None), "{p}");
            assert_eq!(back.get_acl(p), dt.get_acl(p), "{p}");
            assert_eq!(back.node_info(p), dt.node_info(p), "{p}");
        }
        assert_eq!(back.get_ephemerals(0x99), ["/a/e"]);
        assert_eq!(back.containers(), ["/c"]);
        assert_eq!(back.ttls(), ["/t"]);
        // Watches survive a load, and quotas keep counting.
        assert_eq!(back.watch_count(), 1);
        create(&back, "/a/new", b"xy", 10);
        let stats = back.get_data("/zookeeper/quota/a/zookeeper_stats", None).unwrap().0.unwrap();
        assert_eq!(stats, b"count=4,bytes=6");
        // Same tree, same bytes.
        assert_eq!(snapshot(&dt), bytes);
    }

    #[test]
    fn bad_snapshots_are_refused_and_leave_the_tree_alone() {
        let dt = DataTree::new();
        create(&dt, "/keep", b"", 1);
        let good = snapshot(&DataTree::new());
        for cut in [0, 3, 10, good.len() - 1] {
            assert!(dt.deserialize(&mut InputArchive::new(&good[..cut])).is_err(), "cut at {cut}");
        }
        let node = |oa: &mut OutputArchive| DataNode::default().serialize(oa);
        // A child before the root.
        let mut oa = OutputArchive::new();
        oa.write_int(0);
        oa.write_string("/x");
        node(&mut oa);
        oa.write_string("/");
        assert_eq!(
            dt.deserialize(&mut InputArchive::new(&oa.into_inner())),
            Err(RestoreError::MissingParent("/x".into()))
        );
        // A child whose parent never came, a bad path, a duplicate.
        for (paths, want) in [
            (vec!["", "/a/b"], RestoreError::MissingParent("/a/b".into())),
            (vec!["", "x"], RestoreError::BadPath("x".into())),
            (vec!["", "/a", "/a"], RestoreError::Duplicate("/a".into())),
            (vec![], RestoreError::MissingParent("/".into())),
        ] {
            let mut oa = OutputArchive::new();
            oa.write_int(0);
            for p in paths {
                oa.write_string(p);
                node(&mut oa);
            }
            oa.write_string("/");
            assert_eq!(dt.deserialize(&mut InputArchive::new(&oa.into_inner())), Err(want));
        }
        assert!(dt.stat_node("/keep", None).is_ok());
        assert!(dt.deserialize(&mut InputArchive::new(&good)).is_ok());
        assert!(dt.stat_node("/keep", None).is_err());
        assert_eq!(dt.node_count(), 5);
    }

    #[test]
    fn deep_trees_do_not_recurse() {
        let dt = DataTree::new();
        let mut path = String::new();
        for i in 0..2000 {
            path.push_str("/d");
            let t = CreateTxn {
                path: path.clone(),
                data: None,
                acl: ids::open_acl_unsafe(),
                ephemeral: false,
                parent_c_version: -1,
            };
            assert_eq!(dt.process_txn(&hdr(op_code::CREATE, i + 1), Some(&TxnBody::Create(t))).err, 0);
        }
        assert_eq!(dt.get_all_children_number("/d"), 1999);
        let bytes = snapshot(&dt);
        let back = DataTree::new();
        back.deserialize(&mut InputArchive::new(&bytes)).unwrap();
        assert_eq!(back.node_count(), 2005);
        assert_eq!(delete(&back, "/d", 5000).err, code::OK);
        assert_eq!(back.node_count(), 5);
    }
}
