//! Watcher and WatchedEvent: what the data tree notifies when a watched node
//! changes. A client connection is a Watcher; the event travels to the client
//! as a WatcherEvent record under xid -1. A `Notification` carries one event
//! to every watcher a trigger fires, with its wire frame made once and
//! shared by all the connections it goes to.

use crate::jute::records::{Acl, ReplyHeader, WatcherEvent};
use crate::jute::{OutputArchive, Record};
use crate::zoo_defs::{keeper_state, xid};
use std::sync::{Arc, OnceLock};

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

/// One event on its way to its watchers, with the frame a client
/// connection sends for it (length prefix, reply header with xid -1 and
/// zxid -1, the WatcherEvent), made by the first connection that needs it.
#[derive(Debug)]
pub struct Notification {
    event: WatchedEvent,
    frame: OnceLock<Arc<[u8]>>,
}

impl Notification {
    pub fn new(event: WatchedEvent) -> Notification {
        Notification { event, frame: OnceLock::new() }
    }

    pub fn event(&self) -> &WatchedEvent {
        &self.event
    }

    /// The notification frame, serialised on the first call only.
    pub fn frame(&self) -> Arc<[u8]> {
        Arc::clone(self.frame.get_or_init(|| {
            let mut oa = OutputArchive::with_capacity(32 + self.event.path.len());
            oa.write_int(-1);
            ReplyHeader { xid: xid::NOTIFICATION, zxid: -1, err: 0 }.serialize(&mut oa);
            self.event.to_wire().serialize(&mut oa);
            let len = oa.len() as i32 - 4;
            oa.patch_int(0, len);
            Arc::from(oa.into_inner())
        }))
    }
}

/// Something that can be told of a WatchedEvent. `watcher_id` is stable and
/// unique for the life of the process (a connection's id); watch tables key
/// on it.
pub trait Watcher: Send + Sync {
    fn watcher_id(&self) -> u64;
    /// Tells the watcher of `n`'s event. `node_acl` is the ACL of the node
    /// the event is about when the tree knows it; a watcher serving a
    /// client passes the event on only if the client may READ that node
    /// (`None`: nothing to check).
    fn process(&self, n: &Notification, node_acl: Option<&[Acl]>);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jute::InputArchive;

    #[test]
    fn the_frame_is_made_once_and_reads_back() {
        let n = Notification::new(WatchedEvent::new(3, "/a/b", 42));
        let f = n.frame();
        assert!(Arc::ptr_eq(&f, &n.frame()));
        assert_eq!(i32::from_be_bytes([f[0], f[1], f[2], f[3]]) as usize, f.len() - 4);
        let mut ia = InputArchive::new(&f[4..]);
        let hdr = ReplyHeader::deserialize(&mut ia).unwrap();
        assert_eq!((hdr.xid, hdr.zxid, hdr.err), (xid::NOTIFICATION, -1, 0));
        let ev = WatcherEvent::deserialize(&mut ia).unwrap();
        assert_eq!((ev.r#type, ev.state, ev.path.as_str()), (3, keeper_state::SYNC_CONNECTED, "/a/b"));
        assert_eq!(ia.remaining(), 0);
    }
}
