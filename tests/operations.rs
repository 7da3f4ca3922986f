//! Every basic operation against a standalone server, with every Stat field
//! checked after each one. Expectations were taken from ZooKeeper 3.8.

mod common;

use common::*;
use zkserver::client::ZkClient;
use zkserver::jute::records::{Acl, Id, Stat};
use zkserver::zoo_defs::{code, ids, perms, xid, CreateMode};

fn open() -> Vec<Acl> {
    ids::open_acl_unsafe()
}

fn stat_of(c: &ZkClient, path: &str) -> Stat {
    c.exists(path, false).expect("exists").unwrap_or_else(|| panic!("{path} missing"))
}

#[test]
fn fresh_tree_holds_only_the_zookeeper_subtree() {
    let s = TestServer::start_default();
    let c = s.client();
    let (children, root) = c.get_children2("/", false).unwrap();
    assert_eq!(children, vec!["zookeeper".to_string()]);
    assert_eq!((root.czxid, root.mzxid, root.ctime, root.mtime), (0, 0, 0, 0));
    assert_eq!((root.version, root.aversion, root.ephemeral_owner), (0, 0, 0));
    assert_eq!((root.data_length, root.num_children), (0, 1));
    let (mut zk_children, _) = c.get_children2("/zookeeper", false).unwrap();
    zk_children.sort();
    assert_eq!(zk_children, vec!["config".to_string(), "quota".to_string()]);
    let (data, st) = c.get_data("/zookeeper/config", false).unwrap();
    assert_eq!(data.as_deref(), Some(&b""[..]));
    assert_eq!((st.czxid, st.data_length, st.num_children), (0, 0, 0));
    let (acl, _) = c.get_acl("/").unwrap();
    assert_eq!(acl, open());
    c.close().unwrap();
}

#[test]
fn create_persistent_then_read_back_every_stat_field() {
    let s = TestServer::start_default();
    let c = s.client();
    let root_before = stat_of(&c, "/");
    let before = now_ms();
    let (path, st) = c.create2("/node", Some(b"hello"), &open(), CreateMode::Persistent).unwrap();
    let after = now_ms();
    assert_eq!(path, "/node");
    assert_fresh_stat(&st, 5, 0);
    assert_eq!(st.czxid, c.last_zxid(), "the reply header carries the create's zxid");
    assert!(st.ctime >= before - 1000 && st.ctime <= after + 1000, "ctime {} not now", st.ctime);

    let (data, st2) = c.get_data("/node", false).unwrap();
    assert_eq!(data.as_deref(), Some(&b"hello"[..]));
    assert_eq!(st2, st);
    assert_eq!(stat_of(&c, "/node"), st);

    let root = stat_of(&c, "/");
    assert_eq!(root.cversion, root_before.cversion + 1);
    assert_eq!(root.num_children, root_before.num_children + 1);
    assert_eq!(root.pzxid, st.czxid);
    assert_eq!((root.mzxid, root.version), (root_before.mzxid, root_before.version));

    // plain create returns the path only and uses the next zxid
    assert_eq!(c.create("/node2", None, &open(), CreateMode::Persistent).unwrap(), "/node2");
    let st3 = stat_of(&c, "/node2");
    assert_eq!(st3.czxid, st.czxid + 1);
    assert_fresh_stat(&st3, 0, 0);
    c.close().unwrap();
}

#[test]
fn null_and_empty_data_are_kept_apart() {
    let s = TestServer::start_default();
    let c = s.client();
    c.create("/null", None, &open(), CreateMode::Persistent).unwrap();
    c.create("/empty", Some(b""), &open(), CreateMode::Persistent).unwrap();
    let (d, st) = c.get_data("/null", false).unwrap();
    assert_eq!((d, st.data_length), (None, 0));
    let (d, st) = c.get_data("/empty", false).unwrap();
    assert_eq!((d, st.data_length), (Some(Vec::new()), 0));
    c.set_data("/empty", None, -1).unwrap();
    assert_eq!(c.get_data("/empty", false).unwrap().0, None);
    c.close().unwrap();
}

#[test]
fn sequential_suffix_is_the_parents_cversion() {
    let s = TestServer::start_default();
    let c = s.client();
    c.create("/seq", None, &open(), CreateMode::Persistent).unwrap();
    for i in 0..3 {
        let p = c.create("/seq/n-", None, &open(), CreateMode::PersistentSequential).unwrap();
        assert_eq!(p, format!("/seq/n-{i:010}"));
    }
    c.create("/seq/x", None, &open(), CreateMode::Persistent).unwrap();
    assert_eq!(
        c.create("/seq/n-", None, &open(), CreateMode::PersistentSequential).unwrap(),
        "/seq/n-0000000004"
    );
    // The stored cversion counts creates only, so a delete does not move the
    // suffix; the cversion clients see (stored * 2 - numChildren) counts
    // deletes as well.
    c.delete("/seq/x", -1).unwrap();
    assert_eq!(stat_of(&c, "/seq").cversion, 6);
    assert_eq!(
        c.create("/seq/", None, &open(), CreateMode::PersistentSequential).unwrap(),
        "/seq/0000000005"
    );
    let (p, st) = c.create2("/seq/e-", Some(b"x"), &open(), CreateMode::EphemeralSequential).unwrap();
    assert_eq!(p, "/seq/e-0000000006");
    assert_fresh_stat(&st, 1, c.session_id());
    let (mut children, parent) = c.get_children2("/seq", false).unwrap();
    children.sort();
    assert_eq!(
        children,
        ["0000000005", "e-0000000006", "n-0000000000", "n-0000000001", "n-0000000002", "n-0000000004"]
    );
    assert_eq!((parent.cversion, parent.num_children, parent.pzxid), (8, 6, st.czxid));
    c.close().unwrap();
}

#[test]
fn ephemeral_nodes_carry_the_session_id() {
    let s = TestServer::start_default();
    let c = s.client();
    let (p, st) = c.create2("/eph", Some(b"abc"), &open(), CreateMode::Ephemeral).unwrap();
    assert_eq!(p, "/eph");
    assert_fresh_stat(&st, 3, c.session_id());
    let other = s.client();
    assert_eq!(stat_of(&other, "/eph").ephemeral_owner, c.session_id());
    c.close().unwrap();
    assert_eq!(other.exists("/eph", false).unwrap(), None);
    other.close().unwrap();
}

#[test]
fn set_data_moves_mzxid_version_and_mtime_only() {
    let s = TestServer::start_default();
    let c = s.client();
    let (_, created) = c.create2("/d", Some(b"1"), &open(), CreateMode::Persistent).unwrap();
    let parent_before = stat_of(&c, "/");
    let st = c.set_data("/d", Some(b"two"), 0).unwrap();
    assert_eq!(st.mzxid, c.last_zxid());
    assert_eq!(st.mzxid, created.czxid + 1);
    assert_eq!((st.czxid, st.ctime, st.pzxid), (created.czxid, created.ctime, created.pzxid));
    assert_eq!((st.version, st.cversion, st.aversion), (1, 0, 0));
    assert_eq!((st.data_length, st.num_children, st.ephemeral_owner), (3, 0, 0));
    assert!(st.mtime >= created.mtime);
    assert_eq!(c.get_data("/d", false).unwrap(), (Some(b"two".to_vec()), st.clone()));

    assert_code(c.set_data("/d", Some(b"x"), 0), code::BAD_VERSION);
    assert_code(c.set_data("/d", Some(b"x"), 5), code::BAD_VERSION);
    let st2 = c.set_data("/d", Some(b""), -1).unwrap();
    assert_eq!((st2.version, st2.data_length), (2, 0));
    let st3 = c.set_data("/d", Some(b"zz"), 2).unwrap();
    assert_eq!(st3.version, 3);
    assert_eq!(stat_of(&c, "/"), parent_before, "setData leaves the parent alone");
    c.close().unwrap();
}

#[test]
fn delete_checks_version_and_updates_the_parent() {
    let s = TestServer::start_default();
    let c = s.client();
    c.create("/p", None, &open(), CreateMode::Persistent).unwrap();
    c.create("/p/c", Some(b"v"), &open(), CreateMode::Persistent).unwrap();
    c.set_data("/p/c", Some(b"v1"), -1).unwrap();
    c.set_data("/p/c", Some(b"v2"), -1).unwrap();
    let before = stat_of(&c, "/p");
    assert_eq!((before.cversion, before.num_children), (1, 1));
    assert_code(c.delete("/p/c", 1), code::BAD_VERSION);
    c.delete("/p/c", 2).unwrap();
    let z = c.last_zxid();
    let after = stat_of(&c, "/p");
    assert_eq!((after.cversion, after.num_children, after.pzxid), (2, 0, z));
    assert_eq!((after.mzxid, after.version), (before.mzxid, before.version));
    assert_eq!(c.exists("/p/c", false).unwrap(), None);
    c.create("/p/d", None, &open(), CreateMode::Persistent).unwrap();
    c.delete("/p/d", -1).unwrap();
    c.delete("/p", 0).unwrap();
    assert_eq!(c.exists("/p", false).unwrap(), None);
    c.close().unwrap();
}

#[test]
fn get_children_and_children2_agree_with_exists() {
    let s = TestServer::start_default();
    let c = s.client();
    c.create("/k", Some(b"parent"), &open(), CreateMode::Persistent).unwrap();
    for name in ["b", "a", "c"] {
        c.create(&format!("/k/{name}"), None, &open(), CreateMode::Persistent).unwrap();
    }
    let mut kids = c.get_children("/k", false).unwrap();
    kids.sort();
    assert_eq!(kids, ["a", "b", "c"]);
    let (mut kids2, st) = c.get_children2("/k", false).unwrap();
    kids2.sort();
    assert_eq!(kids2, kids);
    assert_eq!(st, stat_of(&c, "/k"));
    assert_eq!((st.num_children, st.cversion, st.data_length), (3, 3, 6));
    assert_eq!(st.pzxid, stat_of(&c, "/k/c").czxid);
    assert_eq!(c.get_children("/k/a", false).unwrap(), Vec::<String>::new());
    c.close().unwrap();
}

#[test]
fn acls_are_read_and_replaced_with_aversion() {
    let s = TestServer::start_default();
    let c = s.client();
    let (_, created) = c.create2("/acl", Some(b"x"), &open(), CreateMode::Persistent).unwrap();
    let (acl, st) = c.get_acl("/acl").unwrap();
    assert_eq!(acl, open());
    assert_eq!(st, created);

    assert_code(c.set_acl("/acl", &open(), 3), code::BAD_VERSION);
    let read_write = vec![Acl { perms: perms::READ | perms::WRITE, id: Id::new("world", "anyone") }];
    let st = c.set_acl("/acl", &read_write, 0).unwrap();
    assert_eq!(st.aversion, 1);
    assert_eq!((st.mzxid, st.version, st.cversion), (created.mzxid, 0, 0), "setACL changes only aversion");
    assert_eq!(c.get_acl("/acl").unwrap(), (read_write.clone(), st.clone()));
    // without ADMIN nobody may change the ACL again (the permission check
    // comes before the version check); READ|WRITE still work
    assert_code(c.set_acl("/acl", &open(), 0), code::NO_AUTH);
    assert_code(c.set_acl("/acl", &open(), -1), code::NO_AUTH);
    c.set_data("/acl", Some(b"y"), -1).unwrap();
    assert_code(c.create("/acl/child", None, &open(), CreateMode::Persistent), code::NO_AUTH);

    let read_only = ids::read_acl_unsafe();
    c.create("/ro", Some(b"r"), &read_only, CreateMode::Persistent).unwrap();
    assert_code(c.set_data("/ro", Some(b"w"), -1), code::NO_AUTH);
    assert_eq!(c.get_data("/ro", false).unwrap().0.as_deref(), Some(&b"r"[..]));
    // deleting needs DELETE on the parent, not on the node
    c.delete("/ro", -1).unwrap();
    c.close().unwrap();
}

#[test]
fn sync_and_ping_answer_with_the_current_zxid() {
    let s = TestServer::start_default();
    let c = s.client();
    c.create("/s", None, &open(), CreateMode::Persistent).unwrap();
    let z = c.last_zxid();
    assert_eq!(c.sync("/s").unwrap(), "/s");
    let pong = c.ping().unwrap();
    assert_eq!((pong.xid, pong.err), (xid::PING, 0));
    assert_eq!(pong.zxid, z);
    c.close().unwrap();
}

#[test]
fn every_write_takes_the_next_zxid_even_a_failed_one() {
    let s = TestServer::start_default();
    let c = s.client();
    c.create("/z", None, &open(), CreateMode::Persistent).unwrap();
    let z0 = c.last_zxid();
    c.set_data("/z", Some(b"1"), -1).unwrap();
    assert_eq!(c.last_zxid(), z0 + 1);
    assert_code(c.create("/z", None, &open(), CreateMode::Persistent), code::NODE_EXISTS);
    assert_eq!(c.last_zxid(), z0 + 2, "a refused write still consumes a zxid");
    // reads do not
    c.get_data("/z", false).unwrap();
    assert_eq!(c.last_zxid(), z0 + 2);
    c.delete("/z", -1).unwrap();
    assert_eq!(c.last_zxid(), z0 + 3);
    c.close().unwrap();
}

#[test]
fn close_session_answers_then_the_server_hangs_up() {
    let s = TestServer::start_default();
    let c = s.client();
    c.create("/gone", None, &open(), CreateMode::Ephemeral).unwrap();
    let reply = c.submit_bytes(zkserver::zoo_defs::op_code::CLOSE_SESSION, &[]).unwrap();
    assert_eq!(reply.header.err, 0);
    assert!(reply.header.zxid > 0, "closeSession is a write");
    assert!(reply.body.is_empty());
    assert!(c.recv().is_err(), "connection closed after closeSession");
    let other = s.client();
    assert_eq!(other.exists("/gone", false).unwrap(), None);
    other.close().unwrap();
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    use zkserver::jute::records::{CreateRequest, GetDataRequest};
    use zkserver::zoo_defs::op_code;
    let s = TestServer::start_default();
    let c = s.client();
    let mut xids = Vec::new();
    for i in 0..50 {
        let req =
            CreateRequest { path: format!("/pipe{i}"), data: Some(vec![i as u8]), acl: open(), flags: 0 };
        xids.push(c.send(op_code::CREATE, &req).unwrap());
        let get = GetDataRequest { path: format!("/pipe{i}"), watch: false };
        xids.push(c.send(op_code::GET_DATA, &get).unwrap());
    }
    let mut last = 0;
    for x in xids {
        let r = c.recv().unwrap();
        assert_eq!((r.header.xid, r.header.err), (x, 0));
        assert!(r.header.zxid >= last);
        last = r.header.zxid;
    }
    c.close().unwrap();
}
