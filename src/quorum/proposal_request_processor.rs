//! ProposalRequestProcessor: runs on the ProcessThread after
//! PrepRequestProcessor. Every request goes on to the CommitProcessor
//! (but, with zookeeper.forward_learner_requests_to_commit_processor_disabled,
//! not a learner's, which the CommitProcessor then applies from its commit
//! as another server's); a txn is also proposed to the followers and
//! logged by the leader's own SyncRequestProcessor (whose
//! AckRequestProcessor acks it). A learner's sync waits in the Leader for
//! the writes proposed before it.

use crate::quorum::leader::{txn_copy, Leader};
use crate::server::request::{Request, RequestOwner};
use crate::server::session_tracker::SessionOwner;
use crate::server::request_processor::RequestProcessor;
use crate::zoo_defs::op_code;
use std::sync::{Arc, Weak};

pub struct ProposalRequestProcessor {
    leader: Weak<Leader>,
    next: Arc<dyn RequestProcessor>,
    sync: Arc<dyn RequestProcessor>,
    /// Whether learners' requests go to the CommitProcessor too.
    forward_learner_requests: bool,
}

impl ProposalRequestProcessor {
    /// `next` is the CommitProcessor, `sync` the SyncRequestProcessor
    /// feeding the AckRequestProcessor.
    pub fn new(
        leader: Weak<Leader>,
        next: Arc<dyn RequestProcessor>,
        sync: Arc<dyn RequestProcessor>,
        forward_learner_requests: bool,
    ) -> Self {
        ProposalRequestProcessor { leader, next, sync, forward_learner_requests }
    }
}

impl RequestProcessor for ProposalRequestProcessor {
    fn process_request(&self, req: Request) {
        if let (op_code::SYNC, RequestOwner::LearnerSync(handler)) = (req.op_type, req.owner) {
            if let Some(leader) = self.leader.upgrade() {
                leader.process_sync(handler);
            }
            return;
        }
        let logged = req.hdr.as_ref().map(|_| txn_copy(&req));
        if self.forward_learner_requests || !matches!(req.session_owner, SessionOwner::Learner(_)) {
            self.next.process_request(req);
        } else {
            crate::server::server_metrics::metrics().requests_not_forwarded_to_commit_processor.inc();
        }
        let Some(logged) = logged else { return };
        let Some(leader) = self.leader.upgrade() else { return };
        if let Err(e) = leader.propose(&logged) {
            // Only a zxid rollover fails here; the leader has stepped down.
            tracing::error!("Unexpected exception while proposing: {e}");
            return;
        }
        self.sync.process_request(logged);
    }

    fn shutdown(&self) {
        tracing::info!("Shutting down");
        self.next.shutdown();
        self.sync.shutdown();
    }
}
