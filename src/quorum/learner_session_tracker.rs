//! LearnerSessionTracker: the session table of a follower or observer. The
//! leader owns expiry: this server only hands out session ids (from its own
//! sid-based range), records which sessions its clients touched since the
//! last PING (the PING answer carries them so the leader keeps them alive),
//! and knows the committed (global) sessions from the ZKDatabase. Used by
//! the NIO workers (connect, touch) and the QuorumPeer thread (PING).

use crate::server::session_tracker::{SessionExpirer, SessionOwner, SessionTracker};
use crate::server::session_tracker_impl::initialize_next_session_id;
use crate::server::zk_database::ZkDatabase;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

pub struct LearnerSessionTracker {
    zk_db: Arc<ZkDatabase>,
    /// Sessions touched since the last PING, with their timeouts.
    touch_table: Mutex<HashMap<i64, i32>>,
    next_session_id: AtomicI64,
}

impl LearnerSessionTracker {
    pub fn new(zk_db: Arc<ZkDatabase>, sid: i64) -> LearnerSessionTracker {
        LearnerSessionTracker {
            zk_db,
            touch_table: Mutex::new(HashMap::new()),
            next_session_id: AtomicI64::new(initialize_next_session_id(sid)),
        }
    }

    /// snapshot: the sessions touched since the last call (for PING).
    pub fn take_touch_snapshot(&self) -> HashMap<i64, i32> {
        std::mem::take(&mut *self.touch_table.lock())
    }
}

impl SessionTracker for LearnerSessionTracker {
    fn start(self: Arc<Self>, _expirer: Arc<dyn SessionExpirer>) -> std::io::Result<()> {
        // The leader expires sessions; a learner runs no expiry thread.
        Ok(())
    }

    fn shutdown(&self) {
        self.touch_table.lock().clear();
    }

    fn create_session(&self, _timeout: i32) -> i64 {
        self.next_session_id.fetch_add(1, Ordering::AcqRel)
    }

    fn track_session(&self, _id: i64, _timeout: i32) -> bool {
        // Global sessions are tracked by the leader.
        false
    }

    fn commit_session(&self, id: i64, _timeout: i32) -> bool {
        let added = !self.zk_db.is_committed_session(id);
        if added {
            tracing::info!("Committing global session 0x{id:x}");
        }
        added
    }

    fn touch_session(&self, id: i64, timeout: i32) -> bool {
        self.touch_table.lock().insert(id, timeout);
        true
    }

    fn set_session_closing(&self, _id: i64) {}

    fn remove_session(&self, id: i64) {
        self.touch_table.lock().remove(&id);
    }

    fn check_session(&self, _id: i64, _owner: SessionOwner) -> Result<(), i32> {
        // Checked by the leader when the request reaches it.
        Ok(())
    }

    fn set_owner(&self, _id: i64, _owner: SessionOwner) -> Result<(), i32> {
        // Owners are the leader's business (no local sessions here).
        Ok(())
    }

    fn session_count(&self) -> usize {
        self.zk_db.sessions_with_timeouts().len()
    }

    fn dump_sessions(&self) -> String {
        let mut ids: Vec<i64> = self.zk_db.sessions_with_timeouts().into_keys().collect();
        ids.sort_unstable();
        let mut out = format!("Global Sessions({}):\n", ids.len());
        for id in ids {
            out.push_str(&format!("0x{id:x}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::persistence::file_txn_snap_log::FileTxnSnapLog;

    fn tracker(dir: &std::path::Path, sid: i64) -> LearnerSessionTracker {
        let db = ZkDatabase::new(FileTxnSnapLog::new(dir, dir).expect("snap log"), false, true);
        LearnerSessionTracker::new(Arc::new(db), sid)
    }

    #[test]
    fn touches_are_reported_once_to_the_next_ping() {
        let dir = tempfile::tempdir().expect("tempdir");
        let st = tracker(dir.path(), 2);
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
        let st = tracker(dir.path(), 3);
        let id = st.create_session(30_000);
        assert_eq!(id >> 56, 3);
        assert_eq!(st.create_session(30_000), id + 1);
        assert!(!st.track_session(id, 30_000));
        assert_eq!(st.check_session(0xdead_beef, SessionOwner::Local), Ok(()));
        assert_eq!(st.session_count(), 0);
        assert!(st.commit_session(id, 30_000), "not yet committed in the database");
    }
}
