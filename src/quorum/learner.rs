//! Learner: what a follower and an observer share, run on the QuorumPeer
//! thread: connect to the leader's quorum port, register (FOLLOWERINFO or
//! OBSERVERINFO, LEADERINFO, ACKEPOCH with the epoch files updated), sync
//! (DIFF, TRUNC or SNAP, then NEWLEADER and UPTODATE), then read the
//! leader's packets until the connection fails or goes silent for
//! syncLimit ticks. Other threads write through it: the request processor
//! forwards writes (REQUEST), the SendAckRequestProcessor acknowledges
//! logged proposals (ACK), client connections ask to revalidate sessions
//! (REVALIDATE). Packets are QuorumPacket records written back to back on
//! the socket, as Java's BinaryOutputArchive writes them.

use crate::jute::records::{LearnerInfo, QuorumPacket};
use crate::jute::txn::TxnLogEntry;
use crate::jute::{OutputArchive, Record, StreamInput};
use crate::quorum::learner_session_tracker::LearnerSessionTracker;
use crate::quorum::learner_zoo_keeper_server::LearnerZooKeeperServer;
use crate::quorum::quorum_peer::QuorumPeer;
use crate::quorum::quorum_peer_config::LearnerType;
use crate::quorum::vote::Vote;
use crate::server::nio_server_cnxn::NioServerCnxn;
use crate::server::request::Request;
use crate::server::zoo_keeper_server::ZooKeeperServer;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::io::{self, BufReader, BufWriter, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{error, info, warn};

use crate::quorum::quorum_packet::{self as packet, decode_txn, read_packet, PROTOCOL_VERSION};

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
    writer: Mutex<BufWriter<TcpStream>>,
    /// Reconnecting clients waiting for the leader's REVALIDATE answer.
    pending_revalidations: Mutex<HashMap<i64, Arc<NioServerCnxn>>>,
}

impl Learner {
    pub fn learner_type(&self) -> LearnerType {
        self.learner_type
    }

    /// Writes a packet; on failure the socket is closed so the reading
    /// side ends the role.
    pub fn write_packet(&self, qp: &QuorumPacket, flush: bool) -> io::Result<()> {
        let bytes = qp.to_bytes();
        let mut w = self.writer.lock();
        let res = w.write_all(&bytes).and_then(|_| if flush { w.flush() } else { Ok(()) });
        if let Err(e) = &res {
            warn!("Exception when writing to the leader: {e}");
            let _ = self.sock.shutdown(std::net::Shutdown::Both);
        }
        res
    }

    /// Flushes the packets written without a flush.
    fn flush(&self) -> io::Result<()> {
        let res = self.writer.lock().flush();
        if let Err(e) = &res {
            warn!("Exception when writing to the leader: {e}");
            let _ = self.sock.shutdown(std::net::Shutdown::Both);
        }
        res
    }

    /// The REQUEST packet that forwards `req` to the leader (`request`).
    pub fn request_packet(req: &Request) -> QuorumPacket {
        QuorumPacket { r#type: packet::REQUEST, zxid: -1, data: Some(request_data(req)), authinfo: req.auth_info.clone() }
    }

    /// validateSession: asks the leader whether a reconnecting client's
    /// session still lives; the answer completes the connect.
    pub fn validate_session(&self, cnxn: &Arc<NioServerCnxn>, session_id: i64, timeout: i32) {
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

    fn shutdown(&self) {
        let _ = self.sock.shutdown(std::net::Shutdown::Both);
        self.pending_revalidations.lock().clear();
    }
}

/// The leader's quorum address, from the configuration.
fn leader_address(peer: &QuorumPeer, leader: &Vote) -> io::Result<SocketAddr> {
    let server = peer
        .quorum_verifier()
        .all_members()
        .get(&leader.id)
        .ok_or_else(|| io::Error::other(format!("leader {} is not in the configuration", leader.id)))?;
    for hp in &server.addrs {
        if let Some(a) = hp.resolve()?.into_iter().next() {
            return Ok(a);
        }
    }
    Err(io::Error::other(format!("cannot resolve the quorum address of server {}", leader.id)))
}

/// connectToLeader (LeaderConnector): at most 5 tries within initLimit
/// ticks (connectToLearnerMasterLimit when set), a pause of
/// zookeeper.leaderConnectDelayDuringRetryMs between them. Giving up soon
/// matters: a vote for a leader that has just stepped down points at a
/// closed port, and the peer must get back to the election.
fn connect_to_leader(peer: &QuorumPeer, addr: SocketAddr) -> io::Result<TcpStream> {
    const TRIES: u32 = 5;
    let cfg = peer.config();
    let init_ms = (i64::from(cfg.tick_time) * i64::from(cfg.init_limit)).max(1000) as u64;
    let limit = if cfg.connect_to_learner_master_limit > 0 { cfg.connect_to_learner_master_limit } else { cfg.init_limit };
    let connect_ms = (i64::from(cfg.tick_time) * i64::from(limit)).max(1) as u64;
    let delay = Duration::from_millis(cfg.leader_connect_delay_during_retry_ms.max(0) as u64);
    let deadline = Instant::now() + Duration::from_millis(connect_ms);
    let mut tries = 0;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "connectToLeader exceeded on retries."));
        }
        match TcpStream::connect_timeout(&addr, remaining) {
            Ok(s) => {
                s.set_nodelay(true)?;
                s.set_read_timeout(Some(Duration::from_millis(init_ms)))?;
                return Ok(s);
            }
            Err(e) => {
                let remaining = deadline.saturating_duration_since(Instant::now());
                if remaining <= delay || tries + 1 >= TRIES || !peer.is_running() {
                    error!(
                        "Unexpected exception, giving up connecting to the leader at {addr}: tries={tries}, \
                         remaining init limit={}ms: {e}",
                        remaining.as_millis()
                    );
                    return Err(e);
                }
                warn!(
                    "Unexpected exception, tries={tries}, remaining init limit={}ms, connecting to {addr}: {e}",
                    remaining.as_millis()
                );
            }
        }
        std::thread::sleep(delay);
        tries += 1;
    }
}

/// Runs this peer as a follower or observer of `leader` until the leader is
/// lost. Leaves the client port not serving.
pub fn run(peer: &Arc<QuorumPeer>, leader: &Vote, learner_type: LearnerType) -> io::Result<()> {
    let addr = leader_address(peer, leader)?;
    let sock = connect_to_leader(peer, addr)?;
    let learner = Arc::new(Learner {
        learner_type,
        writer: Mutex::new(BufWriter::new(sock.try_clone()?)),
        sock: sock.try_clone()?,
        pending_revalidations: Mutex::new(HashMap::new()),
    });
    let mut reader = BufReader::new(sock);
    let idle = peer.zk_server();
    let settings = idle.settings.clone();
    let tracker = Arc::new(LearnerSessionTracker::new(Arc::clone(peer.zk_db()), settings.server_id));
    let role = LearnerZooKeeperServer::new(Arc::clone(&learner), peer.config().sync_enabled);
    let zks = ZooKeeperServer::with_role(settings, Arc::clone(peer.zk_db()), tracker.clone(), role.clone());
    let result = follow_leader(peer, &learner, &mut reader, &zks, &role, &tracker);
    // Learner.shutdown: not serving, connections closed, the server down.
    if let Some(f) = peer.cnxn_factory() {
        f.set_zoo_keeper_server(Arc::clone(idle));
    }
    learner.shutdown();
    zks.shutdown_with(false);
    result
}

fn follow_leader(
    peer: &Arc<QuorumPeer>,
    learner: &Arc<Learner>,
    reader: &mut BufReader<TcpStream>,
    zks: &Arc<ZooKeeperServer>,
    role: &Arc<LearnerZooKeeperServer>,
    tracker: &LearnerSessionTracker,
) -> io::Result<()> {
    let info_type = if learner.learner_type == LearnerType::Observer { packet::OBSERVERINFO } else { packet::FOLLOWERINFO };
    let new_epoch_zxid = register_with_leader(peer, learner, reader, info_type)?;
    let new_epoch = new_epoch_zxid >> 32;
    if new_epoch < peer.accepted_epoch() {
        error!("Proposed leader epoch {new_epoch:x} is less than our accepted epoch {:x}", peer.accepted_epoch());
        return Err(io::Error::other("Error: Epoch of leader is lower"));
    }
    sync_with_leader(peer, learner, reader, zks, role, new_epoch_zxid)?;
    let cfg = peer.config();
    let sync_ms = (i64::from(cfg.tick_time) * i64::from(cfg.sync_limit)).max(1) as u64;
    reader.get_ref().set_read_timeout(Some(Duration::from_millis(sync_ms)))?;
    let mut last_queued = 0i64;
    while peer.is_running() {
        let qp = read_packet(reader)?;
        match qp.r#type {
            packet::PING => learner.ping(&qp, tracker)?,
            packet::PROPOSAL if learner.learner_type == LearnerType::Participant => {
                let entry = decode_txn(&qp)?;
                if last_queued != 0 && entry.hdr.zxid != last_queued + 1 {
                    warn!("Got zxid 0x{:x} expected 0x{:x}", entry.hdr.zxid, last_queued + 1);
                }
                last_queued = entry.hdr.zxid;
                role.log_request(entry);
            }
            packet::COMMIT if learner.learner_type == LearnerType::Participant => role.commit(qp.zxid)?,
            packet::INFORM if learner.learner_type == LearnerType::Observer => {
                role.commit_request(decode_txn(&qp)?);
            }
            packet::PROPOSAL | packet::COMMIT | packet::INFORM => {
                warn!("Ignoring packet type {} not meant for a {:?}", qp.r#type, learner.learner_type);
            }
            packet::UPTODATE => error!("Received an UPTODATE message after the learner started"),
            packet::REVALIDATE => learner.revalidate(&qp, zks)?,
            packet::SYNC => role.sync(),
            packet::COMMITANDACTIVATE | packet::INFORMANDACTIVATE => {
                return Err(io::Error::other("dynamic reconfiguration is not supported"));
            }
            t => warn!("Unknown packet type: {t}"),
        }
    }
    Ok(())
}

/// registerWithLeader: FOLLOWERINFO/OBSERVERINFO, then LEADERINFO answered
/// with ACKEPOCH (acceptedEpoch updated first). Returns the new epoch's
/// first zxid.
fn register_with_leader(
    peer: &QuorumPeer,
    learner: &Learner,
    reader: &mut BufReader<TcpStream>,
    info_type: i32,
) -> io::Result<i64> {
    let last_logged = peer.last_logged_zxid();
    let li = LearnerInfo {
        serverid: peer.id(),
        protocol_version: PROTOCOL_VERSION,
        config_version: peer.quorum_verifier().version(),
    };
    let qp = QuorumPacket {
        r#type: info_type,
        zxid: peer.accepted_epoch() << 32,
        data: Some(li.to_bytes()),
        authinfo: Vec::new(),
    };
    learner.write_packet(&qp, true)?;
    let qp = read_packet(reader)?;
    let new_epoch = qp.zxid >> 32;
    if qp.r#type == packet::LEADERINFO {
        let mut oa = OutputArchive::with_capacity(4);
        if new_epoch > peer.accepted_epoch() {
            oa.write_int(peer.current_epoch() as i32);
            peer.set_accepted_epoch(new_epoch)?;
        } else if new_epoch == peer.accepted_epoch() {
            oa.write_int(-1);
        } else {
            return Err(io::Error::other(format!(
                "Leaders epoch, {new_epoch} is less than accepted epoch, {}",
                peer.accepted_epoch()
            )));
        }
        let ack = QuorumPacket { r#type: packet::ACKEPOCH, zxid: last_logged, data: Some(oa.into_inner()), authinfo: Vec::new() };
        learner.write_packet(&ack, true)?;
        Ok(new_epoch << 32)
    } else {
        if new_epoch > peer.accepted_epoch() {
            peer.set_accepted_epoch(new_epoch)?;
        }
        if qp.r#type != packet::NEWLEADER {
            return Err(io::Error::other("First packet should have been NEWLEADER"));
        }
        Ok(qp.zxid)
    }
}

/// syncWithLeader: DIFF, TRUNC or SNAP, then the txns up to NEWLEADER
/// (answered with ACK once they and the epoch are on disk) and UPTODATE
/// (answered with ACK; then the server starts serving).
fn sync_with_leader(
    peer: &Arc<QuorumPeer>,
    learner: &Learner,
    reader: &mut BufReader<TcpStream>,
    zks: &Arc<ZooKeeperServer>,
    role: &Arc<LearnerZooKeeperServer>,
    new_leader_zxid: i64,
) -> io::Result<()> {
    let new_epoch = new_leader_zxid >> 32;
    let zk_db = peer.zk_db();
    let qp = read_packet(reader)?;
    // Whether the state the sync leaves must be snapshotted at NEWLEADER
    // (everything but DIFF: the log does not hold it).
    let snapshot_needed = match qp.r#type {
        packet::DIFF => {
            info!("Getting a diff from the leader 0x{:x}", qp.zxid);
            false
        }
        packet::SNAP => {
            info!("Getting a snapshot from leader 0x{:x}", qp.zxid);
            // Straight off the socket into a tree of its own, installed
            // only once the signature after it is there: a stream cut
            // short or garbled leaves the database as it was.
            let snapshot = zk_db.read_snapshot_stream(reader)?;
            let signature = StreamInput::new(&mut *reader).read_string()?;
            if signature != SNAPSHOT_SIGNATURE {
                error!("Missing signature. Got {signature}");
                return Err(bad_data("Missing signature"));
            }
            zk_db.install_snapshot(snapshot, qp.zxid)?;
            true
        }
        packet::TRUNC => {
            warn!("Truncating log to get in sync with the leader 0x{:x}", qp.zxid);
            zk_db.truncate_log(qp.zxid).map_err(|e| {
                error!("Not able to truncate the log 0x{:x}: {e}", qp.zxid);
                e
            })?;
            zk_db.data_tree().set_last_processed_zxid(qp.zxid);
            true
        }
        t => {
            error!("Got unexpected packet from leader: type {t}, exiting ... ");
            return Err(bad_data(format!("unexpected packet type {t} to start the sync")));
        }
    };
    peer.init_config_in_zk_database();
    let mut write_to_txn_log = !snapshot_needed;
    // Proposals not yet applied, and the zxids committed, while syncing.
    let mut not_committed: VecDeque<TxnLogEntry> = VecDeque::new();
    let mut committed: VecDeque<i64> = VecDeque::new();
    // The proposals not committed that NEWLEADER wrote to the log.
    let mut logged: Vec<TxnLogEntry> = Vec::new();
    let mut last_queued = 0i64;
    loop {
        if !peer.is_running() {
            return Err(io::Error::other("shutting down during the sync"));
        }
        let qp = read_packet(reader)?;
        match qp.r#type {
            packet::PROPOSAL => {
                let entry = decode_txn(&qp)?;
                if entry.hdr.zxid != last_queued + 1 {
                    warn!("Got zxid 0x{:x} expected 0x{:x}", entry.hdr.zxid, last_queued + 1);
                }
                last_queued = entry.hdr.zxid;
                not_committed.push_back(entry);
            }
            packet::COMMIT => {
                if write_to_txn_log {
                    committed.push_back(qp.zxid);
                } else {
                    match not_committed.front() {
                        Some(e) if e.hdr.zxid == qp.zxid => {
                            if let Some(e) = not_committed.pop_front() {
                                zks.process_txn(&txn_request(e));
                            }
                        }
                        Some(e) => warn!("Committing 0x{:x}, but next proposal is 0x{:x}", qp.zxid, e.hdr.zxid),
                        None => warn!("Committing 0x{:x} without seeing txn", qp.zxid),
                    }
                }
            }
            packet::INFORM => {
                let entry = decode_txn(&qp)?;
                last_queued = entry.hdr.zxid;
                if write_to_txn_log {
                    not_committed.push_back(entry);
                    committed.push_back(qp.zxid);
                } else {
                    zks.process_txn(&txn_request(entry));
                }
            }
            packet::NEWLEADER => {
                if snapshot_needed {
                    zk_db.take_sync_snapshot()?;
                }
                // A follower makes the proposals received so far durable
                // before it acknowledges NEWLEADER.
                if learner.learner_type == LearnerType::Participant {
                    for e in not_committed.drain(..) {
                        zk_db.append(&e)?;
                        logged.push(e);
                    }
                    zk_db.commit()?;
                }
                peer.set_current_epoch(new_epoch)?;
                write_to_txn_log = true;
                let cfg = peer.config();
                let sync_ms = (i64::from(cfg.tick_time) * i64::from(cfg.sync_limit)).max(1) as u64;
                reader.get_ref().set_read_timeout(Some(Duration::from_millis(sync_ms)))?;
                let ack = QuorumPacket { r#type: packet::ACK, zxid: new_leader_zxid, data: None, authinfo: Vec::new() };
                learner.write_packet(&ack, true)?;
            }
            packet::UPTODATE => break,
            packet::COMMITANDACTIVATE | packet::INFORMANDACTIVATE => {
                return Err(io::Error::other("dynamic reconfiguration is not supported"));
            }
            t => warn!("Unexpected packet type {t} during the sync"),
        }
    }
    let ack = QuorumPacket { r#type: packet::ACK, zxid: new_epoch << 32, data: None, authinfo: Vec::new() };
    learner.write_packet(&ack, true)?;
    zks.startup()?;
    let mut vote = peer.current_vote();
    vote.peer_epoch = new_epoch;
    peer.set_current_vote(vote);
    if learner.learner_type == LearnerType::Participant {
        // The proposals made durable at NEWLEADER are acknowledged one by
        // one, after NEWLEADER's and UPTODATE's ACKs (an established
        // leader may still be waiting for them: nothing after them can
        // commit before they do).
        for e in &logged {
            let ack = QuorumPacket { r#type: packet::ACK, zxid: e.hdr.zxid, data: None, authinfo: Vec::new() };
            learner.write_packet(&ack, false)?;
        }
        learner.flush()?;
        role.add_logged(logged);
        for e in not_committed {
            role.log_request(e);
        }
        for zxid in committed {
            role.commit(zxid)?;
        }
    } else {
        for e in not_committed {
            if committed.front() != Some(&e.hdr.zxid) {
                warn!("Committing 0x{:x}, but next proposal is 0x{:x}", committed.front().copied().unwrap_or(0), e.hdr.zxid);
                continue;
            }
            committed.pop_front();
            role.commit_request(e);
        }
    }
    if let Some(f) = peer.cnxn_factory() {
        f.set_zoo_keeper_server(Arc::clone(zks));
    }
    info!("Synced with the leader: serving as {}", zks.server_state());
    Ok(())
}
