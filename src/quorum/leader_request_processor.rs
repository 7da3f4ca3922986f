//! LeaderRequestProcessor: the first stage of the leader's chain, after the
//! RequestThrottler thread (it runs on that thread). Java screens here for
//! zookeeper.enforce.auth and upgrades local sessions that create
//! ephemerals; neither exists in zkserver (every session is global), so it
//! hands each request straight to the PrepRequestProcessor.

use crate::server::request::Request;
use crate::server::request_processor::RequestProcessor;
use std::sync::Arc;

pub struct LeaderRequestProcessor {
    next: Arc<dyn RequestProcessor>,
}

impl LeaderRequestProcessor {
    pub fn new(next: Arc<dyn RequestProcessor>) -> LeaderRequestProcessor {
        LeaderRequestProcessor { next }
    }
}

impl RequestProcessor for LeaderRequestProcessor {
    fn process_request(&self, req: Request) {
        self.next.process_request(req);
    }

    fn shutdown(&self) {
        tracing::info!("Shutting down");
        self.next.shutdown();
    }
}
