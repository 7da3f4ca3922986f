//! Leader: the ZAB leader role. `lead` runs on the QuorumPeer thread: it
//! starts the LearnerCnxAcceptor thread ("LearnerCnxAcceptor-<addr>", one
//! LearnerHandler per accepted learner; at most MAX_LEARNER_HANDSHAKES of
//! them may be waiting for their first packet, the oldest is closed to make
//! room), negotiates the new epoch with a
//! quorum (FOLLOWERINFO -> LEADERINFO -> ACKEPOCH, recording acceptedEpoch
//! and currentEpoch), waits for a quorum to ack NEWLEADER, starts the
//! LeaderZooKeeperServer, then pings every learner each half tick until a
//! quorum stops answering within syncLimit or the peer shuts down.
//!
//! The leader's decisions (discovery and broadcast) live in
//! `core::LeaderCore` (sans-I/O), kept with the learner handlers by id
//! behind one mutex (the broadcast lock). Each caller carries out the
//! core's outputs under that lock: the ProcessThread (propose, learner
//! syncs), the SyncThread's AckRequestProcessor and the LearnerHandler
//! threads (accepted epochs, ACKEPOCHs, NEWLEADER acks, sync set-up,
//! packets heard, acks), the CommitProcessor's thread
//! (ToBeAppliedRequestProcessor) and the QuorumPeer thread (its own epoch
//! and acks, the ping loop).

use crate::common::time::current_elapsed_time;
use crate::quorum::leader_zoo_keeper_server::LeaderZooKeeperServer;
use crate::jute::records::QuorumPacket;
use crate::quorum::learner_master::{accept_learners, revalidate_answer, sync_from_database, LearnerMaster, PendingHandshakes};
use crate::quorum::learner_handler::{LearnerHandler, SyncPlan};
use crate::jute::txn::TxnBody;
use crate::quorum::quorum_verifier::QuorumVerifier;
use crate::quorum::quorum_packet::make_zxid;
use crate::quorum::quorum_peer::{QuorumPeer, ZabState};
use crate::quorum::quorum_peer_config::system_properties::SystemProperties;
use crate::quorum::quorum_peer_config::ConfigError;
use crate::server::request::Request;
use crate::server::session_tracker::SessionTracker;
use crate::server::zoo_keeper_server::ZooKeeperServer;
use parking_lot::{Condvar, Mutex, MutexGuard};
use std::collections::BTreeMap;
use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};
use tracing::{error, info, warn};

pub mod core;
pub use self::core::ProposalStats;

/// The system properties Java's Leader reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderSettings {
    /// zookeeper.leaderServes: the leader takes clients unless `no`.
    pub leader_serves: bool,
    /// zookeeper.leader.maxConcurrentSnapSyncs (default 10).
    pub max_concurrent_snap_syncs: i32,
    /// zookeeper.leader.maxConcurrentDiffSyncs (default 100).
    pub max_concurrent_diff_syncs: i32,
    /// zookeeper.leader.closeSocketAsync: a learner's socket is closed on a
    /// thread of its own.
    pub close_socket_async: bool,
    /// leader.nodelay: TCP_NODELAY on learner sockets unless it is
    /// anything but `true`.
    pub nodelay: bool,
    /// zookeeper.forceSnapshotSync: every learner is synced by SNAP (a
    /// testing aid in Java).
    pub force_snapshot_sync: bool,
    /// Not zookeeper.forward_learner_requests_to_commit_processor_disabled:
    /// learners' requests go to the leader's CommitProcessor as well.
    pub forward_learner_requests_to_commit_processor: bool,
    /// zookeeper.testingonly.initialZxid: a QA aid that puts the new
    /// epoch's zxid counter at this value (ORed into the zxid), so that a
    /// counter rollover comes after a few writes instead of four billion.
    pub testing_initial_zxid: Option<i64>,
    /// zookeeper.leader.ackLoggingFrequency (default 1000): every zxid
    /// whose counter is a multiple of it has each voter's ACK latency
    /// recorded in ack_latency; 0 or less records none.
    pub ack_logging_frequency: i32,
    /// zookeeper.leader.maxTimeToWaitForEpoch (ms, default -1: off): a
    /// leader still waiting for its epoch this long after it began gives
    /// up as soon as a voter that elected it is heard LOOKING again.
    pub max_time_to_wait_for_epoch_ms: i32,
}

impl LeaderSettings {
    pub fn read(props: &SystemProperties) -> Result<LeaderSettings, ConfigError> {
        Ok(LeaderSettings {
            leader_serves: props.equals("zookeeper.leaderServes", "no") != Some(true),
            max_concurrent_snap_syncs: props.int("zookeeper.leader.maxConcurrentSnapSyncs", 10)?,
            max_concurrent_diff_syncs: props.int("zookeeper.leader.maxConcurrentDiffSyncs", 100)?,
            close_socket_async: props.boolean("zookeeper.leader.closeSocketAsync", false),
            nodelay: props.equals("leader.nodelay", "true") != Some(false),
            force_snapshot_sync: props.boolean("zookeeper.forceSnapshotSync", false),
            forward_learner_requests_to_commit_processor: !props
                .boolean("zookeeper.forward_learner_requests_to_commit_processor_disabled", false),
            testing_initial_zxid: match props.lookup("zookeeper.testingonly.initialZxid") {
                Some(_) => Some(props.decimal_long("zookeeper.testingonly.initialZxid", 0)?),
                None => None,
            },
            ack_logging_frequency: props.int("zookeeper.leader.ackLoggingFrequency", 1000)?,
            max_time_to_wait_for_epoch_ms: props.int("zookeeper.leader.maxTimeToWaitForEpoch", -1)?,
        })
    }
}
use self::core::{LeaderCore, LearnerId, Limits, NewEpoch, NewLeaderAck, Output, Tick};

/// The broadcast lock's contents: the core, and the handlers its outputs
/// name.
struct Broadcast {
    core: LeaderCore,
    handlers: BTreeMap<LearnerId, Arc<LearnerHandler>>,
}

impl Broadcast {
    /// Carries out the core's outputs, in order (under the lock).
    fn carry_out(&self, role: &LeaderZooKeeperServer, outputs: Vec<Output>) {
        for o in outputs {
            match o {
                Output::Send(id, p) => {
                    if let Some(h) = self.handlers.get(&id) {
                        h.queue_packet(p);
                    }
                }
                Output::Activate { verifier, designated } => {
                    if let Some(peer) = crate::server::zoo_keeper_server::ServerRole::quorum_peer(role) {
                        let zxid = peer.zk_db().last_processed_zxid();
                        peer.process_reconfig(verifier, Some(designated), Some(zxid));
                    }
                }
                Output::Commit(r) => {
                    let m = crate::server::server_metrics::metrics();
                    m.commit_count.inc();
                    m.quorum_ack_latency.add(r.create_time.elapsed().as_millis() as i64);
                    role.commit(r)
                }
            }
        }
    }
}

pub struct Leader {
    peer: Arc<QuorumPeer>,
    role: Arc<LeaderZooKeeperServer>,
    zks: Arc<ZooKeeperServer>,
    bcast: Mutex<Broadcast>,
    /// Signalled (with the broadcast lock) when the new epoch is decided,
    /// acknowledged or NEWLEADER acked by a quorum, or the leader stops.
    discovery_cv: Condvar,
    running: AtomicBool,
    /// Set once `shutdown` has stopped the server and the learners.
    torn_down: AtomicBool,
    /// Set (and signalled) once the server serves, or the leader stops.
    started: (Mutex<bool>, Condvar),
    /// Wakes the ping loop early on shutdown.
    ping_wait: (Mutex<()>, Condvar),
    follower_counter: AtomicI64,
    /// The membership (with the new epoch's version) NEWLEADER carries.
    qv_bytes: OnceLock<Vec<u8>>,
    listeners: Mutex<Vec<TcpListener>>,
    /// Learner sockets whose first packet has not arrived yet.
    handshakes: PendingHandshakes,
    started_at: Instant,
}

fn interrupted(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, msg.to_string())
}

impl Leader {
    fn new(peer: &Arc<QuorumPeer>, role: Arc<LeaderZooKeeperServer>, zks: Arc<ZooKeeperServer>) -> Arc<Leader> {
        Arc::new(Leader {
            peer: Arc::clone(peer),
            role,
            zks,
            bcast: Mutex::new(Broadcast { core: leader_core(peer), handlers: BTreeMap::new() }),
            discovery_cv: Condvar::new(),
            running: AtomicBool::new(true),
            torn_down: AtomicBool::new(false),
            started: (Mutex::new(false), Condvar::new()),
            ping_wait: (Mutex::new(()), Condvar::new()),
            follower_counter: AtomicI64::new(-1),
            qv_bytes: OnceLock::new(),
            listeners: Mutex::new(Vec::new()),
            handshakes: PendingHandshakes::default(),
            started_at: Instant::now(),
        })
    }

    /// Every connected learner handler (getLearners).
    pub fn learners(&self) -> Vec<Arc<LearnerHandler>> {
        self.bcast.lock().handlers.values().cloned().collect()
    }

    /// Synced followers (voting and not).
    pub fn forwarding_followers(&self) -> usize {
        self.bcast.lock().core.forwarding()
    }

    /// Synced followers that do not vote.
    pub fn non_voting_followers(&self) -> usize {
        self.bcast.lock().core.non_voting_followers()
    }

    pub fn observing_learners(&self) -> usize {
        self.bcast.lock().core.observing()
    }

    /// Learner syncs waiting for a commit.
    pub fn num_pending_syncs(&self) -> usize {
        self.bcast.lock().core.num_pending_syncs()
    }

    pub fn proposal_stats(&self) -> ProposalStats {
        self.bcast.lock().core.proposal_stats()
    }

    pub fn uptime_ms(&self) -> u128 {
        self.started_at.elapsed().as_millis()
    }

    // ---- discovery (epoch negotiation) ----

    /// setLeadingVoteSet: the voters whose votes elected this leader (the
    /// WorkerReceiver hands them over the first time a voter looks).
    pub fn set_leading_vote_set(&self, sids: std::collections::HashSet<i64>) {
        self.bcast.lock().core.set_leading_vote_set(sids);
    }

    /// reportLookingSid: the WorkerReceiver heard voter `sid` LOOKING. With
    /// zookeeper.leader.maxTimeToWaitForEpoch set, a leader that has waited
    /// longer than that for its epoch and was elected by `sid` gives up
    /// (quitLeading): the epoch wait fails and the peer looks again.
    pub fn report_looking_sid(&self, sid: i64) {
        let max_wait = self.peer.settings().leader.max_time_to_wait_for_epoch_ms;
        let mut b = self.bcast.lock();
        if b.core.report_looking_sid(sid, current_elapsed_time(), max_wait) {
            self.discovery_cv.notify_all();
            drop(b);
            crate::server::server_metrics::metrics().quit_leading_due_to_disloyal_voter.inc();
            info!("Quit leading due to voter changed mind.");
        }
    }

    /// Waits up to initLimit ticks for `reached` to hold, waking at least
    /// once a tick to notice the peer shutting down (which does not signal
    /// us); `timeout` is the error when it does not.
    fn wait_discovery<T>(
        &self,
        b: &mut MutexGuard<'_, Broadcast>,
        reached: impl Fn(&LeaderCore) -> Option<T>,
        timeout: &str,
    ) -> io::Result<T> {
        let deadline = Instant::now() + self.init_timeout();
        let tick = Duration::from_millis(self.peer.config().tick_time.max(1) as u64);
        loop {
            if let Some(t) = reached(&b.core) {
                return Ok(t);
            }
            if !self.is_running() || Instant::now() >= deadline || b.core.quit_waiting_for_epoch() {
                return Err(interrupted(timeout));
            }
            let _ = self.discovery_cv.wait_until(b, deadline.min(Instant::now() + tick));
        }
    }

    fn set_started(&self) {
        let (lock, cv) = &self.started;
        *lock.lock() = true;
        cv.notify_all();
    }

    // ---- broadcast ----

    /// propose: a txn from the ProcessThread goes to every follower.
    pub fn propose(&self, req: &Request) -> io::Result<()> {
        let Some(entry) = req.log_entry() else {
            return Ok(());
        };
        let mut b = self.bcast.lock();
        if req.op_type == crate::zoo_defs::op_code::RECONFIG {
            if let Some(TxnBody::SetData(t)) = &entry.txn {
                match self.peer.config_from_string(t.data.as_deref().unwrap_or(&[])) {
                    Ok(qv) => self.peer.set_last_seen_quorum_verifier(qv, true),
                    Err(e) => warn!("The reconfig at 0x{:x} carries a bad configuration: {e}", entry.hdr.zxid),
                }
            }
        }
        // While a reconfig is in flight, proposals need quorums of both
        // the configuration in force and the proposed one.
        b.core.set_verifiers(self.verifiers());
        match b.core.propose(entry.hdr.zxid, entry.to_bytes(), txn_copy(req)) {
            Ok(out) => {
                crate::server::server_metrics::metrics().proposal_count.inc();
                b.carry_out(&self.role, out);
                Ok(())
            }
            Err(msg) => {
                drop(b);
                self.stop(msg);
                Err(io::Error::other(msg))
            }
        }
    }

    /// The configuration in force, then the last seen one when newer.
    fn verifiers(&self) -> Vec<Arc<QuorumVerifier>> {
        let (current, last_seen) = (self.peer.quorum_verifier(), self.peer.last_seen_quorum_verifier());
        if last_seen.version() > current.version() {
            vec![current, last_seen]
        } else {
            vec![current]
        }
    }

    /// isQuorumSynced: whether the synced voters of `qv` (with the leader)
    /// are a quorum of it (a reconfig to `qv` needs one).
    pub fn is_quorum_synced(&self, qv: &QuorumVerifier) -> bool {
        self.bcast.lock().core.is_quorum_synced(qv)
    }

    /// processSync: the sync of the learner whose handler has serial number
    /// `handler` is answered once everything proposed before it is committed.
    pub fn process_sync(&self, handler: LearnerId) {
        let mut b = self.bcast.lock();
        let out = b.core.sync(handler);
        b.carry_out(&self.role, out);
    }

    /// ToBeAppliedRequestProcessor's part: the txn at `zxid` is applied.
    pub fn applied(&self, zxid: i64) {
        self.bcast.lock().core.applied(zxid);
    }

    // ---- life cycle ----

    /// Binds the quorum port(s), as Java's Leader constructor does: before
    /// loadData, so learners that decided with this peer can connect (into
    /// the backlog) at once instead of being refused and retrying.
    fn bind(&self) -> io::Result<()> {
        let me = self.peer.config().my_quorum_server().cloned().ok_or_else(|| io::Error::other("not in the server list"))?;
        let mut listeners = Vec::new();
        for hp in &me.addrs {
            let addr = if self.peer.config().quorum_listen_on_all_ips {
                SocketAddr::from(([0, 0, 0, 0], hp.port))
            } else {
                (hp.host.as_str(), hp.port)
                    .to_socket_addrs()?
                    .next()
                    .ok_or_else(|| io::Error::other(format!("cannot resolve {}", hp.host)))?
            };
            let l = bind_reusable(addr).map_err(|e| {
                error!("Couldn't bind to {addr}: {e}");
                e
            })?;
            listeners.push(l);
        }
        *self.listeners.lock() = listeners;
        Ok(())
    }

    /// Starts the LearnerCnxAcceptor thread(s) on the bound port(s).
    fn start_acceptor(self: &Arc<Self>) -> io::Result<()> {
        let listeners = self.listeners.lock();
        let names: Vec<String> = listeners.iter().filter_map(|l| l.local_addr().ok()).map(crate::common::net_utils::java_socket_address).collect();
        let name = format!("LearnerCnxAcceptor-{}", names.join("|"));
        for l in listeners.iter() {
            let l = l.try_clone()?;
            let leader = Arc::clone(self);
            let local = l.local_addr()?;
            crate::server::zoo_keeper_critical_thread::spawn(name.clone(), move || {
                let master: Arc<dyn LearnerMaster> = Arc::clone(&leader) as Arc<dyn LearnerMaster>;
                accept_learners(&master, &l, &leader.handshakes);
                info!("LearnerCnxAcceptorHandler-/{local} stopped");
            })?;
        }
        Ok(())
    }

    /// Stops leading from any thread: no more learners, every wait wakes,
    /// and the lead thread tears the rest down (`shutdown`).
    fn stop(&self, reason: &str) {
        if !self.running.swap(false, Ordering::AcqRel) {
            return;
        }
        info!("Shutting down");
        info!("Shutdown called. For the reason {reason}");
        // Closed now (the acceptor's own handle goes when it wakes) so the
        // next role can bind the port again.
        for l in std::mem::take(&mut *self.listeners.lock()) {
            // SAFETY: shutdown(2) on our own listening socket wakes accept().
            unsafe { libc::shutdown(l.as_raw_fd(), libc::SHUT_RDWR) };
        }
        self.discovery_cv.notify_all();
        self.set_started();
        self.ping_wait.1.notify_all();
    }

    /// Leader.shutdown, on the QuorumPeer thread (it stops the processor
    /// threads and waits for them): the client port stops serving, the
    /// server goes down keeping the database, every learner is dropped.
    fn shutdown(&self, reason: &str) {
        self.stop(reason);
        if self.torn_down.swap(true, Ordering::AcqRel) {
            return;
        }
        // Not serving until the next role installs its server.
        self.peer.set_zoo_keeper_server(self.peer.zk_server());
        self.zks.shutdown_with(false);
        for h in self.learners() {
            h.shutdown();
        }
    }
}

/// A copy of a request's txn for the commit side (the CommitProcessor
/// matches it with the queued request by session and cxid).
pub fn txn_copy(req: &Request) -> Request {
    let mut r = Request::new(None, req.session_id, req.cxid, req.op_type, Vec::new(), Vec::new());
    r.hdr = req.hdr.clone();
    r.txn = req.txn.clone();
    r.txn_digest = req.txn_digest.clone();
    r.zxid = req.zxid;
    r.err = req.err;
    // The proposal's latencies count from the request's arrival, as Java's
    // Proposal holds the request itself.
    r.create_time = req.create_time;
    r
}

/// The core for this peer's membership and limits.
fn leader_core(peer: &QuorumPeer) -> LeaderCore {
    let c = peer.config();
    let limits = Limits { tick_time: c.tick_time, init_limit: c.init_limit, sync_limit: c.sync_limit };
    LeaderCore::new(peer.id(), vec![peer.quorum_verifier()], limits)
}

fn bind_reusable(addr: SocketAddr) -> io::Result<TcpListener> {
    crate::common::net_utils::bind_listener(addr, 50, true)
}

/// Leader.lead: runs the LEADING role on the QuorumPeer thread until the
/// quorum is lost or the peer shuts down.
pub fn lead(peer: &Arc<QuorumPeer>) -> io::Result<()> {
    info!("zookeeper.leader.maxTimeToWaitForEpoch = {}ms", peer.settings().leader.max_time_to_wait_for_epoch_ms);
    let (role, zks) = LeaderZooKeeperServer::new(peer);
    let leader = Leader::new(peer, Arc::clone(&role), zks);
    role.set_leader(&leader);
    peer.set_leader(Arc::downgrade(&leader));
    let result = run_leader(peer, &leader);
    peer.set_leader(Weak::new());
    leader.shutdown(match &result {
        Ok(reason) => reason,
        Err(e) => {
            warn!("{e}");
            "leader stopped"
        }
    });
    result.map(|_| ())
}

fn run_leader(peer: &Arc<QuorumPeer>, leader: &Arc<Leader>) -> io::Result<&'static str> {
    let zks = &leader.zks;
    peer.set_zab_state(ZabState::Discovery);
    leader.bind()?;
    leader.role.load_data(zks)?;
    let last_zxid = peer.zk_db().last_processed_zxid();
    leader.bcast.lock().core.set_leader_summary(peer.current_epoch(), last_zxid);
    leader.start_acceptor()?;

    let epoch = leader.get_epoch_to_propose(peer.id(), peer.accepted_epoch())?;
    let new_leader_zxid = make_zxid(epoch, 0);
    zks.set_zxid(new_leader_zxid);
    // With reconfigEnabled, a configuration that never had a version
    // gets the new epoch's first zxid (it comes into force once NEWLEADER
    // has its quorum). NEWLEADER carries the last seen configuration and
    // needs quorums of it and of the one in force.
    let (current, last_seen) = (peer.quorum_verifier(), peer.last_seen_quorum_verifier());
    if current.version() == 0 && last_seen.version() == 0 {
        let mut spec = current.spec().clone();
        spec.version = new_leader_zxid;
        peer.set_last_seen_quorum_verifier(Arc::new(QuorumVerifier::with_oracle(spec, peer.config().oracle_path.as_deref())), true);
    }
    {
        let mut b = leader.bcast.lock();
        b.core.set_verifiers(leader.verifiers());
        b.core.start_epoch(new_leader_zxid);
    }
    let _ = leader.qv_bytes.set(peer.last_seen_quorum_verifier().config_string().into_bytes());

    leader.wait_for_epoch_ack(peer.id(), peer.current_epoch(), last_zxid)?;
    peer.set_current_epoch(epoch)?;
    peer.set_zab_state(ZabState::Synchronization);
    if let Err(e) = leader.wait_for_new_leader_ack(peer.id(), new_leader_zxid) {
        let synced = leader.bcast.lock().core.new_leader_acks();
        warn!("{e}");
        leader.shutdown(&format!("Waiting for a quorum of followers, only synced with sids: [ {synced} ]"));
        return Ok("Waiting for a quorum of followers");
    }

    if peer.is_reconfig_enabled() {
        // The configuration NEWLEADER carried comes into force; a leader
        // it does not designate commits nothing and will lose its quorum.
        let mut b = leader.bcast.lock();
        let designated = b.core.new_leader_designated_leader();
        peer.process_reconfig(peer.last_seen_quorum_verifier(), Some(designated), Some(new_leader_zxid));
        b.core.set_verifiers(vec![peer.quorum_verifier()]);
        if designated != peer.id() {
            warn!("This leader is not the designated leader, it will be initialized with allowedToCommit = false");
            b.core.forbid_commits();
        }
    } else {
        info!("Dynamic reconfig feature is disabled, skip designatedLeader calculation and reconfig processing.");
    }
    zks.startup()?;
    // Servers joining later must hear the same vote (leader and new epoch)
    // from every member, so the leader's own vote takes the new epoch.
    let mut vote = peer.current_vote();
    vote.peer_epoch = epoch;
    peer.set_current_vote(vote);
    peer.zk_db().data_tree().set_last_processed_zxid(zks.get_zxid());
    if let Some(zxid) = leader.settings().testing_initial_zxid {
        warn!("zookeeper.testingonly.initialZxid={zxid}: QA testing only");
        zks.set_zxid((zks.get_zxid() & !0xffff_ffff) | zxid);
    }
    leader.set_started();
    peer.set_zab_state(ZabState::Broadcast);
    peer.set_zoo_keeper_server(zks);
    peer.serving_started();

    // The ping loop: sleep until the core's next half tick, let it check
    // the synced quorum, then ping the learners it names.
    leader.bcast.lock().core.start_pinging(current_elapsed_time());
    loop {
        {
            let (lock, cv) = &leader.ping_wait;
            let mut g = lock.lock();
            loop {
                let (now, due) = (current_elapsed_time(), leader.bcast.lock().core.next_ping_at());
                if !leader.is_running() || now >= due {
                    break;
                }
                cv.wait_for(&mut g, Duration::from_millis(due - now));
            }
        }
        if !leader.is_running() {
            return Ok(if peer.is_running() { "Unexpected internal error" } else { "peer shut down" });
        }
        let to_ping = {
            let mut b = leader.bcast.lock();
            match b.core.tick(current_elapsed_time()) {
                Tick::Wait => continue,
                Tick::StepDown(msg) => {
                    drop(b);
                    leader.shutdown(&msg);
                    return Ok("quorum lost");
                }
                Tick::Ping(ids, outputs) => {
                    b.carry_out(&leader.role, outputs);
                    ids.iter().filter_map(|id| b.handlers.get(id).cloned()).collect::<Vec<_>>()
                }
            }
        };
        for f in to_ping {
            f.ping();
        }
    }
}

impl LearnerMaster for Leader {
    fn peer(&self) -> &Arc<QuorumPeer> {
        &self.peer
    }

    fn last_proposed(&self) -> i64 {
        self.bcast.lock().core.last_proposed()
    }

    fn remove_learner_handler(&self, h: &LearnerHandler) {
        let mut b = self.bcast.lock();
        b.core.remove_learner(h.id());
        b.handlers.remove(&h.id());
    }

    /// A LearnerHandler started: it has initLimit + syncLimit ticks to sync.
    fn add_learner_handler(&self, h: &Arc<LearnerHandler>) {
        let mut b = self.bcast.lock();
        b.core.add_learner(h.id());
        b.handlers.insert(h.id(), Arc::clone(h));
    }

    fn is_running(&self) -> bool {
        self.running.load(Ordering::Acquire) && self.peer.is_running()
    }

    /// The learner socket of handshake `id` sent its first packet or ended.
    fn handshake_done(&self, id: u64) {
        self.handshakes.done(id);
    }

    /// A sid for a pre-3.4 learner that did not say who it is.
    fn next_anonymous_sid(&self) -> i64 {
        self.follower_counter.fetch_sub(1, Ordering::AcqRel)
    }

    /// Its FOLLOWERINFO/OBSERVERINFO named the learner.
    fn identify_learner(&self, h: &LearnerHandler) -> io::Result<()> {
        self.bcast.lock().core.identify_learner(h.id(), h.sid(), h.is_observer());
        Ok(())
    }

    /// getEpochToPropose: collects accepted epochs until a quorum (with the
    /// leader) has connected, then fixes the new epoch (one past the
    /// largest) and records it as accepted. Waits at most initLimit ticks.
    fn get_epoch_to_propose(&self, sid: i64, last_accepted_epoch: i64) -> io::Result<i64> {
        let mut b = self.bcast.lock();
        match b.core.connecting(sid, last_accepted_epoch) {
            NewEpoch::Known(epoch) => Ok(epoch),
            NewEpoch::Decided(epoch) => {
                self.peer.set_accepted_epoch(epoch)?;
                self.discovery_cv.notify_all();
                Ok(epoch)
            }
            NewEpoch::Waiting => {
                if sid == self.peer.id() {
                    b.core.epoch_wait_started(current_elapsed_time());
                }
                self.wait_discovery(&mut b, LeaderCore::new_epoch, "Timeout while waiting for epoch from quorum")
            }
        }
    }

    /// waitForEpochAck: a learner (or the leader) has accepted the epoch
    /// with its (currentEpoch, last zxid); waits for a quorum of them. A
    /// learner more recent than the leader is refused.
    fn wait_for_epoch_ack(&self, sid: i64, epoch: i64, last_zxid: i64) -> io::Result<()> {
        let mut b = self.bcast.lock();
        if b.core.epoch_ack(sid, epoch, last_zxid).map_err(io::Error::other)? {
            self.discovery_cv.notify_all();
            return Ok(());
        }
        self.wait_discovery(&mut b, |c| c.epoch_acked().then_some(()), "Timeout while waiting for epoch to be acked by quorum")
    }

    /// syncFollower from the leader's database; startForwarding, under
    /// the broadcast lock, queues the proposals and commits after the plan
    /// (a txn committed meanwhile is still on toBeApplied).
    fn sync_learner(&self, h: &Arc<LearnerHandler>, peer_last_zxid: i64) -> io::Result<SyncPlan> {
        sync_from_database(&self.peer, h, peer_last_zxid, |current_zxid| {
            let mut b = self.bcast.lock();
            let out = b.core.start_forwarding(h.id(), current_zxid);
            b.carry_out(&self.role, out);
            Ok(())
        })
    }

    fn quorum_verifier_bytes(&self) -> Vec<u8> {
        self.qv_bytes.get().cloned().unwrap_or_default()
    }

    /// waitForNewLeaderAck: a quorum must log everything up to NEWLEADER
    /// before the leader serves.
    fn wait_for_new_leader_ack(&self, sid: i64, zxid: i64) -> io::Result<()> {
        let mut b = self.bcast.lock();
        match b.core.new_leader_ack(sid, zxid) {
            NewLeaderAck::Stale => Ok(()),
            NewLeaderAck::QuorumFormed => {
                self.discovery_cv.notify_all();
                Ok(())
            }
            NewLeaderAck::Waiting => self.wait_discovery(
                &mut b,
                |c| c.new_leader_ack_quorum().then_some(()),
                "Timeout while waiting for NEWLEADER to be acked by quorum",
            ),
        }
    }

    /// waitForStartup: learners get UPTODATE only once the leader serves.
    fn wait_for_startup(&self) -> io::Result<()> {
        let (lock, cv) = &self.started;
        let mut s = lock.lock();
        while !*s {
            cv.wait(&mut s);
        }
        if self.is_running() {
            Ok(())
        } else {
            Err(interrupted("the leader stopped before it started serving"))
        }
    }

    /// UPTODATE for a learner, once the leader serves.
    fn send_up_to_date(&self, h: &LearnerHandler) {
        let b = self.bcast.lock();
        let out = b.core.up_to_date(h.id());
        b.carry_out(&self.role, out.into_iter().collect());
    }

    /// A packet arrived from a synced learner: it counts as synced for
    /// syncLimit more ticks.
    fn heard_from(&self, h: &LearnerHandler) {
        self.bcast.lock().core.heard_from(h.id());
    }

    /// processAck: a voter has logged `zxid`; commits what now has a quorum.
    fn process_ack(&self, sid: i64, zxid: i64, from: Option<SocketAddr>) {
        let mut b = self.bcast.lock();
        let every = i64::from(self.peer.settings().leader.ack_logging_frequency);
        if every > 0 && zxid % every == 0 {
            // From the txn's creation (the leader's wall clock) to this ACK.
            if let Some(created) = b.core.proposal_time(zxid) {
                let latency = crate::common::time::current_wall_time() - created;
                if latency >= 0 {
                    crate::server::server_metrics::metrics().ack_latency.add(&sid.to_string(), latency);
                }
            }
        }
        let out = b.core.ack(sid, zxid, from);
        b.carry_out(&self.role, out);
    }

    /// A learner's PING carries its sessions' touches.
    fn touch(&self, session_id: i64, timeout: i32) {
        self.role.session_tracker().touch(session_id, timeout);
    }

    /// REVALIDATE: whether a session a learner's client reconnects with is
    /// still alive (touching it). A live one now belongs to that learner's
    /// connection: requests still coming the old way are refused as
    /// SESSIONMOVED. Answered at once.
    fn revalidate_session(&self, h: &LearnerHandler, qp: QuorumPacket, session_id: i64, timeout: i32) {
        let tracker = self.role.session_tracker();
        let valid = tracker.check_if_valid_global_session(session_id, timeout);
        if valid && tracker.set_owner(session_id, h.session_owner()).is_err() {
            error!("Session 0x{session_id:x} expired right after it was revalidated");
        }
        h.queue_packet(revalidate_answer(qp, session_id, valid));
    }

    /// A learner's forwarded request enters at the ProcessThread.
    fn submit_learner_request(&self, req: Request) {
        self.role.submit_learner_request(req);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_default_as_java() {
        let s = LeaderSettings::read(&SystemProperties::of(&[])).unwrap();
        assert_eq!(
            s,
            LeaderSettings {
                leader_serves: true,
                max_concurrent_snap_syncs: 10,
                max_concurrent_diff_syncs: 100,
                close_socket_async: false,
                nodelay: true,
                force_snapshot_sync: false,
                forward_learner_requests_to_commit_processor: true,
                testing_initial_zxid: None,
                ack_logging_frequency: 1000,
                max_time_to_wait_for_epoch_ms: -1,
            }
        );
        let s = LeaderSettings::read(&SystemProperties::of(&[
            ("leader.closeSocketAsync", "true"),
            ("leader.nodelay", "false"),
            ("zookeeper.forceSnapshotSync", "true"),
            ("testingonly.initialZxid", "4294967280"),
            ("forward_learner_requests_to_commit_processor_disabled", "true"),
        ]))
        .unwrap();
        assert!(s.close_socket_async && !s.nodelay && s.force_snapshot_sync);
        assert!(!s.forward_learner_requests_to_commit_processor);
        assert_eq!(s.testing_initial_zxid, Some(0xffff_fff0));
        assert!(!LeaderSettings::read(&SystemProperties::of(&[("leaderServes", "no")])).unwrap().leader_serves);
        let e = LeaderSettings::read(&SystemProperties::of(&[("leader.maxConcurrentSnapSyncs", "ten")]));
        assert_eq!(e.unwrap_err().to_string(), "leader.maxConcurrentSnapSyncs: \"ten\" is not a number");
    }
}
