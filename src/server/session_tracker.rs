//! SessionTracker: what a ZooKeeperServer asks of its session table. The
//! standalone server and the leader use `SessionTrackerImpl` (which expires
//! sessions); a follower or observer uses `LearnerSessionTracker` (which
//! only records touches for the leader's PING and leaves expiry to it).

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
    /// setOwner: the session now lives behind `owner` (it was created or
    /// revalidated there); Err(SESSIONEXPIRED) if it is unknown or closing.
    fn set_owner(&self, id: i64, owner: SessionOwner) -> Result<(), i32>;
    /// Sessions this tracker knows (mntr's global_sessions).
    fn session_count(&self) -> usize;
    /// The `dump` four-letter word's session section.
    fn dump_sessions(&self) -> String;
    /// getSessionExpiryMap: expiration time -> the sessions due then (the
    /// admin command dump); empty where sessions do not expire here, as
    /// on a learner.
    fn session_expiry_map(&self) -> std::collections::BTreeMap<i64, Vec<i64>> {
        std::collections::BTreeMap::new()
    }
}
