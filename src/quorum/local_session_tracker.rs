//! LocalSessionTracker: the sessions that live only on this server
//! (localSessionsEnabled): ids from this server's own range (its sid in
//! the top byte, as every session id), tracked and expired here by a
//! SessionTrackerImpl with its own `SessionTracker` thread, never logged
//! and never told to the leader. Owned by an `UpgradeableSessionTracker`
//! (the leader's, a learner's or the read-only server's); its expiry calls
//! the ZooKeeperServer, whose closeSession for a local session stays on
//! this server.

use crate::server::session_tracker::{SessionExpirer, SessionOwner, SessionTracker};
use crate::server::session_tracker_impl::SessionTrackerImpl;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub struct LocalSessionTracker {
    sessions: Arc<SessionTrackerImpl>,
}

impl LocalSessionTracker {
    /// An empty table handing out ids of server `sid`.
    pub fn new(tick_time: i32, sid: i64) -> LocalSessionTracker {
        LocalSessionTracker { sessions: SessionTrackerImpl::new(tick_time, sid, HashMap::new()) }
    }

    /// Starts the `SessionTracker` thread that expires local sessions.
    pub fn start(&self, expirer: Arc<dyn SessionExpirer>) -> std::io::Result<()> {
        Arc::clone(&self.sessions).start(expirer)
    }

    pub fn shutdown(&self) {
        self.sessions.shutdown();
    }

    /// createSession: a new local session, tracked (and so committed, as
    /// far as this table goes) at once.
    pub fn create_session(&self, timeout: i32) -> i64 {
        self.sessions.create_session(timeout)
    }

    /// isLocalSession: the table holds it, closing or not.
    pub fn is_local_session(&self, id: i64) -> bool {
        self.sessions.is_tracking_session(id)
    }

    /// Stops tracking the session and returns its timeout (the first half
    /// of an upgrade); None if it was not here.
    pub fn take_session(&self, id: i64) -> Option<i32> {
        self.sessions.take_session(id)
    }

    pub fn touch_session(&self, id: i64, timeout: i32) -> bool {
        self.sessions.touch_session(id, timeout)
    }

    pub fn check_session(&self, id: i64, owner: SessionOwner) -> Result<(), i32> {
        self.sessions.check_session(id, owner)
    }

    pub fn set_owner(&self, id: i64, owner: SessionOwner) -> Result<(), i32> {
        self.sessions.set_owner(id, owner)
    }

    pub fn set_session_closing(&self, id: i64) {
        self.sessions.set_session_closing(id);
    }

    pub fn remove_session(&self, id: i64) {
        self.sessions.remove_session(id);
    }

    pub fn session_count(&self) -> usize {
        self.sessions.session_count()
    }

    /// The `dump` section ("Session Sets ..."), which the owner prefixes
    /// with "Local ".
    pub fn dump_sessions(&self) -> String {
        self.sessions.dump_sessions()
    }

    pub fn session_expiry_map(&self) -> BTreeMap<i64, Vec<i64>> {
        self.sessions.session_expiry_map()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zoo_defs::code;

    #[test]
    fn local_ids_carry_the_servers_sid_and_live_until_taken_or_removed() {
        let st = LocalSessionTracker::new(2000, 5);
        let id = st.create_session(10_000);
        assert_eq!(id >> 56, 5);
        assert!(st.is_local_session(id));
        assert_eq!(st.check_session(id, SessionOwner::Local), Ok(()));
        assert_eq!(st.take_session(id), Some(10_000));
        assert!(!st.is_local_session(id));
        assert_eq!(st.check_session(id, SessionOwner::Local), Err(code::UNKNOWN_SESSION));
        let other = st.create_session(10_000);
        assert_eq!(other, id + 1);
        st.remove_session(other);
        assert_eq!(st.session_count(), 0);
    }
}
