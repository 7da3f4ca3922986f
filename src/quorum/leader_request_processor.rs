//! LeaderRequestProcessor: the first stage of the leader's chain, after the
//! RequestThrottler thread (it runs on that thread). With
//! zookeeper.enableEagerACLCheck it answers a write its ACLs refuse before
//! Prep proposes anything (`ZooKeeperServer::auth_write_request`). With
//! localSessionsEnabled, an ephemeral's creation on one of the leader's
//! local sessions is preceded by the createSession that upgrades the
//! session (`quorum_zoo_keeper_server::check_upgrade_session`). Then
//! everything goes to the PrepRequestProcessor. Learners' requests skip
//! this stage, as in Java.

use crate::quorum::quorum_zoo_keeper_server::upgrade_request_for;
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
    fn process_request(&self, mut req: Request) {
        let Some(zks) = self.zks.upgrade() else { return };
        if !zks.auth_write_request(&req) {
            return;
        }
        if let Some(upgrade) = upgrade_request_for(&zks, &mut req) {
            self.next.process_request(upgrade);
        }
        self.next.process_request(req);
    }

    fn shutdown(&self) {
        tracing::info!("Shutting down");
        self.next.shutdown();
    }
}
