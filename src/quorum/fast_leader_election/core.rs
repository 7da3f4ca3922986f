//! The decisions of FastLeaderElection without its I/O: the election round
//! (logicalclock), the proposal, the votes received (recvset, outofelection),
//! the predicates, the notification timeout with its back-off and the
//! finalize wait, all as plain data.
//!
//! `ElectionCore` is stepped by the QuorumPeer thread inside
//! `FastLeaderElection::look_for_leader` (`start`, `receive`, `tick`) and
//! read by the `WorkerReceiver` thread (`answer`), both under one mutex.
//! Every method returns what to do (notifications to queue, a notification
//! to put back, a decision, when to wake up next) and never touches a
//! socket, a channel, a thread or the system clock: time comes in as a
//! `Duration` since an origin the caller fixes. Votes are kept in ordered
//! maps and nothing is random, so the same inputs give the same outputs.

use super::Notification;
use crate::quorum::quorum_maj::QuorumMaj;
use crate::quorum::quorum_peer_config::LearnerType;
use crate::quorum::vote::{ServerState, Vote};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;
use tracing::{debug, info, warn};

/// The election's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// The first notification timeout (fastleader.minNotificationInterval).
    pub min_notification_interval: Duration,
    /// The back-off's ceiling (fastleader.maxNotificationInterval).
    pub max_notification_interval: Duration,
    /// How long a quorum's proposal must go unchallenged (finalizeWait).
    pub finalize_wait: Duration,
}

/// One notification to queue for the WorkerSender (which adds the
/// membership to it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outgoing {
    /// The destination sid.
    pub to: i64,
    pub leader: i64,
    pub zxid: i64,
    pub election_epoch: i64,
    pub state: ServerState,
    pub peer_epoch: i64,
}

/// The end of an election: the vote to stand by and the state to take.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    pub vote: Vote,
    pub state: ServerState,
}

/// What one call asks the driver to do, in this order: queue `sends`,
/// dial every peer when `connect_all`, put `requeue` back at the tail of
/// the election's queue, and on a `decision` record it and drop what is
/// left in that queue. `wake_at` is when to `tick` if nothing arrives
/// (`None` once no election is running).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Step {
    pub sends: Vec<Outgoing>,
    pub connect_all: bool,
    pub requeue: Option<Notification>,
    pub decision: Option<Decision>,
    pub wake_at: Option<Duration>,
}

/// What the WorkerReceiver does with a parsed notification: hand it to the
/// election (`to_election`) and/or answer its sender (`reply`).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Receipt {
    pub to_election: bool,
    pub reply: Option<Outgoing>,
}

/// The vote this peer proposes: leader, its zxid and its epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Proposal {
    leader: i64,
    zxid: i64,
    epoch: i64,
}

impl Proposal {
    fn of(n: &Notification) -> Proposal {
        Proposal { leader: n.leader, zxid: n.zxid, epoch: n.peer_epoch }
    }
}

/// Where `look_for_leader` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No election running.
    Idle,
    /// Exchanging notifications; without one by `wake_at`, resend and
    /// double `not_timeout`.
    Looking { not_timeout: Duration, wake_at: Duration },
    /// A quorum agrees with our proposal; it is final at `wake_at` unless a
    /// better one arrives first (each other arrival restarts the wait).
    Finalizing { not_timeout: Duration, wake_at: Duration },
}

/// Java's totalOrderPredicate: whether the new proposal (id, zxid, epoch)
/// beats the current one, by peer epoch, then zxid, then sid. A proposal
/// for a server without a vote (weight 0) never wins.
pub fn total_order_predicate(new_weight: i64, new: (i64, i64, i64), cur: (i64, i64, i64)) -> bool {
    let (new_id, new_zxid, new_epoch) = new;
    let (cur_id, cur_zxid, cur_epoch) = cur;
    if new_weight == 0 {
        return false;
    }
    (new_epoch, new_zxid, new_id) > (cur_epoch, cur_zxid, cur_id)
}

/// FastLeaderElection's state and decisions for one peer.
#[derive(Debug, Clone)]
pub struct ElectionCore {
    my_id: i64,
    learner_type: LearnerType,
    verifier: QuorumMaj,
    timing: Timing,
    /// The election round (Java's logicalclock).
    logicalclock: i64,
    proposal: Proposal,
    /// This peer's own vote in the running election (getInitId,
    /// getInitLastLoggedZxid, getPeerEpoch).
    own: Proposal,
    /// Votes of the current round, by sender.
    recvset: BTreeMap<i64, Vote>,
    /// FOLLOWING and LEADING votes of any round, by sender.
    outofelection: BTreeMap<i64, Vote>,
    phase: Phase,
}

impl ElectionCore {
    /// The core of peer `my_id`, before its first election (round 0, no
    /// proposal). The ceiling of the back-off is at least its start.
    pub fn new(my_id: i64, learner_type: LearnerType, verifier: QuorumMaj, timing: Timing) -> ElectionCore {
        let timing = Timing {
            max_notification_interval: timing.max_notification_interval.max(timing.min_notification_interval),
            ..timing
        };
        let none = Proposal { leader: -1, zxid: -1, epoch: -1 };
        ElectionCore {
            my_id,
            learner_type,
            verifier,
            timing,
            logicalclock: 0,
            proposal: none,
            own: none,
            recvset: BTreeMap::new(),
            outofelection: BTreeMap::new(),
            phase: Phase::Idle,
        }
    }

    /// The current election round.
    pub fn logical_clock(&self) -> i64 {
        self.logicalclock
    }

    /// The proposal as Java's getVote returns it (no round).
    pub fn vote(&self) -> Vote {
        Vote::new(self.proposal.leader, self.proposal.zxid, -1, self.proposal.epoch)
    }

    /// Whether an election is running.
    pub fn is_electing(&self) -> bool {
        self.phase != Phase::Idle
    }

    /// A new election (lookForLeader's start): the next round, our own
    /// vote (this peer with its last logged zxid and current epoch; a
    /// non-voter proposes nobody, an observer no zxid or epoch), sent to
    /// every voter.
    pub fn start(&mut self, last_logged_zxid: i64, current_epoch: i64, now: Duration) -> Step {
        let participant = self.learner_type == LearnerType::Participant;
        self.own = Proposal {
            leader: if self.verifier.is_voter(self.my_id) { self.my_id } else { i64::MIN },
            zxid: if participant { last_logged_zxid } else { i64::MIN },
            epoch: if participant { current_epoch } else { i64::MIN },
        };
        self.logicalclock += 1;
        self.proposal = self.own;
        self.recvset.clear();
        self.outofelection.clear();
        let not_timeout = self.timing.min_notification_interval;
        self.phase = Phase::Looking { not_timeout, wake_at: now + not_timeout };
        info!("New election. My id = {}, proposed zxid=0x{:x}", self.my_id, self.proposal.zxid);
        let mut step = Step::default();
        self.send_notifications(&mut step);
        step.wake_at = self.wake_at();
        step
    }

    /// A notification taken off the election's queue at `now`.
    pub fn receive(&mut self, n: Notification, now: Duration) -> Step {
        let mut step = Step::default();
        match self.phase {
            Phase::Idle => {}
            Phase::Finalizing { not_timeout, .. } => {
                if self.beats(Proposal::of(&n), self.proposal) {
                    // Something better: back to the exchange, and read it
                    // again after what is already queued.
                    step.requeue = Some(n);
                    self.phase = Phase::Looking { not_timeout, wake_at: now + not_timeout };
                } else {
                    self.phase = Phase::Finalizing { not_timeout, wake_at: now + self.timing.finalize_wait };
                }
            }
            Phase::Looking { not_timeout, .. } => {
                self.phase = Phase::Looking { not_timeout, wake_at: now + not_timeout };
                self.on_notification(n, now, &mut step);
            }
        }
        step.wake_at = self.wake_at();
        step
    }

    /// Time has passed with nothing received. At the notification timeout
    /// our proposal goes out again if the last round was delivered
    /// (`delivered`: QuorumCnxManager.haveDelivered), else every peer is
    /// dialled, and the timeout doubles up to its ceiling; at the end of
    /// the finalize wait the proposal is decided.
    pub fn tick(&mut self, now: Duration, delivered: bool) -> Step {
        let mut step = Step::default();
        match self.phase {
            Phase::Looking { not_timeout, wake_at } if now >= wake_at => {
                if delivered {
                    self.send_notifications(&mut step);
                } else {
                    step.connect_all = true;
                }
                let not_timeout = not_timeout.saturating_mul(2).min(self.timing.max_notification_interval);
                info!("Notification time out: {} ms", not_timeout.as_millis());
                self.phase = Phase::Looking { not_timeout, wake_at: now + not_timeout };
            }
            Phase::Finalizing { wake_at, .. } if now >= wake_at => {
                let p = self.proposal;
                self.decide(Vote::new(p.leader, p.zxid, self.logicalclock, p.epoch), &mut step);
            }
            _ => {}
        }
        step.wake_at = self.wake_at();
        step
    }

    /// The WorkerReceiver's answer to a parsed notification, given this
    /// peer's state and the vote it stands by. A non-voter gets our current
    /// vote at once. While LOOKING the notification goes to the election,
    /// and a LOOKING sender in an older round learns our proposal and
    /// round. Otherwise a LOOKING sender learns the vote we decided on,
    /// which is how a peer joining an established ensemble finds its
    /// leader; other notifications are dropped.
    pub fn answer(&self, n: &Notification, my_state: ServerState, current: &Vote) -> Receipt {
        let reply = |v: &Vote, election_epoch: i64| Outgoing {
            to: n.sid,
            leader: v.id,
            zxid: v.zxid,
            election_epoch,
            state: my_state,
            peer_epoch: v.peer_epoch,
        };
        if !self.verifier.is_voter(n.sid) {
            return Receipt { to_election: false, reply: Some(reply(current, self.logicalclock)) };
        }
        let Some(their_state) = ServerState::from_wire(n.state) else { return Receipt::default() };
        info!(
            "Notification: my state:{}; n.sid:{}, n.state:{}, n.leader:{}, n.round:0x{:x}, n.peerEpoch:0x{:x}, \
             n.zxid:0x{:x}, message format version:0x{:x}, n.config version:0x{:x}",
            my_state,
            n.sid,
            their_state,
            n.leader,
            n.election_epoch,
            n.peer_epoch,
            n.zxid,
            n.version,
            n.config.as_deref().and_then(crate::quorum::quorum_maj::version_of_config_string).unwrap_or(0)
        );
        if my_state == ServerState::Looking {
            let behind = their_state == ServerState::Looking && n.election_epoch < self.logicalclock;
            Receipt { to_election: true, reply: behind.then(|| reply(&self.vote(), self.logicalclock)) }
        } else if their_state == ServerState::Looking {
            debug!(
                "Sending new notification. My id ={} recipient={} zxid=0x{:x} leader={}",
                self.my_id, n.sid, current.zxid, current.id
            );
            Receipt { to_election: false, reply: Some(reply(current, current.election_epoch)) }
        } else {
            Receipt::default()
        }
    }

    fn wake_at(&self) -> Option<Duration> {
        match self.phase {
            Phase::Idle => None,
            Phase::Looking { wake_at, .. } | Phase::Finalizing { wake_at, .. } => Some(wake_at),
        }
    }

    /// Our proposal to every voter, ourselves included.
    fn send_notifications(&self, step: &mut Step) {
        let p = self.proposal;
        for to in self.verifier.voting_ids() {
            debug!(
                "Sending Notification: {} (n.leader), 0x{:x} (n.zxid), 0x{:x} (n.round), {} (recipient), {} (myid), 0x{:x} (n.peerEpoch)",
                p.leader, p.zxid, self.logicalclock, to, self.my_id, p.epoch
            );
            step.sends.push(Outgoing {
                to,
                leader: p.leader,
                zxid: p.zxid,
                election_epoch: self.logicalclock,
                state: ServerState::Looking,
                peer_epoch: p.epoch,
            });
        }
    }

    fn beats(&self, new: Proposal, cur: Proposal) -> bool {
        total_order_predicate(
            self.verifier.weight(new.leader),
            (new.leader, new.zxid, new.epoch),
            (cur.leader, cur.zxid, cur.epoch),
        )
    }

    fn update_proposal(&mut self, p: Proposal) {
        debug!(
            "Updating proposal: {} (newleader), 0x{:x} (newzxid), {} (oldleader), 0x{:x} (oldzxid)",
            p.leader, p.zxid, self.proposal.leader, self.proposal.zxid
        );
        self.proposal = p;
    }

    /// One notification during the exchange.
    fn on_notification(&mut self, n: Notification, now: Duration, step: &mut Step) {
        if !self.verifier.is_voter(n.sid) || !self.verifier.is_voter(n.leader) {
            if !self.verifier.is_voter(n.leader) {
                warn!("Ignoring notification for non-cluster member sid {} from sid {}", n.leader, n.sid);
            }
            if !self.verifier.is_voter(n.sid) {
                warn!("Ignoring notification for sid {} from non-quorum member sid {}", n.leader, n.sid);
            }
            return;
        }
        match ServerState::from_wire(n.state) {
            None => {}
            Some(ServerState::Looking) => self.on_looking(n, now, step),
            Some(ServerState::Observing) => debug!("Notification from observer: {}", n.sid),
            Some(state @ (ServerState::Following | ServerState::Leading)) => self.on_decided(&n, state, step),
        }
    }

    /// A LOOKING peer's vote: a newer round restarts ours from our own
    /// vote, an older one is ignored, and within our round a better
    /// proposal is adopted and spread. Once a quorum backs our proposal the
    /// finalize wait begins.
    fn on_looking(&mut self, n: Notification, now: Duration, step: &mut Step) {
        if self.own.zxid == -1 {
            debug!("Ignoring notification as our zxid is -1");
            return;
        }
        if n.zxid == -1 {
            debug!("Ignoring notification from member with -1 zxid {}", n.sid);
            return;
        }
        if n.election_epoch > self.logicalclock {
            self.logicalclock = n.election_epoch;
            self.recvset.clear();
            let next = if self.beats(Proposal::of(&n), self.own) { Proposal::of(&n) } else { self.own };
            self.update_proposal(next);
            self.send_notifications(step);
        } else if n.election_epoch < self.logicalclock {
            debug!(
                "Notification election epoch is smaller than logicalclock. n.electionEpoch = 0x{:x}, logicalclock=0x{:x}",
                n.election_epoch, self.logicalclock
            );
            return;
        } else if self.beats(Proposal::of(&n), self.proposal) {
            self.update_proposal(Proposal::of(&n));
            self.send_notifications(step);
        }
        debug!(
            "Adding vote: from={}, proposed leader={}, proposed zxid=0x{:x}, proposed election epoch=0x{:x}",
            n.sid, n.leader, n.zxid, n.election_epoch
        );
        self.recvset.insert(n.sid, Vote::new(n.leader, n.zxid, n.election_epoch, n.peer_epoch));
        let p = self.proposal;
        if self.has_quorum(&self.recvset, &Vote::new(p.leader, p.zxid, self.logicalclock, p.epoch)) {
            if let Phase::Looking { not_timeout, .. } = self.phase {
                self.phase = Phase::Finalizing { not_timeout, wake_at: now + self.timing.finalize_wait };
            }
        }
    }

    /// A FOLLOWING or LEADING peer's vote: within our round it counts like
    /// any other; from an established ensemble (any round) it decides once
    /// a quorum follows the same leader and that leader says it leads.
    fn on_decided(&mut self, n: &Notification, state: ServerState, step: &mut Step) {
        let vote = Vote {
            version: n.version,
            id: n.leader,
            zxid: n.zxid,
            election_epoch: n.election_epoch,
            peer_epoch: n.peer_epoch,
            state,
        };
        let decided = Vote::new(n.leader, n.zxid, n.election_epoch, n.peer_epoch);
        if n.election_epoch == self.logicalclock {
            self.recvset.insert(n.sid, Vote { version: 0, ..vote });
            if self.has_quorum(&self.recvset, &vote) && self.check_leader(&self.recvset, n.leader, n.election_epoch) {
                self.decide(decided, step);
                return;
            }
        }
        self.outofelection.insert(n.sid, vote);
        if self.has_quorum(&self.outofelection, &vote) && self.check_leader(&self.outofelection, n.leader, n.election_epoch) {
            self.logicalclock = n.election_epoch;
            self.decide(decided, step);
        }
    }

    /// Whether the voters among `votes` that agree with `vote` (Java's
    /// Vote.equals) are a quorum: getVoteTracker(..).hasAllQuorums().
    fn has_quorum(&self, votes: &BTreeMap<i64, Vote>, vote: &Vote) -> bool {
        let acks: HashSet<i64> = votes.iter().filter(|(_, v)| *v == vote).map(|(sid, _)| *sid).collect();
        self.verifier.contains_quorum(&acks)
    }

    /// Java's checkLeader: a leader other than us counts only once it has
    /// said it is LEADING; we count as leader only within our own round.
    fn check_leader(&self, votes: &BTreeMap<i64, Vote>, leader: i64, election_epoch: i64) -> bool {
        if leader != self.my_id {
            matches!(votes.get(&leader), Some(v) if v.state == ServerState::Leading)
        } else {
            self.logicalclock == election_epoch
        }
    }

    /// Ends the election: LEADING when we are the leader, else FOLLOWING
    /// or OBSERVING by our type.
    fn decide(&mut self, vote: Vote, step: &mut Step) {
        let state = if vote.id == self.my_id {
            ServerState::Leading
        } else if self.learner_type == LearnerType::Participant {
            ServerState::Following
        } else {
            ServerState::Observing
        };
        self.phase = Phase::Idle;
        step.decision = Some(Decision { vote, state });
    }
}

