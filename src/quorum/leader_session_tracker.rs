//! LeaderSessionTracker: the leader's session table. Every session is
//! global (local sessions are not supported): it wraps the expiring
//! SessionTrackerImpl (whose "SessionTracker" thread expires sessions for
//! the whole ensemble) and adds what learners ask of it: the touches their
//! PINGs carry and REVALIDATE's validity check. Called by the NIO workers,
//! the ProcessThread, the FinalRequestProcessor's thread and the
//! LearnerHandler threads.

use crate::server::session_tracker::{SessionExpirer, SessionOwner, SessionTracker};
use crate::server::session_tracker_impl::SessionTrackerImpl;
use crate::zoo_defs::code;
use std::collections::HashMap;
use std::sync::Arc;
use tracing::{debug, info};

pub struct LeaderSessionTracker {
    global: Arc<SessionTrackerImpl>,
}

impl LeaderSessionTracker {
    /// A tracker for the leader `sid` holding the committed `sessions`.
    pub fn new(tick_time: i32, sid: i64, sessions: HashMap<i64, i32>) -> Arc<LeaderSessionTracker> {
        Arc::new(LeaderSessionTracker { global: SessionTrackerImpl::new(tick_time, sid, sessions) })
    }

    /// A learner's PING reports activity on one of its sessions.
    pub fn touch(&self, id: i64, timeout: i32) {
        if !self.global.touch_session(id, timeout) {
            debug!("Session 0x{id:x} touched by a learner is not tracked");
        }
    }

    /// checkIfValidGlobalSession (REVALIDATE): a learner's client
    /// reconnects with this session; alive sessions are touched.
    pub fn check_if_valid_global_session(&self, id: i64, timeout: i32) -> bool {
        let valid = self.global.touch_session(id, timeout);
        debug!("Session 0x{id:x} is valid: {valid}");
        valid
    }
}

impl SessionTracker for LeaderSessionTracker {
    fn start(self: Arc<Self>, expirer: Arc<dyn SessionExpirer>) -> std::io::Result<()> {
        Arc::clone(&self.global).start(expirer)
    }

    fn shutdown(&self) {
        self.global.shutdown();
    }

    fn create_session(&self, timeout: i32) -> i64 {
        self.global.create_session(timeout)
    }

    fn track_session(&self, id: i64, timeout: i32) -> bool {
        self.global.track_session(id, timeout)
    }

    fn commit_session(&self, id: i64, timeout: i32) -> bool {
        let added = self.global.commit_session(id, timeout);
        if added {
            info!("Committing global session 0x{id:x}");
        }
        added
    }

    fn touch_session(&self, id: i64, timeout: i32) -> bool {
        self.global.touch_session(id, timeout)
    }

    fn set_session_closing(&self, id: i64) {
        self.global.set_session_closing(id);
    }

    fn remove_session(&self, id: i64) {
        self.global.remove_session(id);
    }

    /// As Java's LeaderSessionTracker without local sessions: a session
    /// the leader does not know has expired (SESSIONEXPIRED, not
    /// UNKNOWNSESSION), whichever server handed out its id.
    fn check_session(&self, id: i64, owner: SessionOwner) -> Result<(), i32> {
        match self.global.check_session(id, owner) {
            Err(code::UNKNOWN_SESSION) => Err(code::SESSION_EXPIRED),
            checked => checked,
        }
    }

    fn set_owner(&self, id: i64, owner: SessionOwner) -> Result<(), i32> {
        self.global.set_owner(id, owner)
    }

    fn session_count(&self) -> usize {
        self.global.session_count()
    }

    fn dump_sessions(&self) -> String {
        self.global.dump_sessions()
    }

    fn session_expiry_map(&self) -> std::collections::BTreeMap<i64, Vec<i64>> {
        self.global.session_expiry_map()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::session_tracker_impl::SessionTrackerCore;

    #[test]
    fn an_unknown_session_has_expired_whichever_server_made_its_id() {
        // SessionTrackerCheckTest.testLeaderSessionTracker, local sessions
        // off: a tracked global session passes; an id made by another
        // server or by the leader itself, never tracked, has expired.
        let sid = 1i64;
        let st = LeaderSessionTracker::new(2000, sid, HashMap::new());
        let global = 0xdead_beef;
        st.track_session(global, 30_000);
        assert_eq!(st.check_session(global, SessionOwner::Local), Ok(()));
        for id in [((sid + 1) << 56) + 2, (sid << 56) + 2] {
            assert_eq!(st.check_session(id, SessionOwner::Local), Err(code::SESSION_EXPIRED), "0x{id:x}");
        }
    }

    #[test]
    fn revalidation_accepts_live_sessions_only() {
        let st = LeaderSessionTracker::new(2000, 1, HashMap::from([(7, 30_000)]));
        assert!(st.check_if_valid_global_session(7, 30_000));
        assert!(!st.check_if_valid_global_session(8, 30_000), "unknown");
        st.set_session_closing(7);
        assert!(!st.check_if_valid_global_session(7, 30_000), "closing");
        st.remove_session(7);
        assert!(!st.check_if_valid_global_session(7, 30_000), "removed");
    }

    #[test]
    fn learner_pings_keep_a_session_alive_until_they_stop() {
        // The leader's table as its LearnerHandlers drive it: a session
        // whose only activity is a learner's PING every half tick lives
        // on, and expires one timeout (rounded up to the tick) after the
        // last touch, not before.
        let mut st = SessionTrackerCore::new(2000, 0x100, 0);
        let id = st.create_session(6000, 0);
        let mut now = 0;
        while now < 30_000 {
            now += 1000;
            assert_eq!(st.expire(now), vec![], "at {now}");
            assert!(st.touch_session(id, 6000, now));
        }
        assert_eq!(st.expire(37_999), vec![]);
        assert_eq!(st.expire(38_000), vec![(id, 6000)]);
    }
}
