//! UpgradeableSessionTracker: what the leader's and a learner's session
//! tables share with localSessionsEnabled: the `LocalSessionTracker` that
//! new sessions go to, and the sessions being upgraded to global ones
//! (their createSession sent to the leader, not yet committed). The
//! LeaderSessionTracker and LearnerSessionTracker each hold one; without
//! local sessions it holds nothing and every answer is "not local". Called
//! by the NIO workers (connect, touch), the request processor that checks
//! for upgrades (the RequestThrottler thread on the leader, the same
//! thread feeding FollowerRequestProcessor on a learner) and Final.

use crate::quorum::local_session_tracker::LocalSessionTracker;
use crate::server::session_tracker::SessionExpirer;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;

pub struct UpgradeableSessionTracker {
    local: Option<LocalSessionTracker>,
    /// upgradingSessions: id -> timeout, from the upgrade until the
    /// session's createSession is applied here.
    upgrading: Mutex<HashMap<i64, i32>>,
}

impl UpgradeableSessionTracker {
    /// With `local_sessions_enabled`, a local table of server `sid`'s.
    pub fn new(local_sessions_enabled: bool, tick_time: i32, sid: i64) -> UpgradeableSessionTracker {
        UpgradeableSessionTracker {
            local: local_sessions_enabled.then(|| LocalSessionTracker::new(tick_time, sid)),
            upgrading: Mutex::new(HashMap::new()),
        }
    }

    /// The local table, if local sessions are enabled.
    pub fn local(&self) -> Option<&LocalSessionTracker> {
        self.local.as_ref()
    }

    pub fn is_local_sessions_enabled(&self) -> bool {
        self.local.is_some()
    }

    /// Starts the local table's expiry thread.
    pub fn start(&self, expirer: Arc<dyn SessionExpirer>) -> std::io::Result<()> {
        match &self.local {
            Some(l) => l.start(expirer),
            None => Ok(()),
        }
    }

    pub fn shutdown(&self) {
        if let Some(l) = &self.local {
            l.shutdown();
        }
    }

    pub fn is_local_session(&self, id: i64) -> bool {
        self.local.as_ref().is_some_and(|l| l.is_local_session(id))
    }

    pub fn is_upgrading_session(&self, id: i64) -> bool {
        self.upgrading.lock().contains_key(&id)
    }

    /// upgradeSession: takes the session out of the local table, has
    /// `track_global` start tracking it as global (the leader's table; a
    /// learner tracks nothing) and records it as upgrading; its timeout,
    /// or None if it was not local. The upgrading set is held throughout,
    /// so a touch never finds the session neither local nor upgrading.
    pub fn upgrade_session(&self, id: i64, track_global: impl FnOnce(i64, i32)) -> Option<i32> {
        let local = self.local.as_ref()?;
        let mut upgrading = self.upgrading.lock();
        let timeout = local.take_session(id)?;
        tracing::info!("Upgrading session 0x{id:x}");
        track_global(id, timeout);
        upgrading.insert(id, timeout);
        Some(timeout)
    }

    /// The session's createSession was applied: it is global now, and no
    /// longer local (it may have been made local again if it moved while
    /// upgrading) nor upgrading.
    pub fn committed_global_session(&self, id: i64) {
        if let Some(l) = &self.local {
            l.remove_session(id);
            self.upgrading.lock().remove(&id);
        }
    }

    pub fn local_session_count(&self) -> usize {
        self.local.as_ref().map_or(0, LocalSessionTracker::session_count)
    }

    /// The local section of `dump` ("Local Session Sets ..."), empty
    /// without local sessions.
    pub fn dump_local_sessions(&self) -> String {
        self.local.as_ref().map_or_else(String::new, |l| format!("Local {}", l.dump_sessions()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_local_sessions_nothing_is_local_or_upgraded() {
        let st = UpgradeableSessionTracker::new(false, 2000, 1);
        assert!(!st.is_local_sessions_enabled());
        assert!(!st.is_local_session(5));
        assert_eq!(st.upgrade_session(5, |_, _| panic!("nothing to track")), None);
        assert_eq!(st.local_session_count(), 0);
        assert_eq!(st.dump_local_sessions(), "");
    }

    #[test]
    fn an_upgrade_moves_a_local_session_to_upgrading_once() {
        let st = UpgradeableSessionTracker::new(true, 2000, 2);
        let id = st.local().expect("local").create_session(7000);
        assert!(st.is_local_session(id) && !st.is_upgrading_session(id));
        let mut tracked = Vec::new();
        assert_eq!(st.upgrade_session(id, |i, t| tracked.push((i, t))), Some(7000));
        assert_eq!(tracked, vec![(id, 7000)]);
        assert!(!st.is_local_session(id) && st.is_upgrading_session(id));
        assert_eq!(st.upgrade_session(id, |_, _| panic!("upgraded twice")), None);
        st.committed_global_session(id);
        assert!(!st.is_upgrading_session(id));
        assert_eq!(st.local_session_count(), 0);
        // Its emptied bucket stays until polled, as in Java.
        assert!(st.dump_local_sessions().starts_with("Local Session Sets (1)/(0):"));
    }
}
