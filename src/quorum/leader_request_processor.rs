//! LeaderRequestProcessor: the first stage of the leader's chain, after the
//! RequestThrottler thread (it runs on that thread). With
//! zookeeper.enableEagerACLCheck it answers a write its ACLs refuse before
//! Prep proposes anything (`ZooKeeperServer::auth_write_request`). Java also
//! upgrades local sessions that create ephemerals here; every zkserver
//! session is global, so everything else goes straight to the
//! PrepRequestProcessor. Learners' requests skip this stage, as in Java.

use crate::server::request::Request;
use crate::server::request_processor::RequestProcessor;
use crate::server::zoo_keeper_server::ZooKeeperServer;
use std::sync::{Arc, Weak};

pub struct LeaderRequestProcessor {
    zks: Weak<ZooKeeperServer>,
    next: Arc<dyn RequestProcessor>,
}

impl LeaderRequestProcessor {
    pub fn new(zks: Weak<ZooKeeperServer>, next: Arc<dyn RequestProcessor>) -> LeaderRequestProcessor {
        LeaderRequestProcessor { zks, next }
    }
}

impl RequestProcessor for LeaderRequestProcessor {
    fn process_request(&self, req: Request) {
        if self.zks.upgrade().is_some_and(|z| !z.auth_write_request(&req)) {
            return;
        }
        self.next.process_request(req);
    }

    fn shutdown(&self) {
        tracing::info!("Shutting down");
        self.next.shutdown();
    }
}
