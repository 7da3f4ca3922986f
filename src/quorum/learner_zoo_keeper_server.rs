//! LearnerZooKeeperServer: the ServerRole of a follower (Java's
//! FollowerZooKeeperServer) or an observer (ObserverZooKeeperServer).
//! Chains: FollowerRequestProcessor -> CommitProcessor -> Final for client
//! requests; proposals from the leader go SyncRequestProcessor ->
//! SendAckRequestProcessor (follower), INFORMs go to the CommitProcessor
//! and, with observer sync enabled, to a SyncRequestProcessor that only
//! logs them. The QuorumPeer thread feeds it the leader's packets
//! (`log_request`, `commit`, `commit_request`, `sync`) as its
//! `LearnerCore` decides. With localSessionsEnabled its new sessions are
//! local (`LearnerSessionTracker`): a local session's reconnection is
//! decided here, any other by the leader (REVALIDATE). A follower with
//! observerMasterPort owns an ObserverMaster, fed by the same thread.

use crate::jute::txn::TxnLogEntry;
use crate::quorum::commit_processor::CommitProcessor;
use crate::quorum::follower_request_processor::FollowerRequestProcessor;
use crate::quorum::learner::{txn_request, Learner};
use crate::quorum::learner_session_tracker::LearnerSessionTracker;
use crate::quorum::observer_master::ObserverMaster;
use crate::quorum::quorum_zoo_keeper_server::set_local_session_flag;
use crate::server::session_tracker::SessionTracker;
use crate::quorum::quorum_peer::QuorumPeer;
use crate::quorum::quorum_peer_config::LearnerType;
use crate::quorum::send_ack_request_processor::SendAckRequestProcessor;
use crate::server::final_request_processor::FinalRequestProcessor;
use crate::server::server_cnxn::ServerCnxn;
use crate::server::request::{Request, RequestOwner};
use crate::server::request_processor::RequestProcessor;
use crate::server::sync_request_processor::SyncRequestProcessor;
use crate::zoo_defs::op_code;
use crate::server::zoo_keeper_server::{ServerRole, ZooKeeperServer};
use parking_lot::Mutex;
use crate::server::metrics::monitor::Value;
use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, OnceLock, Weak};

pub struct LearnerZooKeeperServer {
    me: Weak<LearnerZooKeeperServer>,
    peer: Weak<QuorumPeer>,
    learner: Arc<Learner>,
    tracker: Arc<LearnerSessionTracker>,
    /// zookeeper.observer.syncEnabled: an observer logs what it is told.
    observer_sync_enabled: bool,
    commit_processor: OnceLock<Arc<CommitProcessor>>,
    sync_processor: OnceLock<Arc<SyncRequestProcessor>>,
    first_processor: OnceLock<Arc<FollowerRequestProcessor>>,
    /// pendingSyncs: (session, cxid, who else waits) of syncs forwarded to
    /// the leader.
    pending_syncs: Mutex<VecDeque<(i64, i32, RequestOwner)>>,
    /// A follower's ObserverMaster (observerMasterPort).
    observer_master: Option<Arc<ObserverMaster>>,
}

/// The end of an observer's logging chain: the txn is already on its way
/// to the commit side, logging was all there was to do.
struct LoggedOnly;

impl RequestProcessor for LoggedOnly {
    fn process_request(&self, _req: Request) {}
    fn shutdown(&self) {}
}

impl LearnerZooKeeperServer {
    pub fn new(
        peer: &Arc<QuorumPeer>,
        learner: Arc<Learner>,
        tracker: Arc<LearnerSessionTracker>,
        observer_sync_enabled: bool,
    ) -> Arc<Self> {
        let port = u16::try_from(peer.config().observer_master_port).unwrap_or(0);
        let serves_observers = learner.learner_type() == LearnerType::Participant && port > 0;
        Arc::new_cyclic(|me| LearnerZooKeeperServer {
            me: me.clone(),
            peer: Arc::downgrade(peer),
            observer_master: serves_observers
                .then(|| ObserverMaster::new(peer, Arc::clone(&learner), Arc::clone(&tracker), me.clone(), port)),
            learner,
            tracker,
            observer_sync_enabled,
            commit_processor: OnceLock::new(),
            sync_processor: OnceLock::new(),
            first_processor: OnceLock::new(),
            pending_syncs: Mutex::new(VecDeque::new()),
        })
    }

    /// processObserverRequest: an observer's request, from this follower's
    /// ObserverMaster.
    pub fn process_observer_request(&self, req: Request) {
        match self.first_processor.get() {
            Some(p) => p.process_learner_request(req),
            None => tracing::warn!("dropping an observer's request: the server is not started"),
        }
    }

    fn is_observer(&self) -> bool {
        self.learner.learner_type() == LearnerType::Observer
    }

    /// logRequest: a PROPOSAL to log (and ACK once durable).
    pub fn log_request(&self, entry: TxnLogEntry) {
        match self.sync_processor.get() {
            Some(s) => s.process_request(txn_request(entry)),
            None => tracing::warn!("dropping proposal 0x{:x}: the server is not started", entry.hdr.zxid),
        }
    }

    /// commit: the leader committed this proposal, the oldest pending one
    /// (the Learner's core keeps pendingTxns and checks the order).
    pub fn commit(&self, entry: TxnLogEntry) {
        if let Some(c) = self.commit_processor.get() {
            c.commit(txn_request(entry));
        }
    }

    /// commitRequest (observer): an INFORM's txn, logged if enabled, applied.
    pub fn commit_request(&self, entry: TxnLogEntry) {
        if let Some(s) = self.sync_processor.get() {
            s.process_request(txn_request(entry.clone()));
        }
        if let Some(c) = self.commit_processor.get() {
            c.commit(txn_request(entry));
        }
    }

    /// A sync this server forwarded, to be released by the leader's SYNC.
    pub fn add_pending_sync(&self, session_id: i64, cxid: i32, owner: RequestOwner) {
        self.pending_syncs.lock().push_back((session_id, cxid, owner));
    }

    /// sync: the leader's SYNC for the oldest pending sync (an observer's
    /// is answered on its connection too).
    pub fn sync(&self) {
        let Some((sid, cxid, owner)) = self.pending_syncs.lock().pop_front() else {
            tracing::warn!("Not expecting a sync.");
            return;
        };
        if let (RequestOwner::LearnerSync(handler), Some(om)) = (owner, &self.observer_master) {
            om.sync_answered(handler);
        }
        if let Some(c) = self.commit_processor.get() {
            c.commit(Request::new(None, sid, cxid, op_code::SYNC, Vec::new(), Vec::new()));
        }
    }
}

impl ServerRole for LearnerZooKeeperServer {
    fn setup_request_processors(&self, zks: &Arc<ZooKeeperServer>) -> io::Result<Arc<dyn RequestProcessor>> {
        let final_processor: Arc<dyn RequestProcessor> = Arc::new(FinalRequestProcessor::new(Arc::clone(zks)));
        let commit = CommitProcessor::start(Arc::clone(zks), final_processor, true)?;
        let _ = self.commit_processor.set(Arc::clone(&commit));
        let skip = self.peer.upgrade().is_some_and(|p| p.settings().learner.skip_learner_request_to_next_processor);
        let first = FollowerRequestProcessor::start(
            Arc::downgrade(zks),
            zks.settings.server_id,
            self.me.clone(),
            Arc::clone(&self.learner),
            commit as Arc<dyn RequestProcessor>,
            skip,
        )?;
        let _ = self.first_processor.set(Arc::clone(&first));
        let log_next: Option<Arc<dyn RequestProcessor>> = if !self.is_observer() {
            Some(Arc::new(SendAckRequestProcessor::new(Arc::clone(&self.learner))))
        } else if self.observer_sync_enabled {
            Some(Arc::new(LoggedOnly))
        } else {
            None
        };
        if let Some(next) = log_next {
            let _ = self.sync_processor.set(SyncRequestProcessor::start(Arc::clone(zks), next)?);
        }
        Ok(first)
    }

    fn revalidate_session(&self, zks: &Arc<ZooKeeperServer>, cnxn: &Arc<dyn ServerCnxn>, session_id: i64, timeout: i32) {
        if self.tracker.is_local_session(session_id) {
            let valid = self.tracker.touch_session(session_id, timeout);
            zks.finish_session_init(cnxn, valid);
        } else {
            self.learner.validate_session(cnxn, session_id, timeout);
        }
    }

    fn set_local_session_flag(&self, req: &mut Request) {
        set_local_session_flag(self.tracker.as_ref(), req);
    }

    fn monitor_values(&self) -> Vec<(&'static str, Value)> {
        let Some(peer) = self.peer.upgrade() else { return Vec::new() };
        let mut v = vec![("peer_state", Value::Text(peer.detailed_peer_state()))];
        if self.is_observer() {
            // The learner master: the leader, or a voter's ObserverMaster.
            v.push(("observer_master_id", Value::Long(peer.learner_master_id())));
        }
        v
    }

    fn gauges(&self) -> Vec<(&'static str, Value)> {
        let quorum_size = self.peer.upgrade().map_or(0, |p| p.quorum_verifier().voting_ids().len());
        let mut g = vec![("quorum_size", Value::from(quorum_size))];
        if !self.is_observer() {
            // A follower without an ObserverMaster has no figure here
            // (Java's null: not in mntr, 0 in Prometheus).
            let synced = self.observer_master.as_ref().map_or(Value::Null, |om| Value::from(om.synced_observers()));
            g.push(("synced_observers", synced));
        }
        g
    }

    fn quorum_peer(&self) -> Option<Arc<QuorumPeer>> {
        self.peer.upgrade()
    }

    fn observer_master(&self) -> Option<Arc<ObserverMaster>> {
        self.observer_master.clone()
    }

    fn state(&self) -> &'static str {
        if self.is_observer() {
            "observer"
        } else {
            "follower"
        }
    }

    fn shutdown(&self) {
        if let Some(s) = self.sync_processor.get() {
            s.shutdown();
        }
    }
}
