//! LeaderSessionTracker: the leader's session table. Every session is
//! global (local sessions are not supported): it wraps the expiring
//! SessionTrackerImpl (whose "SessionTracker" thread expires sessions for
//! the whole ensemble) and adds what learners ask of it: the touches their
//! PINGs carry and REVALIDATE's validity check. Called by the NIO workers,
//! the ProcessThread, the FinalRequestProcessor's thread and the
//! LearnerHandler threads.

use crate::server::session_tracker::{SessionExpirer, SessionOwner, SessionTracker};
use crate::server::session_tracker_impl::SessionTrackerImpl;
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

    fn check_session(&self, id: i64, owner: SessionOwner) -> Result<(), i32> {
        self.global.check_session(id, owner)
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
}
