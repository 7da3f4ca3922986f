//! ContainerManager: the `ContainerManagerTask` timer thread. Every
//! znode.container.checkIntervalMs it looks through the tree's container
//! and TTL nodes for ones to remove: containers whose children are all gone
//! (or, with znode.container.maxNeverUsedIntervalMs, that never had one for
//! that long) and childless TTL nodes not modified within their TTL. For
//! each it posts a `deleteContainer` request (session 0, no ACL check) into
//! PrepRequestProcessor, so the delete gets a zxid, is logged and applied
//! like any write; Prep re-checks that the node is still empty and drops the
//! request with NOTEMPTY otherwise. At most znode.container.maxPerMinute
//! deletes are posted per minute.

use crate::quorum::quorum_peer_config::system_properties::SystemProperties;
use crate::quorum::quorum_peer_config::ConfigError;
use crate::server::data_node::EphemeralType;
use crate::server::data_tree::DataTree;
use crate::server::request::Request;
use crate::server::request_processor::RequestProcessor;
use crate::server::zk_database::ZkDatabase;
use crate::zoo_defs::op_code;
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};
use parking_lot::Mutex;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::thread::JoinHandle;
use crate::common::time::current_wall_time;
use std::time::{Duration, Instant};

/// The znode.container.* settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContainerSettings {
    /// znode.container.checkIntervalMs: time between two checks (and before
    /// the first).
    pub check_interval_ms: u64,
    /// znode.container.maxPerMinute: deletes are spaced at least
    /// 60000 / maxPerMinute ms apart.
    pub max_per_minute: i32,
    /// znode.container.maxNeverUsedIntervalMs: a container that never had a
    /// child is removed once unmodified for longer than this; 0 keeps it.
    pub max_never_used_interval_ms: i64,
}

impl ContainerSettings {
    /// The znode.container.* system properties, as Java's servers read them
    /// when they create their ContainerManager.
    pub fn read(props: &SystemProperties) -> Result<ContainerSettings, ConfigError> {
        let check_interval_ms = props.int("znode.container.checkIntervalMs", 60000)?;
        if check_interval_ms <= 0 {
            return Err(props.refused("znode.container.checkIntervalMs", "must be positive"));
        }
        Ok(ContainerSettings {
            check_interval_ms: check_interval_ms as u64,
            max_per_minute: props.int("znode.container.maxPerMinute", 10000)?,
            max_never_used_interval_ms: props.long("znode.container.maxNeverUsedIntervalMs", 0)?,
        })
    }
}

/// The running timer thread; `stop` (or dropping it) ends it.
pub struct ContainerManager {
    stop: Mutex<Option<Sender<()>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl ContainerManager {
    /// Starts the thread. The first check runs one interval from now.
    pub fn start(
        zk_db: Arc<ZkDatabase>,
        processor: Arc<dyn RequestProcessor>,
        settings: ContainerSettings,
    ) -> std::io::Result<ContainerManager> {
        tracing::info!(
            "Using checkIntervalMs={} maxPerMinute={} maxNeverUsedIntervalMs={}",
            settings.check_interval_ms,
            settings.max_per_minute,
            settings.max_never_used_interval_ms
        );
        let (tx, rx) = bounded(1);
        let task = Task { zk_db, processor, settings, stop: rx };
        let h = crate::server::zoo_keeper_critical_thread::spawn("ContainerManagerTask".into(), move || task.run())?;
        Ok(ContainerManager { stop: Mutex::new(Some(tx)), thread: Mutex::new(Some(h)) })
    }

    /// Stops the thread, interrupting a wait between deletes. Safe to call
    /// more than once.
    pub fn stop(&self) {
        // Dropping the sender wakes the thread's wait with Disconnected.
        self.stop.lock().take();
        if let Some(h) = self.thread.lock().take() {
            let _ = h.join();
        }
    }
}

impl Drop for ContainerManager {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What the thread owns.
struct Task {
    zk_db: Arc<ZkDatabase>,
    processor: Arc<dyn RequestProcessor>,
    settings: ContainerSettings,
    stop: Receiver<()>,
}

impl Task {
    /// Sleeps until `until`; false when asked to stop meanwhile.
    fn wait_until(&self, until: Instant) -> bool {
        let timeout = until.saturating_duration_since(Instant::now());
        matches!(self.stop.recv_timeout(timeout), Err(RecvTimeoutError::Timeout))
    }

    /// Runs the check at a fixed rate: a late check does not push the later
    /// ones back.
    fn run(&self) {
        let interval = Duration::from_millis(self.settings.check_interval_ms.max(1));
        let mut next = Instant::now() + interval;
        while self.wait_until(next) {
            if !self.check_containers() {
                break;
            }
            next += interval;
        }
        tracing::info!("ContainerManagerTask exited");
    }

    /// checkContainers: posts one deleteContainer per candidate, spaced by
    /// the maxPerMinute interval. False when asked to stop meanwhile.
    fn check_containers(&self) -> bool {
        let Some(min_interval) = min_interval(self.settings.max_per_minute) else {
            // Java divides by maxPerMinute and fails every check.
            tracing::error!("Error checking containers: znode.container.maxPerMinute is 0");
            return true;
        };
        let now = current_wall_time();
        for path in candidates(self.zk_db.data_tree(), now, self.settings.max_never_used_interval_ms) {
            let started = Instant::now();
            tracing::info!("Attempting to delete candidate container: {}", path);
            let req = Request::internal(0, op_code::DELETE_CONTAINER, path.into_bytes());
            self.processor.process_request(req);
            if !self.wait_until(started + min_interval) {
                return false;
            }
        }
        true
    }
}

/// The least time between two posted deletes: one minute / maxPerMinute
/// (no spacing for a negative value, as in Java); `None` for 0.
fn min_interval(max_per_minute: i32) -> Option<Duration> {
    match max_per_minute {
        0 => None,
        n if n < 0 => Some(Duration::ZERO),
        n => Some(Duration::from_millis(60_000 / n as u64)),
    }
}


/// getCandidates at wall-clock time `now_ms`: childless containers that
/// have had a child (stored cversion > 0) or, with `max_never_used_ms` != 0,
/// were last modified more than that long ago; and childless TTL nodes last
/// modified more than their TTL ago.
pub fn candidates(tree: &DataTree, now_ms: i64, max_never_used_ms: i64) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for path in tree.containers() {
        let Some(node) = tree.node_info(&path) else { continue };
        if node.num_children != 0 {
            continue;
        }
        let elapsed = now_ms.saturating_sub(node.stat.mtime);
        if node.stat.cversion > 0 || (max_never_used_ms != 0 && elapsed > max_never_used_ms) {
            out.insert(path);
        }
    }
    for path in tree.ttls() {
        let Some(node) = tree.node_info(&path) else { continue };
        let owner = node.stat.ephemeral_owner;
        if node.num_children != 0 || EphemeralType::get(owner, tree.extended_types_enabled()) != EphemeralType::Ttl {
            continue;
        }
        let ttl = EphemeralType::ttl_value(owner);
        if ttl != 0 && now_ms.saturating_sub(node.stat.mtime) > ttl {
            out.insert(path);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jute::records::{Acl, Id};
    use crate::jute::txn::*;
    use crate::zoo_defs::code;

    fn acl() -> Vec<Acl> {
        vec![Acl { perms: 31, id: Id { scheme: "world".into(), id: "anyone".into() } }]
    }

    fn apply(t: &DataTree, ty: i32, zxid: i64, time: i64, txn: TxnBody) {
        let hdr = TxnHeader { client_id: 1, cxid: 1, zxid, time, r#type: ty };
        assert_eq!(t.process_txn(&hdr, Some(&txn)).err, code::OK, "{txn:?}");
    }

    fn container(t: &DataTree, path: &str, zxid: i64, time: i64) {
        let txn = CreateContainerTxn { path: path.into(), data: None, acl: acl(), parent_c_version: 1 };
        apply(t, op_code::CREATE_CONTAINER, zxid, time, TxnBody::CreateContainer(txn));
    }

    fn ttl_node(t: &DataTree, path: &str, ttl: i64, zxid: i64, time: i64) {
        let txn = CreateTtlTxn { path: path.into(), data: None, acl: acl(), parent_c_version: 1, ttl };
        apply(t, op_code::CREATE_TTL, zxid, time, TxnBody::CreateTtl(txn));
    }

    fn persistent(t: &DataTree, path: &str, zxid: i64, time: i64) {
        let txn = CreateTxn { path: path.into(), data: None, acl: acl(), ephemeral: false, parent_c_version: 1 };
        apply(t, op_code::CREATE, zxid, time, TxnBody::Create(txn));
    }

    fn delete(t: &DataTree, path: &str, zxid: i64, time: i64) {
        apply(t, op_code::DELETE, zxid, time, TxnBody::Delete(DeleteTxn { path: path.into() }));
    }

    fn set(paths: &[&str]) -> BTreeSet<String> {
        paths.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn containers_become_candidates_once_emptied() {
        let t = DataTree::with_settings(true, true);
        container(&t, "/used", 1, 1000);
        container(&t, "/never", 2, 1000);
        persistent(&t, "/used/child", 3, 1000);
        // A container with a child is kept, and so is one never used.
        assert!(candidates(&t, 10_000, 0).is_empty());
        delete(&t, "/used/child", 4, 2000);
        assert_eq!(candidates(&t, 2001, 0), set(&["/used"]));
        // maxNeverUsedIntervalMs: a never-used container goes once it is
        // older than that.
        assert_eq!(candidates(&t, 1500, 500), set(&["/used"]));
        assert_eq!(candidates(&t, 1501, 500), set(&["/never", "/used"]));
    }

    #[test]
    fn ttl_nodes_expire_childless_after_their_ttl() {
        let t = DataTree::with_settings(true, true);
        ttl_node(&t, "/t", 500, 1, 1000);
        ttl_node(&t, "/parent", 100, 2, 1000);
        persistent(&t, "/parent/c", 3, 1000);
        assert!(candidates(&t, 1500, 0).is_empty(), "elapsed == ttl is not expired");
        assert_eq!(candidates(&t, 1501, 0), set(&["/t"]));
        // Modifying the node restarts its TTL.
        let sd = SetDataTxn { path: "/t".into(), data: Some(b"x".to_vec()), version: 1 };
        apply(&t, op_code::SET_DATA, 4, 1400, TxnBody::SetData(sd));
        assert!(candidates(&t, 1501, 0).is_empty());
        assert_eq!(candidates(&t, 1901, 0), set(&["/t"]));
        // Without extended types, TTL nodes are never considered.
        let plain = DataTree::with_settings(false, true);
        ttl_node(&plain, "/t", 500, 1, 1000);
        assert!(candidates(&plain, 100_000, 0).is_empty());
    }

    /// A processor that records what it is given.
    struct Recorder(Mutex<Vec<(i64, i32, Vec<u8>)>>);

    impl RequestProcessor for Recorder {
        fn process_request(&self, r: Request) {
            self.0.lock().push((r.session_id, r.op_type, r.request));
        }
        fn shutdown(&self) {}
    }

    #[test]
    fn settings_default_as_java_and_refuse_a_non_positive_interval() {
        let s = ContainerSettings::read(&SystemProperties::of(&[])).unwrap();
        assert_eq!(s, ContainerSettings { check_interval_ms: 60000, max_per_minute: 10000, max_never_used_interval_ms: 0 });
        let s = ContainerSettings::read(&SystemProperties::of(&[("znode.container.checkIntervalMs", "1000")])).unwrap();
        assert_eq!(s.check_interval_ms, 1000);
        let e = ContainerSettings::read(&SystemProperties::of(&[("znode.container.checkIntervalMs", "0")])).unwrap_err();
        assert_eq!(e.to_string(), "znode.container.checkIntervalMs: \"0\" must be positive");
    }

    #[test]
    fn thread_posts_delete_container_requests_and_stops_promptly() {
        let dir = tempfile::tempdir().unwrap();
        let log = crate::server::persistence::file_txn_snap_log::FileTxnSnapLog::new(dir.path(), dir.path()).unwrap();
        let db = Arc::new(ZkDatabase::new(log, true, true));
        let now = current_wall_time();
        container(db.data_tree(), "/c", 1, now);
        persistent(db.data_tree(), "/c/x", 2, now);
        delete(db.data_tree(), "/c/x", 3, now);
        ttl_node(db.data_tree(), "/t", 1, 4, now - 10);
        let rec = Arc::new(Recorder(Mutex::new(Vec::new())));
        // One delete a minute: the second must wait, and stop must cut the
        // wait short.
        let settings = ContainerSettings { check_interval_ms: 20, max_per_minute: 1, max_never_used_interval_ms: 0 };
        let cm = ContainerManager::start(db, Arc::clone(&rec) as Arc<dyn RequestProcessor>, settings).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while rec.0.lock().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let stopping = Instant::now();
        cm.stop();
        assert!(stopping.elapsed() < Duration::from_secs(5));
        assert_eq!(*rec.0.lock(), [(0, op_code::DELETE_CONTAINER, b"/c".to_vec())]);
        cm.stop();
    }

    /// What the manager posts is checked again by Prep against the newest
    /// state: a container that got a child meanwhile, or a session's
    /// ephemeral, is left alone with an error txn nobody is answered for.
    #[test]
    fn prep_rechecks_the_deletes_it_is_given() {
        use crate::client::ZkClient;
        use crate::jute::records::CreateRequest;
        use crate::quorum::quorum_peer_config::QuorumPeerConfig;
        use crate::server::persistence::file_txn_log::read_txns;
        use crate::zoo_defs::{ids, CreateMode};
        use crate::server::zoo_keeper_server_main::{ServerSettings, StandaloneServer};

        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let cfg = dir.path().join("zoo.cfg");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let text = format!("dataDir={}\nclientPortAddress=127.0.0.1\nclientPort={port}\n", data.display());
        std::fs::write(&cfg, text).unwrap();
        let config = QuorumPeerConfig::parse(&cfg, &[]).unwrap();
        let server = StandaloneServer::start(&config, &ServerSettings::read(&config).unwrap()).unwrap();
        let c = ZkClient::connect(server.cnxn_factory.local_address(), 30000).unwrap();
        let container = CreateRequest { path: "/box".into(), data: None, acl: ids::open_acl_unsafe(), flags: 4 };
        assert_eq!(c.submit(op_code::CREATE_CONTAINER, &container).unwrap().header.err, code::OK);
        let acl = ids::open_acl_unsafe();
        c.create("/box/kid", None, &acl, CreateMode::Persistent).unwrap();
        c.create("/eph", None, &acl, CreateMode::Ephemeral).unwrap();

        let zks = &server.zks;
        let prep = zks.prep_processor().unwrap();
        let post = |path: &str| {
            let before = zks.zk_db().last_processed_zxid();
            prep.process_request(Request::internal(0, op_code::DELETE_CONTAINER, path.into()));
            let deadline = Instant::now() + Duration::from_secs(10);
            while zks.zk_db().last_processed_zxid() == before && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
        };
        let tree = zks.zk_db().data_tree();
        post("/box");
        post("/eph");
        assert!(tree.node_info("/box").is_some() && tree.node_info("/eph").is_some());
        post("/box/kid");
        post("/box");
        assert!(tree.node_info("/box").is_none() && tree.node_info("/box/kid").is_none());
        c.close().unwrap();
        server.shutdown();

        let log: Vec<_> = read_txns(&data.join("version-2"), 0).unwrap().map(|e| e.unwrap()).collect();
        let last: Vec<_> = log
            .iter()
            .filter(|e| e.hdr.client_id == 0)
            .map(|e| match &e.txn {
                Some(TxnBody::Error(t)) => (e.hdr.r#type, format!("err {}", t.err)),
                Some(TxnBody::Delete(t)) => (e.hdr.r#type, t.path.clone()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            last,
            [
                (op_code::ERROR, format!("err {}", code::NOT_EMPTY)),
                (op_code::ERROR, format!("err {}", code::BAD_VERSION)),
                (op_code::DELETE_CONTAINER, "/box/kid".to_string()),
                (op_code::DELETE_CONTAINER, "/box".to_string()),
            ]
        );
    }

    #[test]
    fn spacing_between_deletes() {
        assert_eq!(min_interval(10_000), Some(Duration::from_millis(6)));
        assert_eq!(min_interval(1), Some(Duration::from_secs(60)));
        assert_eq!(min_interval(-3), Some(Duration::ZERO));
        assert_eq!(min_interval(0), None);
    }
}
