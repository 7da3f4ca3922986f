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
//! A notification (Java 3.8, format version 2), big-endian:
//! state i32, leader i64, zxid i64, election epoch i64, peer epoch i64,
//! version i32, config length i32, config bytes (the sender's membership as
//! QuorumMaj.toString writes it). Older peers send 28 bytes (no peer epoch:
//! it is the zxid's epoch), 40 bytes (no version), or version 1 (no config).

use crate::quorum::quorum_cnx_manager::QuorumCnxManager;
use crate::quorum::quorum_maj::version_of_config_string;
use crate::quorum::quorum_peer::QuorumPeer;
use crate::quorum::quorum_peer_config::LearnerType;
use crate::quorum::vote::{ServerState, Vote};
use crossbeam_channel::{select, Receiver, Sender};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;
use tracing::{debug, info, warn};

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
        let mut r = Cursor { buf, pos: 0 };
        let underflow = || format!("Skipping the processing of a partial / malformed response message sent by sid={sid} (message length: {capacity})");
        let state = r.int().ok_or_else(underflow)?;
        let leader = r.long().ok_or_else(underflow)?;
        let zxid = r.long().ok_or_else(underflow)?;
        let election_epoch = r.long().ok_or_else(underflow)?;
        let mut version = 0;
        let peer_epoch = if capacity == 28 {
            info!("Backward compatibility mode (28 bits), server id: {sid}");
            zxid >> 32
        } else {
            let e = r.long().ok_or_else(underflow)?;
            if capacity == 40 {
                info!("Backward compatibility mode (36 bits), server id: {sid}");
            } else {
                version = r.int().ok_or_else(underflow)?;
            }
            e
        };
        let config = if version > 1 {
            let len = r.int().ok_or_else(underflow)?;
            if len < 0 || len as usize > capacity {
                return Err(format!(
                    "Invalid configLength in notification message! sid={sid}, capacity={capacity}, version={version}, configLength={len}"
                ));
            }
            let bytes = r.bytes(len as usize).ok_or_else(underflow)?;
            Some(String::from_utf8_lossy(bytes).into_owned())
        } else {
            info!("Backward compatibility mode (before reconfig), server id: {sid}");
            None
        };
        Ok(Notification { version, leader, zxid, election_epoch, state, sid, peer_epoch, config })
    }
}

/// Big-endian reads that fail instead of running past the end.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let out = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }

    fn int(&mut self) -> Option<i32> {
        self.bytes(4).and_then(|b| b.try_into().ok()).map(i32::from_be_bytes)
    }

    fn long(&mut self) -> Option<i64> {
        self.bytes(8).and_then(|b| b.try_into().ok()).map(i64::from_be_bytes)
    }
}

/// A notification waiting for the WorkerSender.
#[derive(Debug, Clone)]
struct ToSend {
    leader: i64,
    zxid: i64,
    election_epoch: i64,
    state: ServerState,
    /// The destination.
    sid: i64,
    peer_epoch: i64,
    config: Vec<u8>,
}

/// The vote this peer currently proposes.
#[derive(Debug, Clone, Copy)]
struct Proposal {
    leader: i64,
    zxid: i64,
    epoch: i64,
}

/// Java's totalOrderPredicate: whether the new proposal beats the current
/// one, by peer epoch, then zxid, then sid. A proposal for a server without
/// a vote (weight 0) never wins.
pub fn total_order_predicate(
    new_weight: i64,
    new: (i64, i64, i64),
    cur: (i64, i64, i64),
) -> bool {
    let (new_id, new_zxid, new_epoch) = new;
    let (cur_id, cur_zxid, cur_epoch) = cur;
    if new_weight == 0 {
        return false;
    }
    (new_epoch, new_zxid, new_id) > (cur_epoch, cur_zxid, cur_id)
}

/// The election. Shared by the QuorumPeer thread and the messenger threads.
pub struct FastLeaderElection {
    peer: Weak<QuorumPeer>,
    my_id: i64,
    manager: Arc<QuorumCnxManager>,
    /// The election round (Java's logicalclock).
    logicalclock: AtomicI64,
    proposal: Mutex<Proposal>,
    send_tx: Sender<ToSend>,
    send_rx: Receiver<ToSend>,
    recv_tx: Sender<Notification>,
    recv_rx: Receiver<Notification>,
    /// Dropped by `shutdown` so a waiting `look_for_leader` returns.
    stop_tx: Mutex<Option<Sender<()>>>,
    stop_rx: Receiver<()>,
    stop: AtomicBool,
    min_notification_interval_ms: u64,
    max_notification_interval_ms: u64,
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
        let fle = Arc::new(FastLeaderElection {
            peer: Arc::downgrade(peer),
            my_id: peer.id(),
            manager,
            logicalclock: AtomicI64::new(0),
            proposal: Mutex::new(Proposal { leader: -1, zxid: -1, epoch: -1 }),
            send_tx,
            send_rx,
            recv_tx,
            recv_rx,
            stop_tx: Mutex::new(Some(stop_tx)),
            stop_rx,
            stop: AtomicBool::new(false),
            min_notification_interval_ms,
            max_notification_interval_ms: max_notification_interval_ms.max(min_notification_interval_ms),
            threads: Mutex::new(Vec::new()),
        });
        let me = Arc::clone(&fle);
        let sender = crate::server::zoo_keeper_critical_thread::spawn(format!("WorkerSender[myid={}]", fle.my_id), move || me.worker_sender())?;
        let me = Arc::clone(&fle);
        let receiver = crate::server::zoo_keeper_critical_thread::spawn(format!("WorkerReceiver[myid={}]", fle.my_id), move || me.worker_receiver())?;
        fle.threads.lock().extend([sender, receiver]);
        Ok(fle)
    }

    /// The current election round.
    pub fn logical_clock(&self) -> i64 {
        self.logicalclock.load(Ordering::Acquire)
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
            let Ok(m) = self.send_rx.recv_timeout(MESSENGER_POLL) else { continue };
            let bytes = build_msg(m.state, m.leader, m.zxid, m.election_epoch, m.peer_epoch, &m.config);
            self.manager.to_send(m.sid, bytes);
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

    fn receive(&self, peer: &QuorumPeer, n: Notification) {
        let qv = peer.quorum_verifier();
        if let Some(config) = &n.config {
            if let Some(v) = version_of_config_string(config) {
                if v > qv.version() {
                    warn!(
                        "{} Received version: {:x} my version: {:x}; dynamic reconfiguration is not supported, \
                         keeping my configuration",
                        self.my_id,
                        v,
                        qv.version()
                    );
                }
            }
        }
        let config = qv.config_string().into_bytes();
        // A non-voter (an observer, or a server outside our configuration)
        // gets our current vote right away.
        if !qv.is_voter(n.sid) {
            let v = peer.current_vote();
            self.queue_send(ToSend {
                leader: v.id,
                zxid: v.zxid,
                election_epoch: self.logical_clock(),
                state: peer.peer_state(),
                sid: n.sid,
                peer_epoch: v.peer_epoch,
                config,
            });
            return;
        }
        let Some(ack_state) = ServerState::from_wire(n.state) else { return };
        info!(
            "Notification: my state:{}; n.sid:{}, n.state:{}, n.leader:{}, n.round:0x{:x}, n.peerEpoch:0x{:x}, \
             n.zxid:0x{:x}, message format version:0x{:x}, n.config version:0x{:x}",
            peer.peer_state(),
            n.sid,
            ack_state,
            n.leader,
            n.election_epoch,
            n.peer_epoch,
            n.zxid,
            n.version,
            n.config.as_deref().and_then(version_of_config_string).unwrap_or(0)
        );
        if peer.peer_state() == ServerState::Looking {
            let behind = ack_state == ServerState::Looking && n.election_epoch < self.logical_clock();
            let sid = n.sid;
            let _ = self.recv_tx.send(n);
            // A LOOKING peer in an older round learns ours.
            if behind {
                let p = *self.proposal.lock();
                self.queue_send(ToSend {
                    leader: p.leader,
                    zxid: p.zxid,
                    election_epoch: self.logical_clock(),
                    state: peer.peer_state(),
                    sid,
                    peer_epoch: p.epoch,
                    config,
                });
            }
        } else if ack_state == ServerState::Looking {
            // We have decided; tell the LOOKING peer what.
            let v = peer.current_vote();
            debug!("Sending new notification. My id ={} recipient={} zxid=0x{:x} leader={}", self.my_id, n.sid, v.zxid, v.id);
            self.queue_send(ToSend {
                leader: v.id,
                zxid: v.zxid,
                election_epoch: v.election_epoch,
                state: peer.peer_state(),
                sid: n.sid,
                peer_epoch: v.peer_epoch,
                config,
            });
        }
    }

    fn queue_send(&self, m: ToSend) {
        let _ = self.send_tx.send(m);
    }

    // ---------------- the election proper ----------------

    fn init_id(&self, peer: &QuorumPeer) -> i64 {
        if peer.quorum_verifier().is_voter(self.my_id) {
            self.my_id
        } else {
            i64::MIN
        }
    }

    fn init_last_logged_zxid(&self, peer: &QuorumPeer) -> i64 {
        if peer.learner_type() == LearnerType::Participant {
            peer.last_logged_zxid()
        } else {
            i64::MIN
        }
    }

    fn init_peer_epoch(&self, peer: &QuorumPeer) -> i64 {
        if peer.learner_type() == LearnerType::Participant {
            peer.current_epoch()
        } else {
            i64::MIN
        }
    }

    fn update_proposal(&self, leader: i64, zxid: i64, epoch: i64) {
        let mut p = self.proposal.lock();
        debug!(
            "Updating proposal: {} (newleader), 0x{:x} (newzxid), {} (oldleader), 0x{:x} (oldzxid)",
            leader, zxid, p.leader, p.zxid
        );
        *p = Proposal { leader, zxid, epoch };
    }

    fn beats(&self, peer: &QuorumPeer, new: (i64, i64, i64), cur: (i64, i64, i64)) -> bool {
        total_order_predicate(peer.quorum_verifier().weight(new.0), new, cur)
    }

    /// Our proposal to every voter (ourselves included, by loopback).
    fn send_notifications(&self, peer: &QuorumPeer) {
        let p = *self.proposal.lock();
        let qv = peer.quorum_verifier();
        let config = qv.config_string().into_bytes();
        for sid in qv.voting_ids() {
            debug!(
                "Sending Notification: {} (n.leader), 0x{:x} (n.zxid), 0x{:x} (n.round), {} (recipient), {} (myid), 0x{:x} (n.peerEpoch)",
                p.leader,
                p.zxid,
                self.logical_clock(),
                sid,
                self.my_id,
                p.epoch
            );
            self.queue_send(ToSend {
                leader: p.leader,
                zxid: p.zxid,
                election_epoch: self.logical_clock(),
                state: ServerState::Looking,
                sid,
                peer_epoch: p.epoch,
                config: config.clone(),
            });
        }
    }

    /// Whether the voters among `votes` agreeing with `vote` are a quorum
    /// (SyncedLearnerTracker.hasAllQuorums over one verifier).
    fn has_quorum(peer: &QuorumPeer, votes: &HashMap<i64, Vote>, vote: &Vote) -> bool {
        let acks: HashSet<i64> = votes.iter().filter(|(_, v)| *v == vote).map(|(sid, _)| *sid).collect();
        peer.quorum_verifier().contains_quorum(&acks)
    }

    /// Java's checkLeader: a leader other than us counts only once it has
    /// said it is LEADING; we count as leader only within our own round.
    fn check_leader(&self, votes: &HashMap<i64, Vote>, leader: i64, election_epoch: i64) -> bool {
        if leader != self.my_id {
            matches!(votes.get(&leader), Some(v) if v.state == ServerState::Leading)
        } else {
            self.logical_clock() == election_epoch
        }
    }

    /// Records the decided vote, then the state: LEADING when we are the
    /// leader, else FOLLOWING or OBSERVING by type.
    fn set_decided_state(&self, peer: &QuorumPeer, vote: &Vote) {
        peer.set_current_vote(*vote);
        let state = if vote.id == self.my_id {
            ServerState::Leading
        } else if peer.learner_type() == LearnerType::Participant {
            ServerState::Following
        } else {
            ServerState::Observing
        };
        peer.set_peer_state(state);
    }

    fn leave_instance(&self, v: &Vote, peer: &QuorumPeer) -> Vote {
        debug!(
            "About to leave FLE instance: leader={}, zxid=0x{:x}, my id={}, my state={}",
            v.id,
            v.zxid,
            self.my_id,
            peer.peer_state()
        );
        while self.recv_rx.try_recv().is_ok() {}
        *v
    }

    /// The next queued notification within `timeout`; `None` on timeout or
    /// shutdown.
    fn poll(&self, timeout: Duration) -> Option<Notification> {
        select! {
            recv(self.recv_rx) -> n => n.ok(),
            recv(self.stop_rx) -> _ => None,
            default(timeout) => None,
        }
    }

    /// Runs one election: returns the decided vote (the peer's state is set
    /// to LEADING, FOLLOWING or OBSERVING), or `None` when the peer stopped
    /// looking or the election was shut down.
    pub fn look_for_leader(&self) -> Option<Vote> {
        let peer = self.peer.upgrade()?;
        let mut recvset: HashMap<i64, Vote> = HashMap::new();
        let mut outofelection: HashMap<i64, Vote> = HashMap::new();
        let mut not_timeout = self.min_notification_interval_ms;
        {
            let mut p = self.proposal.lock();
            self.logicalclock.fetch_add(1, Ordering::AcqRel);
            *p = Proposal {
                leader: self.init_id(&peer),
                zxid: self.init_last_logged_zxid(&peer),
                epoch: self.init_peer_epoch(&peer),
            };
        }
        info!("New election. My id = {}, proposed zxid=0x{:x}", self.my_id, self.proposal.lock().zxid);
        self.send_notifications(&peer);

        while peer.peer_state() == ServerState::Looking && !self.stopped() {
            let Some(n) = self.poll(Duration::from_millis(not_timeout)) else {
                if self.stopped() {
                    break;
                }
                // Nothing heard: resend if our last round went out, else
                // (re)connect to everyone; back off exponentially.
                if self.manager.have_delivered() {
                    self.send_notifications(&peer);
                } else {
                    self.manager.connect_all();
                }
                not_timeout = (not_timeout * 2).min(self.max_notification_interval_ms);
                info!("Notification time out: {not_timeout} ms");
                continue;
            };
            let qv = peer.quorum_verifier();
            if !qv.is_voter(n.sid) || !qv.is_voter(n.leader) {
                if !qv.is_voter(n.leader) {
                    warn!("Ignoring notification for non-cluster member sid {} from sid {}", n.leader, n.sid);
                }
                if !qv.is_voter(n.sid) {
                    warn!("Ignoring notification for sid {} from non-quorum member sid {}", n.leader, n.sid);
                }
                continue;
            }
            let Some(state) = ServerState::from_wire(n.state) else { continue };
            match state {
                ServerState::Looking => {
                    if let Some(v) = self.on_looking(&peer, n, &mut recvset) {
                        return Some(v);
                    }
                }
                ServerState::Observing => debug!("Notification from observer: {}", n.sid),
                ServerState::Following | ServerState::Leading => {
                    if let Some(v) = self.on_decided(&peer, &n, state, &mut recvset, &mut outofelection) {
                        return Some(v);
                    }
                }
            }
        }
        None
    }

    /// A LOOKING peer's notification.
    fn on_looking(&self, peer: &QuorumPeer, n: Notification, recvset: &mut HashMap<i64, Vote>) -> Option<Vote> {
        if self.init_last_logged_zxid(peer) == -1 {
            debug!("Ignoring notification as our zxid is -1");
            return None;
        }
        if n.zxid == -1 {
            debug!("Ignoring notification from member with -1 zxid {}", n.sid);
            return None;
        }
        let clock = self.logical_clock();
        let mine = (self.init_id(peer), self.init_last_logged_zxid(peer), self.init_peer_epoch(peer));
        let theirs = (n.leader, n.zxid, n.peer_epoch);
        if n.election_epoch > clock {
            // A newer round: join it, starting over from our own vote.
            self.logicalclock.store(n.election_epoch, Ordering::Release);
            recvset.clear();
            if self.beats(peer, theirs, mine) {
                self.update_proposal(n.leader, n.zxid, n.peer_epoch);
            } else {
                self.update_proposal(mine.0, mine.1, mine.2);
            }
            self.send_notifications(peer);
        } else if n.election_epoch < clock {
            debug!(
                "Notification election epoch is smaller than logicalclock. n.electionEpoch = 0x{:x}, logicalclock=0x{:x}",
                n.election_epoch, clock
            );
            return None;
        } else {
            let p = *self.proposal.lock();
            if self.beats(peer, theirs, (p.leader, p.zxid, p.epoch)) {
                self.update_proposal(n.leader, n.zxid, n.peer_epoch);
                self.send_notifications(peer);
            }
        }
        debug!(
            "Adding vote: from={}, proposed leader={}, proposed zxid=0x{:x}, proposed election epoch=0x{:x}",
            n.sid, n.leader, n.zxid, n.election_epoch
        );
        recvset.insert(n.sid, Vote::new(n.leader, n.zxid, n.election_epoch, n.peer_epoch));
        let p = *self.proposal.lock();
        let proposed = Vote::new(p.leader, p.zxid, self.logical_clock(), p.epoch);
        if !Self::has_quorum(peer, recvset, &proposed) {
            return None;
        }
        // A quorum agrees; wait finalizeWait for anything that beats it.
        while let Some(next) = self.poll(Duration::from_millis(FINALIZE_WAIT_MS)) {
            if self.beats(peer, (next.leader, next.zxid, next.peer_epoch), (p.leader, p.zxid, p.epoch)) {
                let _ = self.recv_tx.send(next);
                return None;
            }
        }
        if self.stopped() {
            return None;
        }
        self.set_decided_state(peer, &proposed);
        Some(self.leave_instance(&proposed, peer))
    }

    /// A FOLLOWING or LEADING peer's notification: within our round it is
    /// a vote like any other; from an established ensemble it counts once a
    /// quorum follows the same leader and that leader says it leads.
    fn on_decided(
        &self,
        peer: &QuorumPeer,
        n: &Notification,
        state: ServerState,
        recvset: &mut HashMap<i64, Vote>,
        outofelection: &mut HashMap<i64, Vote>,
    ) -> Option<Vote> {
        let vote = Vote {
            version: n.version,
            id: n.leader,
            zxid: n.zxid,
            election_epoch: n.election_epoch,
            peer_epoch: n.peer_epoch,
            state,
        };
        let decided = Vote::new(n.leader, n.zxid, n.election_epoch, n.peer_epoch);
        if n.election_epoch == self.logical_clock() {
            recvset.insert(n.sid, Vote { version: 0, ..vote });
            if Self::has_quorum(peer, recvset, &vote) && self.check_leader(recvset, n.leader, n.election_epoch) {
                self.set_decided_state(peer, &decided);
                return Some(self.leave_instance(&decided, peer));
            }
        }
        outofelection.insert(n.sid, vote);
        if Self::has_quorum(peer, outofelection, &vote) && self.check_leader(outofelection, n.leader, n.election_epoch) {
            self.logicalclock.store(n.election_epoch, Ordering::Release);
            self.set_decided_state(peer, &decided);
            return Some(self.leave_instance(&decided, peer));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn total_order() {
        // epoch first, then zxid, then sid
        assert!(total_order_predicate(1, (1, 0, 2), (9, 9, 1)));
        assert!(total_order_predicate(1, (1, 5, 1), (9, 4, 1)));
        assert!(total_order_predicate(1, (3, 5, 1), (2, 5, 1)));
        assert!(!total_order_predicate(1, (2, 5, 1), (2, 5, 1)));
        assert!(!total_order_predicate(0, (9, 9, 9), (1, 1, 1)), "a non-voter never wins");
    }
}
