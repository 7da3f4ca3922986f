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
//! The broadcast state (outstanding proposals, toBeApplied, lastCommitted,
//! lastProposed, pending learner syncs, the forwarding lists) sits behind
//! one mutex, taken by the ProcessThread (propose), the SyncThread's
//! AckRequestProcessor and the LearnerHandler threads (acks, sync set-up),
//! and the CommitProcessor's thread (ToBeAppliedRequestProcessor).

use crate::jute::records::QuorumPacket;
use crate::quorum::leader_zoo_keeper_server::LeaderZooKeeperServer;
use crate::quorum::learner_handler::{plan_sync, History, LearnerHandler, SyncPlan};
use crate::quorum::quorum_packet::{self as qp, make_zxid, packet};
use crate::quorum::quorum_peer::QuorumPeer;
use crate::server::request::Request;
use crate::server::session_tracker::{SessionOwner, SessionTracker};
use crate::server::zoo_keeper_server::ZooKeeperServer;
use parking_lot::{Condvar, Mutex};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tracing::{error, info, warn};

/// A txn proposed to the quorum and the voters that have logged it.
pub struct Proposal {
    pub packet: QuorumPacket,
    /// The txn, as handed to the CommitProcessor once committed.
    pub request: Option<Request>,
    pub acks: HashSet<i64>,
}

/// The sizes of the proposals sent (BufferStats): -1 before the first.
#[derive(Debug, Clone, Copy)]
pub struct ProposalStats {
    pub last: i64,
    pub min: i64,
    pub max: i64,
}

/// What the broadcast phase shares between threads.
struct Broadcast {
    outstanding: BTreeMap<i64, Proposal>,
    /// Committed proposals not yet applied by FinalRequestProcessor.
    to_be_applied: VecDeque<QuorumPacket>,
    last_committed: i64,
    last_proposed: i64,
    /// Learner syncs waiting for the proposal (by zxid) they came after.
    pending_syncs: HashMap<i64, Vec<Arc<LearnerHandler>>>,
    forwarding: Vec<Arc<LearnerHandler>>,
    observing: Vec<Arc<LearnerHandler>>,
    proposal_stats: ProposalStats,
}

/// The discovery and synchronization phases (epoch and NEWLEADER quorums).
struct Discovery {
    epoch: i64,
    waiting_for_new_epoch: bool,
    connecting: HashSet<i64>,
    /// The leader's (currentEpoch, last zxid).
    leader_summary: (i64, i64),
    electing: HashSet<i64>,
    election_finished: bool,
    new_leader_zxid: i64,
    new_leader_acks: HashSet<i64>,
    quorum_formed: bool,
}

pub struct Leader {
    peer: Arc<QuorumPeer>,
    role: Arc<LeaderZooKeeperServer>,
    zks: Arc<ZooKeeperServer>,
    bcast: Mutex<Broadcast>,
    learners: Mutex<Vec<Arc<LearnerHandler>>>,
    discovery: Mutex<Discovery>,
    discovery_cv: Condvar,
    tick: AtomicI32,
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
    /// Learner sockets whose first packet has not arrived yet, oldest
    /// first, by handshake id.
    handshakes: Mutex<VecDeque<(u64, TcpStream)>>,
    next_handshake_id: AtomicU64,
    started_at: Instant,
}

/// How many accepted learner sockets may be waiting for their first packet
/// at once (Java has no bound): far more than an ensemble's learners, which
/// send it at once, so only strangers that connect and stay silent or
/// trickle are closed to make room.
const MAX_LEARNER_HANDSHAKES: usize = 64;

fn interrupted(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, msg.to_string())
}

impl Leader {
    fn new(peer: &Arc<QuorumPeer>, role: Arc<LeaderZooKeeperServer>, zks: Arc<ZooKeeperServer>) -> Arc<Leader> {
        Arc::new(Leader {
            peer: Arc::clone(peer),
            role,
            zks,
            bcast: Mutex::new(Broadcast {
                outstanding: BTreeMap::new(),
                to_be_applied: VecDeque::new(),
                last_committed: -1,
                last_proposed: 0,
                pending_syncs: HashMap::new(),
                forwarding: Vec::new(),
                observing: Vec::new(),
                proposal_stats: ProposalStats { last: -1, min: -1, max: -1 },
            }),
            learners: Mutex::new(Vec::new()),
            discovery: Mutex::new(Discovery {
                epoch: -1,
                waiting_for_new_epoch: true,
                connecting: HashSet::new(),
                leader_summary: (0, 0),
                electing: HashSet::new(),
                election_finished: false,
                new_leader_zxid: 0,
                new_leader_acks: HashSet::new(),
                quorum_formed: false,
            }),
            discovery_cv: Condvar::new(),
            tick: AtomicI32::new(0),
            running: AtomicBool::new(true),
            torn_down: AtomicBool::new(false),
            started: (Mutex::new(false), Condvar::new()),
            ping_wait: (Mutex::new(()), Condvar::new()),
            follower_counter: AtomicI64::new(-1),
            qv_bytes: OnceLock::new(),
            listeners: Mutex::new(Vec::new()),
            handshakes: Mutex::new(VecDeque::new()),
            next_handshake_id: AtomicU64::new(1),
            started_at: Instant::now(),
        })
    }

    // ---- figures and settings ----

    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::Acquire) && self.peer.is_running()
    }

    pub fn current_tick(&self) -> i32 {
        self.tick.load(Ordering::Acquire)
    }

    pub fn tick_of_next_ack_deadline(&self) -> i32 {
        self.current_tick() + self.peer.config().sync_limit
    }

    pub fn tick_of_initial_ack_deadline(&self) -> i32 {
        self.current_tick() + self.peer.config().init_limit + self.peer.config().sync_limit
    }

    /// syncLimit ticks.
    pub fn sync_timeout(&self) -> Duration {
        let c = self.peer.config();
        Duration::from_millis((i64::from(c.tick_time) * i64::from(c.sync_limit)).max(1) as u64)
    }

    /// initLimit ticks.
    pub fn init_timeout(&self) -> Duration {
        let c = self.peer.config();
        Duration::from_millis((i64::from(c.tick_time) * i64::from(c.init_limit)).max(1) as u64)
    }

    pub fn last_proposed(&self) -> i64 {
        self.bcast.lock().last_proposed
    }

    pub fn last_processed_zxid(&self) -> i64 {
        self.peer.zk_db().last_processed_zxid()
    }

    /// The membership version learners compare their own with.
    pub fn quorum_verifier_version(&self) -> i64 {
        self.peer.quorum_verifier().version()
    }

    pub fn quorum_verifier_bytes(&self) -> Vec<u8> {
        self.qv_bytes.get().cloned().unwrap_or_default()
    }

    /// A sid for a pre-3.4 learner that did not say who it is.
    pub fn next_anonymous_sid(&self) -> i64 {
        self.follower_counter.fetch_sub(1, Ordering::AcqRel)
    }

    /// The member's quorum and election addresses, as the log prints them.
    pub fn peer_info(&self, sid: i64) -> Option<String> {
        self.peer.quorum_verifier().all_members().get(&sid).map(|s| {
            let addr = |v: &[crate::quorum::quorum_peer_config::HostPort]| {
                v.first().map(|h| format!("{}:{}", h.host, h.port)).unwrap_or_default()
            };
            format!("{}:{}:{}", addr(&s.addrs), addr(&s.election_addrs).rsplit(':').next().unwrap_or(""), s.peer_type.name())
        })
    }

    fn is_participant(&self, sid: i64) -> bool {
        self.peer.quorum_verifier().is_voter(sid)
    }

    /// Every connected learner handler (getLearners).
    pub fn learners(&self) -> Vec<Arc<LearnerHandler>> {
        self.learners.lock().clone()
    }

    /// Synced followers (voting and not).
    pub fn forwarding_followers(&self) -> Vec<Arc<LearnerHandler>> {
        self.bcast.lock().forwarding.clone()
    }

    /// Synced followers that do not vote.
    pub fn non_voting_followers(&self) -> usize {
        self.bcast.lock().forwarding.iter().filter(|f| !self.is_participant(f.sid())).count()
    }

    pub fn observing_learners(&self) -> usize {
        self.bcast.lock().observing.len()
    }

    /// Learner syncs waiting for a commit.
    pub fn num_pending_syncs(&self) -> usize {
        self.bcast.lock().pending_syncs.values().map(Vec::len).sum()
    }

    pub fn proposal_stats(&self) -> ProposalStats {
        self.bcast.lock().proposal_stats
    }

    pub fn uptime_ms(&self) -> u128 {
        self.started_at.elapsed().as_millis()
    }

    // ---- learner bookkeeping ----

    pub fn add_learner_handler(&self, h: &Arc<LearnerHandler>) {
        self.learners.lock().push(Arc::clone(h));
    }

    pub fn remove_learner_handler(&self, h: &LearnerHandler) {
        let same = |x: &Arc<LearnerHandler>| std::ptr::eq(Arc::as_ptr(x), h);
        {
            let mut b = self.bcast.lock();
            b.forwarding.retain(|x| !same(x));
            b.observing.retain(|x| !same(x));
        }
        self.learners.lock().retain(|x| !same(x));
    }

    // ---- discovery (epoch negotiation) ----

    /// getEpochToPropose: collects accepted epochs until a quorum (with the
    /// leader) has connected, then fixes the new epoch (one past the
    /// largest) and records it as accepted. Waits at most initLimit ticks.
    pub fn get_epoch_to_propose(&self, sid: i64, last_accepted_epoch: i64) -> io::Result<i64> {
        let mut d = self.discovery.lock();
        if !d.waiting_for_new_epoch {
            return Ok(d.epoch);
        }
        if last_accepted_epoch >= d.epoch {
            d.epoch = last_accepted_epoch + 1;
        }
        if self.is_participant(sid) {
            d.connecting.insert(sid);
        }
        if d.connecting.contains(&self.peer.id()) && self.peer.quorum_verifier().contains_quorum(&d.connecting) {
            d.waiting_for_new_epoch = false;
            self.peer.set_accepted_epoch(d.epoch)?;
            self.discovery_cv.notify_all();
        } else {
            let deadline = Instant::now() + self.init_timeout();
            while d.waiting_for_new_epoch && self.is_running() && Instant::now() < deadline {
                self.wait_discovery(&mut d, deadline);
            }
            if d.waiting_for_new_epoch {
                return Err(interrupted("Timeout while waiting for epoch from quorum"));
            }
        }
        Ok(d.epoch)
    }

    /// waitForEpochAck: a learner (or the leader) has accepted the epoch
    /// with its (currentEpoch, last zxid); waits for a quorum of them. A
    /// learner more recent than the leader is refused.
    pub fn wait_for_epoch_ack(&self, sid: i64, epoch: i64, last_zxid: i64) -> io::Result<()> {
        let mut d = self.discovery.lock();
        if d.election_finished {
            return Ok(());
        }
        if epoch != -1 {
            let (le, lz) = d.leader_summary;
            if epoch > le || (epoch == le && last_zxid > lz) {
                return Err(io::Error::other(format!(
                    "Follower is ahead of the leader, leader summary: {le} (current epoch), {lz} (last zxid)"
                )));
            }
            if last_zxid != -1 && self.is_participant(sid) {
                d.electing.insert(sid);
            }
        }
        if d.electing.contains(&self.peer.id()) && self.peer.quorum_verifier().contains_quorum(&d.electing) {
            d.election_finished = true;
            self.discovery_cv.notify_all();
        } else {
            let deadline = Instant::now() + self.init_timeout();
            while !d.election_finished && self.is_running() && Instant::now() < deadline {
                self.wait_discovery(&mut d, deadline);
            }
            if !d.election_finished {
                return Err(interrupted("Timeout while waiting for epoch to be acked by quorum"));
            }
        }
        Ok(())
    }

    /// waitForNewLeaderAck: a quorum must log everything up to NEWLEADER
    /// before the leader serves.
    pub fn wait_for_new_leader_ack(&self, sid: i64, zxid: i64) -> io::Result<()> {
        let mut d = self.discovery.lock();
        if d.quorum_formed {
            return Ok(());
        }
        if zxid != d.new_leader_zxid {
            error!(
                "NEWLEADER ACK from sid: {sid} is from a different epoch - current 0x{:x} received 0x{zxid:x}",
                d.new_leader_zxid
            );
            return Ok(());
        }
        if self.is_participant(sid) {
            d.new_leader_acks.insert(sid);
        }
        if self.peer.quorum_verifier().contains_quorum(&d.new_leader_acks) {
            d.quorum_formed = true;
            self.discovery_cv.notify_all();
        } else {
            let deadline = Instant::now() + self.init_timeout();
            while !d.quorum_formed && self.is_running() && Instant::now() < deadline {
                self.wait_discovery(&mut d, deadline);
            }
            if !d.quorum_formed {
                return Err(interrupted("Timeout while waiting for NEWLEADER to be acked by quorum"));
            }
        }
        Ok(())
    }

    /// Waits for a discovery change until `deadline`, waking at least once
    /// a tick to notice the peer shutting down (which does not signal us).
    fn wait_discovery(&self, d: &mut parking_lot::MutexGuard<'_, Discovery>, deadline: Instant) {
        let tick = Duration::from_millis(self.peer.config().tick_time.max(1) as u64);
        let _ = self.discovery_cv.wait_until(d, deadline.min(Instant::now() + tick));
    }

    /// waitForStartup: learners get UPTODATE only once the leader serves.
    pub fn wait_for_startup(&self) -> io::Result<()> {
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

    fn set_started(&self) {
        let (lock, cv) = &self.started;
        *lock.lock() = true;
        cv.notify_all();
    }

    // ---- sync ----

    /// syncFollower: decides a learner's sync and queues its DIFF/TRUNC
    /// packets, then (startForwarding) every later proposal. A learner
    /// older than the committedLog needs the txn log, which is read from
    /// disk first, holding no lock, so proposals, acks and pings go on
    /// meanwhile. The plan itself is made in memory under the committedLog's
    /// read lock (Java's logLock): a txn committed meanwhile cannot be
    /// applied and so stays on toBeApplied, where startForwarding, the one
    /// step under the broadcast lock, finds it. If the committedLog moved
    /// past what was read from disk, the plan sees the gap and falls back
    /// to a snapshot, which the handler streams itself.
    pub fn sync_learner(&self, h: &Arc<LearnerHandler>, peer_last_zxid: i64) -> io::Result<SyncPlan> {
        let db = Arc::clone(self.peer.zk_db());
        let oldest = db.min_committed_log().unwrap_or_else(|| db.last_processed_zxid());
        let from_disk = if peer_last_zxid < oldest {
            match db.proposals_from_txn_log(peer_last_zxid, self.txn_log_size_limit(&db)) {
                Ok(p) => p,
                Err(e) => {
                    warn!("Cannot read the transaction log for a DIFF sync: {e}");
                    None
                }
            }
        } else {
            None
        };
        Ok(db.with_committed_log(|committed| {
            let history = History { committed, last_processed_zxid: db.last_processed_zxid() };
            let plan = plan_sync(h.sid(), peer_last_zxid, &history, move |_| from_disk);
            for p in &plan.packets {
                h.queue_packet(p.clone());
            }
            self.start_forwarding(&mut self.bcast.lock(), h, plan.current_zxid);
            plan
        }))
    }

    /// calculateTxnLogSizeLimit: zookeeper.snapshotSizeFactor times the
    /// newest snapshot's size; 0 (no snapshot, or a factor of 0) means no
    /// limit, and a negative factor turns txn-log syncs off (-1), as in
    /// Java's isTxnLogSyncEnabled.
    fn txn_log_size_limit(&self, db: &crate::server::zk_database::ZkDatabase) -> i64 {
        let factor = self.peer.config().snapshot_size_factor;
        if factor < 0.0 {
            return -1;
        }
        let snap = crate::server::persistence::file_snap::find_n_valid_snapshots(db.snap_log().data_dir(), 1)
            .ok()
            .and_then(|v| v.into_iter().next())
            .and_then(|(_, p)| std::fs::metadata(p).ok())
            .map(|m| m.len() as f64)
            .unwrap_or(0.0);
        (snap * factor) as i64
    }

    /// startForwarding: queues the committed-but-unapplied proposals and
    /// (to followers) the outstanding ones after `last_seen`, then adds the
    /// handler to the broadcast lists.
    fn start_forwarding(&self, b: &mut Broadcast, h: &Arc<LearnerHandler>, last_seen: i64) {
        if b.last_proposed > last_seen {
            for p in b.to_be_applied.iter().filter(|p| p.zxid > last_seen) {
                h.queue_packet(p.clone());
                h.queue_packet(packet(qp::COMMIT, p.zxid, None));
            }
            if !h.is_observer() {
                for (_, p) in b.outstanding.range(last_seen + 1..) {
                    h.queue_packet(p.packet.clone());
                }
            }
        }
        if h.is_observer() {
            b.observing.push(Arc::clone(h));
        } else {
            b.forwarding.push(Arc::clone(h));
        }
    }

    /// Streams the sessions and the tree (a SNAP sync's body).
    pub fn serialize_snapshot<W: io::Write>(&self, out: &mut W) -> io::Result<()> {
        self.peer.zk_db().serialize_snapshot(out)
    }

    // ---- broadcast ----

    /// propose: a txn from the ProcessThread goes to every follower.
    pub fn propose(&self, req: &Request) -> io::Result<()> {
        let Some(entry) = req.log_entry() else { return Ok(()) };
        let zxid = entry.hdr.zxid;
        if qp::counter_of(zxid) == 0xffff_ffff {
            let msg = "zxid lower 32 bits have rolled over, forcing re-election, and therefore new epoch start";
            self.stop(msg);
            return Err(io::Error::other(msg));
        }
        let data = entry.to_bytes();
        let size = data.len() as i64;
        let pkt = packet(qp::PROPOSAL, zxid, Some(data));
        let mut b = self.bcast.lock();
        let s = &mut b.proposal_stats;
        s.last = size;
        s.min = if s.min < 0 { size } else { s.min.min(size) };
        s.max = s.max.max(size);
        b.last_proposed = zxid;
        for f in &b.forwarding {
            f.queue_packet(pkt.clone());
        }
        b.outstanding.insert(zxid, Proposal { packet: pkt, request: Some(txn_copy(req)), acks: HashSet::new() });
        Ok(())
    }

    /// processAck: a voter has logged `zxid`; commits what now has a quorum.
    pub fn process_ack(&self, sid: i64, zxid: i64, from: Option<SocketAddr>) {
        if qp::counter_of(zxid) == 0 {
            // The ack of NEWLEADER or UPTODATE: nothing to commit.
            return;
        }
        let mut b = self.bcast.lock();
        if b.outstanding.is_empty() || b.last_committed >= zxid {
            return;
        }
        let Some(p) = b.outstanding.get_mut(&zxid) else {
            warn!("Trying to commit future proposal: zxid 0x{zxid:x} from {from:?}");
            return;
        };
        if self.is_participant(sid) {
            p.acks.insert(sid);
        }
        self.try_to_commit(&mut b, zxid, from);
    }

    /// tryToCommit: commits `zxid` once it has a quorum and everything
    /// before it is committed, then anything after it that was waiting.
    fn try_to_commit(&self, b: &mut Broadcast, mut zxid: i64, from: Option<SocketAddr>) {
        loop {
            if b.outstanding.contains_key(&(zxid - 1)) {
                return;
            }
            let has_quorum = match b.outstanding.get(&zxid) {
                Some(p) => self.peer.quorum_verifier().contains_quorum(&p.acks),
                None => return,
            };
            if !has_quorum {
                return;
            }
            if zxid != b.last_committed + 1 && b.last_committed >= 0 && qp::epoch_of(zxid) == qp::epoch_of(b.last_committed) {
                warn!("Commiting zxid 0x{zxid:x} from {from:?} not first!");
                warn!("First is 0x{:x}", b.last_committed + 1);
            }
            let Some(mut p) = b.outstanding.remove(&zxid) else { return };
            b.last_committed = zxid;
            let commit = packet(qp::COMMIT, zxid, None);
            for f in &b.forwarding {
                f.queue_packet(commit.clone());
            }
            let inform = packet(qp::INFORM, zxid, p.packet.data.clone());
            for o in &b.observing {
                o.queue_packet(inform.clone());
            }
            b.to_be_applied.push_back(p.packet);
            if let Some(r) = p.request.take() {
                self.role.commit(r);
            }
            if let Some(waiting) = b.pending_syncs.remove(&zxid) {
                for h in waiting {
                    h.queue_packet(packet(qp::SYNC, 0, None));
                }
            }
            // A later proposal may have gathered its quorum first.
            zxid += 1;
        }
    }

    /// processSync: a learner's sync is answered once everything proposed
    /// before it is committed.
    pub fn process_sync(&self, h: Arc<LearnerHandler>) {
        let mut b = self.bcast.lock();
        if b.outstanding.is_empty() {
            h.queue_packet(packet(qp::SYNC, 0, None));
        } else {
            let at = b.last_proposed;
            b.pending_syncs.entry(at).or_default().push(h);
        }
    }

    /// ToBeAppliedRequestProcessor's part: the txn at `zxid` is applied.
    pub fn applied(&self, zxid: i64) {
        let mut b = self.bcast.lock();
        match b.to_be_applied.front() {
            Some(p) if p.zxid == zxid => {
                b.to_be_applied.pop_front();
            }
            _ => error!("Committed request not found on toBeApplied: 0x{zxid:x}"),
        }
    }

    // ---- sessions ----

    /// A learner's PING carries its sessions' touches.
    pub fn touch(&self, session_id: i64, timeout: i32) {
        self.role.session_tracker().touch(session_id, timeout);
    }

    /// REVALIDATE: whether a session a learner's client reconnects with is
    /// still alive (touching it). A live one now belongs to that learner's
    /// connection, `owner`: requests still coming the old way are refused
    /// as SESSIONMOVED.
    pub fn revalidate_session(&self, session_id: i64, timeout: i32, owner: SessionOwner) -> bool {
        let tracker = self.role.session_tracker();
        let valid = tracker.check_if_valid_global_session(session_id, timeout);
        if valid && tracker.set_owner(session_id, owner).is_err() {
            error!("Session 0x{session_id:x} expired right after it was revalidated");
        }
        valid
    }

    /// A learner's forwarded request enters at the ProcessThread.
    pub fn submit_learner_request(&self, req: Request) {
        self.role.submit_learner_request(req);
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
        let names: Vec<String> = listeners.iter().filter_map(|l| l.local_addr().ok()).map(|a| format!("/{a}")).collect();
        let name = format!("LearnerCnxAcceptor-{}", names.join("|"));
        for l in listeners.iter() {
            let l = l.try_clone()?;
            let leader = Arc::clone(self);
            let local = l.local_addr()?;
            crate::server::zoo_keeper_critical_thread::spawn(name.clone(), move || {
                leader.accept_loop(&l);
                info!("LearnerCnxAcceptorHandler-/{local} stopped");
            })?;
        }
        Ok(())
    }

    fn accept_loop(self: &Arc<Self>, l: &TcpListener) {
        while self.is_running() {
            match l.accept() {
                Ok((sock, remote)) => {
                    if !self.is_running() {
                        break;
                    }
                    let id = self.next_handshake_id.fetch_add(1, Ordering::Relaxed);
                    match sock.try_clone() {
                        Ok(handle) => self.handshake_started(id, handle),
                        Err(e) => {
                            warn!("Cannot use the learner connection from {remote}: {e}");
                            continue;
                        }
                    }
                    if let Err(e) = LearnerHandler::start(Arc::clone(self), sock, id) {
                        warn!("Cannot start a LearnerHandler: {e}");
                        self.handshake_done(id);
                    }
                }
                Err(e) => {
                    if self.is_running() {
                        warn!("Exception while accepting follower: {e}");
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        }
    }

    /// Tracks a learner socket until its first packet arrives, closing the
    /// oldest such socket beyond MAX_LEARNER_HANDSHAKES.
    fn handshake_started(&self, id: u64, sock: TcpStream) {
        let evicted = {
            let mut waiting = self.handshakes.lock();
            waiting.push_back((id, sock));
            if waiting.len() > MAX_LEARNER_HANDSHAKES {
                waiting.pop_front()
            } else {
                None
            }
        };
        if let Some((_, oldest)) = evicted {
            let from = oldest.peer_addr().map(|a| a.to_string()).unwrap_or_default();
            warn!("{MAX_LEARNER_HANDSHAKES} learner connections have not sent their first packet: closing the oldest, from {from}");
            let _ = oldest.shutdown(std::net::Shutdown::Both);
        }
    }

    /// The learner socket of handshake `id` sent its first packet or ended.
    pub fn handshake_done(&self, id: u64) {
        self.handshakes.lock().retain(|(i, _)| *i != id);
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
        if let Some(f) = self.peer.cnxn_factory() {
            f.set_zoo_keeper_server(Arc::clone(self.peer.zk_server()));
        }
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
    r
}

fn bind_reusable(addr: SocketAddr) -> io::Result<TcpListener> {
    let domain = if addr.is_ipv4() { socket2::Domain::IPV4 } else { socket2::Domain::IPV6 };
    let s = socket2::Socket::new(domain, socket2::Type::STREAM, None)?;
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.listen(50)?;
    Ok(s.into())
}

/// Leader.lead: runs the LEADING role on the QuorumPeer thread until the
/// quorum is lost or the peer shuts down.
pub fn lead(peer: &Arc<QuorumPeer>) -> io::Result<()> {
    let (role, zks) = LeaderZooKeeperServer::new(peer);
    let leader = Leader::new(peer, Arc::clone(&role), zks);
    role.set_leader(&leader);
    let result = run_leader(peer, &leader);
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
    leader.bind()?;
    leader.role.load_data(zks)?;
    let last_zxid = peer.zk_db().last_processed_zxid();
    leader.discovery.lock().leader_summary = (peer.current_epoch(), last_zxid);
    leader.start_acceptor()?;

    let epoch = leader.get_epoch_to_propose(peer.id(), peer.accepted_epoch())?;
    let new_leader_zxid = make_zxid(epoch, 0);
    zks.set_zxid(new_leader_zxid);
    leader.bcast.lock().last_proposed = new_leader_zxid;
    leader.discovery.lock().new_leader_zxid = new_leader_zxid;
    // NEWLEADER carries the membership; a first epoch versions it with its
    // zxid, as Java does.
    let mut spec = peer.config().quorum_verifier.clone();
    if spec.version == 0 {
        spec.version = new_leader_zxid;
    }
    let _ = leader.qv_bytes.set(spec.to_config_string().into_bytes());

    leader.wait_for_epoch_ack(peer.id(), peer.current_epoch(), last_zxid)?;
    peer.set_current_epoch(epoch)?;
    if let Err(e) = leader.wait_for_new_leader_ack(peer.id(), new_leader_zxid) {
        let synced: Vec<i64> = leader.discovery.lock().new_leader_acks.iter().copied().collect();
        warn!("{e}");
        leader.shutdown(&format!("Waiting for a quorum of followers, only synced with sids: [ {synced:?} ]"));
        return Ok("Waiting for a quorum of followers");
    }

    zks.startup()?;
    // Servers joining later must hear the same vote (leader and new epoch)
    // from every member, so the leader's own vote takes the new epoch.
    let mut vote = peer.current_vote();
    vote.peer_epoch = epoch;
    peer.set_current_vote(vote);
    peer.zk_db().data_tree().set_last_processed_zxid(zks.get_zxid());
    leader.set_started();
    if let Some(f) = peer.cnxn_factory() {
        f.set_zoo_keeper_server(Arc::clone(zks));
    }

    let half_tick = Duration::from_millis((peer.config().tick_time / 2).max(1) as u64);
    let mut tick_skip = true;
    loop {
        {
            let (lock, cv) = &leader.ping_wait;
            let mut g = lock.lock();
            let end = Instant::now() + half_tick;
            while leader.is_running() && !cv.wait_until(&mut g, end).timed_out() {}
        }
        if !leader.is_running() {
            return Ok(if peer.is_running() { "Unexpected internal error" } else { "peer shut down" });
        }
        if !tick_skip {
            leader.tick.fetch_add(1, Ordering::AcqRel);
        }
        let mut synced: HashSet<i64> = HashSet::from([peer.id()]);
        for f in leader.learners() {
            if f.synced() && leader.is_participant(f.sid()) {
                synced.insert(f.sid());
            }
        }
        if !tick_skip && !peer.quorum_verifier().contains_quorum(&synced) {
            let mut ids: Vec<i64> = synced.into_iter().collect();
            ids.sort_unstable();
            let list = ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",");
            let msg = format!("Not sufficient followers synced, only synced with sids: [ {list} ]");
            leader.shutdown(&msg);
            return Ok("quorum lost");
        }
        tick_skip = !tick_skip;
        for f in leader.learners() {
            f.ping();
        }
    }
}
