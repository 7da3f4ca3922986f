//! The decisions of FastLeaderElection without its I/O: the election round
//! (logicalclock), the proposal, the votes received (recvset, outofelection),
//! the predicates, the notification timeout with its back-off and the
//! finalize wait, all as plain data.
//!
//! One departure from Java: the finalize wait ends as soon as every other
//! voter has either sent a vote in this round or is lost (its election
//! connection broke and was not made again, `set_lost_peers`): no better
//! vote can come, so waiting would only delay a failover. A voter that was
//! never connected is waited for as Java waits, and so is everyone when an
//! oracle (QuorumOracleMaj) counts the votes.
//!
//! `FastLeaderElectionCore` is stepped by the QuorumPeer thread inside
//! `FastLeaderElection::look_for_leader` (`start`, `receive`, `tick`) and
//! read by the `WorkerReceiver` thread (`answer`), both through the
//! driver's mutex.
//! Every method returns what to do (notifications to queue, a notification
//! to put back, a decision, when to wake up next) and never touches a
//! socket, a channel, a lock, a thread or the clock: time comes in as
//! milliseconds (`common::time`, or a simulator's). Votes are kept in ordered
//! maps and nothing is random, so the same inputs give the same outputs.

use super::Notification;
use crate::quorum::quorum_verifier::QuorumVerifier;
use crate::quorum::quorum_peer_config::LearnerType;
use crate::quorum::vote::{ServerState, Vote};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use tracing::{debug, info, warn};

/// The election's timers, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// The first notification timeout (fastleader.minNotificationInterval).
    pub min_notification_interval_ms: u64,
    /// The back-off's ceiling (fastleader.maxNotificationInterval).
    pub max_notification_interval_ms: u64,
    /// How long a quorum's proposal must go unchallenged (finalizeWait).
    pub finalize_wait_ms: u64,
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
    pub wake_at: Option<u64>,
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
    Looking { not_timeout: u64, wake_at: u64 },
    /// A quorum agrees with our proposal; it is final at `wake_at` unless a
    /// better one arrives first (each other arrival restarts the wait).
    Finalizing { not_timeout: u64, wake_at: u64 },
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

/// Which votes back a decision: this round's, or those of an
/// established ensemble.
#[derive(Debug, Clone, Copy)]
enum Votes {
    Round,
    OutOfElection,
}

/// The senders among `votes` whose vote equals `vote` (Java's Vote.equals).
fn agreeing(votes: &BTreeMap<i64, Vote>, vote: &Vote) -> HashSet<i64> {
    votes.iter().filter(|(_, v)| *v == vote).map(|(sid, _)| *sid).collect()
}

/// FastLeaderElection's state and decisions for one peer.
#[derive(Debug, Clone)]
pub struct FastLeaderElectionCore {
    my_id: i64,
    learner_type: LearnerType,
    verifier: QuorumVerifier,
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
    /// The voters whose votes made this peer leader (Java's
    /// leadingVoteSet), until the Leader takes them.
    leading_vote_set: Option<HashSet<i64>>,
    /// Voters whose vote of this round arrived during the finalize wait
    /// and was no better (Java drops it; it only tells that they were heard).
    heard_while_finalizing: BTreeSet<i64>,
    /// Peers whose election connection broke and was not made again, as
    /// the driver last said: none of their votes can arrive.
    lost: BTreeSet<i64>,
    /// The simulator's deliberate mistake: a minority counts as a quorum.
    #[cfg(any(test, feature = "simulation"))]
    elect_without_a_quorum: bool,
}

impl FastLeaderElectionCore {
    /// The core of peer `my_id`, before its first election (round 0, no
    /// proposal). The ceiling of the back-off is at least its start.
    /// A reconfiguration came into force: this peer's role and the
    /// verifier votes are counted against.
    pub fn reconfigure(&mut self, learner_type: LearnerType, verifier: QuorumVerifier) {
        self.learner_type = learner_type;
        self.verifier = verifier;
    }

    pub fn new(my_id: i64, learner_type: LearnerType, verifier: QuorumVerifier, timing: Timing) -> FastLeaderElectionCore {
        let timing = Timing {
            max_notification_interval_ms: timing.max_notification_interval_ms.max(timing.min_notification_interval_ms),
            ..timing
        };
        let none = Proposal { leader: -1, zxid: -1, epoch: -1 };
        FastLeaderElectionCore {
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
            leading_vote_set: None,
            heard_while_finalizing: BTreeSet::new(),
            lost: BTreeSet::new(),
            #[cfg(any(test, feature = "simulation"))]
            elect_without_a_quorum: false,
        }
    }

    /// Simulator mutation: the termination predicates take a minority
    /// (a majority less one voter) for a quorum.
    #[cfg(any(test, feature = "simulation"))]
    pub fn mutate_elect_without_a_quorum(&mut self) {
        self.elect_without_a_quorum = true;
    }

    /// The peers whose election connection broke and was not made again
    /// (QuorumCnxManager's, or a simulator's unreachable voters); the
    /// driver says so before each call.
    pub fn set_lost_peers(&mut self, lost: BTreeSet<i64>) {
        self.lost = lost;
    }

    /// The current election round.
    pub fn logical_clock(&self) -> i64 {
        self.logicalclock
    }

    /// The proposal as Java's getVote returns it (no round).
    pub fn vote(&self) -> Vote {
        Vote::new(self.proposal.leader, self.proposal.zxid, -1, self.proposal.epoch)
    }

    /// A new election (lookForLeader's start): the next round, our own
    /// vote (this peer with its last logged zxid and current epoch; a
    /// non-voter proposes nobody, an observer no zxid or epoch), sent to
    /// every voter.
    pub fn start(&mut self, last_logged_zxid: i64, current_epoch: i64, now: u64) -> Step {
        let participant = self.learner_type == LearnerType::Participant;
        self.own = Proposal {
            leader: if self.verifier.is_voter(self.my_id) { self.my_id } else { i64::MIN },
            zxid: if participant { last_logged_zxid } else { i64::MIN },
            epoch: if participant { current_epoch } else { i64::MIN },
        };
        // A peer may have announced any round; wrap as Java's AtomicLong does.
        self.logicalclock = self.logicalclock.wrapping_add(1);
        self.proposal = self.own;
        self.recvset.clear();
        self.heard_while_finalizing.clear();
        self.outofelection.clear();
        let not_timeout = self.timing.min_notification_interval_ms;
        self.phase = Phase::Looking { not_timeout, wake_at: now.saturating_add(not_timeout) };
        info!("New election. My id = {}, proposed zxid=0x{:x}", self.my_id, self.proposal.zxid);
        let mut step = Step::default();
        self.send_notifications(&mut step);
        step.wake_at = self.wake_at();
        step
    }

    /// A notification taken off the election's queue at `now`.
    pub fn receive(&mut self, n: Notification, now: u64) -> Step {
        let mut step = Step::default();
        match self.phase {
            Phase::Idle => {}
            Phase::Finalizing { not_timeout, .. } => {
                if self.beats(Proposal::of(&n), self.proposal) {
                    // Something better: back to the exchange, and read it
                    // again after what is already queued.
                    step.requeue = Some(n);
                    self.phase = Phase::Looking { not_timeout, wake_at: now.saturating_add(not_timeout) };
                } else {
                    if n.election_epoch == self.logicalclock {
                        self.heard_while_finalizing.insert(n.sid);
                    }
                    self.phase = Phase::Finalizing { not_timeout, wake_at: self.finalize_at(now) };
                }
            }
            Phase::Looking { not_timeout, .. } => {
                self.phase = Phase::Looking { not_timeout, wake_at: now.saturating_add(not_timeout) };
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
    pub fn tick(&mut self, now: u64, delivered: bool) -> Step {
        let mut step = Step::default();
        match self.phase {
            Phase::Looking { not_timeout, wake_at } if now >= wake_at => {
                if delivered {
                    self.send_notifications(&mut step);
                } else {
                    step.connect_all = true;
                }
                let not_timeout = not_timeout.saturating_mul(2).min(self.timing.max_notification_interval_ms);
                // revalidateVoteset: with an oracle, whose word may come
                // late, a proposal the votes of this round now make a
                // quorum is decided at a timeout past the first.
                let p = self.proposal;
                let vote = Vote::new(p.leader, p.zxid, self.logicalclock, p.epoch);
                if matches!(self.verifier, QuorumVerifier::Oracle(_))
                    && not_timeout != self.timing.min_notification_interval_ms
                    && !self.recvset.is_empty()
                    && self.has_quorum(&self.recvset, &vote)
                {
                    self.decide(vote, Votes::Round, &mut step);
                    step.wake_at = self.wake_at();
                    return step;
                }
                info!("Notification time out: {not_timeout} ms");
                self.phase = Phase::Looking { not_timeout, wake_at: now.saturating_add(not_timeout) };
            }
            Phase::Finalizing { wake_at, .. } if now >= wake_at => {
                let p = self.proposal;
                self.decide(Vote::new(p.leader, p.zxid, self.logicalclock, p.epoch), Votes::Round, &mut step);
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
    /// round; so does one in our round whose proposal ours beats (unlike
    /// Java): it may have missed ours, which reached it while it still
    /// followed the leader now gone and was answered instead of counted,
    /// and would otherwise learn of it only at its notification timeout.
    /// Otherwise a LOOKING sender learns the vote we decided on,
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
            let looking = their_state == ServerState::Looking;
            let behind = looking && n.election_epoch < self.logicalclock;
            let worse = looking && n.election_epoch == self.logicalclock && self.beats(self.proposal, Proposal::of(n));
            Receipt { to_election: true, reply: (behind || worse).then(|| reply(&self.vote(), self.logicalclock)) }
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

    /// When a finalize wait starting (or restarting) at `now` ends: one
    /// finalizeWait later, or at once, after what is already queued, when
    /// no better vote can come.
    fn finalize_at(&self, now: u64) -> u64 {
        if self.nothing_left_to_hear() {
            now
        } else {
            now.saturating_add(self.timing.finalize_wait_ms)
        }
    }

    /// Whether every other voter has sent a vote in this round or is lost.
    /// Never with an oracle, whose word Java waits for.
    fn nothing_left_to_hear(&self) -> bool {
        !matches!(self.verifier, QuorumVerifier::Oracle(_))
            && self
                .verifier
                .voting_ids()
                .into_iter()
                .all(|sid| {
                    sid == self.my_id
                        || self.recvset.contains_key(&sid)
                        || self.heard_while_finalizing.contains(&sid)
                        || self.lost.contains(&sid)
                })
    }

    fn wake_at(&self) -> Option<u64> {
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
    fn on_notification(&mut self, n: Notification, now: u64, step: &mut Step) {
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
    fn on_looking(&mut self, n: Notification, now: u64, step: &mut Step) {
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
            self.heard_while_finalizing.clear();
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
                self.phase = Phase::Finalizing { not_timeout, wake_at: self.finalize_at(now) };
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
                self.decide(decided, Votes::Round, step);
                return;
            }
        }
        self.outofelection.insert(n.sid, vote);
        if self.has_quorum(&self.outofelection, &vote) && self.check_leader(&self.outofelection, n.leader, n.election_epoch) {
            self.logicalclock = n.election_epoch;
            self.decide(decided, Votes::OutOfElection, step);
            return;
        }
        // receivedLeadingNotification: of two voters, the one whose oracle
        // does not say 1 follows a leader it hears from.
        if state == ServerState::Leading && matches!(self.verifier, QuorumVerifier::Oracle(_)) {
            if self.verifier.need_oracle() && !self.verifier.ask_oracle() {
                info!("Oracle indicates to follow");
                self.decide(decided, Votes::OutOfElection, step);
            } else {
                info!("Oracle indicates not to follow");
            }
        }
    }

    /// Whether the voters among `votes` that agree with `vote` (Java's
    /// Vote.equals) are a quorum: getVoteTracker(..).hasAllQuorums().
    fn has_quorum(&self, votes: &BTreeMap<i64, Vote>, vote: &Vote) -> bool {
        let acks = agreeing(votes, vote);
        #[cfg(any(test, feature = "simulation"))]
        if self.elect_without_a_quorum {
            let voters = acks.iter().filter(|sid| self.verifier.is_voter(**sid)).count();
            return voters > 0 && 2 * voters + 1 >= self.verifier.voting_ids().len();
        }
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

    /// The voters that elected this peer, once: the Leader takes them the
    /// first time a voter is heard LOOKING (setLeadingVoteSet).
    pub fn take_leading_vote_set(&mut self) -> Option<HashSet<i64>> {
        self.leading_vote_set.take()
    }

    /// Ends the election on `vote`, backed by the votes `from`: LEADING
    /// when we are the leader (remembering who elected us), else FOLLOWING
    /// or OBSERVING by our type.
    fn decide(&mut self, vote: Vote, from: Votes, step: &mut Step) {
        let votes = match from {
            Votes::Round => &self.recvset,
            Votes::OutOfElection => &self.outofelection,
        };
        let voters = agreeing(votes, &vote);
        let state = if vote.id == self.my_id {
            ServerState::Leading
        } else if self.learner_type == LearnerType::Participant {
            ServerState::Following
        } else {
            ServerState::Observing
        };
        if state == ServerState::Leading {
            self.leading_vote_set = Some(voters);
        }
        self.phase = Phase::Idle;
        step.decision = Some(Decision { vote, state });
    }
}

#[cfg(test)]
mod tests {
    use super::super::scenarios::{java_timing, verifier};
    use super::*;

    fn zxid(epoch: i64, counter: i64) -> i64 {
        (epoch << 32) | counter
    }

    fn decided(version: i32, id: i64, zxid: i64, round: i64, epoch: i64, state: ServerState) -> Vote {
        Vote { version, id, zxid, election_epoch: round, peer_epoch: epoch, state }
    }

    fn looking(id: i64, zxid: i64, round: i64, epoch: i64) -> Vote {
        Vote::new(id, zxid, round, epoch)
    }

    fn note(sid: i64, state: ServerState, leader: i64, zxid: i64, round: i64, peer_epoch: i64) -> Notification {
        Notification { version: 2, leader, zxid, election_epoch: round, state: state as i32, sid, peer_epoch, config: None }
    }

    /// Peer 3 of five voters (0..4), as FLEOutOfElectionTest builds it.
    fn peer_3_of_5() -> FastLeaderElectionCore {
        FastLeaderElectionCore::new(3, LearnerType::Participant, verifier(&[0, 1, 2, 3, 4], &[]), java_timing())
    }

    /// FLEPredicateTest.testPredicate, over the voters 0, 1 and 2.
    #[test]
    fn predicate() {
        let core = FastLeaderElectionCore::new(0, LearnerType::Participant, verifier(&[0, 1, 2], &[]), java_timing());
        let p = |leader, zxid, epoch| Proposal { leader, zxid, epoch };
        assert!(!core.beats(p(4, 0, 0), p(3, 0, 2)), "lower epoch");
        assert!(core.beats(p(0, 0, 1), p(1, 0, 0)), "later epoch");
        assert!(core.beats(p(0, 1, 0), p(1, 0, 0)), "higher zxid");
        assert!(core.beats(p(1, 1, 0), p(0, 1, 0)), "higher id");
        assert!(!core.beats(p(7, 9, 9), p(0, 0, 0)), "not a voter: weight 0");
        assert!(!total_order_predicate(1, (2, 5, 1), (2, 5, 1)), "a tie is no better");
    }

    /// FLEOutOfElectionTest.testIgnoringZxidElectionEpoch and
    /// FLEDontCareTest.testDontCare: between decided votes the zxid and the
    /// round do not matter.
    #[test]
    fn decided_votes_ignore_zxid_and_round() {
        let core = peer_3_of_5();
        let votes = BTreeMap::from([
            (0, decided(1, 4, zxid(1, 1), 1, 2, ServerState::Following)),
            (1, decided(1, 4, zxid(1, 2), 1, 2, ServerState::Following)),
            (3, decided(1, 4, zxid(2, 1), 2, 2, ServerState::Following)),
            (4, decided(1, 4, zxid(2, 1), 2, 2, ServerState::Leading)),
        ]);
        assert!(core.has_quorum(&votes, &decided(0, 4, zxid(2, 1), 2, 2, ServerState::Following)));
    }

    /// FLEOutOfElectionTest.testElectionWIthDifferentVersion and
    /// FLEDontCareTest.testDontCareVersion: votes of peers that predate the
    /// version field agree with newer ones on the leader alone.
    #[test]
    fn decided_votes_of_mixed_versions_compare_the_leader() {
        let core = peer_3_of_5();
        let votes = BTreeMap::from([
            (0, decided(1, 4, zxid(1, 1), 1, 1, ServerState::Following)),
            (1, decided(1, 4, zxid(1, 1), 1, 1, ServerState::Following)),
            (3, decided(0, 4, zxid(2, 1), 2, 2, ServerState::Following)),
            (4, decided(0, 4, zxid(2, 1), 2, 2, ServerState::Leading)),
        ]);
        assert!(core.has_quorum(&votes, &decided(0, 4, zxid(2, 1), 2, 2, ServerState::Following)));
    }

    /// FLEOutOfElectionTest.testLookingNormal / testLookingDiffRounds (and
    /// FLEDontCareTest's): LOOKING votes must match in everything.
    #[test]
    fn looking_votes_must_match_exactly() {
        let core = peer_3_of_5();
        let mut leader = looking(4, zxid(2, 1), 1, 1);
        leader.state = ServerState::Leading;
        let same = BTreeMap::from([
            (0, looking(4, zxid(2, 1), 1, 1)),
            (1, looking(4, zxid(2, 1), 1, 1)),
            (3, looking(4, zxid(2, 1), 1, 1)),
            (4, leader),
        ]);
        assert!(core.has_quorum(&same, &looking(4, zxid(2, 1), 1, 1)));
        let mut leader = looking(4, zxid(2, 1), 3, 2);
        leader.state = ServerState::Leading;
        let rounds = BTreeMap::from([
            (0, looking(4, zxid(1, 1), 1, 1)),
            (1, looking(4, zxid(2, 1), 2, 2)),
            (3, looking(4, zxid(2, 1), 3, 2)),
            (4, leader),
        ]);
        assert!(!core.has_quorum(&rounds, &looking(4, zxid(2, 1), 2, 2)));
    }

    /// FLEOutOfElectionTest.testOutofElection (FLEDontCareTest's too):
    /// peer 3, in round 1, hears servers 1, 2 and 4 follow 5 and 5 lead in
    /// round 0xa. Sid 5 is outside the five voters 0..4, so it adds no
    /// weight, but the three followers are a quorum and 5 says it leads.
    #[test]
    fn out_of_election_predicates() {
        let mut core = peer_3_of_5();
        core.logicalclock = 1;
        let leader = decided(1, 5, zxid(15, 0), 0xa, 0x18, ServerState::Leading);
        let votes = BTreeMap::from([
            (1, decided(0, 5, zxid(15, 0), 0xa, 0x17, ServerState::Following)),
            (2, decided(0, 5, zxid(15, 0), 0xa, 0x17, ServerState::Following)),
            (4, decided(1, 5, zxid(15, 0), 0xa, 0x18, ServerState::Following)),
            (5, leader),
        ]);
        assert!(core.has_quorum(&votes, &leader), "quorum");
        assert!(core.check_leader(&votes, 5, 0xa), "leader");
        assert!(!core.check_leader(&votes, 4, 0xa), "4 never said it leads");
        assert!(!core.check_leader(&votes, 3, 0xa), "I lead only in my own round");
        assert!(core.check_leader(&votes, 3, 1));
    }

    /// The same out-of-election case through the election itself, with the
    /// leader a voter (sids 1..5): only the leader's own LEADING
    /// notification ends it, and the round becomes the ensemble's.
    #[test]
    fn joining_an_established_ensemble() {
        let mut core = FastLeaderElectionCore::new(3, LearnerType::Participant, verifier(&[1, 2, 3, 4, 5], &[]), java_timing());
        let start = core.start(zxid(14, 3), 0x17, 0);
        assert_eq!(start.sends.iter().map(|m| m.to).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
        assert_eq!(core.logical_clock(), 1);
        for (sid, version, epoch) in [(1, 0, 0x17), (2, 0, 0x17), (4, 1, 0x18)] {
            let mut n = note(sid, ServerState::Following, 5, zxid(15, 0), 0xa, epoch);
            n.version = version;
            let step = core.receive(n, 10);
            assert_eq!(step.decision, None, "no word from the leader yet");
        }
        let mut n = note(5, ServerState::Leading, 5, zxid(15, 0), 0xa, 0x18);
        n.version = 1;
        let step = core.receive(n, 20);
        let d = step.decision.expect("decided");
        assert_eq!((d.vote.id, d.vote.election_epoch, d.vote.peer_epoch, d.state), (5, 0xa, 0x18, ServerState::Following));
        assert_eq!(core.logical_clock(), 0xa);
        assert_eq!(step.wake_at, None, "no election running any more");
        assert_eq!(core.phase, Phase::Idle);
    }

    /// Voter `my_id` of two (1 and 2) whose oracle file says `says`.
    fn with_oracle(my_id: i64, dir: &std::path::Path, says: &str) -> FastLeaderElectionCore {
        let oracle = dir.join("oracle");
        std::fs::write(&oracle, says).unwrap();
        let pairs = vec![("server.1".to_string(), "h:1:2".to_string()), ("server.2".to_string(), "h:3:4".to_string())];
        let spec = crate::quorum::quorum_peer_config::QuorumSpec::from_pairs(&pairs, false, false).unwrap();
        FastLeaderElectionCore::new(my_id, LearnerType::Participant, QuorumVerifier::with_oracle(spec, Some(&oracle)), java_timing())
    }

    #[test]
    fn an_oracle_saying_0_follows_the_leader_it_hears_from() {
        let dir = tempfile::tempdir().unwrap();
        let mut core = with_oracle(2, dir.path(), "0");
        core.start(zxid(1, 5), 1, 0);
        let step = core.receive(note(2, ServerState::Looking, 2, zxid(1, 5), 1, 1), 1);
        assert_eq!(step.decision, None, "alone, with an oracle saying 0, no quorum");
        let step = core.receive(note(1, ServerState::Leading, 1, zxid(1, 6), 7, 1), 2);
        let d = step.decision.expect("follows");
        assert_eq!((d.vote.id, d.vote.election_epoch, d.state), (1, 7, ServerState::Following));
    }

    #[test]
    fn an_oracle_that_says_1_late_is_heard_at_a_later_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let mut core = with_oracle(1, dir.path(), "0");
        core.start(zxid(1, 5), 1, 0);
        assert_eq!(core.receive(note(1, ServerState::Looking, 1, zxid(1, 5), 1, 1), 1).decision, None);
        std::fs::write(dir.path().join("oracle"), "1").unwrap();
        let d = core.tick(201, true).decision.expect("decided at the timeout");
        assert_eq!((d.vote.id, d.state), (1, ServerState::Leading));
    }

    #[test]
    fn finalize_wait_restarts_and_gives_way_to_a_better_proposal() {
        let mut core = FastLeaderElectionCore::new(1, LearnerType::Participant, verifier(&[1, 2, 3], &[]), java_timing());
        core.start(5, 1, 0);
        core.receive(note(1, ServerState::Looking, 1, 5, 1, 1), 1);
        let step = core.receive(note(2, ServerState::Looking, 1, 5, 1, 1), 2);
        assert_eq!(step.wake_at, Some(202), "a quorum: finalizeWait");
        // Anything no better is dropped and the wait starts again.
        let step = core.receive(note(2, ServerState::Looking, 2, 4, 1, 1), 100);
        assert_eq!((step.wake_at, step.requeue.is_none()), (Some(300), true));
        assert_eq!(core.tick(299, true), Step { wake_at: Some(300), ..Step::default() }, "too early");
        // Something better goes back on the queue and the exchange resumes.
        let better = note(3, ServerState::Looking, 3, 6, 1, 1);
        let step = core.receive(better.clone(), 150);
        assert_eq!(step.requeue, Some(better.clone()));
        assert_eq!(step.wake_at, Some(350), "the notification timeout again");
        let step = core.receive(better, 151);
        assert_eq!(step.sends.len(), 3, "the better proposal is spread");
        assert_eq!(core.vote(), Vote::new(3, 6, -1, 1));
        // Back to a quorum (1 and 3) on 3, with every voter heard: no
        // better vote can come, so it is decided at once.
        let step = core.receive(note(1, ServerState::Looking, 3, 6, 1, 1), 152);
        assert_eq!(step.wake_at, Some(152));
        let step = core.tick(152, true);
        let d = step.decision.expect("decided");
        assert_eq!((d.vote, d.state), (Vote::new(3, 6, 1, 1), ServerState::Following));
    }

    /// Peer 1 of `voters` that has lost `lost`, in round 1 with its own
    /// vote (leader 1, zxid 5, epoch 1) back from itself at 1 ms.
    fn looking_with_lost(voters: &[i64], lost: &[i64]) -> FastLeaderElectionCore {
        let mut core = FastLeaderElectionCore::new(1, LearnerType::Participant, verifier(voters, &[]), java_timing());
        core.set_lost_peers(lost.iter().copied().collect());
        core.start(5, 1, 0);
        core.receive(note(1, ServerState::Looking, 1, 5, 1, 1), 1);
        core
    }

    /// A failover: the other survivor agrees and the old leader's
    /// connection broke, so no better vote can come and the proposal is
    /// decided at once (after what is queued), not a finalizeWait later.
    #[test]
    fn finalize_ends_at_once_when_every_other_voter_was_heard_or_is_lost() {
        let mut core = looking_with_lost(&[1, 2, 3], &[3]);
        let step = core.receive(note(2, ServerState::Looking, 1, 5, 1, 1), 2);
        assert_eq!((step.decision, step.wake_at), (None, Some(2)), "queued notifications are read first");
        let d = core.tick(2, true).decision.expect("decided");
        assert_eq!((d.vote, d.state), (Vote::new(1, 5, 1, 1), ServerState::Leading));
        // Five voters, two lost: the last one heard ends the wait even when
        // its vote, no better, comes during the wait.
        let mut core = looking_with_lost(&[1, 2, 3, 4, 5], &[4, 5]);
        core.receive(note(2, ServerState::Looking, 1, 5, 1, 1), 2);
        assert_eq!(core.receive(note(3, ServerState::Looking, 1, 5, 1, 1), 3).wake_at, Some(3));
        let mut core = looking_with_lost(&[1, 2, 3, 4, 5], &[5]);
        core.receive(note(2, ServerState::Looking, 1, 5, 1, 1), 2);
        assert_eq!(core.receive(note(3, ServerState::Looking, 1, 5, 1, 1), 3).wake_at, Some(203), "4 not heard yet");
        assert_eq!(core.receive(note(4, ServerState::Looking, 4, 4, 1, 1), 50).wake_at, Some(50), "4 heard, no better");
        assert_eq!(core.tick(50, true).decision.map(|d| d.vote.id), Some(1));
        // A peer lost while the wait runs counts from the next step on.
        let mut core = looking_with_lost(&[1, 2, 3], &[]);
        assert_eq!(core.receive(note(2, ServerState::Looking, 1, 5, 1, 1), 2).wake_at, Some(202));
        core.set_lost_peers([3].into());
        assert_eq!(core.receive(note(2, ServerState::Looking, 1, 5, 1, 1), 10).wake_at, Some(10));
    }

    /// A voter that was never connected (a start-up, a peer not started
    /// yet) may still send a better vote: the full finalizeWait, as Java.
    /// Nor does a vote of an older round count as heard.
    #[test]
    fn finalize_waits_for_a_voter_neither_heard_nor_lost() {
        let mut core = looking_with_lost(&[1, 2, 3], &[]);
        assert_eq!(core.receive(note(2, ServerState::Looking, 1, 5, 1, 1), 2).wake_at, Some(202));
        assert_eq!(core.receive(note(3, ServerState::Looking, 3, 1, 0, 1), 100).wake_at, Some(300), "an older round");
        assert_eq!(core.tick(299, true).decision, None);
        assert!(core.tick(300, true).decision.is_some());
    }

    /// With an oracle (two voters, one of them down) the wait is Java's
    /// whatever is lost.
    #[test]
    fn finalize_with_an_oracle_waits_as_java() {
        let dir = tempfile::tempdir().unwrap();
        let mut core = with_oracle(1, dir.path(), "1");
        core.set_lost_peers([2].into());
        core.start(zxid(1, 5), 1, 0);
        let step = core.receive(note(1, ServerState::Looking, 1, zxid(1, 5), 1, 1), 1);
        assert_eq!(step.wake_at, Some(201), "the oracle makes a quorum; finalizeWait all the same");
        assert_eq!(core.tick(200, true).decision, None);
        assert_eq!(core.tick(201, true).decision.map(|d| d.state), Some(ServerState::Leading));
    }

    #[test]
    fn timeout_resends_or_reconnects() {
        let mut core = FastLeaderElectionCore::new(1, LearnerType::Participant, verifier(&[1, 2, 3], &[]), java_timing());
        core.start(0, 0, 0);
        let step = core.tick(200, false);
        assert!(step.connect_all && step.sends.is_empty(), "nothing delivered: dial everyone");
        assert_eq!(step.wake_at, Some(600));
        let step = core.tick(600, true);
        assert!(!step.connect_all && step.sends.len() == 3);
        assert_eq!(step.wake_at, Some(1400));
    }

    #[test]
    fn ignored_notifications() {
        let mut core = FastLeaderElectionCore::new(1, LearnerType::Participant, verifier(&[1, 2, 3], &[4]), java_timing());
        assert_eq!(core.receive(note(2, ServerState::Looking, 2, 9, 1, 1), 0), Step::default(), "no election running");
        core.start(0, 0, 0);
        for n in [
            note(4, ServerState::Looking, 4, 9, 1, 1),   // from an observer
            note(2, ServerState::Looking, 9, 9, 1, 1),   // for a stranger
            note(2, ServerState::Looking, 2, -1, 1, 1),  // with no zxid
            note(2, ServerState::Looking, 2, 9, 0, 1),   // from an older round
            note(2, ServerState::Observing, 2, 9, 1, 1), // from an observing voter
            Notification { state: 7, ..note(2, ServerState::Looking, 2, 9, 1, 1) },
        ] {
            let step = core.receive(n.clone(), 5);
            assert!(step.sends.is_empty() && step.decision.is_none(), "{n:?}");
        }
        assert_eq!(core.vote(), Vote::new(1, 0, -1, 0));
        // With a zxid of -1 nothing LOOKING counts.
        let mut empty = FastLeaderElectionCore::new(1, LearnerType::Participant, verifier(&[1, 2, 3], &[]), java_timing());
        empty.start(-1, 0, 0);
        assert!(empty.receive(note(2, ServerState::Looking, 2, 9, 1, 1), 1).sends.is_empty());
    }

    /// A peer announcing the largest possible round (as a malicious one
    /// might) is joined; the next election wraps instead of panicking.
    #[test]
    fn the_largest_round_wraps() {
        let mut core = FastLeaderElectionCore::new(1, LearnerType::Participant, verifier(&[1, 2, 3], &[]), java_timing());
        core.start(0, 0, 0);
        core.receive(note(2, ServerState::Looking, 2, 0, i64::MAX, 0), 1);
        assert_eq!(core.logical_clock(), i64::MAX);
        let step = core.start(0, 0, 2);
        assert_eq!(core.logical_clock(), i64::MIN);
        assert!(step.sends.iter().all(|m| m.election_epoch == i64::MIN));
    }

    #[test]
    fn observer_proposes_nobody() {
        let mut core = FastLeaderElectionCore::new(4, LearnerType::Observer, verifier(&[1, 2, 3], &[4]), java_timing());
        let step = core.start(7, 1, 0);
        assert_eq!(core.vote(), Vote::new(i64::MIN, i64::MIN, -1, i64::MIN));
        assert_eq!(step.sends.iter().map(|m| m.to).collect::<Vec<_>>(), [1, 2, 3], "voters only");
    }

    /// The WorkerReceiver's answers.
    #[test]
    fn answers() {
        let mut core = FastLeaderElectionCore::new(1, LearnerType::Participant, verifier(&[1, 2, 3], &[4]), java_timing());
        // Two elections: round 2.
        core.start(0x5, 2, 0);
        core.start(0x5, 2, 0);
        let current = Vote { state: ServerState::Following, ..Vote::new(3, 0x9, 7, 3) };
        let reply = |leader, zxid, election_epoch, state, peer_epoch| Outgoing { to: 0, leader, zxid, election_epoch, state, peer_epoch };
        // A non-voter gets our current vote with our round, whatever our state.
        let r = core.answer(&note(4, ServerState::Looking, 4, 1, 1, 1), ServerState::Following, &current);
        assert_eq!(r, Receipt { to_election: false, reply: Some(Outgoing { to: 4, ..reply(3, 0x9, 2, ServerState::Following, 3) }) });
        // LOOKING: everything goes to the election; a LOOKING sender in an
        // older round gets our proposal and round.
        let r = core.answer(&note(2, ServerState::Looking, 2, 1, 1, 1), ServerState::Looking, &current);
        assert_eq!(r, Receipt { to_election: true, reply: Some(Outgoing { to: 2, ..reply(1, 0x5, 2, ServerState::Looking, 2) }) });
        let r = core.answer(&note(2, ServerState::Looking, 2, 9, 2, 2), ServerState::Looking, &current);
        assert_eq!(r, Receipt { to_election: true, reply: None }, "our round, a better proposal");
        let r = core.answer(&note(2, ServerState::Looking, 1, 0x5, 2, 2), ServerState::Looking, &current);
        assert_eq!(r, Receipt { to_election: true, reply: None }, "our round, our proposal");
        // A LOOKING sender in our round with a worse proposal may have
        // missed ours: it gets it again.
        let r = core.answer(&note(2, ServerState::Looking, 2, 1, 2, 1), ServerState::Looking, &current);
        assert_eq!(r, Receipt { to_election: true, reply: Some(Outgoing { to: 2, ..reply(1, 0x5, 2, ServerState::Looking, 2) }) });
        let r = core.answer(&note(2, ServerState::Following, 2, 1, 1, 1), ServerState::Looking, &current);
        assert_eq!(r, Receipt { to_election: true, reply: None });
        // Decided: a LOOKING sender learns our vote and its round; the rest
        // is dropped, as is a state no server sends.
        let r = core.answer(&note(2, ServerState::Looking, 2, 1, 9, 1), ServerState::Following, &current);
        assert_eq!(r, Receipt { to_election: false, reply: Some(Outgoing { to: 2, ..reply(3, 0x9, 7, ServerState::Following, 3) }) });
        let r = core.answer(&note(2, ServerState::Leading, 2, 1, 9, 1), ServerState::Following, &current);
        assert_eq!(r, Receipt::default());
        let r = core.answer(&Notification { state: 9, ..note(2, ServerState::Looking, 2, 1, 9, 1) }, ServerState::Looking, &current);
        assert_eq!(r, Receipt::default());
    }
}
