//! LearnerHandler: the leader's side of one follower or observer (or a
//! follower's ObserverMaster's side of one observer: `LearnerMaster` is
//! whichever it serves). Its
//! thread ("LearnerHandler-/ip:port") reads the learner's socket: the
//! FOLLOWERINFO/OBSERVERINFO handshake and the epoch negotiation
//! (LEADERINFO, ACKEPOCH), the sync decision (DIFF from the committed log or
//! the txn log, TRUNC, or SNAP streamed from the tree), the NEWLEADER ack,
//! then ACKs, PINGs with session touches, REVALIDATEs and forwarded
//! REQUESTs. Each handshake packet (FOLLOWERINFO/OBSERVERINFO, ACKEPOCH,
//! the NEWLEADER ack) must arrive whole within initLimit ticks, however
//! slowly its bytes come (Java's initLimit socket timeout alone restarts
//! with every byte), and until the NEWLEADER ack a write that makes no
//! progress for initLimit ticks fails (Java has no write timeout). A
//! second thread ("Sender-/ip:port") drains the handler's packet queue to
//! the socket, flushing whenever the queue runs dry.

use crate::common::deadline_reader::DeadlineReader;
use crate::jute::records::QuorumPacket;
use crate::jute::txn::TxnLogEntry;
use crate::quorum::learner_master::LearnerMaster;
use crate::quorum::quorum_packet::{self as qp, epoch_of, packet, packet_to_string, read_packet, write_packet};
use crate::quorum::quorum_peer_config::LearnerType;
use crate::server::request::{Request, RequestOwner};
use crate::server::session_tracker::SessionOwner;
use crate::zoo_defs::op_code;
use byteorder::{BigEndian, ByteOrder};
use crossbeam_channel::{unbounded, Receiver, Sender};
use parking_lot::Mutex;
use std::io::{self, BufReader, BufWriter, Write};
use crate::quorum::unified_server_socket::UnifiedSocket;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{debug, error, info, warn};

/// The string a streamed snapshot ends with (Java's "signature").
const SNAP_SIGNATURE: &str = "BenWasHere";

/// Java's LearnerHandler.markerPacketInterval.
const MARKER_PACKET_INTERVAL: u64 = 1000;

static SNAPS_IN_FLIGHT: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
static DIFFS_IN_FLIGHT: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// One learner sync counted in flight (mntr's inflight_snap_count and
/// inflight_diff_count) until dropped; holds the count it started at.
/// LearnerSyncThrottler: an observer's sync is refused (its handler ends)
/// when `max` syncs of its kind are in flight; a follower's is never
/// refused, but counts.
struct InFlightSync(i64, &'static std::sync::atomic::AtomicI64);

impl InFlightSync {
    fn begin(counter: &'static std::sync::atomic::AtomicI64, exempt: bool, max: i32, kind: &str) -> io::Result<InFlightSync> {
        use std::sync::atomic::Ordering::Relaxed;
        match counter.fetch_update(Relaxed, Relaxed, |n| (exempt || n < i64::from(max)).then_some(n + 1)) {
            Ok(n) => Ok(InFlightSync(n + 1, counter)),
            Err(n) => Err(io::Error::other(format!(
                "too many concurrent {kind} syncs: {} would exceed the maximum {max}",
                n + 1
            ))),
        }
    }
}

impl Drop for InFlightSync {
    fn drop(&mut self) {
        self.1.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// What the learner's sync needs, decided by `plan_sync`.
#[derive(Debug, PartialEq)]
pub struct SyncPlan {
    /// Packets to queue before NEWLEADER (DIFF or TRUNC, then proposals and
    /// their commits).
    pub packets: Vec<QuorumPacket>,
    /// Whether a snapshot must be streamed instead.
    pub need_snap: bool,
    /// The newest zxid the learner will have once the queued packets are
    /// applied: forwarding of live proposals starts after it.
    pub current_zxid: i64,
}

impl SyncPlan {
    /// Simulator mutation: the DIFF leaves out its first txn (the PROPOSAL
    /// and its COMMIT), so the learner's history has a hole the leader
    /// believes it filled.
    #[cfg(any(test, feature = "simulation"))]
    pub fn mutate_skip_a_txn_in_diff(&mut self) {
        let Some(i) = self.packets.iter().position(|p| p.r#type == qp::PROPOSAL) else {
            return;
        };
        let zxid = self.packets.remove(i).zxid;
        if let Some(j) = self.packets.iter().position(|p| p.r#type == qp::COMMIT && p.zxid == zxid) {
            self.packets.remove(j);
        }
    }
}

/// The committed history a sync is planned from.
pub struct History<'a> {
    /// The committedLog, oldest first.
    pub committed: &'a [TxnLogEntry],
    /// The database's last applied zxid.
    pub last_processed_zxid: i64,
}

/// Builds the packets of a DIFF/TRUNC sync as LearnerHandler.syncFollower
/// and queueCommittedProposals decide it.
struct Planner {
    packets: Vec<QuorumPacket>,
    need_op_packet: bool,
}

impl Planner {
    fn op(&mut self, r#type: i32, zxid: i64) {
        self.packets.push(packet(r#type, zxid, None));
    }

    /// Queues the proposals of `entries` after `peer_last_zxid` (up to
    /// `max_zxid` when given), each followed by its COMMIT, preceded by the
    /// DIFF or TRUNC the first one calls for. Returns the last queued zxid;
    /// `None` when the learner's history forks from ours across an epoch
    /// (only a snapshot can fix that).
    fn queue_committed<'e>(
        &mut self,
        entries: impl Iterator<Item = &'e TxnLogEntry>,
        peer_last_zxid: i64,
        max_zxid: Option<i64>,
        last_committed_zxid: i64,
        sid: i64,
    ) -> Option<i64> {
        let peer_new_epoch = qp::counter_of(peer_last_zxid) == 0;
        let mut queued = peer_last_zxid;
        let mut prev = -1;
        for e in entries {
            let z = e.hdr.zxid;
            if max_zxid.is_some_and(|m| z > m) {
                break;
            }
            if z < peer_last_zxid {
                prev = z;
                continue;
            }
            if self.need_op_packet {
                if z == peer_last_zxid {
                    info!("Sending DIFF zxid=0x{:x}  for peer sid: {sid}", last_committed_zxid);
                    self.op(qp::DIFF, last_committed_zxid);
                    self.need_op_packet = false;
                    continue;
                }
                if peer_new_epoch {
                    info!("Sending DIFF zxid=0x{:x}  for peer sid: {sid}", last_committed_zxid);
                    self.op(qp::DIFF, last_committed_zxid);
                    self.need_op_packet = false;
                } else if z > peer_last_zxid {
                    // The learner has txns we never saw (it may have led):
                    // cut it back to the last one we share, within its epoch.
                    if epoch_of(z) != epoch_of(peer_last_zxid) {
                        warn!("Cannot send TRUNC to peer sid: {sid} peer zxid is from different epoch");
                        return None;
                    }
                    info!("Sending TRUNC zxid=0x{:x}  for peer sid: {sid}", prev);
                    self.op(qp::TRUNC, prev);
                    self.need_op_packet = false;
                }
            }
            if z <= queued {
                continue;
            }
            self.packets.push(packet(qp::PROPOSAL, z, Some(e.to_bytes())));
            self.op(qp::COMMIT, z);
            queued = z;
        }
        if self.need_op_packet && peer_new_epoch {
            info!("Sending DIFF zxid=0x{:x}  for peer sid: {sid}", last_committed_zxid);
            self.op(qp::DIFF, last_committed_zxid);
            self.need_op_packet = false;
        }
        Some(queued)
    }
}

/// The sync decision for a learner at `peer_last_zxid`. `txn_log` gives the
/// logged txns from that zxid on (the leader reads them from disk before it
/// plans, under no lock), asked for only when the committedLog does not
/// reach back far enough (`None`: the log does not either, or it is too big
/// to send).
pub fn plan_sync(
    sid: i64,
    peer_last_zxid: i64,
    history: &History<'_>,
    txn_log: impl FnOnce(i64) -> Option<Vec<TxnLogEntry>>,
) -> SyncPlan {
    let last_processed = history.last_processed_zxid;
    let (min_committed, max_committed) = match (history.committed.first(), history.committed.last()) {
        (Some(a), Some(b)) => (a.hdr.zxid, b.hdr.zxid),
        _ => (last_processed, last_processed),
    };
    info!(
        "Synchronizing with Learner sid: {sid} maxCommittedLog=0x{max_committed:x} minCommittedLog=0x{min_committed:x} \
         lastProcessedZxid=0x{last_processed:x} peerLastZxid=0x{peer_last_zxid:x}"
    );
    let peer_new_epoch = qp::counter_of(peer_last_zxid) == 0;
    let mut p = Planner { packets: Vec::new(), need_op_packet: true };
    let mut current = peer_last_zxid;
    let mut need_snap = true;
    if last_processed == peer_last_zxid {
        info!("Sending DIFF zxid=0x{peer_last_zxid:x} for peer sid: {sid}");
        p.op(qp::DIFF, peer_last_zxid);
        p.need_op_packet = false;
        need_snap = false;
    } else if peer_last_zxid > max_committed && !peer_new_epoch {
        debug!("Sending TRUNC to follower zxidToSend=0x{max_committed:x} for peer sid:{sid}");
        p.op(qp::TRUNC, max_committed);
        p.need_op_packet = false;
        current = max_committed;
        need_snap = false;
    } else if max_committed >= peer_last_zxid && min_committed <= peer_last_zxid {
        info!("Using committedLog for peer sid: {sid}");
        if let Some(q) = p.queue_committed(history.committed.iter(), peer_last_zxid, None, max_committed, sid) {
            current = q;
            need_snap = false;
        }
    } else if peer_last_zxid < min_committed {
        if let Some(from_log) = txn_log(peer_last_zxid) {
            if !from_log.is_empty() {
                info!("Use txnlog and committedLog for peer sid: {sid}");
                match p.queue_committed(from_log.iter(), peer_last_zxid, Some(min_committed), max_committed, sid) {
                    Some(q) if q >= min_committed => {
                        if let Some(q) = p.queue_committed(history.committed.iter(), q, None, max_committed, sid) {
                            current = q;
                            need_snap = false;
                        }
                    }
                    Some(q) => {
                        info!(
                            "Detected gap between end of txnlog: 0x{q:x} and start of committedLog: 0x{min_committed:x}"
                        );
                        p.packets.clear();
                        p.need_op_packet = true;
                    }
                    None => {}
                }
            }
        }
    } else {
        warn!(
            "Unhandled scenario for peer sid: {sid} maxCommittedLog=0x{max_committed:x} minCommittedLog=0x{min_committed:x} \
             lastProcessedZxid=0x{last_processed:x} peerLastZxid=0x{peer_last_zxid:x}"
        );
    }
    if !need_snap && p.need_op_packet {
        error!("Unhandled scenario for peer sid: {sid} fall back to use snapshot");
        need_snap = true;
    }
    if need_snap {
        p.packets.clear();
        current = last_processed;
    }
    SyncPlan { packets: p.packets, need_snap, current_zxid: current }
}

/// SyncLimitCheck: the age of the oldest proposal the learner has not
/// acknowledged (two are tracked, as in Java).
#[derive(Default)]
struct SyncLimitCheck {
    started: bool,
    current: Option<(i64, Instant)>,
    next: Option<(i64, Instant)>,
}

impl SyncLimitCheck {
    fn update_proposal(&mut self, zxid: i64, at: Instant) {
        if !self.started {
            return;
        }
        if self.current.is_none() {
            self.current = Some((zxid, at));
        } else {
            self.next = Some((zxid, at));
        }
    }

    fn update_ack(&mut self, zxid: i64) {
        match (self.current, self.next) {
            (Some((c, _)), _) if c == zxid => {
                self.current = self.next.take();
            }
            (Some((c, _)), Some((n, _))) if n == zxid => {
                warn!("ACK for 0x{zxid:x} received before ACK for 0x{c:x}");
                self.next = None;
            }
            _ => {}
        }
    }

    /// False once the oldest unacknowledged proposal is older than `limit`.
    fn check(&self, now: Instant, limit: Duration) -> bool {
        match self.current {
            None => true,
            Some((_, at)) => now.duration_since(at) < limit,
        }
    }
}

/// The leader's handle on one learner.
pub struct LearnerHandler {
    /// This connection's serial number: its name in the leader's core and
    /// as a session owner.
    id: u64,
    leader: Arc<dyn LearnerMaster>,
    sock: TcpStream,
    remote: SocketAddr,
    sid: AtomicI64,
    /// The learner's protocol version (0x10000 for 3.4 and later).
    version: AtomicI32,
    observer: AtomicBool,
    queue: Sender<Option<QuorumPacket>>,
    queue_rx: Mutex<Option<Receiver<Option<QuorumPacket>>>>,
    sending_started: AtomicBool,
    alive: AtomicBool,
    sync_limit_check: Mutex<SyncLimitCheck>,
    packets_received: AtomicU64,
    packets_sent: AtomicU64,
    requests_received: AtomicU64,
    /// The approximate bytes of the packets queued for the sender
    /// (queuedPacketsSize, by Java's packetSize).
    queued_bytes: AtomicI64,
    /// The zxid of the last packet sent that had one (-1: none since the
    /// stats were reset).
    last_zxid: AtomicI64,
    /// When the connection was accepted, ms since the epoch.
    established_ms: i64,
    /// Packets queued for the sender, and the marker: every 1000th one's
    /// number and queueing time, for learner_handler_qp_time_ms (Java
    /// queues a MarkerQuorumPacket every 1000 packets).
    packets_queued: AtomicU64,
    /// The marked packet's number (u64::MAX: none) and when it was queued.
    marker_at: AtomicU64,
    marker_time: Mutex<Option<Instant>>,
    /// This connection as the owner of the sessions it revalidates and
    /// forwards requests for.
    session_owner: SessionOwner,
    /// The leader's id for this socket until its first packet arrives.
    handshake_id: u64,
}

/// Serial numbers of LearnerHandlers, so that each learner connection is
/// a session owner of its own.
static NEXT_HANDLER_SERIAL: AtomicU64 = AtomicU64::new(1);

impl LearnerHandler {
    /// Takes over an accepted learner socket and starts its thread.
    /// `handshake_id` is the leader's id for the socket until its first
    /// packet arrives.
    pub fn start(leader: Arc<dyn LearnerMaster>, sock: TcpStream, handshake_id: u64) -> io::Result<Arc<LearnerHandler>> {
        let remote = crate::common::net_utils::canonical(sock.peer_addr()?);
        let (tx, rx) = unbounded();
        let id = NEXT_HANDLER_SERIAL.fetch_add(1, Ordering::Relaxed);
        let h = Arc::new(LearnerHandler {
            id,
            leader,
            sock,
            remote,
            sid: AtomicI64::new(-1),
            version: AtomicI32::new(1),
            observer: AtomicBool::new(false),
            queue: tx,
            queue_rx: Mutex::new(Some(rx)),
            sending_started: AtomicBool::new(false),
            alive: AtomicBool::new(true),
            sync_limit_check: Mutex::new(SyncLimitCheck::default()),
            packets_received: AtomicU64::new(0),
            packets_sent: AtomicU64::new(0),
            requests_received: AtomicU64::new(0),
            queued_bytes: AtomicI64::new(0),
            last_zxid: AtomicI64::new(-1),
            established_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
            packets_queued: AtomicU64::new(0),
            marker_at: AtomicU64::new(u64::MAX),
            marker_time: Mutex::new(None),
            session_owner: SessionOwner::Learner(id),
            handshake_id,
        });
        let runner = Arc::clone(&h);
        crate::server::zoo_keeper_critical_thread::spawn(format!("LearnerHandler-{}", crate::common::net_utils::java_socket_address(remote)), move || runner.run())?;
        Ok(h)
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn sid(&self) -> i64 {
        self.sid.load(Ordering::Acquire)
    }

    pub fn is_observer(&self) -> bool {
        self.observer.load(Ordering::Acquire)
    }

    pub fn learner_type(&self) -> LearnerType {
        if self.is_observer() {
            LearnerType::Observer
        } else {
            LearnerType::Participant
        }
    }

    /// This connection as the owner of the sessions it revalidates and
    /// forwards requests for.
    pub fn session_owner(&self) -> SessionOwner {
        self.session_owner
    }

    pub fn remote_address(&self) -> SocketAddr {
        self.remote
    }

    pub fn packets_received(&self) -> u64 {
        self.packets_received.load(Ordering::Relaxed)
    }

    pub fn packets_sent(&self) -> u64 {
        self.packets_sent.load(Ordering::Relaxed)
    }

    pub fn requests_received(&self) -> u64 {
        self.requests_received.load(Ordering::Relaxed)
    }

    /// When the learner connected, ms since the epoch.
    pub fn established_ms(&self) -> i64 {
        self.established_ms
    }

    /// Packets waiting for the sender thread.
    pub fn queued_packets(&self) -> usize {
        self.queue.len()
    }

    /// Their approximate size in bytes.
    pub fn queued_packets_size(&self) -> i64 {
        self.queued_bytes.load(Ordering::Relaxed)
    }

    /// The zxid of the last packet sent with one, -1 when none has been
    /// since the connection began or its stats were reset.
    pub fn last_zxid(&self) -> i64 {
        self.last_zxid.load(Ordering::Relaxed)
    }

    /// resetObserverConnectionStats: the packet and request counts start
    /// again from zero.
    pub fn reset_stats(&self) {
        self.packets_received.store(0, Ordering::Relaxed);
        self.packets_sent.store(0, Ordering::Relaxed);
        self.requests_received.store(0, Ordering::Relaxed);
        self.last_zxid.store(-1, Ordering::Relaxed);
    }

    /// Queues a packet for the sender thread.
    pub fn queue_packet(&self, p: QuorumPacket) {
        let n = self.packets_queued.fetch_add(1, Ordering::Relaxed);
        if n % MARKER_PACKET_INTERVAL == 0 && self.marker_at.load(Ordering::Acquire) == u64::MAX {
            *self.marker_time.lock() = Some(Instant::now());
            self.marker_at.store(n, Ordering::Release);
        }
        self.queued_bytes.fetch_add(packet_size(&p), Ordering::Relaxed);
        let _ = self.queue.send(Some(p));
    }

    /// The leader's half-tick PING (none before the learner is synced); a
    /// learner sitting on a proposal past syncLimit is dropped.
    pub fn ping(&self) {
        if !self.sending_started.load(Ordering::Acquire) {
            return;
        }
        let ok = self.sync_limit_check.lock().check(Instant::now(), self.leader.sync_timeout());
        if ok {
            self.queue_packet(packet(qp::PING, self.leader.last_proposed(), None));
        } else {
            warn!("Closing connection to peer due to transaction timeout.");
            self.shutdown();
        }
    }

    /// Stops the sender (the packet of death), closes the socket and
    /// leaves the leader's lists.
    pub fn shutdown(&self) {
        let _ = self.queue.send(None);
        self.alive.store(false, Ordering::Release);
        self.close_socket();
        self.leader.remove_learner_handler(self);
    }

    fn close_socket(&self) {
        crate::quorum::learner::close_socket(&self.sock, self.leader.settings().close_socket_async, self.sid());
    }

    fn run(self: Arc<Self>) {
        self.leader.add_learner_handler(&self);
        if let Err(e) = self.serve() {
            if self.leader.is_running() {
                error!("Unexpected exception in LearnerHandler: {e}");
            }
        }
        warn!("******* GOODBYE /{} ********", self.remote);
        self.leader.handshake_done(self.handshake_id);
        self.shutdown();
    }

    fn serve(self: &Arc<Self>) -> io::Result<()> {
        let leader = Arc::clone(&self.leader);
        self.sock.set_read_timeout(Some(leader.init_timeout()))?;
        // A learner that stops reading (during a SNAP most of all, which
        // this thread writes) is given up after initLimit without progress.
        self.sock.set_write_timeout(Some(leader.init_timeout()))?;
        let _ = self.sock.set_nodelay(leader.settings().nodelay);
        // sslQuorum: the TLS handshake (or, with portUnification, the
        // check for one) first, on this thread as Java's UnifiedSocket.
        let sock = match self.sock.try_clone().and_then(|t| leader.quorum_ssl().accept(t)) {
            Ok(s) => s,
            Err(e) => {
                error!("Failed the TLS handshake of the quorum connection from {}, closing it: {e}", self.remote);
                return Ok(());
            }
        };
        // The learner authenticates first (quorum SASL), within initLimit.
        if let Err(e) = leader.quorum_auth().authenticate_server(&sock, leader.init_timeout()) {
            error!("Server failed to authenticate quorum learner, addr: {}, closing connection: {e}", self.remote);
            return Ok(());
        }
        let handshake_deadline = || Some(Instant::now() + leader.init_timeout());
        let mut input = BufReader::new(DeadlineReader::new(sock.try_clone()?, handshake_deadline()));
        let mut out = BufWriter::new(sock);

        let first = read_packet(&mut input);
        leader.handshake_done(self.handshake_id);
        let first = first?;
        if first.r#type != qp::FOLLOWERINFO && first.r#type != qp::OBSERVERINFO {
            error!("First packet {} is not FOLLOWERINFO or OBSERVERINFO!", packet_to_string(&first));
            return Ok(());
        }
        match first.data.as_deref() {
            Some(d) => {
                let (sid, version, config_version) = qp::decode_learner_info(d);
                if let Some(sid) = sid {
                    self.sid.store(sid, Ordering::Release);
                }
                if let Some(version) = version {
                    self.version.store(version, Ordering::Release);
                }
                if let Some(config_version) = config_version {
                    if config_version > leader.quorum_verifier_version() {
                        return Err(io::Error::other(
                            "Follower is ahead of the leader (has a later activated configuration)",
                        ));
                    }
                }
            }
            None => self.sid.store(leader.next_anonymous_sid(), Ordering::Release),
        }
        let sid = self.sid();
        match leader.peer_info(sid) {
            Some(info) => info!("Follower sid: {sid} : info : {info}"),
            None => info!("Follower sid: {sid} not in the current config {:x}", leader.quorum_verifier_version()),
        }
        if first.r#type == qp::OBSERVERINFO {
            self.observer.store(true, Ordering::Release);
        }
        leader.identify_learner(self)?;

        let last_accepted_epoch = epoch_of(first.zxid);
        let new_epoch = leader.get_epoch_to_propose(sid, last_accepted_epoch)?;
        let new_leader_zxid = qp::make_zxid(new_epoch, 0);
        let version = self.version.load(Ordering::Acquire);
        let (peer_epoch, peer_last_zxid) = if version < qp::PROTOCOL_VERSION {
            (epoch_of(first.zxid), first.zxid)
        } else {
            let mut ver = [0u8; 4];
            BigEndian::write_i32(&mut ver, qp::PROTOCOL_VERSION);
            write_packet(&mut out, &packet(qp::LEADERINFO, new_leader_zxid, Some(ver.to_vec())))?;
            out.flush()?;
            input.get_mut().set_deadline(handshake_deadline());
            let ack = read_packet(&mut input)?;
            if ack.r#type != qp::ACKEPOCH {
                error!("{} is not ACKEPOCH", packet_to_string(&ack));
                return Ok(());
            }
            let epoch = qp::decode_ack_epoch(ack.data.as_deref())?;
            (epoch, ack.zxid)
        };
        leader.wait_for_epoch_ack(sid, peer_epoch, peer_last_zxid)?;

        let plan = leader.sync_learner(self, peer_last_zxid)?;
        let m = crate::server::server_metrics::metrics();
        // LearnerSyncThrottler's syncs in progress, sampled as each starts;
        // the guard counts this one until the handshake is over.
        let exempt = !self.is_observer();
        let limits = leader.settings();
        let in_flight = if plan.need_snap {
            let guard = InFlightSync::begin(&SNAPS_IN_FLIGHT, exempt, limits.max_concurrent_snap_syncs, "snapshot")?;
            m.snap_count.inc();
            m.inflight_snap_count.add(guard.0);
            Some(guard)
        } else if plan.packets.first().map(|p| p.r#type) == Some(qp::DIFF) {
            let guard = InFlightSync::begin(&DIFFS_IN_FLIGHT, exempt, limits.max_concurrent_diff_syncs, "diff")?;
            m.diff_count.inc();
            m.inflight_diff_count.add(guard.0);
            Some(guard)
        } else {
            None
        };
        if plan.need_snap {
            let zxid_to_send = leader.last_processed_zxid();
            write_packet(&mut out, &packet(qp::SNAP, zxid_to_send, None))?;
            out.flush()?;
            info!(
                "Sending snapshot last zxid of peer is 0x{peer_last_zxid:x}, zxid of leader is 0x{:x}, send zxid of db as 0x{zxid_to_send:x}",
                leader.last_proposed()
            );
            leader.serialize_snapshot(&mut out)?;
            let mut sig = crate::jute::OutputArchive::with_capacity(16);
            sig.write_string(SNAP_SIGNATURE);
            out.write_all(sig.as_slice())?;
            out.flush()?;
        }

        debug!("Sending NEWLEADER message to {sid}");
        if version < qp::PROTOCOL_VERSION {
            write_packet(&mut out, &packet(qp::NEWLEADER, new_leader_zxid, None))?;
        } else {
            self.queue_packet(packet(qp::NEWLEADER, new_leader_zxid, Some(leader.quorum_verifier_bytes())));
        }
        out.flush()?;
        self.start_sending(out)?;

        input.get_mut().set_deadline(handshake_deadline());
        let ack = read_packet(&mut input)?;
        if ack.r#type != qp::ACK {
            error!("Next packet was supposed to be an ACK, but received packet: {}", packet_to_string(&ack));
            return Ok(());
        }
        debug!("Received NEWLEADER-ACK message from {sid}");
        leader.wait_for_new_leader_ack(sid, ack.zxid)?;
        self.sync_limit_check.lock().started = true;
        input.get_mut().set_deadline(None);
        self.sock.set_read_timeout(Some(leader.sync_timeout()))?;
        // From here on the pings' syncLimit check drops a learner that
        // stops reading, as in Java.
        self.sock.set_write_timeout(None)?;
        leader.wait_for_startup()?;
        debug!("Sending UPTODATE message to {sid}");
        leader.send_up_to_date(self);
        // The sync is over.
        drop(in_flight);

        loop {
            let p = read_packet(&mut input)?;
            leader.heard_from(self);
            self.packets_received.fetch_add(1, Ordering::Relaxed);
            match p.r#type {
                qp::ACK => {
                    if self.is_observer() {
                        debug!("Received ACK from Observer {sid}");
                    }
                    self.sync_limit_check.lock().update_ack(p.zxid);
                    leader.process_ack(sid, p.zxid, Some(self.remote));
                }
                qp::PING => {
                    // The learner's session touches: (id, timeout) pairs.
                    for (id, timeout) in qp::decode_session_touches(p.data.as_deref().unwrap_or_default()) {
                        leader.touch(id, timeout);
                    }
                }
                qp::REVALIDATE => {
                    let (id, timeout) = qp::decode_revalidate(p.data.as_deref().unwrap_or_default())?;
                    crate::server::server_metrics::metrics().revalidate_count.inc();
                    leader.revalidate_session(self, p, id, timeout);
                }
                qp::REQUEST => {
                    let (session_id, cxid, op, body) = qp::decode_request(p.data.as_deref().unwrap_or_default())?;
                    let mut req = Request::new(None, session_id, cxid, op, body.to_vec(), p.authinfo);
                    req.session_owner = self.session_owner;
                    if op == op_code::SYNC {
                        // A learner's sync is answered by this handler once
                        // the writes before it are committed.
                        req.owner = RequestOwner::LearnerSync(self.id);
                    }
                    leader.submit_learner_request(req);
                    self.requests_received.fetch_add(1, Ordering::Relaxed);
                }
                _ => warn!("unexpected quorum packet, type: {}", packet_to_string(&p)),
            }
        }
    }

    /// Starts the "Sender-" thread with the socket's write side.
    fn start_sending(self: &Arc<Self>, out: BufWriter<UnifiedSocket>) -> io::Result<()> {
        let Some(rx) = self.queue_rx.lock().take() else {
            error!("Attempting to start sending thread after it already started");
            return Ok(());
        };
        let me = Arc::clone(self);
        crate::server::zoo_keeper_critical_thread::spawn(format!("Sender-{}", crate::common::net_utils::java_socket_address(self.remote)), move || me.send_packets(rx, out))?;
        self.sending_started.store(true, Ordering::Release);
        Ok(())
    }

    fn send_packets(&self, rx: Receiver<Option<QuorumPacket>>, mut out: BufWriter<UnifiedSocket>) {
        let mut sid_key = (i64::MIN, String::new());
        let mut dequeued = 0u64;
        loop {
            let item = match rx.try_recv() {
                Ok(i) => i,
                Err(_) => {
                    if let Err(e) = out.flush() {
                        self.sender_failed(e);
                        return;
                    }
                    match rx.recv() {
                        Ok(i) => i,
                        Err(_) => return,
                    }
                }
            };
            let Some(p) = item else { return };
            // learner_handler_qp_size: the packets still queued behind this
            // one, per learner sid (known once FOLLOWERINFO arrived).
            let sid = self.sid();
            if sid != sid_key.0 {
                sid_key = (sid, sid.to_string());
            }
            let m = crate::server::server_metrics::metrics();
            m.learner_handler_qp_size.add(&sid_key.1, rx.len() as i64);
            if self.marker_at.load(Ordering::Acquire) == dequeued {
                if let Some(queued) = self.marker_time.lock().take() {
                    m.learner_handler_qp_time.add(&sid_key.1, queued.elapsed().as_millis() as i64);
                }
                self.marker_at.store(u64::MAX, Ordering::Release);
            }
            dequeued += 1;
            self.queued_bytes.fetch_sub(packet_size(&p), Ordering::Relaxed);
            if p.r#type == qp::PROPOSAL {
                self.sync_limit_check.lock().update_proposal(p.zxid, Instant::now());
            }
            if let Err(e) = write_packet(&mut out, &p) {
                self.sender_failed(e);
                return;
            }
            self.packets_sent.fetch_add(1, Ordering::Relaxed);
            if p.zxid > 0 {
                self.last_zxid.store(p.zxid, Ordering::Relaxed);
            }
        }
    }

    fn sender_failed(&self, e: io::Error) {
        if self.alive.load(Ordering::Acquire) {
            warn!("Exception when sending packets in LearnerHandler: {e}");
        }
        let _ = self.sock.shutdown(Shutdown::Both);
    }
}

/// A queued packet's approximate size, as Java's LearnerHandler.packetSize
/// counts it: the fixed fields and the data.
fn packet_size(p: &QuorumPacket) -> i64 {
    4 + 8 + 8 + 8 + p.data.as_ref().map_or(0, |d| d.len() as i64)
}

impl std::fmt::Debug for LearnerHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LearnerHandler sid:{} /{}", self.sid(), self.remote)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jute::txn::{TxnBody, TxnHeader};
    use crate::jute::txn::SetDataTxn;

    fn entry(zxid: i64) -> TxnLogEntry {
        TxnLogEntry {
            hdr: TxnHeader { client_id: 1, cxid: 1, zxid, time: 0, r#type: op_code::SET_DATA },
            txn: Some(TxnBody::SetData(SetDataTxn { path: "/a".into(), data: Some(vec![1]), version: 1 })),
            digest: None,
        }
    }

    fn kinds(p: &SyncPlan) -> Vec<(i32, i64)> {
        p.packets.iter().map(|p| (p.r#type, p.zxid)).collect()
    }

    const E: i64 = 0x1_0000_0000;

    #[test]
    fn in_sync_learner_gets_an_empty_diff() {
        let log: Vec<_> = (1..=5).map(|i| entry(E + i)).collect();
        let h = History { committed: &log, last_processed_zxid: E + 5 };
        let p = plan_sync(2, E + 5, &h, |_| panic!("no txn log needed"));
        assert_eq!(kinds(&p), vec![(qp::DIFF, E + 5)]);
        assert!(!p.need_snap);
        assert_eq!(p.current_zxid, E + 5);
    }

    #[test]
    fn mutation_skip_a_txn_in_diff_drops_one_proposal_and_its_commit() {
        let log: Vec<_> = (1..=5).map(|i| entry(E + i)).collect();
        let h = History { committed: &log, last_processed_zxid: E + 5 };
        let mut p = plan_sync(2, E + 3, &h, |_| None);
        p.mutate_skip_a_txn_in_diff();
        assert_eq!(kinds(&p), vec![(qp::DIFF, E + 5), (qp::PROPOSAL, E + 5), (qp::COMMIT, E + 5)]);
        assert_eq!(p.current_zxid, E + 5);
    }

    #[test]
    fn diff_from_the_committed_log() {
        let log: Vec<_> = (1..=5).map(|i| entry(E + i)).collect();
        let h = History { committed: &log, last_processed_zxid: E + 5 };
        let p = plan_sync(2, E + 3, &h, |_| None);
        assert_eq!(
            kinds(&p),
            vec![(qp::DIFF, E + 5), (qp::PROPOSAL, E + 4), (qp::COMMIT, E + 4), (qp::PROPOSAL, E + 5), (qp::COMMIT, E + 5)]
        );
        assert_eq!(p.current_zxid, E + 5);
        assert_eq!(TxnLogEntry::from_bytes(p.packets[1].data.as_deref().unwrap()).unwrap().hdr.zxid, E + 4);
    }

    #[test]
    fn learner_ahead_is_truncated() {
        let log: Vec<_> = (1..=5).map(|i| entry(E + i)).collect();
        let h = History { committed: &log, last_processed_zxid: E + 5 };
        let p = plan_sync(2, E + 9, &h, |_| None);
        assert_eq!(kinds(&p), vec![(qp::TRUNC, E + 5)]);
        assert_eq!(p.current_zxid, E + 5);
        // A fork inside our history: trunc to the last shared txn.
        let log2 = vec![entry(E + 1), entry(E + 2), entry(2 * E + 1)];
        let h = History { committed: &log2, last_processed_zxid: 2 * E + 1 };
        let p = plan_sync(2, E + 3, &h, |_| None);
        assert!(p.need_snap, "a fork across epochs needs a snapshot: {:?}", kinds(&p));
    }

    #[test]
    fn new_epoch_learner_gets_a_diff() {
        // The learner acked epoch 2 but has none of its txns; ours reach
        // back into epoch 1.
        let log = vec![entry(E + 1), entry(E + 2), entry(2 * E + 1), entry(2 * E + 2), entry(2 * E + 3)];
        let h = History { committed: &log, last_processed_zxid: 2 * E + 3 };
        let p = plan_sync(2, 2 * E, &h, |_| None);
        assert!(!p.need_snap);
        assert_eq!(kinds(&p)[0], (qp::DIFF, 2 * E + 3));
        assert_eq!(p.packets.len(), 7);
        assert_eq!(p.current_zxid, 2 * E + 3);
    }

    #[test]
    fn older_learner_uses_the_txn_log_or_a_snapshot() {
        let log: Vec<_> = (10..=12).map(|i| entry(E + i)).collect();
        let h = History { committed: &log, last_processed_zxid: E + 12 };
        let disk: Vec<_> = (5..=12).map(|i| entry(E + i)).collect();
        let p = plan_sync(2, E + 5, &h, |from| {
            assert_eq!(from, E + 5);
            Some(disk.clone())
        });
        assert!(!p.need_snap);
        assert_eq!(kinds(&p)[0], (qp::DIFF, E + 12));
        let proposals: Vec<i64> = p.packets.iter().filter(|p| p.r#type == qp::PROPOSAL).map(|p| p.zxid).collect();
        assert_eq!(proposals, (6..=12).map(|i| E + i).collect::<Vec<_>>());
        // No log reaching back: a snapshot of the whole tree.
        let p = plan_sync(2, E + 5, &h, |_| None);
        assert!(p.need_snap);
        assert!(p.packets.is_empty());
        assert_eq!(p.current_zxid, E + 12);
        // An empty learner (zxid 0) with history missing: snapshot.
        let p = plan_sync(2, 0, &h, |_| None);
        assert!(p.need_snap);
    }

    #[test]
    fn sync_limit_check_tracks_the_oldest_unacked() {
        let mut c = SyncLimitCheck::default();
        let t0 = Instant::now();
        c.update_proposal(1, t0);
        assert!(c.check(t0 + Duration::from_secs(10), Duration::from_secs(1)), "not started: nothing tracked");
        c.started = true;
        c.update_proposal(1, t0);
        c.update_proposal(2, t0 + Duration::from_millis(500));
        assert!(!c.check(t0 + Duration::from_secs(2), Duration::from_secs(1)));
        c.update_ack(1);
        assert!(c.check(t0 + Duration::from_millis(1400), Duration::from_secs(1)));
        c.update_ack(2);
        assert!(c.check(t0 + Duration::from_secs(100), Duration::from_secs(1)));
    }
}
