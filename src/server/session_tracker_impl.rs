//! SessionTrackerImpl: the table of live sessions and their expiry. Sessions
//! sit in an ExpiryQueue bucketed by tickTime; the `SessionTracker` thread
//! wakes at each bucket boundary and hands every expired session to the
//! SessionExpirer (the ZooKeeperServer, which submits a closeSession).

use crate::server::expiry_queue::ExpiryQueue;
use crate::server::session_tracker::{SessionOwner, SessionTracker};
use crate::server::zoo_defs::code;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Told about sessions whose time ran out.
pub trait SessionExpirer: Send + Sync {
    fn expire(&self, session_id: i64, timeout: i32);
}

#[derive(Debug, Clone)]
struct SessionImpl {
    timeout: i32,
    closing: bool,
    owner: Option<SessionOwner>,
}

pub struct SessionTrackerImpl {
    sessions_by_id: Mutex<HashMap<i64, SessionImpl>>,
    expiry_queue: ExpiryQueue<i64>,
    next_session_id: AtomicI64,
    running: AtomicBool,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// The first session id of server `sid`: milliseconds in the middle bits,
/// the server id in the top byte (SessionTrackerImpl.initializeNextSessionId).
pub fn initialize_next_session_id(sid: i64) -> i64 {
    let ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    let mut next = ((ms << 24) as u64 >> 8) as i64;
    next |= sid << 56;
    if next == crate::server::data_node::EphemeralType::CONTAINER_EPHEMERAL_OWNER {
        next += 1;
    }
    next
}

impl SessionTrackerImpl {
    /// Tracks the sessions restored from disk (`sessions`: id -> timeout),
    /// each given a full timeout from now.
    pub fn new(tick_time: i32, sid: i64, sessions: HashMap<i64, i32>) -> Arc<SessionTrackerImpl> {
        let st = Arc::new(SessionTrackerImpl {
            sessions_by_id: Mutex::new(HashMap::new()),
            expiry_queue: ExpiryQueue::new(tick_time.max(1) as u64),
            next_session_id: AtomicI64::new(initialize_next_session_id(sid)),
            running: AtomicBool::new(true),
            thread: Mutex::new(None),
        });
        for (id, timeout) in sessions {
            st.track_session(id, timeout);
        }
        st
    }

    fn run(&self, expirer: Arc<dyn SessionExpirer>) {
        while self.running.load(Ordering::Acquire) {
            let wait = self.expiry_queue.wait_time();
            if wait > Duration::ZERO {
                // Short naps so shutdown is prompt.
                std::thread::sleep(wait.min(Duration::from_millis(100)));
                continue;
            }
            for id in self.expiry_queue.poll() {
                let timeout = {
                    let mut s = self.sessions_by_id.lock();
                    match s.get_mut(&id) {
                        Some(sess) => {
                            sess.closing = true;
                            sess.timeout
                        }
                        None => continue,
                    }
                };
                tracing::info!("Expiring session 0x{:x}, timeout of {}ms exceeded", id, timeout);
                expirer.expire(id, timeout);
            }
        }
    }

}

impl SessionTracker for SessionTrackerImpl {
    /// Starts the `SessionTracker` thread.
    fn start(self: Arc<Self>, expirer: Arc<dyn SessionExpirer>) -> std::io::Result<()> {
        let me = Arc::clone(&self);
        let h = crate::server::zoo_keeper_critical_thread::spawn("SessionTracker".into(), move || me.run(expirer))?;
        *self.thread.lock() = Some(h);
        Ok(())
    }

    fn shutdown(&self) {
        self.running.store(false, Ordering::Release);
        if let Some(h) = self.thread.lock().take() {
            let _ = h.join();
        }
    }

    /// A new session id (createSession).
    fn create_session(&self, timeout: i32) -> i64 {
        let id = self.next_session_id.fetch_add(1, Ordering::AcqRel);
        self.track_session(id, timeout);
        id
    }

    /// Adds the session (if new) and pushes its expiry out by `timeout`.
    fn track_session(&self, id: i64, timeout: i32) -> bool {
        let mut s = self.sessions_by_id.lock();
        let added = !s.contains_key(&id);
        s.entry(id).or_insert(SessionImpl { timeout, closing: false, owner: None });
        self.expiry_queue.update(id, timeout.max(0) as u64);
        added
    }

    /// The session's createSession txn was applied: make sure it is
    /// tracked (the committed table itself is the ZKDatabase's).
    fn commit_session(&self, id: i64, timeout: i32) -> bool {
        self.track_session(id, timeout)
    }

    /// Pushes the session's expiry out; false if it is unknown or closing.
    fn touch_session(&self, id: i64, timeout: i32) -> bool {
        let s = self.sessions_by_id.lock();
        match s.get(&id) {
            Some(sess) if !sess.closing => {
                self.expiry_queue.update(id, timeout.max(0) as u64);
                true
            }
            _ => false,
        }
    }

    fn set_session_closing(&self, id: i64) {
        if let Some(s) = self.sessions_by_id.lock().get_mut(&id) {
            s.closing = true;
        }
    }

    fn remove_session(&self, id: i64) {
        self.sessions_by_id.lock().remove(&id);
        self.expiry_queue.remove(&id);
    }

    /// checkSession: Err(UNKNOWN_SESSION) or Err(SESSION_EXPIRED) when the
    /// session cannot issue requests, Err(SESSION_MOVED) when it belongs
    /// to another owner.
    fn check_session(&self, id: i64, owner: SessionOwner) -> Result<(), i32> {
        match self.sessions_by_id.lock().get_mut(&id) {
            None => Err(code::UNKNOWN_SESSION),
            Some(s) if s.closing => Err(code::SESSION_EXPIRED),
            Some(s) => match s.owner {
                None => {
                    s.owner = Some(owner);
                    Ok(())
                }
                Some(o) if o == owner => Ok(()),
                Some(_) => Err(code::SESSION_MOVED),
            },
        }
    }

    fn set_owner(&self, id: i64, owner: SessionOwner) -> Result<(), i32> {
        match self.sessions_by_id.lock().get_mut(&id) {
            Some(s) if !s.closing => {
                s.owner = Some(owner);
                Ok(())
            }
            _ => Err(code::SESSION_EXPIRED),
        }
    }

    fn session_count(&self) -> usize {
        self.sessions_by_id.lock().len()
    }

    /// The `dump` four-letter word's session section.
    fn dump_sessions(&self) -> String {
        let buckets = self.expiry_queue.buckets();
        let total: usize = buckets.iter().map(|(_, v)| v.len()).sum();
        let mut out = format!("Session Sets ({})/({}):\n", buckets.len(), total);
        for (ms, ids) in buckets {
            out.push_str(&format!("{} expire at {}:\n", ids.len(), ms));
            for id in ids {
                out.push_str(&format!("\t0x{:x}\n", id));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_owner_holds_the_session_until_set_owner_moves_it() {
        let st = SessionTrackerImpl::new(1000, 1, HashMap::new());
        let id = st.create_session(30_000);
        let (a, b) = (SessionOwner::Learner(1), SessionOwner::Learner(2));
        assert_eq!(st.check_session(id, a), Ok(()));
        assert_eq!(st.check_session(id, a), Ok(()));
        assert_eq!(st.check_session(id, b), Err(code::SESSION_MOVED));
        assert_eq!(st.check_session(id, SessionOwner::Local), Err(code::SESSION_MOVED));
        assert_eq!(st.set_owner(id, b), Ok(()));
        assert_eq!(st.check_session(id, b), Ok(()));
        assert_eq!(st.check_session(id, a), Err(code::SESSION_MOVED));
        st.set_session_closing(id);
        assert_eq!(st.set_owner(id, a), Err(code::SESSION_EXPIRED));
        assert_eq!(st.check_session(id, b), Err(code::SESSION_EXPIRED));
        assert_eq!(st.check_session(id + 1, a), Err(code::UNKNOWN_SESSION));
        assert_eq!(st.set_owner(id + 1, a), Err(code::SESSION_EXPIRED));
    }

    #[test]
    fn local_connections_share_one_owner() {
        // A standalone server: every request is Local, so no session moves.
        let st = SessionTrackerImpl::new(1000, 0, HashMap::new());
        let id = st.create_session(30_000);
        for _ in 0..3 {
            assert_eq!(st.check_session(id, SessionOwner::Local), Ok(()));
        }
    }
}
