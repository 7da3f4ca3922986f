//! The tree's two watch tables (Java's DataTree dataWatches and
//! childWatches over WatchManager): the events a txn decided under the
//! tree lock, delivered after it is released, and what clients and the
//! four-letter words ask of the tables (addWatch, setWatches on
//! reconnect, checkWatches, removeWatches, the wch* dumps).
//!
//! Events are delivered on the thread that applied the txn (the one
//! running FinalRequestProcessor); the rest runs on the threads serving
//! requests and four-letter words.

use super::{resolve, DataTree};
use crate::jute::records::Acl;
use crate::server::watch_manager::{WatcherMode, WatchesSummary};
use crate::watcher::{Notification, WatchedEvent, Watcher};
use crate::zoo_defs::{event_type, watcher_type};
use std::collections::BTreeMap;
use std::sync::Arc;
use tracing::warn;

/// A watch event decided under the tree lock, delivered after it, with the
/// ACL of the node it is about (the parent's for ChildrenChanged, the gone
/// node's for Deleted): only watchers that may READ that node hear of it.
pub(super) enum Change {
    Created(String, Arc<Vec<Acl>>),
    Deleted(String, Arc<Vec<Acl>>),
    DataChanged(String, Arc<Vec<Acl>>),
    ChildrenChanged(String, Arc<Vec<Acl>>),
}

impl DataTree {
    pub(super) fn deliver(&self, changes: &[Change], zxid: i64) {
        let m = crate::server::server_metrics::metrics();
        // WatchManager's node_*_watch_count: watchers told of one event.
        let record = |s: &crate::server::metrics::Summary, n: usize| {
            if n > 0 {
                s.add(n as i64);
            }
        };
        for change in changes {
            match change {
                Change::Created(p, acl) => {
                    let told = self.data_watches.trigger_watch(p, event_type::NODE_CREATED, zxid, acl, None);
                    record(&m.node_created_watcher, told.len());
                }
                Change::Deleted(p, acl) => {
                    // A watcher with both a data and a child watch here
                    // hears of the deletion once.
                    let told = self.data_watches.trigger_watch(p, event_type::NODE_DELETED, zxid, acl, None);
                    let more = self.child_watches.trigger_watch(p, event_type::NODE_DELETED, zxid, acl, Some(&told));
                    record(&m.node_deleted_watcher, told.len() + more.len());
                }
                Change::DataChanged(p, acl) => {
                    let told = self.data_watches.trigger_watch(p, event_type::NODE_DATA_CHANGED, zxid, acl, None);
                    record(&m.node_changed_watcher, told.len());
                }
                Change::ChildrenChanged(p, acl) => {
                    let told = self.child_watches.trigger_watch(p, event_type::NODE_CHILDREN_CHANGED, zxid, acl, None);
                    record(&m.node_children_watcher, told.len());
                }
            }
        }
    }

    /// addWatch: a persistent (or persistent-recursive) watch on both data
    /// and children. `mode` is `add_watch_mode::*`; callers check it with
    /// `WatcherMode::from_add_watch_mode` first (an unknown mode is
    /// MARSHALLINGERROR in Java) — here it is logged and ignored.
    pub fn add_watch(&self, path: &str, watcher: Arc<dyn Watcher>, mode: i32) {
        let Some(mode) = WatcherMode::from_add_watch_mode(mode) else {
            warn!("addWatch with unknown mode {mode} on {path} ignored");
            return;
        };
        self.data_watches.add_watch(path, watcher.clone(), mode);
        self.child_watches.add_watch(path, watcher, mode);
    }

    /// setWatches on reconnect: for each watch the client had, tell it at
    /// once (zxid -1) what changed after `relative_zxid`, or register the
    /// watch again. Data watches: NodeDeleted if gone, NodeDataChanged if
    /// mzxid is newer. Exist watches: NodeCreated if the node now exists.
    /// Child watches: NodeDeleted if gone, NodeChildrenChanged if pzxid is
    /// newer. Persistent ones are simply registered again.
    #[allow(clippy::too_many_arguments)]
    pub fn set_watches(
        &self,
        relative_zxid: i64,
        data: &[String],
        exist: &[String],
        child: &[String],
        persistent: &[String],
        persistent_recursive: &[String],
        watcher: Arc<dyn Watcher>,
    ) {
        let mut now: Vec<WatchedEvent> = Vec::new();
        {
            let inner = self.inner.read();
            for path in data {
                match resolve(&inner.root, path) {
                    None => now.push(WatchedEvent::new(event_type::NODE_DELETED, path, -1)),
                    Some(n) if n.stat().mzxid > relative_zxid => {
                        now.push(WatchedEvent::new(event_type::NODE_DATA_CHANGED, path, -1))
                    }
                    Some(_) => {
                        self.data_watches.add_watch(path, watcher.clone(), WatcherMode::Standard);
                    }
                }
            }
            for path in exist {
                if resolve(&inner.root, path).is_some() {
                    now.push(WatchedEvent::new(event_type::NODE_CREATED, path, -1));
                } else {
                    self.data_watches.add_watch(path, watcher.clone(), WatcherMode::Standard);
                }
            }
            for path in child {
                match resolve(&inner.root, path) {
                    None => now.push(WatchedEvent::new(event_type::NODE_DELETED, path, -1)),
                    Some(n) if n.stat().pzxid > relative_zxid => {
                        now.push(WatchedEvent::new(event_type::NODE_CHILDREN_CHANGED, path, -1))
                    }
                    Some(_) => {
                        self.child_watches.add_watch(path, watcher.clone(), WatcherMode::Standard);
                    }
                }
            }
            for (paths, mode) in
                [(persistent, WatcherMode::Persistent), (persistent_recursive, WatcherMode::PersistentRecursive)]
            {
                for path in paths {
                    self.child_watches.add_watch(path, watcher.clone(), mode);
                    self.data_watches.add_watch(path, watcher.clone(), mode);
                }
            }
        }
        // As in Java, these catch-up events carry no ACL and are not
        // filtered: they tell no more than exists() would.
        for e in now {
            watcher.process(&Notification::new(e), None);
        }
    }

    /// checkWatches: whether the watcher has a watch of `watcher_type`
    /// (`watcher_type::*`) registered on exactly `path`.
    pub fn contains_watcher(&self, path: &str, watcher_type: i32, watcher_id: u64) -> bool {
        match watcher_type {
            watcher_type::CHILDREN => self.child_watches.contains_watcher(path, watcher_id),
            watcher_type::DATA => self.data_watches.contains_watcher(path, watcher_id),
            watcher_type::ANY => {
                self.child_watches.contains_watcher(path, watcher_id)
                    || self.data_watches.contains_watcher(path, watcher_id)
            }
            _ => false,
        }
    }

    /// removeWatches: drops the watcher's watches of `watcher_type` on
    /// `path`; false when there were none.
    pub fn remove_watch(&self, path: &str, watcher_type: i32, watcher_id: u64) -> bool {
        match watcher_type {
            watcher_type::CHILDREN => self.child_watches.remove_watch(path, watcher_id),
            watcher_type::DATA => self.data_watches.remove_watch(path, watcher_id),
            watcher_type::ANY => {
                let child = self.child_watches.remove_watch(path, watcher_id);
                let data = self.data_watches.remove_watch(path, watcher_id);
                child || data
            }
            _ => false,
        }
    }

    /// A connection closed: drops all its watches.
    pub fn remove_cnxn(&self, watcher_id: u64) {
        self.data_watches.remove_watcher(watcher_id);
        self.child_watches.remove_watcher(watcher_id);
    }

    /// Number of (path, watcher) pairs over both tables.
    pub fn watch_count(&self) -> usize {
        self.data_watches.size() + self.child_watches.size()
    }

    /// The wchs text (data watches only, as in Java), without the final
    /// newline the command adds.
    pub fn dump_watches_summary(&self) -> String {
        self.data_watches.summary_text()
    }

    /// The wchp (`by_path`) or wchc text for the data watches, as in Java.
    pub fn dump_watches(&self, by_path: bool) -> String {
        self.data_watches.dump_watches(by_path)
    }

    /// Admin "watch_summary": the data-watch table's counts (as Java).
    pub fn watches_summary(&self) -> WatchesSummary {
        self.data_watches.summary()
    }

    /// Admin "watches": session -> watched paths (data-watch table).
    pub fn watches_by_session(&self) -> BTreeMap<i64, Vec<String>> {
        self.data_watches.watches_by_session()
    }

    /// Admin "watches_by_path": path -> sessions (data-watch table).
    pub fn watches_by_path(&self) -> BTreeMap<String, Vec<i64>> {
        self.data_watches.watches_by_path()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    
    use crate::server::data_tree::tests::*;
    use crate::jute::records::{Acl, Id};
    use crate::jute::txn::{SetAclTxn, TxnBody};
    
    
    
    
    use crate::server::watch_manager::tests::Recorder;
    use crate::server::watch_manager::WatchesSummary;
    use crate::watcher::{Notification, Watcher};
    use crate::zoo_defs::{add_watch_mode, code, event_type::*, ids, op_code, perms, watcher_type};
    
    use std::sync::Arc;

    /// Each event carries the ACL its watchers' READ is checked against:
    /// the node's own for created/changed/deleted (the deleted node's list
    /// even when no other node uses it any more), the parent's for
    /// NodeChildrenChanged; catch-up events of setWatches carry none.
    #[test]
    fn events_carry_the_acl_of_the_node_they_are_about() {
        let t = DataTree::new();
        let w = Recorder::new(1);
        let secret = vec![Acl { perms: perms::ALL, id: Id::new("digest", "u1:x") }];
        let open = ids::open_acl_unsafe();
        t.add_watch("/", w.clone(), add_watch_mode::PERSISTENT_RECURSIVE);
        t.add_watch("/p", w.clone(), add_watch_mode::PERSISTENT);
        create(&t, "/p", 1);
        let mut txn = create_txn("/p/s", b"", false, -1);
        txn.acl = secret.clone();
        t.process_txn(&hdr(op_code::CREATE, 2), Some(&TxnBody::Create(txn)));
        set_data(&t, "/p/s", b"x", 1, 3);
        delete(&t, "/p/s", 4);
        assert_eq!(
            w.take(),
            [
                ev(NODE_CREATED, "/p"),
                ev(NODE_CREATED, "/p/s"),
                ev(NODE_CHILDREN_CHANGED, "/p"),
                ev(NODE_DATA_CHANGED, "/p/s"),
                ev(NODE_DELETED, "/p/s"),
                ev(NODE_CHILDREN_CHANGED, "/p"),
            ]
        );
        let s = Some(secret);
        let o = Some(open);
        assert_eq!(*w.acls.lock(), [o.clone(), s.clone(), o.clone(), s.clone(), s, o]);
        w.acls.lock().clear();
        t.set_watches(0, &["/gone".to_string()], &[], &[], &[], &[], w.clone());
        assert_eq!(w.take(), [ev(NODE_DELETED, "/gone")]);
        assert_eq!(*w.acls.lock(), [None]);
    }

    #[test]
    fn a_refused_read_sets_no_watch_and_a_missing_node_is_not_checked() {
        let t = DataTree::new();
        let w = Recorder::new(1);
        create(&t, "/a", 3);
        let refuse = |acl: &[Acl]| {
            assert_eq!(acl, ids::open_acl_unsafe(), "the check sees the node's own ACL");
            Err(code::NO_AUTH)
        };
        assert_eq!(t.get_data_checked("/a", Some(w.clone()), refuse), Err(code::NO_AUTH));
        assert_eq!(t.stat_node_checked("/a", Some(w.clone()), refuse), Err(code::NO_AUTH));
        assert_eq!(t.get_children_checked("/a", Some(w.clone()), refuse).map(|_| ()), Err(code::NO_AUTH));
        assert_eq!(t.watch_count(), 0);
        // exists on a missing node: NoNode for everyone, and the watch is set.
        let never = |_: &[Acl]| -> Result<(), i32> { panic!("no node, no ACL to check") };
        assert_eq!(t.stat_node_checked("/b", Some(w.clone()), never), Err(code::NO_NODE));
        assert_eq!(t.get_data_checked("/b", Some(w.clone()), never), Err(code::NO_NODE));
        assert_eq!(t.watch_count(), 1);
    }

    #[test]
    fn data_exists_and_child_watches() {
        let t = DataTree::new();
        let w = Recorder::new(1);
        // exists on a missing node: NoNode, but the watch is set.
        assert_eq!(t.stat_node("/a", Some(w.clone())), Err(code::NO_NODE));
        assert_eq!(t.get_data("/a", Some(w.clone())), Err(code::NO_NODE));
        assert_eq!(t.get_children("/", Some(w.clone())).map(|_| ()), Ok(()));
        assert_eq!(t.watch_count(), 2);
        create(&t, "/a", 3);
        assert_eq!(w.take(), [ev(NODE_CREATED, "/a"), ev(NODE_CHILDREN_CHANGED, "/")]);
        assert_eq!(w.events.lock().len(), 0);
        assert_eq!(t.watch_count(), 0);

        t.get_data("/a", Some(w.clone())).unwrap();
        set_data(&t, "/a", b"1", 1, 4);
        set_data(&t, "/a", b"2", 2, 5);
        let events = w.events.lock().clone();
        assert_eq!(events.len(), 1);
        assert_eq!((events[0].event_type, events[0].zxid), (NODE_DATA_CHANGED, 4));
        w.take();

        // Data + child watch on a deleted node: a single NodeDeleted.
        create(&t, "/a/b", 6);
        t.get_data("/a/b", Some(w.clone())).unwrap();
        t.get_children("/a/b", Some(w.clone())).unwrap();
        t.get_children("/a", Some(w.clone())).unwrap();
        let other = Recorder::new(2);
        t.get_children("/a/b", Some(other.clone())).unwrap();
        delete(&t, "/a/b", 7);
        assert_eq!(w.take(), [ev(NODE_DELETED, "/a/b"), ev(NODE_CHILDREN_CHANGED, "/a")]);
        assert_eq!(other.take(), [ev(NODE_DELETED, "/a/b")]);
        // setACL fires nothing.
        t.get_data("/a", Some(w.clone())).unwrap();
        let body = TxnBody::SetAcl(SetAclTxn { path: "/a".into(), acl: ids::read_acl_unsafe(), version: 1 });
        t.process_txn(&hdr(op_code::SET_ACL, 8), Some(&body));
        assert!(w.take().is_empty());
    }

    #[test]
    fn persistent_and_recursive_watches() {
        let t = DataTree::new();
        create(&t, "/p", 1);
        let p = Recorder::new(1);
        let r = Recorder::new(2);
        t.add_watch("/p", p.clone(), add_watch_mode::PERSISTENT);
        t.add_watch("/p", r.clone(), add_watch_mode::PERSISTENT_RECURSIVE);
        t.add_watch("/p", r.clone(), 99);
        assert_eq!(t.watch_count(), 4);
        create(&t, "/p/c", 2);
        set_data(&t, "/p", b"x", 1, 3);
        set_data(&t, "/p/c", b"x", 1, 4);
        create(&t, "/p/c/g", 5);
        delete(&t, "/p/c/g", 6);
        delete(&t, "/p/c", 7);
        assert_eq!(
            p.take(),
            [ev(NODE_CHILDREN_CHANGED, "/p"), ev(NODE_DATA_CHANGED, "/p"), ev(NODE_CHILDREN_CHANGED, "/p"),]
        );
        assert_eq!(
            r.take(),
            [
                ev(NODE_CREATED, "/p/c"),
                ev(NODE_DATA_CHANGED, "/p"),
                ev(NODE_DATA_CHANGED, "/p/c"),
                ev(NODE_CREATED, "/p/c/g"),
                ev(NODE_DELETED, "/p/c/g"),
                ev(NODE_DELETED, "/p/c"),
            ]
        );
        // Still there; deleting the watched node itself tells each once.
        delete(&t, "/p", 8);
        assert_eq!(p.take(), [ev(NODE_DELETED, "/p")]);
        assert_eq!(r.take(), [ev(NODE_DELETED, "/p")]);
        assert_eq!(t.watch_count(), 4);
        assert!(t.remove_watch("/p", watcher_type::ANY, 1));
        assert!(!t.remove_watch("/p", watcher_type::ANY, 1));
        t.remove_cnxn(2);
        assert_eq!(t.watch_count(), 0);
    }

    #[test]
    fn set_watches_on_reconnect() {
        let t = DataTree::new();
        create(&t, "/old", 1);
        create(&t, "/new", 1);
        set_data(&t, "/new", b"x", 1, 10);
        create(&t, "/kids", 2);
        create(&t, "/kids/k", 11);
        let w = Recorder::new(1);
        let s = |v: &[&str]| v.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        t.set_watches(
            5,
            &s(&["/old", "/new", "/gone"]),
            &s(&["/old", "/absent"]),
            &s(&["/old", "/kids", "/gone2"]),
            &s(&["/pp"]),
            &s(&["/rr"]),
            w.clone(),
        );
        let mut got = w.take();
        got.sort();
        let mut want = vec![
            ev(NODE_DATA_CHANGED, "/new"),
            ev(NODE_DELETED, "/gone"),
            ev(NODE_CREATED, "/old"),
            ev(NODE_CHILDREN_CHANGED, "/kids"),
            ev(NODE_DELETED, "/gone2"),
        ];
        want.sort();
        assert_eq!(got, want);
        assert!(w.events.lock().iter().all(|e| e.zxid == -1));
        assert!(t.contains_watcher("/old", watcher_type::DATA, 1));
        assert!(t.contains_watcher("/old", watcher_type::CHILDREN, 1));
        assert!(t.contains_watcher("/absent", watcher_type::DATA, 1));
        assert!(!t.contains_watcher("/absent", watcher_type::CHILDREN, 1));
        assert!(t.contains_watcher("/pp", watcher_type::ANY, 1));
        assert!(t.contains_watcher("/rr", watcher_type::CHILDREN, 1));
        assert!(!t.contains_watcher("/new", watcher_type::ANY, 1));
        // As in 3.8, another watcher's watch on the path counts too.
        assert!(t.contains_watcher("/old", watcher_type::DATA, 2));
        // /old (data + child), /absent, /pp and /rr in both tables.
        assert_eq!(t.watch_count(), 7);
        assert!(t.remove_watch("/old", watcher_type::DATA, 1));
        assert!(!t.remove_watch("/old", watcher_type::DATA, 1));
        assert!(t.remove_watch("/old", watcher_type::CHILDREN, 1));
        create(&t, "/rr", 12);
        create(&t, "/pp", 13);
        assert_eq!(w.take(), [ev(NODE_CREATED, "/rr"), ev(NODE_CREATED, "/pp")]);
    }

    #[test]
    fn admin_watch_reports() {
        let t = DataTree::new();
        create(&t, "/a", 1);
        let w = Recorder::new(1);
        t.get_data("/a", Some(w.clone())).unwrap();
        t.get_children("/a", Some(w.clone())).unwrap();
        assert_eq!(t.watches_summary(), WatchesSummary { num_connections: 1, num_paths: 1, total_watches: 1 });
        assert_eq!(t.watches_by_session(), [(0x101, vec!["/a".to_string()])].into());
        assert_eq!(t.watches_by_path(), [("/a".to_string(), vec![0x101])].into());
    }

    #[test]
    fn watch_dumps() {
        let t = DataTree::new();
        create(&t, "/a", 1);
        let w = Recorder::new(1);
        t.get_data("/a", Some(w.clone())).unwrap();
        t.stat_node("/b", Some(w.clone())).unwrap_err();
        t.get_children("/a", Some(w.clone())).unwrap();
        // Only data watches are dumped, as in Java.
        assert_eq!(t.dump_watches_summary(), "1 connections watching 2 paths\nTotal watches:2");
        assert_eq!(t.dump_watches(true), "/a\n\t0x101\n/b\n\t0x101\n");
        assert_eq!(t.dump_watches(false), "0x101\n\t/a\n\t/b\n");
    }

    /// A watcher that reads the tree from inside `process`: this only works
    /// because events are delivered after the tree lock is released.
    struct Reentrant {
        tree: Arc<DataTree>,
        seen: parking_lot::Mutex<Vec<Option<Vec<u8>>>>,
    }

    impl Watcher for Reentrant {
        fn watcher_id(&self) -> u64 {
            3
        }
        fn process(&self, n: &Notification, _: Option<&[Acl]>) {
            let data = self.tree.get_data(&n.event().path, None).ok().and_then(|(d, _)| d);
            self.seen.lock().push(data);
        }
    }

    #[test]
    fn watches_fire_outside_the_lock() {
        let tree = Arc::new(DataTree::new());
        create(&tree, "/a", 1);
        let w = Arc::new(Reentrant { tree: tree.clone(), seen: Default::default() });
        tree.get_data("/a", Some(w.clone())).unwrap();
        set_data(&tree, "/a", b"new", 1, 2);
        assert_eq!(*w.seen.lock(), [Some(b"new".to_vec())]);
    }
}
