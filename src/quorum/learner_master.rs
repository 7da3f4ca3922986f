//! LearnerMaster: what a LearnerHandler needs from the peer it serves (Java's
//! LearnerMaster). The LearnerHandler threads ("LearnerHandler-<addr>" and
//! their "Sender-" threads) call it; the Leader implements it for its
//! followers and observers.

use crate::quorum::auth::quorum_auth::QuorumPeerAuth;
use crate::quorum::leader::LeaderSettings;
use crate::quorum::learner_handler::{LearnerHandler, SyncPlan};
use crate::quorum::unified_server_socket::QuorumSsl;
use crate::server::request::Request;
use crate::server::session_tracker::SessionOwner;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub trait LearnerMaster: Send + Sync {
    /// Whether this master still serves learners.
    fn is_running(&self) -> bool;
    /// syncLimit ticks.
    fn sync_timeout(&self) -> Duration;
    /// initLimit ticks.
    fn init_timeout(&self) -> Duration;
    /// The quorum SASL server learners authenticate with.
    fn quorum_auth(&self) -> &QuorumPeerAuth;
    /// How learner connections are accepted (sslQuorum, portUnification).
    fn quorum_ssl(&self) -> &QuorumSsl;
    /// The system properties the handlers read.
    fn settings(&self) -> &LeaderSettings;
    /// The newest zxid proposed (pings carry it).
    fn last_proposed(&self) -> i64;
    /// The newest zxid applied to the database.
    fn last_processed_zxid(&self) -> i64;
    /// The membership version learners compare their own with.
    fn quorum_verifier_version(&self) -> i64;
    /// The membership NEWLEADER carries.
    fn quorum_verifier_bytes(&self) -> Vec<u8>;
    /// A sid for a learner that did not say who it is.
    fn next_anonymous_sid(&self) -> i64;
    /// The member's addresses as the log prints them, if it is one.
    fn peer_info(&self, sid: i64) -> Option<String>;
    /// A handler started / stopped.
    fn add_learner_handler(&self, h: &Arc<LearnerHandler>);
    fn remove_learner_handler(&self, h: &LearnerHandler);
    /// The handler's first packet arrived (or it gave up waiting for it).
    fn handshake_done(&self, id: u64);
    /// The learner said who it is (sid and type known).
    fn identify_learner(&self, h: &LearnerHandler);
    /// Epoch negotiation: the epoch to tell the learner, then its ACKEPOCH.
    fn get_epoch_to_propose(&self, sid: i64, last_accepted_epoch: i64) -> io::Result<i64>;
    fn wait_for_epoch_ack(&self, sid: i64, epoch: i64, last_zxid: i64) -> io::Result<()>;
    /// How to bring the learner from `peer_last_zxid` up to date.
    fn sync_learner(&self, h: &Arc<LearnerHandler>, peer_last_zxid: i64) -> io::Result<SyncPlan>;
    /// The database as a SNAP stream.
    fn serialize_snapshot(&self, out: &mut dyn io::Write) -> io::Result<()>;
    /// Waits for NEWLEADER's ack, then for the master to serve.
    fn wait_for_new_leader_ack(&self, sid: i64, zxid: i64) -> io::Result<()>;
    fn wait_for_startup(&self) -> io::Result<()>;
    /// Sends UPTODATE once the learner is synced.
    fn send_up_to_date(&self, h: &LearnerHandler);
    /// Any packet from the learner (its sync-limit clock).
    fn heard_from(&self, h: &LearnerHandler);
    /// The learner's ACK of a proposal.
    fn process_ack(&self, sid: i64, zxid: i64, from: Option<SocketAddr>);
    /// The learner's sessions (PING payload) and REVALIDATE.
    fn touch(&self, session_id: i64, timeout: i32);
    fn revalidate_session(&self, session_id: i64, timeout: i32, owner: SessionOwner) -> bool;
    /// A client request the learner forwarded.
    fn submit_learner_request(&self, req: Request);
}
