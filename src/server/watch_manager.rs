//! WatchManager: who watches which path, and in which mode (one-shot,
//! persistent, persistent-recursive). The data tree keeps two of these, one
//! for data/exists watches and one for child watches. Watches are added by
//! the threads serving reads and fired by the thread applying txns; the
//! tables sit behind one mutex, and watchers are always called after it is
//! released.

use crate::server::zoo_trace;
use crate::jute::records::Acl;
use crate::watcher::{Notification, WatchedEvent, Watcher};
use crate::zoo_defs::{add_watch_mode, event_type};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;

/// How a watch behaves when it fires (Java's WatcherMode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatcherMode {
    /// Fires once, for its own path only, then is gone.
    Standard,
    /// Fires for its own path every time.
    Persistent,
    /// Fires every time for its own path and every path below it, except
    /// for NodeChildrenChanged.
    PersistentRecursive,
}

impl WatcherMode {
    /// The mode an addWatch request names; `None` for an unknown mode.
    pub fn from_add_watch_mode(mode: i32) -> Option<WatcherMode> {
        match mode {
            add_watch_mode::PERSISTENT => Some(WatcherMode::Persistent),
            add_watch_mode::PERSISTENT_RECURSIVE => Some(WatcherMode::PersistentRecursive),
            _ => None,
        }
    }

    pub fn is_persistent(self) -> bool {
        self != WatcherMode::Standard
    }

    pub fn is_recursive(self) -> bool {
        self == WatcherMode::PersistentRecursive
    }
}

/// The counts the wchs four-letter word and the admin "watch_summary"
/// command print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchesSummary {
    pub num_connections: usize,
    pub num_paths: usize,
    pub total_watches: usize,
}

struct WatcherPaths {
    watcher: Arc<dyn Watcher>,
    paths: HashSet<Arc<str>>,
}

/// The watchers of one path. One-shot watches, nearly all of them in
/// practice, are kept as bare watcher ids; only the persistent ones carry
/// their mode. A watcher is in one of the two at most.
#[derive(Default)]
struct PathWatchers {
    standard: HashSet<u64>,
    persistent: HashMap<u64, WatcherMode>,
}

impl PathWatchers {
    fn len(&self) -> usize {
        self.standard.len() + self.persistent.len()
    }

    fn is_empty(&self) -> bool {
        self.standard.is_empty() && self.persistent.is_empty()
    }

    /// Sets the mode of `id`'s watch; returns the mode it had.
    fn insert(&mut self, id: u64, mode: WatcherMode) -> Option<WatcherMode> {
        let old = self.remove(id);
        if mode.is_persistent() {
            self.persistent.insert(id, mode);
        } else {
            self.standard.insert(id);
        }
        old
    }

    /// Drops `id`'s watch; returns the mode it had.
    fn remove(&mut self, id: u64) -> Option<WatcherMode> {
        if self.standard.remove(&id) {
            return Some(WatcherMode::Standard);
        }
        self.persistent.remove(&id)
    }

    fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.standard.iter().chain(self.persistent.keys()).copied()
    }
}

#[derive(Default)]
struct Tables {
    /// path -> its watchers.
    watch_table: HashMap<Arc<str>, PathWatchers>,
    /// watcher id -> the watcher and its paths. As in Java, a watcher stays
    /// here (possibly with no paths) until `remove_watcher` drops it.
    watch2paths: HashMap<u64, WatcherPaths>,
    /// How many (path, watcher) pairs are recursive; while zero, triggers
    /// skip the walk up the ancestors.
    recursive_qty: usize,
}

/// One watch table (see the module comment).
#[derive(Default)]
pub struct WatchManager {
    tables: Mutex<Tables>,
}

/// The parent of an absolute path ("/" for "/a", `None` for "/").
pub(crate) fn parent_path(path: &str) -> Option<&str> {
    if path == "/" {
        return None;
    }
    match path.rfind('/') {
        Some(0) => Some("/"),
        Some(i) => Some(&path[..i]),
        None => None,
    }
}

impl WatchManager {
    pub fn new() -> WatchManager {
        WatchManager::default()
    }

    /// Number of (path, watcher) pairs.
    pub fn size(&self) -> usize {
        self.tables.lock().watch_table.values().map(|w| w.len()).sum()
    }

    /// Number of recursive (path, watcher) pairs.
    pub fn recursive_watch_qty(&self) -> usize {
        self.tables.lock().recursive_qty
    }

    /// Adds (or re-modes) the watch of `watcher` on `path`. Returns false
    /// when the watcher already watched the path, or is stale.
    ///
    /// Staleness is checked under the table lock: a connection is marked
    /// closed before its close takes this lock to remove its watches, so
    /// either the close sees this watch and removes it, or this sees the
    /// connection closed. Checked before the lock, a close falling in
    /// between would leave a watch (and the connection it holds) for ever.
    pub fn add_watch(&self, path: &str, watcher: Arc<dyn Watcher>, mode: WatcherMode) -> bool {
        let id = watcher.watcher_id();
        let mut guard = self.tables.lock();
        if watcher.is_stale() {
            return false;
        }
        let t = &mut *guard;
        let key: Arc<str> = match t.watch_table.get_key_value(path) {
            Some((k, _)) => k.clone(),
            None => Arc::from(path),
        };
        let watchers = t.watch_table.entry(key.clone()).or_default();
        let old = watchers.insert(id, mode);
        let was_recursive = old.is_some_and(WatcherMode::is_recursive);
        if was_recursive && !mode.is_recursive() {
            t.recursive_qty -= 1;
        } else if !was_recursive && mode.is_recursive() {
            t.recursive_qty += 1;
        }
        let entry = t.watch2paths.entry(id).or_insert_with(|| WatcherPaths { watcher, paths: HashSet::new() });
        entry.paths.insert(key)
    }

    /// Drops every watch of one watcher (its connection closed).
    pub fn remove_watcher(&self, watcher_id: u64) {
        let mut guard = self.tables.lock();
        let t = &mut *guard;
        let Some(entry) = t.watch2paths.remove(&watcher_id) else {
            return;
        };
        for p in entry.paths {
            if let Some(watchers) = t.watch_table.get_mut(&*p) {
                if watchers.remove(watcher_id).is_some_and(WatcherMode::is_recursive) {
                    t.recursive_qty -= 1;
                }
                if watchers.is_empty() {
                    t.watch_table.remove(&*p);
                }
            }
        }
    }

    /// Drops the watch of one watcher on one path; false when it had none.
    pub fn remove_watch(&self, path: &str, watcher_id: u64) -> bool {
        let mut guard = self.tables.lock();
        let t = &mut *guard;
        let Some(entry) = t.watch2paths.get_mut(&watcher_id) else {
            return false;
        };
        if !entry.paths.remove(path) {
            return false;
        }
        let Some(watchers) = t.watch_table.get_mut(path) else {
            return false;
        };
        let Some(mode) = watchers.remove(watcher_id) else {
            return false;
        };
        if mode.is_recursive() {
            t.recursive_qty -= 1;
        }
        if watchers.is_empty() {
            t.watch_table.remove(path);
        }
        true
    }

    /// checkWatches' test, answered as Java 3.8 answers it: true as soon as
    /// exactly `path` has a watch in this table, whichever watcher set it
    /// (3.8's WatchManager.containsWatcher does not narrow the leaf path to
    /// the asking watcher, so the id cannot change the answer).
    pub fn contains_watcher(&self, path: &str, _watcher_id: u64) -> bool {
        self.tables.lock().watch_table.get(path).is_some_and(|w| !w.is_empty())
    }

    /// Tells the watchers of `path` (and the recursive watchers of its
    /// ancestors, except for NodeChildrenChanged) about an event, removing
    /// the one-shot watches that fire. `acl` is the ACL of the node the
    /// event is about; each watcher checks it against its own identities
    /// before passing the event on (a watch that fires for a watcher without
    /// READ is consumed all the same). Watchers in `suppress` lose their
    /// one-shot watch but are not called. Returns the ids of every watcher
    /// that matched, suppressed or not.
    pub fn trigger_watch(
        &self,
        path: &str,
        event_type: i32,
        zxid: i64,
        acl: &[Acl],
        suppress: Option<&HashSet<u64>>,
    ) -> HashSet<u64> {
        let mut matched: HashSet<u64> = HashSet::new();
        let mut to_call: Vec<Arc<dyn Watcher>> = Vec::new();
        {
            let mut guard = self.tables.lock();
            let Tables { watch_table, watch2paths, recursive_qty } = &mut *guard;
            let walk_up = *recursive_qty > 0;
            let mut order: Vec<u64> = Vec::new();
            let mut fire = |id: u64| {
                if matched.insert(id) {
                    order.push(id);
                }
            };
            let mut fired_once: HashSet<u64> = HashSet::new();
            let mut local = Some(path);
            let mut at_parent = false;
            while let Some(p) = local {
                if let Some(watchers) = watch_table.get_mut(p) {
                    // One-shot watches fire for their own path only, and
                    // all of them go.
                    if !at_parent {
                        fired_once = std::mem::take(&mut watchers.standard);
                    }
                    for (&id, mode) in &watchers.persistent {
                        let fires = if mode.is_recursive() {
                            event_type != event_type::NODE_CHILDREN_CHANGED
                        } else {
                            !at_parent
                        };
                        if fires {
                            fire(id);
                        }
                    }
                    if watchers.is_empty() {
                        watch_table.remove(p);
                    }
                }
                if !walk_up {
                    break;
                }
                local = parent_path(p);
                at_parent = true;
            }
            for id in fired_once {
                fire(id);
                if let Some(wp) = watch2paths.get_mut(&id) {
                    wp.paths.remove(path);
                }
            }
            to_call.extend(order.iter().filter_map(|id| watch2paths.get(id).map(|wp| wp.watcher.clone())));
        }
        if to_call.is_empty() {
            zoo_trace::log_trace_message(zoo_trace::EVENT_DELIVERY_TRACE_MASK, || format!("No watchers for {path}"));
        }
        // One event, serialised once for every connection it goes to.
        let event = Notification::new(WatchedEvent::new(event_type, path, zxid));
        for w in to_call {
            if suppress.is_some_and(|s| s.contains(&w.watcher_id())) {
                continue;
            }
            w.process(&event, Some(acl));
        }
        matched
    }

    pub fn summary(&self) -> WatchesSummary {
        let t = self.tables.lock();
        WatchesSummary {
            num_connections: t.watch2paths.len(),
            num_paths: t.watch_table.len(),
            total_watches: t.watch2paths.values().map(|w| w.paths.len()).sum(),
        }
    }

    /// Session id -> watched paths (admin "watches" command), sorted.
    pub fn watches_by_session(&self) -> BTreeMap<i64, Vec<String>> {
        let t = self.tables.lock();
        let mut out: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        for wp in t.watch2paths.values() {
            let paths = out.entry(wp.watcher.session_id()).or_default();
            paths.extend(wp.paths.iter().map(|p| p.to_string()));
            paths.sort();
        }
        out
    }

    /// Path -> session ids watching it (admin "watches_by_path"), sorted.
    pub fn watches_by_path(&self) -> BTreeMap<String, Vec<i64>> {
        let t = self.tables.lock();
        let mut out = BTreeMap::new();
        for (path, watchers) in &t.watch_table {
            let mut ids: Vec<i64> =
                watchers.ids().filter_map(|id| t.watch2paths.get(&id).map(|wp| wp.watcher.session_id())).collect();
            ids.sort_unstable();
            out.insert(path.to_string(), ids);
        }
        out
    }

    /// The wchs text: "<n> connections watching <m> paths\nTotal watches:<k>"
    /// (no trailing newline; the command adds one).
    pub fn summary_text(&self) -> String {
        let s = self.summary();
        format!("{} connections watching {} paths\nTotal watches:{}", s.num_connections, s.num_paths, s.total_watches)
    }

    /// The wchp (`by_path`) or wchc text: per path a line with the path and
    /// a "\t0x<session>" line per watcher, or per session a "0x<session>"
    /// line and a "\t<path>" line per path.
    pub fn dump_watches(&self, by_path: bool) -> String {
        let mut out = String::new();
        if by_path {
            for (path, sessions) in self.watches_by_path() {
                let _ = writeln!(out, "{path}");
                for s in sessions {
                    let _ = writeln!(out, "\t0x{s:x}");
                }
            }
        } else {
            for (session, paths) in self.watches_by_session() {
                let _ = writeln!(out, "0x{session:x}");
                for p in paths {
                    let _ = writeln!(out, "\t{p}");
                }
            }
        }
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::zoo_defs::event_type::*;

    /// A watcher that records what it is told.
    pub(crate) struct Recorder {
        pub id: u64,
        pub events: Mutex<Vec<WatchedEvent>>,
        /// The ACL each event came with, in the same order.
        pub acls: Mutex<Vec<Option<Vec<Acl>>>>,
    }

    impl Recorder {
        pub fn new(id: u64) -> Arc<Recorder> {
            Arc::new(Recorder { id, events: Mutex::new(Vec::new()), acls: Mutex::new(Vec::new()) })
        }
        /// (type, path) pairs received so far, then forgets them.
        pub fn take(&self) -> Vec<(i32, String)> {
            self.events.lock().drain(..).map(|e| (e.event_type, e.path)).collect()
        }
    }

    impl Watcher for Recorder {
        fn watcher_id(&self) -> u64 {
            self.id
        }
        fn session_id(&self) -> i64 {
            0x100 + self.id as i64
        }
        fn process(&self, n: &Notification, acl: Option<&[Acl]>) {
            self.events.lock().push(n.event().clone());
            self.acls.lock().push(acl.map(<[Acl]>::to_vec));
        }
    }

    #[test]
    fn parent_paths() {
        assert_eq!(parent_path("/"), None);
        assert_eq!(parent_path("/a"), Some("/"));
        assert_eq!(parent_path("/a/b"), Some("/a"));
        assert_eq!(parent_path("a"), None);
    }

    #[test]
    fn standard_watch_fires_once() {
        let m = WatchManager::new();
        let w = Recorder::new(1);
        assert!(m.add_watch("/a", w.clone(), WatcherMode::Standard));
        assert!(!m.add_watch("/a", w.clone(), WatcherMode::Standard));
        assert_eq!(m.size(), 1);
        let hit = m.trigger_watch("/a", NODE_DATA_CHANGED, 7, &[], None);
        assert!(hit.contains(&1));
        assert_eq!(w.events.lock()[0].zxid, 7);
        assert_eq!(w.take(), vec![(NODE_DATA_CHANGED, "/a".to_string())]);
        assert!(m.trigger_watch("/a", NODE_DATA_CHANGED, 8, &[], None).is_empty());
        assert!(w.take().is_empty());
        assert_eq!(m.size(), 0);
        // Java keeps the emptied connection entry until the watcher goes.
        assert_eq!(m.summary(), WatchesSummary { num_connections: 1, num_paths: 0, total_watches: 0 });
        m.remove_watcher(1);
        assert_eq!(m.summary().num_connections, 0);
    }

    #[test]
    fn standard_watch_ignores_descendants() {
        let m = WatchManager::new();
        let w = Recorder::new(1);
        let r = Recorder::new(2);
        m.add_watch("/a", w.clone(), WatcherMode::Standard);
        // A recursive watch elsewhere makes the trigger walk up ancestors.
        m.add_watch("/x", r.clone(), WatcherMode::PersistentRecursive);
        m.trigger_watch("/a/b", NODE_CREATED, 1, &[], None);
        assert!(w.take().is_empty());
        assert!(m.contains_watcher("/a", 1));
        // 3.8 answers checkWatches for whoever asks once the path has any
        // watch in the table.
        assert!(m.contains_watcher("/a", 99));
        assert!(!m.contains_watcher("/b", 1));
    }

    #[test]
    fn persistent_and_recursive() {
        let m = WatchManager::new();
        let p = Recorder::new(1);
        let r = Recorder::new(2);
        m.add_watch("/a", p.clone(), WatcherMode::Persistent);
        m.add_watch("/a", r.clone(), WatcherMode::PersistentRecursive);
        assert_eq!(m.recursive_watch_qty(), 1);
        for _ in 0..2 {
            m.trigger_watch("/a", NODE_DATA_CHANGED, 1, &[], None);
        }
        assert_eq!(p.take().len(), 2);
        assert_eq!(r.take().len(), 2);
        m.trigger_watch("/a/b/c", NODE_CREATED, 2, &[], None);
        assert!(p.take().is_empty());
        assert_eq!(r.take(), vec![(NODE_CREATED, "/a/b/c".to_string())]);
        // Recursive watches never see child events, even on their own path.
        m.trigger_watch("/a", NODE_CHILDREN_CHANGED, 3, &[], None);
        assert_eq!(p.take(), vec![(NODE_CHILDREN_CHANGED, "/a".to_string())]);
        assert!(r.take().is_empty());
        assert_eq!(m.size(), 2);
        // Re-adding as a standard watch replaces the recursive mode.
        m.add_watch("/a", r.clone(), WatcherMode::Standard);
        assert_eq!(m.recursive_watch_qty(), 0);
        assert!(m.remove_watch("/a", 1));
        assert!(!m.remove_watch("/a", 1));
        assert_eq!(m.size(), 1);
    }

    #[test]
    fn a_watch_changing_mode_is_kept_once() {
        let m = WatchManager::new();
        let w = Recorder::new(1);
        let o = Recorder::new(2);
        m.add_watch("/a", w.clone(), WatcherMode::Standard);
        m.add_watch("/a", o.clone(), WatcherMode::Standard);
        m.add_watch("/a", w.clone(), WatcherMode::Persistent);
        assert_eq!(m.size(), 2);
        assert_eq!(m.dump_watches(true), "/a\n\t0x101\n\t0x102\n");
        for zxid in 1..=2 {
            m.trigger_watch("/a", NODE_DATA_CHANGED, zxid, &[], None);
        }
        assert_eq!(w.take().len(), 2, "the persistent watch fires every time");
        assert_eq!(o.take().len(), 1, "the one-shot watch fires once");
        assert_eq!(m.size(), 1);
        m.add_watch("/a", w.clone(), WatcherMode::Standard);
        m.trigger_watch("/a", NODE_DATA_CHANGED, 3, &[], None);
        assert_eq!(w.take().len(), 1);
        assert_eq!(m.size(), 0);
        assert_eq!(m.summary().total_watches, 0);
    }

    #[test]
    fn a_watcher_is_told_once_per_trigger_and_suppress_works() {
        let m = WatchManager::new();
        let w = Recorder::new(1);
        m.add_watch("/", w.clone(), WatcherMode::PersistentRecursive);
        m.add_watch("/a", w.clone(), WatcherMode::Standard);
        m.trigger_watch("/a", NODE_DELETED, 1, &[], None);
        assert_eq!(w.take().len(), 1);
        m.add_watch("/a", w.clone(), WatcherMode::Standard);
        let suppress: HashSet<u64> = [1].into_iter().collect();
        let hit = m.trigger_watch("/a", NODE_DELETED, 2, &[], Some(&suppress));
        assert!(hit.contains(&1));
        assert!(w.take().is_empty());
        // The suppressed one-shot watch is still consumed.
        assert!(!m.contains_watcher("/a", 1));
    }

    #[test]
    fn stale_watchers_are_refused() {
        struct Stale;
        impl Watcher for Stale {
            fn watcher_id(&self) -> u64 {
                9
            }
            fn process(&self, _: &Notification, _: Option<&[Acl]>) {}
            fn is_stale(&self) -> bool {
                true
            }
        }
        let m = WatchManager::new();
        assert!(!m.add_watch("/a", Arc::new(Stale), WatcherMode::Standard));
        assert_eq!(m.size(), 0);
    }

    /// A connection that closes while its watch is being added: the close
    /// (mark closed, then remove the connection's watches, as a
    /// ServerCnxn's close does) runs on another thread the moment the
    /// table asks whether the watcher is stale, and the answer given is the
    /// one from just before the close.
    struct ClosingDuringAdd {
        manager: std::sync::Weak<WatchManager>,
        closed: std::sync::atomic::AtomicBool,
        closer: Mutex<Option<std::thread::JoinHandle<()>>>,
    }

    impl Watcher for ClosingDuringAdd {
        fn watcher_id(&self) -> u64 {
            5
        }
        fn process(&self, _: &Notification, _: Option<&[Acl]>) {}
        fn is_stale(&self) -> bool {
            use std::sync::atomic::Ordering;
            if self.closed.swap(true, Ordering::AcqRel) {
                return true;
            }
            let manager = self.manager.clone();
            let (done_tx, done_rx) = std::sync::mpsc::channel();
            let closer = std::thread::spawn(move || {
                if let Some(m) = manager.upgrade() {
                    m.remove_watcher(5);
                }
                let _ = done_tx.send(());
            });
            *self.closer.lock() = Some(closer);
            // Give the close every chance to finish before the insert (it
            // cannot while the table is locked, which is the point).
            let _ = done_rx.recv_timeout(std::time::Duration::from_millis(300));
            false
        }
    }

    #[test]
    fn a_watch_racing_its_connections_close_does_not_outlive_it() {
        let m = Arc::new(WatchManager::new());
        let w = Arc::new(ClosingDuringAdd {
            manager: Arc::downgrade(&m),
            closed: std::sync::atomic::AtomicBool::new(false),
            closer: Mutex::new(None),
        });
        m.add_watch("/a", w.clone(), WatcherMode::PersistentRecursive);
        let closer = w.closer.lock().take().expect("the close ran");
        closer.join().expect("close thread");
        assert_eq!(m.size(), 0, "a watch survived its connection's close");
        assert_eq!(m.recursive_watch_qty(), 0);
        assert_eq!(m.summary().num_connections, 0, "the closed connection is still held");
    }

    #[test]
    fn dumps() {
        let m = WatchManager::new();
        let a = Recorder::new(1);
        let b = Recorder::new(2);
        m.add_watch("/x", a.clone(), WatcherMode::Standard);
        m.add_watch("/y", a.clone(), WatcherMode::Standard);
        m.add_watch("/x", b.clone(), WatcherMode::Standard);
        assert_eq!(m.summary_text(), "2 connections watching 2 paths\nTotal watches:3");
        assert_eq!(m.dump_watches(true), "/x\n\t0x101\n\t0x102\n/y\n\t0x101\n");
        assert_eq!(m.dump_watches(false), "0x101\n\t/x\n\t/y\n0x102\n\t/x\n");
        m.remove_watcher(1);
        assert_eq!(m.dump_watches(true), "/x\n\t0x102\n");
    }
}
