//! The error code each refused request gets, as ZooKeeper 3.8 answers it
//! (including the order in which its checks run).

mod common;

use common::*;
use zkserver::client::ZkClient;
use zkserver::jute::records::{Acl, CreateRequest, Id};
use zkserver::zoo_defs::{code, ids, op_code, CreateMode};

fn open() -> Vec<Acl> {
    ids::open_acl_unsafe()
}

fn create(c: &ZkClient, path: &str) -> Result<String, zkserver::client::ZkError> {
    c.create(path, None, &open(), CreateMode::Persistent)
}

#[test]
fn malformed_paths_on_create() {
    let s = TestServer::start_default();
    let c = s.client();
    create(&c, "/a").unwrap();
    for bad in [
        "",
        "a",
        "/a/",
        "/.",
        "/..",
        "/a/.",
        "/a/..",
        "/a\u{1}",
        "/a\u{7f}",
        "/a\u{0}",
        "/a\u{9f}",
        "/a\u{fff0}",
    ] {
        assert_code(create(&c, bad), code::BAD_ARGUMENTS);
    }
    // The parent is looked up before the full path is validated, so these
    // fail on their (missing) parent.
    for missing_parent in ["/a//b", "/a/./b", "/a/../b", "/nx/", "/nx/b"] {
        assert_code(create(&c, missing_parent), code::NO_NODE);
    }
    // Unusual but legal names.
    for ok in ["/a b", "/\u{e9}t\u{e9}", "/a/.b", "/a/..b", "/a/b."] {
        assert_eq!(create(&c, ok).unwrap(), ok);
    }
    // A sequential create may end in '/': the suffix completes the name.
    assert_eq!(c.create("/a/", None, &open(), CreateMode::PersistentSequential).unwrap(), "/a/0000000003");
    c.close().unwrap();
}

#[test]
fn existing_nodes_and_reserved_names() {
    let s = TestServer::start_default();
    let c = s.client();
    assert_code(create(&c, "/"), code::NODE_EXISTS);
    assert_code(create(&c, "/zookeeper"), code::NODE_EXISTS);
    create(&c, "/dup").unwrap();
    assert_code(create(&c, "/dup"), code::NODE_EXISTS);
    assert_code(c.create("/dup", None, &open(), CreateMode::Ephemeral), code::NODE_EXISTS);
    // /zookeeper itself is protected from deletion, not from children
    assert_eq!(create(&c, "/zookeeper/x").unwrap(), "/zookeeper/x");
    c.close().unwrap();
}

#[test]
fn acl_problems_come_before_path_lookups() {
    let s = TestServer::start_default();
    let c = s.client();
    assert_code(c.create("/e", None, &[], CreateMode::Persistent), code::INVALID_ACL);
    assert_code(c.create("/missing/child", None, &[], CreateMode::Persistent), code::INVALID_ACL);
    let unknown_scheme = vec![Acl { perms: 31, id: Id::new("foo", "bar") }];
    assert_code(c.create("/e", None, &unknown_scheme, CreateMode::Persistent), code::INVALID_ACL);
    // "auth" with no authenticated identity has nothing to expand to
    let auth = vec![Acl { perms: 31, id: Id::new("auth", "") }];
    assert_code(c.create("/e", None, &auth, CreateMode::Persistent), code::INVALID_ACL);
    create(&c, "/e").unwrap();
    assert_code(c.set_acl("/e", &[], -1), code::INVALID_ACL);
    assert_code(c.set_acl("/missing", &open(), -1), code::NO_NODE);
    assert_code(c.get_acl("/missing"), code::NO_NODE);
    c.close().unwrap();
}

#[test]
fn unknown_create_flags_are_bad_arguments() {
    let s = TestServer::start_default();
    let c = s.client();
    for flags in [7, 99, -1] {
        let req = CreateRequest { path: "/f".into(), data: None, acl: open(), flags };
        let reply = c.submit(op_code::CREATE, &req).unwrap();
        assert_eq!(reply.header.err, code::BAD_ARGUMENTS, "flags {flags}");
        assert!(reply.body.is_empty());
    }
    assert_eq!(c.exists("/f", false).unwrap(), None);
    c.close().unwrap();
}

#[test]
fn missing_nodes() {
    let s = TestServer::start_default();
    let c = s.client();
    assert_code(create(&c, "/no/x"), code::NO_NODE);
    assert_code(c.delete("/no", -1), code::NO_NODE);
    assert_code(c.get_data("/no", false), code::NO_NODE);
    assert_code(c.set_data("/no", Some(b"x"), -1), code::NO_NODE);
    assert_code(c.set_data("/no", Some(b"x"), 3), code::NO_NODE);
    assert_code(c.get_children("/no", false), code::NO_NODE);
    assert_code(c.get_children2("/no", false), code::NO_NODE);
    assert_eq!(c.exists("/no", false).unwrap(), None);
    // reads do not validate the path: a malformed one is simply not there
    assert_code(c.get_data("a", false), code::NO_NODE);
    assert_eq!(c.exists("a/", false).unwrap(), None);
    c.close().unwrap();
}

#[test]
fn deletes_that_are_refused() {
    let s = TestServer::start_default();
    let c = s.client();
    assert_code(c.delete("/", -1), code::BAD_ARGUMENTS);
    assert_code(c.delete("/zookeeper", -1), code::BAD_ARGUMENTS);
    assert_code(c.delete("/zookeeper/config", -1), code::BAD_ARGUMENTS);
    assert_code(c.delete("a", -1), code::BAD_ARGUMENTS);
    // the node is looked up before the path is validated
    assert_code(c.delete("/a/", -1), code::NO_NODE);
    create(&c, "/full").unwrap();
    create(&c, "/full/kid").unwrap();
    assert_code(c.delete("/full/kid/", -1), code::NO_NODE);
    assert_code(c.delete("/full", -1), code::NOT_EMPTY);
    assert_code(c.delete("/full", 0), code::NOT_EMPTY);
    assert_code(c.delete("/full/kid", 1), code::BAD_VERSION);
    c.delete("/full/kid", 0).unwrap();
    c.delete("/full", -1).unwrap();
    c.close().unwrap();
}

#[test]
fn ephemerals_cannot_have_children() {
    let s = TestServer::start_default();
    let c = s.client();
    c.create("/eph", None, &open(), CreateMode::Ephemeral).unwrap();
    assert_code(create(&c, "/eph/c"), code::NO_CHILDREN_FOR_EPHEMERALS);
    assert_code(c.create("/eph/c", None, &open(), CreateMode::Ephemeral), code::NO_CHILDREN_FOR_EPHEMERALS);
    assert_code(
        c.create("/eph/c", None, &open(), CreateMode::EphemeralSequential),
        code::NO_CHILDREN_FOR_EPHEMERALS,
    );
    // NODEEXISTS is checked first
    assert_code(c.create("/eph", None, &open(), CreateMode::Persistent), code::NODE_EXISTS);
    c.close().unwrap();
}

#[test]
fn sync_echoes_any_path() {
    let s = TestServer::start_default();
    let c = s.client();
    assert_eq!(c.sync("/does/not/exist").unwrap(), "/does/not/exist");
    assert_eq!(c.sync("bad").unwrap(), "bad");
    c.close().unwrap();
}

#[test]
fn errors_do_not_end_the_session() {
    let s = TestServer::start_default();
    let c = s.client();
    for _ in 0..3 {
        assert_code(c.delete("/nothing", -1), code::NO_NODE);
        assert_code(create(&c, "bad"), code::BAD_ARGUMENTS);
    }
    create(&c, "/fine").unwrap();
    assert!(c.exists("/fine", false).unwrap().is_some());
    c.close().unwrap();
}
