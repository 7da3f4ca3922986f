//! LeaderZooKeeperServer: the leader's server role. Built on the QuorumPeer
//! thread when the peer starts leading; its chain is
//! RequestThrottler -> LeaderRequestProcessor -> PrepRequestProcessor
//! ("ProcessThread") -> ProposalRequestProcessor (-> SyncRequestProcessor
//! ("SyncThread") -> AckRequestProcessor) -> CommitProcessor
//! ("CommitProcessor:N" and its workers) -> ToBeAppliedRequestProcessor ->
//! FinalRequestProcessor. Learners' forwarded requests enter at the
//! ProcessThread. The ContainerManager runs while it serves. With
//! localSessionsEnabled the leader's own new sessions are local
//! (`LeaderSessionTracker`). srvr/stat/mntr
//! report "leader" and the leader's quorum figures.

use crate::quorum::ack_request_processor::AckRequestProcessor;
use crate::quorum::commit_processor::CommitProcessor;
use crate::quorum::leader::Leader;
use crate::quorum::leader_request_processor::LeaderRequestProcessor;
use crate::quorum::leader_session_tracker::LeaderSessionTracker;
use crate::quorum::proposal_request_processor::ProposalRequestProcessor;
use crate::quorum::quorum_peer::QuorumPeer;
use crate::quorum::quorum_zoo_keeper_server::set_local_session_flag;
use crate::server::metrics::monitor::Value;
use crate::quorum::to_be_applied_request_processor::ToBeAppliedRequestProcessor;
use crate::server::container_manager::ContainerManager;
use crate::server::final_request_processor::FinalRequestProcessor;
use crate::server::server_cnxn::ServerCnxn;
use crate::server::prep_request_processor::PrepRequestProcessor;
use crate::server::request::Request;
use crate::server::request_processor::RequestProcessor;
use crate::server::session_tracker::SessionOwner;
use crate::server::sync_request_processor::SyncRequestProcessor;
use crate::server::zoo_keeper_server::{ServerRole, ZooKeeperServer};
use parking_lot::Mutex;
use std::io;
use std::sync::{Arc, OnceLock, Weak};

/// The role object the leader's ZooKeeperServer is built with.
pub struct LeaderZooKeeperServer {
    peer: Weak<QuorumPeer>,
    leader: OnceLock<Weak<Leader>>,
    tracker: Arc<LeaderSessionTracker>,
    server: OnceLock<Weak<ZooKeeperServer>>,
    commit_processor: OnceLock<Arc<CommitProcessor>>,
    prep: OnceLock<Arc<dyn RequestProcessor>>,
    container_manager: Mutex<Option<ContainerManager>>,
}

impl LeaderZooKeeperServer {
    /// The role and its (not yet started) server over the peer's database.
    pub fn new(peer: &Arc<QuorumPeer>) -> (Arc<LeaderZooKeeperServer>, Arc<ZooKeeperServer>) {
        let mut settings = peer.settings().zks.clone();
        settings.server_id = peer.id();
        let db = Arc::clone(peer.zk_db());
        let tracker = LeaderSessionTracker::new(
            settings.tick_time,
            peer.id(),
            db.sessions_with_timeouts(),
            peer.config().local_sessions_enabled,
        );
        let role = Arc::new(LeaderZooKeeperServer {
            peer: Arc::downgrade(peer),
            leader: OnceLock::new(),
            tracker: Arc::clone(&tracker),
            server: OnceLock::new(),
            commit_processor: OnceLock::new(),
            prep: OnceLock::new(),
            container_manager: Mutex::new(None),
        });
        let zks = ZooKeeperServer::with_role(settings, db, tracker, Arc::clone(&role) as Arc<dyn ServerRole>);
        let _ = role.server.set(Arc::downgrade(&zks));
        (role, zks)
    }

    /// The leader whose chain this is (set before startup).
    pub fn set_leader(&self, leader: &Arc<Leader>) {
        let _ = self.leader.set(Arc::downgrade(leader));
    }

    pub fn session_tracker(&self) -> &Arc<LeaderSessionTracker> {
        &self.tracker
    }

    /// loadData: the database is loaded; drop the ephemerals of sessions
    /// that did not survive and take a clean snapshot for the new epoch.
    pub fn load_data(&self, zks: &ZooKeeperServer) -> io::Result<()> {
        let db = zks.zk_db();
        zks.set_zxid(db.last_processed_zxid());
        db.kill_dead_sessions(&db.sessions_with_timeouts());
        db.take_snapshot(false)
    }

    /// A committed proposal goes to the CommitProcessor.
    pub fn commit(&self, req: Request) {
        match self.commit_processor.get() {
            Some(c) => c.commit(req),
            None => tracing::warn!("dropping the commit of {:?}: the chain is not set up", req),
        }
    }

    /// submitLearnerRequest: a learner's request enters at the ProcessThread.
    pub fn submit_learner_request(&self, req: Request) {
        match self.prep.get() {
            Some(p) => p.process_request(req),
            None => tracing::warn!("dropping {:?} from a learner: the chain is not set up", req),
        }
    }

    fn leader(&self) -> Option<Arc<Leader>> {
        self.leader.get().and_then(Weak::upgrade)
    }
}

impl ServerRole for LeaderZooKeeperServer {
    fn setup_request_processors(&self, zks: &Arc<ZooKeeperServer>) -> io::Result<Arc<dyn RequestProcessor>> {
        let leader = self.leader.get().cloned().unwrap_or_default();
        let forward_learner_requests =
            self.peer.upgrade().is_none_or(|p| p.settings().leader.forward_learner_requests_to_commit_processor);
        let final_processor = FinalRequestProcessor::new(Arc::clone(zks));
        let to_be_applied: Arc<dyn RequestProcessor> =
            Arc::new(ToBeAppliedRequestProcessor::new(final_processor, leader.clone()));
        let commit = CommitProcessor::start(Arc::clone(zks), to_be_applied, false)?;
        let _ = self.commit_processor.set(Arc::clone(&commit));
        let ack: Arc<dyn RequestProcessor> = Arc::new(AckRequestProcessor::new(leader.clone(), zks.settings.server_id));
        let sync: Arc<dyn RequestProcessor> = SyncRequestProcessor::start(Arc::clone(zks), ack)?;
        let proposal: Arc<dyn RequestProcessor> =
            Arc::new(ProposalRequestProcessor::new(leader, commit as Arc<dyn RequestProcessor>, sync, forward_learner_requests));
        let prep: Arc<dyn RequestProcessor> = PrepRequestProcessor::start(Arc::clone(zks), proposal)?;
        let _ = self.prep.set(Arc::clone(&prep));
        if let Some(peer) = self.peer.upgrade() {
            let settings = peer.settings().container;
            *self.container_manager.lock() = Some(ContainerManager::start(Arc::clone(zks.zk_db()), Arc::clone(&prep), settings)?);
        }
        Ok(Arc::new(LeaderRequestProcessor::new(Arc::downgrade(zks), prep)))
    }

    /// A client reconnecting to the leader itself: as standalone, and a
    /// live session now belongs to the leader's own connections (a learner
    /// may have owned it before).
    fn revalidate_session(&self, zks: &Arc<ZooKeeperServer>, cnxn: &Arc<dyn ServerCnxn>, session_id: i64, timeout: i32) {
        let valid = zks.session_tracker().touch_session(session_id, timeout);
        if valid {
            // Only fails if the session expired in between: then the
            // client's next request finds it closing anyway.
            let _ = zks.session_tracker().set_owner(session_id, SessionOwner::Local);
        }
        zks.finish_session_init(cnxn, valid);
    }

    fn set_local_session_flag(&self, req: &mut Request) {
        set_local_session_flag(self.tracker.as_ref(), req);
    }

    fn state(&self) -> &'static str {
        "leader"
    }

    fn monitor_values(&self) -> Vec<(&'static str, Value)> {
        let Some(peer) = self.peer.upgrade() else { return Vec::new() };
        vec![("peer_state", Value::Text(peer.detailed_peer_state()))]
    }

    fn gauges(&self) -> Vec<(&'static str, Value)> {
        let quorum_size = self.peer.upgrade().map_or(0, |p| p.quorum_verifier().voting_ids().len());
        let mut g = vec![("quorum_size", Value::from(quorum_size))];
        let Some(l) = self.leader() else { return g };
        let stats = l.proposal_stats();
        g.extend([
            ("learners", Value::from(l.learners().len())),
            ("synced_followers", Value::from(l.forwarding_followers())),
            ("synced_non_voting_followers", Value::from(l.non_voting_followers())),
            ("synced_observers", Value::from(l.observing_learners())),
            ("pending_syncs", Value::from(l.num_pending_syncs())),
            ("leader_uptime", Value::Long(l.uptime_ms() as i64)),
            ("last_proposal_size", Value::Long(stats.last as i64)),
            ("max_proposal_size", Value::Long(stats.max as i64)),
            ("min_proposal_size", Value::Long(stats.min as i64)),
        ]);
        g
    }

    fn quorum_peer(&self) -> Option<Arc<QuorumPeer>> {
        self.peer.upgrade()
    }

    fn leader(&self) -> Option<Arc<Leader>> {
        self.leader.get().and_then(Weak::upgrade)
    }

    fn stat_extra(&self) -> String {
        match self.leader() {
            Some(l) => {
                let s = l.proposal_stats();
                format!("Proposal sizes last/min/max: {}/{}/{}\n", s.last, s.min, s.max)
            }
            None => String::new(),
        }
    }

    fn shutdown(&self) {
        if let Some(cm) = self.container_manager.lock().take() {
            cm.stop();
        }
    }
}
