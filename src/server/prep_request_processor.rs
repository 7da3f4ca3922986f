//! PrepRequestProcessor: the `ProcessThread` (Java: "ProcessThread(sid:N
//! cport:P)"). Takes requests in arrival order from its queue, checks
//! sessions, paths, versions, ACLs (and, with zookeeper.enforceQuota,
//! quota limits) against the tree plus the changes already promised
//! (outstanding change records), assigns each write its
//! zxid and builds its txn, then passes it to the next processor. A write
//! that fails still gets a zxid and an error txn, as in Java.

use crate::common::path_utils::validate_path;
use crate::jute::multi::{MultiOperationRecord, Op};
use crate::jute::records::*;
use crate::jute::txn::*;
use crate::jute::{InputArchive, Record};
use crate::quorum::quorum_maj::QuorumMaj;
use crate::quorum::quorum_verifier::QuorumVerifier;
use crate::server::zoo_trace;
use crate::server::data_node::EphemeralType;
use crate::server::data_tree::{create_stat, DataTree};
use crate::server::quotas::{self, StatsTrack};
use crate::server::request::Request;
use crate::server::request_processor::RequestProcessor;
use crate::zoo_defs::{code, op_code, perms, CreateMode};
use crate::server::digest_calculator::{NodeDigester, DIGEST_VERSION};
use crate::server::zoo_keeper_server::{ChangeRecord, PrecalculatedDigest, ZooKeeperServer};
use crate::common::linked_blocking_queue::LinkedBlockingQueue;
use parking_lot::Mutex;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::thread::JoinHandle;
use crate::common::time::current_wall_time;
use std::time::{Duration, Instant};

pub struct PrepRequestProcessor {
    /// submittedRequests; `None` stops the thread.
    submitted: Arc<LinkedBlockingQueue<Option<Request>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    next: Arc<dyn RequestProcessor>,
}

/// Why preparing a request failed.
enum PrepError {
    /// A KeeperException: the client gets this code.
    Keeper(i32),
    /// The request body did not decode: MARSHALLINGERROR, logged.
    Marshalling(String),
}

impl From<i32> for PrepError {
    fn from(c: i32) -> Self {
        PrepError::Keeper(c)
    }
}

impl From<crate::jute::JuteError> for PrepError {
    fn from(e: crate::jute::JuteError) -> Self {
        PrepError::Marshalling(e.to_string())
    }
}

/// The state the thread works with.
struct Prep {
    zks: Arc<ZooKeeperServer>,
    next: Arc<dyn RequestProcessor>,
    quota_log: RefCell<RateLogger>,
}

/// Java's RateLogger: a warning repeated within 100 ms is counted rather
/// than logged, and the count is reported with the next one that gets out.
#[derive(Default)]
struct RateLogger {
    last: Option<(String, Instant)>,
    repeats: u32,
}

impl RateLogger {
    const INTERVAL: Duration = Duration::from_millis(100);

    fn warn(&mut self, msg: &str) {
        let now = Instant::now();
        match &mut self.last {
            Some((last, at)) if last == msg => {
                self.repeats = self.repeats.saturating_add(1);
                if now.duration_since(*at) >= Self::INTERVAL {
                    tracing::warn!("[{} times] Message: {}", self.repeats, msg);
                    *at = now;
                    self.repeats = 0;
                }
            }
            _ => {
                if let Some((last, _)) = &self.last {
                    if self.repeats > 0 {
                        tracing::warn!("[{} times] Message: {}", self.repeats, last);
                    }
                }
                tracing::warn!("Message:{}", msg);
                self.last = Some((msg.to_string(), now));
                self.repeats = 0;
            }
        }
    }
}


/// The parent of a path as Java computes it ("" for children of the root),
/// with the root spelled "/" so the tree and the change table agree.
pub(crate) fn parent_of(path: &str) -> Option<&str> {
    let i = path.rfind('/')?;
    Some(if i == 0 { "/" } else { &path[..i] })
}

impl PrepRequestProcessor {
    pub fn start(zks: Arc<ZooKeeperServer>, next: Arc<dyn RequestProcessor>) -> std::io::Result<Arc<Self>> {
        let submitted = Arc::new(LinkedBlockingQueue::new());
        let queue = Arc::clone(&submitted);
        let prep = Prep { zks, next: Arc::clone(&next), quota_log: RefCell::new(RateLogger::default()) };
        let h = crate::server::zoo_keeper_critical_thread::spawn("ProcessThread".into(), move || prep.run(&queue))?;
        Ok(Arc::new(PrepRequestProcessor { submitted, thread: Mutex::new(Some(h)), next }))
    }

    /// Prepares one request on the calling thread, exactly as the
    /// ProcessThread does, and hands it to `next` (the fuzz targets drive
    /// Prep this way, without the thread).
    pub fn process_now(zks: &Arc<ZooKeeperServer>, next: &Arc<dyn RequestProcessor>, req: Request) {
        let prep = Prep { zks: Arc::clone(zks), next: Arc::clone(next), quota_log: RefCell::new(RateLogger::default()) };
        prep.p_request(req);
    }
}

impl RequestProcessor for PrepRequestProcessor {
    fn process_request(&self, mut request: Request) {
        crate::server::server_metrics::metrics().prep_processor_queued.inc();
        request.queued_at = std::time::Instant::now();
        self.submitted.put(Some(request));
    }

    fn shutdown(&self) {
        self.submitted.put(None);
        if let Some(h) = self.thread.lock().take() {
            let _ = h.join();
        }
        self.next.shutdown();
    }
}

impl Prep {
    /// Takes whatever is queued at once and prepares it in order.
    fn run(&self, queue: &LinkedBlockingQueue<Option<Request>>) {
        let m = crate::server::server_metrics::metrics();
        let mut batch = VecDeque::new();
        'outer: loop {
            queue.drain_blocking(&mut batch);
            // One clock read per request: the end of one is the start of
            // the next.
            let mut now = std::time::Instant::now();
            while let Some(item) = batch.pop_front() {
                let Some(req) = item else { break 'outer };
                m.prep_processor_queue_size.add(batch.len() as i64);
                m.prep_processor_queue_time.add(now.saturating_duration_since(req.queued_at).as_millis() as i64);
                zoo_trace::log_request(zoo_trace::client_request_mask(req.op_type), 'P', &req);
                let started = now;
                let close = req.op_type == crate::zoo_defs::op_code::CLOSE_SESSION;
                self.p_request(req);
                now = std::time::Instant::now();
                let took = now.saturating_duration_since(started).as_millis() as i64;
                m.prep_process_time.add(took);
                if close {
                    m.close_session_prep_time.add(took);
                }
            }
        }
        queue.close();
        tracing::info!("PrepRequestProcessor exited loop!");
    }

    fn p_request(&self, mut req: Request) {
        req.hdr = None;
        req.txn = None;
        req.txn_digest = None;
        if req.throttled {
            // Answered THROTTLEDOP by FinalRequestProcessor, untouched.
            req.zxid = self.zks.get_zxid();
            self.next.process_request(req);
            return;
        }
        let prepared = self.p_request_helper(&mut req);
        // A txn carries the tree digest it leaves behind; Java logs none
        // for a request that failed here.
        if prepared.is_ok() && req.hdr.is_some() && self.zks.zk_db().data_tree().digest_enabled() {
            req.txn_digest = Some(TxnDigest { version: DIGEST_VERSION, tree_digest: self.current_tree_digest() });
        }
        if let Err(e) = prepared {
            let err = match e {
                PrepError::Keeper(c) => {
                    if c > code::API_ERROR {
                        tracing::info!("Got user-level KeeperException when processing {:?} Error:{}", req, c);
                    }
                    req.err = Some(c);
                    c
                }
                PrepError::Marshalling(msg) => {
                    tracing::error!("Failed to process {:?}: {}", req, msg);
                    code::MARSHALLING_ERROR
                }
            };
            if let Some(h) = req.hdr.as_mut() {
                h.r#type = op_code::ERROR;
                req.txn = Some(TxnBody::Error(ErrorTxn { err }));
            }
        }
        req.zxid = self.zks.get_zxid();
        self.next.process_request(req);
    }

    fn new_hdr(req: &Request, zxid: i64, ty: i32) -> TxnHeader {
        TxnHeader { client_id: req.session_id, cxid: req.cxid, zxid, time: current_wall_time(), r#type: ty }
    }

    fn p_request_helper(&self, req: &mut Request) -> Result<(), PrepError> {
        let ty = req.op_type;
        match ty {
            op_code::CREATE | op_code::CREATE2 | op_code::CREATE_CONTAINER | op_code::CREATE_TTL
            | op_code::DELETE | op_code::DELETE_CONTAINER | op_code::SET_DATA | op_code::CHECK => {
                let zxid = self.zks.get_next_zxid();
                req.hdr = Some(Self::new_hdr(req, zxid, ty));
                let op = self.decode_single(req)?;
                let txn = self.p_request2txn(req, &op, zxid)?;
                req.txn = Some(txn);
            }
            op_code::SET_ACL => {
                let zxid = self.zks.get_next_zxid();
                req.hdr = Some(Self::new_hdr(req, zxid, ty));
                let txn = self.p_set_acl(req, zxid)?;
                req.txn = Some(txn);
            }
            op_code::RECONFIG => {
                let zxid = self.zks.get_next_zxid();
                req.hdr = Some(Self::new_hdr(req, zxid, ty));
                let r = ReconfigRequest::from_bytes(&req.request)?;
                let txn = self.p_reconfig(req, &r, zxid)?;
                req.txn = Some(txn);
            }
            op_code::MULTI => self.p_multi(req)?,
            // A local session's creation and closing stay on this server:
            // no zxid, no txn; Final updates the session table.
            op_code::CREATE_SESSION | op_code::CLOSE_SESSION if req.local_session => {}
            op_code::CREATE_SESSION => {
                let zxid = self.zks.get_next_zxid();
                req.hdr = Some(Self::new_hdr(req, zxid, ty));
                let to = InputArchive::new(&req.request).read_int()?;
                req.txn = Some(TxnBody::CreateSession(CreateSessionTxn { time_out: to }));
                self.zks.session_tracker().track_session(req.session_id, to);
                // The new session belongs to the connection it came through.
                let _ = self.zks.session_tracker().set_owner(req.session_id, req.session_owner);
            }
            op_code::CLOSE_SESSION => {
                let zxid = self.zks.get_next_zxid();
                req.hdr = Some(Self::new_hdr(req, zxid, ty));
                self.p_close_session(req, zxid);
            }
            op_code::SYNC | op_code::EXISTS | op_code::GET_DATA | op_code::GET_ACL | op_code::GET_CHILDREN
            | op_code::GET_ALL_CHILDREN_NUMBER | op_code::GET_CHILDREN2 | op_code::PING | op_code::SET_WATCHES
            | op_code::SET_WATCHES2 | op_code::CHECK_WATCHES | op_code::REMOVE_WATCHES | op_code::GET_EPHEMERALS
            | op_code::MULTI_READ | op_code::ADD_WATCH | op_code::WHO_AM_I => {
                self.zks.session_tracker().check_session(req.session_id, req.session_owner)?;
            }
            _ => tracing::warn!("unknown type {}", ty),
        }
        Ok(())
    }

    /// The reconfig request, checked in Java's order: reconfigEnabled,
    /// the session, a leader to do it (a standalone server cannot:
    /// UNIMPLEMENTED), no reconfig in flight, the expected config version,
    /// the new membership well formed with enough voters, a synced quorum
    /// of it, and only then WRITE on /zookeeper/config (read-only for
    /// all: only a super user or skipACL gets past it). The txn sets
    /// /zookeeper/config to the new membership, versioned with its zxid.
    fn p_reconfig(&self, req: &Request, r: &ReconfigRequest, zxid: i64) -> Result<TxnBody, PrepError> {
        if !self.zks.settings.config.reconfig_enabled {
            tracing::error!("Reconfig operation requested but reconfig feature is disabled.");
            return Err(code::RECONFIG_DISABLED.into());
        }
        if self.zks.settings.skip_acl {
            tracing::warn!("skipACL is set, reconfig operation will skip ACL checks!");
        }
        self.check_session(req)?;
        let role = self.zks.role();
        let (Some(leader), Some(peer)) = (role.leader(), role.quorum_peer()) else {
            return Err(code::UNIMPLEMENTED.into());
        };
        let last_seen = peer.last_seen_quorum_verifier();
        if last_seen.version() != peer.quorum_verifier().version() {
            return Err(code::RECONFIG_IN_PROGRESS.into());
        }
        if r.cur_config_id != -1 && r.cur_config_id != last_seen.version() {
            tracing::info!(
                "Reconfiguration from version {} failed -- last seen version is {}",
                r.cur_config_id,
                last_seen.version()
            );
            return Err(code::BAD_VERSION.into());
        }
        let mut spec = match &r.new_members {
            Some(members) => {
                tracing::info!("Non-incremental reconfig");
                let text = members.replace(',', "\n");
                crate::quorum::quorum_peer_config::parse_dynamic_config(&text, self.zks.settings.config.multi_address_enabled)
                    .map_err(|e| {
                        tracing::info!("Reconfig failed: {e}");
                        PrepError::Keeper(code::BAD_ARGUMENTS)
                    })?
            }
            None => {
                tracing::info!("Incremental reconfig");
                if matches!(*last_seen, QuorumVerifier::Hierarchical(_)) {
                    tracing::warn!("Incremental reconfiguration requested but last configuration seen has a non-majority quorum system");
                    return Err(code::BAD_ARGUMENTS.into());
                }
                incremental_membership(last_seen.spec(), r, self.zks.settings.config.multi_address_enabled).map_err(|e| {
                    tracing::info!("Reconfig failed: {e}");
                    PrepError::Keeper(code::BAD_ARGUMENTS)
                })?
            }
        };
        spec.version = zxid;
        let voters = spec.voting_members().count();
        if spec.hierarchical {
            tracing::warn!("Reconfig failed - zkserver does not reconfigure into hierarchical quorums");
            return Err(code::BAD_ARGUMENTS.into());
        }
        if self.zks.settings.config.standalone_enabled && voters < 2 {
            tracing::warn!("Reconfig failed - new configuration must include at least 2 followers");
            return Err(code::BAD_ARGUMENTS.into());
        } else if voters < 1 {
            tracing::warn!("Reconfig failed - new configuration must include at least 1 follower");
            return Err(code::BAD_ARGUMENTS.into());
        }
        let qv = QuorumVerifier::Majority(QuorumMaj::new(spec).ok_or(code::BAD_ARGUMENTS)?);
        if !leader.is_quorum_synced(&qv) {
            tracing::warn!("Reconfig failed - there must be a connected and synced quorum in new configuration");
            return Err(code::NEW_CONFIG_NO_QUORUM.into());
        }
        let path = crate::server::data_tree::CONFIG_NODE;
        let mut node = self.get_record_for_path(path)?;
        self.zks.check_acl(&node.acl, perms::WRITE, &req.auth_info)?;
        let data = qv.config_string().into_bytes();
        node.zxid = zxid;
        node.data_len = data.len();
        if let Some(st) = node.stat.as_mut() {
            st.version = -1;
            st.mtime = req.hdr.as_ref().map_or(0, |h| h.time);
            st.mzxid = zxid;
        }
        // /zookeeper/config is outside the digest: the tree's stays.
        node.digest = self.precalculate(node.digest.node_digest, node.digest.node_digest);
        self.add_change_record(node);
        Ok(TxnBody::SetData(SetDataTxn { path: path.to_string(), data: Some(data), version: -1 }))
    }

    /// Decodes the body of a single write request into the Op it names.
    fn decode_single(&self, req: &Request) -> Result<Op, PrepError> {
        let b = &req.request;
        Ok(match req.op_type {
            op_code::CREATE | op_code::CREATE2 | op_code::CREATE_CONTAINER => {
                let r = CreateRequest::from_bytes(b)?;
                Op::Create {
                    op_type: req.op_type,
                    req: CreateTtlRequest { path: r.path, data: r.data, acl: r.acl, flags: r.flags, ttl: -1 },
                }
            }
            op_code::CREATE_TTL => Op::Create { op_type: req.op_type, req: CreateTtlRequest::from_bytes(b)? },
            // deleteContainer comes from the ContainerManager as a bare
            // path. Java reads that path from the whole packet buffer, so
            // from a client (directly or forwarded by a learner) it starts
            // with the request header and always fails path validation.
            op_code::DELETE_CONTAINER if !req.internal => return Err(code::BAD_ARGUMENTS.into()),
            op_code::DELETE_CONTAINER => Op::Delete(DeleteRequest {
                path: String::from_utf8(b.clone()).map_err(|_| PrepError::Marshalling("path not UTF-8".into()))?,
                version: -1,
            }),
            op_code::DELETE => Op::Delete(DeleteRequest::from_bytes(b)?),
            op_code::SET_DATA => Op::SetData(SetDataRequest::from_bytes(b)?),
            _ => Op::Check(CheckVersionRequest::from_bytes(b)?),
        })
    }

    fn check_session(&self, req: &Request) -> Result<(), i32> {
        self.zks.session_tracker().check_session(req.session_id, req.session_owner)
    }

    /// getRecordForPath: the newest promised state of a node, as a record
    /// of its own for the caller to change and add.
    fn get_record_for_path(&self, path: &str) -> Result<ChangeRecord, i32> {
        let path = if path.is_empty() { "/" } else { path };
        if let Some(r) = self.zks.outstanding_changes.lock().for_path.get(path) {
            return if r.stat.is_some() { Ok(ChangeRecord::clone(r)) } else { Err(code::NO_NODE) };
        }
        let (n, digester) = self.zks.zk_db().data_tree().node_info_and_digester(path).ok_or(code::NO_NODE)?;
        let node_digest = digester.digest(&n.stat);
        Ok(ChangeRecord {
            zxid: -1,
            path: path.to_string(),
            stat: Some(n.stat),
            child_count: n.num_children,
            acl: n.acl.as_slice().into(),
            data_len: n.data_len,
            digester,
            digest: PrecalculatedDigest { node_digest, tree_digest: 0 },
        })
    }

    /// getCurrentTreeDigest: the tree digest once every outstanding change
    /// is applied.
    fn current_tree_digest(&self) -> i64 {
        let oc = self.zks.outstanding_changes.lock();
        match oc.queue.back() {
            Some(c) => c.digest.tree_digest,
            None => self.zks.zk_db().data_tree().tree_digest(),
        }
    }

    /// precalculateDigest: a node's digest going from `prev` to `new`
    /// (0 for absent), and the tree digest after that.
    fn precalculate(&self, prev: i64, new: i64) -> PrecalculatedDigest {
        let tree_digest = self.current_tree_digest().wrapping_sub(prev).wrapping_add(new);
        PrecalculatedDigest { node_digest: new, tree_digest }
    }

    /// Records `cr` after its stat changed: its digest moves from the one
    /// it had to the one of its new stat.
    fn add_updated_record(&self, mut cr: ChangeRecord) {
        let new = cr.stat.as_ref().map_or(0, |s| cr.digester.digest(s));
        cr.digest = self.precalculate(cr.digest.node_digest, new);
        self.add_change_record(cr);
    }

    /// Records the deletion of node `node` (as get_record_for_path found it).
    fn add_removed_record(&self, zxid: i64, node: ChangeRecord) {
        let digest = self.precalculate(node.digest.node_digest, 0);
        self.add_change_record(ChangeRecord {
            zxid,
            path: node.path,
            stat: None,
            child_count: -1,
            acl: Arc::from([]),
            data_len: 0,
            digester: NodeDigester::default(),
            digest,
        });
    }

    fn add_change_record(&self, cr: ChangeRecord) {
        let cr = Arc::new(cr);
        let mut oc = self.zks.outstanding_changes.lock();
        oc.for_path.insert(cr.path.clone(), Arc::clone(&cr));
        oc.queue.push_back(cr);
        crate::server::server_metrics::metrics().outstanding_changes_queued.inc();
    }

    fn check_and_inc_version(current: i32, expected: i32) -> Result<i32, i32> {
        if expected != -1 && expected != current {
            return Err(code::BAD_VERSION);
        }
        Ok(current.wrapping_add(1))
    }

    /// checkQuota: with zookeeper.enforceQuota, a create (`count_diff` 1)
    /// or setData replacing `last_len` bytes with `new_len` under a quota
    /// root fails with QUOTAEXCEEDED when it would pass a hard limit; a
    /// soft limit only gets a warning. Usage is read from the tree's stats
    /// node, not from the changes still in flight. Without enforcement
    /// nothing is checked or logged.
    fn check_quota(&self, path: &str, last_len: usize, new_len: usize, count_diff: i64) -> Result<(), i32> {
        if !self.zks.settings.enforce_quota {
            return Ok(());
        }
        let dt = self.zks.zk_db().data_tree();
        let Some(prefix) = dt.max_prefix_with_quota(path) else {
            return Ok(());
        };
        let bytes_diff = new_len as i64 - last_len as i64;
        let limit_node = quotas::limit_path(&prefix);
        let Ok((limit_data, _)) = dt.get_data(&limit_node, None) else {
            tracing::error!("Missing limit node for quota {}", limit_node);
            return Ok(());
        };
        let limits = StatsTrack::parse(limit_data.as_deref().unwrap_or_default());
        if quotas::limits_to_check(&limits, bytes_diff, count_diff) == (false, false) {
            return Ok(());
        }
        let stat_node = quotas::stat_path(&prefix);
        let Ok((stat_data, _)) = dt.get_data(&stat_node, None) else {
            tracing::error!("Missing node for stat {}", stat_node);
            return Ok(());
        };
        let current = StatsTrack::parse(stat_data.as_deref().unwrap_or_default());
        let mut exceeded = false;
        for b in quotas::breaches(&prefix, &limits, &current, bytes_diff, count_diff) {
            self.quota_log.borrow_mut().warn(&b.message);
            exceeded |= b.hard;
        }
        if exceeded {
            if let Some(ns) = crate::server::data_tree::top_namespace(&prefix) {
                crate::server::server_metrics::metrics().quota_exceeded_error_per_namespace.add(ns, 1);
            }
            return Err(code::QUOTA_EXCEEDED);
        }
        Ok(())
    }

    fn validate_path(path: &str, session_id: i64) -> Result<(), i32> {
        validate_path(path).map_err(|reason| {
            tracing::info!("Invalid path {} with session 0x{:x}, reason: {}", path, session_id, reason);
            code::BAD_ARGUMENTS
        })
    }

    /// getParentPathAndValidate (delete): refuses the special paths.
    fn parent_for_delete(path: &str) -> Result<&str, i32> {
        if path.contains('\0') || DataTree::is_special_path(path) {
            return Err(code::BAD_ARGUMENTS);
        }
        parent_of(path).ok_or(code::BAD_ARGUMENTS)
    }

    /// pRequest2Txn for one write op: validates it and returns its txn,
    /// recording the changes it promises.
    fn p_request2txn(&self, req: &Request, op: &Op, zxid: i64) -> Result<TxnBody, PrepError> {
        let time = req.hdr.as_ref().map(|h| h.time).unwrap_or_else(current_wall_time);
        match op {
            Op::Create { op_type, req: c } => self.p_create(req, *op_type, c, zxid, time),
            Op::Delete(d) => {
                let container_sweep = req.op_type == op_code::DELETE_CONTAINER && req.internal;
                if !container_sweep {
                    self.check_session(req)?;
                }
                let path = d.path.as_str();
                let parent_path = Self::parent_for_delete(path)?;
                let (parent, node) = if container_sweep {
                    // The ContainerManager's delete: no session, no ACL, no
                    // version; the node must still be empty and must not be
                    // a session's ephemeral.
                    let node = self.get_record_for_path(path)?;
                    if node.child_count > 0 {
                        return Err(code::NOT_EMPTY.into());
                    }
                    let owner = node.stat.as_ref().map(|s| s.ephemeral_owner).unwrap_or(0);
                    if EphemeralType::get(owner, self.zks.settings.ephemeral_types.extended_types_enabled) == EphemeralType::Normal {
                        return Err(code::BAD_VERSION.into());
                    }
                    (self.get_record_for_path(parent_path)?, node)
                } else {
                    let parent = self.get_record_for_path(parent_path)?;
                    self.zks.check_acl(&parent.acl, perms::DELETE, &req.auth_info)?;
                    let node = self.get_record_for_path(path)?;
                    let v = node.stat.as_ref().map(|s| s.version).unwrap_or(0);
                    Self::check_and_inc_version(v, d.version)?;
                    if node.child_count > 0 {
                        return Err(code::NOT_EMPTY.into());
                    }
                    (parent, node)
                };
                let mut parent = parent;
                parent.zxid = zxid;
                parent.child_count -= 1;
                if let Some(s) = parent.stat.as_mut() {
                    s.pzxid = zxid;
                }
                self.add_updated_record(parent);
                self.add_removed_record(zxid, node);
                Ok(TxnBody::Delete(DeleteTxn { path: path.to_string() }))
            }
            Op::SetData(s) => {
                self.check_session(req)?;
                Self::validate_path(&s.path, req.session_id)?;
                let mut node = self.get_record_for_path(&s.path)?;
                self.zks.check_acl(&node.acl, perms::WRITE, &req.auth_info)?;
                let new_len = s.data.as_ref().map_or(0, Vec::len);
                self.check_quota(&s.path, node.data_len, new_len, 0)?;
                let cur = node.stat.as_ref().map(|st| st.version).unwrap_or(0);
                let new_version = Self::check_and_inc_version(cur, s.version)?;
                node.zxid = zxid;
                node.data_len = new_len;
                if let Some(st) = node.stat.as_mut() {
                    st.version = new_version;
                    st.mtime = time;
                    st.mzxid = zxid;
                }
                node.digester = self.zks.zk_db().data_tree().digester(&s.path, s.data.as_deref());
                self.add_updated_record(node);
                Ok(TxnBody::SetData(SetDataTxn { path: s.path.clone(), data: s.data.clone(), version: new_version }))
            }
            Op::Check(c) => {
                self.check_session(req)?;
                Self::validate_path(&c.path, req.session_id)?;
                let node = self.get_record_for_path(&c.path)?;
                self.zks.check_acl(&node.acl, perms::READ, &req.auth_info)?;
                let cur = node.stat.as_ref().map(|st| st.version).unwrap_or(0);
                let v = Self::check_and_inc_version(cur, c.version)?;
                Ok(TxnBody::Check(CheckVersionTxn { path: c.path.clone(), version: v }))
            }
            Op::GetChildren(_) | Op::GetData(_) => Err(PrepError::Marshalling("read op in a write".into())),
        }
    }

    fn p_create(
        &self,
        req: &Request,
        op_type: i32,
        c: &CreateTtlRequest,
        zxid: i64,
        time: i64,
    ) -> Result<TxnBody, PrepError> {
        let mode = CreateMode::from_flag(c.flags).ok_or(code::BAD_ARGUMENTS)?;
        // validateCreateRequest
        if mode.is_ttl() && !self.zks.settings.ephemeral_types.extended_types_enabled {
            return Err(code::UNIMPLEMENTED.into());
        }
        let ttl_owner = if mode.is_ttl() {
            Some(EphemeralType::ttl_to_ephemeral_owner(c.ttl).ok_or(code::BAD_ARGUMENTS)?)
        } else if c.ttl >= 0 {
            return Err(code::BAD_ARGUMENTS.into());
        } else {
            None
        };
        if mode.is_ephemeral() {
            // An upgrade refused before Prep (EPHEMERALONLOCALSESSION).
            if let Some(err) = req.err {
                return Err(err.into());
            }
            self.zks.session_tracker().check_global_session(req.session_id, req.session_owner)?;
        } else {
            self.check_session(req)?;
        }
        // validatePathForCreate
        let last_slash = c.path.rfind('/');
        if last_slash.is_none() || c.path.contains('\0') {
            tracing::info!("Invalid path {} with session 0x{:x}", c.path, req.session_id);
            return Err(code::BAD_ARGUMENTS.into());
        }
        let parent_path = parent_of(&c.path).unwrap_or("/");
        let acl = self.zks.fixup_acl(&req.auth_info, &c.acl)?;
        let parent = self.get_record_for_path(parent_path)?;
        self.zks.check_acl(&parent.acl, perms::CREATE, &req.auth_info)?;
        let parent_stat = parent.stat.clone().unwrap_or_default();
        let parent_cversion = parent_stat.cversion;
        let path = if mode.is_sequential() { format!("{}{:010}", c.path, parent_cversion) } else { c.path.clone() };
        Self::validate_path(&path, req.session_id)?;
        if self.get_record_for_path(&path).is_ok() {
            return Err(code::NODE_EXISTS.into());
        }
        if EphemeralType::get(parent_stat.ephemeral_owner, self.zks.settings.ephemeral_types.extended_types_enabled)
            == EphemeralType::Normal
        {
            return Err(code::NO_CHILDREN_FOR_EPHEMERALS.into());
        }
        let new_cversion = parent_cversion.wrapping_add(1);
        let data_len = c.data.as_ref().map_or(0, Vec::len);
        self.check_quota(&path, 0, data_len, 1)?;
        let txn = match op_type {
            op_code::CREATE_CONTAINER => TxnBody::CreateContainer(CreateContainerTxn {
                path: path.clone(),
                data: c.data.clone(),
                acl: acl.clone(),
                parent_c_version: new_cversion,
            }),
            op_code::CREATE_TTL => TxnBody::CreateTtl(CreateTtlTxn {
                path: path.clone(),
                data: c.data.clone(),
                acl: acl.clone(),
                parent_c_version: new_cversion,
                ttl: c.ttl,
            }),
            _ => TxnBody::Create(CreateTxn {
                path: path.clone(),
                data: c.data.clone(),
                acl: acl.clone(),
                ephemeral: mode.is_ephemeral(),
                parent_c_version: new_cversion,
            }),
        };
        self.check_txn_size(req, &txn)?;
        let ephemeral_owner = if mode.is_container() {
            EphemeralType::CONTAINER_EPHEMERAL_OWNER
        } else if let Some(o) = ttl_owner {
            o
        } else if mode.is_ephemeral() {
            req.session_id
        } else {
            0
        };
        let mut parent = parent;
        parent.zxid = zxid;
        parent.child_count += 1;
        if let Some(s) = parent.stat.as_mut() {
            s.cversion = new_cversion;
            s.pzxid = zxid;
        }
        self.add_updated_record(parent);
        let stat = create_stat(zxid, time, ephemeral_owner);
        let digester = self.zks.zk_db().data_tree().digester(&path, c.data.as_deref());
        let digest = self.precalculate(0, digester.digest(&stat));
        self.add_change_record(ChangeRecord { zxid, path, stat: Some(stat), child_count: 0, acl: acl.into(), data_len, digester, digest });
        Ok(txn)
    }

    fn p_set_acl(&self, req: &Request, zxid: i64) -> Result<TxnBody, PrepError> {
        let r = SetAclRequest::from_bytes(&req.request)?;
        self.check_session(req)?;
        Self::validate_path(&r.path, req.session_id)?;
        let acl = self.zks.fixup_acl(&req.auth_info, &r.acl)?;
        let mut node = self.get_record_for_path(&r.path)?;
        self.zks.check_acl(&node.acl, perms::ADMIN, &req.auth_info)?;
        let cur = node.stat.as_ref().map(|s| s.aversion).unwrap_or(0);
        let new_version = Self::check_and_inc_version(cur, r.version)?;
        node.zxid = zxid;
        if let Some(s) = node.stat.as_mut() {
            s.aversion = new_version;
        }
        let txn = TxnBody::SetAcl(SetAclTxn { path: r.path, acl: acl.clone(), version: new_version });
        self.check_txn_size(req, &txn)?;
        node.acl = acl.into();
        self.add_updated_record(node);
        Ok(txn)
    }

    fn p_close_session(&self, req: &mut Request, zxid: i64) {
        // In Java's order: the txn records it, and the deletes (and their
        // watch events) follow it.
        let es: Vec<String> = {
            let oc = self.zks.outstanding_changes.lock();
            let mut es = self.zks.zk_db().data_tree().ephemeral_set(req.session_id);
            for c in oc.queue.iter() {
                match &c.stat {
                    None => {
                        es.remove(&c.path);
                    }
                    Some(s) if s.ephemeral_owner == req.session_id => {
                        es.insert(&c.path);
                    }
                    _ => {}
                }
            }
            es.ordered().into_iter().map(str::to_string).collect()
        };
        // Only this thread adds records, so the set cannot change now.
        let digests = self.zks.zk_db().data_tree().digest_enabled();
        for p in &es {
            // With digests on, Java also records each parent's new pzxid.
            if digests {
                if let Some(mut parent) = parent_of(p).and_then(|pp| self.get_record_for_path(pp).ok()) {
                    parent.zxid = zxid;
                    if let Some(s) = parent.stat.as_mut() {
                        s.pzxid = zxid;
                    }
                    self.add_updated_record(parent);
                }
            }
            match self.get_record_for_path(p) {
                Ok(node) => self.add_removed_record(zxid, node),
                Err(_) => tracing::warn!("closeSession 0x{:x}: ephemeral {p} is already gone", req.session_id),
            }
        }
        if self.zks.settings.close_session_txn_enabled {
            req.txn = Some(TxnBody::CloseSession(CloseSessionTxn { paths2_delete: es }));
        }
        self.zks.session_tracker().set_session_closing(req.session_id);
    }

    fn p_multi(&self, req: &mut Request) -> Result<(), PrepError> {
        let mut ia = InputArchive::new(&req.request);
        let multi = match MultiOperationRecord::deserialize(&mut ia) {
            Ok(m) => m,
            Err(e) => {
                let zxid = self.zks.get_next_zxid();
                req.hdr = Some(Self::new_hdr(req, zxid, op_code::MULTI));
                return Err(PrepError::Marshalling(format!("{e:?}")));
            }
        };
        let zxid = self.zks.get_next_zxid();
        let pending = self.get_pending_changes(&multi);
        req.hdr = Some(Self::new_hdr(req, zxid, op_code::MULTI));
        // Reads cannot be mixed with writes (decoding refuses that), and a
        // multi of reads only fails as a whole, as 3.8's does.
        if multi.ops.first().is_some_and(|op| matches!(op, Op::GetData(_) | Op::GetChildren(_))) {
            return Err(PrepError::Marshalling("read op in a multi".into()));
        }
        let mut txns = Vec::with_capacity(multi.ops.len());
        let mut failed = false;
        for op in &multi.ops {
            let (ty, body) = if failed {
                (op_code::ERROR, TxnBody::Error(ErrorTxn { err: code::RUNTIME_INCONSISTENCY }))
            } else {
                match self.p_request2txn(req, op, zxid) {
                    Ok(t) => (op.op_type(), t),
                    Err(e) => {
                        failed = true;
                        let c = match e {
                            PrepError::Keeper(c) => c,
                            PrepError::Marshalling(_) => code::MARSHALLING_ERROR,
                        };
                        if c > code::API_ERROR {
                            tracing::info!("Got user-level KeeperException when processing {:?} aborting remaining multi ops. Error:{}", req, c);
                        }
                        req.err = Some(c);
                        self.rollback_pending_changes(zxid, &pending);
                        (op_code::ERROR, TxnBody::Error(ErrorTxn { err: c }))
                    }
                }
            };
            txns.push(Txn { r#type: ty, data: body.to_bytes() });
        }
        let txn = TxnBody::Multi(MultiTxn { txns });
        if let Err(e) = self.check_txn_size(req, &txn) {
            self.rollback_pending_changes(zxid, &pending);
            return Err(e);
        }
        req.txn = Some(txn);
        Ok(())
    }

    /// Refuses a txn that some reader could not read back: its header,
    /// body and digest travel as one record (a log entry, a PROPOSAL), held
    /// to the jute read limit by every server and every restart. Only
    /// 'auth' ACLs (one entry per identity of the session) and multis make
    /// a txn larger than the request that asked for it. Java logs such a
    /// txn, and then neither its followers nor its own restart can read it.
    fn check_txn_size(&self, req: &Request, txn: &TxnBody) -> Result<(), PrepError> {
        /// TxnHeader (session, cxid, zxid, time, type) and TxnDigest.
        const HEADER_AND_DIGEST: usize = 32 + 12;
        let len = txn.serialized_len() + HEADER_AND_DIGEST;
        let limit = crate::jute::read_limit();
        if len > limit {
            tracing::warn!(
                "Refusing {:?}: its txn would take {} bytes, more than jute.maxbuffer plus its extra size ({})",
                req,
                len,
                limit
            );
            return Err(code::BAD_ARGUMENTS.into());
        }
        Ok(())
    }

    fn get_pending_changes(&self, multi: &MultiOperationRecord) -> HashMap<String, Arc<ChangeRecord>> {
        let oc = self.zks.outstanding_changes.lock();
        let mut pending = HashMap::new();
        for op in &multi.ops {
            let path = match op {
                Op::Create { req, .. } => &req.path,
                Op::Delete(r) => &r.path,
                Op::SetData(r) => &r.path,
                Op::Check(r) => &r.path,
                Op::GetChildren(r) => &r.path,
                Op::GetData(r) => &r.path,
            };
            for p in [Some(path.as_str()), parent_of(path)].into_iter().flatten() {
                if let Some(cr) = oc.for_path.get(p) {
                    pending.insert(p.to_string(), Arc::clone(cr));
                }
            }
        }
        pending
    }

    fn rollback_pending_changes(&self, zxid: i64, pending: &HashMap<String, Arc<ChangeRecord>>) {
        let mut oc = self.zks.outstanding_changes.lock();
        while oc.queue.back().map(|c| c.zxid) == Some(zxid) {
            if let Some(c) = oc.queue.pop_back() {
                oc.for_path.remove(&c.path);
            }
        }
        let first_zxid = match oc.queue.front() {
            Some(c) => c.zxid,
            None => return,
        };
        for c in pending.values() {
            if c.zxid >= first_zxid {
                oc.for_path.insert(c.path.clone(), Arc::clone(c));
            }
        }
    }
}

/// Java's StringUtils.split: pieces trimmed, empty ones dropped.
fn split_list(s: &str, sep: char) -> Vec<&str> {
    s.split(sep).map(str::trim).filter(|p| !p.is_empty()).collect()
}

/// An incremental reconfig's membership: the last seen one without the
/// leaving sids, with the joining `server.N=spec;client` lines (each must
/// name a client port, and no address another member uses).
fn incremental_membership(
    last_seen: &crate::quorum::quorum_peer_config::QuorumSpec,
    r: &ReconfigRequest,
    multi_address_enabled: bool,
) -> Result<crate::quorum::quorum_peer_config::QuorumSpec, String> {
    use crate::quorum::quorum_peer_config::QuorumServer;
    let mut spec = last_seen.clone();
    for leaving in r.leaving_servers.as_deref().map(|l| split_list(l, ',')).unwrap_or_default() {
        let sid: i64 = leaving.parse().map_err(|_| format!("{leaving:?} is not a server id"))?;
        spec.servers.remove(&sid);
    }
    for joiner in r.joining_servers.as_deref().map(|j| split_list(j, ',')).unwrap_or_default() {
        let parts = split_list(joiner, '=');
        let [key, value] = parts.as_slice() else {
            return Err("Wrong format of server string".to_string());
        };
        let sid: i64 = key[key.rfind('.').map_or(0, |i| i + 1)..]
            .parse()
            .map_err(|_| format!("{key:?} does not end in a server id"))?;
        let qs = QuorumServer::parse(sid, value, multi_address_enabled).map_err(|e| e.to_string())?;
        if qs.client_addr.is_none() {
            return Err("Wrong format of server string - each server should have 3 ports specified".to_string());
        }
        for other in spec.servers.values().filter(|o| o.id != sid) {
            let clash = qs.addrs.iter().chain(&qs.election_addrs).find(|a| other.addrs.contains(a) || other.election_addrs.contains(a));
            if let Some(a) = clash {
                return Err(format!("{a} of server {sid} is already used by server {}", other.id));
            }
        }
        spec.servers.insert(sid, qs);
    }
    Ok(spec)
}
