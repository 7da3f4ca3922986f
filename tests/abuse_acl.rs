//! Abuse tests for ACLs: what a client without READ may learn through
//! watches, run side by side against zkserver and Debian's Java 3.8.0 (which
//! carries the CVE-2024-23944 fix), and each must answer the same.
//!
//! CVE-2024-23944: Apache ZooKeeper 3.8.0 to 3.8.3 delivered every event of
//! a persistent-recursive watch (and of watches set again by setWatches2
//! on reconnect) without checking that the watcher may READ the node the
//! event is about, so a client with no identity that watched `/` learned the
//! paths of every protected node as it was created, changed or deleted.
//! Fixed upstream in 3.8.4 (ZOOKEEPER-4799): each event is checked against
//! the ACL of its node (the parent's for NodeChildrenChanged, the deleted
//! node's own for NodeDeleted) and the watcher's identities.

mod common;

use common::ensemble::Ensemble;
use common::*;
use std::time::Duration;
use zkserver::client::{ZkClient, ZkError};
use zkserver::jute::multi::{MultiOperationRecord, MultiResponse, Op, OpResult};
use zkserver::jute::records::*;
use zkserver::jute::InputArchive;
use zkserver::jute::Record;
use zkserver::server::auth::digest_authentication_provider::generate_digest;
use zkserver::watcher::WatchedEvent;
use zkserver::zoo_defs::{add_watch_mode, code, event_type, ids, op_code, perms, xid, CreateMode};

const WAIT: Duration = Duration::from_secs(10);
/// How long we listen to prove that no further event comes.
const QUIET: Duration = Duration::from_millis(700);
const OWNER: &str = "u1:pw";

/// Runs `scenario` on a fresh zkserver, then on a fresh Java server: the
/// same assertions must hold for both.
fn side_by_side(scenario: impl Fn(&TestServer)) {
    side_by_side_with(&ServerOpts::default(), scenario);
}

fn side_by_side_with(opts: &ServerOpts, scenario: impl Fn(&TestServer)) {
    for flavor in [Flavor::Zkserver, Flavor::Java] {
        let s = TestServer::start_with(flavor, opts.clone());
        scenario(&s);
    }
}

/// Only the digest identity `u1` may do anything with these nodes.
fn secret_acl() -> Vec<Acl> {
    vec![Acl { perms: perms::ALL, id: Id::new("digest", &generate_digest(OWNER)) }]
}

fn authed(s: &TestServer, user_pw: &str) -> ZkClient {
    let c = s.client();
    c.add_auth("digest", user_pw.as_bytes()).expect("digest auth");
    c
}

/// The owner's session with `/open` (world-readable) and `/secret`
/// (readable by u1 only) in place.
fn owner_with_nodes(s: &TestServer) -> ZkClient {
    let owner = authed(s, OWNER);
    owner.create("/open", Some(b"o"), &ids::open_acl_unsafe(), CreateMode::Persistent).unwrap();
    owner.create("/secret", Some(b"s"), &secret_acl(), CreateMode::Persistent).unwrap();
    owner
}

fn add_watch(c: &ZkClient, path: &str, mode: i32) {
    let reply = c.submit(op_code::ADD_WATCH, &AddWatchRequest { path: path.into(), mode }).expect("addWatch");
    assert_eq!(reply.header.err, 0, "addWatch {path}");
}

/// Changes to protected nodes of every kind a watch reports, then one
/// change to `/open`, which is the last event anybody may be told of.
fn touch_secrets_then_open(owner: &ZkClient) {
    owner.set_data("/secret", Some(b"s2"), -1).unwrap();
    owner.create("/secret/c", None, &secret_acl(), CreateMode::Persistent).unwrap();
    owner.set_data("/secret/c", Some(b"c2"), -1).unwrap();
    owner.delete("/secret/c", -1).unwrap();
    owner.create("/hidden", None, &secret_acl(), CreateMode::Persistent).unwrap();
    owner.delete("/hidden", -1).unwrap();
    owner.set_data("/open", Some(b"o2"), -1).unwrap();
}

#[track_caller]
fn next(c: &ZkClient) -> (i32, String) {
    let e: WatchedEvent = c.next_event(WAIT).expect("an event");
    (e.event_type, e.path)
}

/// Events arrive in the order of the changes, so the first one a client
/// gets after `touch_secrets_then_open` being `/open`'s means no protected
/// one came before it.
#[track_caller]
fn expect_only_open(c: &ZkClient) {
    assert_eq!(next(c), (event_type::NODE_DATA_CHANGED, "/open".to_string()));
    if let Some(e) = c.next_event(QUIET) {
        panic!("unexpected event {e:?}");
    }
}

fn ev(t: i32, p: &str) -> (i32, String) {
    (t, p.to_string())
}

#[test]
fn recursive_watch_without_read_hears_only_readable_nodes() {
    side_by_side(|s| {
        let owner = owner_with_nodes(s);
        let stranger = s.client();
        let insider = authed(s, OWNER);
        for c in [&stranger, &insider] {
            add_watch(c, "/", add_watch_mode::PERSISTENT_RECURSIVE);
        }
        touch_secrets_then_open(&owner);
        expect_only_open(&stranger);
        // The same watch with the owner's identity hears every change.
        let all: Vec<(i32, String)> = (0..7).map(|_| next(&insider)).collect();
        assert_eq!(
            all,
            [
                ev(event_type::NODE_DATA_CHANGED, "/secret"),
                ev(event_type::NODE_CREATED, "/secret/c"),
                ev(event_type::NODE_DATA_CHANGED, "/secret/c"),
                ev(event_type::NODE_DELETED, "/secret/c"),
                ev(event_type::NODE_CREATED, "/hidden"),
                ev(event_type::NODE_DELETED, "/hidden"),
                ev(event_type::NODE_DATA_CHANGED, "/open"),
            ]
        );
    });
}

#[test]
fn persistent_watch_is_checked_against_the_acl_at_event_time() {
    side_by_side(|s| {
        let owner = owner_with_nodes(s);
        let stranger = s.client();
        // addWatch itself checks nothing, in Java as here.
        add_watch(&stranger, "/secret", add_watch_mode::PERSISTENT);
        add_watch(&stranger, "/open", add_watch_mode::PERSISTENT);
        touch_secrets_then_open(&owner);
        expect_only_open(&stranger);
        // Once the node is world-readable its events reach the stranger.
        let mut readable = secret_acl();
        readable.extend(ids::read_acl_unsafe());
        owner.set_acl("/secret", &readable, -1).unwrap();
        owner.set_data("/secret", Some(b"s3"), -1).unwrap();
        assert_eq!(next(&stranger), ev(event_type::NODE_DATA_CHANGED, "/secret"));
    });
}

#[test]
fn watches_set_again_by_set_watches2_are_filtered_too() {
    side_by_side(|s| {
        let owner = owner_with_nodes(s);
        let stranger = ZkClient::connect(s.addr(), 30000).unwrap();
        add_watch(&stranger, "/", add_watch_mode::PERSISTENT_RECURSIVE);
        let (sid, pw) = (stranger.session_id(), stranger.session_passwd().to_vec());
        stranger.disconnect();
        let back = ZkClient::connect_with_session(s.addr(), 30000, sid, &pw).unwrap();
        // What a client sends on reconnect, including one-shot watches on
        // /secret that getData/getChildren would have refused to set.
        let watches = SetWatches2 {
            relative_zxid: owner.last_zxid(),
            data_watches: vec!["/secret".into()],
            exist_watches: vec![],
            child_watches: vec!["/secret".into()],
            persistent_watches: vec!["/secret".into()],
            persistent_recursive_watches: vec!["/".into()],
        };
        back.send_with_xid(xid::SET_WATCHES, op_code::SET_WATCHES2, &watches.to_bytes()).unwrap();
        let reply = back.recv().expect("setWatches2 reply");
        assert_eq!((reply.header.xid, reply.header.err), (xid::SET_WATCHES, 0));
        touch_secrets_then_open(&owner);
        expect_only_open(&back);
    });
}

/// The connection is gone: the next request fails without an answer.
#[track_caller]
fn assert_closed(c: &ZkClient) {
    match c.exists("/", false) {
        Err(ZkError::Io(_)) => {}
        other => panic!("connection still served: {other:?}"),
    }
}

/// zookeeper.enforce.auth.enabled with the digest scheme: a session that
/// has not authenticated with digest gets SESSIONCLOSEDREQUIRESASLAUTH for
/// its first request and loses its connection (AuthenticationHelper); one
/// that has is served. With the ip scheme every connection qualifies.
#[test]
fn enforce_auth_serves_only_sessions_holding_an_enforced_scheme() {
    let digest = ServerOpts::default().cfg("enforce.auth.enabled", "true").cfg("enforce.auth.schemes", "digest");
    side_by_side_with(&digest, |s| {
        let anonymous = s.client();
        assert_code(anonymous.get_data("/", false), code::SESSION_CLOSED_REQUIRE_SASL_AUTH);
        assert_closed(&anonymous);
        let member = authed(s, OWNER);
        member.create("/in", Some(b"x"), &ids::open_acl_unsafe(), CreateMode::Persistent).unwrap();
        assert_eq!(member.get_data("/in", false).unwrap().0.as_deref(), Some(&b"x"[..]));
        // Authenticating with another scheme does not count.
        let other = s.client();
        other.add_auth("ip", b"").unwrap();
        assert_code(other.exists("/in", false), code::SESSION_CLOSED_REQUIRE_SASL_AUTH);
        assert_closed(&other);
    });
    let ip = ServerOpts::default().prop("zookeeper.enforce.auth.enabled", "true").prop("zookeeper.enforce.auth.schemes", "ip");
    side_by_side_with(&ip, |s| {
        let anyone = s.client();
        assert!(anyone.exists("/", false).unwrap().is_some());
    });
}

/// zookeeper.DigestAuthenticationProvider.enabled=false unregisters the
/// digest scheme: digest auth fails (and closes the connection), and an ACL
/// naming it is invalid.
#[test]
fn a_disabled_digest_provider_refuses_digest_auth_and_acls() {
    let opts = ServerOpts::default().prop("zookeeper.DigestAuthenticationProvider.enabled", "false");
    side_by_side_with(&opts, |s| {
        let c = s.client();
        assert_code(c.create("/d", None, &secret_acl(), CreateMode::Persistent), code::INVALID_ACL);
        let auth = vec![Acl { perms: perms::ALL, id: Id::new("auth", "") }];
        assert_code(c.create("/d", None, &auth, CreateMode::Persistent), code::INVALID_ACL);
        c.create("/ip", None, &[Acl { perms: perms::ALL, id: Id::new("ip", "127.0.0.1") }], CreateMode::Persistent)
            .unwrap();
        assert_code(c.add_auth("digest", OWNER.as_bytes()), code::AUTH_FAILED);
        assert_closed(&c);
    });
}

/// Every request an ACL guards, against `/p` (readable and writable by u1
/// only) and the read-only `/zookeeper/config`: (name, op, body, whether the
/// answer must be NOAUTH, either in the header or as a multi's first result).
fn guarded_requests() -> Vec<(&'static str, i32, Vec<u8>)> {
    let create = |path: &str| CreateRequest { path: path.into(), data: None, acl: ids::open_acl_unsafe(), flags: 0 };
    let multi = |ops: Vec<Op>| {
        let mut oa = zkserver::jute::OutputArchive::new();
        MultiOperationRecord { ops }.serialize(&mut oa);
        oa.into_inner()
    };
    vec![
        ("create (parent CREATE)", op_code::CREATE, create("/p/new").to_bytes()),
        ("create2", op_code::CREATE2, create("/p/new2").to_bytes()),
        ("createContainer", op_code::CREATE_CONTAINER, CreateRequest { flags: 4, ..create("/p/cont") }.to_bytes()),
        ("delete (parent DELETE)", op_code::DELETE, DeleteRequest { path: "/p/c".into(), version: -1 }.to_bytes()),
        ("setData (WRITE)", op_code::SET_DATA, SetDataRequest { path: "/p".into(), data: None, version: -1 }.to_bytes()),
        ("setACL (ADMIN)", op_code::SET_ACL, SetAclRequest { path: "/p".into(), acl: ids::open_acl_unsafe(), version: -1 }.to_bytes()),
        (
            "setData /zookeeper/config",
            op_code::SET_DATA,
            SetDataRequest { path: "/zookeeper/config".into(), data: None, version: -1 }.to_bytes(),
        ),
        ("multi check (READ)", op_code::MULTI, multi(vec![Op::Check(CheckVersionRequest { path: "/p".into(), version: -1 })])),
        ("multi setData", op_code::MULTI, multi(vec![Op::SetData(SetDataRequest { path: "/p".into(), data: None, version: -1 })])),
        ("multi delete", op_code::MULTI, multi(vec![Op::Delete(DeleteRequest { path: "/p/c".into(), version: -1 })])),
        ("getData", op_code::GET_DATA, GetDataRequest { path: "/p".into(), watch: false }.to_bytes()),
        ("getChildren", op_code::GET_CHILDREN, GetChildrenRequest { path: "/p".into(), watch: false }.to_bytes()),
        ("getChildren2", op_code::GET_CHILDREN2, GetChildren2Request { path: "/p".into(), watch: false }.to_bytes()),
        ("getACL (READ or ADMIN)", op_code::GET_ACL, GetAclRequest { path: "/p".into() }.to_bytes()),
        ("getAllChildrenNumber", op_code::GET_ALL_CHILDREN_NUMBER, GetAllChildrenNumberRequest { path: "/p".into() }.to_bytes()),
        ("multiRead", op_code::MULTI_READ, multi(vec![Op::GetData(GetDataRequest { path: "/p".into(), watch: false })])),
    ]
}

/// The error a request met: the header's, or a multi's first error result.
fn error_of(op: i32, reply: &zkserver::client::Reply) -> i32 {
    if reply.header.err != 0 || !matches!(op, op_code::MULTI | op_code::MULTI_READ) {
        return reply.header.err;
    }
    let rsp = MultiResponse::deserialize(&mut InputArchive::new(&reply.body)).expect("multi response");
    rsp.results.iter().find_map(|r| if let OpResult::Error { err } = r { Some(*err) } else { None }).unwrap_or(0)
}

/// A client of a follower tries every forbidden request: writes travel to
/// the leader (REQUEST packets carrying the session's ids) and reads are
/// answered by the follower; each is NOAUTH, as on a Java ensemble, and
/// the protected nodes are unchanged. The owner, through the same follower,
/// may do what the stranger may not.
#[test]
fn forbidden_requests_through_a_follower_are_refused_as_on_java() {
    let mut answers = Vec::new();
    for flavor in [Flavor::Zkserver, Flavor::Java] {
        let mut ens = Ensemble::new(&[flavor; 3], &[]);
        ens.start_all();
        let leader = ens.settled_leader(&[1, 2, 3]);
        let follower = if leader == 1 { 2 } else { 1 };
        let owner = ens.client(follower);
        owner.add_auth("digest", OWNER.as_bytes()).unwrap();
        owner.create("/p", Some(b"p"), &secret_acl(), CreateMode::Persistent).unwrap();
        owner.create("/p/c", Some(b"c"), &secret_acl(), CreateMode::Persistent).unwrap();
        let stranger = ens.client(follower);
        let got: Vec<(&str, i32)> = guarded_requests()
            .into_iter()
            .map(|(name, op, body)| (name, error_of(op, &stranger.submit_bytes(op, &body).expect(name))))
            .collect();
        for (name, err) in &got {
            assert_eq!(*err, code::NO_AUTH, "{flavor:?}: {name}");
        }
        owner.sync("/").unwrap();
        let (data, stat) = owner.get_data("/p", false).unwrap();
        assert_eq!((data.as_deref(), stat.version, stat.aversion, stat.num_children), (Some(&b"p"[..]), 0, 0, 1));
        owner.set_data("/p", Some(b"p2"), -1).unwrap();
        owner.create("/p/mine", None, &secret_acl(), CreateMode::Persistent).unwrap();
        answers.push(got);
    }
    assert_eq!(answers[0], answers[1]);
}

/// exists() on a node the caller may not READ. Java 3.8.0 hands its Stat
/// (version, owner, number of children, data length) to anyone and sets
/// the watch; from 3.8.4 (ZOOKEEPER-2590) Java answers NOAUTH and sets no
/// watch, and so does zkserver. A missing node is NONODE for everyone.
#[test]
fn exists_on_a_node_without_read_is_noauth_unlike_java_3_8_0() {
    for flavor in [Flavor::Zkserver, Flavor::Java] {
        let s = TestServer::start_with(flavor, ServerOpts::default());
        let owner = owner_with_nodes(&s);
        let stranger = s.client();
        let got = stranger.exists("/secret", true);
        match flavor {
            Flavor::Zkserver => {
                assert!(matches!(got, Err(ZkError::Keeper { code: code::NO_AUTH, .. })), "{got:?}");
                // No watch was left behind: the change below tells nothing.
                owner.set_data("/secret", Some(b"s2"), -1).unwrap();
                owner.set_data("/open", Some(b"o2"), -1).unwrap();
                assert!(stranger.exists("/open", true).unwrap().is_some());
                owner.set_data("/open", Some(b"o3"), -1).unwrap();
                assert_eq!(next(&stranger), ev(event_type::NODE_DATA_CHANGED, "/open"));
            }
            _ => assert_eq!(got.expect("Java 3.8.0 answers anyone").map(|st| st.version), Some(0)),
        }
        assert_eq!(stranger.exists("/secret/none", false).unwrap(), None);
        assert!(stranger.exists("/open", false).unwrap().is_some());
    }
}

/// zookeeper.enableEagerACLCheck (`enableEagerACLCheck=true` in zoo.cfg):
/// the server a client is connected to screens create, delete, setData and
/// setACL against its own ACLs and answers a refusal itself with zxid 0,
/// so no error txn is proposed and no zxid is spent. Without it, each
/// refusal is an error txn that takes a zxid. Side by side with Java, on
/// a follower and on the leader.
#[test]
fn eager_acl_check_refuses_writes_before_they_are_proposed_as_on_java() {
    let refused = || {
        vec![
            (op_code::CREATE, CreateRequest { path: "/p/new".into(), data: None, acl: ids::open_acl_unsafe(), flags: 0 }.to_bytes()),
            (op_code::CREATE2, CreateRequest { path: "/p/new2".into(), data: None, acl: ids::open_acl_unsafe(), flags: 0 }.to_bytes()),
            (op_code::DELETE, DeleteRequest { path: "/p/c".into(), version: -1 }.to_bytes()),
            (op_code::SET_DATA, SetDataRequest { path: "/p".into(), data: None, version: -1 }.to_bytes()),
            (op_code::SET_ACL, SetAclRequest { path: "/p".into(), acl: ids::open_acl_unsafe(), version: -1 }.to_bytes()),
        ]
    };
    // An 'auth' ACL from a session with no identity to expand it into.
    let invalid_acl = CreateRequest {
        path: "/open-child".into(),
        data: None,
        acl: vec![Acl { perms: perms::ALL, id: Id::new("auth", "") }],
        flags: 0,
    };
    let mut answers = Vec::new();
    for flavor in [Flavor::Zkserver, Flavor::Java] {
        for eager in [true, false] {
            let extra: &[(&str, &str)] = if eager { &[("enableEagerACLCheck", "true")] } else { &[] };
            let mut ens = Ensemble::new(&[flavor; 3], extra);
            ens.start_all();
            let leader = ens.settled_leader(&[1, 2, 3]);
            let follower = if leader == 1 { 2 } else { 1 };
            let owner = ens.client(leader);
            owner.add_auth("digest", OWNER.as_bytes()).unwrap();
            owner.create("/p", Some(b"p"), &secret_acl(), CreateMode::Persistent).unwrap();
            owner.create("/p/c", Some(b"c"), &secret_acl(), CreateMode::Persistent).unwrap();
            for sid in [follower, leader] {
                let stranger = ens.client(sid);
                // The zxid before the refusals (the stranger's session took one).
                let before = owner.create(&format!("/p/before-{sid}"), None, &secret_acl(), CreateMode::Persistent).unwrap();
                let last = owner.exists(&before, false).unwrap().expect("created").czxid;
                let mut got = Vec::new();
                for (op, body) in refused() {
                    let h = stranger.submit_bytes(op, &body).expect("answered").header;
                    got.push((op, h.err, h.zxid == 0));
                }
                let h = stranger.submit_bytes(op_code::CREATE, &invalid_acl.to_bytes()).expect("answered").header;
                got.push((op_code::CREATE, h.err, h.zxid == 0));
                for (op, err, zero) in &got[..5] {
                    assert_eq!(*err, code::NO_AUTH, "{flavor:?} eager={eager} node {sid}: op {op}");
                    assert_eq!(*zero, eager, "{flavor:?} eager={eager} node {sid}: op {op}: zxid 0 only when refused eagerly");
                }
                assert_eq!((got[5].1, got[5].2), (code::INVALID_ACL, eager), "{flavor:?} eager={eager} node {sid}");
                // The next write's zxid shows how many refusals became txns.
                let next = owner.create(&format!("/p/after-{sid}"), None, &secret_acl(), CreateMode::Persistent).unwrap();
                let czxid = owner.exists(&next, false).unwrap().expect("created").czxid;
                let spent = if eager { 0 } else { got.len() as i64 };
                assert_eq!(czxid, last + 1 + spent, "{flavor:?} eager={eager} node {sid}: zxids spent by refusals");
                answers.push((eager, sid == leader, got));
            }
            let (data, stat) = owner.get_data("/p", false).unwrap();
            assert_eq!((data.as_deref(), stat.version, stat.aversion), (Some(&b"p"[..]), 0, 0), "{flavor:?} eager={eager}");
        }
    }
    let half = answers.len() / 2;
    assert_eq!(answers[..half], answers[half..], "zkserver and Java answer alike");
}
