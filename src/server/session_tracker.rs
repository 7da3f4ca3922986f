//! SessionTracker: what a ZooKeeperServer asks of its session table. The
//! standalone server uses `SessionTrackerImpl` (which expires sessions);
//! the leader uses `LeaderSessionTracker` (the same for global sessions)
//! and a follower or observer `LearnerSessionTracker` (which only records
//! touches for the leader's PING and leaves expiry to it). With
//! localSessionsEnabled both also keep this server's local sessions
//! (`UpgradeableSessionTracker`).

use std::sync::Arc;

/// Told about sessions whose time ran out (Java's
/// SessionTracker.SessionExpirer): the ZooKeeperServer, which submits a
/// closeSession for each. Called on the `SessionTracker` thread.
pub trait SessionExpirer: Send + Sync {
    fn expire(&self, session_id: i64, timeout: i32);
}

/// Which connection a session's requests may come through (Java's session
/// owner, an object compared by identity). Prep checks the owner of every
/// request that uses a session: once a session has moved to another
/// server, requests still arriving the old way fail with SESSIONMOVED.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionOwner {
    /// This server's own client connections, all alike (Java's
    /// ServerCnxn.me): a standalone server never sees a session move.
    Local,
    /// One learner's connection to the leader, by its LearnerHandler's
    /// serial number (each connection gets a new one).
    Learner(u64),
}

pub trait SessionTracker: Send + Sync {
    /// Starts the expiry thread, if the tracker has one.
    fn start(self: Arc<Self>, expirer: Arc<dyn SessionExpirer>) -> std::io::Result<()>;
    fn shutdown(&self);
    /// A new session id for a connecting client.
    fn create_session(&self, timeout: i32) -> i64;
    /// Starts tracking a session (or pushes its expiry out); true if new.
    fn track_session(&self, id: i64, timeout: i32) -> bool;
    /// The session's createSession txn was applied; true if new.
    fn commit_session(&self, id: i64, timeout: i32) -> bool;
    /// A request arrived on the session; false if it is unknown or closing.
    fn touch_session(&self, id: i64, timeout: i32) -> bool;
    fn set_session_closing(&self, id: i64);
    fn remove_session(&self, id: i64);
    /// checkSession: Err(code) when the session cannot issue requests
    /// through `owner`; a session without an owner yet takes this one.
    fn check_session(&self, id: i64, owner: SessionOwner) -> Result<(), i32>;
    /// checkGlobalSession (an ephemeral's creation): as `check_session`,
    /// but the session must be global, and one not known has expired.
    fn check_global_session(&self, id: i64, owner: SessionOwner) -> Result<(), i32> {
        match self.check_session(id, owner) {
            Err(crate::zoo_defs::code::UNKNOWN_SESSION) => Err(crate::zoo_defs::code::SESSION_EXPIRED),
            checked => checked,
        }
    }
    /// setOwner: the session now lives behind `owner` (it was created or
    /// revalidated there); Err(SESSIONEXPIRED) if it is unknown or closing.
    fn set_owner(&self, id: i64, owner: SessionOwner) -> Result<(), i32>;
    /// The global sessions this tracker knows.
    fn session_count(&self) -> usize;
    /// isLocalSessionsEnabled: whether new sessions are local (never on a
    /// standalone server, which ignores localSessionsEnabled as Java's does).
    fn is_local_sessions_enabled(&self) -> bool {
        false
    }
    /// isLocalSession: the session lives only on this server.
    fn is_local_session(&self, _id: i64) -> bool {
        false
    }
    /// upgradeSession: stops tracking a local session as local and starts
    /// upgrading it to a global one; its timeout, or None if it was not
    /// local (or another thread upgraded it first).
    fn upgrade_session(&self, _id: i64) -> Option<i32> {
        None
    }
    /// getLocalSessionCount (mntr's local_sessions).
    fn local_session_count(&self) -> usize {
        0
    }
    /// The `dump` four-letter word's session section.
    fn dump_sessions(&self) -> String;
    /// getSessionExpiryMap: expiration time -> the sessions due then (the
    /// admin command dump); empty where sessions do not expire here, as
    /// on a learner.
    fn session_expiry_map(&self) -> std::collections::BTreeMap<i64, Vec<i64>> {
        std::collections::BTreeMap::new()
    }
}
