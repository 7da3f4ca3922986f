//! Watcher and WatchedEvent: what the data tree notifies when a watched node
//! changes. A client connection is a Watcher; the event travels to the client
//! as a WatcherEvent record under xid -1.

use crate::jute::records::{Acl, WatcherEvent};
use crate::zoo_defs::keeper_state;

/// A change a watcher is told about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedEvent {
    pub event_type: i32,
    pub state: i32,
    pub path: String,
    /// The zxid of the change, -1 when none applies.
    pub zxid: i64,
}

impl WatchedEvent {
    pub fn new(event_type: i32, path: &str, zxid: i64) -> WatchedEvent {
        WatchedEvent { event_type, state: keeper_state::SYNC_CONNECTED, path: path.to_string(), zxid }
    }

    pub fn to_wire(&self) -> WatcherEvent {
        WatcherEvent { r#type: self.event_type, state: self.state, path: self.path.clone() }
    }
}

/// Something that can be told of a WatchedEvent. `watcher_id` is stable and
/// unique for the life of the process (a connection's id); watch tables key
/// on it.
pub trait Watcher: Send + Sync {
    fn watcher_id(&self) -> u64;
    /// Tells the watcher of `event`. `node_acl` is the ACL of the node the
    /// event is about when the tree knows it; a watcher serving a client
    /// passes the event on only if the client may READ that node
    /// (`None`: nothing to check).
    fn process(&self, event: &WatchedEvent, node_acl: Option<&[Acl]>);
    /// The session this watcher serves, as the wchc/wchp four-letter words
    /// print it. Connections override this; the default is the watcher id.
    fn session_id(&self) -> i64 {
        self.watcher_id() as i64
    }
    /// True once the connection behind this watcher is closed; watch tables
    /// then refuse new watches for it (so a read racing the close cannot
    /// leave a watch behind that nobody removes).
    fn is_stale(&self) -> bool {
        false
    }
}
