//! The request limits Java's ZooKeeperServer and RequestThrottler apply,
//! side by side with Java 3.8: zookeeper.largeRequestThreshold with
//! largeRequestMaxBytes (a request too large for what is left closes its
//! connection), and zookeeper.throttled_op_wait_time (a request that
//! waited longer than that in the RequestThrottler is answered THROTTLEDOP
//! and has no effect), and the RequestThrottler's
//! zookeeper.request_throttle_max_requests with request_throttle_drop_stale
//! and the staleness checks (zookeeper.request_stale_connection_check,
//! zookeeper.request_stale_latency_check): a stale request waiting behind
//! the limit is dropped, and so is its connection. Also
//! zookeeper.globalOutstandingLimit: a connection throttled past it resumes.

mod common;

use common::{assert_code, assert_server_serves, four_letter, wait_until, Flavor, ServerOpts, TestServer};
use std::time::Duration;
use zkserver::jute::records::{CreateRequest, GetDataRequest};
use zkserver::zoo_defs::{code, ids, op_code, CreateMode};

fn both(test: impl Fn(Flavor)) {
    for flavor in [Flavor::Zkserver, Flavor::Java] {
        test(flavor);
    }
}

#[test]
fn a_large_request_that_does_not_fit_closes_its_connection() {
    both(|flavor| {
        let opts = ServerOpts::default()
            .prop("zookeeper.largeRequestThreshold", "1000")
            .prop("zookeeper.largeRequestMaxBytes", "3000");
        let server = TestServer::start_with(flavor, opts);
        let zk = server.client();
        zk.create("/n", Some(b"v"), &ids::open_acl_unsafe(), CreateMode::Persistent).expect("create");
        // Large, but it fits: served.
        zk.set_data("/n", Some(&[1u8; 2000]), -1).expect("a 2000-byte setData under a 3000-byte limit");
        // Larger than all the limit: the connection is closed unanswered.
        let res = zk.set_data("/n", Some(&[2u8; 4000]), -1);
        assert!(res.is_err(), "{flavor:?} served a 4000-byte setData under a 3000-byte limit");
        // Nothing of it was applied, and everyone else is served.
        let other = server.client();
        let (data, _) = other.get_data("/n", false).expect("getData");
        assert_eq!(data.as_deref(), Some(&[1u8; 2000][..]), "{flavor:?}");
        // Small requests never count.
        for _ in 0..20 {
            other.set_data("/n", Some(&[3u8; 900]), -1).expect("small setData");
        }
    });
}

#[test]
fn a_request_that_waited_too_long_is_answered_throttledop() {
    both(|flavor| {
        // One request in process at a time, 100 ms between looks, and a
        // request that waited over 50 ms is throttled.
        let opts = ServerOpts::default()
            .prop("zookeeper.request_throttle_max_requests", "1")
            .prop("zookeeper.request_throttle_stall_time", "100")
            .prop("zookeeper.throttled_op_wait_time", "50");
        let server = TestServer::start_with(flavor, opts);
        let zk = server.client();
        zk.create("/t", Some(b"v"), &ids::open_acl_unsafe(), CreateMode::Persistent).expect("create");
        // Creates and reads pipelined: those that find a request in
        // process wait a stall (100 ms) and come out throttled. Whether one
        // does depends on the requests arriving faster than they are
        // served, so bursts are sent until one is throttled; every burst
        // must keep order and leave exactly the unthrottled creates.
        let mut throttled_replies = 0;
        for burst in 0..20 {
            let mut xids = Vec::new();
            for i in 0..20 {
                let path = format!("/t/b{burst}c{i}");
                let body = CreateRequest { path, data: Some(Vec::new()), acl: ids::open_acl_unsafe(), flags: 0 };
                xids.push((zk.send(op_code::CREATE, &body).expect("send create"), Some(i)));
                let body = GetDataRequest { path: "/t".into(), watch: false };
                xids.push((zk.send(op_code::GET_DATA, &body).expect("send getData"), None));
            }
            let mut throttled = Vec::new();
            for (xid, create) in &xids {
                let reply = zk.recv_timeout(Duration::from_secs(30)).expect("reply");
                assert_eq!(reply.header.xid, *xid, "{flavor:?}: replies out of order");
                match reply.header.err {
                    code::OK => {}
                    code::THROTTLED_OP => {
                        throttled_replies += 1;
                        throttled.extend(*create);
                    }
                    e => panic!("{flavor:?}: unexpected error {e}"),
                }
            }
            // A throttled create left no node; every other one did.
            let children = zk.get_children("/t", false).expect("children");
            for i in 0..20 {
                let present = children.contains(&format!("b{burst}c{i}"));
                assert_eq!(present, !throttled.contains(&i), "{flavor:?}: b{burst}c{i} present={present}, throttled {throttled:?}");
            }
            if throttled_replies > 0 {
                break;
            }
        }
        // Java's NIOServerCnxn takes one request per selector turn, so on a
        // quiet machine its throttler may never find one in process and
        // nothing waits: for Java only the order and the effects above are
        // checked. zkserver's worker hands the throttler every frame it
        // read at once, so a burst always waits behind its first request.
        assert!(
            throttled_replies > 0 || flavor == Flavor::Java,
            "{flavor:?}: nothing throttled in 20 bursts behind a one-request limit"
        );
        // Once the queue has drained, requests are served again.
        zk.get_data("/t", false).expect("getData after the burst");
        assert_code(zk.get_data("/missing", false), code::NO_NODE);
    });
}

/// A figure mntr prints (without the `zk_` prefix).
fn mntr_value(server: &TestServer, key: &str) -> i64 {
    let out = four_letter(&server.addr(), "mntr").expect("mntr");
    let line = out.lines().find(|l| l.split('\t').next() == Some(&format!("zk_{key}")[..]));
    line.and_then(|l| l.split('\t').nth(1)).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("no {key} in mntr"))
}

/// Pipelines `n` getData requests on `zk` and returns their xids.
fn pipeline_reads(zk: &zkserver::client::ZkClient, n: usize) -> Vec<i32> {
    let body = GetDataRequest { path: "/".into(), watch: false };
    (0..n).map(|_| zk.send(op_code::GET_DATA, &body).expect("send getData")).collect()
}

/// With request_throttle_max_requests=1 each request waits for the one
/// before it (request_throttle_wait_count counts the stalls). A client that
/// hangs up leaves its queued requests stale (their connection is closed):
/// with request_throttle_drop_stale (the default) they are dropped rather
/// than run for nobody, and everyone else is served meanwhile.
#[test]
fn requests_of_a_closed_connection_are_dropped_behind_the_limit() {
    both(|flavor| {
        let opts = ServerOpts::default()
            .prop("zookeeper.request_throttle_max_requests", "1")
            .prop("zookeeper.request_throttle_stall_time", "100");
        let server = TestServer::start_with(flavor, opts);
        let zk = server.client();
        let xids = pipeline_reads(&zk, 50);
        let first = zk.recv_timeout(Duration::from_secs(30)).expect("the first reply");
        assert_eq!((first.header.xid, first.header.err), (xids[0], code::OK), "{flavor:?}");
        drop(zk);
        assert_server_serves(&server.addr());
        // zkserver's worker hands the throttler the whole burst at once, so
        // the requests behind the first wait, and go stale when the client
        // hangs up. Java's NIO takes one request per selector turn and its
        // throttler may find none in process: for Java, only that it keeps
        // serving is checked.
        if flavor == Flavor::Zkserver {
            assert!(mntr_value(&server, "request_throttle_wait_count") > 0);
            assert!(
                wait_until(Duration::from_secs(20), || mntr_value(&server, "stale_requests_dropped") > 0),
                "no request of the closed connection was dropped"
            );
            // The rest were not run: 50 reads at a 100 ms stall each would
            // take 5 s; the throttler is idle long before that.
            assert!(mntr_value(&server, "stale_requests_dropped") + mntr_value(&server, "stale_requests") < 50);
        }
        let other = server.client();
        other.get_data("/", false).expect("another client is served");
    });
}

/// With zookeeper.request_stale_latency_check a request that has waited
/// longer than its session's timeout is stale even though its connection
/// is open. Dropping it closes the connection (Java's setInvalid), so no
/// later request of it runs out of order: the client gets its first
/// replies, in order, then sees the connection end.
#[test]
fn with_the_latency_check_a_request_older_than_its_session_closes_its_connection() {
    both(|flavor| {
        let opts = ServerOpts::default()
            .tick_time(500)
            .prop("zookeeper.request_throttle_max_requests", "1")
            .prop("zookeeper.request_throttle_stall_time", "300")
            .prop("zookeeper.request_stale_latency_check", "true");
        let server = TestServer::start_with(flavor, opts);
        // The shortest session tickTime allows: 1 s.
        let zk = zkserver::client::ZkClient::connect(server.addr(), 1000).expect("connect");
        // Enough reads that, even when some are answered before the
        // throttler sees them in process and so pass without a stall,
        // the later ones still queue long enough to go stale.
        let xids = pipeline_reads(&zk, 40);
        let mut answered = 0;
        while answered < xids.len() {
            match zk.recv_timeout(Duration::from_secs(30)) {
                Ok(reply) => {
                    assert_eq!((reply.header.xid, reply.header.err), (xids[answered], code::OK), "{flavor:?}");
                    answered += 1;
                }
                Err(e) => {
                    assert_ne!(e.kind(), std::io::ErrorKind::TimedOut, "{flavor:?}: no reply and no close: {e}");
                    break;
                }
            }
        }
        // Each request that meets one in process waits a 300 ms stall, so
        // after a handful of stalls one is over a second old and is
        // dropped with its connection.
        if flavor == Flavor::Zkserver {
            assert!((1..xids.len()).contains(&answered), "{answered} of {} answered", xids.len());
            assert!(mntr_value(&server, "stale_requests_dropped") >= 1);
        }
        let other = server.client();
        other.get_data("/", false).expect("another client is served");
    });
}

/// globalOutstandingLimit: past it, a connection with requests in flight is
/// not read from until they are answered (shouldThrottle). With a limit of
/// 1 and several clients each pipelining a mix of writes and reads, every
/// connection is throttled again and again; each must resume, and every
/// request be answered, in order, with its effect.
#[test]
fn connections_throttled_by_the_global_outstanding_limit_resume() {
    both(|flavor| {
        let server = TestServer::start_with(flavor, ServerOpts::default().prop("zookeeper.globalOutstandingLimit", "1"));
        let clients: Vec<_> = (0..4).map(|_| server.client()).collect();
        let setup = server.client();
        setup.create("/g", None, &ids::open_acl_unsafe(), CreateMode::Persistent).expect("create");
        let mut sent = Vec::new();
        for (n, zk) in clients.iter().enumerate() {
            let mut xids = Vec::new();
            for i in 0..100 {
                let path = format!("/g/c{n}-{i}");
                let body = CreateRequest { path, data: Some(Vec::new()), acl: ids::open_acl_unsafe(), flags: 0 };
                xids.push(zk.send(op_code::CREATE, &body).expect("send create"));
                let body = GetDataRequest { path: "/g".into(), watch: false };
                xids.push(zk.send(op_code::GET_DATA, &body).expect("send getData"));
            }
            sent.push(xids);
        }
        for (zk, xids) in clients.iter().zip(&sent) {
            for xid in xids {
                let reply = zk.recv_timeout(Duration::from_secs(30)).expect("reply");
                assert_eq!((reply.header.xid, reply.header.err), (*xid, code::OK), "{flavor:?}");
            }
        }
        assert_eq!(setup.get_children("/g", false).expect("children").len(), 400, "{flavor:?}");
    });
}
