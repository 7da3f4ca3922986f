//! SessionTrackerImpl: the table of live sessions and their expiry, for a
//! standalone server and (inside LeaderSessionTracker) a leader.
//!
//! `SessionTrackerCore` makes every decision with the time passed in
//! (milliseconds of `common::time`, or a simulator's clock): which sessions
//! exist, their owners, their tickTime buckets, and which sessions have
//! run out at a given time. `SessionTrackerImpl` is its driver: it locks
//! the core for the NIO workers, the ProcessThread and Final, reads the
//! clock for them, and runs the `SessionTracker` thread, which sleeps until
//! the core's next deadline, takes the sessions expired then and hands
//! each to the SessionExpirer (the ZooKeeperServer, which submits a
//! closeSession).

use crate::common::time::{current_elapsed_time, current_wall_time};
use crate::server::zoo_trace;
use crate::server::expiry_queue::ExpiryQueue;
use crate::server::session_tracker::{SessionExpirer, SessionOwner, SessionTracker};
use crate::server::snapshot_formatter::java_date_utc;
use crate::zoo_defs::code;
use parking_lot::{Condvar, Mutex};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

#[derive(Debug, Clone)]
struct SessionImpl {
    timeout: i32,
    closing: bool,
    owner: Option<SessionOwner>,
}

/// The first session id of server `sid`: milliseconds in the middle bits,
/// the server id in the top byte (SessionTrackerImpl.initializeNextSessionId).
pub fn initialize_next_session_id(sid: i64) -> i64 {
    let ms = current_wall_time();
    let mut next = ((ms << 24) as u64 >> 8) as i64;
    next |= sid << 56;
    if next == crate::server::data_node::EphemeralType::CONTAINER_EPHEMERAL_OWNER {
        next += 1;
    }
    next
}

/// The session table's decisions, without locks, threads or clocks: each
/// method that depends on time takes `now` in milliseconds.
pub struct SessionTrackerCore {
    sessions_by_id: HashMap<i64, SessionImpl>,
    expiry_queue: ExpiryQueue<i64>,
    next_session_id: i64,
}

impl SessionTrackerCore {
    /// An empty table with `tickTime`-wide buckets that hands out ids from
    /// `first_session_id` on.
    pub fn new(tick_time: i32, first_session_id: i64, now: u64) -> SessionTrackerCore {
        SessionTrackerCore {
            sessions_by_id: HashMap::new(),
            expiry_queue: ExpiryQueue::new(tick_time.max(1) as u64, now),
            next_session_id: first_session_id,
        }
    }

    /// createSession: a new id, tracked with a full timeout from `now`.
    pub fn create_session(&mut self, timeout: i32, now: u64) -> i64 {
        let id = self.next_session_id;
        self.next_session_id = self.next_session_id.wrapping_add(1);
        self.track_session(id, timeout, now);
        id
    }

    /// trackSession: adds the session (if new; an existing one keeps its
    /// timeout and state) and moves its expiry to `timeout` after `now`.
    /// True if it was new.
    pub fn track_session(&mut self, id: i64, timeout: i32, now: u64) -> bool {
        let added = !self.sessions_by_id.contains_key(&id);
        self.sessions_by_id.entry(id).or_insert(SessionImpl { timeout, closing: false, owner: None });
        self.expiry_queue.update(id, timeout.max(0) as u64, now);
        added
    }

    /// touchSession: a request arrived on the session at `now`; its expiry
    /// moves to `timeout` later. False if it is unknown or closing (then
    /// nothing moves).
    pub fn touch_session(&mut self, id: i64, timeout: i32, now: u64) -> bool {
        match self.sessions_by_id.get(&id) {
            Some(s) if !s.closing => {
                self.expiry_queue.update(id, timeout.max(0) as u64, now);
                true
            }
            _ => false,
        }
    }

    pub fn set_session_closing(&mut self, id: i64) {
        if let Some(s) = self.sessions_by_id.get_mut(&id) {
            s.closing = true;
        }
    }

    pub fn remove_session(&mut self, id: i64) {
        self.sessions_by_id.remove(&id);
        self.expiry_queue.remove(&id);
    }

    /// checkSession: Err(UNKNOWN_SESSION) or Err(SESSION_EXPIRED) when the
    /// session cannot issue requests, Err(SESSION_MOVED) when it belongs
    /// to another owner; a session without an owner yet takes this one.
    pub fn check_session(&mut self, id: i64, owner: SessionOwner) -> Result<(), i32> {
        match self.sessions_by_id.get_mut(&id) {
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

    /// Whether the table holds the session, closing or not.
    pub fn is_tracking_session(&self, id: i64) -> bool {
        self.sessions_by_id.contains_key(&id)
    }

    /// Removes the session (closing or not) and returns its timeout, or
    /// None if it was not here: one caller wins a race to take it.
    pub fn take_session(&mut self, id: i64) -> Option<i32> {
        let s = self.sessions_by_id.remove(&id)?;
        self.expiry_queue.remove(&id);
        Some(s.timeout)
    }

    /// setOwner: Err(SESSION_EXPIRED) if the session is unknown or closing.
    pub fn set_owner(&mut self, id: i64, owner: SessionOwner) -> Result<(), i32> {
        match self.sessions_by_id.get_mut(&id) {
            Some(s) if !s.closing => {
                s.owner = Some(owner);
                Ok(())
            }
            _ => Err(code::SESSION_EXPIRED),
        }
    }

    /// Simulator mutation: sessions expire a tick early
    /// (`ExpiryQueue::mutate_expire_a_tick_early`).
    #[cfg(any(test, feature = "simulation"))]
    pub fn mutate_expire_a_tick_early(&mut self) {
        self.expiry_queue.mutate_expire_a_tick_early();
    }

    pub fn session_count(&self) -> usize {
        self.sessions_by_id.len()
    }

    /// Milliseconds from `now` until the next expiry bucket is due; the
    /// SessionTracker thread sleeps that long (0: call `expire` now).
    pub fn wait_time(&self, now: u64) -> u64 {
        self.expiry_queue.wait_time(now)
    }

    /// The sessions whose time has run out at `now`, with their timeouts,
    /// in the order of their buckets. Each is marked closing (touches no
    /// longer save it) and left in the table until its closeSession is
    /// applied.
    pub fn expire(&mut self, now: u64) -> Vec<(i64, i32)> {
        let mut expired = Vec::new();
        while self.expiry_queue.wait_time(now) == 0 {
            let mut due = self.expiry_queue.poll(now);
            due.sort_unstable();
            for id in due {
                if let Some(s) = self.sessions_by_id.get_mut(&id) {
                    s.closing = true;
                    expired.push((id, s.timeout));
                }
            }
        }
        expired
    }

    /// getSessionExpiryMap: each bucket's expiration time (elapsed clock,
    /// ms) with its session ids, for the admin command dump.
    pub fn session_expiry_map(&self) -> std::collections::BTreeMap<i64, Vec<i64>> {
        self.expiry_queue
            .expiry_times()
            .into_iter()
            .map(|(t, mut ids)| {
                ids.sort_unstable();
                (t as i64, ids)
            })
            .collect()
    }

    /// The `dump` four-letter word's session section (ExpiryQueue.dump):
    /// each bucket's time as Java's Date prints it, the wall clock reading
    /// `wall_now_ms` at `now`.
    pub fn dump_sessions(&self, now: u64, wall_now_ms: i64) -> String {
        let buckets = self.expiry_queue.buckets(now);
        let total: usize = buckets.iter().map(|(_, v)| v.len()).sum();
        let mut out = format!("Session Sets ({})/({}):\n", buckets.len(), total);
        for (ms, mut ids) in buckets {
            ids.sort_unstable();
            let at = java_date_utc(wall_now_ms.saturating_add(ms as i64));
            out.push_str(&format!("{} expire at {}:\n", ids.len(), at));
            for id in ids {
                out.push_str(&format!("\t0x{:x}\n", id));
            }
        }
        out
    }
}

/// The driver: the core behind a mutex, the clock, and the
/// `SessionTracker` thread.
pub struct SessionTrackerImpl {
    core: Mutex<SessionTrackerCore>,
    /// Wakes the SessionTracker thread early (shutdown).
    wake: Condvar,
    running: AtomicBool,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl SessionTrackerImpl {
    /// Tracks the sessions restored from disk (`sessions`: id -> timeout),
    /// each given a full timeout from now.
    pub fn new(tick_time: i32, sid: i64, sessions: HashMap<i64, i32>) -> Arc<SessionTrackerImpl> {
        let now = current_elapsed_time();
        let mut core = SessionTrackerCore::new(tick_time, initialize_next_session_id(sid), now);
        for (id, timeout) in sessions {
            core.track_session(id, timeout, now);
        }
        Arc::new(SessionTrackerImpl {
            core: Mutex::new(core),
            wake: Condvar::new(),
            running: AtomicBool::new(true),
            thread: Mutex::new(None),
        })
    }

    /// Whether the table holds the session, closing or not.
    pub fn is_tracking_session(&self, id: i64) -> bool {
        self.core.lock().is_tracking_session(id)
    }

    /// `SessionTrackerCore::take_session`.
    pub fn take_session(&self, id: i64) -> Option<i32> {
        self.core.lock().take_session(id)
    }

    /// The SessionTracker thread's loop: sleep until the next deadline,
    /// then expire what the core says is due. The expirer is called
    /// without the lock held: its closeSession comes back through Prep,
    /// which uses this tracker.
    fn run(&self, expirer: Arc<dyn SessionExpirer>) {
        let mut core = self.core.lock();
        while self.running.load(Ordering::Acquire) {
            let now = current_elapsed_time();
            let wait = core.wait_time(now);
            if wait > 0 {
                self.wake.wait_for(&mut core, Duration::from_millis(wait));
                continue;
            }
            let expired = core.expire(now);
            drop(core);
            for (id, timeout) in expired {
                tracing::info!("Expiring session 0x{:x}, timeout of {}ms exceeded", id, timeout);
                crate::server::server_metrics::metrics().stale_sessions_expired.inc();
                expirer.expire(id, timeout);
            }
            core = self.core.lock();
        }
        tracing::info!("SessionTrackerImpl exited loop!");
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
        {
            let _core = self.core.lock();
            self.running.store(false, Ordering::Release);
            self.wake.notify_all();
        }
        if let Some(h) = self.thread.lock().take() {
            let _ = h.join();
        }
    }

    fn create_session(&self, timeout: i32) -> i64 {
        let id = self.core.lock().create_session(timeout, current_elapsed_time());
        trace_tracked(true, id, timeout);
        id
    }

    fn track_session(&self, id: i64, timeout: i32) -> bool {
        let added = self.core.lock().track_session(id, timeout, current_elapsed_time());
        trace_tracked(added, id, timeout);
        added
    }

    /// The session's createSession txn was applied: make sure it is
    /// tracked (the committed table itself is the ZKDatabase's).
    fn commit_session(&self, id: i64, timeout: i32) -> bool {
        self.track_session(id, timeout)
    }

    fn touch_session(&self, id: i64, timeout: i32) -> bool {
        let valid = self.core.lock().touch_session(id, timeout, current_elapsed_time());
        zoo_trace::log_trace_message(zoo_trace::CLIENT_PING_TRACE_MASK, || {
            let what = if valid { "Touch session" } else { "Touch invalid session" };
            format!("SessionTrackerImpl --- {what}: 0x{id:x} with timeout {timeout}")
        });
        valid
    }

    fn set_session_closing(&self, id: i64) {
        self.core.lock().set_session_closing(id);
    }

    fn remove_session(&self, id: i64) {
        self.core.lock().remove_session(id);
        zoo_trace::log_trace_message(zoo_trace::SESSION_TRACE_MASK, || {
            format!("SessionTrackerImpl --- Removing session 0x{id:x}")
        });
    }

    fn check_session(&self, id: i64, owner: SessionOwner) -> Result<(), i32> {
        self.core.lock().check_session(id, owner)
    }

    fn set_owner(&self, id: i64, owner: SessionOwner) -> Result<(), i32> {
        self.core.lock().set_owner(id, owner)
    }

    fn session_count(&self) -> usize {
        self.core.lock().session_count()
    }

    fn dump_sessions(&self) -> String {
        self.core.lock().dump_sessions(current_elapsed_time(), current_wall_time())
    }

    fn session_expiry_map(&self) -> std::collections::BTreeMap<i64, Vec<i64>> {
        self.core.lock().session_expiry_map()
    }
}

/// The trace line Java writes when a session is tracked.
fn trace_tracked(added: bool, id: i64, timeout: i32) {
    zoo_trace::log_trace_message(zoo_trace::SESSION_TRACE_MASK, || {
        let action = if added { "Adding" } else { "Existing" };
        format!("SessionTrackerImpl --- {action} session 0x{id:x} {timeout}")
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: i32 = 2000;

    fn core_at(now: u64) -> SessionTrackerCore {
        SessionTrackerCore::new(TICK, 0x100, now)
    }

    #[test]
    fn a_session_expires_once_its_bucket_is_reached_and_never_a_tick_early() {
        // Sessions created at every phase of a tick: each expires at the
        // first tick boundary past creation + timeout, not a millisecond
        // (let alone a tick) before.
        for created in (0..3 * TICK as u64).step_by(250) {
            let mut st = core_at(0);
            let id = st.create_session(6000, created);
            let deadline = created + 6000;
            let bucket = (deadline / TICK as u64 + 1) * TICK as u64;
            assert_eq!(st.expire(deadline), vec![], "created at {created}");
            assert_eq!(st.expire(bucket - 1), vec![], "created at {created}");
            assert_eq!(st.wait_time(bucket - 1), 1);
            assert_eq!(st.expire(bucket), vec![(id, 6000)], "created at {created}");
            assert_eq!(st.check_session(id, SessionOwner::Local), Err(code::SESSION_EXPIRED));
        }
    }

    #[test]
    fn touches_push_the_deadline_out_and_stop_once_the_session_is_closing() {
        let mut st = core_at(0);
        let id = st.create_session(4000, 0);
        // Touched every second for ten seconds: alive throughout.
        for t in (1000..=10_000).step_by(1000) {
            assert_eq!(st.expire(t), vec![]);
            assert!(st.touch_session(id, 4000, t));
        }
        // Last touch at 10 000: due at the boundary after 14 000.
        assert_eq!(st.expire(15_999), vec![]);
        assert_eq!(st.expire(16_000), vec![(id, 4000)]);
        // Closing: a touch no longer revives it, nor queues it again.
        assert!(!st.touch_session(id, 4000, 16_001));
        assert_eq!(st.expire(60_000), vec![]);
        assert!(!st.touch_session(id + 1, 4000, 16_001), "unknown session");
    }

    #[test]
    fn a_late_tracker_expires_every_bucket_it_slept_through_in_order() {
        let mut st = core_at(0);
        let a = st.create_session(3000, 0); // due at 4000
        let b = st.create_session(9000, 0); // due at 10 000
        let c = st.create_session(30_000, 0); // due at 32 000
        assert_eq!(st.wait_time(0), 2000);
        assert_eq!(st.expire(20_000), vec![(a, 3000), (b, 9000)]);
        assert_eq!(st.wait_time(20_000), 2000);
        assert_eq!(st.expire(32_000), vec![(c, 30_000)]);
    }

    #[test]
    fn a_create_session_applied_after_expiry_does_not_revive_the_session() {
        // SessionTrackerTest.testAddSessionAfterSessionExpiry: the session
        // expires, then a delayed createSession reaches Final and tracks
        // it again. It stays closing: checkSession says expired, touches
        // fail, and the expiry was reported once.
        let id = 339_900;
        let mut st = core_at(0);
        assert!(st.track_session(id, 3000, 0));
        assert_eq!(st.check_session(id, SessionOwner::Learner(1)), Ok(()));
        assert_eq!(st.expire(4000), vec![(id, 3000)]);
        assert!(!st.track_session(id, 3000, 4000));
        assert_eq!(st.check_session(id, SessionOwner::Learner(1)), Err(code::SESSION_EXPIRED));
        assert!(!st.touch_session(id, 3000, 4000));
        assert_eq!(st.session_count(), 1);
    }

    #[test]
    fn closing_an_expired_session_forgets_it() {
        // SessionTrackerTest.testCloseSessionRequestAfterSessionExpiry: the
        // closeSession the expiry submitted removes the session.
        let id = 339_900;
        let mut st = core_at(0);
        st.track_session(id, 3000, 0);
        assert_eq!(st.check_session(id, SessionOwner::Local), Ok(()));
        assert_eq!(st.expire(4000), vec![(id, 3000)]);
        st.remove_session(id);
        assert_eq!(st.session_count(), 0);
        assert_eq!(st.check_session(id, SessionOwner::Local), Err(code::UNKNOWN_SESSION));
        assert_eq!(st.expire(100_000), vec![]);
    }

    #[test]
    fn a_taken_session_is_gone_and_only_one_taker_gets_its_timeout() {
        let mut st = core_at(0);
        let id = st.create_session(3000, 0);
        assert_eq!(st.take_session(id), Some(3000));
        assert_eq!(st.take_session(id), None);
        assert!(!st.is_tracking_session(id));
        assert_eq!(st.expire(10_000), vec![]);
    }

    #[test]
    fn a_removed_session_is_never_expired() {
        let mut st = core_at(0);
        let id = st.create_session(3000, 0);
        st.remove_session(id);
        assert_eq!(st.expire(10_000), vec![]);
    }

    #[test]
    fn restored_sessions_get_a_full_timeout_from_start_up() {
        let mut st = core_at(50_000);
        assert!(st.track_session(7, 5000, 50_000));
        assert_eq!(st.expire(55_999), vec![]);
        assert_eq!(st.expire(56_000), vec![(7, 5000)]);
        // Tracking a known session again moves its expiry by the timeout
        // given but keeps the timeout it was created with.
        let mut st = core_at(50_000);
        st.track_session(7, 5000, 50_000);
        assert!(!st.track_session(7, 9000, 50_000));
        assert_eq!(st.expire(59_999), vec![]);
        assert_eq!(st.expire(60_000), vec![(7, 5000)]);
    }

    #[test]
    fn ids_count_up_from_the_first() {
        let mut st = core_at(0);
        assert_eq!(st.create_session(1000, 0), 0x100);
        assert_eq!(st.create_session(1000, 0), 0x101);
        assert_eq!(st.session_count(), 2);
    }

    #[test]
    fn dump_lists_buckets_soonest_first() {
        let mut st = core_at(0);
        st.track_session(2, 9000, 0);
        st.track_session(1, 3000, 0);
        st.track_session(3, 3000, 0);
        assert_eq!(
            st.dump_sessions(1000, 1_796_601_600_000),
            "Session Sets (2)/(3):\n2 expire at Mon Dec 07 00:00:03 UTC 2026:\n\t0x1\n\t0x3\n\
             1 expire at Mon Dec 07 00:00:09 UTC 2026:\n\t0x2\n"
        );
    }

    #[test]
    fn the_first_owner_holds_the_session_until_set_owner_moves_it() {
        let mut st = core_at(0);
        let id = st.create_session(30_000, 0);
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
        let mut st = core_at(0);
        let id = st.create_session(30_000, 0);
        for _ in 0..3 {
            assert_eq!(st.check_session(id, SessionOwner::Local), Ok(()));
        }
    }

    #[test]
    fn the_thread_expires_a_session_and_shutdown_stops_it_promptly() {
        struct Collect(Mutex<Vec<i64>>);
        impl SessionExpirer for Collect {
            fn expire(&self, session_id: i64, _timeout: i32) {
                self.0.lock().push(session_id);
            }
        }
        let st = SessionTrackerImpl::new(10, 1, HashMap::from([(5, 20)]));
        let seen = Arc::new(Collect(Mutex::new(Vec::new())));
        Arc::clone(&st).start(Arc::clone(&seen) as Arc<dyn SessionExpirer>).expect("thread");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while seen.0.lock().is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(*seen.0.lock(), vec![5]);
        let id = st.create_session(600_000);
        let started = std::time::Instant::now();
        st.shutdown();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(st.check_session(id, SessionOwner::Local), Ok(()));
    }
}
