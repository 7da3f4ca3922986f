//! LearnerMaster: what a LearnerHandler needs from the peer it serves (Java's
//! LearnerMaster). The LearnerHandler threads ("LearnerHandler-<addr>" and
//! their "Sender-" threads) call it; the Leader implements it for its
//! followers and observers, a follower's ObserverMaster for its observers.
//! Also what both masters share: the accept loop of their listener threads
//! ("LearnerCnxAcceptor-<addr>", "ObserverMaster") with its bound on
//! sockets that have not sent their first packet yet, and the sync planned
//! from this peer's database.

use crate::jute::records::QuorumPacket;
use crate::quorum::auth::quorum_auth::QuorumPeerAuth;
use crate::quorum::leader::LeaderSettings;
use crate::quorum::learner_handler::{plan_sync, History, LearnerHandler, SyncPlan};
use crate::quorum::quorum_peer::QuorumPeer;
use crate::quorum::unified_server_socket::QuorumSsl;
use crate::server::request::Request;
use crate::server::zk_database::ZkDatabase;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tracing::{debug, warn};

pub trait LearnerMaster: Send + Sync {
    /// The peer this master runs in.
    fn peer(&self) -> &Arc<QuorumPeer>;
    /// Whether this master still serves learners.
    fn is_running(&self) -> bool;
    /// syncLimit ticks.
    fn sync_timeout(&self) -> Duration {
        let c = self.peer().config();
        Duration::from_millis((i64::from(c.tick_time) * i64::from(c.sync_limit)).max(1) as u64)
    }
    /// initLimit ticks.
    fn init_timeout(&self) -> Duration {
        let c = self.peer().config();
        Duration::from_millis((i64::from(c.tick_time) * i64::from(c.init_limit)).max(1) as u64)
    }
    /// The quorum SASL server learners authenticate with (Java's
    /// getQuorumAuthServer).
    fn quorum_auth(&self) -> &QuorumPeerAuth {
        self.peer().quorum_auth()
    }
    /// How learner connections are accepted (sslQuorum, portUnification).
    fn quorum_ssl(&self) -> &QuorumSsl {
        self.peer().quorum_ssl()
    }
    /// The system properties the handlers read.
    fn settings(&self) -> &LeaderSettings {
        &self.peer().settings().leader
    }
    /// The newest zxid proposed (pings carry it).
    fn last_proposed(&self) -> i64;
    /// The newest zxid applied to the database.
    fn last_processed_zxid(&self) -> i64 {
        self.peer().zk_db().last_processed_zxid()
    }
    /// The membership version learners compare their own with.
    fn quorum_verifier_version(&self) -> i64 {
        self.peer().quorum_verifier().version()
    }
    /// The membership NEWLEADER carries.
    fn quorum_verifier_bytes(&self) -> Vec<u8>;
    /// A sid for a learner that did not say who it is.
    fn next_anonymous_sid(&self) -> i64;
    /// The member's quorum and election addresses and type, as the log
    /// prints them, if it is one.
    fn peer_info(&self, sid: i64) -> Option<String> {
        self.peer().quorum_verifier().all_members().get(&sid).map(|s| {
            let addr = |v: &[crate::quorum::quorum_peer_config::HostPort]| {
                v.first().map(|h| format!("{}:{}", h.host, h.port)).unwrap_or_default()
            };
            format!("{}:{}:{}", addr(&s.addrs), addr(&s.election_addrs).rsplit(':').next().unwrap_or(""), s.peer_type.name())
        })
    }
    /// A handler started / stopped.
    fn add_learner_handler(&self, h: &Arc<LearnerHandler>);
    fn remove_learner_handler(&self, h: &LearnerHandler);
    /// The handler's first packet arrived (or it gave up waiting for it).
    fn handshake_done(&self, id: u64);
    /// The learner said who it is (sid and type known); an error ends the
    /// connection (a follower at an ObserverMaster).
    fn identify_learner(&self, h: &LearnerHandler) -> io::Result<()>;
    /// Epoch negotiation: the epoch to tell the learner, then its ACKEPOCH.
    fn get_epoch_to_propose(&self, sid: i64, last_accepted_epoch: i64) -> io::Result<i64>;
    fn wait_for_epoch_ack(&self, sid: i64, epoch: i64, last_zxid: i64) -> io::Result<()>;
    /// How to bring the learner from `peer_last_zxid` up to date; its
    /// packets are queued on `h`, then every later one (startForwarding).
    fn sync_learner(&self, h: &Arc<LearnerHandler>, peer_last_zxid: i64) -> io::Result<SyncPlan>;
    /// The database as a SNAP stream.
    fn serialize_snapshot(&self, mut out: &mut dyn io::Write) -> io::Result<()> {
        self.peer().zk_db().serialize_snapshot(&mut out)
    }
    /// Waits for NEWLEADER's ack, then for the master to serve.
    fn wait_for_new_leader_ack(&self, sid: i64, zxid: i64) -> io::Result<()>;
    fn wait_for_startup(&self) -> io::Result<()>;
    /// Sends UPTODATE once the learner is synced.
    fn send_up_to_date(&self, h: &LearnerHandler);
    /// Any packet from the learner (its sync-limit clock).
    fn heard_from(&self, h: &LearnerHandler);
    /// The learner's ACK of a proposal.
    fn process_ack(&self, sid: i64, zxid: i64, from: Option<SocketAddr>);
    /// The learner's sessions (PING payload).
    fn touch(&self, session_id: i64, timeout: i32);
    /// A REVALIDATE of (session, timeout): the answer (the session id and
    /// whether it lives) is queued on `h`, now or once known.
    fn revalidate_session(&self, h: &LearnerHandler, qp: QuorumPacket, session_id: i64, timeout: i32);
    /// A client request the learner forwarded.
    fn submit_learner_request(&self, req: Request);
}

/// The REVALIDATE answer to queue for a learner: the session id, then
/// whether the session lives.
pub fn revalidate_answer(qp: QuorumPacket, session_id: i64, valid: bool) -> QuorumPacket {
    let mut reply = Vec::with_capacity(9);
    reply.extend_from_slice(&session_id.to_be_bytes());
    reply.push(u8::from(valid));
    QuorumPacket { data: Some(reply), ..qp }
}

/// How many accepted learner sockets may be waiting for their first packet
/// at once (Java has no bound): far more than an ensemble's learners, which
/// send it at once, so only strangers that connect and stay silent or
/// trickle are closed to make room.
pub const MAX_LEARNER_HANDSHAKES: usize = 64;

/// A master's accepted learner sockets whose first packet has not arrived
/// yet, oldest first, by handshake id.
#[derive(Default)]
pub struct PendingHandshakes {
    waiting: Mutex<VecDeque<(u64, TcpStream)>>,
    next_id: AtomicU64,
}

impl PendingHandshakes {
    /// The socket's first packet arrived, or its handler ended.
    pub fn done(&self, id: u64) {
        self.waiting.lock().retain(|(i, _)| *i != id);
    }

    /// Tracks a new socket, closing the oldest one beyond
    /// MAX_LEARNER_HANDSHAKES; returns its handshake id.
    fn started(&self, sock: TcpStream) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let evicted = {
            let mut waiting = self.waiting.lock();
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
        id
    }
}

/// The listener thread's loop: a LearnerHandler for every accepted socket,
/// until the master stops (its listener is shut down to wake the accept).
pub fn accept_learners(master: &Arc<dyn LearnerMaster>, l: &TcpListener, pending: &PendingHandshakes) {
    while master.is_running() {
        match l.accept() {
            Ok((sock, remote)) => {
                if !master.is_running() {
                    break;
                }
                let id = match sock.try_clone() {
                    Ok(handle) => pending.started(handle),
                    Err(e) => {
                        warn!("Cannot use the learner connection from {}: {e}", crate::common::net_utils::canonical(remote));
                        continue;
                    }
                };
                if let Err(e) = LearnerHandler::start(Arc::clone(master), sock, id) {
                    warn!("Cannot start a LearnerHandler: {e}");
                    pending.done(id);
                }
            }
            Err(e) => {
                if master.is_running() {
                    warn!("Exception while accepting a learner: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }
}

/// calculateTxnLogSizeLimit: zookeeper.snapshotSizeFactor times the
/// newest snapshot's size; 0 (no snapshot, or a factor of 0) means no
/// limit, and a negative factor turns txn-log syncs off (-1), as in
/// Java's isTxnLogSyncEnabled.
fn txn_log_size_limit(peer: &QuorumPeer, db: &ZkDatabase) -> i64 {
    let factor = peer.settings().zk_database.snapshot_size_factor;
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

/// syncFollower from this peer's database: decides a learner's sync and
/// queues its DIFF/TRUNC packets on `h`, then `start_forwarding` (from the
/// plan's last zxid) queues every later txn and makes the learner one the
/// master forwards to. A learner older than the committedLog needs the txn
/// log, which is read from disk first, holding no lock. The plan itself is
/// made in memory under the committedLog's read lock (Java's logLock): a
/// txn committed meanwhile waits to be applied until `start_forwarding`
/// has run, so the master still has it to forward. If the committedLog
/// moved past what was read from disk, the plan sees the gap and falls
/// back to a snapshot, which the handler streams itself.
pub fn sync_from_database(
    peer: &QuorumPeer,
    h: &LearnerHandler,
    peer_last_zxid: i64,
    start_forwarding: impl FnOnce(i64) -> io::Result<()>,
) -> io::Result<SyncPlan> {
    let db = Arc::clone(peer.zk_db());
    let oldest = db.min_committed_log().unwrap_or_else(|| db.last_processed_zxid());
    let from_disk = if peer_last_zxid < oldest {
        match db.proposals_from_txn_log(peer_last_zxid, txn_log_size_limit(peer, &db)) {
            Ok(p) => p,
            Err(e) => {
                warn!("Cannot read the transaction log for a DIFF sync: {e}");
                None
            }
        }
    } else {
        None
    };
    db.with_committed_log(|committed| {
        let history = History { committed, last_processed_zxid: db.last_processed_zxid() };
        let plan = if peer.settings().leader.force_snapshot_sync {
            warn!("Forcing snapshot sync - should not see this in production");
            SyncPlan { packets: Vec::new(), need_snap: true, current_zxid: history.last_processed_zxid }
        } else {
            plan_sync(h.sid(), peer_last_zxid, &history, move |_| from_disk)
        };
        for p in &plan.packets {
            h.queue_packet(p.clone());
        }
        debug!("Start forwarding 0x{:x} for peer sid: {}", plan.current_zxid, h.sid());
        start_forwarding(plan.current_zxid)?;
        Ok(plan)
    })
}
