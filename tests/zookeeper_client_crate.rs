//! A client we did not write: the async `zookeeper-client` crate (on a
//! tokio runtime) against the test server (zkserver, or Java 3.8 with
//! ZK_TEST_SERVER=java): persistent and persistent-recursive watches, multi
//! (per-op results and the failing op's error), TTL and container nodes,
//! and a session that survives a server restart.

mod common;

use std::future::Future;
use std::time::Duration;

use common::*;
use zookeeper_client as zk;
use zookeeper_client::{AddWatchMode, Client, EventType, MultiReadResult, MultiWriteResult, SessionState};

/// How long any single awaited step may take.
const STEP: Duration = Duration::from_secs(20);

/// Awaits `fut`, failing the test if it takes longer than `STEP`.
async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no result within {STEP:?}"),
    }
}

/// A new session with a 30 s timeout.
async fn connect(s: &TestServer) -> Client {
    let addr = s.addr();
    let connecting = Client::connector().with_session_timeout(Duration::from_secs(30)).connect(&addr);
    within("connect", connecting).await.expect("connect with zookeeper-client")
}

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

/// Starts the test server with TTL nodes enabled and a fast container
/// sweep; blocking, so run outside the async runtime's worker.
fn extended_server() -> TestServer {
    tokio::task::block_in_place(|| {
        TestServer::start(
            ServerOpts::default()
                .prop("zookeeper.extendedTypesEnabled", "true")
                .prop("znode.container.checkIntervalMs", "100"),
        )
    })
}

/// The next node event of a persistent watcher as (type, path); the
/// session state changes a persistent watcher also hears of are skipped.
async fn next(w: &mut zk::PersistentWatcher) -> (EventType, String) {
    loop {
        let ev = within("persistent watch event", w.changed()).await;
        if ev.event_type != EventType::Session {
            return (ev.event_type, ev.path);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_and_recursive_watches_report_every_change_in_order() {
    let s = tokio::task::block_in_place(TestServer::start_default);
    let c = connect(&s).await;
    c.create("/rw", b"r", &persistent()).await.unwrap();
    let mut recursive = c.watch("/rw", AddWatchMode::PersistentRecursive).await.unwrap();
    // A persistent watch on a node that does not exist yet.
    let mut node = c.watch("/pw", AddWatchMode::Persistent).await.unwrap();

    c.create("/rw/a", b"1", &persistent()).await.unwrap();
    c.set_data("/rw/a", b"2", None).await.unwrap();
    c.create("/rw/a/b", b"", &persistent()).await.unwrap();
    c.set_data("/rw/a/b", b"x", Some(0)).await.unwrap();
    c.delete("/rw/a/b", None).await.unwrap();
    c.set_data("/rw", b"r2", None).await.unwrap();
    c.delete("/rw/a", Some(1)).await.unwrap();
    let expected = [
        (EventType::NodeCreated, "/rw/a"),
        (EventType::NodeDataChanged, "/rw/a"),
        (EventType::NodeCreated, "/rw/a/b"),
        (EventType::NodeDataChanged, "/rw/a/b"),
        (EventType::NodeDeleted, "/rw/a/b"),
        (EventType::NodeDataChanged, "/rw"),
        (EventType::NodeDeleted, "/rw/a"),
    ];
    for (ty, path) in expected {
        assert_eq!(next(&mut recursive).await, (ty, path.to_string()));
    }

    // Persistent (not recursive): the node itself and its child list, and it
    // outlives the node's deletion.
    c.create("/pw", b"p", &persistent()).await.unwrap();
    c.create("/pw/kid", b"k", &persistent()).await.unwrap();
    c.set_data("/pw/kid", b"k2", None).await.unwrap(); // a grandchild's data: no event
    c.set_data("/pw", b"p2", None).await.unwrap();
    c.delete("/pw/kid", None).await.unwrap();
    c.delete("/pw", None).await.unwrap();
    c.create("/pw", b"again", &persistent()).await.unwrap();
    let expected = [
        (EventType::NodeCreated, "/pw"),
        (EventType::NodeChildrenChanged, "/pw"),
        (EventType::NodeDataChanged, "/pw"),
        (EventType::NodeChildrenChanged, "/pw"),
        (EventType::NodeDeleted, "/pw"),
        (EventType::NodeCreated, "/pw"),
    ];
    for (ty, path) in expected {
        assert_eq!(next(&mut node).await, (ty, path.to_string()));
    }

    // Changes made by another session are reported too.
    let other = connect(&s).await;
    other.create("/rw/from-other", b"", &persistent()).await.unwrap();
    assert_eq!(next(&mut recursive).await, (EventType::NodeCreated, "/rw/from-other".to_string()));

    // Dropping the watcher removes it; a one-shot watch can then take its
    // place on the same path.
    drop(recursive);
    let (_, _, oneshot) = c.get_and_watch_data("/rw/from-other").await.unwrap();
    other.set_data("/rw/from-other", b"changed", None).await.unwrap();
    let ev = within("one-shot data watch", oneshot.changed()).await;
    assert_eq!((ev.event_type, ev.path.as_str()), (EventType::NodeDataChanged, "/rw/from-other"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_returns_per_op_results_or_the_failing_op() {
    let s = tokio::task::block_in_place(TestServer::start_default);
    let c = connect(&s).await;

    let mut w = c.new_multi_writer();
    w.add_create("/m", b"parent", &persistent()).unwrap();
    w.add_create("/m/seq-", b"kid", &zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all()))
        .unwrap();
    w.add_set_data("/m", b"parent2", Some(0)).unwrap();
    w.add_check_version("/m", 1).unwrap();
    w.add_create("/m/gone", b"", &persistent()).unwrap();
    w.add_delete("/m/gone", Some(0)).unwrap();
    let results = within("multi commit", w.commit()).await.expect("multi succeeds");
    assert_eq!(results.len(), 6, "{results:?}");
    // A create in a multi answers with its path (a plain create: no stat).
    let created = |r: &MultiWriteResult| match r {
        MultiWriteResult::Create { path, .. } => path.clone(),
        other => panic!("expected a create result, got {other:?}"),
    };
    assert_eq!(created(&results[0]), "/m");
    assert_eq!(created(&results[1]), "/m/seq-0000000000");
    let (_, parent) = c.get_data("/m").await.unwrap();
    let (_, kid) = c.get_data("/m/seq-0000000000").await.unwrap();
    assert_eq!(kid.czxid, parent.czxid, "one multi is one txn: one zxid");
    match &results[2] {
        MultiWriteResult::SetData { stat } => {
            assert_eq!((stat.version, stat.mzxid, stat.czxid, stat.data_length), (1, parent.czxid, parent.czxid, 7));
            assert_eq!(stat.num_children, 1, "the sequential child, as of this op");
        }
        other => panic!("op 2: {other:?}"),
    }
    assert_eq!(results[3], MultiWriteResult::Check);
    assert_eq!(created(&results[4]), "/m/gone");
    assert_eq!(results[5], MultiWriteResult::Delete);
    let (data, stat) = c.get_data("/m").await.unwrap();
    assert_eq!((data.as_slice(), stat.version, stat.num_children), (&b"parent2"[..], 1, 1));

    // One failing op fails the whole request, naming that op; nothing
    // before it is applied.
    let mut w = c.new_multi_writer();
    w.add_create("/m2", b"", &persistent()).unwrap();
    w.add_set_data("/m", b"nope", Some(0)).unwrap();
    w.add_delete("/m", None).unwrap();
    let err = within("failing multi", w.commit()).await.expect_err("bad version");
    assert_eq!(err, zk::MultiWriteError::OperationFailed { index: 1, source: zk::Error::BadVersion });
    assert_eq!(c.check_stat("/m2").await.unwrap(), None, "the earlier create was rolled back");

    let mut w = c.new_multi_writer();
    w.add_check_version("/m", 1).unwrap();
    w.add_delete("/m", None).unwrap();
    let err = within("multi on a non-empty node", w.commit()).await.expect_err("not empty");
    assert_eq!(err, zk::MultiWriteError::OperationFailed { index: 1, source: zk::Error::NotEmpty });

    let mut w = c.new_multi_writer();
    w.add_create("/m/seq-", b"", &persistent()).unwrap();
    w.add_create("/nope/x", b"", &persistent()).unwrap();
    let err = within("multi with a missing parent", w.commit()).await.expect_err("no node");
    assert_eq!(err, zk::MultiWriteError::OperationFailed { index: 1, source: zk::Error::NoNode });

    // Reads in one request: each op answers for itself.
    let mut r = c.new_multi_reader();
    r.add_get_data("/m").unwrap();
    r.add_get_children("/m").unwrap();
    r.add_get_data("/nope").unwrap();
    let results = within("multi read", r.commit()).await.unwrap();
    assert_eq!(results.len(), 3, "{results:?}");
    assert!(matches!(&results[0], MultiReadResult::Data { data, stat } if data == b"parent2" && stat.version == 1));
    assert!(matches!(&results[1], MultiReadResult::Children { children } if children == &["seq-0000000000"]));
    assert!(matches!(&results[2], MultiReadResult::Error { err: zk::Error::NoNode }), "{results:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_and_container_nodes() {
    let s = extended_server();
    let c = connect(&s).await;

    // A TTL node: clients see no owner (the TTL is encoded in the stored
    // owner, which the server hides), and the sweep deletes it once the TTL
    // has passed without a change.
    let ttl = persistent().with_ttl(Duration::from_millis(300));
    let (stat, _) = c.create("/ttl", b"t", &ttl).await.unwrap();
    assert_eq!((stat.ephemeral_owner, stat.version, stat.data_length), (0, 0, 1));
    assert_eq!(c.check_stat("/ttl").await.unwrap().map(|s| s.ephemeral_owner), Some(0));
    let seq_ttl = zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all()).with_ttl(Duration::from_secs(600));
    let (_, seq) = c.create("/ttl-seq-", b"", &seq_ttl).await.unwrap();
    assert_eq!(seq.into_i64(), 1, "root's second child");
    let (_, watch) = c.check_and_watch_stat("/ttl").await.unwrap();
    let ev = within("TTL node expiry", watch.changed()).await;
    assert_eq!((ev.event_type, ev.path.as_str()), (EventType::NodeDeleted, "/ttl"));
    assert!(c.check_stat("/ttl-seq-0000000001").await.unwrap().is_some(), "a long TTL keeps its node");

    // A container: also ownerless; kept while it never had a child, and
    // deleted by the sweep once its last child goes.
    let container = zk::CreateMode::Container.with_acls(zk::Acls::anyone_all());
    let (stat, _) = c.create("/box", b"", &container).await.unwrap();
    assert_eq!(stat.ephemeral_owner, 0);
    c.create("/box/item", b"i", &persistent()).await.unwrap();
    let (_, _, watch) = c.get_and_watch_data("/box").await.unwrap();
    c.delete("/box/item", None).await.unwrap();
    let ev = within("container deletion", watch.changed()).await;
    assert_eq!((ev.event_type, ev.path.as_str()), (EventType::NodeDeleted, "/box"));

    // The modes' own rules.
    assert_eq!(c.create("/box2/x", b"", &container).await.unwrap_err(), zk::Error::NoNode);
    let e = c.create("/bad-ttl", b"", &persistent().with_ttl(Duration::ZERO)).await.unwrap_err();
    assert!(matches!(e, zk::Error::BadArguments(_)), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_nodes_need_extended_types() {
    let s = tokio::task::block_in_place(TestServer::start_default);
    let c = connect(&s).await;
    let ttl = persistent().with_ttl(Duration::from_secs(10));
    assert_eq!(c.create("/ttl", b"", &ttl).await.unwrap_err(), zk::Error::Unimplemented);
    assert_eq!(c.check_stat("/ttl").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_survives_a_server_restart() {
    let mut s = tokio::task::block_in_place(TestServer::start_default);
    let c = connect(&s).await;
    let session = c.session_id();
    let mut states = c.state_watcher();
    assert_eq!(states.state(), SessionState::SyncConnected);

    let ephemeral = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    let (stat, _) = c.create("/mine", b"eph", &ephemeral).await.unwrap();
    assert_eq!(stat.ephemeral_owner, session.0);
    c.create("/watched", b"0", &persistent()).await.unwrap();
    let (_, _, data_watch) = c.get_and_watch_data("/watched").await.unwrap();
    let (_, child_watch) = c.list_and_watch_children("/watched").await.unwrap();
    let (none, exists_watch) = c.check_and_watch_stat("/later").await.unwrap();
    assert_eq!(none, None);
    // Only one-shot watches: zookeeper-client 0.11.2 sends every watch
    // again with SetWatches (v1) on reconnection, which cannot carry
    // persistent watches, so those are lost whatever the server (Java 3.8
    // behaves the same).

    // SIGKILL: nothing is flushed or closed; the session lives on in the
    // txn log and the client reconnects to the restarted server by itself.
    tokio::task::block_in_place(|| {
        s.kill9();
        s.start_again();
    });
    let state = within("Disconnected", states.changed()).await;
    assert_eq!(state, SessionState::Disconnected);
    let state = within("reconnect", states.changed()).await;
    assert_eq!(state, SessionState::SyncConnected);
    assert_eq!(c.session_id(), session, "same session after the restart");

    // The ephemeral survived, still owned by this session.
    let other = connect(&s).await;
    let stat = other.check_stat("/mine").await.unwrap().expect("ephemeral survived the restart");
    assert_eq!(stat.ephemeral_owner, session.0);
    assert_eq!(other.list_ephemerals("/").await.unwrap(), Vec::<String>::new());
    assert_eq!(c.list_ephemerals("/").await.unwrap(), ["/mine"]);

    // The watches were set again on reconnection and fire.
    other.set_data("/watched", b"1", None).await.unwrap();
    let ev = within("data watch after reconnect", data_watch.changed()).await;
    assert_eq!((ev.event_type, ev.path.as_str()), (EventType::NodeDataChanged, "/watched"));
    other.create("/watched/kid", b"", &persistent()).await.unwrap();
    let ev = within("child watch after reconnect", child_watch.changed()).await;
    assert_eq!((ev.event_type, ev.path.as_str()), (EventType::NodeChildrenChanged, "/watched"));
    other.create("/later", b"", &persistent()).await.unwrap();
    let ev = within("exists watch after reconnect", exists_watch.changed()).await;
    assert_eq!((ev.event_type, ev.path.as_str()), (EventType::NodeCreated, "/later"));

    // Closing the session removes its ephemeral, which others can watch.
    let (_, gone) = other.check_and_watch_stat("/mine").await.unwrap();
    drop(c);
    let ev = within("ephemeral deleted on close", gone.changed()).await;
    assert_eq!((ev.event_type, ev.path.as_str()), (EventType::NodeDeleted, "/mine"));
}
