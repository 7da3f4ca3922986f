//! LeaderSessionTracker: the leader's session table. Global sessions live
//! in the expiring SessionTrackerImpl (whose "SessionTracker" thread
//! expires them for the whole ensemble); with localSessionsEnabled the
//! leader's own new sessions are local (`UpgradeableSessionTracker`) until
//! an ephemeral's creation upgrades them. It also answers what learners
//! ask: the touches their PINGs carry and REVALIDATE's validity check.
//! Called by the NIO workers, the RequestThrottler thread (upgrades), the
//! ProcessThread, the FinalRequestProcessor's thread and the LearnerHandler
//! threads.

use crate::quorum::upgradeable_session_tracker::UpgradeableSessionTracker;
use crate::server::session_tracker::{SessionExpirer, SessionOwner, SessionTracker};
use crate::server::session_tracker_impl::SessionTrackerImpl;
use crate::zoo_defs::code;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tracing::{debug, info};

pub struct LeaderSessionTracker {
    global: Arc<SessionTrackerImpl>,
    upgradeable: UpgradeableSessionTracker,
    server_id: i64,
}

impl LeaderSessionTracker {
    /// A tracker for the leader `sid` holding the committed `sessions`.
    pub fn new(
        tick_time: i32,
        sid: i64,
        sessions: HashMap<i64, i32>,
        local_sessions_enabled: bool,
    ) -> Arc<LeaderSessionTracker> {
        Arc::new(LeaderSessionTracker {
            global: SessionTrackerImpl::new(tick_time, sid, sessions),
            upgradeable: UpgradeableSessionTracker::new(local_sessions_enabled, tick_time, sid),
            server_id: sid,
        })
    }

    /// isGlobalSession: the global table holds it.
    pub fn is_global_session(&self, id: i64) -> bool {
        self.global.is_tracking_session(id)
    }

    /// A learner's PING reports activity on one of its (global) sessions.
    pub fn touch(&self, id: i64, timeout: i32) {
        if !self.touch_session(id, timeout) {
            debug!("Session 0x{id:x} touched by a learner is not tracked");
        }
    }

    /// checkIfValidGlobalSession (REVALIDATE): a learner's client
    /// reconnects with this session; alive global sessions are touched. A
    /// local session (of the leader or of any learner) does not move.
    pub fn check_if_valid_global_session(&self, id: i64, timeout: i32) -> bool {
        let valid = self.is_global_session(id) && self.global.touch_session(id, timeout);
        debug!("Session 0x{id:x} is valid: {valid}");
        valid
    }
}

impl SessionTracker for LeaderSessionTracker {
    fn start(self: Arc<Self>, expirer: Arc<dyn SessionExpirer>) -> std::io::Result<()> {
        Arc::clone(&self.global).start(Arc::clone(&expirer))?;
        self.upgradeable.start(expirer)
    }

    fn shutdown(&self) {
        self.upgradeable.shutdown();
        self.global.shutdown();
    }

    fn create_session(&self, timeout: i32) -> i64 {
        match self.upgradeable.local() {
            Some(local) => local.create_session(timeout),
            None => self.global.create_session(timeout),
        }
    }

    fn track_session(&self, id: i64, timeout: i32) -> bool {
        let tracked = self.global.track_session(id, timeout);
        if tracked && self.upgradeable.is_local_sessions_enabled() {
            info!("Tracking global session 0x{id:x}");
        }
        tracked
    }

    fn commit_session(&self, id: i64, timeout: i32) -> bool {
        let added = self.global.commit_session(id, timeout);
        if added {
            info!("Committing global session 0x{id:x}");
        }
        self.upgradeable.committed_global_session(id);
        added
    }

    fn touch_session(&self, id: i64, timeout: i32) -> bool {
        self.upgradeable.local().is_some_and(|l| l.touch_session(id, timeout)) || self.global.touch_session(id, timeout)
    }

    fn set_session_closing(&self, id: i64) {
        if let Some(local) = self.upgradeable.local() {
            local.set_session_closing(id);
        }
        self.global.set_session_closing(id);
    }

    fn remove_session(&self, id: i64) {
        if let Some(local) = self.upgradeable.local() {
            local.remove_session(id);
        }
        self.global.remove_session(id);
    }

    /// As Java's LeaderSessionTracker: a local session of the leader's is
    /// checked here (and, while it upgrades, as global too); a global one
    /// in the global table. A session neither knows has expired, unless
    /// local sessions are on and another server made its id: then it may
    /// be that server's local session, and that server has checked it.
    fn check_session(&self, id: i64, owner: SessionOwner) -> Result<(), i32> {
        if let Some(local) = self.upgradeable.local() {
            match local.check_session(id, owner) {
                Ok(()) if !self.is_global_session(id) => return Ok(()),
                Ok(()) | Err(code::UNKNOWN_SESSION) => {}
                Err(e) => return Err(e),
            }
        }
        match self.global.check_session(id, owner) {
            Err(code::UNKNOWN_SESSION) => {}
            checked => return checked,
        }
        if !self.upgradeable.is_local_sessions_enabled() || id >> 56 == self.server_id {
            return Err(code::SESSION_EXPIRED);
        }
        Ok(())
    }

    fn check_global_session(&self, id: i64, owner: SessionOwner) -> Result<(), i32> {
        match self.global.check_session(id, owner) {
            Err(code::UNKNOWN_SESSION) => Err(code::SESSION_EXPIRED),
            checked => checked,
        }
    }

    fn set_owner(&self, id: i64, owner: SessionOwner) -> Result<(), i32> {
        if let Some(local) = self.upgradeable.local() {
            if local.set_owner(id, owner).is_ok() {
                return Ok(());
            }
        }
        self.global.set_owner(id, owner)
    }

    fn session_count(&self) -> usize {
        self.global.session_count()
    }

    fn is_local_sessions_enabled(&self) -> bool {
        self.upgradeable.is_local_sessions_enabled()
    }

    fn is_local_session(&self, id: i64) -> bool {
        self.upgradeable.is_local_session(id)
    }

    fn upgrade_session(&self, id: i64) -> Option<i32> {
        self.upgradeable.upgrade_session(id, |id, timeout| {
            self.track_session(id, timeout);
        })
    }

    fn local_session_count(&self) -> usize {
        self.upgradeable.local_session_count()
    }

    /// "Local Session Sets ... Global Session Sets ..." with local
    /// sessions on, the global table's alone otherwise.
    fn dump_sessions(&self) -> String {
        let local = self.upgradeable.dump_local_sessions();
        if local.is_empty() {
            self.global.dump_sessions()
        } else {
            format!("{local}Global {}", self.global.dump_sessions())
        }
    }

    /// Local buckets first, then the global ones over them (an upgraded
    /// session shows in its global bucket).
    fn session_expiry_map(&self) -> BTreeMap<i64, Vec<i64>> {
        let mut map = self.upgradeable.local().map(|l| l.session_expiry_map()).unwrap_or_default();
        map.extend(self.global.session_expiry_map());
        map
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
        let st = LeaderSessionTracker::new(2000, sid, HashMap::new(), false);
        let global = 0xdead_beef;
        st.track_session(global, 30_000);
        assert_eq!(st.check_session(global, SessionOwner::Local), Ok(()));
        for id in [((sid + 1) << 56) + 2, (sid << 56) + 2] {
            assert_eq!(st.check_session(id, SessionOwner::Local), Err(code::SESSION_EXPIRED), "0x{id:x}");
        }
    }

    #[test]
    fn with_local_sessions_another_servers_unknown_id_may_be_its_local_session() {
        // SessionTrackerCheckTest.testLeaderSessionTracker, local sessions
        // on: the leader's own ids it does not know have expired; another
        // server's may be local there and pass.
        let sid = 1i64;
        let st = LeaderSessionTracker::new(2000, sid, HashMap::new(), true);
        let local = st.create_session(30_000);
        assert_eq!(local >> 56, sid);
        assert!(st.is_local_session(local) && !st.is_global_session(local));
        assert_eq!(st.check_session(local, SessionOwner::Local), Ok(()));
        assert_eq!(st.check_global_session(local, SessionOwner::Local), Err(code::SESSION_EXPIRED));
        assert_eq!(st.check_session(((sid + 1) << 56) + 2, SessionOwner::Local), Ok(()));
        assert_eq!(st.check_session((sid << 56) + 0x7777, SessionOwner::Local), Err(code::SESSION_EXPIRED));
        // A learner's client cannot move a local session here.
        assert!(!st.check_if_valid_global_session(local, 30_000));
        assert_eq!(st.local_session_count(), 1);
        assert!(st.dump_sessions().starts_with("Local Session Sets (1)/(1):"));
        assert!(st.dump_sessions().contains("Global Session Sets (0)/(0):"));
    }

    #[test]
    fn an_upgraded_session_is_global_from_the_upgrade_on() {
        let st = LeaderSessionTracker::new(2000, 1, HashMap::new(), true);
        let id = st.create_session(30_000);
        assert_eq!(st.upgrade_session(id), Some(30_000));
        assert_eq!(st.upgrade_session(id), None, "once");
        assert!(!st.is_local_session(id) && st.is_global_session(id));
        assert_eq!(st.check_global_session(id, SessionOwner::Local), Ok(()));
        assert!(st.touch_session(id, 30_000));
        assert!(st.commit_session(id, 30_000) || st.is_global_session(id));
        assert!(st.check_if_valid_global_session(id, 30_000));
        assert_eq!((st.local_session_count(), st.session_count()), (0, 1));
        st.remove_session(id);
        assert!(!st.touch_session(id, 30_000));
    }

    #[test]
    fn revalidation_accepts_live_sessions_only() {
        let st = LeaderSessionTracker::new(2000, 1, HashMap::from([(7, 30_000)]), false);
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
