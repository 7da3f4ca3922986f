//! ReadOnlyRequestProcessor (`ReadOnlyRequestProcessor:N`): the first
//! processor of a read-only server's chain. Anything that would change the
//! tree (writes, multi, check, reconfig) and sync get NOTREADONLY at once,
//! with the tree's last zxid; so do createSession and closeSession of a
//! session that is not local to this server (a read-only server cannot log
//! a session). Everything else goes on to the PrepRequestProcessor.

use crate::jute::records::ReplyHeader;
use crate::server::zoo_trace;
use crate::server::request::Request;
use crate::server::request_processor::RequestProcessor;
use crate::server::zoo_keeper_server::ZooKeeperServer;
use crate::zoo_defs::{code, op_code};
use crate::common::linked_blocking_queue::LinkedBlockingQueue;
use parking_lot::Mutex;
use std::sync::Arc;
use std::thread::JoinHandle;

pub struct ReadOnlyRequestProcessor {
    /// queuedRequests; `None` stops the thread.
    queued: Arc<LinkedBlockingQueue<Option<Request>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    next: Arc<dyn RequestProcessor>,
}

impl ReadOnlyRequestProcessor {
    pub fn start(zks: Arc<ZooKeeperServer>, next: Arc<dyn RequestProcessor>) -> std::io::Result<Arc<Self>> {
        let queued = Arc::new(LinkedBlockingQueue::new());
        let q = Arc::clone(&queued);
        let name = format!("ReadOnlyRequestProcessor:{}", zks.settings.server_id);
        let n = Arc::clone(&next);
        let h = crate::server::zoo_keeper_critical_thread::spawn(name, move || {
            run(&zks, &n, &q);
            q.close();
        })?;
        Ok(Arc::new(ReadOnlyRequestProcessor { queued, thread: Mutex::new(Some(h)), next }))
    }
}

/// Whether a read-only server refuses the request with NOTREADONLY.
pub fn refused_read_only(req: &Request) -> bool {
    use op_code::*;
    match req.op_type {
        SYNC | CREATE | CREATE2 | CREATE_TTL | CREATE_CONTAINER | DELETE | DELETE_CONTAINER | SET_DATA | RECONFIG
        | SET_ACL | MULTI | CHECK => true,
        CREATE_SESSION | CLOSE_SESSION => !req.local_session,
        _ => false,
    }
}

fn run(zks: &Arc<ZooKeeperServer>, next: &Arc<dyn RequestProcessor>, queue: &LinkedBlockingQueue<Option<Request>>) {
    while let Some(req) = queue.take() {
        zoo_trace::log_request(zoo_trace::client_request_mask(req.op_type), 'R', &req);
        if !refused_read_only(&req) {
            next.process_request(req);
            continue;
        }
        let Some(cnxn) = &req.cnxn else {
            tracing::warn!("Dropping {req:?}: this server is read-only");
            continue;
        };
        zks.dec_in_process();
        let zxid = zks.zk_db().last_processed_zxid();
        cnxn.send_response(&ReplyHeader { xid: req.cxid, zxid, err: code::NOT_READONLY }, None);
    }
    tracing::info!("ReadOnlyRequestProcessor exited loop!");
}

impl RequestProcessor for ReadOnlyRequestProcessor {
    fn process_request(&self, req: Request) {
        self.queued.put(Some(req));
    }

    fn shutdown(&self) {
        self.queued.put(None);
        if let Some(h) = self.thread.lock().take() {
            let _ = h.join();
        }
        self.next.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(op: i32, local: bool) -> Request {
        let mut r = Request::new(None, 1, 1, op, Vec::new(), Vec::new());
        r.local_session = local;
        r
    }

    #[test]
    fn writes_and_sync_are_refused_reads_pass() {
        use op_code::*;
        for op in [SYNC, CREATE, CREATE2, CREATE_TTL, CREATE_CONTAINER, DELETE, DELETE_CONTAINER, SET_DATA, RECONFIG, SET_ACL, MULTI, CHECK] {
            assert!(refused_read_only(&req(op, true)), "op {op}");
        }
        for op in [EXISTS, GET_DATA, GET_ACL, GET_CHILDREN, GET_CHILDREN2, GET_ALL_CHILDREN_NUMBER, PING, SET_WATCHES, SET_WATCHES2, MULTI_READ, ADD_WATCH, REMOVE_WATCHES, CHECK_WATCHES, GET_EPHEMERALS, WHO_AM_I] {
            assert!(!refused_read_only(&req(op, false)), "op {op}");
        }
        // Sessions: only local ones are created or closed here.
        assert!(!refused_read_only(&req(CREATE_SESSION, true)));
        assert!(!refused_read_only(&req(CLOSE_SESSION, true)));
        assert!(refused_read_only(&req(CREATE_SESSION, false)));
        assert!(refused_read_only(&req(CLOSE_SESSION, false)));
    }
}
