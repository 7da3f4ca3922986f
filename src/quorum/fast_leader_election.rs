//! FastLeaderElection (electionAlg=3): the election a LOOKING peer runs.
//!
//! Threads: the Messenger's `WorkerSender[myid=N]` turns queued ToSend
//! records into notification bytes for the QuorumCnxManager, and
//! `WorkerReceiver[myid=N]` parses what the manager receives. While this
//! peer is LOOKING the receiver queues notifications for `look_for_leader`
//! (and answers a LOOKING peer whose round is behind ours); otherwise it
//! answers any LOOKING peer, and every non-voter, with the vote this peer
//! decided on, which is how a peer joining an established ensemble learns
//! the leader. `look_for_leader` itself runs on the QuorumPeer thread.
//!
//! What to do lives in `core::FastLeaderElectionCore` (sans-I/O): this module owns the
//! wire format, the queues and the threads, and only carries out what the
//! core decides. `look_for_leader` waits on the election's queue until the
//! core's next timeout and feeds it each notification or the timeout; the
//! WorkerReceiver asks the core what to do with each notification. Before
//! each step the core learns which peers the QuorumCnxManager has lost, so
//! that the finalize wait ends once every other voter was heard or lost.
//!
//! A notification (Java 3.8, format version 2), big-endian:
//! state i32, leader i64, zxid i64, election epoch i64, peer epoch i64,
//! version i32, config length i32, config bytes (the sender's membership as
//! QuorumVerifier.toString writes it). Older peers send 28 bytes (no peer epoch:
//! it is the zxid's epoch), 40 bytes (no version), or version 1 (no config).

pub mod core;
#[cfg(test)]
mod scenarios;

use self::core::{FastLeaderElectionCore, Outgoing, Timing};
use crate::common::time::current_elapsed_time;
use crate::jute::InputArchive;
use crate::quorum::quorum_cnx_manager::QuorumCnxManager;
use crate::quorum::quorum_maj::version_of_config_string;
use crate::quorum::quorum_verifier::QuorumVerifier;
use crate::quorum::quorum_peer::QuorumPeer;
use crate::quorum::quorum_peer_config::system_properties::SystemProperties;
use crate::quorum::quorum_peer_config::ConfigError;
use crate::quorum::vote::{ServerState, Vote};
use crossbeam_channel::{select, Receiver, Sender};
use parking_lot::{Mutex, MutexGuard};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;
use tracing::{debug, info, warn};

/// The zookeeper.fastleader.* system properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastLeaderElectionSettings {
    /// zookeeper.fastleader.minNotificationInterval (ms, default 200).
    pub min_notification_interval_ms: i32,
    /// zookeeper.fastleader.maxNotificationInterval (ms, default 60000).
    pub max_notification_interval_ms: i32,
}

impl FastLeaderElectionSettings {
    pub fn read(props: &SystemProperties) -> Result<FastLeaderElectionSettings, ConfigError> {
        Ok(FastLeaderElectionSettings {
            min_notification_interval_ms: props.int("zookeeper.fastleader.minNotificationInterval", 200)?,
            max_notification_interval_ms: props.int("zookeeper.fastleader.maxNotificationInterval", 60000)?,
        })
    }
}

/// The notification format version this server sends.
pub const NOTIFICATION_CURRENT_VERSION: i32 = 2;
/// How long a decided vote must stay unchallenged before it is final (ms).
pub const FINALIZE_WAIT_MS: u64 = 200;
/// How long the messenger threads wait for work before checking for stop.
const MESSENGER_POLL: Duration = Duration::from_millis(3000);

/// The bytes of one notification in the current format.
pub fn build_msg(state: ServerState, leader: i64, zxid: i64, election_epoch: i64, peer_epoch: i64, config: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(44 + config.len());
    b.extend_from_slice(&(state as i32).to_be_bytes());
    b.extend_from_slice(&leader.to_be_bytes());
    b.extend_from_slice(&zxid.to_be_bytes());
    b.extend_from_slice(&election_epoch.to_be_bytes());
    b.extend_from_slice(&peer_epoch.to_be_bytes());
    b.extend_from_slice(&NOTIFICATION_CURRENT_VERSION.to_be_bytes());
    b.extend_from_slice(&(config.len() as i32).to_be_bytes());
    b.extend_from_slice(config);
    b
}

/// A received notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Format version (0 for the 28- and 40-byte forms).
    pub version: i32,
    pub leader: i64,
    pub zxid: i64,
    pub election_epoch: i64,
    /// The sender's state as sent (see `ServerState::from_wire`).
    pub state: i32,
    /// Who sent it.
    pub sid: i64,
    pub peer_epoch: i64,
    /// The sender's membership (format version 2 and later).
    pub config: Option<String>,
}

impl Notification {
    /// Parses a notification from `sid` the way Java's WorkerReceiver does;
    /// `Err` says why it is skipped.
    pub fn parse(buf: &[u8], sid: i64) -> Result<Notification, String> {
        let capacity = buf.len();
        if capacity < 28 {
            return Err(format!("Got a short response from server {sid}: {capacity}"));
        }
        let mut r = InputArchive::new(buf);
        let underflow = |_| format!("Skipping the processing of a partial / malformed response message sent by sid={sid} (message length: {capacity})");
        let state = r.read_int().map_err(underflow)?;
        let leader = r.read_long().map_err(underflow)?;
        let zxid = r.read_long().map_err(underflow)?;
        let election_epoch = r.read_long().map_err(underflow)?;
        let mut version = 0;
        let peer_epoch = if capacity == 28 {
            info!("Backward compatibility mode (28 bits), server id: {sid}");
            zxid >> 32
        } else {
            let e = r.read_long().map_err(underflow)?;
            if capacity == 40 {
                info!("Backward compatibility mode (36 bits), server id: {sid}");
            } else {
                version = r.read_int().map_err(underflow)?;
            }
            e
        };
        let config = if version > 1 {
            let len = r.read_int().map_err(underflow)?;
            if len < 0 || len as usize > capacity {
                return Err(format!(
                    "Invalid configLength in notification message! sid={sid}, capacity={capacity}, version={version}, configLength={len}"
                ));
            }
            let bytes = r.read_bytes(len as usize).map_err(underflow)?;
            Some(String::from_utf8_lossy(bytes).into_owned())
        } else {
            info!("Backward compatibility mode (before reconfig), server id: {sid}");
            None
        };
        Ok(Notification { version, leader, zxid, election_epoch, state, sid, peer_epoch, config })
    }
}

/// A notification waiting for the WorkerSender, with the membership it
/// carries.
#[derive(Debug, Clone)]
struct ToSend {
    msg: Outgoing,
    config: Vec<u8>,
}

/// The election. Shared by the QuorumPeer thread, which drives the core in
/// `look_for_leader`, and the messenger threads.
pub struct FastLeaderElection {
    peer: Weak<QuorumPeer>,
    my_id: i64,
    manager: Arc<QuorumCnxManager>,
    /// The decisions; locked only for one call, never while waiting.
    core: Mutex<FastLeaderElectionCore>,
    send_tx: Sender<ToSend>,
    send_rx: Receiver<ToSend>,
    recv_tx: Sender<Notification>,
    recv_rx: Receiver<Notification>,
    /// Dropped by `shutdown` so a waiting `look_for_leader` returns.
    stop_tx: Mutex<Option<Sender<()>>>,
    stop_rx: Receiver<()>,
    stop: AtomicBool,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl FastLeaderElection {
    /// Builds the election for `peer` and starts its messenger threads.
    pub fn start(
        peer: &Arc<QuorumPeer>,
        manager: Arc<QuorumCnxManager>,
        min_notification_interval_ms: u64,
        max_notification_interval_ms: u64,
    ) -> std::io::Result<Arc<FastLeaderElection>> {
        let (send_tx, send_rx) = crossbeam_channel::unbounded();
        let (recv_tx, recv_rx) = crossbeam_channel::unbounded();
        let (stop_tx, stop_rx) = crossbeam_channel::bounded(0);
        info!("fastleader.minNotificationInterval = {min_notification_interval_ms} ms");
        info!("fastleader.maxNotificationInterval = {max_notification_interval_ms} ms");
        let timing = Timing {
            min_notification_interval_ms,
            max_notification_interval_ms,
            finalize_wait_ms: FINALIZE_WAIT_MS,
        };
        let core = FastLeaderElectionCore::new(peer.id(), peer.learner_type(), (*peer.quorum_verifier()).clone(), timing);
        let fle = Arc::new(FastLeaderElection {
            peer: Arc::downgrade(peer),
            my_id: peer.id(),
            manager,
            core: Mutex::new(core),
            send_tx,
            send_rx,
            recv_tx,
            recv_rx,
            stop_tx: Mutex::new(Some(stop_tx)),
            stop_rx,
            stop: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
        });
        let me = Arc::clone(&fle);
        let sender = crate::server::zoo_keeper_critical_thread::spawn(format!("WorkerSender[myid={}]", fle.my_id), move || me.worker_sender())?;
        let me = Arc::clone(&fle);
        let receiver = crate::server::zoo_keeper_critical_thread::spawn(format!("WorkerReceiver[myid={}]", fle.my_id), move || me.worker_receiver())?;
        fle.threads.lock().extend([sender, receiver]);
        Ok(fle)
    }

    /// A new configuration came into force: the election counts votes
    /// against it from now on (Java restarts its election instead).
    pub fn reconfigure(&self, learner_type: crate::quorum::quorum_peer_config::LearnerType, qv: &QuorumVerifier) {
        self.core.lock().reconfigure(learner_type, qv.clone());
    }

    /// Stops the election and its messenger threads (they notice within a
    /// few seconds; a waiting `look_for_leader` returns at once).
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::Release);
        self.stop_tx.lock().take();
        self.manager.halt();
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    // ---------------- Messenger ----------------

    fn worker_sender(self: Arc<Self>) {
        while !self.stopped() {
            let Ok(ToSend { msg: m, config }) = self.send_rx.recv_timeout(MESSENGER_POLL) else { continue };
            let bytes = build_msg(m.state, m.leader, m.zxid, m.election_epoch, m.peer_epoch, &config);
            self.manager.to_send(m.to, bytes);
        }
        info!("WorkerSender is down");
    }

    fn worker_receiver(self: Arc<Self>) {
        while !self.stopped() {
            let Some(msg) = self.manager.poll_recv_queue(MESSENGER_POLL) else { continue };
            let Some(peer) = self.peer.upgrade() else { break };
            match Notification::parse(&msg.buffer, msg.sid) {
                Ok(n) => self.receive(&peer, n),
                Err(why) => warn!("{why}"),
            }
        }
        info!("WorkerReceiver is down");
    }

    /// The WorkerReceiver's handling of one notification: the core decides
    /// whether the election gets it and what to answer.
    fn receive(&self, peer: &QuorumPeer, n: Notification) {
        let qv = peer.quorum_verifier();
        if let Some(config) = &n.config {
            if let Some(v) = version_of_config_string(config) {
                // A newer configuration learnt from a notification comes
                // into force while looking (Java's WorkerReceiver); a
                // serving peer hears of it from its leader.
                if v > qv.version() && peer.is_reconfig_enabled() && peer.peer_state() == ServerState::Looking {
                    info!("{} Received version: {:x} my version: {:x}", self.my_id, v, qv.version());
                    match peer.config_from_string(config.as_bytes()) {
                        Ok(rqv) => {
                            peer.process_reconfig(rqv, None, None);
                        }
                        Err(e) => warn!("Something went wrong while processing config received from {}: {e}", n.sid),
                    }
                }
            }
        }
        let (state, current) = (peer.peer_state(), peer.current_vote());
        // A leader hears that a voter looks again (it may have given up on
        // us): the Leader decides whether to stop waiting for its epoch.
        if state != ServerState::Looking && ServerState::from_wire(n.state) == Some(ServerState::Looking) && qv.is_voter(n.sid) {
            if let Some(leader) = peer.leader() {
                if let Some(voters) = self.core.lock().take_leading_vote_set() {
                    leader.set_leading_vote_set(voters);
                }
                leader.report_looking_sid(n.sid);
            }
        }
        let receipt = self.core.lock().answer(&n, state, &current);
        if receipt.to_election {
            let _ = self.recv_tx.send(n);
        }
        if let Some(reply) = receipt.reply {
            self.queue_send(peer, reply);
        }
    }

    fn queue_send(&self, peer: &QuorumPeer, msg: Outgoing) {
        let config = peer.quorum_verifier().config_string().into_bytes();
        let _ = self.send_tx.send(ToSend { msg, config });
    }

    // ---------------- the election proper ----------------

    /// The next queued notification within `timeout`; `None` on timeout or
    /// shutdown.
    fn poll(&self, timeout: Duration) -> Option<Notification> {
        select! {
            recv(self.recv_rx) -> n => n.ok(),
            recv(self.stop_rx) -> _ => None,
            default(timeout) => None,
        }
    }

    /// The core, locked, once told which peers the manager has lost.
    fn core_told_lost_peers(&self) -> MutexGuard<'_, FastLeaderElectionCore> {
        let lost = self.manager.lost_peers();
        let mut core = self.core.lock();
        core.set_lost_peers(lost);
        core
    }

    /// Runs one election: returns the decided vote (the peer's state is set
    /// to LEADING, FOLLOWING or OBSERVING), or `None` when the peer stopped
    /// looking or the election was shut down. The core decides; this loop
    /// waits on the queue until the core's next timeout and carries out
    /// what each step asks.
    pub fn look_for_leader(&self) -> Option<Vote> {
        let peer = self.peer.upgrade()?;
        let mut step = self.core_told_lost_peers().start(peer.last_logged_zxid(), peer.current_epoch(), current_elapsed_time());
        loop {
            for msg in step.sends {
                self.queue_send(&peer, msg);
            }
            if step.connect_all {
                self.manager.connect_all();
            }
            if let Some(n) = step.requeue {
                let _ = self.recv_tx.send(n);
            }
            if let Some(d) = step.decision {
                peer.set_current_vote(d.vote);
                peer.set_peer_state(d.state);
                debug!(
                    "About to leave FLE instance: leader={}, zxid=0x{:x}, my id={}, my state={}",
                    d.vote.id, d.vote.zxid, self.my_id, d.state
                );
                while self.recv_rx.try_recv().is_ok() {}
                return Some(d.vote);
            }
            let wake_at = step.wake_at?;
            if peer.peer_state() != ServerState::Looking || self.stopped() {
                return None;
            }
            step = match self.poll(Duration::from_millis(wake_at.saturating_sub(current_elapsed_time()))) {
                Some(n) => self.core_told_lost_peers().receive(n, current_elapsed_time()),
                None if self.stopped() => return None,
                None => {
                    let delivered = self.manager.have_delivered();
                    self.core_told_lost_peers().tick(current_elapsed_time(), delivered)
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_default_as_java() {
        let s = FastLeaderElectionSettings::read(&SystemProperties::of(&[])).unwrap();
        assert_eq!((s.min_notification_interval_ms, s.max_notification_interval_ms), (200, 60000));
        let e = FastLeaderElectionSettings::read(&SystemProperties::of(&[("fastleader.maxNotificationInterval", "1m")]));
        assert_eq!(e.unwrap_err().to_string(), "fastleader.maxNotificationInterval: \"1m\" is not a number");
    }

    #[test]
    fn notification_layout() {
        let b = build_msg(ServerState::Following, 3, 0x1_0000_0005, 2, 1, b"version=0");
        assert_eq!(b.len(), 44 + 9);
        assert_eq!(&b[0..4], &1i32.to_be_bytes());
        assert_eq!(&b[36..40], &2i32.to_be_bytes());
        assert_eq!(&b[40..44], &9i32.to_be_bytes());
        let n = Notification::parse(&b, 7).unwrap();
        assert_eq!(
            n,
            Notification {
                version: 2,
                leader: 3,
                zxid: 0x1_0000_0005,
                election_epoch: 2,
                state: 1,
                sid: 7,
                peer_epoch: 1,
                config: Some("version=0".into())
            }
        );
    }

    #[test]
    fn older_formats() {
        let b = build_msg(ServerState::Looking, 3, 0x2_0000_0001, 4, 9, b"");
        let n28 = Notification::parse(&b[..28], 1).unwrap();
        assert_eq!((n28.peer_epoch, n28.version, n28.config), (2, 0, None), "28 bytes: epoch of the zxid");
        let n40 = Notification::parse(&b[..40], 1).unwrap();
        assert_eq!((n40.peer_epoch, n40.version), (9, 0));
        // Version 1 (no config) with trailing bytes: only 40-byte messages
        // are taken as carrying no version.
        let mut v1 = b[..36].to_vec();
        v1.extend_from_slice(&1i32.to_be_bytes());
        v1.extend_from_slice(&[0; 4]);
        let n = Notification::parse(&v1, 1).unwrap();
        assert_eq!((n.version, n.config), (1, None));
    }

    #[test]
    fn malformed_notifications() {
        let b = build_msg(ServerState::Looking, 3, 1, 1, 1, b"abc");
        assert!(Notification::parse(&b[..27], 1).unwrap_err().contains("short response"));
        assert!(Notification::parse(&b[..36], 1).unwrap_err().contains("partial / malformed"));
        assert!(Notification::parse(&b[..45], 1).unwrap_err().contains("partial / malformed"));
        let mut bad = b.clone();
        bad[40..44].copy_from_slice(&(-1i32).to_be_bytes());
        assert!(Notification::parse(&bad, 1).unwrap_err().contains("Invalid configLength"));
        bad[40..44].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(Notification::parse(&bad, 1).unwrap_err().contains("Invalid configLength"));
    }
}
