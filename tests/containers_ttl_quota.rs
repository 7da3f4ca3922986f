//! Containers and TTL nodes removed by the ContainerManager, and quotas
//! (the stats zkCli's listquota shows, zookeeper.enforceQuota refusing
//! writes past hard limits). Every test runs against zkserver and, with
//! ZK_TEST_SERVER=java, against Java 3.8 with the same expectations.

mod common;

use common::*;
use std::time::{Duration, Instant};
use zkserver::client::client_cnxn::create_flag;
use zkserver::client::ZkClient;
use zkserver::jute::multi::{MultiOperationRecord, MultiResponse, Op, OpResult};
use zkserver::jute::records::{Create2Response, CreateRequest, CreateTtlRequest, SetDataRequest, Stat};
use zkserver::jute::txn::{TxnBody, TxnLogEntry};
use zkserver::jute::{InputArchive, OutputArchive, Record};
use zkserver::server::persistence::file_txn_log::read_txns;
use zkserver::zoo_defs::{code, event_type, ids, op_code, CreateMode};

/// How long the ContainerManager may take to remove a node that qualifies
/// (it checks every 100 ms in these tests).
const REMOVAL_DEADLINE: Duration = Duration::from_secs(10);

fn container_opts() -> ServerOpts {
    ServerOpts::default().prop("znode.container.checkIntervalMs", "100")
}

fn ttl_opts() -> ServerOpts {
    container_opts().prop("zookeeper.extendedTypesEnabled", "true")
}

fn create_container(c: &ZkClient, path: &str) {
    let req = CreateRequest {
        path: path.into(),
        data: None,
        acl: ids::open_acl_unsafe(),
        flags: create_flag(CreateMode::Container),
    };
    let reply = c.submit(op_code::CREATE_CONTAINER, &req).expect("createContainer reply");
    assert_eq!(reply.header.err, code::OK, "createContainer {path}");
}

/// createTTL: the created path and Stat, or the error code.
fn create_ttl(c: &ZkClient, path: &str, data: &[u8], mode: CreateMode, ttl: i64) -> Result<(String, Stat), i32> {
    let req = CreateTtlRequest {
        path: path.into(),
        data: Some(data.to_vec()),
        acl: ids::open_acl_unsafe(),
        flags: create_flag(mode),
        ttl,
    };
    let reply = c.submit(op_code::CREATE_TTL, &req).expect("createTTL reply");
    if reply.header.err != code::OK {
        return Err(reply.header.err);
    }
    let rsp = Create2Response::from_bytes(&reply.body).expect("Create2Response");
    Ok((rsp.path, rsp.stat))
}

fn create(c: &ZkClient, path: &str, data: &[u8]) -> String {
    c.create(path, Some(data), &ids::open_acl_unsafe(), CreateMode::Persistent)
        .unwrap_or_else(|e| panic!("create {path}: {e}"))
}

fn exists(c: &ZkClient, path: &str) -> bool {
    c.exists(path, false).expect("exists").is_some()
}

/// Waits until `path` is gone; fails the test if it is still there after
/// REMOVAL_DEADLINE.
#[track_caller]
fn assert_removed(c: &ZkClient, path: &str) {
    assert!(wait_until(REMOVAL_DEADLINE, || !exists(c, path)), "{path} still there after {REMOVAL_DEADLINE:?}");
}

/// The txns in the server's log (dataDir/version-2), read after it stopped.
fn logged_txns(s: &TestServer) -> Vec<TxnLogEntry> {
    read_txns(&s.data_dir().join("version-2"), 0).expect("open txn log").map(|e| e.expect("txn")).collect()
}

/// The paths the log records as deleted by deleteContainer txns, in order;
/// each must come from session 0.
/// The server's own deletes (posted by ContainerManager) logged the tree
/// digest they produced, as every write does (mntr's digest mismatches).
fn assert_digests_agree(s: &TestServer) {
    let mntr = four_letter(&s.addr(), "mntr").unwrap();
    assert!(mntr.lines().any(|l| l == "zk_digest_mismatches_count\t0"), "{mntr}");
}

fn container_deletes(log: &[TxnLogEntry]) -> Vec<String> {
    log.iter()
        .filter(|e| e.hdr.r#type == op_code::DELETE_CONTAINER)
        .map(|e| {
            assert_eq!((e.hdr.client_id, e.hdr.cxid), (0, 0), "internal request: {e:?}");
            match &e.txn {
                Some(TxnBody::Delete(d)) => d.path.clone(),
                other => panic!("deleteContainer carries {other:?}"),
            }
        })
        .collect()
}

#[test]
fn a_container_goes_after_its_last_child_and_the_delete_is_logged() {
    let mut s = TestServer::start(container_opts());
    let c = s.client();
    create_container(&c, "/idle");
    create_container(&c, "/full");
    create(&c, "/full/kid", b"");
    create_container(&c, "/box");
    create(&c, "/box/a", b"");
    create(&c, "/box/b", b"");
    // Clients see containers with ephemeralOwner 0.
    assert_eq!(c.exists("/box", false).unwrap().map(|st| st.ephemeral_owner), Some(0));

    c.delete("/box/a", -1).unwrap();
    assert!(exists(&c, "/box"), "a container with a child left stays");
    assert!(c.exists("/box", true).unwrap().is_some());
    c.delete("/box/b", -1).unwrap();
    assert_removed(&c, "/box");
    let ev = c.next_event(Duration::from_secs(5)).expect("NodeDeleted for /box");
    assert_eq!((ev.path.as_str(), ev.event_type), ("/box", event_type::NODE_DELETED));
    // The same check looked at the others and kept them.
    assert!(exists(&c, "/full"), "a container with a child stays");
    assert!(exists(&c, "/idle"), "a container never given a child stays (maxNeverUsedIntervalMs=0)");

    c.delete("/full/kid", -1).unwrap();
    assert_removed(&c, "/full");
    assert!(exists(&c, "/idle"));

    assert_digests_agree(&s);
    s.stop();
    assert_eq!(container_deletes(&logged_txns(&s)), ["/box", "/full"]);
    s.start_again();
    let c = s.client();
    assert!(!exists(&c, "/box") && !exists(&c, "/full"), "the deletes survive a restart");
    assert!(exists(&c, "/idle"));
}

#[test]
fn a_never_used_container_goes_after_max_never_used_interval() {
    let s = TestServer::start(container_opts().prop("znode.container.maxNeverUsedIntervalMs", "500"));
    let c = s.client();
    create_container(&c, "/idle");
    let mtime = c.exists("/idle", false).unwrap().expect("created").mtime;
    assert_removed(&c, "/idle");
    assert!(now_ms() - mtime > 500, "removed only after maxNeverUsedIntervalMs");
    // Java's timer thread and ours share a name; Linux keeps 15 bytes of it.
    let pid = s.pid().expect("server pid");
    let names: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("task dir")
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("comm")).ok())
        .map(|n| n.trim().to_string())
        .collect();
    assert!(names.iter().any(|n| n == "ContainerManage"), "no ContainerManagerTask thread in {names:?}");
}

#[test]
fn ttl_nodes_expire_when_childless_and_unmodified() {
    let mut s = TestServer::start(ttl_opts());
    let c = s.client();
    // Out-of-range TTLs, and a TTL on a mode without one.
    let max_ttl = 0x00ff_ffff_ffff_i64;
    assert_eq!(create_ttl(&c, "/bad", b"", CreateMode::PersistentWithTtl, 0), Err(code::BAD_ARGUMENTS));
    assert_eq!(create_ttl(&c, "/bad", b"", CreateMode::PersistentWithTtl, max_ttl + 1), Err(code::BAD_ARGUMENTS));
    assert_eq!(create_ttl(&c, "/bad", b"", CreateMode::Persistent, 100), Err(code::BAD_ARGUMENTS));

    let (path, stat) = create_ttl(&c, "/short", b"x", CreateMode::PersistentWithTtl, 300).expect("createTTL");
    assert_eq!(path, "/short");
    assert_eq!(stat.ephemeral_owner, 0, "clients see a TTL node's ephemeralOwner as 0");
    create_ttl(&c, "/parent", b"", CreateMode::PersistentWithTtl, 200).unwrap();
    create(&c, "/parent/kid", b"");
    create_ttl(&c, "/busy", b"0", CreateMode::PersistentWithTtl, 1500).unwrap();
    create(&c, "/seqs", b"");
    let (seq, _) = create_ttl(&c, "/seqs/job-", b"", CreateMode::PersistentSequentialWithTtl, 300).unwrap();
    assert_eq!(seq, "/seqs/job-0000000000");

    // Keep modifying /busy well within its TTL while the others expire:
    // each setData restarts its TTL.
    let started = Instant::now();
    let mut writes = 0;
    while started.elapsed() < Duration::from_millis(2500) {
        c.set_data("/busy", Some(writes.to_string().as_bytes()), -1).expect("/busy is kept while modified");
        writes += 1;
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(!exists(&c, "/short"), "/short outlived its TTL by 2 s");
    assert!(!exists(&c, &seq), "{seq} outlived its TTL by 2 s");
    assert!(exists(&c, "/parent"), "a TTL node with a child stays");

    c.delete("/parent/kid", -1).unwrap();
    assert_removed(&c, "/parent");
    let mtime = c.exists("/busy", false).unwrap().expect("/busy").mtime;
    assert_removed(&c, "/busy");
    assert!(now_ms() - mtime > 1500, "/busy went only after its TTL");

    assert_digests_agree(&s);
    s.stop();
    let mut deleted = container_deletes(&logged_txns(&s));
    deleted.sort();
    assert_eq!(deleted, ["/busy", "/parent", "/seqs/job-0000000000", "/short"]);
}

/// deleteContainer (op 20) is what the ContainerManager posts. A client
/// may send it too, but Java takes the path from the whole packet, header
/// included, so it never names a valid path: BADARGUMENTS, nothing deleted.
#[test]
fn delete_container_from_a_client_is_refused_like_java() {
    let s = TestServer::start_default();
    let c = s.client();
    create_container(&c, "/box");
    create(&c, "/plain", b"");
    for path in ["/box", "/plain", "/missing"] {
        let reply = c.submit_bytes(op_code::DELETE_CONTAINER, path.as_bytes()).unwrap();
        assert_eq!(reply.header.err, code::BAD_ARGUMENTS, "{path}");
    }
    assert!(exists(&c, "/box") && exists(&c, "/plain"));
}

// ---- quotas ----

const ZKCLI: &str = "/usr/share/zookeeper/bin/zkCli.sh";

fn zkcli(s: &TestServer) -> Interactive {
    let mut cli = Interactive::spawn(ZKCLI, &["-server", &s.addr()], "apt-get install -y zookeeper");
    cli.expect("WatchedEvent state:SyncConnected type:None path:null");
    cli
}

/// What zkCli's `setquota` creates for a new quota on `path`: the limits
/// node, then the stats node (whose creation makes the server count the
/// subtree).
fn set_quota(c: &ZkClient, path: &str, limits: &str) {
    let mut q = "/zookeeper/quota".to_string();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        q.push('/');
        q.push_str(part);
        if !exists(c, &q) {
            c.create(&q, None, &ids::open_acl_unsafe(), CreateMode::Persistent).unwrap();
        }
    }
    create(c, &format!("{q}/zookeeper_limits"), limits.as_bytes());
    create(c, &format!("{q}/zookeeper_stats"), b"count=0,bytes=0");
}

fn quota_stats(c: &ZkClient, path: &str) -> String {
    let (data, _) = c.get_data(&format!("/zookeeper/quota{path}/zookeeper_stats"), false).unwrap();
    String::from_utf8(data.unwrap_or_default()).unwrap()
}

fn try_create(c: &ZkClient, path: &str, data: &[u8]) -> Result<String, i32> {
    c.create(path, Some(data), &ids::open_acl_unsafe(), CreateMode::Persistent).map_err(|e| e.code())
}

fn try_set(c: &ZkClient, path: &str, data: &[u8], version: i32) -> Result<Stat, i32> {
    c.set_data(path, Some(data), version).map_err(|e| e.code())
}

/// A multi of `ops`: the reply header's error and the per-op results.
fn multi(c: &ZkClient, ops: Vec<Op>) -> (i32, Vec<OpResult>) {
    let mut oa = OutputArchive::new();
    MultiOperationRecord { ops }.serialize(&mut oa);
    let reply = c.submit_bytes(op_code::MULTI, &oa.into_inner()).expect("multi reply");
    let rsp = MultiResponse::deserialize(&mut InputArchive::new(&reply.body)).expect("MultiResponse");
    (reply.header.err, rsp.results)
}

fn create_op(path: &str) -> Op {
    Op::Create {
        op_type: op_code::CREATE,
        req: CreateTtlRequest { path: path.into(), data: None, acl: ids::open_acl_unsafe(), flags: 0, ttl: -1 },
    }
}

fn server_log(s: &TestServer) -> String {
    std::fs::read_to_string(s.log_path()).unwrap_or_default()
}

#[test]
fn enforced_hard_quotas_refuse_creates_and_set_data_past_them() {
    let s = TestServer::start(ServerOpts::default().prop("zookeeper.enforceQuota", "true"));
    let c = s.client();
    create(&c, "/q", b"ab");
    create(&c, "/s", b"");

    // Set the quotas with Java's own CLI, and read them back with it.
    let mut cli = zkcli(&s);
    // The CLI takes one limit per call: the second one updates the limits.
    cli.send("setquota -N 3 /q");
    cli.send("setquota -B 10 /q");
    cli.send("setquota -n 1 /s");
    cli.send("setquota -b 2 /s");
    cli.send("listquota /q");
    cli.expect("Output quota for /q count=-1,bytes=-1=;byteHardLimit=10;countHardLimit=3");
    cli.expect("Output stat for /q count=1,bytes=2");
    cli.send("quit");
    cli.finish();

    // count: /q itself, then /q/a and /q/b reach the hard limit of 3.
    create(&c, "/q/a", b"abc");
    create(&c, "/q/b", b"");
    assert_eq!(quota_stats(&c, "/q"), "count=3,bytes=5");
    assert_eq!(try_create(&c, "/q/c", b""), Err(code::QUOTA_EXCEEDED));
    assert_eq!(try_create(&c, "/q/a/deeper", b""), Err(code::QUOTA_EXCEEDED));
    let seq = c.create("/q/seq-", None, &ids::open_acl_unsafe(), CreateMode::PersistentSequential);
    assert_eq!(seq.map_err(|e| e.code()), Err(code::QUOTA_EXCEEDED));
    assert!(!exists(&c, "/q/c"));
    assert_eq!(c.get_children("/q", false).unwrap().len(), 2);

    // bytes: 5 of 10 used; growing /q/a from 3 to 8 bytes is 10, to 9 is 11.
    try_set(&c, "/q/a", b"12345678", -1).expect("up to the byte limit");
    assert_eq!(try_set(&c, "/q/a", b"123456789", -1), Err(code::QUOTA_EXCEEDED));
    // The quota is checked before the version.
    assert_eq!(try_set(&c, "/q/a", b"123456789", 99), Err(code::QUOTA_EXCEEDED));
    assert_eq!(try_set(&c, "/q/a", b"1", 99), Err(code::BAD_VERSION));
    assert_eq!(c.get_data("/q/a", false).unwrap().0.as_deref(), Some(&b"12345678"[..]));
    try_set(&c, "/q/a", b"1", -1).expect("shrinking is fine");
    assert_eq!(quota_stats(&c, "/q"), "count=3,bytes=3");

    // Each op of a multi is checked against the committed usage, not
    // against the ops before it: two creates at count 2 of 3 both pass.
    c.delete("/q/b", -1).unwrap();
    let (err, results) = multi(&c, vec![create_op("/q/m1"), create_op("/q/m2")]);
    assert_eq!(err, code::OK);
    assert_eq!(results, [OpResult::Create { path: "/q/m1".into() }, OpResult::Create { path: "/q/m2".into() }]);
    assert_eq!(quota_stats(&c, "/q"), "count=4,bytes=3");
    // A multi with an op past the limit fails as a whole.
    let set = Op::SetData(SetDataRequest { path: "/q/a".into(), data: Some(b"22".to_vec()), version: -1 });
    let (err, results) = multi(&c, vec![set, create_op("/q/m3")]);
    assert_eq!(err, code::OK);
    assert_eq!(results, [OpResult::Error { err: code::OK }, OpResult::Error { err: code::QUOTA_EXCEEDED }]);
    assert_eq!(c.get_data("/q/a", false).unwrap().0.as_deref(), Some(&b"1"[..]));

    // Soft limits only log.
    create(&c, "/s/x", b"abc");
    c.set_data("/s", Some(b"zz"), -1).unwrap();
    assert_eq!(quota_stats(&c, "/s"), "count=2,bytes=5");
    let log = server_log(&s);
    assert!(log.contains("Quota exceeded: /s [current count=2, softCountLimit=1]"), "{log}");
    assert!(log.contains("Quota exceeded: /q [current count=4, hardCountLimit=3]"), "{log}");
    assert!(log.contains("Quota exceeded: /q [current bytes=11, hardByteLimit=10]"), "{log}");
}

#[test]
fn without_enforcement_quotas_only_count() {
    let s = TestServer::start_default();
    let c = s.client();
    create(&c, "/q", b"ab");
    set_quota(&c, "/q", "count=-1,bytes=-1=;byteHardLimit=4;countHardLimit=2");
    assert_eq!(quota_stats(&c, "/q"), "count=1,bytes=2");
    create(&c, "/q/a", b"abc");
    create(&c, "/q/b", b"");
    create(&c, "/q/a/c", b"1234567");
    c.set_data("/q", Some(b"much longer"), -1).unwrap();
    assert_eq!(quota_stats(&c, "/q"), "count=4,bytes=21");
    c.delete("/q/a/c", -1).unwrap();
    assert_eq!(quota_stats(&c, "/q"), "count=3,bytes=14");
    // Nodes outside the quota'd subtree are not counted.
    create(&c, "/qq", b"elsewhere");
    assert_eq!(quota_stats(&c, "/q"), "count=3,bytes=14");
    assert!(!server_log(&s).contains("Quota exceeded"), "nothing is checked without zookeeper.enforceQuota");

    // TTL nodes need zookeeper.extendedTypesEnabled.
    assert_eq!(create_ttl(&c, "/t", b"", CreateMode::PersistentWithTtl, 1000), Err(code::UNIMPLEMENTED));
}
