//! LearnerSessionTracker: the session table of a follower or observer. The
//! leader owns the expiry of global sessions: this server hands out
//! session ids (from its own sid-based range), records which global
//! sessions its clients touched since the last PING (the PING answer
//! carries them so the leader keeps them alive), and knows the committed
//! (global) sessions from the ZKDatabase. With localSessionsEnabled new
//! sessions are local (`UpgradeableSessionTracker`): kept and expired
//! here, never reported in PINGs, until an ephemeral's creation upgrades
//! them. Used by the NIO workers (connect, touch), the request processor
//! thread (upgrades), Final and the QuorumPeer thread (PING).

use crate::quorum::upgradeable_session_tracker::UpgradeableSessionTracker;
use crate::server::session_tracker::{SessionExpirer, SessionOwner, SessionTracker};
use crate::server::session_tracker_impl::initialize_next_session_id;
use crate::server::zk_database::ZkDatabase;
use crate::zoo_defs::code;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

pub struct LearnerSessionTracker {
    zk_db: Arc<ZkDatabase>,
    /// Global sessions touched since the last PING, with their timeouts.
    touch_table: Mutex<HashMap<i64, i32>>,
    next_session_id: AtomicI64,
    upgradeable: UpgradeableSessionTracker,
}

impl LearnerSessionTracker {
    pub fn new(zk_db: Arc<ZkDatabase>, tick_time: i32, sid: i64, local_sessions_enabled: bool) -> LearnerSessionTracker {
        LearnerSessionTracker {
            zk_db,
            touch_table: Mutex::new(HashMap::new()),
            next_session_id: AtomicI64::new(initialize_next_session_id(sid)),
            upgradeable: UpgradeableSessionTracker::new(local_sessions_enabled, tick_time, sid),
        }
    }

    /// snapshot: the sessions touched since the last call (for PING).
    pub fn take_touch_snapshot(&self) -> HashMap<i64, i32> {
        std::mem::take(&mut *self.touch_table.lock())
    }

    /// isGlobalSession: the database holds it.
    pub fn is_global_session(&self, id: i64) -> bool {
        self.zk_db.is_committed_session(id)
    }
}

impl SessionTracker for LearnerSessionTracker {
    /// The leader expires global sessions; only local ones expire here.
    fn start(self: Arc<Self>, expirer: Arc<dyn SessionExpirer>) -> std::io::Result<()> {
        self.upgradeable.start(expirer)
    }

    fn shutdown(&self) {
        self.upgradeable.shutdown();
        self.touch_table.lock().clear();
    }

    fn create_session(&self, timeout: i32) -> i64 {
        match self.upgradeable.local() {
            Some(local) => local.create_session(timeout),
            None => self.next_session_id.fetch_add(1, Ordering::AcqRel),
        }
    }

    fn track_session(&self, _id: i64, _timeout: i32) -> bool {
        // Global sessions are tracked by the leader.
        false
    }

    /// The createSession is applied and the database holds the session:
    /// no longer local nor upgrading here, and reported to the leader from
    /// the next PING on. Always new: the database is the table.
    fn commit_session(&self, id: i64, timeout: i32) -> bool {
        tracing::info!("Committing global session 0x{id:x}");
        self.touch_table.lock().insert(id, timeout);
        self.upgradeable.committed_global_session(id);
        true
    }

    /// A local session is touched here; a global (or upgrading) one is
    /// remembered for the next PING. With local sessions on, a session
    /// that is none of these is unknown.
    fn touch_session(&self, id: i64, timeout: i32) -> bool {
        if let Some(local) = self.upgradeable.local() {
            if local.touch_session(id, timeout) {
                return true;
            }
            if !self.is_global_session(id) && !self.upgradeable.is_upgrading_session(id) {
                return false;
            }
        }
        self.touch_table.lock().insert(id, timeout);
        true
    }

    fn set_session_closing(&self, id: i64) {
        // Global sessions close on the leader.
        if let Some(local) = self.upgradeable.local() {
            local.set_session_closing(id);
        }
    }

    fn remove_session(&self, id: i64) {
        if let Some(local) = self.upgradeable.local() {
            local.remove_session(id);
        }
        self.touch_table.lock().remove(&id);
    }

    /// A local session is checked here; a global one by the leader when
    /// the request reaches it. With local sessions on, a session that is
    /// neither has expired.
    fn check_session(&self, id: i64, owner: SessionOwner) -> Result<(), i32> {
        let Some(local) = self.upgradeable.local() else { return Ok(()) };
        match local.check_session(id, owner) {
            Err(code::UNKNOWN_SESSION) if !self.is_global_session(id) => Err(code::SESSION_EXPIRED),
            Err(code::UNKNOWN_SESSION) => Ok(()),
            checked => checked,
        }
    }

    fn set_owner(&self, id: i64, owner: SessionOwner) -> Result<(), i32> {
        let Some(local) = self.upgradeable.local() else { return Ok(()) };
        match local.set_owner(id, owner) {
            Err(_) if self.is_global_session(id) => Ok(()),
            set => set,
        }
    }

    fn session_count(&self) -> usize {
        self.zk_db.session_count()
    }

    fn is_local_sessions_enabled(&self) -> bool {
        self.upgradeable.is_local_sessions_enabled()
    }

    fn is_local_session(&self, id: i64) -> bool {
        self.upgradeable.is_local_session(id)
    }

    /// The leader starts tracking it when the createSession reaches it.
    fn upgrade_session(&self, id: i64) -> Option<i32> {
        self.upgradeable.upgrade_session(id, |_, _| {})
    }

    fn local_session_count(&self) -> usize {
        self.upgradeable.local_session_count()
    }

    /// The local table's buckets (with local sessions on), then the global
    /// sessions with their timeouts.
    fn dump_sessions(&self) -> String {
        let mut sessions: Vec<(i64, i32)> = self.zk_db.sessions_with_timeouts().into_iter().collect();
        sessions.sort_unstable();
        let mut out = self.upgradeable.dump_local_sessions();
        out.push_str(&format!("Global Sessions({}):\n", sessions.len()));
        for (id, timeout) in sessions {
            out.push_str(&format!("0x{id:x}\t{timeout}ms\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::persistence::file_txn_snap_log::FileTxnSnapLog;

    fn tracker(dir: &std::path::Path, sid: i64, local: bool) -> LearnerSessionTracker {
        let db = ZkDatabase::new(FileTxnSnapLog::new(dir, dir).expect("snap log"), false, true);
        LearnerSessionTracker::new(Arc::new(db), 2000, sid, local)
    }

    #[test]
    fn touches_are_reported_once_to_the_next_ping() {
        let dir = tempfile::tempdir().expect("tempdir");
        let st = tracker(dir.path(), 2, false);
        assert!(st.touch_session(5, 4000));
        assert!(st.touch_session(6, 9000));
        assert!(st.touch_session(5, 4000));
        assert_eq!(st.take_touch_snapshot(), HashMap::from([(5, 4000), (6, 9000)]));
        assert!(st.take_touch_snapshot().is_empty());
        // A closed session is not reported.
        st.touch_session(7, 4000);
        st.remove_session(7);
        assert!(st.take_touch_snapshot().is_empty());
    }

    #[test]
    fn ids_carry_the_learners_sid_and_the_leader_checks_them() {
        // SessionTrackerCheckTest.testLearnerSessionTracker, local
        // sessions off: checkSession is the leader's business, a no-op
        // here for any id; nothing is tracked locally.
        let dir = tempfile::tempdir().expect("tempdir");
        let st = tracker(dir.path(), 3, false);
        let id = st.create_session(30_000);
        assert_eq!(id >> 56, 3);
        assert_eq!(st.create_session(30_000), id + 1);
        assert!(!st.track_session(id, 30_000));
        assert_eq!(st.check_session(0xdead_beef, SessionOwner::Local), Ok(()));
        assert_eq!(st.session_count(), 0);
        assert!(st.commit_session(id, 30_000));
        assert_eq!(st.take_touch_snapshot(), HashMap::from([(id, 30_000)]), "reported from the next PING on");
    }

    #[test]
    fn local_sessions_stay_out_of_pings_until_upgraded() {
        // SessionTrackerCheckTest.testLearnerSessionTracker, local
        // sessions on: a local session is checked here, an id neither
        // local nor global has expired.
        let dir = tempfile::tempdir().expect("tempdir");
        let st = tracker(dir.path(), 4, true);
        let id = st.create_session(30_000);
        assert_eq!(id >> 56, 4);
        assert!(st.is_local_session(id));
        assert!(st.touch_session(id, 30_000));
        assert!(st.take_touch_snapshot().is_empty(), "a local session is not the leader's business");
        assert_eq!(st.check_session(id, SessionOwner::Local), Ok(()));
        assert_eq!(st.check_session(0xdead_beef, SessionOwner::Local), Err(code::SESSION_EXPIRED));
        assert!(!st.touch_session(0xdead_beef, 30_000));
        assert_eq!(st.local_session_count(), 1);
        // (A touch may have left an empty bucket behind, as in Java.)
        let dump = st.dump_sessions();
        assert!(dump.starts_with("Local Session Sets (") && dump.contains(&format!("\t0x{id:x}\n")), "{dump}");
        // Upgrading: touches now go to the leader, through the commit.
        assert_eq!(st.upgrade_session(id), Some(30_000));
        assert!(!st.is_local_session(id));
        assert!(st.touch_session(id, 30_000));
        assert_eq!(st.take_touch_snapshot(), HashMap::from([(id, 30_000)]));
        st.commit_session(id, 30_000);
        assert_eq!(st.take_touch_snapshot(), HashMap::from([(id, 30_000)]));
        assert_eq!(st.local_session_count(), 0);
        // A local session closed here is forgotten.
        let other = st.create_session(30_000);
        st.remove_session(other);
        assert!(!st.touch_session(other, 30_000));
    }
}
