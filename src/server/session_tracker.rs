//! SessionTracker: what a ZooKeeperServer asks of its session table. The
//! standalone server and the leader use `SessionTrackerImpl` (which expires
//! sessions); a follower or observer uses `LearnerSessionTracker` (which
//! only records touches for the leader's PING and leaves expiry to it).

use crate::server::session_tracker_impl::SessionExpirer;
use std::sync::Arc;

pub trait SessionTracker: Send + Sync {
    /// Starts the expiry thread, if the tracker has one.
    fn start(self: Arc<Self>, expirer: Arc<dyn SessionExpirer>) -> std::io::Result<()>;
    fn shutdown(&self);
    /// A new session id for a connecting client.
    fn create_session(&self, timeout: i32) -> i64;
    /// Starts tracking a session (or pushes its expiry out); true if new.
    fn track_session(&self, id: i64, timeout: i32) -> bool;
    /// The session's createSession txn was applied; true if new.
    fn commit_session(&self, id: i64, timeout: i32) -> bool;
    /// A request arrived on the session; false if it is unknown or closing.
    fn touch_session(&self, id: i64, timeout: i32) -> bool;
    fn set_session_closing(&self, id: i64);
    fn remove_session(&self, id: i64);
    /// Err(code) when the session cannot issue requests.
    fn check_session(&self, id: i64) -> Result<(), i32>;
    /// Sessions this tracker knows (mntr's global_sessions).
    fn session_count(&self) -> usize;
    /// The `dump` four-letter word's session section.
    fn dump_sessions(&self) -> String;
}
