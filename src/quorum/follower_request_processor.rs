//! FollowerRequestProcessor (`FollowerRequestProcessor:N`; an observer's is
//! Java's ObserverRequestProcessor, `ObserverRequestProcessor:N`): the first
//! processor of a learner's chain. Every request is queued on the
//! CommitProcessor first (so it is waiting when the leader's commit comes
//! back; with zookeeper.enableEagerACLCheck a write its ACLs refuse is
//! answered here instead), then writes, session changes and syncs are forwarded to the
//! leader as REQUEST packets; syncs are remembered until the leader's SYNC.
//! A local session's createSession and closeSession stay here. Before an
//! ephemeral's creation on a local session, `process_request` (on the
//! RequestThrottler thread) queues the createSession that upgrades it. A
//! follower's ObserverMaster hands its observers' requests to
//! `process_learner_request` (their observer did any upgrade); with
//! zookeeper.follower.skipLearnerRequestToNextProcessor they are only
//! forwarded, not queued on the CommitProcessor.

use crate::quorum::learner::Learner;
use crate::quorum::learner_zoo_keeper_server::LearnerZooKeeperServer;
use crate::quorum::quorum_peer_config::LearnerType;
use crate::quorum::quorum_zoo_keeper_server::upgrade_request_for;
use crate::server::zoo_trace;
use crate::server::request::Request;
use crate::server::session_tracker::SessionOwner;
use crate::server::request_processor::RequestProcessor;
use crate::zoo_defs::op_code;
use crate::server::zoo_keeper_server::ZooKeeperServer;
use crate::common::linked_blocking_queue::LinkedBlockingQueue;
use parking_lot::Mutex;
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;

pub struct FollowerRequestProcessor {
    zks: Weak<ZooKeeperServer>,
    /// queuedRequests; `None` stops the thread.
    queued: Arc<LinkedBlockingQueue<Option<Request>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    next: Arc<dyn RequestProcessor>,
}

impl FollowerRequestProcessor {
    pub fn start(
        zks: Weak<ZooKeeperServer>,
        server_id: i64,
        role: Weak<LearnerZooKeeperServer>,
        learner: Arc<Learner>,
        next: Arc<dyn RequestProcessor>,
        skip_learner_requests: bool,
    ) -> std::io::Result<Arc<FollowerRequestProcessor>> {
        let queued = Arc::new(LinkedBlockingQueue::new());
        let q = Arc::clone(&queued);
        let kind = match learner.learner_type() {
            LearnerType::Observer => "ObserverRequestProcessor",
            LearnerType::Participant => "FollowerRequestProcessor",
        };
        let skip = learner.learner_type() == LearnerType::Participant && skip_learner_requests;
        if learner.learner_type() == LearnerType::Participant {
            tracing::info!(
                "Initialized FollowerRequestProcessor with zookeeper.follower.skipLearnerRequestToNextProcessor as {skip}"
            );
        }
        let n = Arc::clone(&next);
        let z = zks.clone();
        let h = crate::server::zoo_keeper_critical_thread::spawn(format!("{kind}:{server_id}"), move || {
            run(z, role, learner, n, &q, skip);
            q.close();
        })?;
        Ok(Arc::new(FollowerRequestProcessor { zks, queued, thread: Mutex::new(Some(h)), next }))
    }
}

impl FollowerRequestProcessor {
    /// processObserverRequest: a request an observer of this follower's
    /// ObserverMaster forwarded, queued as it is.
    pub fn process_learner_request(&self, req: Request) {
        self.queued.put(Some(req));
    }
}

impl RequestProcessor for FollowerRequestProcessor {
    fn process_request(&self, mut req: Request) {
        if let Some(upgrade) = self.zks.upgrade().and_then(|z| upgrade_request_for(&z, &mut req)) {
            self.queued.put(Some(upgrade));
        }
        self.queued.put(Some(req));
    }

    fn shutdown(&self) {
        tracing::info!("Shutting down");
        self.queued.put(None);
        if let Some(h) = self.thread.lock().take() {
            let _ = h.join();
        }
        self.next.shutdown();
    }
}

fn run(
    zks: Weak<ZooKeeperServer>,
    role: Weak<LearnerZooKeeperServer>,
    learner: Arc<Learner>,
    next: Arc<dyn RequestProcessor>,
    queue: &LinkedBlockingQueue<Option<Request>>,
    skip_learner_requests: bool,
) {
    use op_code::*;
    while let Some(req) = queue.take() {
        crate::server::server_metrics::metrics().learner_request_processor_queue_size.add(queue.len() as i64);
        zoo_trace::log_request(zoo_trace::CLIENT_REQUEST_TRACE_MASK, 'F', &req);
        if zks.upgrade().is_some_and(|z| !z.auth_write_request(&req)) {
            continue;
        }
        // A throttled request is answered THROTTLEDOP here, never forwarded.
        let forward = !req.throttled && match req.op_type {
            SYNC => {
                if let Some(r) = role.upgrade() {
                    r.add_pending_sync(req.session_id, req.cxid, req.owner);
                }
                true
            }
            CREATE | CREATE2 | CREATE_TTL | CREATE_CONTAINER | DELETE | DELETE_CONTAINER | SET_DATA | RECONFIG
            | SET_ACL | MULTI | CHECK => true,
            // A local session's never reach the leader.
            CREATE_SESSION | CLOSE_SESSION => !req.local_session,
            _ => false,
        };
        let packet = forward.then(|| Learner::request_packet(&req));
        if skip_learner_requests && matches!(req.session_owner, SessionOwner::Learner(_)) {
            crate::server::server_metrics::metrics().skip_learner_request_to_next_processor_count.inc();
        } else {
            next.process_request(req);
        }
        if let Some(qp) = packet {
            // A failed write closes the socket and ends the role.
            let _ = learner.write_packet(&qp, true);
        }
    }
    tracing::info!("FollowerRequestProcessor exited loop!");
}
