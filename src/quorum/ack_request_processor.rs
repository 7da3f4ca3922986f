//! AckRequestProcessor: the end of the leader's logging branch
//! (ProposalRequestProcessor -> SyncRequestProcessor -> here). Runs on the
//! SyncThread once a batch is fsynced: the leader's own ACK of each txn, so
//! it counts towards the quorum only once it is durable.

use crate::quorum::leader::Leader;
use crate::quorum::learner_master::LearnerMaster;
use crate::server::request::Request;
use crate::server::request_processor::RequestProcessor;
use std::sync::Weak;

pub struct AckRequestProcessor {
    leader: Weak<Leader>,
    my_id: i64,
}

impl AckRequestProcessor {
    pub fn new(leader: Weak<Leader>, my_id: i64) -> AckRequestProcessor {
        AckRequestProcessor { leader, my_id }
    }
}

impl RequestProcessor for AckRequestProcessor {
    fn process_request(&self, req: Request) {
        let (Some(leader), Some(hdr)) = (self.leader.upgrade(), req.hdr.as_ref()) else { return };
        crate::server::server_metrics::metrics()
            .proposal_ack_creation_latency
            .add(req.create_time.elapsed().as_millis() as i64);
        leader.process_ack(self.my_id, hdr.zxid, None);
    }

    fn shutdown(&self) {}
}
