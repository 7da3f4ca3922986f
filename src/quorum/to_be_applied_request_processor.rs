//! ToBeAppliedRequestProcessor (Leader.ToBeAppliedRequestProcessor): runs
//! on the CommitProcessor's threads in front of the FinalRequestProcessor.
//! Once a committed txn is applied it leaves the leader's toBeApplied list,
//! which learners joining meanwhile are synced from.

use crate::quorum::leader::Leader;
use crate::server::final_request_processor::FinalRequestProcessor;
use crate::server::request::Request;
use crate::server::request_processor::RequestProcessor;
use std::sync::Weak;

pub struct ToBeAppliedRequestProcessor {
    next: FinalRequestProcessor,
    leader: Weak<Leader>,
}

impl ToBeAppliedRequestProcessor {
    pub fn new(next: FinalRequestProcessor, leader: Weak<Leader>) -> ToBeAppliedRequestProcessor {
        ToBeAppliedRequestProcessor { next, leader }
    }
}

impl RequestProcessor for ToBeAppliedRequestProcessor {
    fn process_request(&self, req: Request) {
        let zxid = req.hdr.as_ref().map(|h| h.zxid);
        self.next.process_request(req);
        if let (Some(z), Some(leader)) = (zxid, self.leader.upgrade()) {
            leader.applied(z);
        }
    }

    fn shutdown(&self) {
        tracing::info!("Shutting down");
        self.next.shutdown();
    }
}
