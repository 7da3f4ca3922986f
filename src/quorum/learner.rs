//! Learner: what a follower and an observer share, run on the QuorumPeer
//! thread: connect to the leader's quorum port, register (FOLLOWERINFO or
//! OBSERVERINFO, LEADERINFO, ACKEPOCH with the epoch files updated), sync
//! (DIFF, TRUNC or SNAP, then NEWLEADER and UPTODATE), then read the
//! leader's packets until the connection fails or goes silent for
//! syncLimit ticks. What each packet calls for is decided by
//! `core::LearnerCore`; this thread is its driver. Other threads write
//! through it: the request processor forwards writes (REQUEST), the
//! SendAckRequestProcessor acknowledges logged proposals (ACK), client
//! connections ask to revalidate sessions (REVALIDATE). A follower with
//! observerMasterPort starts its ObserverMaster once synced and feeds it
//! the leader's proposals, commits and revalidation answers. Packets are
//! QuorumPacket records written back to back on the socket, as Java's
//! BinaryOutputArchive writes them.

use crate::jute::records::QuorumPacket;
use crate::jute::txn::TxnLogEntry;
use crate::jute::{OutputArchive, Record, StreamInput};
use crate::quorum::learner_sender::LearnerSender;
use crate::quorum::learner_session_tracker::LearnerSessionTracker;
use crate::quorum::learner_zoo_keeper_server::LearnerZooKeeperServer;
use crate::quorum::observer_master::ObserverMaster;
use crate::quorum::quorum_peer::{QuorumPeer, ZabState};
use crate::quorum::quorum_peer_config::system_properties::SystemProperties;
use crate::quorum::quorum_peer_config::ConfigError;
use crate::quorum::quorum_peer_config::LearnerType;
use crate::quorum::vote::Vote;
use crate::server::server_cnxn::ServerCnxn;
use crate::server::request::Request;
use crate::server::zoo_keeper_server::{ServerRole, ZooKeeperServer};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::io::{self, BufReader, BufWriter, Write};
use crate::quorum::unified_server_socket::UnifiedSocket;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{error, info, warn};

use crate::quorum::quorum_packet::{self as packet, read_packet};

pub mod core;
use self::core::{Action, LearnerCore, LearnerState};

/// The system properties a learner reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LearnerSettings {
    /// zookeeper.leaderConnectDelayDuringRetryMs: pause between a learner's
    /// tries to reach the leader (ms, default 100).
    pub leader_connect_delay_during_retry_ms: i32,
    /// zookeeper.observer.syncEnabled: when set, overrides zoo.cfg's
    /// syncEnabled (QuorumPeer.getSyncEnabled).
    pub observer_sync_enabled: Option<bool>,
    /// zookeeper.learner.asyncSending: packets to the leader are written by
    /// a LearnerSender thread instead of by the thread that sends them.
    pub async_sending: bool,
    /// zookeeper.learner.closeSocketAsync: the socket to the leader is
    /// closed on a thread of its own when the role ends.
    pub close_socket_async: bool,
    /// follower.nodelay: TCP_NODELAY on the socket to the leader unless
    /// it is anything but `true`.
    pub nodelay: bool,
    /// zookeeper.observer.reconnectDelayMs: an observer waits a random
    /// time below this before it connects to the leader (ms, default 0).
    pub observer_reconnect_delay_ms: i64,
    /// zookeeper.observer.election.DelayMs: an observer that lost its
    /// leader waits a random time below this before it looks for one
    /// (ms, default 200).
    pub observer_election_delay_ms: i64,
    /// zookeeper.observerMaster.sizeLimit: the bytes of recent commits a
    /// follower's ObserverMaster keeps to sync observers from (default
    /// 32 MiB).
    pub observer_master_size_limit: i32,
    /// zookeeper.follower.skipLearnerRequestToNextProcessor: a follower
    /// does not queue its observers' requests on its own CommitProcessor
    /// (their commits are applied like any other).
    pub skip_learner_request_to_next_processor: bool,
}

impl LearnerSettings {
    pub fn read(props: &SystemProperties) -> Result<LearnerSettings, ConfigError> {
        Ok(LearnerSettings {
            leader_connect_delay_during_retry_ms: props.int("zookeeper.leaderConnectDelayDuringRetryMs", 100)?,
            observer_sync_enabled: props
                .lookup("zookeeper.observer.syncEnabled")
                .map(|_| props.boolean("zookeeper.observer.syncEnabled", true)),
            async_sending: props.boolean("zookeeper.learner.asyncSending", false),
            close_socket_async: props.boolean("zookeeper.learner.closeSocketAsync", false),
            nodelay: props.equals("follower.nodelay", "true") != Some(false),
            observer_reconnect_delay_ms: props.long("zookeeper.observer.reconnectDelayMs", 0)?,
            observer_election_delay_ms: props.long("zookeeper.observer.election.DelayMs", 200)?,
            observer_master_size_limit: props.int("zookeeper.observerMaster.sizeLimit", 32 * 1024 * 1024)?,
            skip_learner_request_to_next_processor: props.boolean("zookeeper.follower.skipLearnerRequestToNextProcessor", false),
        })
    }
}

/// Observer.waitForReconnectDelay / waitForObserverElectionDelay: sleeps a
/// random time in [0, `bound_ms`) (nothing when `bound_ms` <= 0), cut
/// short when the peer stops.
pub fn observer_delay(peer: &QuorumPeer, bound_ms: i64) {
    let Ok(bound) = u64::try_from(bound_ms) else { return };
    if bound == 0 {
        return;
    }
    let delay = random_u64() % bound;
    info!("Waiting for {delay} ms before reconnecting with the leader");
    let until = Instant::now() + Duration::from_millis(delay);
    while peer.is_running() {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

/// A random number (a freshly keyed hash), for delays and shuffles.
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new().build_hasher().finish()
}

/// The string a leader writes after a streamed snapshot.
const SNAPSHOT_SIGNATURE: &str = "BenWasHere";

fn bad_data(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// The body of a REQUEST packet: session, cxid, type, then the request
/// bytes after the header.
fn request_data(req: &Request) -> Vec<u8> {
    let mut oa = OutputArchive::with_capacity(16 + req.request.len());
    oa.write_long(req.session_id);
    oa.write_int(req.cxid);
    oa.write_int(req.op_type);
    oa.write_raw(&req.request);
    oa.into_inner()
}

/// A request for a txn the leader sent (logRequest, INFORM, a commit
/// during sync), answered by no connection.
pub fn txn_request(entry: TxnLogEntry) -> Request {
    let mut r = Request::new(None, entry.hdr.client_id, entry.hdr.cxid, entry.hdr.r#type, Vec::new(), Vec::new());
    r.zxid = entry.hdr.zxid;
    r.hdr = Some(entry.hdr);
    r.txn = entry.txn;
    r.txn_digest = entry.digest;
    r
}

/// The connection to the leader, shared by the QuorumPeer thread (which
/// reads) and the threads that write to the leader.
pub struct Learner {
    learner_type: LearnerType,
    sock: TcpStream,
    writer: Arc<Mutex<BufWriter<UnifiedSocket>>>,
    /// With zookeeper.learner.asyncSending, the thread that writes.
    sender: Option<LearnerSender>,
    /// zookeeper.learner.closeSocketAsync.
    close_socket_async: bool,
    /// Reconnecting clients waiting for the leader's REVALIDATE answer.
    pending_revalidations: Mutex<HashMap<i64, Arc<dyn ServerCnxn>>>,
}

impl Learner {
    pub fn learner_type(&self) -> LearnerType {
        self.learner_type
    }

    /// Writes a packet; on failure the socket is closed so the reading
    /// side ends the role.
    pub fn write_packet(&self, qp: &QuorumPacket, flush: bool) -> io::Result<()> {
        let bytes = qp.to_bytes();
        if let Some(sender) = &self.sender {
            sender.queue_packet(bytes);
            return Ok(());
        }
        let mut w = self.writer.lock();
        let res = w.write_all(&bytes).and_then(|_| if flush { w.flush() } else { Ok(()) });
        if let Err(e) = &res {
            warn!("Exception when writing to the leader: {e}");
            let _ = self.sock.shutdown(std::net::Shutdown::Both);
        }
        res
    }

    /// Flushes the packets written without a flush (the LearnerSender
    /// flushes by itself whenever its queue runs dry).
    fn flush(&self) -> io::Result<()> {
        if self.sender.is_some() {
            return Ok(());
        }
        let res = self.writer.lock().flush();
        if let Err(e) = &res {
            warn!("Exception when writing to the leader: {e}");
            let _ = self.sock.shutdown(std::net::Shutdown::Both);
        }
        res
    }

    /// The REQUEST packet that forwards `req` to the leader (`request`).
    pub fn request_packet(req: &Request) -> QuorumPacket {
        QuorumPacket { r#type: packet::REQUEST, zxid: -1, data: Some(request_data(req)), authinfo: req.auth_info.to_vec() }
    }

    /// validateSession: asks the leader whether a reconnecting client's
    /// session still lives; the answer completes the connect.
    pub fn validate_session(&self, cnxn: &Arc<dyn ServerCnxn>, session_id: i64, timeout: i32) {
        let mut oa = OutputArchive::with_capacity(12);
        oa.write_long(session_id);
        oa.write_int(timeout);
        self.pending_revalidations.lock().insert(session_id, Arc::clone(cnxn));
        let qp = QuorumPacket { r#type: packet::REVALIDATE, zxid: -1, data: Some(oa.into_inner()), authinfo: Vec::new() };
        let _ = self.write_packet(&qp, true);
    }

    /// revalidate: the leader's answer to a REVALIDATE.
    fn revalidate(&self, qp: &QuorumPacket, zks: &ZooKeeperServer) -> io::Result<()> {
        let (session_id, valid) = packet::decode_revalidate_answer(qp.data.as_deref().unwrap_or(&[]))?;
        match self.pending_revalidations.lock().remove(&session_id) {
            Some(cnxn) => zks.finish_session_init(&cnxn, valid),
            None => warn!("Missing session 0x{session_id:x} for validation"),
        }
        Ok(())
    }

    /// ping: answers the leader's PING with the sessions touched since.
    fn ping(&self, qp: &QuorumPacket, tracker: &LearnerSessionTracker) -> io::Result<()> {
        let touched = tracker.take_touch_snapshot();
        let mut oa = OutputArchive::with_capacity(touched.len() * 12);
        for (id, timeout) in touched {
            oa.write_long(id);
            oa.write_int(timeout);
        }
        let reply =
            QuorumPacket { r#type: qp.r#type, zxid: qp.zxid, data: Some(oa.into_inner()), authinfo: qp.authinfo.clone() };
        self.write_packet(&reply, true)
    }

    fn shutdown(&self, sid: i64) {
        if let Some(sender) = &self.sender {
            sender.shutdown();
        }
        close_socket(&self.sock, self.close_socket_async, sid);
        self.pending_revalidations.lock().clear();
    }
}

/// closeSocket of Learner and LearnerHandler: shuts `sock` here, or with
/// `asynchronously` (zookeeper.learner.closeSocketAsync,
/// zookeeper.leader.closeSocketAsync) on a `CloseSocketThread(sid:N)`;
/// the time it takes goes into socket_closing_time.
pub fn close_socket(sock: &TcpStream, asynchronously: bool, sid: i64) {
    let close = |sock: &TcpStream| {
        let started = Instant::now();
        let _ = sock.shutdown(std::net::Shutdown::Both);
        crate::server::server_metrics::metrics().socket_closing_time.add(started.elapsed().as_millis() as i64);
    };
    if asynchronously {
        if let Ok(clone) = sock.try_clone() {
            let name = format!("CloseSocketThread(sid:{sid})");
            if crate::server::zoo_keeper_critical_thread::spawn(name, move || close(&clone)).is_ok() {
                return;
            }
        }
    }
    close(sock);
}

/// The leader's quorum addresses, from the configuration (several with
/// multiAddress.enabled), each resolved.
fn leader_addresses(peer: &QuorumPeer, leader: &Vote) -> io::Result<Vec<SocketAddr>> {
    let qv = peer.quorum_verifier();
    let server = qv
        .all_members()
        .get(&leader.id)
        .ok_or_else(|| io::Error::other(format!("leader {} is not in the configuration", leader.id)))?;
    let mut out = Vec::new();
    let mut last_err = None;
    for hp in &server.addrs {
        match hp.resolve() {
            Ok(v) => out.extend(v.into_iter().next()),
            Err(e) => last_err = Some(e),
        }
    }
    if out.is_empty() {
        return Err(last_err
            .unwrap_or_else(|| io::Error::other(format!("cannot resolve the quorum address of server {}", leader.id))));
    }
    Ok(out)
}

/// How many counted tries connectToLeader makes.
pub const CONNECT_TRIES: u32 = 5;
/// The longest pause before the one uncounted retry of a refused
/// connection: a leader just elected binds its quorum port a moment after
/// its election ends, and its followers' first dial may come before that.
pub const REFUSED_RETRY_PAUSE: Duration = Duration::from_millis(20);

/// connectToLeader's retry rule, shared with the simulator: at most
/// `CONNECT_TRIES` counted tries, leaderConnectDelayDuringRetryMs apart,
/// except that the first refusal is retried after at most
/// `REFUSED_RETRY_PAUSE` without counting as a try (Java counts it and
/// waits the full delay).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectRetries {
    tries: u32,
    quick_retry_used: bool,
}

impl ConnectRetries {
    /// Counted tries that failed so far.
    pub fn tries(&self) -> u32 {
        self.tries
    }

    /// After a failed try (`refused`: nothing listened at the address):
    /// the pause before the next try, or `None` once the tries are used up.
    pub fn after_failure(&mut self, refused: bool, delay: Duration) -> Option<Duration> {
        if refused && !self.quick_retry_used {
            self.quick_retry_used = true;
            return Some(delay.min(REFUSED_RETRY_PAUSE));
        }
        if self.tries + 1 >= CONNECT_TRIES {
            return None;
        }
        self.tries += 1;
        Some(delay)
    }
}

/// connectToLeader (LeaderConnector): at most 5 tries within initLimit
/// ticks (connectToLearnerMasterLimit when set), a pause of
/// zookeeper.leaderConnectDelayDuringRetryMs between them, plus one quick
/// retry of a refused connection (`ConnectRetries`). Giving up soon
/// matters: a vote for a leader that has just stepped down points at a
/// closed port, and the peer must get back to the election. A leader with
/// several addresses (multiAddress.enabled) is tried at each in turn, each
/// given its share of the time left, and the first that answers is kept,
/// as Java keeps the first of its parallel LeaderConnectors; with the
/// reachability check on, each is first probed within its timeout, and
/// only if none answers are all tried (getAllReachableAddressesOrAll).
fn connect_to_leader(peer: &QuorumPeer, addrs: &[SocketAddr]) -> io::Result<TcpStream> {
    let cfg = peer.config();
    let init_ms = (i64::from(cfg.tick_time) * i64::from(cfg.init_limit)).max(1000) as u64;
    let limit = if cfg.connect_to_learner_master_limit > 0 { cfg.connect_to_learner_master_limit } else { cfg.init_limit };
    let connect_ms = (i64::from(cfg.tick_time) * i64::from(limit)).max(1) as u64;
    let delay = Duration::from_millis(peer.settings().learner.leader_connect_delay_during_retry_ms.max(0) as u64);
    let deadline = Instant::now() + Duration::from_millis(connect_ms);
    let mut retries = ConnectRetries::default();
    // (address, probe timeout): with the check on, every address probed,
    // then every one tried.
    let attempts: Vec<(SocketAddr, Option<Duration>)> = match cfg.reachability_probe().filter(|_| addrs.len() > 1) {
        Some(probe) => addrs.iter().map(|a| (*a, Some(probe))).chain(addrs.iter().map(|a| (*a, None))).collect(),
        None => addrs.iter().map(|a| (*a, None)).collect(),
    };
    loop {
        let mut last_err = None;
        for (i, (addr, probe)) in attempts.iter().enumerate() {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "connectToLeader exceeded on retries."));
            }
            let share = remaining / u32::try_from(attempts.len() - i).unwrap_or(u32::MAX);
            let timeout = probe.map_or(share, |p| p.min(remaining));
            match TcpStream::connect_timeout(addr, timeout.max(Duration::from_millis(1))) {
                Ok(s) => {
                    s.set_nodelay(peer.settings().learner.nodelay)?;
                    s.set_read_timeout(Some(Duration::from_millis(init_ms)))?;
                    return Ok(s);
                }
                Err(e) => last_err = Some((*addr, e)),
            }
        }
        let Some((addr, e)) = last_err else {
            return Err(io::Error::other("the leader has no quorum address"));
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        let tries = retries.tries();
        let pause = retries.after_failure(e.kind() == io::ErrorKind::ConnectionRefused, delay);
        match pause {
            Some(pause) if remaining > pause && peer.is_running() => {
                warn!(
                    "Unexpected exception, tries={tries}, remaining init limit={}ms, connecting to {addr}: {e}",
                    remaining.as_millis()
                );
                std::thread::sleep(pause);
            }
            _ => {
                error!(
                    "Unexpected exception, giving up connecting to the leader at {addr}: tries={tries}, \
                     remaining init limit={}ms: {e}",
                    remaining.as_millis()
                );
                return Err(e);
            }
        }
    }
}

/// Runs this peer as a follower or observer of `leader` until the leader is
/// lost. Leaves the client port not serving.
pub fn run(peer: &Arc<QuorumPeer>, leader: &Vote, learner_type: LearnerType) -> io::Result<()> {
    peer.set_zab_state(ZabState::Discovery);
    let settings = &peer.settings().learner;
    // An observer syncs from its learner master: a voter's ObserverMaster
    // (observerMasterPort) or the leader, after a delay that spreads the
    // observers' reconnections.
    let master = if learner_type == LearnerType::Observer { peer.find_learner_master(leader.id) } else { None };
    let tcp = match &master {
        Some(m) => {
            info!("Observing new leader sid={} addr={}:{}", m.sid, m.addrs[0].host, m.addrs[0].port);
            let addrs: Vec<SocketAddr> = m.addrs.iter().filter_map(|hp| hp.resolve().ok()?.into_iter().next()).collect();
            connect_to_leader(peer, &addrs)
        }
        None => leader_addresses(peer, leader).and_then(|addrs| connect_to_leader(peer, &addrs)),
    };
    // sslQuorum: an SSLSocket, the master's certificate checked (within
    // the initLimit read timeout connect_to_leader set).
    let sock = tcp.and_then(|tcp| {
        let host = tcp.peer_addr()?.ip().to_string();
        match peer.quorum_ssl().connect(tcp.try_clone()?, &host) {
            Ok(s) => Ok((tcp, s)),
            Err(e) => {
                error!("Failed the TLS handshake with the leader at {host}: {e}");
                let _ = tcp.shutdown(std::net::Shutdown::Both);
                Err(e)
            }
        }
    });
    let (tcp, sock) = match sock {
        Ok(s) => s,
        Err(e) => {
            peer.clear_learner_master();
            return Err(e);
        }
    };
    let init = Duration::from_millis((i64::from(peer.config().tick_time) * i64::from(peer.config().init_limit)).max(1000) as u64);
    // The master's host name (Java's QuorumServer.hostname) fills in a
    // Kerberos `_HOST`.
    let hostname = match &master {
        Some(m) => m.addrs.last().map(|hp| hp.host.clone()),
        None => peer.quorum_verifier().all_members().get(&leader.id).map(|s| s.hostname.clone()),
    }
    .unwrap_or_default();
    if let Err(e) = peer.quorum_auth().authenticate_learner(&sock, &hostname, init) {
        let at = sock.peer_addr().map(|a| a.to_string()).unwrap_or_default();
        error!("Failed to authenticate with the leader at {at}: {e}");
        let _ = sock.shutdown(std::net::Shutdown::Both);
        return Err(io::Error::new(io::ErrorKind::PermissionDenied, e));
    }
    let writer = Arc::new(Mutex::new(BufWriter::new(sock.try_clone()?)));
    let sender = if settings.async_sending {
        Some(LearnerSender::start(peer.id(), Arc::clone(&writer), tcp.try_clone()?)?)
    } else {
        None
    };
    let learner = Arc::new(Learner {
        learner_type,
        writer,
        sender,
        close_socket_async: settings.close_socket_async,
        sock: tcp,
        pending_revalidations: Mutex::new(HashMap::new()),
    });
    let mut reader = BufReader::new(sock);
    let idle = peer.zk_server();
    let settings = idle.settings.clone();
    let tracker = Arc::new(LearnerSessionTracker::new(
        Arc::clone(peer.zk_db()),
        settings.tick_time,
        settings.server_id,
        peer.config().local_sessions_enabled,
    ));
    let sync_enabled = peer.settings().learner.observer_sync_enabled.unwrap_or(peer.config().sync_enabled);
    let role = LearnerZooKeeperServer::new(peer, Arc::clone(&learner), Arc::clone(&tracker), sync_enabled);
    let zks = ZooKeeperServer::with_role(settings, Arc::clone(peer.zk_db()), tracker.clone(), role.clone());
    let result = follow_leader(peer, &learner, &mut reader, &zks, &role, &tracker);
    if let Some(om) = role.observer_master() {
        om.stop();
    }
    peer.clear_learner_master();
    // Learner.shutdown: not serving, connections closed, the server down.
    peer.set_zoo_keeper_server(idle);
    learner.shutdown(peer.id());
    zks.shutdown_with(false);
    result
}

/// Runs the role: the core decides, this thread reads the packets and
/// carries out the core's actions, until an error or the peer stops.
fn follow_leader(
    peer: &Arc<QuorumPeer>,
    learner: &Arc<Learner>,
    reader: &mut BufReader<UnifiedSocket>,
    zks: &Arc<ZooKeeperServer>,
    role: &Arc<LearnerZooKeeperServer>,
    tracker: &LearnerSessionTracker,
) -> io::Result<()> {
    let mut core = LearnerCore::new(LearnerState {
        my_id: peer.id(),
        learner_type: learner.learner_type,
        accepted_epoch: peer.accepted_epoch(),
        current_epoch: peer.current_epoch(),
        last_logged_zxid: peer.last_logged_zxid(),
        config_version: peer.quorum_verifier().version(),
    });
    let observer_master = role.observer_master();
    let mut driver = Driver { peer, learner, reader, zks, role, tracker, observer_master, activating: None };
    let sync_started = std::time::Instant::now();
    let mut synced = false;
    let m = crate::server::server_metrics::metrics();
    let start = core.start();
    driver.carry_out(&mut core, start)?;
    loop {
        if !peer.is_running() {
            if core.is_serving() {
                return Ok(());
            }
            return Err(io::Error::other("shutting down before the sync finished"));
        }
        let qp = read_packet(driver.reader)?;
        let r#type = qp.r#type;
        let actions = core.packet(qp)?;
        driver.carry_out(&mut core, actions)?;
        if synced {
            match r#type {
                packet::PROPOSAL => m.learner_proposal_received_count.inc(),
                packet::COMMIT | packet::INFORM => m.learner_commit_received_count.inc(),
                _ => {}
            }
        } else if core.is_serving() {
            // syncWithLeader's duration: connected to serving.
            synced = true;
            let ms = sync_started.elapsed().as_millis() as i64;
            if learner.learner_type == LearnerType::Observer {
                m.observer_sync_time.add(ms);
            } else {
                m.follower_sync_time.add(ms);
            }
        }
        if r#type == packet::NEWLEADER {
            // From NEWLEADER on the leader must be heard within syncLimit.
            let cfg = peer.config();
            let sync_ms = (i64::from(cfg.tick_time) * i64::from(cfg.sync_limit)).max(1) as u64;
            driver.reader.get_ref().set_read_timeout(Some(Duration::from_millis(sync_ms)))?;
        }
    }
}

/// What the QuorumPeer thread needs to carry out a `LearnerCore`'s actions.
struct Driver<'a> {
    peer: &'a Arc<QuorumPeer>,
    learner: &'a Arc<Learner>,
    reader: &'a mut BufReader<UnifiedSocket>,
    zks: &'a Arc<ZooKeeperServer>,
    role: &'a Arc<LearnerZooKeeperServer>,
    tracker: &'a LearnerSessionTracker,
    /// A follower's ObserverMaster: it sees each proposal and commit first.
    observer_master: Option<Arc<ObserverMaster>>,
    /// The (zxid, designated leader) of the COMMITANDACTIVATE whose commit
    /// comes next.
    activating: Option<(i64, i64)>,
}

impl Driver<'_> {
    /// Carries out `actions` in order, feeding the core the completion of
    /// the disk work it asked for (and carrying out what that returns at
    /// once). Packets sent back to back share one flush.
    fn carry_out(&mut self, core: &mut LearnerCore, actions: Vec<Action>) -> io::Result<()> {
        let zk_db = self.peer.zk_db();
        let mut unflushed = false;
        let mut reconfigured = false;
        for action in actions {
            if unflushed && !matches!(action, Action::Send(_)) {
                self.learner.flush()?;
                unflushed = false;
            }
            match action {
                Action::Send(qp) => {
                    self.learner.write_packet(&qp, false)?;
                    unflushed = true;
                }
                Action::WriteAcceptedEpoch(epoch) => {
                    self.peer.set_accepted_epoch(epoch)?;
                    // Registered: the epoch is agreed, the sync comes next.
                    self.peer.set_zab_state(ZabState::Synchronization);
                }
                Action::WriteCurrentEpoch(epoch) => self.peer.set_current_epoch(epoch)?,
                Action::ReadSnapshot(zxid) => {
                    // Straight off the socket into a tree of its own,
                    // installed only once the signature after it is there:
                    // a stream cut short or garbled leaves the database as
                    // it was.
                    let snapshot = zk_db.read_snapshot_stream(self.reader)?;
                    let signature = StreamInput::new(&mut *self.reader).read_string()?;
                    if signature != SNAPSHOT_SIGNATURE {
                        error!("Missing signature. Got {signature}");
                        return Err(bad_data("Missing signature"));
                    }
                    zk_db.install_snapshot(snapshot, zxid)?;
                    let next = core.snapshot_installed()?;
                    self.carry_out(core, next)?;
                }
                Action::Truncate(zxid) => {
                    zk_db.truncate_log(zxid).map_err(|e| {
                        error!("Not able to truncate the log 0x{zxid:x}: {e}");
                        e
                    })?;
                    zk_db.data_tree().set_last_processed_zxid(zxid);
                }
                Action::InitConfig => self.peer.init_config_in_zk_database(),
                Action::Apply(entry) => {
                    self.zks.process_txn(&txn_request(entry));
                }
                Action::TakeSnapshot => {
                    zk_db.take_sync_snapshot()?;
                    let next = core.snapshot_taken()?;
                    self.carry_out(core, next)?;
                }
                Action::LogAndSync(entries) => {
                    for e in &entries {
                        zk_db.append(e)?;
                    }
                    zk_db.commit()?;
                    let next = core.txns_durable()?;
                    self.carry_out(core, next)?;
                }
                Action::StartServer(epoch) => {
                    self.zks.startup()?;
                    let mut vote = self.peer.current_vote();
                    vote.peer_epoch = epoch;
                    self.peer.set_current_vote(vote);
                }
                Action::AnswerPing(qp) => self.learner.ping(&qp, self.tracker)?,
                Action::LogRequest(entry) => {
                    // From the txn's creation on the leader to here.
                    crate::server::server_metrics::metrics().proposal_latency.add(since_wall_ms(entry.hdr.time));
                    if let Some(om) = &self.observer_master {
                        om.proposal_received(&entry);
                    }
                    self.role.log_request(entry)
                }
                Action::Commit(entry) => {
                    crate::server::server_metrics::metrics().commit_propagation_latency.add(since_wall_ms(entry.hdr.time));
                    // The ObserverMaster first, so that everything the
                    // database has applied is in its cache.
                    if let Some(om) = &self.observer_master {
                        let designated = self.activating.take().filter(|(z, _)| *z == entry.hdr.zxid).map(|(_, l)| l);
                        om.proposal_committed(&entry, designated);
                    }
                    self.role.commit(entry)
                }
                Action::CommitRequest(entry) => self.role.commit_request(entry),
                Action::Sync => self.role.sync(),
                Action::Revalidate(qp) => {
                    let for_observer = match &self.observer_master {
                        Some(om) => om.revalidate_answered(&qp)?,
                        None => false,
                    };
                    if !for_observer {
                        self.learner.revalidate(&qp, self.zks)?;
                    }
                }
                Action::SeeConfig(config) => match self.peer.config_from_string(&config) {
                    Ok(qv) => self.peer.set_last_seen_quorum_verifier(qv, true),
                    Err(e) => warn!("Ignoring a proposed configuration: {e}"),
                },
                Action::ActivateConfig { config, leader, zxid } => {
                    if let (Some(l), Some(z)) = (leader, zxid) {
                        self.activating = Some((z, l));
                    }
                    let qv = self.peer.config_from_string(&config)?;
                    if self.peer.process_reconfig(qv, leader, zxid) {
                        // NEWLEADER's configuration ends the role before
                        // UPTODATE is acknowledged; a reconfig's once its
                        // commit is handed on.
                        if leader.is_none() {
                            return Err(io::Error::other("changes proposed in reconfig"));
                        }
                        reconfigured = true;
                    }
                }
                Action::Serve => {
                    self.peer.set_zab_state(ZabState::Broadcast);
                    self.peer.set_zoo_keeper_server(self.zks);
                    self.peer.serving_started();
                    info!("Synced with the leader: serving as {}", self.zks.server_state());
                    if let Some(om) = &self.observer_master {
                        om.start()?;
                    }
                }
            }
        }
        if unflushed {
            self.learner.flush()?;
        }
        if reconfigured {
            return Err(io::Error::other("changes proposed in reconfig"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A refused connection is retried once soon without counting; then,
    /// and for any other failure, five counted tries the delay apart.
    #[test]
    fn a_refused_connection_is_retried_once_soon_without_counting() {
        let delay = Duration::from_millis(100);
        let mut r = ConnectRetries::default();
        assert_eq!(r.after_failure(true, delay), Some(REFUSED_RETRY_PAUSE));
        assert_eq!(r.tries(), 0, "the quick retry is not a try");
        let pauses: Vec<_> = std::iter::from_fn(|| r.after_failure(true, delay)).collect();
        assert_eq!(pauses, vec![delay; CONNECT_TRIES as usize - 1], "then as Java: five tries in all");
        let mut r = ConnectRetries::default();
        assert_eq!(r.after_failure(false, delay), Some(delay), "a timeout waits the delay and counts");
        assert_eq!(r.tries(), 1);
        assert_eq!(r.after_failure(true, delay), Some(REFUSED_RETRY_PAUSE), "the first refusal, whenever it comes");
        assert_eq!(r.after_failure(true, delay), Some(delay));
        let short = Duration::from_millis(5);
        assert_eq!(ConnectRetries::default().after_failure(true, short), Some(short), "never longer than the delay");
    }

    #[test]
    fn settings_default_as_java_and_observer_sync_only_when_set() {
        let s = LearnerSettings::read(&SystemProperties::of(&[])).unwrap();
        assert_eq!(
            s,
            LearnerSettings {
                leader_connect_delay_during_retry_ms: 100,
                observer_sync_enabled: None,
                async_sending: false,
                close_socket_async: false,
                nodelay: true,
                observer_reconnect_delay_ms: 0,
                observer_election_delay_ms: 200,
                observer_master_size_limit: 32 * 1024 * 1024,
                skip_learner_request_to_next_processor: false,
            }
        );
        let s = LearnerSettings::read(&SystemProperties::of(&[
            ("observer.syncEnabled", "false"),
            ("learner.asyncSending", "true"),
            ("zookeeper.learner.closeSocketAsync", "true"),
            ("follower.nodelay", "TRUE"),
            ("zookeeper.observer.reconnectDelayMs", "0x10"),
            ("observer.election.DelayMs", "0"),
            ("observerMaster.sizeLimit", "1000"),
            ("zookeeper.follower.skipLearnerRequestToNextProcessor", "true"),
        ]))
        .unwrap();
        assert_eq!(s.observer_master_size_limit, 1000);
        assert!(s.skip_learner_request_to_next_processor);
        assert_eq!(s.observer_sync_enabled, Some(false));
        assert!(s.async_sending && s.close_socket_async);
        assert!(!s.nodelay, "Java's nodelay is the exact string true");
        assert_eq!((s.observer_reconnect_delay_ms, s.observer_election_delay_ms), (16, 0));
        let e = LearnerSettings::read(&SystemProperties::of(&[("leaderConnectDelayDuringRetryMs", "x")]));
        assert_eq!(e.unwrap_err().to_string(), "leaderConnectDelayDuringRetryMs: \"x\" is not a number");
    }
}

/// Milliseconds from `time` (ms since the epoch, a txn header's time) to
/// now, never negative.
fn since_wall_ms(time: i64) -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    (now - time).max(0)
}
