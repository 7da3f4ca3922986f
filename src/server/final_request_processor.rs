//! FinalRequestProcessor: the end of every chain; no thread of its own, it
//! runs on the thread before it (the SyncThread in standalone). Applies the
//! txn to the DataTree (which fires watches), answers reads from the tree,
//! and sends the reply on the request's connection.

use crate::jute::multi::{MultiOperationRecord, MultiResponse, Op, OpResult};
use crate::jute::records::*;
use crate::jute::txn::TxnBody;
use crate::jute::{InputArchive, JuteError, OutputArchive, Record};
use crate::server::zoo_trace;
use crate::server::data_node::ChildList;
use crate::server::data_tree::ProcessTxnResult;
use crate::server::request::Request;
use crate::server::request_processor::RequestProcessor;
use crate::server::server_cnxn::{reply_archive, ServerCnxn};
use crate::watcher::Watcher;
use crate::zoo_defs::{code, op_code, perms, watcher_type, xid};
use crate::server::zoo_keeper_server::ZooKeeperServer;
use std::sync::Arc;

pub struct FinalRequestProcessor {
    zks: Arc<ZooKeeperServer>,
}

/// Why a request failed: a KeeperException code.
type KResult<T> = Result<T, i32>;

fn decode<R: Record>(buf: &[u8]) -> KResult<R> {
    R::from_bytes(buf).map_err(|e: JuteError| {
        tracing::error!("Failed to deserialize request body: {e}");
        code::MARSHALLING_ERROR
    })
}

/// A reply body.
enum Body {
    /// A whole reply frame, its head still blank (`reply_archive`).
    Own(OutputArchive),
    /// A node's children listing, sent as the node keeps it (no copy),
    /// then bytes of its own (getChildren2's Stat; empty for getChildren).
    Listing(ChildList, Vec<u8>),
}

/// A reply of `r` (most are a Stat and a path or less).
fn bytes_of<R: Record>(r: &R) -> Body {
    reply_of(r, 128)
}

/// A reply of `r`, whose body takes about `capacity` bytes.
fn reply_of<R: Record>(r: &R, capacity: usize) -> Body {
    let mut frame = reply_archive(capacity);
    r.serialize(&mut frame);
    Body::Own(frame)
}

impl FinalRequestProcessor {
    pub fn new(zks: Arc<ZooKeeperServer>) -> FinalRequestProcessor {
        FinalRequestProcessor { zks }
    }

    fn watcher(cnxn: &Arc<dyn ServerCnxn>, watch: bool) -> Option<Arc<dyn Watcher>> {
        if watch {
            Some(Arc::clone(cnxn) as Arc<dyn Watcher>)
        } else {
            None
        }
    }

    fn check_read(&self, req: &Request, path: &str, perm: i32) -> KResult<()> {
        let info = self.zks.zk_db().data_tree().node_info(path).ok_or(code::NO_NODE)?;
        self.zks.check_acl(&info.acl, perm, &req.auth_info)
    }

    /// checkACL of `perm` for `req`, for the tree to make on the node it
    /// looks up.
    fn acl_check<'a>(&'a self, req: &'a Request, perm: i32) -> impl FnOnce(&[Acl]) -> KResult<()> + 'a {
        move |acl| self.zks.check_acl(acl, perm, &req.auth_info)
    }

    fn get_data(&self, req: &Request, cnxn: &Arc<dyn ServerCnxn>, r: &GetDataRequest) -> KResult<GetDataResponse> {
        let dt = self.zks.zk_db().data_tree();
        let (data, stat) = dt.get_data_checked(&r.path, Self::watcher(cnxn, r.watch), self.acl_check(req, perms::READ))?;
        Ok(GetDataResponse { data, stat })
    }

    fn get_children(
        &self,
        req: &Request,
        cnxn: &Arc<dyn ServerCnxn>,
        r: &GetChildrenRequest,
    ) -> KResult<(ChildList, Stat)> {
        let dt = self.zks.zk_db().data_tree();
        dt.get_children_checked(&r.path, Self::watcher(cnxn, r.watch), self.acl_check(req, perms::READ))
    }

    fn multi_response(rc: &ProcessTxnResult) -> KResult<OutputArchive> {
        let mut rsp = MultiResponse::default();
        for sub in &rc.multi_result {
            rsp.results.push(match sub.op_type {
                op_code::CHECK => OpResult::Check,
                op_code::CREATE => OpResult::Create { path: sub.path.clone() },
                op_code::CREATE2 | op_code::CREATE_TTL | op_code::CREATE_CONTAINER => {
                    OpResult::Create2 { path: sub.path.clone(), stat: sub.stat.clone().unwrap_or_default() }
                }
                op_code::DELETE | op_code::DELETE_CONTAINER => OpResult::Delete,
                op_code::SET_DATA => OpResult::SetData { stat: sub.stat.clone().unwrap_or_default() },
                op_code::ERROR => OpResult::Error { err: sub.err },
                _ => return Err(code::MARSHALLING_ERROR),
            });
        }
        let mut frame = reply_archive(128 * rsp.results.len());
        rsp.serialize(&mut frame);
        Ok(frame)
    }

    /// The error code and body of a multiRead reply. An op that is not a
    /// read ends it with MARSHALLINGERROR, and 3.8 still sends the results
    /// gathered before that op (an empty list, as a list that mixes reads
    /// and writes does not decode at all).
    fn multi_read(&self, req: &Request, cnxn: &Arc<dyn ServerCnxn>) -> (i32, Option<OutputArchive>) {
        let mut ia = InputArchive::new(&req.request);
        let Ok(rec) = MultiOperationRecord::deserialize(&mut ia) else {
            return (code::MARSHALLING_ERROR, None);
        };
        let mut rsp = MultiResponse::default();
        let mut err = code::OK;
        for op in &rec.ops {
            let res = match op {
                Op::GetChildren(r) => {
                    let r = GetChildrenRequest { path: r.path.clone(), watch: false };
                    self.get_children(req, cnxn, &r).map(|(children, _)| OpResult::GetChildren { children: children.names() })
                }
                Op::GetData(r) => {
                    let r = GetDataRequest { path: r.path.clone(), watch: false };
                    self.get_data(req, cnxn, &r).map(|g| OpResult::GetData { data: g.data, stat: g.stat })
                }
                _ => {
                    err = code::MARSHALLING_ERROR;
                    break;
                }
            };
            rsp.results.push(res.unwrap_or_else(|err| OpResult::Error { err }));
        }
        let mut frame = reply_archive(128 * rsp.results.len());
        rsp.serialize(&mut frame);
        (err, Some(frame))
    }

    /// Whether the request failed because its session is owned elsewhere:
    /// Prep's code on the leader, the error txn (or, for a multi, an error
    /// result) everywhere.
    fn session_moved(req: &Request, rc: &ProcessTxnResult) -> bool {
        req.err == Some(code::SESSION_MOVED)
            || matches!(&req.txn, Some(TxnBody::Error(e)) if e.err == code::SESSION_MOVED)
            || (req.op_type == op_code::MULTI
                && rc.multi_result.iter().any(|r| r.op_type == op_code::ERROR && r.err == code::SESSION_MOVED))
    }

    /// The reply body for a request that did not fail in Prep.
    fn respond(&self, req: &Request, cnxn: &Arc<dyn ServerCnxn>, rc: &ProcessTxnResult) -> KResult<Option<Body>> {
        let dt = self.zks.zk_db().data_tree();
        let ok = |err: i32| if err == code::OK { Ok(()) } else { Err(err) };
        Ok(match req.op_type {
            op_code::MULTI => Some(Body::Own(Self::multi_response(rc)?)),
            op_code::CREATE => {
                ok(rc.err)?;
                Some(bytes_of(&CreateResponse { path: rc.path.clone() }))
            }
            op_code::CREATE2 | op_code::CREATE_TTL | op_code::CREATE_CONTAINER => {
                ok(rc.err)?;
                Some(bytes_of(&Create2Response { path: rc.path.clone(), stat: rc.stat.clone().unwrap_or_default() }))
            }
            op_code::DELETE | op_code::DELETE_CONTAINER | op_code::CLOSE_SESSION => {
                ok(rc.err)?;
                None
            }
            op_code::SET_DATA | op_code::CHECK => {
                ok(rc.err)?;
                Some(bytes_of(&SetDataResponse { stat: rc.stat.clone().unwrap_or_default() }))
            }
            op_code::RECONFIG => {
                ok(rc.err)?;
                // The configuration now in force, with the node's stat.
                let config = self.zks.role().quorum_peer().map(|p| p.quorum_verifier().config_string().into_bytes());
                Some(bytes_of(&GetDataResponse { data: config, stat: rc.stat.clone().unwrap_or_default() }))
            }
            op_code::SET_ACL => {
                ok(rc.err)?;
                Some(bytes_of(&SetAclResponse { stat: rc.stat.clone().unwrap_or_default() }))
            }
            op_code::SYNC => {
                let r: SyncRequest = decode(&req.request)?;
                Some(bytes_of(&SyncResponse { path: r.path }))
            }
            op_code::EXISTS => {
                let r: ExistsRequest = decode(&req.request)?;
                if r.path.contains('\0') {
                    return Err(code::BAD_ARGUMENTS);
                }
                // READ is needed to see an existing node's stat, as from
                // Java 3.8.4 (ZOOKEEPER-2590); 3.8.0 answered anyone. A
                // missing node is NONODE for everyone.
                let stat = dt.stat_node_checked(&r.path, Self::watcher(cnxn, r.watch), self.acl_check(req, perms::READ))?;
                Some(bytes_of(&ExistsResponse { stat }))
            }
            op_code::GET_DATA => {
                let r: GetDataRequest = decode(&req.request)?;
                let rsp = self.get_data(req, cnxn, &r)?;
                // The data's length, the data and a Stat.
                Some(reply_of(&rsp, 4 + rsp.data.as_ref().map_or(0, Vec::len) + 68))
            }
            op_code::SET_WATCHES => {
                let r: SetWatches = decode(&req.request)?;
                dt.set_watches(
                    r.relative_zxid,
                    &r.data_watches,
                    &r.exist_watches,
                    &r.child_watches,
                    &[],
                    &[],
                    Arc::clone(cnxn) as Arc<dyn Watcher>,
                );
                None
            }
            op_code::SET_WATCHES2 => {
                let r: SetWatches2 = decode(&req.request)?;
                dt.set_watches(
                    r.relative_zxid,
                    &r.data_watches,
                    &r.exist_watches,
                    &r.child_watches,
                    &r.persistent_watches,
                    &r.persistent_recursive_watches,
                    Arc::clone(cnxn) as Arc<dyn Watcher>,
                );
                None
            }
            op_code::ADD_WATCH => {
                let r: AddWatchRequest = decode(&req.request)?;
                dt.add_watch(&r.path, Arc::clone(cnxn) as Arc<dyn Watcher>, r.mode);
                Some(bytes_of(&ErrorResponse { err: 0 }))
            }
            op_code::GET_ACL => {
                let r: GetAclRequest = decode(&req.request)?;
                let info = dt.node_info(&r.path).ok_or(code::NO_NODE)?;
                self.zks.check_acl(&info.acl, perms::READ | perms::ADMIN, &req.auth_info)?;
                let (acl, stat) = dt.get_acl(&r.path)?;
                let acl = if self.zks.check_acl(&info.acl, perms::ADMIN, &req.auth_info).is_ok() {
                    acl
                } else {
                    // Without ADMIN, digest ACLs are shown with the hash hidden.
                    acl.into_iter()
                        .map(|a| {
                            if a.id.scheme == "digest" {
                                let user = a.id.id.split(':').next().unwrap_or("").to_string();
                                Acl { perms: a.perms, id: Id { scheme: a.id.scheme, id: format!("{user}:x") } }
                            } else {
                                a
                            }
                        })
                        .collect()
                };
                Some(bytes_of(&GetAclResponse { acl, stat }))
            }
            op_code::GET_CHILDREN => {
                let r: GetChildrenRequest = decode(&req.request)?;
                // A GetChildrenResponse is the listing alone.
                let (children, _) = self.get_children(req, cnxn, &r)?;
                Some(Body::Listing(children, Vec::new()))
            }
            op_code::GET_CHILDREN2 => {
                let r: GetChildren2Request = decode(&req.request)?;
                let r = GetChildrenRequest { path: r.path, watch: r.watch };
                // A GetChildren2Response: the listing, then the Stat.
                let (children, stat) = self.get_children(req, cnxn, &r)?;
                Some(Body::Listing(children, stat.to_bytes()))
            }
            op_code::GET_ALL_CHILDREN_NUMBER => {
                let r: GetAllChildrenNumberRequest = decode(&req.request)?;
                self.check_read(req, &r.path, perms::READ)?;
                Some(bytes_of(&GetAllChildrenNumberResponse { total_number: dt.get_all_children_number(&r.path) }))
            }
            op_code::CHECK_WATCHES | op_code::REMOVE_WATCHES => {
                let (path, ty) = if req.op_type == op_code::CHECK_WATCHES {
                    let r: CheckWatchesRequest = decode(&req.request)?;
                    (r.path, r.r#type)
                } else {
                    let r: RemoveWatchesRequest = decode(&req.request)?;
                    (r.path, r.r#type)
                };
                if !(watcher_type::CHILDREN..=watcher_type::ANY).contains(&ty) {
                    return Err(code::MARSHALLING_ERROR);
                }
                // 3.8's checkWatches walks the path towards the root and
                // fails on a non-empty path without a '/'.
                if req.op_type == op_code::CHECK_WATCHES && !path.is_empty() && !path.contains('/') {
                    return Err(code::MARSHALLING_ERROR);
                }
                let found = if req.op_type == op_code::CHECK_WATCHES {
                    dt.contains_watcher(&path, ty, cnxn.watcher_id())
                } else {
                    dt.remove_watch(&path, ty, cnxn.watcher_id())
                };
                if !found {
                    return Err(code::NO_WATCHER);
                }
                None
            }
            op_code::WHO_AM_I => {
                let client_info = req
                    .auth_info
                    .iter()
                    .map(|id| ClientInfo {
                        auth_scheme: id.scheme.clone(),
                        user: self.zks.settings.auth.providers.user_name(&id.scheme, &id.id).to_string(),
                    })
                    .collect();
                Some(bytes_of(&WhoAmIResponse { client_info }))
            }
            op_code::GET_EPHEMERALS => {
                let r: GetEphemeralsRequest = decode(&req.request)?;
                let all = dt.get_ephemerals(req.session_id);
                let prefix = r.prefix_path.trim();
                let everything = prefix.is_empty() || prefix == "/";
                // A GetEphemeralsResponse, written straight from the
                // tree's shared list.
                let mut frame = reply_archive(64);
                frame.write_string_vector(
                    all.iter().map(|p| &**p).filter(|p| everything || p.starts_with(&r.prefix_path)),
                );
                Some(Body::Own(frame))
            }
            _ => None,
        })
    }
}

impl RequestProcessor for FinalRequestProcessor {
    fn process_request(&self, req: Request) {
        let mask = if req.op_type == crate::zoo_defs::op_code::PING {
            zoo_trace::SERVER_PING_TRACE_MASK
        } else {
            zoo_trace::CLIENT_REQUEST_TRACE_MASK
        };
        zoo_trace::log_request(mask, 'E', &req);
        if req.is_stale(&self.zks.settings.request_throttler) {
            // Its connection closed (or went stale) on the way here.
            crate::server::server_metrics::metrics().stale_replies.inc();
        }
        if let Some(hdr) = &req.hdr {
            // From the txn's creation on the leader (its wall-clock time)
            // to being applied here.
            let now = crate::common::time::current_wall_time();
            if now >= hdr.time {
                crate::server::server_metrics::metrics().propagation_latency.add(now - hdr.time);
            }
        }
        let rc = self.zks.process_txn(&req);
        // A closeSession from the expirer (no connection) still closes the
        // session's connection, if one is left.
        if req.op_type == op_code::CLOSE_SESSION && req.cnxn.is_none() {
            if let Some(f) = self.zks.cnxn_factory() {
                f.close_session(req.session_id, "session closed");
            }
        }
        let Some(cnxn) = req.cnxn.clone() else { return };
        self.zks.dec_in_process();
        let last_zxid = self.zks.zk_db().last_processed_zxid();

        // The session moved to another server (or behind another learner)
        // while this connection still used it: that is an error of the
        // connection, not of the request, so the connection is closed
        // unanswered rather than left to disagree with the leader about
        // where the session lives.
        if Self::session_moved(&req, &rc) {
            tracing::info!("Closing the connection of session 0x{:x}: the session moved", req.session_id);
            cnxn.send_close_after_flush();
            return;
        }

        // One clock read gives the reply's latency to both figures.
        let latency_ms = || req.create_time.elapsed().as_millis() as u64;
        if req.op_type == op_code::PING {
            let latency_ms = latency_ms();
            self.zks.stats.update_latency(latency_ms, false);
            cnxn.update_stats_for_response(req.cxid, last_zxid, "PING", latency_ms);
            cnxn.send_response(&ReplyHeader { xid: xid::PING, zxid: last_zxid, err: 0 }, None);
            return;
        }
        if req.op_type == op_code::CREATE_SESSION {
            cnxn.update_stats_for_response(req.cxid, last_zxid, "SESS", latency_ms());
            self.zks.finish_session_init(&cnxn, true);
            return;
        }

        let failed_in_prep = req.hdr.as_ref().map(|h| h.r#type == op_code::ERROR).unwrap_or(false);
        let (err, body) = if failed_in_prep {
            let e = req.err.unwrap_or(match &req.txn {
                Some(TxnBody::Error(e)) => e.err,
                _ => code::SYSTEM_ERROR,
            });
            (e, None)
        } else if let (Some(e), false) = (req.err, req.op_type == op_code::MULTI) {
            (e, None)
        } else if req.throttled {
            (code::THROTTLED_OP, None)
        } else if req.op_type == op_code::MULTI_READ {
            let (err, body) = self.multi_read(&req, &cnxn);
            (err, body.map(Body::Own))
        } else {
            match self.respond(&req, &cnxn, &rc) {
                Ok(b) => (code::OK, b),
                Err(e) => (e, None),
            }
        };
        let latency_ms = latency_ms();
        self.zks.stats.update_latency(latency_ms, req.hdr.is_some());
        cnxn.update_stats_for_response(req.cxid, last_zxid, last_op_name(req.op_type), latency_ms);
        let hdr = ReplyHeader { xid: req.cxid, zxid: last_zxid, err };
        match body {
            None => cnxn.send_response(&hdr, None),
            Some(Body::Own(frame)) => cnxn.send_reply(&hdr, frame),
            Some(Body::Listing(children, tail)) => cnxn.send_response_shared(&hdr, children.shared(), &tail),
        }
        if req.op_type == op_code::CLOSE_SESSION {
            cnxn.send_close_after_flush();
        }
    }

    fn shutdown(&self) {
        tracing::info!("shutdown of request processor complete");
    }
}

/// The four-letter op names `cons` shows as lastOperation.
fn last_op_name(op: i32) -> &'static str {
    match op {
        op_code::MULTI => "MULT",
        op_code::MULTI_READ => "MLTR",
        op_code::CREATE | op_code::CREATE2 | op_code::CREATE_TTL | op_code::CREATE_CONTAINER => "CREA",
        op_code::DELETE | op_code::DELETE_CONTAINER => "DELE",
        op_code::SET_DATA => "SETD",
        op_code::RECONFIG => "RECO",
        op_code::SET_ACL => "SETA",
        op_code::CLOSE_SESSION => "CLOS",
        op_code::SYNC => "SYNC",
        op_code::CHECK => "CHEC",
        op_code::EXISTS => "EXIS",
        op_code::GET_DATA => "GETD",
        op_code::SET_WATCHES => "SETW",
        op_code::SET_WATCHES2 => "STW2",
        op_code::ADD_WATCH => "ADDW",
        op_code::GET_ACL => "GETA",
        op_code::GET_CHILDREN | op_code::GET_CHILDREN2 => "GETC",
        op_code::GET_ALL_CHILDREN_NUMBER => "GETACN",
        op_code::CHECK_WATCHES => "CHKW",
        op_code::REMOVE_WATCHES => "REMW",
        op_code::WHO_AM_I => "HOMI",
        op_code::GET_EPHEMERALS => "GETE",
        _ => "NA",
    }
}
