//! ReadOnlyZooKeeperServer: what a participant serves while it cannot find
//! or form a quorum, with readonlymode.enabled. While the QuorumPeer thread
//! runs an election, a `roZkMgr` thread waits max(2 s, tickTime) and, if the
//! peer is still LOOKING, starts this server and puts it behind the client
//! port and the AdminServer; when the election decides, the QuorumPeer
//! thread shuts it down and puts the idle server back, which closes every
//! connection so read-only clients go and find a read-write server. Like
//! Java's, it is no quorum server: the admin commands about the quorum
//! (leader, voting_view, zabstate) see none.
//!
//! Chain: ReadOnlyRequestProcessor -> PrepRequestProcessor ->
//! FinalRequestProcessor (nothing is logged). It takes only clients whose
//! ConnectRequest asked for read-only and answers them with readOnly set.
//! Sessions created here are local: ids from this server's own range
//! (`initialize_next_session_id(myid)`), kept and expired by a
//! `SessionTracker` of its own, never logged or told to anyone, so a
//! read-write server does not know them (a Java client reconnects to one
//! with session id 0 when it has never seen a read-write server; others
//! find their session expired). A session the database holds (a global
//! one, made while the ensemble had a quorum) may reconnect here and read;
//! the leader keeps its expiry, so this server never expires or closes it.
//! Java 3.8 refuses such a reconnection and, unless localSessionsEnabled,
//! any new session too; see `ReadOnlySessionTracker`.

use crate::quorum::local_session_tracker::LocalSessionTracker;
use crate::quorum::quorum_peer::QuorumPeer;
use crate::quorum::quorum_peer_config::system_properties::SystemProperties;
use crate::quorum::read_only_request_processor::ReadOnlyRequestProcessor;
use crate::quorum::vote::ServerState;
use crate::server::final_request_processor::FinalRequestProcessor;
use crate::server::prep_request_processor::PrepRequestProcessor;
use crate::server::request::Request;
use crate::server::request_processor::RequestProcessor;
use crate::server::session_tracker::{SessionExpirer, SessionOwner, SessionTracker};
use crate::server::zk_database::ZkDatabase;
use crate::server::zoo_keeper_server::{ServerRole, ZooKeeperServer};
use crate::zoo_defs::{code, op_code};
use parking_lot::{Condvar, Mutex};
use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// readonlymode.enabled (a Java system property, default false): whether a
/// participant serves read-only clients while it has no quorum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadOnlyModeSettings {
    pub enabled: bool,
}

impl ReadOnlyModeSettings {
    pub fn read(props: &SystemProperties) -> ReadOnlyModeSettings {
        ReadOnlyModeSettings { enabled: props.boolean("readonlymode.enabled", false) }
    }
}

/// The grace period before a LOOKING peer decides it is partitioned and
/// starts serving read-only: tickTime, but at least 2 s.
pub fn grace_period(tick_time: i32) -> Duration {
    Duration::from_millis(i64::from(tick_time).max(2000) as u64)
}

/// The read-only server's session table: its own local sessions (a
/// LocalSessionTracker with its `SessionTracker` expiry thread, ids from
/// this server's range) and, for reads only, the global sessions the
/// database holds. Java's read-only server uses a LearnerSessionTracker:
/// with localSessionsEnabled its sessions are local as here, without it a
/// new session cannot be made at all (its createSession is refused with
/// NOTREADONLY where the client waits for a ConnectResponse), and a global
/// session's reconnection is closed ("Refusing global session reconnection
/// in RO mode"). zkserver makes every session here local whatever
/// localSessionsEnabled, and serves a global session's reads, as Java 3.4
/// did and as clients such as kazoo expect of a server they were connected
/// to when it lost its quorum.
pub struct ReadOnlySessionTracker {
    zk_db: Arc<ZkDatabase>,
    local: LocalSessionTracker,
}

impl ReadOnlySessionTracker {
    pub fn new(zk_db: Arc<ZkDatabase>, tick_time: i32, sid: i64) -> Arc<ReadOnlySessionTracker> {
        Arc::new(ReadOnlySessionTracker { zk_db, local: LocalSessionTracker::new(tick_time, sid) })
    }

    /// isLocalSession: made here (closing or not).
    pub fn is_local_session(&self, id: i64) -> bool {
        self.local.is_local_session(id)
    }

    /// isGlobalSession: the database holds it (and it is not one of ours).
    pub fn is_global_session(&self, id: i64) -> bool {
        !self.is_local_session(id) && self.zk_db.is_committed_session(id)
    }
}

impl SessionTracker for ReadOnlySessionTracker {
    fn start(self: Arc<Self>, expirer: Arc<dyn SessionExpirer>) -> io::Result<()> {
        self.local.start(expirer)
    }

    fn shutdown(&self) {
        self.local.shutdown();
    }

    fn create_session(&self, timeout: i32) -> i64 {
        self.local.create_session(timeout)
    }

    fn track_session(&self, _id: i64, _timeout: i32) -> bool {
        // Global sessions are tracked by a leader, and there is none.
        false
    }

    fn commit_session(&self, _id: i64, _timeout: i32) -> bool {
        // Nothing is committed while read-only.
        false
    }

    fn touch_session(&self, id: i64, timeout: i32) -> bool {
        self.local.touch_session(id, timeout) || self.is_global_session(id)
    }

    fn set_session_closing(&self, id: i64) {
        self.local.set_session_closing(id);
    }

    fn remove_session(&self, id: i64) {
        self.local.remove_session(id);
    }

    fn check_session(&self, id: i64, owner: SessionOwner) -> Result<(), i32> {
        if self.is_local_session(id) {
            self.local.check_session(id, owner)
        } else if self.zk_db.is_committed_session(id) {
            Ok(())
        } else {
            Err(code::SESSION_EXPIRED)
        }
    }

    fn set_owner(&self, id: i64, owner: SessionOwner) -> Result<(), i32> {
        if self.is_local_session(id) {
            self.local.set_owner(id, owner)
        } else if self.zk_db.is_committed_session(id) {
            Ok(())
        } else {
            Err(code::SESSION_EXPIRED)
        }
    }

    fn session_count(&self) -> usize {
        self.zk_db.session_count()
    }

    /// Every session made here is local, whatever localSessionsEnabled.
    fn is_local_sessions_enabled(&self) -> bool {
        true
    }

    fn is_local_session(&self, id: i64) -> bool {
        ReadOnlySessionTracker::is_local_session(self, id)
    }

    fn local_session_count(&self) -> usize {
        self.local.session_count()
    }

    fn dump_sessions(&self) -> String {
        let mut out = format!("Local {}", self.local.dump_sessions());
        let mut ids: Vec<(i64, i32)> = self.zk_db.sessions_with_timeouts().into_iter().collect();
        ids.sort_unstable();
        out.push_str(&format!("Global Sessions({}):\n", ids.len()));
        for (id, timeout) in ids {
            out.push_str(&format!("0x{id:x}\t{timeout}ms\n"));
        }
        out
    }
}

/// The read-only role: its chain, its Mode, its sessions.
pub struct ReadOnlyZooKeeperServer {
    tracker: Arc<ReadOnlySessionTracker>,
}

impl ReadOnlyZooKeeperServer {
    /// The read-only server over the peer's database, with the idle
    /// server's settings (not started).
    pub fn new_server(peer: &QuorumPeer) -> Arc<ZooKeeperServer> {
        let settings = peer.zk_server().settings.clone();
        let tracker = ReadOnlySessionTracker::new(Arc::clone(peer.zk_db()), settings.tick_time, settings.server_id);
        let role = Arc::new(ReadOnlyZooKeeperServer { tracker: Arc::clone(&tracker) });
        ZooKeeperServer::with_role(settings, Arc::clone(peer.zk_db()), tracker, role)
    }
}

impl ServerRole for ReadOnlyZooKeeperServer {
    fn setup_request_processors(&self, zks: &Arc<ZooKeeperServer>) -> io::Result<Arc<dyn RequestProcessor>> {
        let final_processor: Arc<dyn RequestProcessor> = Arc::new(FinalRequestProcessor::new(Arc::clone(zks)));
        let prep: Arc<dyn RequestProcessor> = PrepRequestProcessor::start(Arc::clone(zks), final_processor)?;
        let first: Arc<dyn RequestProcessor> = ReadOnlyRequestProcessor::start(Arc::clone(zks), prep)?;
        Ok(first)
    }

    fn revalidate_session(
        &self,
        zks: &Arc<ZooKeeperServer>,
        cnxn: &Arc<dyn crate::server::server_cnxn::ServerCnxn>,
        session_id: i64,
        timeout: i32,
    ) {
        if self.tracker.is_global_session(session_id) {
            tracing::info!(
                "Global session 0x{session_id:x} reconnects in read-only mode from {}: served read-only, its expiry left to the next leader",
                cnxn.remote_address()
            );
        }
        let valid = self.tracker.touch_session(session_id, timeout);
        zks.finish_session_init(cnxn, valid);
    }

    fn state(&self) -> &'static str {
        "read-only"
    }

    fn is_read_only(&self) -> bool {
        true
    }

    fn set_local_session_flag(&self, req: &mut Request) {
        match req.op_type {
            op_code::CREATE_SESSION => req.local_session = true,
            op_code::CLOSE_SESSION => {
                if self.tracker.is_local_session(req.session_id) {
                    req.local_session = true;
                } else {
                    tracing::warn!(
                        "Submitting global closeSession request for session 0x{:x} in ReadOnly mode",
                        req.session_id
                    );
                }
            }
            _ => {}
        }
    }
}

/// What the `roZkMgr` thread and the QuorumPeer thread share: whether the
/// election has ended, and the server once started.
struct Slot {
    stopped: bool,
    server: Option<Arc<ZooKeeperServer>>,
}

/// Starts the read-only server after the grace period unless the election
/// ends first (Java's roZkMgr thread in QuorumPeer.run), and shuts it down
/// when it does.
pub struct ReadOnlyServerManager {
    shared: Arc<(Mutex<Slot>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl ReadOnlyServerManager {
    /// Called by the QuorumPeer thread as it starts an election.
    pub fn start(peer: &Arc<QuorumPeer>) -> io::Result<ReadOnlyServerManager> {
        let shared = Arc::new((Mutex::new(Slot { stopped: false, server: None }), Condvar::new()));
        let grace = grace_period(peer.config().tick_time);
        let (s, p) = (Arc::clone(&shared), Arc::clone(peer));
        // Java's is a plain (unnamed, not critical) thread: a failure to
        // start is logged and the peer goes on electing.
        let thread = std::thread::Builder::new().name("roZkMgr".into()).spawn(move || wait_then_start(&s, &p, grace))?;
        Ok(ReadOnlyServerManager { shared, thread: Some(thread) })
    }

    /// The election has ended: stop waiting, or shut the read-only server
    /// down and put the idle server back behind the client port (closing
    /// the read-only connections).
    pub fn stop(mut self, peer: &QuorumPeer) {
        let server = {
            let (lock, cv) = &*self.shared;
            let mut slot = lock.lock();
            slot.stopped = true;
            cv.notify_all();
            slot.server.take()
        };
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(zks) = server {
            peer.set_zoo_keeper_server(peer.zk_server());
            zks.shutdown_with(false);
            tracing::info!("Read-only server shut down");
        }
    }
}

fn wait_then_start(shared: &(Mutex<Slot>, Condvar), peer: &Arc<QuorumPeer>, grace: Duration) {
    let (lock, cv) = shared;
    let deadline = Instant::now() + grace;
    let mut slot = lock.lock();
    while !slot.stopped && Instant::now() < deadline {
        cv.wait_until(&mut slot, deadline);
    }
    if slot.stopped {
        tracing::info!("Interrupted while attempting to start ReadOnlyZooKeeperServer, not started");
        return;
    }
    if peer.peer_state() != ServerState::Looking {
        return;
    }
    // Started under the lock, so the QuorumPeer thread's stop waits for a
    // start under way and then shuts the server down.
    let zks = ReadOnlyZooKeeperServer::new_server(peer);
    if let Err(e) = zks.startup() {
        tracing::error!("FAILED to start ReadOnlyZooKeeperServer: {e}");
        zks.shutdown_with(false);
        return;
    }
    peer.set_zoo_keeper_server(&zks);
    slot.server = Some(zks);
    tracing::info!("Read-only server started");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::persistence::file_txn_snap_log::FileTxnSnapLog;

    #[test]
    fn grace_period_is_tick_time_but_at_least_two_seconds() {
        assert_eq!(grace_period(500), Duration::from_secs(2));
        assert_eq!(grace_period(2000), Duration::from_secs(2));
        assert_eq!(grace_period(3000), Duration::from_secs(3));
    }

    #[test]
    fn local_sessions_are_this_servers_and_global_ones_only_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Arc::new(ZkDatabase::new(FileTxnSnapLog::new(dir.path(), dir.path()).expect("snap log"), false, true));
        let st = ReadOnlySessionTracker::new(Arc::clone(&db), 2000, 3);
        let id = st.create_session(10_000);
        assert_eq!(id >> 56, 3, "ids from this server's range");
        assert!(st.is_local_session(id) && !st.is_global_session(id));
        assert!(st.touch_session(id, 10_000));
        assert_eq!(st.check_session(id, SessionOwner::Local), Ok(()));
        assert!(!st.commit_session(id, 10_000), "nothing is committed");
        // A session nobody knows has expired.
        assert!(!st.touch_session(0x77, 10_000));
        assert_eq!(st.check_session(0x77, SessionOwner::Local), Err(code::SESSION_EXPIRED));
        st.remove_session(id);
        assert!(!st.is_local_session(id) && !st.touch_session(id, 10_000));
        assert!(st.dump_sessions().starts_with("Local "));
    }

    #[test]
    fn settings_read_readonlymode_enabled() {
        let p = |v: &[(&str, &str)]| ReadOnlyModeSettings::read(&SystemProperties::of(v));
        assert!(!p(&[]).enabled);
        assert!(p(&[("readonlymode.enabled", "true")]).enabled);
    }
}
