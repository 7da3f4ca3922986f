//! SendAckRequestProcessor: the end of a follower's logging chain, run on
//! the SyncThread after each group commit: one ACK to the leader per
//! proposal now durable on disk.

use crate::jute::records::QuorumPacket;
use crate::quorum::learner::Learner;
use crate::quorum::quorum_packet as packet;
use crate::server::request::Request;
use crate::server::request_processor::RequestProcessor;
use crate::zoo_defs::op_code;
use std::sync::Arc;

pub struct SendAckRequestProcessor {
    learner: Arc<Learner>,
}

impl SendAckRequestProcessor {
    pub fn new(learner: Arc<Learner>) -> SendAckRequestProcessor {
        SendAckRequestProcessor { learner }
    }
}

impl RequestProcessor for SendAckRequestProcessor {
    fn process_request(&self, req: Request) {
        if req.op_type == op_code::SYNC {
            return;
        }
        let Some(hdr) = &req.hdr else { return };
        crate::server::server_metrics::metrics()
            .proposal_ack_creation_latency
            .add(req.create_time.elapsed().as_millis() as i64);
        let ack = QuorumPacket { r#type: packet::ACK, zxid: hdr.zxid, data: None, authinfo: Vec::new() };
        // A failed write closes the socket: the learner's reader ends the role.
        let _ = self.learner.write_packet(&ack, true);
    }

    fn shutdown(&self) {}
}
