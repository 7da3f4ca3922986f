//! ObserverMaster: a follower serving observers (observerMasterPort), so
//! that the leader does not have to. Started once the follower is synced,
//! stopped when it stops following. Its listener thread ("ObserverMaster")
//! starts a LearnerHandler for each observer that connects; a pinger
//! thread ("ObserverMasterPinger"; Java's is an unnamed scheduled
//! executor) pings the synced observers every half tick.
//!
//! The QuorumPeer thread, reading the leader's packets, hands it each
//! proposal (kept as an INFORM) and each commit: the committed INFORMs go
//! to every synced observer and into a cache of recent ones, bounded by
//! zookeeper.observerMaster.sizeLimit bytes. An observer is synced from
//! the follower's database like a learner of the leader (DIFF from the
//! committedLog or the txn log, TRUNC, or SNAP), then from the cache up to
//! the newest commit; one whose sync point the cache no longer reaches is
//! dropped (it reconnects). The cache is fed before the commit is handed
//! to the CommitProcessor, so whatever the database has applied is in it.
//!
//! An observer's REQUESTs enter the follower's FollowerRequestProcessor
//! (forwarded on to the leader); its REVALIDATEs are forwarded to the
//! leader and answered when the leader's answer comes back; its syncs are
//! answered when the leader's SYNC for them arrives; its session touches
//! (PINGs) join the follower's own for the leader. Its ACKs are ignored.
//! `CommittedPackets` is the sans-I/O part: the proposals waiting for
//! their commit, the cache, and what a newly synced observer is sent.

use crate::jute::records::QuorumPacket;
use crate::jute::txn::TxnLogEntry;
use crate::quorum::learner::Learner;
use crate::quorum::learner_handler::{LearnerHandler, SyncPlan};
use crate::quorum::learner_master::{accept_learners, sync_from_database, LearnerMaster, PendingHandshakes};
use crate::quorum::learner_session_tracker::LearnerSessionTracker;
use crate::quorum::learner_zoo_keeper_server::LearnerZooKeeperServer;
use crate::quorum::quorum_packet::{self as qp, packet};
use crate::quorum::quorum_peer::QuorumPeer;
use crate::server::request::Request;
use crate::server::session_tracker::SessionTracker;
use parking_lot::{Condvar, Mutex};
use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tracing::{debug, error, info, warn};

/// Java's LearnerHandler.packetSize: a packet's approximate size in bytes
/// (its fixed fields, then its data).
fn packet_size(p: &QuorumPacket) -> i64 {
    28 + p.data.as_ref().map_or(0, |d| d.len() as i64)
}

/// The proposals waiting for their commit and the cache of committed
/// INFORMs, oldest first (Java's proposedPkts and committedPkts).
#[derive(Debug, Default)]
pub struct CommittedPackets {
    proposed: VecDeque<QuorumPacket>,
    committed: VecDeque<QuorumPacket>,
    /// The cache's size by `packet_size`.
    bytes: i64,
    /// zookeeper.observerMaster.sizeLimit.
    limit: i64,
    /// The newest zxid sent to the observers.
    last_sent: i64,
}

impl CommittedPackets {
    pub fn new(limit: i64) -> CommittedPackets {
        CommittedPackets { limit, ..CommittedPackets::default() }
    }

    /// A PROPOSAL's txn, kept as the INFORM its commit will send.
    pub fn proposal_received(&mut self, zxid: i64, txn: Vec<u8>) {
        self.proposed.push_back(packet(qp::INFORM, zxid, Some(txn)));
    }

    /// The INFORM for committed `zxid`, or INFORMANDACTIVATE with the
    /// designated leader for a reconfiguration, cached and returned for
    /// the synced observers. Proposals older than `zxid` left waiting are
    /// dropped; one never seen (received during the follower's own sync)
    /// is made from `entry`.
    pub fn proposal_committed(&mut self, entry: &TxnLogEntry, designated: Option<i64>) -> QuorumPacket {
        let zxid = entry.hdr.zxid;
        while self.proposed.front().is_some_and(|p| p.zxid < zxid) {
            if let Some(p) = self.proposed.pop_front() {
                warn!("The proposal 0x{:x} was never committed before 0x{zxid:x}", p.zxid);
            }
        }
        let txn = match self.proposed.front() {
            Some(p) if p.zxid == zxid => self.proposed.pop_front().and_then(|p| p.data).unwrap_or_default(),
            _ => {
                debug!("No proposal packet kept for 0x{zxid:x}: made from the committed txn");
                entry.to_bytes()
            }
        };
        let p = match designated {
            Some(leader) => {
                let mut data = leader.to_be_bytes().to_vec();
                data.extend_from_slice(&txn);
                packet(qp::INFORMANDACTIVATE, zxid, Some(data))
            }
            None => packet(qp::INFORM, zxid, Some(txn)),
        };
        self.cache(p.clone());
        self.last_sent = zxid;
        p
    }

    /// Caches a committed packet: as the cache nears its limit (80%) the
    /// five oldest go for each one added; the limit itself is a hard cap.
    fn cache(&mut self, p: QuorumPacket) {
        self.bytes += packet_size(&p);
        self.committed.push_back(p);
        let soft = self.limit as f64 * 0.8;
        for _ in 0..5 {
            if (self.bytes as f64) <= soft {
                break;
            }
            self.evict_oldest();
        }
        while self.bytes > self.limit && !self.committed.is_empty() {
            self.evict_oldest();
        }
    }

    fn evict_oldest(&mut self) {
        if let Some(old) = self.committed.pop_front() {
            self.bytes -= packet_size(&old);
        }
        if self.committed.is_empty() {
            self.bytes = 0;
        }
    }

    /// startForwarding: the cached packets an observer synced up to
    /// `last_seen` still needs, or, when the cache no longer reaches back
    /// to the one after `last_seen`, its oldest zxid (the newest sent if
    /// the cache kept none).
    pub fn catch_up(&self, last_seen: i64) -> Result<Vec<QuorumPacket>, i64> {
        if self.last_sent <= last_seen {
            return Ok(Vec::new());
        }
        match self.committed.front() {
            Some(head) if head.zxid <= last_seen + 1 => {
                Ok(self.committed.iter().filter(|p| p.zxid > last_seen).cloned().collect())
            }
            head => Err(head.map_or(self.last_sent, |h| h.zxid)),
        }
    }

    /// The newest zxid sent to the observers (getLastProposed).
    pub fn last_sent(&self) -> i64 {
        self.last_sent
    }

    /// The cache's size by `packet_size`.
    #[cfg(test)]
    fn cached_bytes(&self) -> i64 {
        self.bytes
    }
}

/// Under one lock, as Java's synchronized ObserverMaster: the packets and
/// the observers they go to.
struct State {
    packets: CommittedPackets,
    /// Synced observers (activeObservers), by handler id.
    active: BTreeMap<u64, Arc<LearnerHandler>>,
}

/// A REVALIDATE forwarded to the leader, waiting for its answer.
struct Revalidation {
    session_id: i64,
    timeout: i32,
    handler: Weak<LearnerHandler>,
}

pub struct ObserverMaster {
    peer: Arc<QuorumPeer>,
    learner: Arc<Learner>,
    tracker: Arc<LearnerSessionTracker>,
    role: Weak<LearnerZooKeeperServer>,
    port: u16,
    running: AtomicBool,
    state: Mutex<State>,
    /// Every handler, synced or not, by id (all are dropped at stop).
    handlers: Mutex<BTreeMap<u64, Arc<LearnerHandler>>>,
    /// Revalidations in the order they went to the leader, which answers
    /// in that order.
    revalidations: Mutex<VecDeque<Revalidation>>,
    follower_counter: AtomicI64,
    listener: Mutex<Option<TcpListener>>,
    handshakes: PendingHandshakes,
    /// Wakes the pinger early on stop.
    ping_wait: (Mutex<()>, Condvar),
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl ObserverMaster {
    pub fn new(
        peer: &Arc<QuorumPeer>,
        learner: Arc<Learner>,
        tracker: Arc<LearnerSessionTracker>,
        role: Weak<LearnerZooKeeperServer>,
        port: u16,
    ) -> Arc<ObserverMaster> {
        let limit = i64::from(peer.settings().learner.observer_master_size_limit);
        Arc::new(ObserverMaster {
            peer: Arc::clone(peer),
            learner,
            tracker,
            role,
            port,
            running: AtomicBool::new(false),
            state: Mutex::new(State { packets: CommittedPackets::new(limit), active: BTreeMap::new() }),
            handlers: Mutex::new(BTreeMap::new()),
            revalidations: Mutex::new(VecDeque::new()),
            follower_counter: AtomicI64::new(-1),
            listener: Mutex::new(None),
            handshakes: PendingHandshakes::default(),
            ping_wait: (Mutex::new(()), Condvar::new()),
            threads: Mutex::new(Vec::new()),
        })
    }

    /// start: binds observerMasterPort on this peer's quorum address (every
    /// address with quorumListenOnAllIPs), then starts the listener and
    /// the pinger.
    pub fn start(self: &Arc<Self>) -> io::Result<()> {
        info!("Starting ObserverMaster");
        let addr = if self.peer.config().quorum_listen_on_all_ips {
            SocketAddr::from(([0, 0, 0, 0], self.port))
        } else {
            let me = self.peer.config().my_quorum_server().ok_or_else(|| io::Error::other("not in the server list"))?;
            let host = me.addrs.first().ok_or_else(|| io::Error::other("this server has no quorum address"))?;
            let ip = host.resolve()?.into_iter().next().ok_or_else(|| io::Error::other(format!("cannot resolve {}", host.host)))?;
            SocketAddr::new(ip.ip(), self.port)
        };
        let listener = crate::common::net_utils::bind_listener(addr, 10, true).map_err(|e| {
            error!("ObserverMaster cannot bind {addr}: {e}");
            e
        })?;
        let accepting = listener.try_clone()?;
        *self.listener.lock() = Some(listener);
        self.running.store(true, Ordering::Release);
        let me = Arc::clone(self);
        let accept = crate::server::zoo_keeper_critical_thread::spawn("ObserverMaster".into(), move || {
            let master: Arc<dyn LearnerMaster> = Arc::clone(&me) as Arc<dyn LearnerMaster>;
            accept_learners(&master, &accepting, &me.handshakes);
            info!("ObserverMaster listener on {addr} stopped");
        })?;
        let me = Arc::clone(self);
        let pinger = crate::server::zoo_keeper_critical_thread::spawn("ObserverMasterPinger".into(), move || me.ping_loop())?;
        self.threads.lock().extend([accept, pinger]);
        Ok(())
    }

    /// Every half tick, a PING for each synced observer.
    fn ping_loop(&self) {
        let half_tick = Duration::from_millis((self.peer.config().tick_time / 2).max(1) as u64);
        let mut next = Instant::now() + half_tick;
        while self.is_running() {
            {
                let mut g = self.ping_wait.0.lock();
                while self.is_running() && Instant::now() < next {
                    self.ping_wait.1.wait_until(&mut g, next);
                }
            }
            if !self.is_running() {
                break;
            }
            next += half_tick;
            let active: Vec<Arc<LearnerHandler>> = self.state.lock().active.values().cloned().collect();
            for h in active {
                h.ping();
            }
        }
    }

    /// stop: no more observers; the connected ones are dropped (they look
    /// for another master).
    pub fn stop(&self) {
        if !self.running.swap(false, Ordering::AcqRel) {
            return;
        }
        if let Some(l) = self.listener.lock().take() {
            // SAFETY: shutdown(2) on our own listening socket wakes accept().
            unsafe { libc::shutdown(l.as_raw_fd(), libc::SHUT_RDWR) };
        }
        self.ping_wait.1.notify_all();
        let handlers: Vec<Arc<LearnerHandler>> = self.handlers.lock().values().cloned().collect();
        for h in handlers {
            h.shutdown();
        }
        for t in std::mem::take(&mut *self.threads.lock()) {
            let _ = t.join();
        }
        self.revalidations.lock().clear();
    }

    /// proposalReceived: a PROPOSAL from the leader (om_proposal_process_time_ms).
    pub fn proposal_received(&self, entry: &TxnLogEntry) {
        let started = Instant::now();
        let txn = entry.to_bytes();
        self.state.lock().packets.proposal_received(entry.hdr.zxid, txn);
        crate::server::server_metrics::metrics().om_proposal_process_time.add(started.elapsed().as_millis() as i64);
    }

    /// proposalCommitted / informAndActivate: a COMMIT (or
    /// COMMITANDACTIVATE naming `designated`) from the leader goes to the
    /// synced observers and the cache (om_commit_process_time_ms).
    pub fn proposal_committed(&self, entry: &TxnLogEntry, designated: Option<i64>) {
        let started = Instant::now();
        {
            let mut s = self.state.lock();
            let p = s.packets.proposal_committed(entry, designated);
            for h in s.active.values() {
                h.queue_packet(p.clone());
            }
        }
        if designated.is_none() {
            crate::server::server_metrics::metrics().om_commit_process_time.add(started.elapsed().as_millis() as i64);
        }
    }

    /// revalidateLearnerSession: the leader's answer to a REVALIDATE; true
    /// if it answers the oldest one an observer sent (it is passed on to
    /// that observer, the session touched if it lives), false if it is the
    /// follower's own.
    pub fn revalidate_answered(&self, answer: &QuorumPacket) -> io::Result<bool> {
        let (session_id, valid) = qp::decode_revalidate_answer(answer.data.as_deref().unwrap_or(&[]))?;
        let r = {
            let mut pending = self.revalidations.lock();
            match pending.front() {
                Some(r) if r.session_id == session_id => pending.pop_front(),
                _ => return Ok(false),
            }
        };
        if let Some(r) = r {
            if let Some(h) = r.handler.upgrade() {
                h.queue_packet(answer.clone());
            }
            if valid {
                self.touch(r.session_id, r.timeout);
            }
        }
        Ok(true)
    }

    /// The leader's SYNC for an observer's sync: answered on its connection.
    pub fn sync_answered(&self, handler: u64) {
        match self.handlers.lock().get(&handler) {
            Some(h) => h.queue_packet(packet(qp::SYNC, 0, None)),
            None => debug!("The observer connection {handler} that asked for a sync is gone"),
        }
    }

    /// The synced observers (getActiveObservers).
    pub fn observers(&self) -> Vec<Arc<LearnerHandler>> {
        self.state.lock().active.values().cloned().collect()
    }

    /// getNumActiveObservers: mntr's synced_observers on a follower.
    pub fn synced_observers(&self) -> usize {
        self.state.lock().active.len()
    }

    /// startForwarding: the cached commits after `last_seen` go to the
    /// observer, which from now on gets every commit; an observer the
    /// cache does not reach back to is dropped.
    fn start_forwarding(&self, h: &Arc<LearnerHandler>, last_seen: i64) -> io::Result<()> {
        let mut s = self.state.lock();
        match s.packets.catch_up(last_seen) {
            Err(head) => {
                error!(
                    "LearnerHandler is too far behind (0x{:x} < 0x{head:x}), disconnecting {} at {}",
                    last_seen + 1,
                    h.sid(),
                    h.remote_address()
                );
                Err(io::Error::other("the observer is behind the ObserverMaster's cache"))
            }
            Ok(packets) => {
                if let (Some(first), Some(last)) = (packets.first(), packets.last()) {
                    info!(
                        "finished syncing observer from retained commit queue: sid {}, queue head 0x{:x}, queue tail 0x{:x}, \
                         sync position 0x{last_seen:x}, num packets used {}, num bytes used {}",
                        h.sid(),
                        first.zxid,
                        last.zxid,
                        packets.len(),
                        packets.iter().map(packet_size).sum::<i64>()
                    );
                }
                for p in packets {
                    h.queue_packet(p);
                }
                s.active.insert(h.id(), Arc::clone(h));
                Ok(())
            }
        }
    }
}

impl LearnerMaster for ObserverMaster {
    fn peer(&self) -> &Arc<QuorumPeer> {
        &self.peer
    }

    fn is_running(&self) -> bool {
        self.running.load(Ordering::Acquire) && self.peer.is_running()
    }

    fn last_proposed(&self) -> i64 {
        self.state.lock().packets.last_sent()
    }

    /// NEWLEADER carries the last seen configuration.
    fn quorum_verifier_bytes(&self) -> Vec<u8> {
        self.peer.last_seen_quorum_verifier().config_string().into_bytes()
    }

    fn next_anonymous_sid(&self) -> i64 {
        self.follower_counter.fetch_sub(1, Ordering::AcqRel)
    }

    fn add_learner_handler(&self, h: &Arc<LearnerHandler>) {
        if !self.is_running() {
            warn!("ObserverMaster is not running: closing the connection from {}", h.remote_address());
            h.shutdown();
            return;
        }
        self.handlers.lock().insert(h.id(), Arc::clone(h));
    }

    fn remove_learner_handler(&self, h: &LearnerHandler) {
        self.handlers.lock().remove(&h.id());
        self.state.lock().active.remove(&h.id());
    }

    fn handshake_done(&self, id: u64) {
        self.handshakes.done(id);
    }

    /// Only observers sync from an ObserverMaster.
    fn identify_learner(&self, h: &LearnerHandler) -> io::Result<()> {
        if h.is_observer() {
            Ok(())
        } else {
            Err(io::Error::other(format!("Non observer attempting to connect to ObserverMaster. type = {}", qp::FOLLOWERINFO)))
        }
    }

    /// The follower's own epoch: it is already established.
    fn get_epoch_to_propose(&self, _sid: i64, _last_accepted_epoch: i64) -> io::Result<i64> {
        Ok(self.peer.current_epoch())
    }

    fn wait_for_epoch_ack(&self, _sid: i64, _epoch: i64, _last_zxid: i64) -> io::Result<()> {
        Ok(())
    }

    fn sync_learner(&self, h: &Arc<LearnerHandler>, peer_last_zxid: i64) -> io::Result<SyncPlan> {
        sync_from_database(&self.peer, h, peer_last_zxid, |current_zxid| self.start_forwarding(h, current_zxid))
    }

    fn wait_for_new_leader_ack(&self, _sid: i64, _zxid: i64) -> io::Result<()> {
        Ok(())
    }

    fn wait_for_startup(&self) -> io::Result<()> {
        Ok(())
    }

    fn send_up_to_date(&self, h: &LearnerHandler) {
        h.queue_packet(packet(qp::UPTODATE, -1, None));
    }

    fn heard_from(&self, _h: &LearnerHandler) {}

    /// Observers acknowledge only NEWLEADER and UPTODATE (a new epoch's
    /// zxid); anything else is a confused peer, ignored.
    fn process_ack(&self, sid: i64, zxid: i64, _from: Option<SocketAddr>) {
        if qp::counter_of(zxid) != 0 {
            warn!("Observers shouldn't send ACKS ack = 0x{zxid:x} (from {sid}): ignored");
        }
    }

    /// An observer's session touches join the follower's own for the
    /// leader.
    fn touch(&self, session_id: i64, timeout: i32) {
        self.tracker.touch_session(session_id, timeout);
    }

    /// Forwarded to the leader; the answer comes back through
    /// `revalidate_answered`.
    fn revalidate_session(&self, h: &LearnerHandler, qp: QuorumPacket, session_id: i64, timeout: i32) {
        let Some(h) = self.handlers.lock().get(&h.id()).map(Arc::downgrade) else { return };
        let mut pending = self.revalidations.lock();
        pending.push_back(Revalidation { session_id, timeout, handler: h });
        // A failed write closes the socket to the leader and ends the role.
        let _ = self.learner.write_packet(&qp, true);
    }

    /// An observer's request enters the follower's chain past the session
    /// upgrade (the observer did that).
    fn submit_learner_request(&self, req: Request) {
        if let Some(role) = self.role.upgrade() {
            role.process_observer_request(req);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jute::txn::{SetDataTxn, TxnBody, TxnHeader};

    const E: i64 = 0x1_0000_0000;

    fn entry(zxid: i64) -> TxnLogEntry {
        TxnLogEntry {
            hdr: TxnHeader { client_id: 1, cxid: 1, zxid, time: 0, r#type: crate::zoo_defs::op_code::SET_DATA },
            txn: Some(TxnBody::SetData(SetDataTxn { path: "/a".into(), data: Some(vec![7; 10]), version: 1 })),
            digest: None,
        }
    }

    fn zxids(v: &[QuorumPacket]) -> Vec<i64> {
        v.iter().map(|p| p.zxid).collect()
    }

    #[test]
    fn a_commit_becomes_the_proposals_inform() {
        let mut c = CommittedPackets::new(1 << 20);
        c.proposal_received(E + 1, b"txn-1".to_vec());
        let p = c.proposal_committed(&entry(E + 1), None);
        assert_eq!((p.r#type, p.zxid, p.data.as_deref()), (qp::INFORM, E + 1, Some(&b"txn-1"[..])));
        assert_eq!(c.last_sent(), E + 1);
        // Committed without a kept proposal (it came during the sync):
        // made from the txn itself.
        let p = c.proposal_committed(&entry(E + 2), None);
        assert_eq!(p.data, Some(entry(E + 2).to_bytes()));
        // A reconfiguration names the designated leader first.
        c.proposal_received(E + 3, b"cfg".to_vec());
        let p = c.proposal_committed(&entry(E + 3), Some(2));
        assert_eq!(p.r#type, qp::INFORMANDACTIVATE);
        assert_eq!(p.data.as_deref(), Some(&[0, 0, 0, 0, 0, 0, 0, 2, b'c', b'f', b'g'][..]));
    }

    #[test]
    fn an_observer_is_caught_up_from_the_cache_or_dropped() {
        let mut c = CommittedPackets::new(1 << 20);
        assert_eq!(c.catch_up(E + 5), Ok(vec![]), "an empty cache has nothing to send");
        for z in 1..=5 {
            c.proposal_received(E + z, vec![0; 10]);
            c.proposal_committed(&entry(E + z), None);
        }
        assert_eq!(zxids(&c.catch_up(E + 3).unwrap()), vec![E + 4, E + 5]);
        assert_eq!(zxids(&c.catch_up(E).unwrap()), (1..=5).map(|z| E + z).collect::<Vec<_>>());
        assert_eq!(c.catch_up(E + 5), Ok(vec![]));
        // Synced to before the cache's head: dropped.
        let mut c2 = CommittedPackets::new(1 << 20);
        c2.proposal_committed(&entry(E + 7), None);
        assert_eq!(c2.catch_up(E + 5), Err(E + 7));
        assert_eq!(zxids(&c2.catch_up(E + 6).unwrap()), vec![E + 7]);
    }

    #[test]
    fn the_cache_keeps_to_its_size_limit() {
        // Each INFORM is 28 + 20 bytes: room for four, trimmed from 80%.
        let mut c = CommittedPackets::new(4 * 48);
        for z in 1..=20 {
            c.proposal_received(E + z, vec![0; 20]);
            c.proposal_committed(&entry(E + z), None);
            assert!(c.cached_bytes() <= 4 * 48, "{} bytes cached", c.cached_bytes());
        }
        let kept = c.catch_up(E + 19).unwrap();
        assert_eq!(zxids(&kept), vec![E + 20]);
        assert!(c.catch_up(E + 10).is_err(), "the oldest are gone");
        // A limit below one packet keeps nothing.
        let mut tiny = CommittedPackets::new(10);
        tiny.proposal_committed(&entry(E + 1), None);
        assert_eq!(tiny.cached_bytes(), 0);
        assert_eq!(tiny.catch_up(E), Err(E + 1), "what was sent is not cached");
        assert_eq!(tiny.catch_up(E + 1), Ok(vec![]));
    }

    #[test]
    fn proposals_left_uncommitted_are_dropped() {
        let mut c = CommittedPackets::new(1 << 20);
        c.proposal_received(E + 1, b"one".to_vec());
        c.proposal_received(E + 2, b"two".to_vec());
        let p = c.proposal_committed(&entry(E + 2), None);
        assert_eq!(p.data.as_deref(), Some(&b"two"[..]));
        assert!(c.proposed.is_empty());
    }
}
